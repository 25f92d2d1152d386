//! Turning user inputs into model inputs: tokenizers (and, later, image and audio processors).

mod tokenizer;

pub use tokenizer::TextTokenizer;
