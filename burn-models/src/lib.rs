//! Hugging Face transformer architectures on Burn, loading HF checkpoints as they are.
//!
//! Models never name a backend: the [`Device`](burn::tensor::Device) passed at load time
//! decides where they run (CPU through `flex`, GPUs through `wgpu` or `cuda`).

#![warn(missing_docs)]

pub mod auto;
pub mod bart;
pub mod bert;
pub mod config;
pub mod detr;
pub mod device;
pub mod distilbert;
pub mod error;
pub mod generation;
pub mod heads;
pub mod host;
pub mod hub;
pub mod layoutlm;
pub mod malloc;
pub mod marian;
pub mod nn;
pub mod resnet;
pub mod seq2seq;
pub mod t5;
pub mod vilt;
pub mod vision;
pub mod vit;
pub mod wav2vec2;
pub mod whisper;

#[cfg(test)]
mod testing;

pub use error::{ModelError, Result};
