use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `DistilBertConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DistilBertConfig {
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    /// The sinusoidal table is stored in checkpoints like a learned one, so loading is the same.
    pub sinusoidal_pos_embds: bool,
    pub n_layers: usize,
    pub n_heads: usize,
    pub dim: usize,
    pub hidden_dim: usize,
    pub dropout: f64,
    pub attention_dropout: f64,
    pub activation: Activation,
    pub initializer_range: f64,
    pub qa_dropout: f64,
    pub seq_classif_dropout: f64,
    pub pad_token_id: Option<usize>,
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
