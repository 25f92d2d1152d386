//! LayoutLM (`transformers.models.layoutlm`): BERT with 2-D position embeddings of each
//! token's box on the page, for documents.

mod config;
mod model;
mod weights;

pub use config::LayoutLMConfig;
pub use model::*;
