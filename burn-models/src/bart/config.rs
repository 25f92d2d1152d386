use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `BartConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct BartConfig {
    /// `vocab_size`: tokens in the vocabulary.
    pub vocab_size: usize,
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
    /// `pad_token_id`: id of the padding token.
    pub pad_token_id: Option<u32>,
    /// `add_final_layer_norm`: a layer norm after the last layer.
    pub add_final_layer_norm: bool,
    /// `normalize_before`: pre-norm layers (layer norm before attention and feed-forward).
    pub normalize_before: bool,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
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
