//! Hugging Face checkpoint names of BART.
//!
//! | HF name (under `model.`)                                  | module                              |
//! |-----------------------------------------------------------|-------------------------------------|
//! | `shared` (or `encoder.embed_tokens`)                      | `shared`, `decoder_embed_tokens`    |
//! | `{encoder,decoder}.embed_positions`                       | `*_positions.table` (offset 2)      |
//! | `{encoder,decoder}.layernorm_embedding`                   | `*_layernorm_embedding`             |
//! | `encoder.layers.{i}.self_attn.{q,k,v,out}_proj`           | `encoder.layers[i].attention`       |
//! | `encoder.layers.{i}.{self_attn_layer_norm,fc1,fc2,final_layer_norm}` | the rest of the layer    |
//! | `decoder.layers.{i}.{self_attn,encoder_attn}.*`           | `decoder_layers[i].*`               |
//! | `lm_head` (tied to `shared` unless `tie_word_embeddings` is false), `final_logits_bias` | head |

use crate::nn::Linear;
use burn::module::Param;
use burn::nn::{DropoutConfig, Embedding};
use burn::tensor::Tensor;

use super::*;
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::{
    Activation, FeedForward, MultiHeadAttention, PostNormEncoder, PostNormEncoderLayer,
};

const LAYER_NORM_EPS: f64 = 1e-5;

/// The shape of a BART-family model as the loaders need it (BART and Marian configs map here).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub d_model: usize,
    pub vocab_size: usize,
    pub decoder_vocab_size: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_heads: usize,
    pub decoder_heads: usize,
    pub encoder_ffn: usize,
    pub decoder_ffn: usize,
    pub activation: Activation,
    pub max_positions: usize,
    pub scale_embedding: bool,
    pub tie_word_embeddings: bool,
    /// BART: learned positions at offset 2 and a LayerNorm on the embeddings.
    /// Marian: sinusoidal positions at offset 0 and no embedding LayerNorm.
    pub learned_positions: bool,
}

impl Layout {
    fn from_bart(c: &BartConfig) -> Self {
        Self {
            d_model: c.d_model,
            vocab_size: c.vocab_size,
            decoder_vocab_size: c.vocab_size,
            encoder_layers: c.encoder_layers,
            decoder_layers: c.decoder_layers,
            encoder_heads: c.encoder_attention_heads,
            decoder_heads: c.decoder_attention_heads,
            encoder_ffn: c.encoder_ffn_dim,
            decoder_ffn: c.decoder_ffn_dim,
            activation: c.activation_function,
            max_positions: c.max_position_embeddings,
            scale_embedding: c.scale_embedding,
            tie_word_embeddings: c.tie_word_embeddings,
            learned_positions: true,
        }
    }
}

/// The scope of the base model: `model.` in task checkpoints, the root in a bare model.
fn base_scope<'a>(root: &WeightScope<'a>) -> WeightScope<'a> {
    if root.contains("model.shared.weight")
        || root.contains("model.encoder.embed_tokens.weight")
        || root.contains("model.encoder.layers.0.fc1.weight")
    {
        root.push("model")
    } else {
        root.clone()
    }
}

impl BartForConditionalGeneration {
    /// Loads the model from a checkpoint under its Hugging Face names, checking every
    /// shape against the config.
    pub fn load(root: &WeightScope, config: &BartConfig) -> Result<Self> {
        if config.normalize_before || config.add_final_layer_norm {
            return Err(ModelError::Unsupported(
                "BART with normalize_before/add_final_layer_norm (mBART-style) is not implemented"
                    .into(),
            ));
        }
        let mut model = load_layout(root, &Layout::from_bart(config), None)?;
        model.config = config.clone();
        Ok(model)
    }
}

/// Loads a BART-family model; `sinusoid` supplies Marian's position table when the checkpoint
/// does not store it.
pub(crate) fn load_layout(
    root: &WeightScope,
    l: &Layout,
    sinusoid: Option<&dyn Fn(usize, usize) -> Vec<f32>>,
) -> Result<BartForConditionalGeneration> {
    for (heads, what) in [(l.encoder_heads, "encoder"), (l.decoder_heads, "decoder")] {
        if heads == 0 || !l.d_model.is_multiple_of(heads) {
            return Err(ModelError::Unsupported(format!(
                "d_model {} is not a multiple of {what}_attention_heads {heads}",
                l.d_model
            )));
        }
    }
    let scope = base_scope(root);
    let d = l.d_model;
    let shared = if scope.contains("shared.weight") {
        scope.embedding("shared", l.vocab_size, d)?
    } else {
        scope.embedding("encoder.embed_tokens", l.vocab_size, d)?
    };
    let decoder_embed_tokens = if l.decoder_vocab_size != l.vocab_size
        || (scope.contains("decoder.embed_tokens.weight") && !scope.contains("shared.weight"))
    {
        scope.embedding("decoder.embed_tokens", l.decoder_vocab_size, d)?
    } else {
        shared.clone()
    };
    let positions = |side: &str| -> Result<Positions> {
        let offset = if l.learned_positions { 2 } else { 0 };
        let rows = l.max_positions + offset;
        let name = format!("{side}.embed_positions");
        let table = if l.learned_positions || scope.contains(&format!("{name}.weight")) {
            scope.embedding(&name, rows, d)?
        } else {
            let make = sinusoid.ok_or_else(|| {
                ModelError::Unsupported("no position table for this model".into())
            })?;
            Embedding {
                weight: Param::from_tensor(Tensor::from_data(
                    burn::tensor::TensorData::new(make(rows, d), [rows, d]),
                    scope.device(),
                )),
            }
        };
        Ok(Positions { table, offset })
    };
    let encoder_positions = positions("encoder")?;
    let decoder_positions = positions("decoder")?;
    let embedding_norm = |side: &str| -> Result<Option<burn::nn::LayerNorm>> {
        l.learned_positions
            .then(|| scope.layer_norm(&format!("{side}.layernorm_embedding"), d, LAYER_NORM_EPS))
            .transpose()
    };
    let encoder_layers = (0..l.encoder_layers)
        .map(|i| load_encoder_layer(&scope.push("encoder.layers").push(i), l))
        .collect::<Result<Vec<_>>>()?;
    let decoder_layers = (0..l.decoder_layers)
        .map(|i| load_decoder_layer(&scope.push("decoder.layers").push(i), l))
        .collect::<Result<Vec<_>>>()?;
    let lm_head = if l.tie_word_embeddings {
        // `lm_head.weight` is `decoder_embed_tokens.weight`: checkpoints may still store it.
        let _ = root.contains("lm_head.weight");
        Linear::tied_to(root.name("lm_head"), &decoder_embed_tokens.weight)
    } else {
        root.linear("lm_head", d, l.decoder_vocab_size, false)?
    };
    let final_logits_bias = if root.contains("final_logits_bias") {
        root.tensor::<2>("final_logits_bias", [1, l.decoder_vocab_size])?
            .reshape([l.decoder_vocab_size])
    } else {
        Tensor::zeros([l.decoder_vocab_size], scope.device())
    };
    Ok(BartForConditionalGeneration {
        shared,
        decoder_embed_tokens,
        encoder_positions,
        decoder_positions,
        encoder_layernorm_embedding: embedding_norm("encoder")?,
        decoder_layernorm_embedding: embedding_norm("decoder")?,
        encoder: PostNormEncoder {
            layers: encoder_layers,
        },
        decoder_layers,
        lm_head,
        final_logits_bias: {
            // A registered buffer in transformers, not a parameter.
            let param = Param::from_tensor(final_logits_bias);
            crate::hub::mark_buffer(param.id);
            param
        },
        embed_scale: if l.scale_embedding {
            (d as f32).sqrt()
        } else {
            1.0
        },
        config: serde_json::from_str("{}").expect("default BartConfig"),
    })
}

fn attention(scope: &WeightScope, d: usize, heads: usize) -> Result<MultiHeadAttention> {
    Ok(MultiHeadAttention {
        query: scope.linear("q_proj", d, d, true)?,
        key: scope.linear("k_proj", d, d, true)?,
        value: scope.linear("v_proj", d, d, true)?,
        output: scope.linear("out_proj", d, d, true)?,
        num_heads: heads,
    })
}

fn feed_forward(scope: &WeightScope, d: usize, ffn: usize, act: Activation) -> Result<FeedForward> {
    Ok(FeedForward {
        up: scope.linear("fc1", d, ffn, true)?,
        down: scope.linear("fc2", ffn, d, true)?,
        activation: act,
    })
}

fn load_encoder_layer(scope: &WeightScope, l: &Layout) -> Result<PostNormEncoderLayer> {
    let d = l.d_model;
    Ok(PostNormEncoderLayer {
        attention: attention(&scope.push("self_attn"), d, l.encoder_heads)?,
        attention_norm: scope.layer_norm("self_attn_layer_norm", d, LAYER_NORM_EPS)?,
        feed_forward: feed_forward(scope, d, l.encoder_ffn, l.activation)?,
        output_norm: scope.layer_norm("final_layer_norm", d, LAYER_NORM_EPS)?,
        dropout: DropoutConfig::new(0.0).init(),
    })
}

fn load_decoder_layer(scope: &WeightScope, l: &Layout) -> Result<BartDecoderLayer> {
    let d = l.d_model;
    Ok(BartDecoderLayer {
        self_attn: attention(&scope.push("self_attn"), d, l.decoder_heads)?,
        self_attn_layer_norm: scope.layer_norm("self_attn_layer_norm", d, LAYER_NORM_EPS)?,
        encoder_attn: attention(&scope.push("encoder_attn"), d, l.decoder_heads)?,
        encoder_attn_layer_norm: scope.layer_norm("encoder_attn_layer_norm", d, LAYER_NORM_EPS)?,
        feed_forward: feed_forward(scope, d, l.decoder_ffn, l.activation)?,
        final_layer_norm: scope.layer_norm("final_layer_norm", d, LAYER_NORM_EPS)?,
    })
}
