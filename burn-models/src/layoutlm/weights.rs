//! Hugging Face checkpoint names of LayoutLM: BERT's (see `bert/weights.rs`) under
//! `layoutlm.`, plus the 2-D tables.
//!
//! | HF name (under `layoutlm.`)                             | module                        |
//! |---------------------------------------------------------|-------------------------------|
//! | `embeddings.{x,y,h,w}_position_embeddings`              | `spatial.*_position_embeddings` |
//! | `embeddings.*`, `encoder.*`, `pooler.dense`             | as BERT                       |
//! | `classifier` / `qa_outputs` (no prefix)                 | the head                      |

use burn::nn::DropoutConfig;

use super::*;
use crate::bert::{BertPooler, load_bert_embeddings, load_bert_layer};
use crate::error::Result;
use crate::hub::WeightScope;
use crate::nn::PostNormEncoder;

const BASE_PREFIX: &str = "layoutlm";

fn base_scope<'a>(root: &WeightScope<'a>) -> WeightScope<'a> {
    if root.contains(&format!("{BASE_PREFIX}.embeddings.word_embeddings.weight")) {
        root.push(BASE_PREFIX)
    } else {
        root.clone()
    }
}

impl LayoutLMModel {
    /// Loads the base model from a checkpoint of `LayoutLMModel` or of a LayoutLM task
    /// model; the pooler when the checkpoint has one (transformers keeps it in every head).
    pub fn load(root: &WeightScope, config: &LayoutLMConfig) -> Result<Self> {
        let c = &config.bert;
        crate::bert::check_supported(c)?;
        let scope = base_scope(root);
        let embeddings = scope.push("embeddings");
        let table = |name: &str| {
            embeddings.embedding(name, config.max_2d_position_embeddings, c.hidden_size)
        };
        let spatial = SpatialEmbeddings {
            x_position_embeddings: table("x_position_embeddings")?,
            y_position_embeddings: table("y_position_embeddings")?,
            h_position_embeddings: table("h_position_embeddings")?,
            w_position_embeddings: table("w_position_embeddings")?,
        };
        let layers = (0..c.num_hidden_layers)
            .map(|i| load_bert_layer(&scope.push("encoder.layer").push(i), c))
            .collect::<Result<Vec<_>>>()?;
        let pooler = if scope.contains("pooler.dense.weight") {
            Some(BertPooler {
                dense: scope.linear("pooler.dense", c.hidden_size, c.hidden_size, true)?,
            })
        } else {
            None
        };
        Ok(Self {
            embeddings: load_bert_embeddings(&embeddings, c)?,
            spatial,
            encoder: PostNormEncoder { layers },
            pooler,
            config: config.clone(),
        })
    }
}

fn classifier_dropout(c: &LayoutLMConfig) -> DropoutConfig {
    DropoutConfig::new(c.bert.hidden_dropout_prob)
}

impl LayoutLMForSequenceClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &LayoutLMConfig) -> Result<Self> {
        let c = &config.bert;
        Ok(Self {
            layoutlm: LayoutLMModel::load(root, config)?,
            dropout: classifier_dropout(config).init(),
            classifier: root.linear("classifier", c.hidden_size, c.common.num_labels(), true)?,
        })
    }
}

impl LayoutLMForTokenClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &LayoutLMConfig) -> Result<Self> {
        let c = &config.bert;
        Ok(Self {
            layoutlm: LayoutLMModel::load(root, config)?,
            dropout: classifier_dropout(config).init(),
            classifier: root.linear("classifier", c.hidden_size, c.common.num_labels(), true)?,
        })
    }
}

impl LayoutLMForQuestionAnswering {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &LayoutLMConfig) -> Result<Self> {
        Ok(Self {
            layoutlm: LayoutLMModel::load(root, config)?,
            qa_outputs: root.linear("qa_outputs", config.bert.hidden_size, 2, true)?,
        })
    }
}
