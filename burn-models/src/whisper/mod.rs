//! Whisper (`transformers.models.whisper`): the log-mel encoder-decoder speech model and its
//! audio classification head.

mod alignment;
mod config;
mod generation;
mod generation_config;
mod languages;
mod model;
mod timestamp_rules;
mod weights;

pub use alignment::*;
pub use config::WhisperConfig;
pub use generation::*;
pub use generation_config::*;
pub use languages::*;
pub use model::*;
pub use timestamp_rules::*;
