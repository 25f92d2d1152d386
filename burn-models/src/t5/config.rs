use serde::Deserialize;

use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::Activation;

/// `T5Config`, with transformers' field names and defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct T5Config {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    #[serde(default = "defaults::d_kv")]
    pub d_kv: usize,
    #[serde(default = "defaults::d_ff")]
    pub d_ff: usize,
    #[serde(default = "defaults::num_layers")]
    pub num_layers: usize,
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    #[serde(default = "defaults::num_heads")]
    pub num_heads: usize,
    #[serde(default = "defaults::buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "defaults::max_distance")]
    pub relative_attention_max_distance: usize,
    #[serde(default = "defaults::eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "defaults::feed_forward_proj")]
    pub feed_forward_proj: String,
    #[serde(default = "defaults::yes")]
    pub tie_word_embeddings: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl T5Config {
    /// `(is_gated, activation)` of `feed_forward_proj` (`relu`, `gated-gelu`, `gated-silu`, ...);
    /// `gated-gelu` means the tanh GELU, as transformers maps it.
    pub fn feed_forward(&self) -> Result<(bool, Activation)> {
        let proj = self.feed_forward_proj.as_str();
        let (gated, act) = match proj.strip_prefix("gated-") {
            Some(act) => (true, act),
            None => (false, proj),
        };
        let name = if proj == "gated-gelu" {
            "gelu_new"
        } else {
            act
        };
        let activation: Activation = serde_json::from_value(serde_json::json!(name))
            .map_err(|_| ModelError::Unsupported(format!("feed_forward_proj `{proj}`")))?;
        Ok((gated, activation))
    }

    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }
}

mod defaults {
    pub fn vocab_size() -> usize {
        32128
    }
    pub fn d_model() -> usize {
        512
    }
    pub fn d_kv() -> usize {
        64
    }
    pub fn d_ff() -> usize {
        2048
    }
    pub fn num_layers() -> usize {
        6
    }
    pub fn num_heads() -> usize {
        8
    }
    pub fn buckets() -> usize {
        32
    }
    pub fn max_distance() -> usize {
        128
    }
    pub fn eps() -> f64 {
        1e-6
    }
    pub fn feed_forward_proj() -> String {
        "relu".into()
    }
    pub fn yes() -> bool {
        true
    }
}
