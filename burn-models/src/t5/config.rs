use serde::Deserialize;

use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::Activation;

/// `T5Config`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct T5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    pub num_decoder_layers: Option<usize>,
    pub num_heads: usize,
    pub relative_attention_num_buckets: usize,
    pub relative_attention_max_distance: usize,
    pub layer_norm_epsilon: f64,
    pub feed_forward_proj: String,
    pub tie_word_embeddings: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `T5Config`'s defaults (t5-small's architecture); `num_decoder_layers` falls back to
/// `num_layers` in [`T5Config::decoder_layers`].
impl Default for T5Config {
    fn default() -> Self {
        Self {
            vocab_size: 32128,
            d_model: 512,
            d_kv: 64,
            d_ff: 2048,
            num_layers: 6,
            num_decoder_layers: None,
            num_heads: 8,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: "relu".into(),
            tie_word_embeddings: true,
            common: CommonConfig::default(),
        }
    }
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
