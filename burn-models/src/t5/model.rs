use crate::host::HostRead;
use crate::nn::Linear;
use burn::module::Module;
use burn::nn::{Embedding, RmsNorm};
use burn::tensor::{Int, Tensor, TensorData};

use super::T5Config;
use crate::error::{ModelError, Result};
use crate::generation::Seq2SeqLm;
use crate::nn::{
    AttentionMask, DecoderCache, FeedForward, GatedFeedForward, KeyValue, MultiHeadAttention,
};

/// T5 scores are `q·k` unscaled (the scale is folded into the initialisation).
const UNSCALED: Option<f64> = Some(1.0);

/// `T5Attention._relative_position_bucket`, in f32 as torch computes it.
pub fn relative_position_bucket(
    relative_position: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let mut buckets = num_buckets as i64;
    let mut bucket = 0i64;
    let mut position = relative_position;
    if bidirectional {
        buckets /= 2;
        if position > 0 {
            bucket += buckets;
        }
        position = position.abs();
    } else {
        position = -position.min(0);
    }
    let max_exact = buckets / 2;
    if position < max_exact {
        bucket += position;
    } else {
        let scaled = ((position as f32 / max_exact as f32).ln()
            / (max_distance as f32 / max_exact as f32).ln()
            * (buckets - max_exact) as f32) as i64;
        bucket += (max_exact + scaled).min(buckets - 1);
    }
    bucket as usize
}

/// The feed-forward block: ReLU (`wi`, `wo`) or gated (`wi_0`, `wi_1`, `wo`).
#[derive(Module, Debug)]
pub struct T5FeedForward {
    /// The ReLU feed-forward (`DenseReluDense` with `wi`, `wo`), for `feed_forward_proj="relu"`.
    pub dense: Option<FeedForward>,
    /// The gated feed-forward (`wi_0`, `wi_1`, `wo`), for `"gated-gelu"` and the like.
    pub gated: Option<GatedFeedForward>,
}

impl T5FeedForward {
    /// The feed-forward transform alone (the block adds the norm and the residual).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match (&self.dense, &self.gated) {
            (Some(ff), _) => ff.forward(x),
            (None, Some(ff)) => ff.forward(x),
            (None, None) => x,
        }
    }
}

/// One pre-norm T5 block: self-attention, cross-attention (decoder only), feed-forward, each
/// as `x + sublayer(rms_norm(x))`.
#[derive(Module, Debug)]
pub struct T5Block {
    /// Self-attention (`self_attn`).
    pub self_attn: MultiHeadAttention,
    /// RMS norm before self-attention.
    pub self_attn_norm: RmsNorm,
    /// Cross-attention over the encoder output (decoder blocks only).
    pub cross_attn: Option<MultiHeadAttention>,
    /// RMS norm before cross-attention (decoder blocks only).
    pub cross_attn_norm: Option<RmsNorm>,
    /// The feed-forward block.
    pub feed_forward: T5FeedForward,
    /// RMS norm before the feed-forward block.
    pub feed_forward_norm: RmsNorm,
}

/// An encoder or decoder stack with its relative position bias table.
#[derive(Module, Debug)]
pub struct T5Stack {
    /// The blocks, in order.
    pub blocks: Vec<T5Block>,
    /// `[num_buckets, heads]`, from the first block.
    pub relative_attention_bias: Embedding,
    /// Layer norm before (pre-norm) or after (post-norm) the feed-forward block
    /// (`final_layer_norm`).
    pub final_layer_norm: RmsNorm,
    /// Whether relative positions count in both directions (encoder) or only back (decoder).
    #[module(skip)]
    pub bidirectional: bool,
    /// `relative_attention_num_buckets`.
    #[module(skip)]
    pub num_buckets: usize,
    /// `relative_attention_max_distance`.
    #[module(skip)]
    pub max_distance: usize,
}

impl T5Stack {
    /// `compute_bias`: `[1, heads, q_len, k_len]` for queries at `past..past+q_len`.
    pub fn position_bias(&self, past: usize, q_len: usize, k_len: usize) -> Tensor<4> {
        let buckets: Vec<i64> = (0..q_len)
            .flat_map(|i| {
                (0..k_len).map(move |j| {
                    relative_position_bucket(
                        j as i64 - (past + i) as i64,
                        self.bidirectional,
                        self.num_buckets,
                        self.max_distance,
                    ) as i64
                })
            })
            .collect();
        let device = self.relative_attention_bias.weight.device();
        let buckets =
            Tensor::<2, Int>::from_data(TensorData::new(buckets, [q_len, k_len]), &device);
        self.relative_attention_bias
            .forward(buckets)
            .permute([2, 0, 1])
            .unsqueeze::<4>()
    }
}

/// `T5ForConditionalGeneration`.
#[derive(Module, Debug)]
pub struct T5ForConditionalGeneration {
    /// The token embedding shared by encoder and decoder (`shared`).
    pub shared: Embedding,
    /// The encoder.
    pub encoder: T5Stack,
    /// The decoder.
    pub decoder: T5Stack,
    /// The output projection to vocabulary logits (`lm_head`).
    pub lm_head: Linear,
    /// The config the model was built from.
    #[module(skip)]
    pub config: T5Config,
}

impl T5ForConditionalGeneration {
    /// Encoder output `[batch, src, d_model]`.
    pub fn encode(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<&Tensor<2, Int>>,
    ) -> Result<Tensor<3>> {
        let [_, seq] = input_ids.dims();
        check_ids(&input_ids, self.config.vocab_size, "input_ids")?;
        let mut x = self.shared.forward(input_ids);
        let bias = self.encoder.position_bias(0, seq, seq);
        let mask = attention_mask.map(AttentionMask::from_padding);
        for block in &self.encoder.blocks {
            let h = block.self_attn.forward_biased(
                block.self_attn_norm.forward(x.clone()),
                mask.as_ref(),
                Some(bias.clone()),
                UNSCALED,
            );
            x = x + h;
            let h = block
                .feed_forward
                .forward(block.feed_forward_norm.forward(x.clone()));
            x = x + h;
        }
        Ok(self.encoder.final_layer_norm.forward(x))
    }

    /// Teacher-forced logits `[batch, tgt, vocab]`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
        decoder_input_ids: Tensor<2, Int>,
    ) -> Result<Tensor<3>> {
        let hidden = self.encode(input_ids, attention_mask.as_ref())?;
        let mut cache =
            DecoderCache::new(self.decoder.blocks.len(), hidden, attention_mask.as_ref());
        self.decode(decoder_input_ids, &mut cache)
    }
}

impl Seq2SeqLm for T5ForConditionalGeneration {
    fn num_decoder_layers(&self) -> usize {
        self.decoder.blocks.len()
    }

    fn decode(
        &self,
        decoder_input_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
    ) -> Result<Tensor<3>> {
        let [_, new] = decoder_input_ids.dims();
        check_ids(
            &decoder_input_ids,
            self.config.vocab_size,
            "decoder_input_ids",
        )?;
        let past = cache.past_len();
        let bias = self.decoder.position_bias(past, new, past + new);
        let encoder_hidden = cache.encoder_hidden().clone();
        let encoder_mask = cache.encoder_mask().cloned();
        let mut x = self.shared.forward(decoder_input_ids);
        for (i, block) in self.decoder.blocks.iter().enumerate() {
            let (self_kv, cross_kv): (&mut Option<KeyValue>, &mut Option<KeyValue>) =
                cache.layer_mut(i);
            let h = block.self_attn.forward_cached_self(
                block.self_attn_norm.forward(x.clone()),
                self_kv,
                Some(bias.clone()),
                UNSCALED,
            );
            x = x + h;
            if let (Some(attn), Some(norm)) = (&block.cross_attn, &block.cross_attn_norm) {
                let h = attn.forward_cached_cross(
                    norm.forward(x.clone()),
                    &encoder_hidden,
                    cross_kv,
                    encoder_mask.as_ref(),
                    None,
                    UNSCALED,
                );
                x = x + h;
            }
            let h = block
                .feed_forward
                .forward(block.feed_forward_norm.forward(x.clone()));
            x = x + h;
        }
        cache.advance(new);
        let mut x = self.decoder.final_layer_norm.forward(x);
        if self.config.tie_word_embeddings {
            // The tied head sees the output rescaled, as in Mesh TensorFlow.
            x = x * (self.config.d_model as f64).powf(-0.5);
        }
        Ok(self.lm_head.forward_tied(x, &self.shared.weight))
    }
}

fn check_ids(ids: &Tensor<2, Int>, vocab: usize, what: &str) -> Result<()> {
    let max = ids.clone().max().into_host_scalar::<i64>();
    let min = ids.clone().min().into_host_scalar::<i64>();
    if min < 0 || max as usize >= vocab {
        return Err(ModelError::InvalidInput(format!(
            "{what} holds id {} outside the vocabulary of {vocab}",
            if min < 0 { min } else { max }
        )));
    }
    Ok(())
}

// Every linear layer with its HF module path, for LoRA adapters and quantization (burn-peft).
crate::impl_linears!(T5FeedForward { dense, gated });
crate::impl_linears!(T5Block {
    self_attn,
    cross_attn,
    feed_forward
});
crate::impl_linears!(T5Stack { blocks });
crate::impl_linears!(T5ForConditionalGeneration {
    encoder,
    decoder,
    lm_head
});
