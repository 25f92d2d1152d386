//! T5 (`T5ForConditionalGeneration`): pre-norm encoder-decoder with RMS layer norms, no
//! position embeddings but a bucketed relative position bias (computed by the first layer of
//! each stack, shared by the others), unscaled attention scores, ReLU (v1.0) or gated-GELU
//! (v1.1) feed-forward, and a tied LM head that rescales by `d_model^-0.5`.

mod config;
mod model;
mod weights;

pub use config::T5Config;
pub use model::{T5Block, T5FeedForward, T5ForConditionalGeneration, relative_position_bucket};
