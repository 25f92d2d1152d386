//! BART (`BartForConditionalGeneration`): a post-norm encoder-decoder with learned positions
//! (offset by 2), shared token embeddings, a tied LM head and `final_logits_bias`. Marian
//! reuses the same modules with sinusoidal positions (see [`crate::marian`]).

mod config;
mod model;
pub(crate) mod weights;

pub use config::BartConfig;
pub use model::{BartDecoderLayer, BartForConditionalGeneration, Positions};
