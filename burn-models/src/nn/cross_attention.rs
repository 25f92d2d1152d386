use super::lean::attention;
use burn::tensor::Tensor;
use burn::tensor::ops::AttentionModuleOptions;

use super::{AttentionMask, MultiHeadAttention};

impl MultiHeadAttention {
    /// Attention with separate query, key and value inputs (`[batch, len, dim]` each; keys
    /// and values share a length), as DETR uses it: position embeddings are added to the
    /// query and key inputs but not to the values, and cross-attention reads the encoder.
    /// `mask` hides keys (`[batch, 1, 1, key_len]` or already per head).
    pub fn attend(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        mask: Option<&AttentionMask>,
    ) -> Tensor<3> {
        let [batch, query_len, dim] = query.dims();
        let [_, key_len, _] = key.dims();
        let heads = self.num_heads;
        let split =
            |x: Tensor<3>, len: usize| x.reshape([batch, len, heads, dim / heads]).swap_dims(1, 2);
        let q = split(self.query.forward(query), query_len);
        let k = split(self.key.forward(key), key_len);
        let v = split(self.value.forward(value), key_len);
        let mask = mask.map(|m| {
            if m.0.dims() == [batch, heads, query_len, key_len] {
                m.0.clone()
            } else {
                m.for_heads(heads, query_len).0
            }
        });
        let context = attention(q, k, v, mask, None, AttentionModuleOptions::default());
        self.output
            .forward(context.swap_dims(1, 2).reshape([batch, query_len, dim]))
    }
}
