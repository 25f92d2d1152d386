use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `BartConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct BartConfig {
    pub vocab_size: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    pub activation_function: Activation,
    pub max_position_embeddings: usize,
    pub scale_embedding: bool,
    pub tie_word_embeddings: bool,
    pub pad_token_id: Option<u32>,
    pub add_final_layer_norm: bool,
    pub normalize_before: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `BartConfig`'s defaults (bart-large's architecture); `add_final_layer_norm` and
/// `normalize_before` are mBART's, off for BART.
impl Default for BartConfig {
    fn default() -> Self {
        Self {
            vocab_size: 50265,
            d_model: 1024,
            encoder_layers: 12,
            decoder_layers: 12,
            encoder_attention_heads: 16,
            decoder_attention_heads: 16,
            encoder_ffn_dim: 4096,
            decoder_ffn_dim: 4096,
            activation_function: Activation::Gelu,
            max_position_embeddings: 1024,
            scale_embedding: false,
            tie_word_embeddings: true,
            pad_token_id: Some(1),
            add_final_layer_norm: false,
            normalize_before: false,
            common: CommonConfig::default(),
        }
    }
}
