use burn::module::Module;
use burn::nn::{Dropout, LayerNorm};
use burn::tensor::Tensor;

use super::{AttentionMask, FeedForward, MultiHeadAttention};

/// A pre-norm transformer encoder layer (ViT, DeiT, BEiT-style):
/// `h = x + attn(norm1(x)); out = h + ffn(norm2(h))`.
#[derive(Module, Debug)]
pub struct PreNormEncoderLayer {
    /// Layer norm before attention (`norm1`; HF's `layernorm_before`).
    pub attention_norm: LayerNorm,
    /// Self-attention.
    pub attention: MultiHeadAttention,
    /// Layer norm before the feed-forward block (`norm2`; HF's `layernorm_after`).
    pub output_norm: LayerNorm,
    /// The feed-forward block.
    pub feed_forward: FeedForward,
    /// Dropout on the sublayers' outputs (active only in training).
    pub dropout: Dropout,
}

impl PreNormEncoderLayer {
    /// `[batch, seq, hidden]` -> the same; `mask` hides padded positions.
    pub fn forward(&self, x: Tensor<3>, mask: Option<&AttentionMask>) -> Tensor<3> {
        let attended = self
            .attention
            .forward(self.attention_norm.forward(x.clone()), mask);
        let h = x + crate::nn::dropout(&self.dropout, attended);
        let transformed = self
            .feed_forward
            .forward(self.output_norm.forward(h.clone()));
        h + crate::nn::dropout(&self.dropout, transformed)
    }
}

/// A stack of pre-norm encoder layers (the final norm belongs to the model).
#[derive(Module, Debug)]
pub struct PreNormEncoder {
    /// The layers, in order.
    pub layers: Vec<PreNormEncoderLayer>,
}

impl PreNormEncoder {
    /// Runs the layers in order.
    pub fn forward(&self, mut x: Tensor<3>, mask: Option<&AttentionMask>) -> Tensor<3> {
        let [_, seq, _] = x.dims();
        let heads = self.layers.first().map_or(1, |l| l.attention.num_heads);
        let mask = mask.map(|m| m.for_heads(heads, seq));
        for layer in &self.layers {
            x = layer.forward(x, mask.as_ref());
        }
        x
    }
}

crate::impl_linears!(PreNormEncoderLayer {
    attention,
    feed_forward
});
crate::impl_linears!(PreNormEncoder { layers });
