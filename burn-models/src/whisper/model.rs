use burn::module::{Module, Param};
use burn::nn::conv::Conv1d;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor, TensorData, activation::softmax};

use super::WhisperConfig;
use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::{Activation, FeedForward};

/// Whisper's attention: `k_proj` has no bias; queries are scaled by `head_dim^-0.5` (the fused
/// op's default scale). Used for encoder self-attention, causal decoder self-attention with a
/// key/value cache, and cross-attention over precomputed encoder keys/values.
#[derive(Module, Debug)]
pub struct WhisperAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    #[module(skip)]
    pub num_heads: usize,
}

/// Keys and values `[batch, heads, seq, head_dim]` of one attention layer.
#[derive(Debug, Clone)]
pub struct KeyValue {
    pub key: Tensor<4>,
    pub value: Tensor<4>,
}

impl WhisperAttention {
    fn heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, seq, dim] = x.dims();
        x.reshape([batch, seq, self.num_heads, dim / self.num_heads])
            .swap_dims(1, 2)
    }

    fn merge(&self, x: Tensor<4>) -> Tensor<3> {
        let [batch, heads, seq, head_dim] = x.dims();
        self.out_proj
            .forward(x.swap_dims(1, 2).reshape([batch, seq, heads * head_dim]))
    }

    /// Projects `x` to keys and values (the encoder states for cross-attention).
    pub fn key_value(&self, x: Tensor<3>) -> KeyValue {
        KeyValue {
            key: self.heads(self.k_proj.forward(x.clone())),
            value: self.heads(self.v_proj.forward(x)),
        }
    }

    /// Bidirectional self-attention (the encoder).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let q = self.heads(self.q_proj.forward(x.clone()));
        let kv = self.key_value(x);
        let context = attention(q, kv.key, kv.value, None, None, Default::default());
        self.merge(context)
    }

    /// Causal self-attention of new positions `x` after the cached ones; the cache grows by
    /// `x`'s length.
    pub fn forward_cached(&self, x: Tensor<3>, cache: &mut Option<KeyValue>) -> Tensor<3> {
        let [batch, new, _] = x.dims();
        let q = self.heads(self.q_proj.forward(x.clone()));
        let fresh = self.key_value(x);
        let kv = match cache.take() {
            Some(past) => KeyValue {
                key: Tensor::cat(vec![past.key, fresh.key], 2),
                value: Tensor::cat(vec![past.value, fresh.value], 2),
            },
            None => fresh,
        };
        let total = kv.key.dims()[2];
        // One new position sees every cached one: no mask. Several: each sees its past.
        let mask = (new > 1).then(|| causal_mask(batch, self.num_heads, new, total, &q.device()));
        let context = attention(
            q,
            kv.key.clone(),
            kv.value.clone(),
            mask,
            None,
            AttentionModuleOptions::default(),
        );
        *cache = Some(kv);
        self.merge(context)
    }

    /// Cross-attention of `x` over precomputed encoder keys/values.
    pub fn forward_cross(&self, x: Tensor<3>, kv: &KeyValue) -> Tensor<3> {
        let q = self.heads(self.q_proj.forward(x));
        let context = attention(
            q,
            kv.key.clone(),
            kv.value.clone(),
            None,
            None,
            Default::default(),
        );
        self.merge(context)
    }

    /// Cross-attention weights `[batch, heads, query, key]` (softmax of scaled scores), for
    /// word-level timestamps.
    pub fn cross_weights(&self, x: Tensor<3>, kv: &KeyValue) -> Tensor<4> {
        let q = self.heads(self.q_proj.forward(x));
        let head_dim = q.dims()[3];
        let scores = q.matmul(kv.key.clone().swap_dims(2, 3)) / (head_dim as f64).sqrt();
        softmax(scores, 3)
    }
}

/// `true` where query `i` (the `total - new + i`-th position) may not see key `j`.
fn causal_mask(
    batch: usize,
    heads: usize,
    new: usize,
    total: usize,
    device: &burn::tensor::Device,
) -> Tensor<4, Bool> {
    let past = total - new;
    let data: Vec<bool> = (0..new)
        .flat_map(|i| (0..total).map(move |j| j > past + i))
        .collect();
    Tensor::<2, Bool>::from_data(TensorData::new(data, [new, total]), device)
        .reshape([1, 1, new, total])
        .expand([batch, heads, new, total])
}

/// Pre-norm encoder layer.
#[derive(Module, Debug)]
pub struct WhisperEncoderLayer {
    pub self_attn: WhisperAttention,
    pub self_attn_layer_norm: LayerNorm,
    pub feed_forward: FeedForward,
    pub final_layer_norm: LayerNorm,
}

impl WhisperEncoderLayer {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = x.clone()
            + self
                .self_attn
                .forward(self.self_attn_layer_norm.forward(x));
        h.clone()
            + self
                .feed_forward
                .forward(self.final_layer_norm.forward(h))
    }
}

/// Two GELU convolutions over the log-mel frames (the second halves the time axis), fixed
/// positions, pre-norm transformer layers, a final norm.
#[derive(Module, Debug)]
pub struct WhisperEncoder {
    pub conv1: Conv1d,
    pub conv2: Conv1d,
    pub embed_positions: Param<Tensor<2>>,
    pub layers: Vec<WhisperEncoderLayer>,
    pub layer_norm: LayerNorm,
    #[module(skip)]
    pub activation: Activation,
}

impl WhisperEncoder {
    /// `input_features` `[batch, num_mel_bins, 2 * max_source_positions]` -> every hidden state
    /// (input embeddings, each layer's output, and last the normed output), or just the last.
    fn run(&self, input_features: Tensor<3>, keep_all: bool) -> Result<Vec<Tensor<3>>> {
        let [_, mels, frames] = input_features.dims();
        let [positions, _] = self.embed_positions.dims();
        let expected_mels = self.conv1.weight.dims()[1];
        if mels != expected_mels {
            return Err(ModelError::InvalidInput(format!(
                "Whisper expects {expected_mels} mel bins, got {mels}"
            )));
        }
        if frames != positions * 2 {
            return Err(ModelError::InvalidInput(format!(
                "Whisper expects the mel input features to be of length {}, but found {frames}. \
                 Make sure to pad the input mel features to {}.",
                positions * 2,
                positions * 2
            )));
        }
        let x = self.activation.forward(self.conv1.forward(input_features));
        let x = self.activation.forward(self.conv2.forward(x));
        let mut x = x.swap_dims(1, 2) + self.embed_positions.val().unsqueeze::<3>();
        let mut states = Vec::new();
        for layer in &self.layers {
            if keep_all {
                states.push(x.clone());
            }
            x = layer.forward(x);
        }
        states.push(self.layer_norm.forward(x));
        Ok(states)
    }

    pub fn forward(&self, input_features: Tensor<3>) -> Result<Tensor<3>> {
        Ok(self.run(input_features, false)?.pop().expect("one state"))
    }

    /// `output_hidden_states=True`: `encoder_layers + 1` states, the last one normed.
    pub fn hidden_states(&self, input_features: Tensor<3>) -> Result<Vec<Tensor<3>>> {
        self.run(input_features, true)
    }
}

/// Pre-norm decoder layer: causal self-attention, cross-attention, feed-forward.
#[derive(Module, Debug)]
pub struct WhisperDecoderLayer {
    pub self_attn: WhisperAttention,
    pub self_attn_layer_norm: LayerNorm,
    pub encoder_attn: WhisperAttention,
    pub encoder_attn_layer_norm: LayerNorm,
    pub feed_forward: FeedForward,
    pub final_layer_norm: LayerNorm,
}

/// What decoding keeps between steps: per layer the self-attention keys/values of every
/// position so far and the cross-attention keys/values of the encoder states (computed once).
#[derive(Debug, Clone)]
pub struct WhisperDecoderCache {
    pub self_attn: Vec<Option<KeyValue>>,
    pub cross_attn: Vec<KeyValue>,
    /// Positions already decoded.
    pub len: usize,
}

#[derive(Module, Debug)]
pub struct WhisperDecoder {
    pub embed_tokens: Embedding,
    pub embed_positions: Param<Tensor<2>>,
    pub layers: Vec<WhisperDecoderLayer>,
    pub layer_norm: LayerNorm,
}

impl WhisperDecoder {
    /// A cache holding the cross-attention keys/values of `encoder_states`.
    pub fn new_cache(&self, encoder_states: &Tensor<3>) -> WhisperDecoderCache {
        WhisperDecoderCache {
            self_attn: vec![None; self.layers.len()],
            cross_attn: self
                .layers
                .iter()
                .map(|l| l.encoder_attn.key_value(encoder_states.clone()))
                .collect(),
            len: 0,
        }
    }

    /// Hidden states `[batch, new, d_model]` of `input_ids` `[batch, new]` placed after the
    /// cache's positions. `cross_weights` collects each layer's cross-attention weights.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        cache: &mut WhisperDecoderCache,
        mut cross_weights: Option<&mut Vec<Tensor<4>>>,
    ) -> Result<Tensor<3>> {
        let [_, new] = input_ids.dims();
        let [max_positions, _] = self.embed_positions.dims();
        if cache.len + new > max_positions {
            return Err(ModelError::InvalidInput(format!(
                "decoder sequence of {} tokens is longer than max_target_positions {max_positions}",
                cache.len + new
            )));
        }
        let positions = self
            .embed_positions
            .val()
            .slice(cache.len..cache.len + new)
            .unsqueeze::<3>();
        let mut x = self.embed_tokens.forward(input_ids) + positions;
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.self_attn_layer_norm.forward(x.clone());
            x = x + layer.self_attn.forward_cached(h, &mut cache.self_attn[i]);
            let h = layer.encoder_attn_layer_norm.forward(x.clone());
            if let Some(weights) = cross_weights.as_deref_mut() {
                weights.push(
                    layer
                        .encoder_attn
                        .cross_weights(h.clone(), &cache.cross_attn[i]),
                );
            }
            x = x + layer.encoder_attn.forward_cross(h, &cache.cross_attn[i]);
            let h = layer.final_layer_norm.forward(x.clone());
            x = x + layer.feed_forward.forward(h);
        }
        cache.len += new;
        Ok(self.layer_norm.forward(x))
    }
}

/// `WhisperForConditionalGeneration`: encoder, decoder and the (tied) output projection.
#[derive(Module, Debug)]
pub struct WhisperForConditionalGeneration {
    pub encoder: WhisperEncoder,
    pub decoder: WhisperDecoder,
    pub proj_out: Linear,
    #[module(skip)]
    pub config: WhisperConfig,
}

impl WhisperForConditionalGeneration {
    pub fn config(&self) -> &WhisperConfig {
        &self.config
    }

    /// Encoder output `[batch, max_source_positions, d_model]`.
    pub fn encode(&self, input_features: Tensor<3>) -> Result<Tensor<3>> {
        self.encoder.forward(input_features)
    }

    pub fn new_cache(&self, encoder_states: &Tensor<3>) -> WhisperDecoderCache {
        self.decoder.new_cache(encoder_states)
    }

    /// One decoding step: logits `[batch, vocab]` of the last of `input_ids` (the new tokens,
    /// after the cached ones).
    pub fn step(
        &self,
        input_ids: Tensor<2, Int>,
        cache: &mut WhisperDecoderCache,
    ) -> Result<Tensor<2>> {
        let hidden = self.decoder.forward(input_ids, cache, None)?;
        let [batch, new, dim] = hidden.dims();
        let last = hidden.slice([0..batch, new - 1..new]).reshape([batch, dim]);
        Ok(self.proj_out.forward(last))
    }

    /// `model(input_features, decoder_input_ids).logits`: `[batch, seq, vocab]`, no cache.
    pub fn forward(
        &self,
        input_features: Tensor<3>,
        decoder_input_ids: Tensor<2, Int>,
    ) -> Result<Tensor<3>> {
        self.check_ids(&decoder_input_ids)?;
        let encoder_states = self.encode(input_features)?;
        let mut cache = self.new_cache(&encoder_states);
        let hidden = self.decoder.forward(decoder_input_ids, &mut cache, None)?;
        Ok(self.proj_out.forward(hidden))
    }

    /// Token ids must index the embedding table.
    pub fn check_ids(&self, ids: &Tensor<2, Int>) -> Result<()> {
        let max = ids.clone().max().into_scalar_i64();
        let min = ids.clone().min().into_scalar_i64();
        if min < 0 || max as usize >= self.config.vocab_size {
            return Err(ModelError::InvalidInput(format!(
                "decoder token id outside the vocabulary of {} (got {min}..={max})",
                self.config.vocab_size
            )));
        }
        Ok(())
    }
}

trait ScalarI64 {
    fn into_scalar_i64(self) -> i64;
}

impl ScalarI64 for Tensor<1, Int> {
    fn into_scalar_i64(self) -> i64 {
        self.into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(0)
    }
}

/// `WhisperForAudioClassification`: the encoder (optionally a learned softmax-weighted sum of
/// its hidden states), a projection, mean pooling over time, and a linear classifier.
#[derive(Module, Debug)]
pub struct WhisperForAudioClassification {
    pub encoder: WhisperEncoder,
    pub layer_weights: Option<Param<Tensor<1>>>,
    pub projector: Linear,
    pub classifier: Linear,
    #[module(skip)]
    pub config: WhisperConfig,
}

impl WhisperForAudioClassification {
    /// Logits `[batch, num_labels]`.
    pub fn forward(&self, input_features: Tensor<3>) -> Result<Tensor<2>> {
        let hidden = match &self.layer_weights {
            Some(weights) => {
                let states = self.encoder.hidden_states(input_features)?;
                let weights = softmax(weights.val(), 0);
                let stacked = Tensor::stack::<4>(states, 0);
                let [layers, _, _, _] = stacked.dims();
                (stacked * weights.reshape([layers, 1, 1, 1]))
                    .sum_dim(0)
                    .squeeze_dim::<3>(0)
            }
            None => self.encoder.forward(input_features)?,
        };
        let projected = self.projector.forward(hidden);
        let pooled = projected.mean_dim(1).squeeze_dim::<2>(1);
        Ok(self.classifier.forward(pooled))
    }

    pub fn common_config(&self) -> &CommonConfig {
        &self.config.common
    }
}
