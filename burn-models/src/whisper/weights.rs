//! Hugging Face checkpoint names of Whisper.
//!
//! | HF name                                                   | module                          |
//! |-----------------------------------------------------------|---------------------------------|
//! | `model.encoder.conv{1,2}`                                 | `encoder.conv{1,2}`             |
//! | `model.encoder.embed_positions.weight`                    | `encoder.embed_positions`       |
//! | `model.{en,de}coder.layers.{i}.self_attn.{q,k,v,out}_proj` | `layers[i].self_attn`          |
//! | `model.decoder.layers.{i}.encoder_attn.*`                 | `layers[i].encoder_attn`        |
//! | `model.{en,de}coder.layers.{i}.fc{1,2}`                   | `layers[i].feed_forward.{up,down}` |
//! | `model.{en,de}coder.layers.{i}.*_layer_norm`              | the layer's norms               |
//! | `model.decoder.embed_tokens`, `embed_positions`           | `decoder.*`                     |
//! | `proj_out` (absent when tied: `embed_tokens` is used)     | `proj_out`                      |
//! | `encoder.*`, `projector`, `classifier`, `layer_weights`   | `WhisperForAudioClassification` |

use burn::module::Param;
use burn::nn::PaddingConfig1d;
use burn::nn::conv::Conv1d;

use super::*;
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::{FeedForward, Linear, MultiHeadAttention};

const LAYER_NORM_EPS: f64 = 1e-5;

fn check(config: &WhisperConfig) -> Result<()> {
    for (dim, heads, what) in [
        (config.d_model, config.encoder_attention_heads, "encoder"),
        (config.d_model, config.decoder_attention_heads, "decoder"),
    ] {
        if heads == 0 || !dim.is_multiple_of(heads) {
            return Err(ModelError::Unsupported(format!(
                "d_model {dim} is not a multiple of {what}_attention_heads {heads}"
            )));
        }
    }
    Ok(())
}

fn conv1d(
    scope: &WeightScope,
    name: &str,
    d_in: usize,
    d_out: usize,
    stride: usize,
) -> Result<Conv1d> {
    let scope = scope.push(name);
    Ok(Conv1d {
        weight: scope.param("weight", [d_out, d_in, 3])?,
        bias: Some(scope.param("bias", [d_out])?),
        stride,
        kernel_size: 3,
        dilation: 1,
        groups: 1,
        padding: PaddingConfig1d::Explicit(1, 1),
    })
}

/// `q_proj`, `k_proj` (no bias), `v_proj`, `out_proj`.
fn attention(scope: &WeightScope, dim: usize, heads: usize) -> Result<MultiHeadAttention> {
    Ok(MultiHeadAttention {
        query: scope.linear("q_proj", dim, dim, true)?,
        key: scope.linear("k_proj", dim, dim, false)?,
        value: scope.linear("v_proj", dim, dim, true)?,
        output: scope.linear("out_proj", dim, dim, true)?,
        num_heads: heads,
    })
}

fn feed_forward(scope: &WeightScope, config: &WhisperConfig, ffn: usize) -> Result<FeedForward> {
    Ok(FeedForward {
        up: scope.linear("fc1", config.d_model, ffn, true)?,
        down: scope.linear("fc2", ffn, config.d_model, true)?,
        activation: config.activation_function,
    })
}

impl WhisperEncoder {
    /// Loads this part from the checkpoint names under `scope`, checking shapes against
    /// the config.
    pub fn load(scope: &WeightScope, config: &WhisperConfig) -> Result<Self> {
        check(config)?;
        let d = config.d_model;
        let layers = (0..config.encoder_layers)
            .map(|i| {
                let layer = scope.push("layers").push(i);
                Ok(WhisperEncoderLayer {
                    self_attn: attention(
                        &layer.push("self_attn"),
                        d,
                        config.encoder_attention_heads,
                    )?,
                    self_attn_layer_norm: layer.layer_norm(
                        "self_attn_layer_norm",
                        d,
                        LAYER_NORM_EPS,
                    )?,
                    feed_forward: feed_forward(&layer, config, config.encoder_ffn_dim)?,
                    final_layer_norm: layer.layer_norm("final_layer_norm", d, LAYER_NORM_EPS)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv1: conv1d(scope, "conv1", config.num_mel_bins, d, 1)?,
            conv2: conv1d(scope, "conv2", d, d, 2)?,
            embed_positions: Param::from_tensor(
                scope
                    .push("embed_positions")
                    .tensor("weight", [config.max_source_positions, d])?,
            ),
            layers,
            layer_norm: scope.layer_norm("layer_norm", d, LAYER_NORM_EPS)?,
            activation: config.activation_function,
        })
    }
}

impl WhisperDecoder {
    /// Loads this part from the checkpoint names under `scope`, checking shapes against
    /// the config.
    pub fn load(scope: &WeightScope, config: &WhisperConfig) -> Result<Self> {
        check(config)?;
        if config.scale_embedding {
            // WhisperDecoder stores `embed_scale` but never applies it; neither do we.
            log::debug!("scale_embedding is ignored, as in transformers' Whisper decoder");
        }
        let d = config.d_model;
        let heads = config.decoder_attention_heads;
        let layers = (0..config.decoder_layers)
            .map(|i| {
                let layer = scope.push("layers").push(i);
                Ok(WhisperDecoderLayer {
                    self_attn: attention(&layer.push("self_attn"), d, heads)?,
                    self_attn_layer_norm: layer.layer_norm(
                        "self_attn_layer_norm",
                        d,
                        LAYER_NORM_EPS,
                    )?,
                    encoder_attn: attention(&layer.push("encoder_attn"), d, heads)?,
                    encoder_attn_layer_norm: layer.layer_norm(
                        "encoder_attn_layer_norm",
                        d,
                        LAYER_NORM_EPS,
                    )?,
                    feed_forward: feed_forward(&layer, config, config.decoder_ffn_dim)?,
                    final_layer_norm: layer.layer_norm("final_layer_norm", d, LAYER_NORM_EPS)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embed_tokens: scope.embedding("embed_tokens", config.vocab_size, d)?,
            padding_idx: Some(config.pad_token_id),
            embed_positions: Param::from_tensor(
                scope
                    .push("embed_positions")
                    .tensor("weight", [config.max_target_positions, d])?,
            ),
            layers,
            layer_norm: scope.layer_norm("layer_norm", d, LAYER_NORM_EPS)?,
        })
    }
}

impl WhisperForConditionalGeneration {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &WhisperConfig) -> Result<Self> {
        let model = root.push("model");
        let encoder = WhisperEncoder::load(&model.push("encoder"), config)?;
        let decoder = WhisperDecoder::load(&model.push("decoder"), config)?;
        // Tied to the token embeddings unless the checkpoint stores its own.
        let proj_out = if root.contains("proj_out.weight") {
            root.linear("proj_out", config.d_model, config.vocab_size, false)?
        } else {
            // HF's module is `proj_out`, sharing the embedding's tensor (a view here, not a
            // copy: 253 MiB for large-v2's vocabulary).
            Linear::tied_to(root.name("proj_out"), &decoder.embed_tokens.weight)
        };
        Ok(Self {
            encoder,
            decoder,
            proj_out,
            config: config.clone(),
        })
    }
}

impl WhisperForAudioClassification {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &WhisperConfig) -> Result<Self> {
        let num_labels = config.common.num_labels();
        let encoder = WhisperEncoder::load(&root.push("encoder"), config)?;
        let layer_weights = if config.use_weighted_layer_sum {
            Some(Param::from_tensor(
                root.tensor("layer_weights", [config.encoder_layers + 1])?,
            ))
        } else {
            None
        };
        Ok(Self {
            encoder,
            layer_weights,
            projector: root.linear(
                "projector",
                config.d_model,
                config.classifier_proj_size,
                true,
            )?,
            classifier: root.linear("classifier", config.classifier_proj_size, num_labels, true)?,
            config: config.clone(),
        })
    }
}
