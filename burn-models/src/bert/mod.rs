//! BERT (`transformers.models.bert`).

mod config;
mod model;
mod weights;

pub use config::BertConfig;
pub use model::*;
