//! DETR (`transformers.models.detr`): a ResNet backbone, a transformer encoder-decoder over
//! its feature map with sine position embeddings, and object queries decoded into classes
//! and boxes (`DetrForObjectDetection`), plus a mask per query (`DetrForSegmentation`).

mod config;
mod model;
mod segmentation;
mod weights;

pub use config::DetrConfig;
pub use model::*;
pub use segmentation::*;
