use super::Linear;
use super::lean::attention;
use burn::module::Module;
use burn::nn::Dropout;
use burn::tensor::activation::softmax;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::KeyValue;

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
    /// Query projection.
    pub query: Linear,
    /// Key projection.
    pub key: Linear,
    /// Value projection.
    pub value: Linear,
    /// Output projection.
    pub output: Linear,
    /// Attention heads.
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

    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, seq, dim] = x.dims();
        x.reshape([batch, seq, self.num_heads, dim / self.num_heads])
            .swap_dims(1, 2)
    }

    fn merge_heads(&self, context: Tensor<4>) -> Tensor<3> {
        let [batch, heads, seq, head_dim] = context.dims();
        self.output.forward(
            context
                .swap_dims(1, 2)
                .reshape([batch, seq, heads * head_dim]),
        )
    }

    /// Decoder self-attention over the new positions `hidden` `[batch, new, dim]`: their keys
    /// and values are appended to `cache`, and each new position attends to every cached one
    /// and to itself, never to later ones. `bias` (T5's relative positions) is added to the
    /// scores `[batch|1, heads, new, past+new]`; `scale` defaults to `1/sqrt(head_dim)`.
    pub fn forward_cached_self(
        &self,
        hidden: Tensor<3>,
        cache: &mut Option<KeyValue>,
        bias: Option<Tensor<4>>,
        scale: Option<f64>,
    ) -> Tensor<3> {
        let [batch, new, _] = hidden.dims();
        let q = self.split_heads(self.query.forward(hidden.clone()));
        let mut k = self.split_heads(self.key.forward(hidden.clone()));
        let mut v = self.split_heads(self.value.forward(hidden));
        if let Some(past) = cache.take() {
            k = Tensor::cat(vec![past.key, k], 2);
            v = Tensor::cat(vec![past.value, v], 2);
        }
        let total = k.dims()[2];
        *cache = Some(KeyValue {
            key: k.clone(),
            value: v.clone(),
        });
        // One new position sees everything cached: no mask. Several (a prompt, or decoding
        // without a cache) need the causal mask, shifted by the cached length.
        let mask = (new > 1).then(|| {
            let past = total - new;
            let data: Vec<bool> = (0..new)
                .flat_map(|i| (0..total).map(move |j| j > past + i))
                .collect();
            Tensor::<2, Bool>::from_data(TensorData::new(data, [new, total]), &q.device())
                .reshape([1, 1, new, total])
                .expand([batch, self.num_heads, new, total])
        });
        let bias = bias.map(|b| {
            let [_, heads, _, _] = b.dims();
            b.expand([batch, heads, new, total])
        });
        let options = AttentionModuleOptions {
            scale,
            ..Default::default()
        };
        self.merge_heads(attention(q, k, v, mask, bias, options))
    }

    /// Bidirectional self-attention with an additive `bias` and a custom `scale` (T5's
    /// encoder: relative position bias, unscaled scores); projections may be narrower or
    /// wider than `hidden` (`heads * d_kv`).
    pub fn forward_biased(
        &self,
        hidden: Tensor<3>,
        mask: Option<&AttentionMask>,
        bias: Option<Tensor<4>>,
        scale: Option<f64>,
    ) -> Tensor<3> {
        // Cross-attention of a sequence to itself is self-attention; nothing is cached.
        self.forward_cached_cross(hidden.clone(), &hidden, &mut None, mask, bias, scale)
    }

    /// Decoder cross-attention from `hidden` `[batch, new, dim]` to the encoder output. The
    /// encoder's keys and values are projected on the first call and kept in `cache`.
    /// `mask` is the encoder padding mask; `bias` and `scale` as in
    /// [`forward_cached_self`](Self::forward_cached_self).
    ///
    /// `encoder_hidden` may hold one row per input for several adjacent decoder rows each
    /// (beams: `batch` a multiple of its rows, see [`DecoderCache`](super::DecoderCache)): the
    /// queries of an input's rows then attend to its keys and values in one product, which
    /// reads them once rather than once per beam.
    pub fn forward_cached_cross(
        &self,
        hidden: Tensor<3>,
        encoder_hidden: &Tensor<3>,
        cache: &mut Option<KeyValue>,
        mask: Option<&AttentionMask>,
        bias: Option<Tensor<4>>,
        scale: Option<f64>,
    ) -> Tensor<3> {
        let [batch, new, _] = hidden.dims();
        let q = self.split_heads(self.query.forward(hidden));
        let kv = cache.get_or_insert_with(|| KeyValue {
            key: self.split_heads(self.key.forward(encoder_hidden.clone())),
            value: self.split_heads(self.value.forward(encoder_hidden.clone())),
        });
        let options = AttentionModuleOptions {
            scale,
            ..Default::default()
        };
        if let Some(group) = SharedRows::of(q.dims(), kv, mask, bias.as_ref()) {
            let mask = mask.map(|m| group.mask(m));
            let context = attention(
                group.queries(q),
                kv.key.clone(),
                kv.value.clone(),
                mask,
                None,
                options,
            );
            return self.merge_heads(group.rows(context));
        }
        let [inputs, _, src, _] = kv.key.dims();
        let copies = batch / inputs.max(1);
        let mask = mask.map(|m| {
            let m = if m.0.dims()[0] == inputs {
                repeat_mask_rows(m.0.clone(), copies)
            } else {
                m.0.clone()
            };
            m.expand([batch, self.num_heads, new, src])
        });
        let bias = bias.map(|b| {
            let [_, heads, _, _] = b.dims();
            b.expand([batch, heads, new, src])
        });
        let (key, value) = (
            repeat_rows(kv.key.clone(), copies),
            repeat_rows(kv.value.clone(), copies),
        );
        self.merge_heads(attention(q, key, value, mask, bias, options))
    }
}

/// The queries of `copies` adjacent decoder rows per encoder row, folded into one attention
/// call per encoder row: `[inputs * copies, heads, new, d]` <-> `[inputs, heads, copies * new,
/// d]`. Applies when the encoder side has fewer rows than the decoder and no bias is added.
pub(super) struct SharedRows {
    inputs: usize,
    copies: usize,
    heads: usize,
    new: usize,
    src: usize,
}

impl SharedRows {
    /// For queries `[batch, heads, new, d]` over `kv` `[inputs, heads, src, d]`.
    pub(super) fn of(
        query_dims: [usize; 4],
        kv: &KeyValue,
        mask: Option<&AttentionMask>,
        bias: Option<&Tensor<4>>,
    ) -> Option<Self> {
        let [batch, heads, new, _] = query_dims;
        let [inputs, _, src, _] = kv.key.dims();
        let copies = batch / inputs.max(1);
        let mask_fits = mask.is_none_or(|m| [1, inputs].contains(&m.0.dims()[0]));
        let fits = copies > 1 && copies * inputs == batch && bias.is_none() && mask_fits;
        fits.then_some(Self {
            inputs,
            copies,
            heads,
            new,
            src,
        })
    }

    /// `[inputs * copies, heads, new, d]` -> `[inputs, heads, copies * new, d]`.
    pub(super) fn queries(&self, q: Tensor<4>) -> Tensor<4> {
        let d = q.dims()[3];
        q.reshape([self.inputs, self.copies, self.heads, self.new, d])
            .swap_dims(1, 2)
            .reshape([self.inputs, self.heads, self.copies * self.new, d])
    }

    /// The encoder mask `[inputs | 1, 1, 1, src]` for the folded queries.
    pub(super) fn mask(&self, mask: &AttentionMask) -> Tensor<4, Bool> {
        mask.0
            .clone()
            .expand([self.inputs, self.heads, self.copies * self.new, self.src])
    }

    /// `[inputs, heads, copies * new, e]` -> `[inputs * copies, heads, new, e]`.
    pub(super) fn rows(&self, x: Tensor<4>) -> Tensor<4> {
        let e = x.dims()[3];
        x.reshape([self.inputs, self.heads, self.copies, self.new, e])
            .swap_dims(1, 2)
            .reshape([self.inputs * self.copies, self.heads, self.new, e])
    }
}

/// Each row of `x` `[rows, ...]` repeated `times` times in place (`[a, b]` -> `[a, a, b, b]`).
pub(super) fn repeat_rows(x: Tensor<4>, times: usize) -> Tensor<4> {
    if times <= 1 {
        return x;
    }
    let [rows, a, b, c] = x.dims();
    x.unsqueeze_dim::<5>(1)
        .expand([rows, times, a, b, c])
        .reshape([rows * times, a, b, c])
}

/// [`repeat_rows`] of a mask.
fn repeat_mask_rows(x: Tensor<4, Bool>, times: usize) -> Tensor<4, Bool> {
    if times <= 1 {
        return x;
    }
    let [rows, a, b, c] = x.dims();
    x.unsqueeze_dim::<5>(1)
        .expand([rows, times, a, b, c])
        .reshape([rows * times, a, b, c])
}

crate::impl_linears!(MultiHeadAttention {
    query,
    key,
    value,
    output
});

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
        let probs = crate::nn::dropout(dropout, softmax(scores, 3));
        let context = probs.matmul(v).swap_dims(1, 2).reshape([batch, seq, dim]);
        self.output.forward(context)
    }
}
