//! Hugging Face checkpoint names of DETR (under `model.` in `DetrForObjectDetection`).
//!
//! | HF name                                                     | module                          |
//! |-------------------------------------------------------------|---------------------------------|
//! | `backbone.conv_encoder.model.*`                             | `backbone` (HF or timm ResNet names, see `resnet`) |
//! | `input_projection` (1x1 Conv2d)                             | `input_projection`              |
//! | `query_position_embeddings`                                 | `query_position_embeddings`     |
//! | `encoder.layers.{i}.self_attn.{q,k,v,out}_proj`             | `encoder[i].self_attn.*`        |
//! | `encoder.layers.{i}.{self_attn_layer_norm,fc1,fc2,final_layer_norm}` | `encoder[i].*`         |
//! | `decoder.layers.{i}.encoder_attn.*`, `encoder_attn_layer_norm` | `decoder[i].encoder_attn*`   |
//! | `decoder.layernorm`                                         | `decoder_layernorm`             |
//! | `class_labels_classifier`, `bbox_predictor.layers.{0,1,2}` (no prefix) | the heads            |
//!
//! `DetrForSegmentation` holds all of that under `detr.` (`detr.model.*`,
//! `detr.class_labels_classifier`, ...) plus `bbox_attention.{q,k}_linear` and
//! `mask_head.{lay1..lay5, gn1..gn5, out_lay, adapter1..adapter3}`.
//!
//! transformers 5 renamed some modules (`out_proj` to `o_proj`, `layers.{i}.fc1` to
//! `layers.{i}.mlp.fc1`, `bbox_attention.q_linear` to `bbox_attention.q_proj`, ...) and converts
//! checkpoints as it loads them; PEFT on 5.x names adapter modules so (`transformers5_path`
//! below).

use burn::nn::{GroupNorm, GroupNormConfig, LayerNorm};

use super::*;
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::{FeedForward, Linears, MultiHeadAttention};
use crate::resnet::{ResNetBackbone, ResNetNaming};

/// DETR's LayerNorms are `nn.LayerNorm(d_model)`: PyTorch's default epsilon.
const LAYER_NORM_EPS: f64 = 1e-5;

fn attention(scope: &WeightScope, d: usize, heads: usize) -> Result<MultiHeadAttention> {
    Ok(MultiHeadAttention {
        query: scope.linear("q_proj", d, d, true)?,
        key: scope.linear("k_proj", d, d, true)?,
        value: scope.linear("v_proj", d, d, true)?,
        output: scope.linear("out_proj", d, d, true)?,
        num_heads: heads,
    })
}

fn feed_forward(scope: &WeightScope, c: &DetrConfig, ffn: usize) -> Result<FeedForward> {
    Ok(FeedForward {
        up: scope.linear("fc1", c.d_model, ffn, true)?,
        down: scope.linear("fc2", ffn, c.d_model, true)?,
        activation: c.activation_function,
    })
}

fn norm(scope: &WeightScope, name: &str, d: usize) -> Result<LayerNorm> {
    scope.layer_norm(name, d, LAYER_NORM_EPS)
}

impl DetrModel {
    /// Loads `DetrModel` from the scope that holds `backbone.`, `encoder.`, ...
    pub fn load(scope: &WeightScope, config: &DetrConfig) -> Result<Self> {
        let c = config;
        if c.position_embedding_type != "sine" {
            return Err(ModelError::Unsupported(format!(
                "position_embedding_type `{}` (only `sine` is implemented)",
                c.position_embedding_type
            )));
        }
        if c.dilation == Some(true) {
            return Err(ModelError::Unsupported(
                "dilated backbones (DETR-DC5, `dilation: true`)".into(),
            ));
        }
        for heads in [c.encoder_attention_heads, c.decoder_attention_heads] {
            if heads == 0 || !c.d_model.is_multiple_of(heads) {
                return Err(ModelError::Unsupported(format!(
                    "d_model {} is not a multiple of {heads} attention heads",
                    c.d_model
                )));
            }
        }
        let backbone_scope = scope.push("backbone.conv_encoder.model");
        let backbone = if c.use_timm_backbone {
            match c.backbone.as_deref() {
                Some(name) if name.starts_with("resnet") => {}
                other => {
                    return Err(ModelError::Unsupported(format!(
                        "timm backbone {other:?} (only timm ResNets are implemented)"
                    )));
                }
            }
            let mut resnet = crate::resnet::timm_config(&backbone_scope, c.num_channels)?;
            resnet.out_features = Some(c.timm_out_features().map_err(ModelError::Unsupported)?);
            ResNetBackbone::load(&backbone_scope, &resnet, ResNetNaming::Timm)?
        } else {
            let resnet = c.resnet_config().map_err(ModelError::Unsupported)?;
            ResNetBackbone::load(&backbone_scope, &resnet, ResNetNaming::Hf)?
        };
        let d = c.d_model;
        let input_projection = scope.conv2d(
            "input_projection",
            [backbone.out_channels, d],
            1,
            1,
            0,
            true,
        )?;
        let encoder = (0..c.encoder_layers)
            .map(|i| {
                let s = scope.push("encoder.layers").push(i);
                Ok(DetrEncoderLayer {
                    self_attn: attention(&s.push("self_attn"), d, c.encoder_attention_heads)?,
                    self_attn_layer_norm: norm(&s, "self_attn_layer_norm", d)?,
                    feed_forward: feed_forward(&s, c, c.encoder_ffn_dim)?,
                    final_layer_norm: norm(&s, "final_layer_norm", d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..c.decoder_layers)
            .map(|i| {
                let s = scope.push("decoder.layers").push(i);
                Ok(DetrDecoderLayer {
                    self_attn: attention(&s.push("self_attn"), d, c.decoder_attention_heads)?,
                    self_attn_layer_norm: norm(&s, "self_attn_layer_norm", d)?,
                    encoder_attn: attention(&s.push("encoder_attn"), d, c.decoder_attention_heads)?,
                    encoder_attn_layer_norm: norm(&s, "encoder_attn_layer_norm", d)?,
                    feed_forward: feed_forward(&s, c, c.decoder_ffn_dim)?,
                    final_layer_norm: norm(&s, "final_layer_norm", d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            backbone,
            input_projection,
            query_position_embeddings: scope.embedding(
                "query_position_embeddings",
                c.num_queries,
                d,
            )?,
            encoder,
            decoder,
            decoder_layernorm: norm(scope, "decoder.layernorm", d)?,
            config: config.clone(),
        })
    }
}

/// The path transformers 5 gives a DETR linear module (its `DetrModel` and `DetrForSegmentation`
/// renames), `None` where it kept the checkpoint's.
fn transformers5_path(path: &str) -> Option<String> {
    let mut renamed = path
        .replace("out_proj", "o_proj")
        .replace("bbox_attention.q_linear", "bbox_attention.q_proj")
        .replace("bbox_attention.k_linear", "bbox_attention.k_proj");
    for fc in ["fc1", "fc2"] {
        if let Some(layer) = renamed.strip_suffix(&format!(".{fc}"))
            && layer
                .rsplit('.')
                .next()
                .is_some_and(|i| i.parse::<usize>().is_ok())
            && layer.contains("layers.")
        {
            renamed = format!("{layer}.mlp.{fc}");
        }
    }
    (renamed != path).then_some(renamed)
}

/// Sets every linear layer's [`Linear::transformers5_path`](crate::nn::Linear).
fn set_transformers5_paths(model: &mut impl Linears) {
    model.visit_linears_mut(&mut |linear| {
        linear.transformers5_path = transformers5_path(&linear.path);
    });
}

impl DetrForObjectDetection {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &DetrConfig) -> Result<Self> {
        let mut model = Self::load_detection(root, config)?;
        set_transformers5_paths(&mut model);
        Ok(model)
    }

    fn load_detection(root: &WeightScope, config: &DetrConfig) -> Result<Self> {
        let d = config.d_model;
        let bbox = root.push("bbox_predictor.layers");
        Ok(Self {
            model: DetrModel::load(&root.push("model"), config)?,
            class_labels_classifier: root.linear(
                "class_labels_classifier",
                d,
                config.common.num_labels() + 1,
                true,
            )?,
            bbox_predictor: DetrMlp {
                layers: vec![
                    bbox.linear("0", d, d, true)?,
                    bbox.linear("1", d, d, true)?,
                    bbox.linear("2", d, 4, true)?,
                ],
            },
        })
    }
}

/// `nn.GroupNorm(groups, channels)` (PyTorch's epsilon 1e-5, affine).
fn group_norm(
    scope: &WeightScope,
    name: &str,
    groups: usize,
    channels: usize,
) -> Result<GroupNorm> {
    let s = scope.push(name);
    let mut norm = GroupNormConfig::new(groups, channels).init(scope.device());
    // Named (`hub::param_name`): PEFT's bias="all" trains the bias.
    norm.gamma = Some(s.param("weight", [channels])?);
    norm.beta = Some(s.param("bias", [channels])?);
    Ok(norm)
}

impl DetrForSegmentation {
    /// Loads `detr.*` (the detection model), `bbox_attention.*` and `mask_head.*`.
    pub fn load(root: &WeightScope, config: &DetrConfig) -> Result<Self> {
        if !root.contains("bbox_attention.q_linear.weight") {
            let what = if root.contains("class_labels_classifier.weight") {
                "a DetrForObjectDetection checkpoint"
            } else {
                "not a DetrForSegmentation checkpoint"
            };
            return Err(ModelError::Unsupported(format!(
                "image segmentation needs DETR's mask head (`bbox_attention.*`, `mask_head.*`), \
                 and these weights have none: {what}"
            )));
        }
        let detr = DetrForObjectDetection::load(&root.push("detr"), config)?;
        let d = config.d_model;
        let heads = config.encoder_attention_heads;
        let dim = d + heads;
        if !dim.is_multiple_of(8) || d < 16 {
            return Err(ModelError::Unsupported(format!(
                "the mask head needs d_model + encoder_attention_heads ({dim}) to be a multiple \
                 of 8 (its GroupNorm groups) and d_model >= 16"
            )));
        }
        let channels = &detr.model.backbone.channels;
        if channels.len() < 3 {
            return Err(ModelError::Unsupported(format!(
                "the mask head reads the backbone's first 3 feature maps, but it returns {} \
                 (set the backbone's out_features to stage1..stage4)",
                channels.len()
            )));
        }
        // `intermediate_channel_sizes[::-1][-3:]`: the first three maps, deepest first.
        let fpn_dims = [channels[2], channels[1], channels[0]];
        let inter = [dim, d / 2, d / 4, d / 8, d / 16];
        if let Some(c) = inter[1..].iter().find(|&&c| c >= 8 && !c.is_multiple_of(8)) {
            return Err(ModelError::Unsupported(format!(
                "d_model {d}: the mask head's {c} channels do not split into 8 GroupNorm groups"
            )));
        }
        let s = root.push("mask_head");
        let conv3 = |name: &str, from: usize, to: usize| s.conv2d(name, [from, to], 3, 1, 1, true);
        let norm = |name: &str, c: usize| group_norm(&s, name, 8.min(c), c);
        let mask_head = DetrMaskHeadSmallConv {
            lay1: conv3("lay1", dim, dim)?,
            gn1: group_norm(&s, "gn1", 8, dim)?,
            lay2: conv3("lay2", dim, inter[1])?,
            gn2: norm("gn2", inter[1])?,
            lay3: conv3("lay3", inter[1], inter[2])?,
            gn3: norm("gn3", inter[2])?,
            lay4: conv3("lay4", inter[2], inter[3])?,
            gn4: norm("gn4", inter[3])?,
            lay5: conv3("lay5", inter[3], inter[4])?,
            gn5: norm("gn5", inter[4])?,
            out_lay: conv3("out_lay", inter[4], 1)?,
            adapter1: s.conv2d("adapter1", [fpn_dims[0], inter[1]], 1, 1, 0, true)?,
            adapter2: s.conv2d("adapter2", [fpn_dims[1], inter[2]], 1, 1, 0, true)?,
            adapter3: s.conv2d("adapter3", [fpn_dims[2], inter[3]], 1, 1, 0, true)?,
        };
        let a = root.push("bbox_attention");
        let mut model = Self {
            bbox_attention: DetrMHAttentionMap {
                q_linear: a.linear("q_linear", d, d, true)?,
                k_linear: a.linear("k_linear", d, d, true)?,
                num_heads: heads,
            },
            mask_head,
            detr,
        };
        set_transformers5_paths(&mut model);
        Ok(model)
    }
}
