//! Hugging Face checkpoint names of T5.
//!
//! | HF name                                                      | module                          |
//! |--------------------------------------------------------------|---------------------------------|
//! | `shared` (`{encoder,decoder}.embed_tokens` are tied copies)  | `shared`                        |
//! | `{stack}.block.{i}.layer.0.SelfAttention.{q,k,v,o}`          | `blocks[i].self_attn`           |
//! | `{stack}.block.0.layer.0.SelfAttention.relative_attention_bias` | `relative_attention_bias`    |
//! | `{stack}.block.{i}.layer.0.layer_norm`                       | `blocks[i].self_attn_norm`      |
//! | `decoder.block.{i}.layer.1.EncDecAttention.*`, `.layer_norm` | `blocks[i].cross_attn(_norm)`   |
//! | `{stack}.block.{i}.layer.{1|2}.DenseReluDense.{wi,wi_0,wi_1,wo}` | `blocks[i].feed_forward`    |
//! | `{stack}.final_layer_norm`                                   | `final_layer_norm`              |
//! | `lm_head` (or `shared`, tied)                                | `lm_head`                       |

use crate::nn::Linear;
use burn::module::Param;
use burn::nn::RmsNorm;

use super::*;
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::{FeedForward, GatedFeedForward, MultiHeadAttention};
use model::T5Stack;

fn rms_norm(scope: &WeightScope, name: &str, d: usize, eps: f64) -> Result<RmsNorm> {
    Ok(RmsNorm {
        gamma: Param::from_tensor(scope.push(name).tensor("weight", [d])?),
        epsilon: eps,
    })
}

fn attention(scope: &WeightScope, c: &T5Config) -> Result<MultiHeadAttention> {
    let (d, inner) = (c.d_model, c.num_heads * c.d_kv);
    Ok(MultiHeadAttention {
        query: scope.linear("q", d, inner, false)?,
        key: scope.linear("k", d, inner, false)?,
        value: scope.linear("v", d, inner, false)?,
        output: scope.linear("o", inner, d, false)?,
        num_heads: c.num_heads,
    })
}

fn feed_forward(scope: &WeightScope, c: &T5Config) -> Result<T5FeedForward> {
    let (gated, activation) = c.feed_forward()?;
    let (d, ff) = (c.d_model, c.d_ff);
    Ok(if gated {
        T5FeedForward {
            dense: None,
            gated: Some(GatedFeedForward {
                gate: scope.linear("wi_0", d, ff, false)?,
                up: scope.linear("wi_1", d, ff, false)?,
                down: scope.linear("wo", ff, d, false)?,
                activation,
            }),
        }
    } else {
        T5FeedForward {
            dense: Some(FeedForward {
                up: scope.linear("wi", d, ff, false)?,
                down: scope.linear("wo", ff, d, false)?,
                activation,
            }),
            gated: None,
        }
    })
}

fn stack(scope: &WeightScope, c: &T5Config, decoder: bool) -> Result<T5Stack> {
    let eps = c.layer_norm_epsilon;
    let layers = if decoder {
        c.decoder_layers()
    } else {
        c.num_layers
    };
    let blocks = (0..layers)
        .map(|i| {
            let block = scope.push("block").push(i).push("layer");
            let ff_index = if decoder { 2 } else { 1 };
            let (cross_attn, cross_attn_norm) = if decoder {
                let l = block.push(1);
                (
                    Some(attention(&l.push("EncDecAttention"), c)?),
                    Some(rms_norm(&l, "layer_norm", c.d_model, eps)?),
                )
            } else {
                (None, None)
            };
            let ff = block.push(ff_index);
            Ok(T5Block {
                self_attn: attention(&block.push(0).push("SelfAttention"), c)?,
                self_attn_norm: rms_norm(&block.push(0), "layer_norm", c.d_model, eps)?,
                cross_attn,
                cross_attn_norm,
                feed_forward: feed_forward(&ff.push("DenseReluDense"), c)?,
                feed_forward_norm: rms_norm(&ff, "layer_norm", c.d_model, eps)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(T5Stack {
        blocks,
        relative_attention_bias: scope.embedding(
            "block.0.layer.0.SelfAttention.relative_attention_bias",
            c.relative_attention_num_buckets,
            c.num_heads,
        )?,
        final_layer_norm: rms_norm(scope, "final_layer_norm", c.d_model, eps)?,
        bidirectional: !decoder,
        num_buckets: c.relative_attention_num_buckets,
        max_distance: c.relative_attention_max_distance,
    })
}

impl T5ForConditionalGeneration {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &T5Config) -> Result<Self> {
        if config.num_heads == 0 {
            return Err(ModelError::Unsupported("num_heads is 0".into()));
        }
        let shared = if root.contains("shared.weight") {
            root.embedding("shared", config.vocab_size, config.d_model)?
        } else {
            root.embedding("encoder.embed_tokens", config.vocab_size, config.d_model)?
        };
        let lm_head = if config.tie_word_embeddings {
            Linear::tied_to(root.name("lm_head"), &shared.weight)
        } else {
            root.linear("lm_head", config.d_model, config.vocab_size, false)?
        };
        Ok(Self {
            encoder: stack(&root.push("encoder"), config, false)?,
            decoder: stack(&root.push("decoder"), config, true)?,
            shared,
            lm_head,
            config: config.clone(),
        })
    }
}
