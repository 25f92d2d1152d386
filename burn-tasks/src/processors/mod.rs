//! Turning user inputs into model inputs: tokenizers (and, later, image and audio processors).

pub mod audio_features;
pub mod sentencepiece;
mod tokenizer;

pub use audio_features::WhisperFeatureExtractor;
pub use sentencepiece::{MarianTokenizer, SpmModel};
pub use tokenizer::TextTokenizer;
