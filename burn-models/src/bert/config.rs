use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `BertConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    /// `vocab_size`: tokens in the vocabulary.
    pub vocab_size: usize,
    /// `hidden_size`: width of the hidden states.
    pub hidden_size: usize,
    /// `num_hidden_layers`: encoder layers.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`: attention heads per layer.
    pub num_attention_heads: usize,
    /// `intermediate_size`: width of the feed-forward inner layer.
    pub intermediate_size: usize,
    /// `hidden_act`: the feed-forward activation.
    pub hidden_act: Activation,
    /// `hidden_dropout_prob`: dropout on hidden states (training only).
    pub hidden_dropout_prob: f64,
    /// `attention_probs_dropout_prob`: dropout on attention weights (training only).
    pub attention_probs_dropout_prob: f64,
    /// `max_position_embeddings`: the longest sequence, in tokens.
    pub max_position_embeddings: usize,
    /// `type_vocab_size`: token types (segments) the embeddings know.
    pub type_vocab_size: usize,
    /// `initializer_range`: std of the normal init of fresh weights.
    pub initializer_range: f64,
    /// `layer_norm_eps`: epsilon of the layer norms.
    pub layer_norm_eps: f64,
    /// `pad_token_id`: id of the padding token.
    pub pad_token_id: Option<usize>,
    /// `position_embedding_type`: `"absolute"` (the one supported).
    pub position_embedding_type: String,
    /// `classifier_dropout`: dropout before the classifier head; `hidden_dropout_prob` when unset.
    pub classifier_dropout: Option<f64>,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `BertConfig`'s defaults (bert-base-uncased's architecture).
impl Default for BertConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: Some(0),
            position_embedding_type: "absolute".into(),
            classifier_dropout: None,
            common: CommonConfig::default(),
        }
    }
}
