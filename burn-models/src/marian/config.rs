use serde::Deserialize;

use crate::bart::BartConfig;
use crate::config::CommonConfig;
use crate::nn::Activation;

/// `MarianConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MarianConfig {
    pub vocab_size: usize,
    pub decoder_vocab_size: Option<usize>,
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
    pub share_encoder_decoder_embeddings: bool,
    pub pad_token_id: Option<u32>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `MarianConfig`'s defaults; `decoder_vocab_size` falls back to `vocab_size` where it is read.
impl Default for MarianConfig {
    fn default() -> Self {
        Self {
            vocab_size: 58101,
            decoder_vocab_size: None,
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
            share_encoder_decoder_embeddings: true,
            pad_token_id: Some(58100),
            common: CommonConfig::default(),
        }
    }
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
