//! Turning user inputs into model inputs: tokenizers (and, later, image and audio processors).

pub mod sentencepiece;
mod tokenizer;

pub use sentencepiece::{MarianTokenizer, SpmModel};
pub use tokenizer::TextTokenizer;
