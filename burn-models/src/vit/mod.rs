//! ViT (`transformers.models.vit`): patch embeddings, a pre-norm encoder, image classification.

mod config;
mod model;
mod weights;

pub use config::ViTConfig;
pub use model::*;
pub(crate) use weights::{load_patch_embeddings, load_vit_layer};
