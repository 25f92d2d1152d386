use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

use super::{AttentionMask, KeyValue, MultiHeadAttention};

impl MultiHeadAttention {
    /// [`forward_cached_cross`](Self::forward_cached_cross) computed by hand,
    /// `softmax(QK^T * scale) V`, so that it can also return the attention probabilities
    /// `[batch, heads, new, src]` (HF's `output_attentions`; the fused op does not give them).
    /// Only callers that need the weights (Whisper's alignment heads) take this path.
    pub fn forward_cached_cross_with_weights(
        &self,
        hidden: Tensor<3>,
        encoder_hidden: &Tensor<3>,
        cache: &mut Option<KeyValue>,
        mask: Option<&AttentionMask>,
        scale: Option<f64>,
    ) -> (Tensor<3>, Tensor<4>) {
        let heads = self.num_heads;
        let split = |x: Tensor<3>| {
            let [batch, len, dim] = x.dims();
            x.reshape([batch, len, heads, dim / heads]).swap_dims(1, 2)
        };
        let [batch, new, _] = hidden.dims();
        let q = split(self.query.forward(hidden));
        let kv = cache.get_or_insert_with(|| KeyValue {
            key: split(self.key.forward(encoder_hidden.clone())),
            value: split(self.value.forward(encoder_hidden.clone())),
        });
        let [_, _, src, head_dim] = kv.key.dims();
        let scale = scale.unwrap_or(1.0 / (head_dim as f64).sqrt());
        let mut scores = q.matmul(kv.key.clone().swap_dims(2, 3)).mul_scalar(scale);
        if let Some(mask) = mask {
            // HF adds the dtype's minimum where the mask is set.
            scores = scores.mask_fill(mask.0.clone().expand([batch, heads, new, src]), f32::MIN);
        }
        let probs = softmax(scores, 3);
        let context = probs.clone().matmul(kv.value.clone());
        let context = context
            .swap_dims(1, 2)
            .reshape([batch, new, heads * head_dim]);
        (self.output.forward(context), probs)
    }
}
