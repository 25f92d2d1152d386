use serde::Deserialize;

use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::Activation;

/// `T5Config`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct T5Config {
    /// `vocab_size`: tokens in the vocabulary.
    pub vocab_size: usize,
    /// `d_model`: width of the hidden states.
    pub d_model: usize,
    /// `d_kv`: width of each attention head.
    pub d_kv: usize,
    /// `d_ff`: width of the feed-forward inner layer.
    pub d_ff: usize,
    /// `num_layers`: encoder layers.
    pub num_layers: usize,
    /// `num_decoder_layers`: decoder layers; `num_layers` when unset.
    pub num_decoder_layers: Option<usize>,
    /// `num_heads`: attention heads per layer.
    pub num_heads: usize,
    /// `relative_attention_num_buckets`: buckets of the relative position bias.
    pub relative_attention_num_buckets: usize,
    /// `relative_attention_max_distance`: distance beyond which relative positions share a bucket.
    pub relative_attention_max_distance: usize,
    /// `layer_norm_epsilon`: epsilon of the layer norms.
    pub layer_norm_epsilon: f64,
    /// `feed_forward_proj`: `"relu"`, or a gated one such as `"gated-gelu"` (T5 v1.1, FLAN-T5).
    pub feed_forward_proj: String,
    /// `tie_word_embeddings`: the output projection shares the token embedding.
    pub tie_word_embeddings: bool,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
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

    /// Decoder layers: `num_decoder_layers`, or `num_layers` when unset.
    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }
}
