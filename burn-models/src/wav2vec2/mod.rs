//! wav2vec 2.0 (`transformers.models.wav2vec2`): raw-waveform speech encoder with its CTC
//! (`Wav2Vec2ForCTC`) and sequence classification heads.

mod config;
mod model;
mod weights;

pub use config::{FeatExtractNorm, Wav2Vec2Config};
pub use model::*;
