//! DETR (`transformers.models.detr`): a ResNet backbone, a transformer encoder-decoder over
//! its feature map with sine position embeddings, and object queries decoded into classes
//! and boxes (`DetrForObjectDetection`).

mod config;
mod model;
mod weights;

pub use config::DetrConfig;
pub use model::*;
