//! Whisper (`transformers.models.whisper`): the log-mel encoder-decoder speech model and its
//! audio classification head.

mod alignment;
mod config;
mod generation;
mod model;
mod weights;

pub use alignment::*;
pub use config::WhisperConfig;
pub use generation::*;
pub use model::*;
