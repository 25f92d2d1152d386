//! Whisper: audio decoding and features, the model, generation, speech recognition and audio
//! classification, and word timestamps.

mod real_weights;
mod speech;
mod word_timestamps;
