//! HF's logits processors, applied on the host to one row of scores at a time, in the order
//! `GenerationMixin._get_logits_processor` builds them.

use std::collections::HashMap;

use super::GenerationConfig;

/// A logits processor of a model's own (HF's `LogitsProcessor`): edits one row of scores
/// given the row's tokens so far. Passed to [`generate_with`](super::generate_with).
pub trait LogitsProcessor {
    /// Adjusts `scores` (the next token's logits) given the row's tokens so far.
    fn process(&self, input_ids: &[u32], scores: &mut [f32]);
}

/// Options of the processors, resolved for one `generate` call.
#[derive(Debug, Clone)]
pub struct LogitsProcessors {
    /// `repetition_penalty` (1: off).
    pub repetition_penalty: f32,
    /// `no_repeat_ngram_size` (0: off).
    pub no_repeat_ngram_size: usize,
    /// Single-token bad words (banned everywhere) and longer ones (banned after their prefix).
    bad_single: Vec<u32>,
    bad_sequences: Vec<Vec<u32>>,
    /// `min_length`: end-of-sequence is forbidden before this total length.
    pub min_length: usize,
    /// `(decoder prompt length, min_new_tokens)`.
    pub min_new_tokens: Option<(usize, usize)>,
    /// The end-of-sequence ids.
    pub eos: Vec<u32>,
    /// `forced_bos_token_id`: forced as the first generated token.
    pub forced_bos_token_id: Option<u32>,
    /// `forced_eos_token_id`: forced at the last position `max_length` allows.
    pub forced_eos_token_id: Option<Vec<u32>>,
    /// `max_length`, for `forced_eos_token_id`.
    pub max_length: usize,
    /// `suppress_tokens`: ids never generated.
    pub suppress_tokens: Vec<u32>,
    /// `(tokens, the sequence length at which they are suppressed)`.
    pub begin_suppress: Option<(Vec<u32>, usize)>,
    /// Sampling warpers (only with `do_sample`).
    pub temperature: Option<f32>,
    /// `top_k` warper.
    pub top_k: Option<usize>,
    /// `top_p` (nucleus) warper.
    pub top_p: Option<f32>,
}

impl LogitsProcessors {
    /// `prompt_len`: the decoder prompt length; `max_length`: the resolved total length.
    pub fn new(config: &GenerationConfig, prompt_len: usize, max_length: usize) -> Self {
        let eos = config.eos_token_id.clone().unwrap_or_default();
        let (mut bad_single, mut bad_sequences) = (Vec::new(), Vec::new());
        for words in config.bad_words_ids.iter().flatten() {
            // HF drops bad words that are exactly an end-of-sequence token.
            if words.len() == 1 && eos.contains(&words[0]) {
                continue;
            }
            if words.len() == 1 {
                bad_single.push(words[0]);
            } else {
                bad_sequences.push(words.clone());
            }
        }
        let begin_suppress = config.begin_suppress_tokens.clone().map(|tokens| {
            let begin = if prompt_len > 1 || config.forced_bos_token_id.is_none() {
                prompt_len
            } else {
                prompt_len + 1
            };
            (tokens, begin)
        });
        let sampling = config.do_sample;
        Self {
            repetition_penalty: config.repetition_penalty,
            no_repeat_ngram_size: config.no_repeat_ngram_size,
            bad_single,
            bad_sequences,
            min_length: config.min_length,
            min_new_tokens: config
                .min_new_tokens
                .filter(|&n| n > 0)
                .map(|n| (prompt_len, n)),
            eos,
            forced_bos_token_id: config.forced_bos_token_id,
            forced_eos_token_id: config.forced_eos_token_id.clone(),
            max_length,
            suppress_tokens: config.suppress_tokens.clone().unwrap_or_default(),
            begin_suppress,
            temperature: (sampling && config.temperature != 1.0).then_some(config.temperature),
            top_k: (sampling && config.top_k != 0).then_some(config.top_k),
            top_p: (sampling && config.top_p < 1.0).then_some(config.top_p),
        }
    }

    /// Applies every processor to `scores` (one row, `vocab` wide) given the row's tokens so
    /// far `input_ids` (decoder prompt included): the constraints, `extra` (a model's own
    /// processors, e.g. Whisper's timestamp rules, run after the built-in ones as HF appends
    /// custom processors), then the sampling warpers.
    pub fn process(&self, input_ids: &[u32], scores: &mut [f32], extra: &[&dyn LogitsProcessor]) {
        self.process_constraints(input_ids, scores);
        for processor in extra {
            processor.process(input_ids, scores);
        }
        self.process_warpers(scores);
    }

    fn process_constraints(&self, input_ids: &[u32], scores: &mut [f32]) {
        let cur_len = input_ids.len();
        let ban = |scores: &mut [f32], id: u32| {
            if let Some(s) = scores.get_mut(id as usize) {
                *s = f32::NEG_INFINITY;
            }
        };
        if self.repetition_penalty != 1.0 {
            let p = self.repetition_penalty;
            // HF gathers then scatters: a token seen twice is penalised once.
            for id in dedup_tokens(input_ids) {
                if let Some(s) = scores.get_mut(id as usize) {
                    *s = if *s < 0.0 { *s * p } else { *s / p };
                }
            }
        }
        if self.no_repeat_ngram_size > 0 {
            for id in banned_ngram_tokens(input_ids, self.no_repeat_ngram_size) {
                ban(scores, id);
            }
        }
        for &id in &self.bad_single {
            ban(scores, id);
        }
        for words in &self.bad_sequences {
            let (prefix, last) = words.split_at(words.len() - 1);
            if input_ids.ends_with(prefix) {
                ban(scores, last[0]);
            }
        }
        if cur_len < self.min_length {
            self.eos.iter().for_each(|&id| ban(scores, id));
        }
        if let Some((prompt_len, min_new)) = self.min_new_tokens
            && cur_len.saturating_sub(prompt_len) < min_new
        {
            self.eos.iter().for_each(|&id| ban(scores, id));
        }
        if let Some(bos) = self.forced_bos_token_id
            && cur_len == 1
        {
            force(scores, &[bos]);
        }
        if let Some(eos) = &self.forced_eos_token_id
            && cur_len + 1 == self.max_length
        {
            force(scores, eos);
        }
        for &id in &self.suppress_tokens {
            ban(scores, id);
        }
        if let Some((tokens, begin)) = &self.begin_suppress
            && cur_len == *begin
        {
            tokens.iter().for_each(|&id| ban(scores, id));
        }
    }

    fn process_warpers(&self, scores: &mut [f32]) {
        let vocab = scores.len();
        if let Some(t) = self.temperature {
            scores.iter_mut().for_each(|s| *s /= t);
        }
        if let Some(k) = self.top_k {
            let k = k.min(vocab);
            if k < vocab {
                let mut sorted: Vec<f32> = scores.to_vec();
                sorted.sort_unstable_by(|a, b| b.total_cmp(a));
                let kth = sorted[k - 1];
                scores
                    .iter_mut()
                    .filter(|s| **s < kth)
                    .for_each(|s| *s = f32::NEG_INFINITY);
            }
        }
        if let Some(p) = self.top_p {
            top_p_filter(scores, p);
        }
    }
}

/// The distinct tokens of `input_ids`, in order of first occurrence.
fn dedup_tokens(input_ids: &[u32]) -> Vec<u32> {
    let mut seen = std::collections::HashSet::new();
    input_ids
        .iter()
        .copied()
        .filter(|id| seen.insert(*id))
        .collect()
}

fn force(scores: &mut [f32], allowed: &[u32]) {
    scores.iter_mut().for_each(|s| *s = f32::NEG_INFINITY);
    for &id in allowed {
        if let Some(s) = scores.get_mut(id as usize) {
            *s = 0.0;
        }
    }
}

/// Tokens that would repeat an n-gram already in `input_ids` (`NoRepeatNGramLogitsProcessor`).
fn banned_ngram_tokens(input_ids: &[u32], n: usize) -> Vec<u32> {
    let cur_len = input_ids.len();
    if cur_len + 1 < n {
        return Vec::new();
    }
    let mut ngrams: HashMap<&[u32], Vec<u32>> = HashMap::new();
    for window in input_ids.windows(n) {
        ngrams
            .entry(&window[..n - 1])
            .or_default()
            .push(window[n - 1]);
    }
    let prefix = &input_ids[cur_len + 1 - n..];
    ngrams.get(prefix).cloned().unwrap_or_default()
}

/// Nucleus filtering (`TopPLogitsWarper`): keeps the smallest set of most likely tokens whose
/// probabilities sum to more than `p`, at least one.
fn top_p_filter(scores: &mut [f32], p: f32) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Ascending, as HF sorts, so that the cumulative sum runs from the least likely.
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let sorted: Vec<f32> = order.iter().map(|&i| scores[i]).collect();
    let probs = softmax(&sorted);
    let mut cumulative = 0.0f32;
    let last = order.len() - 1;
    for (rank, &i) in order.iter().enumerate() {
        cumulative += probs[rank];
        if cumulative <= 1.0 - p && rank != last {
            scores[i] = f32::NEG_INFINITY;
        }
    }
}

/// `softmax` in f32 as torch computes it: shift by the max, exponentiate, normalise.
pub(crate) fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = x.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// `log_softmax` in f32: `x - max - log(sum(exp(x - max)))`.
pub(crate) fn log_softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = x.iter().map(|v| (v - max).exp()).sum();
    let log_sum = sum.ln();
    x.iter_mut().for_each(|v| *v = *v - max - log_sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_bans_the_continuation_of_a_seen_prefix() {
        // 1 2 3 ... 1 2 -> 3 would repeat the trigram 1 2 3.
        assert_eq!(banned_ngram_tokens(&[1, 2, 3, 4, 1, 2], 3), vec![3]);
        assert!(banned_ngram_tokens(&[1, 2], 3).is_empty());
    }

    #[test]
    fn top_p_keeps_the_nucleus() {
        let mut s = vec![0.0f32, 10.0, 9.0, -5.0];
        top_p_filter(&mut s, 0.5);
        assert!(s[1].is_finite() && s[2] == f32::NEG_INFINITY && s[0] == f32::NEG_INFINITY);
    }
}
