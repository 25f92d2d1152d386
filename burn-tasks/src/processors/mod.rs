//! Turning user inputs into model inputs: tokenizers, image processors and audio feature
//! extractors.

pub mod audio_features;
pub mod image;
pub mod resample;
pub mod sentencepiece;
mod tokenizer;

pub use audio_features::WhisperFeatureExtractor;
pub use image::{ImageProcessor, PixelBatch};
pub use sentencepiece::{MarianTokenizer, SpmModel};
pub use tokenizer::TextTokenizer;
