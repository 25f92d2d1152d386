//! Hugging Face checkpoint names of ViLT.
//!
//! | HF name (under `vilt.`)                                   | module                           |
//! |-----------------------------------------------------------|----------------------------------|
//! | `embeddings.text_embeddings.*` (BERT's embeddings)        | `text_embeddings.*`              |
//! | `embeddings.{cls_token,position_embeddings}`              | `image_embeddings.*`             |
//! | `embeddings.patch_embeddings.projection` (Conv2d)         | `image_embeddings.patch_embeddings` (as a linear layer) |
//! | `embeddings.token_type_embeddings` (modality types)       | `token_type_embeddings`          |
//! | `encoder.layer.{i}.*` (ViT's layer names)                 | `encoder.layers[i]`              |
//! | `layernorm`, `pooler.dense`                               | `layernorm`, `pooler.dense`      |
//! | `classifier.{0,1,3}` (no prefix)                          | `dense`, `norm`, `output`        |

use burn::module::Param;
use burn::nn::DropoutConfig;

use super::*;
use crate::bert::{BertPooler, load_text_embeddings};
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::PreNormEncoder;
use crate::vit::{load_patch_embeddings, load_vit_layer};

const BASE_PREFIX: &str = "vilt";

fn base_scope<'a>(root: &WeightScope<'a>) -> WeightScope<'a> {
    if root.contains(&format!("{BASE_PREFIX}.embeddings.cls_token")) {
        root.push(BASE_PREFIX)
    } else {
        root.clone()
    }
}

impl ViltModel {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &ViltConfig) -> Result<Self> {
        let c = config;
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(ModelError::Unsupported(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                c.hidden_size, c.num_attention_heads
            )));
        }
        if c.patch_size == 0 || c.image_size < c.patch_size {
            return Err(ModelError::Unsupported(format!(
                "image_size {} and patch_size {} make no patches",
                c.image_size, c.patch_size
            )));
        }
        let scope = base_scope(root);
        let emb = scope.push("embeddings");
        let h = c.hidden_size;
        let side = c.patches_per_side();
        let dropout = DropoutConfig::new(c.hidden_dropout_prob);
        let vit = c.as_vit();
        let layers = (0..c.num_hidden_layers)
            .map(|i| load_vit_layer(&scope.push("encoder.layer").push(i), &vit))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            text_embeddings: load_text_embeddings(
                &emb.push("text_embeddings"),
                c.vocab_size,
                c.max_position_embeddings,
                c.type_vocab_size,
                h,
                c.layer_norm_eps,
                c.hidden_dropout_prob,
                // ViltConfig has no `pad_token_id`: nn.Embedding(padding_idx=None).
                None,
            )?,
            image_embeddings: ViltPatchEmbeddings {
                cls_token: Param::from_tensor(emb.tensor("cls_token", [1, 1, h])?),
                position_embeddings: Param::from_tensor(
                    emb.tensor("position_embeddings", [1, 1 + side * side, h])?,
                ),
                patch_embeddings: load_patch_embeddings(&emb, &vit)?,
                dropout: dropout.init(),
            },
            token_type_embeddings: emb.embedding(
                "token_type_embeddings",
                c.modality_type_vocab_size,
                h,
            )?,
            encoder: PreNormEncoder { layers },
            layernorm: scope.layer_norm("layernorm", h, c.layer_norm_eps)?,
            pooler: BertPooler {
                dense: scope.linear("pooler.dense", h, h, true)?,
            },
            config: config.clone(),
        })
    }
}

impl ViltForQuestionAnswering {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &ViltConfig) -> Result<Self> {
        let h = config.hidden_size;
        Ok(Self {
            vilt: ViltModel::load(root, config)?,
            dense: root.linear("classifier.0", h, 2 * h, true)?,
            // nn.LayerNorm with its default epsilon, not the config's.
            norm: root.layer_norm("classifier.1", 2 * h, 1e-5)?,
            output: root.linear("classifier.3", 2 * h, config.common.num_labels(), true)?,
        })
    }
}
