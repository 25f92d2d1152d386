use burn::tensor::{Int, Tensor, TensorData};

use super::AttentionMask;

/// Keys and values of one attention layer, `[batch, heads, len, head_dim]` each.
#[derive(Debug, Clone)]
pub struct KeyValue {
    /// The keys.
    pub key: Tensor<4>,
    /// The values.
    pub value: Tensor<4>,
}

/// Everything an encoder-decoder's decoder keeps between generation steps: the encoder
/// output it attends to, its padding mask, and per layer the self-attention keys/values of
/// the tokens decoded so far plus the cross-attention keys/values of the encoder output
/// (computed on the first step, then reused: they never change).
///
/// Beams (and `num_return_sequences` copies) of one input share its encoder rows: the cache
/// keeps one encoder row per input and `copies` decoder rows for each, so the cross-attention
/// keys and values are projected once per input, and each input's queries of all its beams
/// attend to them in one product
/// ([`MultiHeadAttention::forward_cached_cross`](super::MultiHeadAttention::forward_cached_cross)).
///
/// Shared by every seq2seq model (BART, Marian, T5, Whisper). Models fill the slots through
/// [`MultiHeadAttention::forward_cached_self`](super::MultiHeadAttention::forward_cached_self)
/// and [`MultiHeadAttention::forward_cached_cross`](super::MultiHeadAttention::forward_cached_cross),
/// then call [`DecoderCache::advance`] once per step.
#[derive(Debug, Clone)]
pub struct DecoderCache {
    encoder_hidden: Tensor<3>,
    /// `[batch, 1, 1, src_len]`, `true` = padding.
    encoder_mask: Option<AttentionMask>,
    self_attention: Vec<Option<KeyValue>>,
    cross_attention: Vec<Option<KeyValue>>,
    past_len: usize,
    /// Decoder rows per encoder row.
    copies: usize,
}

impl DecoderCache {
    /// An empty cache over `encoder_hidden` `[batch, src_len, dim]`; `encoder_attention_mask`
    /// is HF's `[batch, src_len]` of 1 (token) and 0 (padding), `None` when nothing is padded.
    pub fn new(
        num_layers: usize,
        encoder_hidden: Tensor<3>,
        encoder_attention_mask: Option<&Tensor<2, Int>>,
    ) -> Self {
        Self {
            encoder_hidden,
            encoder_mask: encoder_attention_mask.map(AttentionMask::from_padding),
            self_attention: vec![None; num_layers],
            cross_attention: vec![None; num_layers],
            past_len: 0,
            copies: 1,
        }
    }

    /// The encoder output `[inputs, src_len, dim]`: one row per input, shared by its
    /// [`copies`](Self::copies) decoder rows.
    pub fn encoder_hidden(&self) -> &Tensor<3> {
        &self.encoder_hidden
    }

    /// The encoder padding mask `[inputs, 1, 1, src_len]`, one row per input as
    /// [`encoder_hidden`](Self::encoder_hidden).
    pub fn encoder_mask(&self) -> Option<&AttentionMask> {
        self.encoder_mask.as_ref()
    }

    /// Decoder rows per input (beams, or returned sequences), adjacent: rows
    /// `i * copies..(i + 1) * copies` decode input `i`.
    pub fn copies(&self) -> usize {
        self.copies
    }

    /// Decoder tokens already processed (the position of the next one).
    pub fn past_len(&self) -> usize {
        self.past_len
    }

    /// Decoder rows: inputs times [`copies`](Self::copies).
    pub fn batch_size(&self) -> usize {
        self.encoder_hidden.dims()[0] * self.copies
    }

    /// Marks `new_tokens` more positions as processed; models call it after each step.
    pub fn advance(&mut self, new_tokens: usize) {
        self.past_len += new_tokens;
    }

    /// The slots of layer `layer`: (self-attention, cross-attention).
    pub fn layer_mut(&mut self, layer: usize) -> (&mut Option<KeyValue>, &mut Option<KeyValue>) {
        if layer >= self.self_attention.len() {
            self.self_attention.resize(layer + 1, None);
            self.cross_attention.resize(layer + 1, None);
        }
        (
            &mut self.self_attention[layer],
            &mut self.cross_attention[layer],
        )
    }

    /// Gives every input `times` times as many decoder rows (`[a, b]` -> `[a, a, b, b]`), the
    /// layout beam search uses: all beams of one input are adjacent. The encoder side is not
    /// copied (see [`copies`](Self::copies)); self-attention keys/values already cached are.
    pub fn repeat_interleave(&mut self, times: usize) {
        if times == 1 {
            return;
        }
        let rows = self.batch_size();
        let indices: Vec<usize> = (0..rows)
            .flat_map(|b| std::iter::repeat_n(b, times))
            .collect();
        self.select_rows(&indices);
        self.copies *= times;
    }

    /// Keeps the self-attention rows `indices` (one per new row), as beam search does when
    /// beams are re-ranked. The encoder side is left alone: beam search only moves rows
    /// among the beams of one input, which share its encoder row.
    pub fn reorder_beams(&mut self, indices: &[usize]) {
        self.select_rows(indices);
    }

    fn select_rows(&mut self, indices: &[usize]) {
        let device = self.encoder_hidden.device();
        let idx: Tensor<1, Int> = Tensor::from_data(
            TensorData::new(
                indices.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [indices.len()],
            ),
            &device,
        );
        for kv in self.self_attention.iter_mut().flatten() {
            kv.key = kv.key.clone().select(0, idx.clone());
            kv.value = kv.value.clone().select(0, idx.clone());
        }
    }
}
