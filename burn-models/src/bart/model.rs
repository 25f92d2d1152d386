use crate::host::HostRead;
use crate::nn::Linear;
use burn::module::{Module, Param};
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::{Int, Tensor};

use super::BartConfig;
use crate::error::{ModelError, Result};
use crate::generation::Seq2SeqLm;
use crate::nn::{
    AttentionMask, DecoderCache, FeedForward, KeyValue, MultiHeadAttention, PostNormEncoder,
};

/// Absolute position embeddings read from a table: BART's learned ones start at row 2
/// (`offset`, a fairseq legacy), Marian's sinusoidal ones at row 0.
#[derive(Module, Debug)]
pub struct Positions {
    /// The embedding table.
    pub table: Embedding,
    /// The row of position 0 (2 for BART, 0 for Marian).
    #[module(skip)]
    pub offset: usize,
}

impl Positions {
    /// Embeddings of positions `start..start + len`, `[1, len, dim]`.
    pub fn forward(&self, start: usize, len: usize) -> Tensor<3> {
        let from = start + self.offset;
        self.table
            .weight
            .val()
            .slice(from..from + len)
            .unsqueeze::<3>()
    }

    /// Positions the table holds.
    pub fn capacity(&self) -> usize {
        self.table.weight.dims()[0] - self.offset
    }
}

/// A post-norm decoder layer: causal self-attention, cross-attention to the encoder, then the
/// feed-forward block, each followed by residual + LayerNorm.
#[derive(Module, Debug)]
pub struct BartDecoderLayer {
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

impl BartDecoderLayer {
    /// One decoder step or sequence: `self_kv` and `cross_kv` cache keys and values between calls.
    pub fn forward(
        &self,
        x: Tensor<3>,
        self_kv: &mut Option<KeyValue>,
        cross_kv: &mut Option<KeyValue>,
        encoder_hidden: &Tensor<3>,
        encoder_mask: Option<&AttentionMask>,
    ) -> Tensor<3> {
        let h = self
            .self_attn
            .forward_cached_self(x.clone(), self_kv, None, None);
        let x = self.self_attn_layer_norm.forward(x + h);
        let h = self.encoder_attn.forward_cached_cross(
            x.clone(),
            encoder_hidden,
            cross_kv,
            encoder_mask,
            None,
            None,
        );
        let x = self.encoder_attn_layer_norm.forward(x + h);
        let h = self.feed_forward.forward(x.clone());
        self.final_layer_norm.forward(x + h)
    }
}

/// `BartForConditionalGeneration` (and, loaded by [`crate::marian`], `MarianMTModel`).
#[derive(Module, Debug)]
pub struct BartForConditionalGeneration {
    /// Encoder token embeddings (`model.shared`).
    pub shared: Embedding,
    /// Decoder token embeddings: the shared table, or Marian's own when untied.
    pub decoder_embed_tokens: Embedding,
    /// Encoder position embeddings.
    pub encoder_positions: Positions,
    /// Decoder position embeddings.
    pub decoder_positions: Positions,
    /// Layer norm of the encoder's embeddings (BART's `layernorm_embedding`; Marian has none).
    pub encoder_layernorm_embedding: Option<LayerNorm>,
    /// Layer norm of the decoder's embeddings (BART's `layernorm_embedding`; Marian has none).
    pub decoder_layernorm_embedding: Option<LayerNorm>,
    /// The encoder.
    pub encoder: PostNormEncoder,
    /// The decoder layers, in order.
    pub decoder_layers: Vec<BartDecoderLayer>,
    /// The output projection to vocabulary logits (`lm_head`).
    pub lm_head: Linear,
    /// `final_logits_bias`, added to the vocabulary logits.
    pub final_logits_bias: Param<Tensor<1>>,
    /// Token embeddings are multiplied by it: `sqrt(d_model)` with `scale_embedding`, else 1.
    #[module(skip)]
    pub embed_scale: f32,
    /// The config the model was built from.
    #[module(skip)]
    pub config: BartConfig,
}

impl BartForConditionalGeneration {
    /// Encodes `input_ids` `[batch, src]` with its padding mask; returns `[batch, src, d_model]`.
    pub fn encode(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<&Tensor<2, Int>>,
    ) -> Result<Tensor<3>> {
        let [_, seq] = input_ids.dims();
        check_ids(&input_ids, self.shared.weight.dims()[0], "input_ids")?;
        if seq > self.encoder_positions.capacity() {
            return Err(ModelError::InvalidInput(format!(
                "input of {seq} tokens is longer than the model's {} positions (truncate it)",
                self.encoder_positions.capacity()
            )));
        }
        let mut x = self.shared.forward(input_ids) * self.embed_scale
            + self.encoder_positions.forward(0, seq);
        if let Some(norm) = &self.encoder_layernorm_embedding {
            x = norm.forward(x);
        }
        let mask = attention_mask.map(AttentionMask::from_padding);
        Ok(self.encoder.forward(x, mask.as_ref()))
    }

    /// Full forward for teacher forcing: logits `[batch, tgt, vocab]` of `decoder_input_ids`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
        decoder_input_ids: Tensor<2, Int>,
    ) -> Result<Tensor<3>> {
        let encoder_hidden = self.encode(input_ids, attention_mask.as_ref())?;
        let mut cache = DecoderCache::new(
            self.decoder_layers.len(),
            encoder_hidden,
            attention_mask.as_ref(),
        );
        self.decode(decoder_input_ids, &mut cache)
    }

    /// Token count of the decoder's vocabulary (the LM head's width).
    pub fn vocab_size(&self) -> usize {
        self.final_logits_bias.dims()[0]
    }
}

impl Seq2SeqLm for BartForConditionalGeneration {
    fn num_decoder_layers(&self) -> usize {
        self.decoder_layers.len()
    }

    fn decode(
        &self,
        decoder_input_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
    ) -> Result<Tensor<3>> {
        let [_, new] = decoder_input_ids.dims();
        let past = cache.past_len();
        if past + new > self.decoder_positions.capacity() {
            return Err(ModelError::InvalidInput(format!(
                "decoding position {} is beyond the model's {} positions",
                past + new,
                self.decoder_positions.capacity()
            )));
        }
        check_ids(
            &decoder_input_ids,
            self.decoder_embed_tokens.weight.dims()[0],
            "decoder_input_ids",
        )?;
        let mut x = self.decoder_embed_tokens.forward(decoder_input_ids) * self.embed_scale
            + self.decoder_positions.forward(past, new);
        if let Some(norm) = &self.decoder_layernorm_embedding {
            x = norm.forward(x);
        }
        let encoder_hidden = cache.encoder_hidden().clone();
        let encoder_mask = cache.encoder_mask().cloned();
        for (i, layer) in self.decoder_layers.iter().enumerate() {
            let (self_kv, cross_kv) = cache.layer_mut(i);
            x = layer.forward(x, self_kv, cross_kv, &encoder_hidden, encoder_mask.as_ref());
        }
        cache.advance(new);
        let logits = self
            .lm_head
            .forward_tied(x, &self.decoder_embed_tokens.weight);
        Ok(logits + self.final_logits_bias.val().unsqueeze::<3>())
    }

    fn max_decoder_positions(&self) -> Option<usize> {
        Some(self.config.max_position_embeddings)
    }
}

/// Token ids must index the embedding table: an id past it is an error, not a panic.
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
crate::impl_linears!(BartDecoderLayer {
    self_attn,
    encoder_attn,
    feed_forward
});
crate::impl_linears!(BartForConditionalGeneration {
    encoder,
    decoder_layers,
    lm_head
});
