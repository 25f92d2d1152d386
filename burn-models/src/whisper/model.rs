use crate::host::HostRead;
use crate::nn::Linear;
use burn::module::{Module, Param};
use burn::nn::conv::Conv1d;
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::{Int, Tensor, activation::softmax};

use super::WhisperConfig;
use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::generation::Seq2SeqLm;
use crate::nn::{Activation, DecoderCache, FeedForward, KeyValue, MultiHeadAttention};

/// Pre-norm encoder layer.
#[derive(Module, Debug)]
pub struct WhisperEncoderLayer {
    /// Whisper's attention: `k_proj` has no bias, scores scaled by `head_dim^-0.5`.
    pub self_attn: MultiHeadAttention,
    /// Layer norm of the self-attention block (`self_attn_layer_norm`).
    pub self_attn_layer_norm: LayerNorm,
    /// The feed-forward block.
    pub feed_forward: FeedForward,
    /// Layer norm before (pre-norm) or after (post-norm) the feed-forward block
    /// (`final_layer_norm`).
    pub final_layer_norm: LayerNorm,
}

impl WhisperEncoderLayer {
    /// Pre-norm self-attention then feed-forward, each with a residual.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = x.clone()
            + self
                .self_attn
                .forward(self.self_attn_layer_norm.forward(x), None);
        h.clone() + self.feed_forward.forward(self.final_layer_norm.forward(h))
    }
}

/// Two GELU convolutions over the log-mel frames (the second halves the time axis), fixed
/// positions, pre-norm transformer layers, a final norm.
#[derive(Module, Debug)]
pub struct WhisperEncoder {
    /// The first convolution (`conv1`).
    pub conv1: Conv1d,
    /// The second convolution (`conv2`), stride 2.
    pub conv2: Conv1d,
    /// Position embeddings, one row per position (`embed_positions`).
    pub embed_positions: Param<Tensor<2>>,
    /// The layers, in order.
    pub layers: Vec<WhisperEncoderLayer>,
    /// The final layer norm (`layer_norm`).
    pub layer_norm: LayerNorm,
    /// The activation function.
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
            // Recomputed in the backward pass under gradient checkpointing.
            x = crate::nn::lean::checkpoint(layer, x, WhisperEncoderLayer::forward);
        }
        states.push(self.layer_norm.forward(x));
        Ok(states)
    }

    /// Encoder output `[batch, max_source_positions, d_model]` of log-mel features
    /// `[batch, num_mel_bins, 3000]`.
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
    /// Self-attention (`self_attn`).
    pub self_attn: MultiHeadAttention,
    /// Layer norm of the self-attention block (`self_attn_layer_norm`).
    pub self_attn_layer_norm: LayerNorm,
    /// Cross-attention over the encoder output (`encoder_attn`).
    pub encoder_attn: MultiHeadAttention,
    /// Layer norm of the cross-attention block (`encoder_attn_layer_norm`).
    pub encoder_attn_layer_norm: LayerNorm,
    /// The feed-forward block.
    pub feed_forward: FeedForward,
    /// Layer norm before (pre-norm) or after (post-norm) the feed-forward block
    /// (`final_layer_norm`).
    pub final_layer_norm: LayerNorm,
}

impl WhisperDecoderLayer {
    /// The layer over a whole teacher-forced sequence `x` `[batch, seq, d_model]` (causal, no
    /// cache) attending to `encoder_hidden`: what training runs, and recomputes under gradient
    /// checkpointing.
    pub fn forward(&self, x: Tensor<3>, encoder_hidden: Tensor<3>) -> Tensor<3> {
        self.forward_cached(x, &encoder_hidden, &mut None, &mut None, false)
            .0
    }

    /// The layer over new positions `x` after those in `self_kv`; `cross_kv` holds (or
    /// receives) the encoder's keys and values. With `cross_weights`, also the cross-attention
    /// probabilities `[batch, heads, new, src]` (computed explicitly, off the fused op).
    fn forward_cached(
        &self,
        x: Tensor<3>,
        encoder_hidden: &Tensor<3>,
        self_kv: &mut Option<KeyValue>,
        cross_kv: &mut Option<KeyValue>,
        cross_weights: bool,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let h = self.self_attn_layer_norm.forward(x.clone());
        let x = x + self.self_attn.forward_cached_self(h, self_kv, None, None);
        let h = self.encoder_attn_layer_norm.forward(x.clone());
        let (attended, weights) = if cross_weights {
            let (out, probs) = self.encoder_attn.forward_cached_cross_with_weights(
                h,
                encoder_hidden,
                cross_kv,
                None,
                None,
            );
            (out, Some(probs))
        } else {
            let out = self.encoder_attn.forward_cached_cross(
                h,
                encoder_hidden,
                cross_kv,
                None,
                None,
                None,
            );
            (out, None)
        };
        let x = x + attended;
        let h = self.final_layer_norm.forward(x.clone());
        (x + self.feed_forward.forward(h), weights)
    }
}

/// The Whisper decoder: token and position embeddings, pre-norm layers with self- and
/// cross-attention, and a final layer norm.
#[derive(Module, Debug)]
pub struct WhisperDecoder {
    /// Token embeddings (`embed_tokens`).
    pub embed_tokens: Embedding,
    /// `pad_token_id`: the row of `embed_tokens` its lookups never train.
    #[module(skip)]
    pub padding_idx: Option<usize>,
    /// Position embeddings, one row per position (`embed_positions`).
    pub embed_positions: Param<Tensor<2>>,
    /// The layers, in order.
    pub layers: Vec<WhisperDecoderLayer>,
    /// The final layer norm (`layer_norm`).
    pub layer_norm: LayerNorm,
}

impl WhisperDecoder {
    /// Hidden states `[batch, new, d_model]` of `input_ids` `[batch, new]` placed after the
    /// cache's positions; the cache holds the encoder output and grows by `new`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
    ) -> Result<Tensor<3>> {
        Ok(self.run(input_ids, cache, &[])?.0)
    }

    /// Learned positions `[1, new, d_model]` of the `new` tokens after `past`.
    fn positions(&self, past: usize, new: usize) -> Result<Tensor<3>> {
        let [max_positions, _] = self.embed_positions.dims();
        if past + new > max_positions {
            return Err(ModelError::InvalidInput(format!(
                "decoder sequence of {} tokens is longer than max_target_positions {max_positions}",
                past + new
            )));
        }
        Ok(self
            .embed_positions
            .val()
            .slice(past..past + new)
            .unsqueeze::<3>())
    }

    /// Hidden states `[batch, seq, d_model]` of a whole teacher-forced sequence `input_ids`
    /// `[batch, seq]` attending to `encoder_hidden`, without a cache (training). Under gradient
    /// checkpointing each layer keeps only its input: its cross-attention keys and values over
    /// every encoder position are recomputed in the backward pass.
    pub fn forward_teacher_forced(
        &self,
        input_ids: Tensor<2, Int>,
        encoder_hidden: Tensor<3>,
    ) -> Result<Tensor<3>> {
        let [_, seq] = input_ids.dims();
        let positions = self.positions(0, seq)?;
        let mut x = crate::nn::embed_with_padding(&self.embed_tokens, input_ids, self.padding_idx)
            + positions;
        for layer in &self.layers {
            x = crate::nn::lean::checkpoint_with_context(
                layer,
                x,
                encoder_hidden.clone(),
                WhisperDecoderLayer::forward,
            );
        }
        Ok(self.layer_norm.forward(x))
    }

    /// [`forward`](Self::forward) that also returns the cross-attention probabilities
    /// `[batch, heads, new, src]` of the layers in `layers` (`None` for the others, which stay
    /// on the fused attention op): HF's `cross_attentions`, which word timestamps read.
    pub fn forward_with_cross_attentions(
        &self,
        input_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
        layers: &[usize],
    ) -> Result<(Tensor<3>, Vec<Option<Tensor<4>>>)> {
        self.run(input_ids, cache, layers)
    }

    fn run(
        &self,
        input_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
        weights_of: &[usize],
    ) -> Result<(Tensor<3>, Vec<Option<Tensor<4>>>)> {
        let [_, new] = input_ids.dims();
        let positions = self.positions(cache.past_len(), new)?;
        let encoder_hidden = cache.encoder_hidden().clone();
        let mut x = self.embed_tokens.forward(input_ids) + positions;
        let mut weights = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let (self_kv, cross_kv) = cache.layer_mut(i);
            let (out, probs) = layer.forward_cached(
                x,
                &encoder_hidden,
                self_kv,
                cross_kv,
                weights_of.contains(&i),
            );
            x = out;
            weights.push(probs);
        }
        cache.advance(new);
        Ok((self.layer_norm.forward(x), weights))
    }
}

/// `WhisperForConditionalGeneration`: encoder, decoder and the (tied) output projection.
#[derive(Module, Debug)]
pub struct WhisperForConditionalGeneration {
    /// The encoder.
    pub encoder: WhisperEncoder,
    /// The decoder.
    pub decoder: WhisperDecoder,
    /// The output projection to vocabulary logits, tied to the token embedding (`proj_out`).
    pub proj_out: Linear,
    /// The config the model was built from.
    #[module(skip)]
    pub config: WhisperConfig,
}

impl WhisperForConditionalGeneration {
    /// The model's config.
    pub fn config(&self) -> &WhisperConfig {
        &self.config
    }

    /// Encoder output `[batch, max_source_positions, d_model]`.
    pub fn encode(&self, input_features: Tensor<3>) -> Result<Tensor<3>> {
        self.encoder.forward(input_features)
    }

    /// An empty decoder cache over `encoder_states`.
    pub fn new_cache(&self, encoder_states: &Tensor<3>) -> DecoderCache {
        DecoderCache::new(self.decoder.layers.len(), encoder_states.clone(), None)
    }

    /// One decoding step: logits `[batch, vocab]` of the last of `input_ids` (the new tokens,
    /// after the cached ones).
    pub fn step(&self, input_ids: Tensor<2, Int>, cache: &mut DecoderCache) -> Result<Tensor<2>> {
        let hidden = self.decoder.forward(input_ids, cache)?;
        let [batch, new, dim] = hidden.dims();
        let last = hidden.slice([0..batch, new - 1..new]).reshape([batch, dim]);
        Ok(self.project(last))
    }

    /// `model(input_features, decoder_input_ids).logits`: `[batch, seq, vocab]`, no cache.
    pub fn forward(
        &self,
        input_features: Tensor<3>,
        decoder_input_ids: Tensor<2, Int>,
    ) -> Result<Tensor<3>> {
        self.check_ids(&decoder_input_ids)?;
        let encoder_states = self.encode(input_features)?;
        let hidden = self
            .decoder
            .forward_teacher_forced(decoder_input_ids, encoder_states)?;
        Ok(self.project(hidden))
    }

    /// `proj_out` (through the token embeddings' parameter when tied to them).
    fn project<const D: usize>(&self, hidden: Tensor<D>) -> Tensor<D> {
        self.proj_out
            .forward_tied(hidden, &self.decoder.embed_tokens.weight)
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

impl Seq2SeqLm for WhisperForConditionalGeneration {
    fn num_decoder_layers(&self) -> usize {
        self.decoder.layers.len()
    }

    fn decode(
        &self,
        decoder_input_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
    ) -> Result<Tensor<3>> {
        let hidden = self.decoder.forward(decoder_input_ids, cache)?;
        Ok(self.project(hidden))
    }

    fn max_decoder_positions(&self) -> Option<usize> {
        Some(self.config.max_target_positions)
    }
}

trait ScalarI64 {
    fn into_scalar_i64(self) -> i64;
}

impl ScalarI64 for Tensor<1, Int> {
    fn into_scalar_i64(self) -> i64 {
        self.into_host_data()
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
    /// The encoder.
    pub encoder: WhisperEncoder,
    /// With `use_weighted_layer_sum`, the learned weight of each layer's hidden states
    /// (`layer_weights`).
    pub layer_weights: Option<Param<Tensor<1>>>,
    /// Projection of the pooled hidden states before the classifier (`projector`).
    pub projector: Linear,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
    /// The config the model was built from.
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

    /// The `PretrainedConfig` part of the config (labels).
    pub fn common_config(&self) -> &CommonConfig {
        &self.config.common
    }
}

// Every linear layer with its HF module path, for LoRA adapters and quantization (burn-peft).
crate::impl_linears!(WhisperEncoderLayer {
    self_attn,
    feed_forward
});
crate::impl_linears!(WhisperEncoder { layers });
crate::impl_linears!(WhisperDecoderLayer {
    self_attn,
    encoder_attn,
    feed_forward
});
crate::impl_linears!(WhisperDecoder { layers });
crate::impl_linears!(WhisperForConditionalGeneration {
    encoder,
    decoder,
    proj_out
});
crate::impl_linears!(WhisperForAudioClassification {
    encoder,
    projector,
    classifier
});
