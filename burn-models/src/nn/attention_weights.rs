use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

use super::attention::{SharedRows, repeat_rows};
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
        let [inputs, _, src, head_dim] = kv.key.dims();
        let scale = scale.unwrap_or(1.0 / (head_dim as f64).sqrt());
        // Beams sharing an encoder row attend to its keys in one product (as the fused path).
        let group = SharedRows::of(q.dims(), kv, mask, None);
        let (q, key, value, mask) = match &group {
            Some(group) => (
                group.queries(q),
                kv.key.clone(),
                kv.value.clone(),
                mask.map(|m| group.mask(m)),
            ),
            None => {
                let copies = batch / inputs.max(1);
                let mask = mask.map(|m| m.0.clone().expand([batch, heads, new, src]));
                (
                    q,
                    repeat_rows(kv.key.clone(), copies),
                    repeat_rows(kv.value.clone(), copies),
                    mask,
                )
            }
        };
        let mut scores = q.matmul(key.swap_dims(2, 3)).mul_scalar(scale);
        if let Some(mask) = mask {
            // HF adds the dtype's minimum where the mask is set.
            scores = scores.mask_fill(mask, f32::MIN);
        }
        let probs = softmax(scores, 3);
        let context = probs.clone().matmul(value);
        let (context, probs) = match &group {
            Some(group) => (group.rows(context), group.rows(probs)),
            None => (context, probs),
        };
        let context = context
            .swap_dims(1, 2)
            .reshape([batch, new, heads * head_dim]);
        (self.output.forward(context), probs)
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Bool, Device, Tensor, TensorData};

    use crate::nn::{AttentionMask, Linear, MultiHeadAttention};
    use crate::testing::{max_difference, rand};

    fn linear(d: usize, device: &Device) -> Linear {
        Linear::new(
            "",
            Param::from_tensor(rand([d, d], device)),
            Some(Param::from_tensor(rand([d], device))),
        )
    }

    /// Beams sharing one encoder row (queries folded into one product per input) give what
    /// attending to a copied encoder row per beam gives, with and without the weights.
    #[test]
    fn shared_encoder_rows_match_copied_ones() {
        let device = Device::flex();
        let (inputs, copies, src, d, heads) = (2, 3, 7, 16, 4);
        let attn = MultiHeadAttention {
            query: linear(d, &device),
            key: linear(d, &device),
            value: linear(d, &device),
            output: linear(d, &device),
            num_heads: heads,
        };
        let encoder = rand([inputs, src, d], &device);
        let padding: Vec<bool> = (0..inputs * src).map(|i| i == 2 * src - 1).collect();
        let mask = AttentionMask(Tensor::<4, Bool>::from_data(
            TensorData::new(padding, [inputs, 1, 1, src]),
            &device,
        ));
        let rows = |t: Tensor<3>| {
            let idx: Vec<i64> = (0..inputs as i64)
                .flat_map(|b| std::iter::repeat_n(b, copies))
                .collect();
            t.select(
                0,
                Tensor::from_data(TensorData::new(idx, [inputs * copies]), &device),
            )
        };
        let copied_encoder = rows(encoder.clone());
        let copied_mask = AttentionMask(
            mask.0
                .clone()
                .int()
                .reshape([inputs, 1, src])
                .repeat_dim(1, copies)
                .reshape([inputs * copies, 1, 1, src])
                .equal_elem(1),
        );
        for new in [1, 2] {
            let hidden = rand([inputs * copies, new, d], &device);
            let shared = attn.forward_cached_cross(
                hidden.clone(),
                &encoder,
                &mut None,
                Some(&mask),
                None,
                None,
            );
            let copied = attn.forward_cached_cross(
                hidden.clone(),
                &copied_encoder,
                &mut None,
                Some(&copied_mask),
                None,
                None,
            );
            assert!(max_difference(shared, copied) < 1e-4);
            // With a bias the keys and values are copied per row instead: the same result.
            let bias = rand([1, heads, new, src], &device);
            let shared = attn.forward_cached_cross(
                hidden.clone(),
                &encoder,
                &mut None,
                Some(&mask),
                Some(bias.clone()),
                None,
            );
            let copied = attn.forward_cached_cross(
                hidden.clone(),
                &copied_encoder,
                &mut None,
                Some(&copied_mask),
                Some(bias),
                None,
            );
            assert!(max_difference(shared, copied) < 1e-4);
            let (shared, shared_probs) = attn.forward_cached_cross_with_weights(
                hidden.clone(),
                &encoder,
                &mut None,
                Some(&mask),
                None,
            );
            let (copied, copied_probs) = attn.forward_cached_cross_with_weights(
                hidden,
                &copied_encoder,
                &mut None,
                Some(&copied_mask),
                None,
            );
            assert!(max_difference(shared, copied) < 1e-4);
            assert!(max_difference(shared_probs, copied_probs) < 1e-5);
        }
    }
}
