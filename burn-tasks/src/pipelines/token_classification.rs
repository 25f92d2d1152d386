//! `token-classification` (alias `ner`). Being written.

#[derive(Debug, Clone, Default)]
pub struct TokenClassificationOptions {}

pub struct TokenClassificationPipeline {}
