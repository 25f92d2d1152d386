use burn::module::Module;
use burn::nn::{Dropout, Linear};
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor};

/// Positions a query may not attend to, `true` = masked, shaped `[batch, 1, 1, key_len]`
/// (a padding mask), `[batch, 1, query_len, key_len]`, or already per head.
#[derive(Debug, Clone)]
pub struct AttentionMask(pub Tensor<4, Bool>);

impl AttentionMask {
    /// From an HF-style `attention_mask` `[batch, seq]` of 1 (attend) and 0 (padding).
    pub fn from_padding(attention_mask: &Tensor<2, Int>) -> Self {
        let [batch, seq] = attention_mask.dims();
        Self(
            attention_mask
                .clone()
                .equal_elem(0)
                .reshape([batch, 1, 1, seq]),
        )
    }

    /// The mask broadcast to `[batch, heads, query_len, key_len]`, the shape the fused op
    /// takes. Encoders build it once per forward and share it across layers.
    pub fn for_heads(&self, heads: usize, query_len: usize) -> Self {
        let [batch, _, _, key_len] = self.0.dims();
        Self(self.0.clone().expand([batch, heads, query_len, key_len]))
    }
}

/// Multi-head attention with separate query/key/value/output projections, as in BERT,
/// DistilBERT and every encoder of that family. Runs on Burn's fused attention op.
#[derive(Module, Debug)]
pub struct MultiHeadAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub num_heads: usize,
}

impl MultiHeadAttention {
    /// Self-attention over `hidden` `[batch, seq, dim]`.
    pub fn forward(&self, hidden: Tensor<3>, mask: Option<&AttentionMask>) -> Tensor<3> {
        let [batch, seq, dim] = hidden.dims();
        let heads = |x: Tensor<3>| {
            x.reshape([batch, seq, self.num_heads, dim / self.num_heads])
                .swap_dims(1, 2)
        };
        let q = heads(self.query.forward(hidden.clone()));
        let k = heads(self.key.forward(hidden.clone()));
        let v = heads(self.value.forward(hidden));
        let full = [batch, self.num_heads, seq, seq];
        let mask = mask.map(|m| {
            if m.0.dims() == full {
                m.0.clone()
            } else {
                m.for_heads(self.num_heads, seq).0
            }
        });
        let context = attention(q, k, v, mask, None, AttentionModuleOptions::default());
        let context = context.swap_dims(1, 2).reshape([batch, seq, dim]);
        self.output.forward(context)
    }
}

impl MultiHeadAttention {
    /// Self-attention with `dropout` on the attention probabilities, as HF's modeling files
    /// apply `attention_probs_dropout_prob` while training. Outside training (a plain device,
    /// a frozen or zero dropout) this is [`forward`](Self::forward) on the fused op.
    pub fn forward_with_dropout(
        &self,
        hidden: Tensor<3>,
        mask: Option<&AttentionMask>,
        dropout: &Dropout,
    ) -> Tensor<3> {
        let active =
            dropout.prob > 0.0 && dropout.training.is_enabled() && hidden.device().is_autodiff();
        if !active {
            return self.forward(hidden, mask);
        }
        let [batch, seq, dim] = hidden.dims();
        let head_dim = dim / self.num_heads;
        let heads = |x: Tensor<3>| {
            x.reshape([batch, seq, self.num_heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = heads(self.query.forward(hidden.clone()));
        let k = heads(self.key.forward(hidden.clone()));
        let v = heads(self.value.forward(hidden));
        let mut scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((head_dim as f64).sqrt());
        if let Some(mask) = mask {
            // HF adds the dtype's minimum where the mask is set.
            scores = scores.mask_fill(mask.for_heads(self.num_heads, seq).0, f32::MIN);
        }
        let probs = dropout.forward(softmax(scores, 3));
        let context = probs.matmul(v).swap_dims(1, 2).reshape([batch, seq, dim]);
        self.output.forward(context)
    }
}
