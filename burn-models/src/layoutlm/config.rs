use serde::Deserialize;

use crate::bert::BertConfig;

/// `LayoutLMConfig`: every `BertConfig` field plus the size of the 2-D position tables.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct LayoutLMConfig {
    /// Boxes are in 0..max_2d_position_embeddings (transformers' 0-1000 page units).
    pub max_2d_position_embeddings: usize,
    /// The BERT fields of the config (LayoutLM is BERT plus 2-D position embeddings).
    #[serde(flatten)]
    pub bert: BertConfig,
}

/// `LayoutLMConfig`'s defaults: BERT's, with 1024 2-D positions.
impl Default for LayoutLMConfig {
    fn default() -> Self {
        Self {
            max_2d_position_embeddings: 1024,
            bert: BertConfig::default(),
        }
    }
}
