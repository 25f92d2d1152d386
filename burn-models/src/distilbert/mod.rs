//! DistilBERT (`transformers.models.distilbert`).

mod config;
mod model;
mod weights;

pub use config::DistilBertConfig;
pub use model::*;
