use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `DistilBertConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct DistilBertConfig {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// The sinusoidal table is stored in checkpoints like a learned one, so loading is the same.
    #[serde(default)]
    pub sinusoidal_pos_embds: bool,
    #[serde(default = "defaults::n_layers")]
    pub n_layers: usize,
    #[serde(default = "defaults::n_heads")]
    pub n_heads: usize,
    #[serde(default = "defaults::dim")]
    pub dim: usize,
    #[serde(default = "defaults::hidden_dim")]
    pub hidden_dim: usize,
    #[serde(default = "defaults::dropout")]
    pub dropout: f64,
    #[serde(default = "defaults::dropout")]
    pub attention_dropout: f64,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    #[serde(default = "defaults::dropout")]
    pub qa_dropout: f64,
    #[serde(default = "defaults::seq_classif_dropout")]
    pub seq_classif_dropout: f64,
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl DistilBertConfig {
    /// DistilBERT hard-codes its LayerNorm epsilon.
    pub const LAYER_NORM_EPS: f64 = 1e-12;
}

mod defaults {
    pub fn vocab_size() -> usize {
        30522
    }
    pub fn max_position_embeddings() -> usize {
        512
    }
    pub fn n_layers() -> usize {
        6
    }
    pub fn n_heads() -> usize {
        12
    }
    pub fn dim() -> usize {
        768
    }
    pub fn hidden_dim() -> usize {
        3072
    }
    pub fn dropout() -> f64 {
        0.1
    }
    pub fn seq_classif_dropout() -> f64 {
        0.2
    }
    pub fn initializer_range() -> f64 {
        0.02
    }
}
