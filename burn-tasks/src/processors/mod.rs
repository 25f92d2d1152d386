//! Turning user inputs into model inputs: tokenizers, image processors and audio feature
//! extractors.

pub mod audio_features;
pub mod ctc_tokenizer;
pub mod image;
pub mod resample;
pub mod sentencepiece;
mod tokenizer;
pub mod wav2vec2_features;

pub use audio_features::WhisperFeatureExtractor;
pub use image::{ImageProcessor, PixelBatch};
pub use sentencepiece::{MarianTokenizer, SpmModel};
pub use tokenizer::TextTokenizer;
pub use wav2vec2_features::Wav2Vec2FeatureExtractor;
