use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor};

/// Positions a query may not attend to, `true` = masked, shaped `[batch, 1, 1, key_len]`
/// (a padding mask) or `[batch, 1, query_len, key_len]`.
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
        let mask = mask.map(|m| m.0.clone().expand([batch, self.num_heads, seq, seq]));
        let context = attention(q, k, v, mask, None, AttentionModuleOptions::default());
        let context = context.swap_dims(1, 2).reshape([batch, seq, dim]);
        self.output.forward(context)
    }
}
