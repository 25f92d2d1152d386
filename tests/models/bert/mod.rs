//! BERT and DistilBERT: bare models and heads, their tokenizers, and the text pipelines.

mod model;
mod question_answering;
mod text_classification;
mod token_classification;
mod tokenizer;
