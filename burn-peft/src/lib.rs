//! LoRA adapters with Hugging Face PEFT's semantics and file format, on any `burn-models`
//! model, and quantized frozen bases (bitsandbytes int8 and NF4) for memory-lean training.
//!
//! ```no_run
//! # use burn_peft::*;
//! # fn demo(model: burn_models::bert::BertForSequenceClassification) -> Result<()> {
//! let config = LoraConfig {
//!     modules_to_save: Some(vec!["classifier".into()]),
//!     ..LoraConfig::new(8, 16.0, &["query", "value"])
//! };
//! let model = get_peft_model(model, config)?;
//! model.print_trainable_parameters();
//! model.save_pretrained(std::path::Path::new("my-adapter"))?;
//! # Ok(()) }
//! ```
//!
//! Adapters are attached by Hugging Face module path (`bert.encoder.layer.0.attention.self.query`),
//! which every `burn_models::nn::Linear` records at load time, so the same code serves BERT,
//! DistilBERT or Whisper (`q_proj`, `v_proj`).

#![warn(missing_docs)]

mod bias;
mod config;
mod count;
mod error;
mod io;
mod model;
pub mod quant;

pub use config::{Bias, InitLoraWeights, LoraConfig, TargetModules};
pub use count::{LayerShape, ModelShape, WhisperDims, whisper_shape};
pub use error::{PeftError, Result};
pub use io::{KEY_PREFIX, WEIGHTS_NAME};
pub use model::{DEFAULT_ADAPTER, PeftModel, format_trainable, get_peft_model, thousands};
pub use quant::{Quantization, base_weight_bytes, quantize_model};
