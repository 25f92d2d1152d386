//! Hugging Face checkpoint names of BERT, one loader per module.
//!
//! | HF name (under `bert.`)                               | module                                  |
//! |-------------------------------------------------------|-----------------------------------------|
//! | `embeddings.{word,position,token_type}_embeddings`    | `embeddings.*_embeddings`               |
//! | `embeddings.LayerNorm`                                | `embeddings.layer_norm`                 |
//! | `encoder.layer.{i}.attention.self.{query,key,value}`  | `encoder.layers[i].attention.*`         |
//! | `encoder.layer.{i}.attention.output.dense`            | `encoder.layers[i].attention.output`    |
//! | `encoder.layer.{i}.attention.output.LayerNorm`        | `encoder.layers[i].attention_norm`      |
//! | `encoder.layer.{i}.intermediate.dense`                | `encoder.layers[i].feed_forward.up`     |
//! | `encoder.layer.{i}.output.dense`                      | `encoder.layers[i].feed_forward.down`   |
//! | `encoder.layer.{i}.output.LayerNorm`                  | `encoder.layers[i].output_norm`         |
//! | `pooler.dense`                                        | `pooler.dense`                          |
//! | `classifier` / `qa_outputs` (no prefix)               | the head                                |

use burn::nn::DropoutConfig;

use super::*;
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::{
    FeedForward, MultiHeadAttention, PostNormEncoder, PostNormEncoderLayer, TextEmbeddings,
};

/// The prefix under which task models store the base model (`base_model_prefix`).
const BASE_PREFIX: &str = "bert";

/// The scope of the base model: `bert.` in head checkpoints, the root in a bare `BertModel`.
fn base_scope<'a>(root: &WeightScope<'a>) -> WeightScope<'a> {
    if root.contains(&format!("{BASE_PREFIX}.embeddings.word_embeddings.weight")) {
        root.push(BASE_PREFIX)
    } else {
        root.clone()
    }
}

impl BertModel {
    /// Loads the base model from a checkpoint of `BertModel` or of any BERT task model.
    /// `pooler`: load the pooler (required) or leave it out.
    pub fn load(root: &WeightScope, config: &BertConfig, pooler: bool) -> Result<Self> {
        check_supported(config)?;
        let scope = base_scope(root);
        let embeddings = load_bert_embeddings(&scope.push("embeddings"), config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| load_bert_layer(&scope.push("encoder.layer").push(i), config))
            .collect::<Result<Vec<_>>>()?;
        let pooler = if pooler {
            Some(BertPooler {
                dense: scope.linear(
                    "pooler.dense",
                    config.hidden_size,
                    config.hidden_size,
                    true,
                )?,
            })
        } else {
            None
        };
        Ok(Self {
            embeddings,
            encoder: PostNormEncoder { layers },
            pooler,
            config: config.clone(),
        })
    }

    /// Loads a bare `BertModel`, with the pooler when the checkpoint has one.
    pub fn load_bare(root: &WeightScope, config: &BertConfig) -> Result<Self> {
        let has_pooler = base_scope(root).contains("pooler.dense.weight");
        Self::load(root, config, has_pooler)
    }
}

/// Rejects configurations the BERT blocks here do not implement.
pub(crate) fn check_supported(c: &BertConfig) -> Result<()> {
    if c.position_embedding_type != "absolute" {
        return Err(ModelError::Unsupported(format!(
            "position_embedding_type `{}` (only `absolute` is implemented)",
            c.position_embedding_type
        )));
    }
    if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
        return Err(ModelError::Unsupported(format!(
            "hidden_size {} is not a multiple of num_attention_heads {}",
            c.hidden_size, c.num_attention_heads
        )));
    }
    Ok(())
}

pub(crate) fn load_bert_embeddings(scope: &WeightScope, c: &BertConfig) -> Result<TextEmbeddings> {
    load_text_embeddings(
        scope,
        c.vocab_size,
        c.max_position_embeddings,
        c.type_vocab_size,
        c.hidden_size,
        c.layer_norm_eps,
        c.hidden_dropout_prob,
        c.pad_token_id,
    )
}

/// BERT-style embeddings (`word_embeddings`, `position_embeddings`, `token_type_embeddings`,
/// `LayerNorm`), as BERT, LayoutLM and ViLT's text side name them.
pub(crate) fn load_text_embeddings(
    scope: &WeightScope,
    vocab_size: usize,
    max_positions: usize,
    type_vocab_size: usize,
    hidden: usize,
    eps: f64,
    dropout: f64,
    padding_idx: Option<usize>,
) -> Result<TextEmbeddings> {
    Ok(TextEmbeddings {
        word_embeddings: scope.embedding("word_embeddings", vocab_size, hidden)?,
        position_embeddings: scope.embedding("position_embeddings", max_positions, hidden)?,
        token_type_embeddings: Some(scope.embedding(
            "token_type_embeddings",
            type_vocab_size,
            hidden,
        )?),
        layer_norm: scope.layer_norm("LayerNorm", hidden, eps)?,
        dropout: DropoutConfig::new(dropout).init(),
        padding_idx,
    })
}

pub(crate) fn load_bert_layer(scope: &WeightScope, c: &BertConfig) -> Result<PostNormEncoderLayer> {
    let (h, eps) = (c.hidden_size, c.layer_norm_eps);
    let attention = MultiHeadAttention {
        query: scope.linear("attention.self.query", h, h, true)?,
        key: scope.linear("attention.self.key", h, h, true)?,
        value: scope.linear("attention.self.value", h, h, true)?,
        output: scope.linear("attention.output.dense", h, h, true)?,
        num_heads: c.num_attention_heads,
    };
    Ok(PostNormEncoderLayer {
        attention,
        attention_norm: scope.layer_norm("attention.output.LayerNorm", h, eps)?,
        feed_forward: FeedForward {
            up: scope.linear("intermediate.dense", h, c.intermediate_size, true)?,
            down: scope.linear("output.dense", c.intermediate_size, h, true)?,
            activation: c.hidden_act,
        },
        output_norm: scope.layer_norm("output.LayerNorm", h, eps)?,
        dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
    })
}

/// The `classifier` head of sequence and token classification: hidden -> num_labels.
fn classifier(root: &WeightScope, c: &BertConfig) -> Result<crate::nn::Linear> {
    root.linear("classifier", c.hidden_size, c.common.num_labels(), true)
}

fn classifier_dropout(c: &BertConfig) -> DropoutConfig {
    DropoutConfig::new(c.classifier_dropout.unwrap_or(c.hidden_dropout_prob))
}

impl BertForSequenceClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &BertConfig) -> Result<Self> {
        Ok(Self {
            bert: BertModel::load(root, config, true)?,
            dropout: classifier_dropout(config).init(),
            classifier: classifier(root, config)?,
        })
    }
}

impl BertForTokenClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &BertConfig) -> Result<Self> {
        Ok(Self {
            bert: BertModel::load(root, config, false)?,
            dropout: classifier_dropout(config).init(),
            classifier: classifier(root, config)?,
        })
    }
}

impl BertForQuestionAnswering {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &BertConfig) -> Result<Self> {
        Ok(Self {
            bert: BertModel::load(root, config, false)?,
            qa_outputs: root.linear("qa_outputs", config.hidden_size, 2, true)?,
        })
    }
}
