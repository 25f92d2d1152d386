//! Turning user inputs into model inputs: tokenizers (and, later, image and audio processors).

pub mod audio_features;
mod tokenizer;

pub use audio_features::WhisperFeatureExtractor;
pub use tokenizer::TextTokenizer;
