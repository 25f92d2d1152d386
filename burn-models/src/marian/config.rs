use serde::Deserialize;

use crate::bart::BartConfig;
use crate::config::CommonConfig;
use crate::nn::Activation;

/// `MarianConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MarianConfig {
    /// `vocab_size`: tokens in the vocabulary.
    pub vocab_size: usize,
    /// `decoder_vocab_size`: the decoder's vocabulary; `vocab_size` when unset.
    pub decoder_vocab_size: Option<usize>,
    /// `d_model`: width of the hidden states.
    pub d_model: usize,
    /// `encoder_layers`: encoder layers.
    pub encoder_layers: usize,
    /// `decoder_layers`: decoder layers.
    pub decoder_layers: usize,
    /// `encoder_attention_heads`: attention heads per encoder layer.
    pub encoder_attention_heads: usize,
    /// `decoder_attention_heads`: attention heads per decoder layer.
    pub decoder_attention_heads: usize,
    /// `encoder_ffn_dim`: width of the encoder feed-forward inner layer.
    pub encoder_ffn_dim: usize,
    /// `decoder_ffn_dim`: width of the decoder feed-forward inner layer.
    pub decoder_ffn_dim: usize,
    /// `activation_function`: the feed-forward activation.
    pub activation_function: Activation,
    /// `max_position_embeddings`: the longest sequence, in tokens.
    pub max_position_embeddings: usize,
    /// `scale_embedding`: token embeddings are multiplied by `sqrt(d_model)`.
    pub scale_embedding: bool,
    /// `tie_word_embeddings`: the output projection shares the token embedding.
    pub tie_word_embeddings: bool,
    /// `share_encoder_decoder_embeddings`: one token embedding for encoder and decoder.
    pub share_encoder_decoder_embeddings: bool,
    /// `pad_token_id`: id of the padding token.
    pub pad_token_id: Option<u32>,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
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
