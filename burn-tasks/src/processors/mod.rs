//! Turning user inputs into model inputs: tokenizers (and, later, image and audio processors).

pub mod image;
pub mod resample;
mod tokenizer;

pub use image::{ImageProcessor, PixelBatch};
pub mod sentencepiece;

pub use sentencepiece::{MarianTokenizer, SpmModel};
pub use tokenizer::TextTokenizer;
