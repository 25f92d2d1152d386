//! ViT (`transformers.models.vit`): patch embeddings, a pre-norm encoder, image classification.

mod config;
mod model;
mod weights;

pub use config::ViTConfig;
pub use model::*;
