use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `DistilBertConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DistilBertConfig {
    /// `vocab_size`: tokens in the vocabulary.
    pub vocab_size: usize,
    /// `max_position_embeddings`: the longest sequence, in tokens.
    pub max_position_embeddings: usize,
    /// The sinusoidal table is stored in checkpoints like a learned one, so loading is the same.
    pub sinusoidal_pos_embds: bool,
    /// `n_layers`: encoder layers.
    pub n_layers: usize,
    /// `n_heads`: attention heads per layer.
    pub n_heads: usize,
    /// `dim`: width of the hidden states.
    pub dim: usize,
    /// `hidden_dim`: width of the feed-forward inner layer.
    pub hidden_dim: usize,
    /// `dropout`: dropout on hidden states (training only).
    pub dropout: f64,
    /// `attention_dropout`: dropout on attention weights (training only).
    pub attention_dropout: f64,
    /// `activation`: the feed-forward activation.
    pub activation: Activation,
    /// `initializer_range`: std of the normal init of fresh weights.
    pub initializer_range: f64,
    /// `qa_dropout`: dropout before the question-answering head (training only).
    pub qa_dropout: f64,
    /// `seq_classif_dropout`: dropout before the classifier (training only).
    pub seq_classif_dropout: f64,
    /// `pad_token_id`: id of the padding token.
    pub pad_token_id: Option<usize>,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `DistilBertConfig`'s defaults (distilbert-base-uncased's architecture).
impl Default for DistilBertConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            max_position_embeddings: 512,
            sinusoidal_pos_embds: false,
            n_layers: 6,
            n_heads: 12,
            dim: 768,
            hidden_dim: 3072,
            dropout: 0.1,
            attention_dropout: 0.1,
            activation: Activation::Gelu,
            initializer_range: 0.02,
            qa_dropout: 0.1,
            seq_classif_dropout: 0.2,
            pad_token_id: Some(0),
            common: CommonConfig::default(),
        }
    }
}

impl DistilBertConfig {
    /// DistilBERT hard-codes its LayerNorm epsilon.
    pub const LAYER_NORM_EPS: f64 = 1e-12;
}
