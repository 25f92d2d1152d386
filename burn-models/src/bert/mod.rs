//! BERT (`transformers.models.bert`).

mod config;
mod model;
mod weights;

pub use config::BertConfig;
pub(crate) use model::split_span_logits;
pub use model::*;
pub(crate) use weights::{
    check_supported, load_bert_embeddings, load_bert_layer, load_text_embeddings,
};
