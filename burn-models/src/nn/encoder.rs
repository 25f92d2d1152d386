use burn::module::Module;
use burn::nn::{Dropout, LayerNorm};
use burn::tensor::Tensor;

use super::{AttentionMask, FeedForward, MultiHeadAttention};

/// A post-norm transformer encoder layer (BERT, DistilBERT, LayoutLM, ...):
/// `h = norm1(x + attn(x)); out = norm2(h + ffn(h))`.
///
/// While training, `dropout` applies where HF applies `hidden_dropout_prob` and also to the
/// attention probabilities (`attention_probs_dropout_prob`, equal to it in BERT's and
/// DistilBERT's configs).
#[derive(Module, Debug)]
pub struct PostNormEncoderLayer {
    /// Self-attention.
    pub attention: MultiHeadAttention,
    /// Layer norm after attention and its residual (`norm1`).
    pub attention_norm: LayerNorm,
    /// The feed-forward block.
    pub feed_forward: FeedForward,
    /// Layer norm after the feed-forward block and its residual (`norm2`).
    pub output_norm: LayerNorm,
    /// Dropout (active only in training): see the type's docs.
    pub dropout: Dropout,
}

impl PostNormEncoderLayer {
    /// `[batch, seq, hidden]` -> the same; `mask` hides padded positions.
    pub fn forward(&self, x: Tensor<3>, mask: Option<&AttentionMask>) -> Tensor<3> {
        let attended = crate::nn::dropout(
            &self.dropout,
            self.attention
                .forward_with_dropout(x.clone(), mask, &self.dropout),
        );
        let h = self.attention_norm.forward(x + attended);
        let transformed = crate::nn::dropout(&self.dropout, self.feed_forward.forward(h.clone()));
        self.output_norm.forward(h + transformed)
    }
}

/// A stack of post-norm encoder layers.
#[derive(Module, Debug)]
pub struct PostNormEncoder {
    /// The layers, in order.
    pub layers: Vec<PostNormEncoderLayer>,
}

impl PostNormEncoder {
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

crate::impl_linears!(PostNormEncoderLayer {
    attention,
    feed_forward
});
crate::impl_linears!(PostNormEncoder { layers });
