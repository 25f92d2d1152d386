//! Hugging Face checkpoint names of ViT.
//!
//! | HF name (under `vit.`)                                  | module                                |
//! |---------------------------------------------------------|---------------------------------------|
//! | `embeddings.cls_token`, `embeddings.position_embeddings`| `embeddings.*`                        |
//! | `embeddings.patch_embeddings.projection` (Conv2d)       | `embeddings.patch_embeddings.projection` (as a linear layer) |
//! | `encoder.layer.{i}.layernorm_before`                    | `encoder.layers[i].attention_norm`    |
//! | `encoder.layer.{i}.attention.attention.{query,key,value}` | `encoder.layers[i].attention.*`     |
//! | `encoder.layer.{i}.attention.output.dense`              | `encoder.layers[i].attention.output`  |
//! | `encoder.layer.{i}.layernorm_after`                     | `encoder.layers[i].output_norm`       |
//! | `encoder.layer.{i}.intermediate.dense`, `output.dense`  | `encoder.layers[i].feed_forward.{up,down}` |
//! | `layernorm`                                             | `layernorm`                           |
//! | `classifier` (no prefix)                                | `classifier`                          |
//!
//! transformers 5 renamed the layers' modules (`layers.{i}.attention.{q,k,v,o}_proj`,
//! `layers.{i}.mlp.{fc1,fc2}`) and converts checkpoints as it loads them; PEFT on 5.x names
//! adapter modules so (`transformers5_path` below).

use crate::nn::Linear;
use burn::module::Param;
use burn::nn::DropoutConfig;

use super::*;
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::{FeedForward, Linears, MultiHeadAttention, PreNormEncoder, PreNormEncoderLayer};

const BASE_PREFIX: &str = "vit";

fn base_scope<'a>(root: &WeightScope<'a>) -> WeightScope<'a> {
    if root.contains(&format!("{BASE_PREFIX}.embeddings.cls_token")) {
        root.push(BASE_PREFIX)
    } else {
        root.clone()
    }
}

impl ViTModel {
    /// Loads the base model from a `ViTModel` checkpoint or any ViT task model's.
    pub fn load(root: &WeightScope, config: &ViTConfig) -> Result<Self> {
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
        let positions = c.patches_per_side() * c.patches_per_side() + 1;
        let embeddings = ViTEmbeddings {
            cls_token: Param::from_tensor(emb.tensor("cls_token", [1, 1, h])?),
            position_embeddings: Param::from_tensor(
                emb.tensor("position_embeddings", [1, positions, h])?,
            ),
            patch_embeddings: load_patch_embeddings(&emb, c)?,
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
        };
        let layers = (0..c.num_hidden_layers)
            .map(|i| load_vit_layer(&scope.push("encoder.layer").push(i), c))
            .collect::<Result<Vec<_>>>()?;
        let mut model = Self {
            embeddings,
            encoder: PreNormEncoder { layers },
            layernorm: scope.layer_norm("layernorm", h, c.layer_norm_eps)?,
            config: config.clone(),
        };
        model.visit_linears_mut(&mut |linear| {
            linear.transformers5_path = transformers5_path(&linear.path);
        });
        Ok(model)
    }
}

/// The path transformers 5 gives a ViT encoder layer's linear module (its `ViTModel` renames),
/// `None` where it kept the checkpoint's.
fn transformers5_path(path: &str) -> Option<String> {
    let (head, rest) = path.split_at(path.find("encoder.layer.")?);
    let rest = rest
        .replacen("encoder.layer.", "layers.", 1)
        .replace("attention.attention.query", "attention.q_proj")
        .replace("attention.attention.key", "attention.k_proj")
        .replace("attention.attention.value", "attention.v_proj")
        .replace("attention.output.dense", "attention.o_proj")
        .replace("intermediate.dense", "mlp.fc1")
        .replace("output.dense", "mlp.fc2");
    Some(format!("{head}{rest}"))
}

/// `patch_embeddings.projection` (a Conv2d with stride = kernel) as the linear layer
/// [`PatchEmbeddings`] applies to flattened patches. `emb`: the `embeddings` scope.
pub(crate) fn load_patch_embeddings(emb: &WeightScope, c: &ViTConfig) -> Result<PatchEmbeddings> {
    let (h, p) = (c.hidden_size, c.patch_size);
    let proj = emb.push("patch_embeddings.projection");
    let conv = proj.tensor("weight", [h, c.num_channels, p, p])?;
    Ok(PatchEmbeddings {
        projection: Linear::new(
            emb.name("patch_embeddings.projection"),
            Param::from_tensor(conv.reshape([h, c.num_channels * p * p]).transpose()),
            Some(Param::from_tensor(proj.tensor("bias", [h])?)),
        ),
        patch_size: p,
        num_channels: c.num_channels,
    })
}

/// One pre-norm encoder layer with ViT's names (also ViLT's).
pub(crate) fn load_vit_layer(scope: &WeightScope, c: &ViTConfig) -> Result<PreNormEncoderLayer> {
    let (h, eps, bias) = (c.hidden_size, c.layer_norm_eps, c.qkv_bias);
    Ok(PreNormEncoderLayer {
        attention_norm: scope.layer_norm("layernorm_before", h, eps)?,
        attention: MultiHeadAttention {
            query: scope.linear("attention.attention.query", h, h, bias)?,
            key: scope.linear("attention.attention.key", h, h, bias)?,
            value: scope.linear("attention.attention.value", h, h, bias)?,
            output: scope.linear("attention.output.dense", h, h, true)?,
            num_heads: c.num_attention_heads,
        },
        output_norm: scope.layer_norm("layernorm_after", h, eps)?,
        feed_forward: FeedForward {
            up: scope.linear("intermediate.dense", h, c.intermediate_size, true)?,
            down: scope.linear("output.dense", c.intermediate_size, h, true)?,
            activation: c.hidden_act,
        },
        dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
    })
}

impl ViTForImageClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &ViTConfig) -> Result<Self> {
        Ok(Self {
            vit: ViTModel::load(root, config)?,
            classifier: root.linear(
                "classifier",
                config.hidden_size,
                config.common.num_labels(),
                true,
            )?,
        })
    }
}
