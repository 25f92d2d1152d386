use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::AttentionMask;

/// Keys and values of one attention layer, `[batch, heads, len, head_dim]` each.
#[derive(Debug, Clone)]
pub struct KeyValue {
    pub key: Tensor<4>,
    pub value: Tensor<4>,
}

/// Everything an encoder-decoder's decoder keeps between generation steps: the encoder
/// output it attends to, its padding mask, and per layer the self-attention keys/values of
/// the tokens decoded so far plus the cross-attention keys/values of the encoder output
/// (computed on the first step, then reused: they never change).
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
        }
    }

    pub fn encoder_hidden(&self) -> &Tensor<3> {
        &self.encoder_hidden
    }

    pub fn encoder_mask(&self) -> Option<&AttentionMask> {
        self.encoder_mask.as_ref()
    }

    /// Decoder tokens already processed (the position of the next one).
    pub fn past_len(&self) -> usize {
        self.past_len
    }

    pub fn batch_size(&self) -> usize {
        self.encoder_hidden.dims()[0]
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

    /// Repeats every batch row `times` times in place (`[a, b]` -> `[a, a, b, b]`), the
    /// layout beam search uses: all beams of one input are adjacent.
    pub fn repeat_interleave(&mut self, times: usize) {
        if times == 1 {
            return;
        }
        let batch = self.batch_size();
        let indices: Vec<usize> = (0..batch)
            .flat_map(|b| std::iter::repeat_n(b, times))
            .collect();
        self.select_rows(&indices, true);
    }

    /// Keeps the self-attention rows `indices` (one per new row), as beam search does when
    /// beams are re-ranked. The encoder side is left alone: beam search only moves rows
    /// among the beams of one input, whose encoder rows are identical.
    pub fn reorder_beams(&mut self, indices: &[usize]) {
        self.select_rows(indices, false);
    }

    fn select_rows(&mut self, indices: &[usize], encoder_too: bool) {
        let device = self.encoder_hidden.device();
        let idx: Tensor<1, Int> = Tensor::from_data(
            TensorData::new(
                indices.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [indices.len()],
            ),
            &device,
        );
        let select = |kv: &mut Option<KeyValue>| {
            if let Some(kv) = kv {
                kv.key = kv.key.clone().select(0, idx.clone());
                kv.value = kv.value.clone().select(0, idx.clone());
            }
        };
        self.self_attention.iter_mut().for_each(select);
        if encoder_too {
            self.cross_attention.iter_mut().for_each(select);
            self.encoder_hidden = self.encoder_hidden.clone().select(0, idx.clone());
            if let Some(mask) = &self.encoder_mask {
                let m: Tensor<4, Bool> = mask.0.clone();
                let [_, a, b, src] = m.dims();
                // Bool select through Int: select on bool tensors is not on every backend.
                let m = m.int().select(0, idx.clone()).equal_elem(1);
                self.encoder_mask = Some(AttentionMask(m.reshape([indices.len(), a, b, src])));
            }
        }
    }
}
