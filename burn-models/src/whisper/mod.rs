//! Whisper (`transformers.models.whisper`): the log-mel encoder-decoder speech model and its
//! audio classification head.

mod config;
mod generation;
mod model;
mod weights;

pub use config::WhisperConfig;
pub use generation::*;
pub use model::*;
