//! Hugging Face checkpoint names of wav2vec2.
//!
//! | HF name                                                        | module                                  |
//! |----------------------------------------------------------------|-----------------------------------------|
//! | `wav2vec2.feature_extractor.conv_layers.{i}.conv`              | `feature_extractor.conv_layers[i].conv` |
//! | `wav2vec2.feature_extractor.conv_layers.{i}.layer_norm`        | its GroupNorm (layer 0, "group") or LayerNorm ("layer") |
//! | `wav2vec2.feature_projection.{layer_norm,projection}`          | `feature_projection`                    |
//! | `wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original{0,1}` (or the legacy `weight_g`/`weight_v`), `.bias` | `encoder.pos_conv_embed.conv`, weight norm folded in |
//! | `wav2vec2.encoder.layer_norm`                                  | `encoder.layer_norm`                    |
//! | `wav2vec2.encoder.layers.{i}.attention.{q,k,v,out}_proj`       | `layers[i].attention`                   |
//! | `wav2vec2.encoder.layers.{i}.feed_forward.{intermediate,output}_dense` | `layers[i].feed_forward.{up,down}` |
//! | `wav2vec2.encoder.layers.{i}.{layer_norm,final_layer_norm}`    | the layer's norms                       |
//! | `lm_head`                                                      | `Wav2Vec2ForCTC::lm_head`               |
//! | `layer_weights`, `projector`, `classifier`                     | `Wav2Vec2ForSequenceClassification`     |
//! | `wav2vec2.masked_spec_embed`                                   | (SpecAugment, training only: read and dropped) |

use burn::module::Param;
use burn::nn::conv::Conv1d;
use burn::nn::{DropoutConfig, GroupNormConfig, PaddingConfig1d};

use super::*;
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::{FeedForward, MultiHeadAttention, PostNormEncoderLayer, PreNormEncoderLayer};

/// torch's `nn.LayerNorm` / `nn.GroupNorm` default, used by the conv feature encoder (its norms
/// do not take `layer_norm_eps`).
const CONV_NORM_EPS: f64 = 1e-5;

fn check(config: &Wav2Vec2Config) -> Result<()> {
    let unsupported = |message: String| Err(ModelError::Unsupported(message));
    let layers = config.conv_dim.len();
    if layers == 0 || config.conv_stride.len() != layers || config.conv_kernel.len() != layers {
        return unsupported(format!(
            "conv_dim, conv_stride and conv_kernel must have one (equal) length, got {}, {} and {}",
            layers,
            config.conv_stride.len(),
            config.conv_kernel.len()
        ));
    }
    if config.conv_stride.contains(&0) || config.conv_kernel.contains(&0) {
        return unsupported("conv strides and kernels must be positive".into());
    }
    let (hidden, heads) = (config.hidden_size, config.num_attention_heads);
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return unsupported(format!(
            "hidden_size {hidden} is not a multiple of num_attention_heads {heads}"
        ));
    }
    let groups = config.num_conv_pos_embedding_groups;
    if groups == 0 || !hidden.is_multiple_of(groups) || config.num_conv_pos_embeddings == 0 {
        return unsupported(format!(
            "hidden_size {hidden} is not a multiple of num_conv_pos_embedding_groups {groups}"
        ));
    }
    if config.add_adapter {
        return unsupported(
            "wav2vec2 with add_adapter=true (the output adapter) is not implemented".into(),
        );
    }
    if config.adapter_attn_dim.is_some() {
        return unsupported(
            "wav2vec2 with adapter_attn_dim (MMS attention adapters) is not implemented".into(),
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn conv1d(
    scope: &WeightScope,
    name: &str,
    d_in: usize,
    d_out: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    bias: bool,
) -> Result<Conv1d> {
    let scope = scope.push(name);
    Ok(Conv1d {
        weight: scope.param("weight", [d_out, d_in / groups, kernel])?,
        bias: if bias {
            Some(scope.param("bias", [d_out])?)
        } else {
            None
        },
        stride,
        kernel_size: kernel,
        dilation: 1,
        groups,
        padding: PaddingConfig1d::Valid,
    })
}

impl Wav2Vec2FeatureEncoder {
    /// Loads this part from the checkpoint names under `scope`, checking shapes against
    /// the config.
    pub fn load(scope: &WeightScope, config: &Wav2Vec2Config) -> Result<Self> {
        let conv_layers = (0..config.conv_dim.len())
            .map(|i| {
                let layer = scope.push("conv_layers").push(i);
                let d_in = if i == 0 { 1 } else { config.conv_dim[i - 1] };
                let d_out = config.conv_dim[i];
                let conv = conv1d(
                    &layer,
                    "conv",
                    d_in,
                    d_out,
                    config.conv_kernel[i],
                    config.conv_stride[i],
                    1,
                    config.conv_bias,
                )?;
                let (group_norm, layer_norm) = match config.feat_extract_norm {
                    FeatExtractNorm::Group if i == 0 => {
                        let norm = layer.push("layer_norm");
                        let mut group = GroupNormConfig::new(d_out, d_out)
                            .with_epsilon(CONV_NORM_EPS)
                            .init(scope.device());
                        group.gamma = Some(norm.param("weight", [d_out])?);
                        group.beta = Some(norm.param("bias", [d_out])?);
                        (Some(group), None)
                    }
                    FeatExtractNorm::Group => (None, None),
                    FeatExtractNorm::Layer => (
                        None,
                        Some(layer.layer_norm("layer_norm", d_out, CONV_NORM_EPS)?),
                    ),
                };
                Ok(Wav2Vec2ConvLayer {
                    conv,
                    group_norm,
                    layer_norm,
                    activation: config.feat_extract_activation,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { conv_layers })
    }
}

impl Wav2Vec2PositionalConvEmbedding {
    /// The conv's weight is stored weight-normalised over every dim but the kernel's
    /// (`weight_norm(conv, dim=2)`): magnitude `g` `[1, 1, k]` and direction `v`
    /// `[hidden, hidden / groups, k]`, giving `w = g * v / ||v||` with the norm taken per kernel
    /// position. Both the `parametrizations.weight.original0/1` names of current PyTorch and the
    /// older `weight_g`/`weight_v` are read; a plain `weight` (norm already removed) too.
    pub fn load(scope: &WeightScope, config: &Wav2Vec2Config) -> Result<Self> {
        let conv = scope.push("conv");
        let hidden = config.hidden_size;
        let groups = config.num_conv_pos_embedding_groups;
        let kernel = config.num_conv_pos_embeddings;
        let v_shape = [hidden, hidden / groups, kernel];
        let weight = if conv.contains("weight") {
            conv.tensor("weight", v_shape)?
        } else {
            let (g_name, v_name) = if conv.contains("weight_g") {
                ("weight_g", "weight_v")
            } else {
                (
                    "parametrizations.weight.original0",
                    "parametrizations.weight.original1",
                )
            };
            let g = conv.tensor(g_name, [1, 1, kernel])?;
            let v = conv.tensor(v_name, v_shape)?;
            let norm = v.clone().square().sum_dim(0).sum_dim(1).sqrt();
            v * (g / norm)
        };
        let padding = kernel / 2;
        Ok(Self {
            conv: Conv1d {
                weight: Param::from_tensor(weight),
                bias: Some(conv.param("bias", [hidden])?),
                stride: 1,
                kernel_size: kernel,
                dilation: 1,
                groups,
                padding: PaddingConfig1d::Explicit(padding, padding),
            },
            activation: config.feat_extract_activation,
        })
    }
}

/// `q_proj`, `k_proj`, `v_proj`, `out_proj`, all with bias.
fn attention(scope: &WeightScope, config: &Wav2Vec2Config) -> Result<MultiHeadAttention> {
    let d = config.hidden_size;
    Ok(MultiHeadAttention {
        query: scope.linear("q_proj", d, d, true)?,
        key: scope.linear("k_proj", d, d, true)?,
        value: scope.linear("v_proj", d, d, true)?,
        output: scope.linear("out_proj", d, d, true)?,
        num_heads: config.num_attention_heads,
    })
}

fn feed_forward(scope: &WeightScope, config: &Wav2Vec2Config) -> Result<FeedForward> {
    let (d, ffn) = (config.hidden_size, config.intermediate_size);
    Ok(FeedForward {
        up: scope.linear("intermediate_dense", d, ffn, true)?,
        down: scope.linear("output_dense", ffn, d, true)?,
        activation: config.hidden_act,
    })
}

fn dropout(prob: f64) -> Result<burn::nn::Dropout> {
    if !(0.0..1.0).contains(&prob) {
        return Err(ModelError::Unsupported(format!(
            "dropout probability {prob} is outside [0, 1)"
        )));
    }
    Ok(DropoutConfig::new(prob).init())
}

impl Wav2Vec2Encoder {
    /// Loads this part from the checkpoint names under `scope`, checking shapes against
    /// the config.
    pub fn load(scope: &WeightScope, config: &Wav2Vec2Config) -> Result<Self> {
        let d = config.hidden_size;
        let eps = config.layer_norm_eps;
        let layer_scope = |i: usize| scope.push("layers").push(i);
        let n = config.num_hidden_layers;
        let layers = if config.do_stable_layer_norm {
            Wav2Vec2Layers::Stable(
                (0..n)
                    .map(|i| {
                        let layer = layer_scope(i);
                        Ok(PreNormEncoderLayer {
                            attention_norm: layer.layer_norm("layer_norm", d, eps)?,
                            attention: attention(&layer.push("attention"), config)?,
                            output_norm: layer.layer_norm("final_layer_norm", d, eps)?,
                            feed_forward: feed_forward(&layer.push("feed_forward"), config)?,
                            dropout: dropout(config.hidden_dropout)?,
                        })
                    })
                    .collect::<Result<_>>()?,
            )
        } else {
            Wav2Vec2Layers::PostNorm(
                (0..n)
                    .map(|i| {
                        let layer = layer_scope(i);
                        Ok(PostNormEncoderLayer {
                            attention: attention(&layer.push("attention"), config)?,
                            attention_norm: layer.layer_norm("layer_norm", d, eps)?,
                            feed_forward: feed_forward(&layer.push("feed_forward"), config)?,
                            output_norm: layer.layer_norm("final_layer_norm", d, eps)?,
                            dropout: dropout(config.hidden_dropout)?,
                        })
                    })
                    .collect::<Result<_>>()?,
            )
        };
        Ok(Self {
            pos_conv_embed: Wav2Vec2PositionalConvEmbedding::load(
                &scope.push("pos_conv_embed"),
                config,
            )?,
            layer_norm: scope.layer_norm("layer_norm", d, eps)?,
            layers,
            dropout: dropout(config.hidden_dropout)?,
        })
    }
}

impl Wav2Vec2Model {
    /// From the scope of `Wav2Vec2Model` (`wav2vec2.` inside the task models).
    pub fn load(scope: &WeightScope, config: &Wav2Vec2Config) -> Result<Self> {
        check(config)?;
        let last = *config.conv_dim.last().expect("checked non-empty");
        let projection = scope.push("feature_projection");
        let model = Self {
            feature_extractor: Wav2Vec2FeatureEncoder::load(
                &scope.push("feature_extractor"),
                config,
            )?,
            feature_projection: Wav2Vec2FeatureProjection {
                layer_norm: projection.layer_norm("layer_norm", last, config.layer_norm_eps)?,
                projection: projection.linear("projection", last, config.hidden_size, true)?,
                dropout: dropout(config.feat_proj_dropout)?,
            },
            encoder: Wav2Vec2Encoder::load(&scope.push("encoder"), config)?,
            config: config.clone(),
        };
        if scope.contains("masked_spec_embed") {
            // SpecAugment's mask vector only replaces frames while training.
            scope.tensor("masked_spec_embed", [config.hidden_size])?;
        }
        Ok(model)
    }
}

impl Wav2Vec2ForCTC {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &Wav2Vec2Config) -> Result<Self> {
        let vocab = config.vocab_size.ok_or_else(|| {
            ModelError::Unsupported(
                "Wav2Vec2ForCTC needs `vocab_size` in the config (the CTC head's size)".into(),
            )
        })?;
        Ok(Self {
            wav2vec2: Wav2Vec2Model::load(&root.push("wav2vec2"), config)?,
            dropout: dropout(config.final_dropout)?,
            lm_head: root.linear("lm_head", config.hidden_size, vocab, true)?,
        })
    }
}

impl Wav2Vec2ForSequenceClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &Wav2Vec2Config) -> Result<Self> {
        let num_labels = config.common.num_labels();
        let layer_weights = if config.use_weighted_layer_sum {
            Some(Param::from_tensor(
                root.tensor("layer_weights", [config.num_hidden_layers + 1])?,
            ))
        } else {
            None
        };
        Ok(Self {
            wav2vec2: Wav2Vec2Model::load(&root.push("wav2vec2"), config)?,
            layer_weights,
            projector: root.linear(
                "projector",
                config.hidden_size,
                config.classifier_proj_size,
                true,
            )?,
            classifier: root.linear("classifier", config.classifier_proj_size, num_labels, true)?,
        })
    }
}
