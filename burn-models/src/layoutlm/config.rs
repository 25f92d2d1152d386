use serde::Deserialize;

use crate::bert::BertConfig;

/// `LayoutLMConfig`: every `BertConfig` field plus the size of the 2-D position tables.
#[derive(Debug, Clone, Deserialize)]
pub struct LayoutLMConfig {
    /// Boxes are in 0..max_2d_position_embeddings (transformers' 0-1000 page units).
    #[serde(default = "default_max_2d_position_embeddings")]
    pub max_2d_position_embeddings: usize,
    #[serde(flatten)]
    pub bert: BertConfig,
}

fn default_max_2d_position_embeddings() -> usize {
    1024
}
