//! ResNet (`transformers.models.resnet`) as a backbone: `ResNetBackbone` with frozen
//! BatchNorm, loadable from HF's names or timm's (`facebook/detr-resnet-50`).

mod config;
mod model;
mod weights;

pub use config::ResNetConfig;
pub use model::*;
pub use weights::{ResNetNaming, timm_config};
