use serde::Deserialize;

use crate::bart::BartConfig;
use crate::config::CommonConfig;
use crate::nn::Activation;

/// `MarianConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct MarianConfig {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default)]
    pub decoder_vocab_size: Option<usize>,
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
    #[serde(default = "defaults::yes")]
    pub share_encoder_decoder_embeddings: bool,
    #[serde(default = "defaults::pad")]
    pub pad_token_id: Option<u32>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl MarianConfig {
    /// The same shape as a [`BartConfig`] (what the shared modules keep).
    pub fn as_bart(&self) -> BartConfig {
        BartConfig {
            vocab_size: self.vocab_size,
            d_model: self.d_model,
            encoder_layers: self.encoder_layers,
            decoder_layers: self.decoder_layers,
            encoder_attention_heads: self.encoder_attention_heads,
            decoder_attention_heads: self.decoder_attention_heads,
            encoder_ffn_dim: self.encoder_ffn_dim,
            decoder_ffn_dim: self.decoder_ffn_dim,
            activation_function: self.activation_function,
            max_position_embeddings: self.max_position_embeddings,
            scale_embedding: self.scale_embedding,
            tie_word_embeddings: self.tie_word_embeddings,
            pad_token_id: self.pad_token_id,
            add_final_layer_norm: false,
            normalize_before: false,
            common: self.common.clone(),
        }
    }
}

mod defaults {
    pub fn vocab_size() -> usize {
        58101
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
        Some(58100)
    }
}
