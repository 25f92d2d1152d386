//! Hugging Face checkpoint names of DistilBERT, one loader per module.
//!
//! | HF name (under `distilbert.`)                       | module                                      |
//! |-----------------------------------------------------|---------------------------------------------|
//! | `embeddings.{word,position}_embeddings`             | `embeddings.*_embeddings`                   |
//! | `embeddings.LayerNorm`                              | `embeddings.layer_norm`                     |
//! | `transformer.layer.{i}.attention.{q,k,v,out}_lin`   | `transformer.layers[i].attention.*`         |
//! | `transformer.layer.{i}.sa_layer_norm`               | `transformer.layers[i].attention_norm`      |
//! | `transformer.layer.{i}.ffn.lin1` / `ffn.lin2`       | `transformer.layers[i].feed_forward.up/down`|
//! | `transformer.layer.{i}.output_layer_norm`           | `transformer.layers[i].output_norm`         |
//! | `pre_classifier`, `classifier`, `qa_outputs`        | the heads                                   |

use burn::nn::DropoutConfig;

use super::*;
use crate::error::Result;
use crate::hub::WeightScope;
use crate::nn::{
    FeedForward, MultiHeadAttention, PostNormEncoder, PostNormEncoderLayer, TextEmbeddings,
};

const BASE_PREFIX: &str = "distilbert";
const EPS: f64 = DistilBertConfig::LAYER_NORM_EPS;

impl DistilBertModel {
    /// Loads the base model from a checkpoint of `DistilBertModel` or of a task model.
    pub fn load(root: &WeightScope, c: &DistilBertConfig) -> Result<Self> {
        let scope = if root.contains(&format!("{BASE_PREFIX}.embeddings.word_embeddings.weight")) {
            root.push(BASE_PREFIX)
        } else {
            root.clone()
        };
        let emb = scope.push("embeddings");
        let embeddings = TextEmbeddings {
            word_embeddings: emb.embedding("word_embeddings", c.vocab_size, c.dim)?,
            position_embeddings: emb.embedding(
                "position_embeddings",
                c.max_position_embeddings,
                c.dim,
            )?,
            token_type_embeddings: None,
            layer_norm: emb.layer_norm("LayerNorm", c.dim, EPS)?,
            dropout: DropoutConfig::new(c.dropout).init(),
            padding_idx: c.pad_token_id,
        };
        let layers = (0..c.n_layers)
            .map(|i| load_layer(&scope.push("transformer.layer").push(i), c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embeddings,
            transformer: PostNormEncoder { layers },
            config: c.clone(),
        })
    }
}

fn load_layer(scope: &WeightScope, c: &DistilBertConfig) -> Result<PostNormEncoderLayer> {
    let d = c.dim;
    Ok(PostNormEncoderLayer {
        attention: MultiHeadAttention {
            query: scope.linear("attention.q_lin", d, d, true)?,
            key: scope.linear("attention.k_lin", d, d, true)?,
            value: scope.linear("attention.v_lin", d, d, true)?,
            output: scope.linear("attention.out_lin", d, d, true)?,
            num_heads: c.n_heads,
        },
        attention_norm: scope.layer_norm("sa_layer_norm", d, EPS)?,
        feed_forward: FeedForward {
            up: scope.linear("ffn.lin1", d, c.hidden_dim, true)?,
            down: scope.linear("ffn.lin2", c.hidden_dim, d, true)?,
            activation: c.activation,
        },
        output_norm: scope.layer_norm("output_layer_norm", d, EPS)?,
        dropout: DropoutConfig::new(c.dropout).init(),
    })
}

impl DistilBertForSequenceClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, c: &DistilBertConfig) -> Result<Self> {
        Ok(Self {
            distilbert: DistilBertModel::load(root, c)?,
            pre_classifier: root.linear("pre_classifier", c.dim, c.dim, true)?,
            classifier: root.linear("classifier", c.dim, c.common.num_labels(), true)?,
            dropout: DropoutConfig::new(c.seq_classif_dropout).init(),
        })
    }
}

impl DistilBertForTokenClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, c: &DistilBertConfig) -> Result<Self> {
        Ok(Self {
            distilbert: DistilBertModel::load(root, c)?,
            dropout: DropoutConfig::new(c.dropout).init(),
            classifier: root.linear("classifier", c.dim, c.common.num_labels(), true)?,
        })
    }
}

impl DistilBertForQuestionAnswering {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, c: &DistilBertConfig) -> Result<Self> {
        Ok(Self {
            distilbert: DistilBertModel::load(root, c)?,
            dropout: DropoutConfig::new(c.qa_dropout).init(),
            qa_outputs: root.linear("qa_outputs", c.dim, 2, true)?,
        })
    }
}
