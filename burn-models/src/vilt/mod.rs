//! ViLT (`transformers.models.vilt`): one transformer over text tokens and image patches
//! together (no CNN or region features), for visual question answering.

mod config;
mod model;
mod weights;

pub use config::ViltConfig;
pub use model::*;
