use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `BartConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct BartConfig {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    #[serde(default = "defaults::layers")]
    pub encoder_layers: usize,
    #[serde(default = "defaults::layers")]
    pub decoder_layers: usize,
    #[serde(default = "defaults::heads")]
    pub encoder_attention_heads: usize,
    #[serde(default = "defaults::heads")]
    pub decoder_attention_heads: usize,
    #[serde(default = "defaults::ffn")]
    pub encoder_ffn_dim: usize,
    #[serde(default = "defaults::ffn")]
    pub decoder_ffn_dim: usize,
    #[serde(default)]
    pub activation_function: Activation,
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub scale_embedding: bool,
    #[serde(default = "defaults::yes")]
    pub tie_word_embeddings: bool,
    #[serde(default = "defaults::pad")]
    pub pad_token_id: Option<u32>,
    #[serde(default)]
    pub add_final_layer_norm: bool,
    #[serde(default)]
    pub normalize_before: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

mod defaults {
    pub fn vocab_size() -> usize {
        50265
    }
    pub fn d_model() -> usize {
        1024
    }
    pub fn layers() -> usize {
        12
    }
    pub fn heads() -> usize {
        16
    }
    pub fn ffn() -> usize {
        4096
    }
    pub fn max_position_embeddings() -> usize {
        1024
    }
    pub fn yes() -> bool {
        true
    }
    pub fn pad() -> Option<u32> {
        Some(1)
    }
}
