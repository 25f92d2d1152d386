//! `WhisperTimeStampLogitsProcessor`: the rules timestamp tokens follow while decoding.

use super::WhisperGenerationConfig;
use crate::generation::LogitsProcessor;

/// `WhisperTimeStampLogitsProcessor`: timestamps come in pairs, never decrease, start the
/// text (within `max_initial_timestamp_index`), and win when together likelier than any text
/// token.
#[derive(Debug, Clone)]
pub struct TimestampRules {
    no_timestamps_token_id: usize,
    timestamp_begin: usize,
    eos_token_id: usize,
    max_initial_timestamp_index: Option<usize>,
    begin_index: usize,
}

impl LogitsProcessor for TimestampRules {
    fn process(&self, input_ids: &[u32], scores: &mut [f32]) {
        let sequence: Vec<usize> = input_ids.iter().map(|&t| t as usize).collect();
        self.apply(&sequence, scores);
    }
}

impl TimestampRules {
    /// `None` when the generation config has no `no_timestamps_token_id`.
    pub fn new(
        generation: &WhisperGenerationConfig,
        begin_index: usize,
        vocab_size: usize,
    ) -> Option<Self> {
        let no_timestamps = generation.no_timestamps_token_id?;
        Some(Self {
            no_timestamps_token_id: no_timestamps,
            timestamp_begin: generation.timestamp_begin(vocab_size),
            eos_token_id: generation
                .eos_token_ids()
                .first()
                .copied()
                .unwrap_or(no_timestamps),
            max_initial_timestamp_index: generation.max_initial_timestamp_index,
            begin_index,
        })
    }

    /// `WhisperTimeStampLogitsProcessor.__call__` for one row: `sequence` is every token so far,
    /// prompt included.
    pub fn apply(&self, sequence: &[usize], logits: &mut [f32]) {
        let sampled = &sequence[self.begin_index.min(sequence.len())..];
        let at_begin = sequence.len() == self.begin_index;
        let begin = self.timestamp_begin.min(logits.len());
        let fill = |logits: &mut [f32], range: std::ops::Range<usize>| {
            for l in &mut logits[range] {
                *l = f32::NEG_INFINITY;
            }
        };
        if let Some(l) = logits.get_mut(self.no_timestamps_token_id) {
            *l = f32::NEG_INFINITY;
        }
        let is_ts = |t: usize| t >= self.timestamp_begin;
        let last_was = sampled.last().is_some_and(|&t| is_ts(t));
        let penultimate_was = sampled.len() < 2 || is_ts(sampled[sampled.len() - 2]);
        if last_was {
            if penultimate_was {
                fill(logits, begin..logits.len());
            } else {
                fill(logits, 0..self.eos_token_id.min(logits.len()));
            }
        }
        if let Some(&last_ts) = sampled.iter().rev().find(|&&t| is_ts(t)) {
            let last = if last_was && !penultimate_was {
                last_ts
            } else {
                last_ts + 1
            };
            fill(logits, begin..last.min(logits.len()));
        }
        if at_begin {
            fill(logits, 0..begin);
            if let Some(index) = self.max_initial_timestamp_index {
                let last_allowed = self.timestamp_begin + index;
                fill(logits, (last_allowed + 1).min(logits.len())..logits.len());
            }
        }
        // If the timestamps together are likelier than any single text token, force one.
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max.is_finite() {
            let log_sum = max
                + logits
                    .iter()
                    .map(|&l| ((l - max) as f64).exp())
                    .sum::<f64>()
                    .ln() as f32;
            let logprob = |l: f32| l - log_sum;
            let ts_max = logits[begin..]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            let ts_logsumexp = if ts_max.is_finite() {
                ts_max
                    + logits[begin..]
                        .iter()
                        .map(|&l| ((l - ts_max) as f64).exp())
                        .sum::<f64>()
                        .ln() as f32
            } else {
                f32::NEG_INFINITY
            };
            let text_max = logits[..begin]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            if logprob(ts_logsumexp) > logprob(text_max) {
                fill(logits, 0..begin);
            }
        }
    }
}
