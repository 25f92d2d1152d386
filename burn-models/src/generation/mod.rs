//! Text generation for encoder-decoder models, with transformers' semantics: greedy search,
//! sampling and beam search, the logits processors of `generate()`, and the checkpoint's
//! [`GenerationConfig`]. One implementation serves BART, Marian, T5 and Whisper.
//!
//! # How a model plugs in
//!
//! A model implements [`Seq2SeqLm`]: it runs its encoder itself (token ids for text models,
//! log-mel features for Whisper) and hands the encoder output to [`generate`]. Generation then
//! calls [`Seq2SeqLm::decode`] once per step with only the newest token of each row (the
//! whole decoder prompt on the first step) and a [`DecoderCache`] that holds the decoder's
//! self-attention keys/values and the cross-attention keys/values of the encoder output. Beam
//! search reorders the cache itself ([`DecoderCache::reorder_beams`]); models never see beams.
//!
//! ```ignore
//! let encoder_hidden = model.encode(&input_ids, Some(&attention_mask))?;
//! let config = GenerationConfig::from_model_dir(dir)?;
//! let prompt = decoder_start_prompt(&config, batch)?;          // [[decoder_start_token_id]]
//! let ids = generate(&model, encoder_hidden, Some(attention_mask), &prompt, &config)?;
//! ```
//!
//! With `use_cache: false` every step re-runs the decoder over the whole sequence with a
//! fresh cache: slower, and the reference the cached path is tested against.

mod config;
mod processors;

use crate::host::HostRead;
use burn::tensor::{Int, Tensor, TensorData};

pub use config::{EarlyStopping, GenerationConfig};
pub use processors::{LogitsProcessor, LogitsProcessors};

use crate::error::{ModelError, Result};
use crate::nn::DecoderCache;
use processors::{log_softmax, softmax};

/// An encoder-decoder model with a language-modelling head, seen one decoder step at a time.
///
/// Object safe: pipelines hold a `Box<dyn Seq2SeqLm>`.
pub trait Seq2SeqLm {
    /// Decoder layers, i.e. slots of the [`DecoderCache`].
    fn num_decoder_layers(&self) -> usize;

    /// Runs the decoder over `decoder_input_ids` `[batch, new]`, the tokens that follow the
    /// `cache.past_len()` already in `cache`, appends their keys/values to `cache` (and
    /// advances it), and returns the LM logits of the new positions `[batch, new, vocab]`.
    fn decode(
        &self,
        decoder_input_ids: Tensor<2, Int>,
        cache: &mut DecoderCache,
    ) -> Result<Tensor<3>>;

    /// `max_position_embeddings` of the decoder, if it has one: HF caps its default length.
    fn max_decoder_positions(&self) -> Option<usize> {
        None
    }
}

/// `[[decoder_start_token_id]]` for each of `batch` rows: the decoder prompt of BART, Marian
/// and T5 (`decoder_start_token_id`, falling back to `bos_token_id` as HF does).
pub fn decoder_start_prompt(config: &GenerationConfig, batch: usize) -> Result<Vec<Vec<u32>>> {
    let start = config
        .decoder_start_token_id
        .as_ref()
        .and_then(|ids| ids.first().copied())
        .or(config.bos_token_id)
        .ok_or_else(|| {
            ModelError::InvalidInput(
                "the generation config has neither decoder_start_token_id nor bos_token_id".into(),
            )
        })?;
    Ok(vec![vec![start]; batch])
}

/// The lengths HF derives for a call (`_prepare_generated_length`): `(max_length, min_length)`
/// in tokens, decoder prompt included.
pub fn resolved_lengths(
    config: &GenerationConfig,
    prompt_len: usize,
    max_positions: Option<usize>,
) -> (usize, usize) {
    let max_length = match config.max_new_tokens {
        Some(new) => new + prompt_len,
        None if !config.explicit_max_length && config.max_length == 20 => {
            let len = 20 + prompt_len;
            max_positions.map_or(len, |p| len.min(p))
        }
        None => config.max_length,
    };
    let min_length = match config.min_new_tokens {
        Some(new) => new + prompt_len,
        None => config.min_length,
    };
    (max_length, min_length)
}

/// Generates from an encoded batch. `encoder_hidden` is `[batch, src, dim]`,
/// `encoder_attention_mask` its `[batch, src]` padding mask (1 = token), `decoder_prompt` one
/// row of equal length per batch item (usually [`decoder_start_prompt`]).
///
/// Returns `batch * num_return_sequences` rows of token ids, decoder prompt included, padded
/// to one length with the pad token, exactly as `model.generate(...)` returns them.
pub fn generate<M: Seq2SeqLm + ?Sized>(
    model: &M,
    encoder_hidden: Tensor<3>,
    encoder_attention_mask: Option<Tensor<2, Int>>,
    decoder_prompt: &[Vec<u32>],
    config: &GenerationConfig,
) -> Result<Vec<Vec<u32>>> {
    generate_with(
        model,
        encoder_hidden,
        encoder_attention_mask,
        decoder_prompt,
        config,
        &[],
    )
}

/// [`generate`] with a model's own logits processors, applied after the built-in ones and
/// before the sampling warpers (HF's `generate(logits_processor=...)`).
pub fn generate_with<M: Seq2SeqLm + ?Sized>(
    model: &M,
    encoder_hidden: Tensor<3>,
    encoder_attention_mask: Option<Tensor<2, Int>>,
    decoder_prompt: &[Vec<u32>],
    config: &GenerationConfig,
    extra: &[&dyn LogitsProcessor],
) -> Result<Vec<Vec<u32>>> {
    config.validate()?;
    let batch = encoder_hidden.dims()[0];
    if decoder_prompt.len() != batch {
        return Err(ModelError::InvalidInput(format!(
            "{} decoder prompts for a batch of {batch}",
            decoder_prompt.len()
        )));
    }
    let prompt_len = decoder_prompt[0].len();
    if prompt_len == 0 || decoder_prompt.iter().any(|p| p.len() != prompt_len) {
        return Err(ModelError::InvalidInput(
            "decoder prompts must be non-empty and of one length".into(),
        ));
    }
    let (max_length, min_length) =
        resolved_lengths(config, prompt_len, model.max_decoder_positions());
    let mut resolved = config.clone();
    resolved.min_length = min_length;
    resolved.min_new_tokens = None;
    let processors = Processing {
        builtin: LogitsProcessors::new(&resolved, prompt_len, max_length),
        extra,
    };
    let mut pad = config.pad_token_id;
    if pad.is_none() {
        // HF: "Setting `pad_token_id` to `eos_token_id`".
        pad = config
            .eos_token_id
            .as_ref()
            .and_then(|e| e.first().copied());
    }
    let copies = if config.num_beams > 1 {
        config.num_beams
    } else {
        config.num_return_sequences
    };
    let mut decoder = Decoder::new(
        model,
        encoder_hidden,
        encoder_attention_mask,
        copies,
        config.use_cache,
    );
    if config.num_beams > 1 {
        beam_search(
            &mut decoder,
            decoder_prompt,
            config,
            &processors,
            max_length,
            pad,
        )
    } else {
        let rows: Vec<Vec<u32>> = decoder_prompt
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.clone(), copies))
            .collect();
        sample(&mut decoder, rows, config, &processors, max_length, pad)
    }
}

/// The built-in processors and the caller's.
struct Processing<'a> {
    builtin: LogitsProcessors,
    extra: &'a [&'a dyn LogitsProcessor],
}

impl Processing<'_> {
    fn process(&self, input_ids: &[u32], scores: &mut [f32]) {
        self.builtin.process(input_ids, scores, self.extra);
    }
}

/// Runs decoder steps for [`generate`], with or without the cache.
struct Decoder<'m, M: ?Sized> {
    model: &'m M,
    cache: DecoderCache,
    /// Without a cache: the encoder side and the rows per input, to build a fresh cache every
    /// step.
    fresh: Option<(Tensor<3>, Option<Tensor<2, Int>>, usize)>,
    started: bool,
}

impl<'m, M: Seq2SeqLm + ?Sized> Decoder<'m, M> {
    fn new(
        model: &'m M,
        encoder_hidden: Tensor<3>,
        mask: Option<Tensor<2, Int>>,
        copies: usize,
        use_cache: bool,
    ) -> Self {
        let layers = model.num_decoder_layers();
        let fresh = (!use_cache).then(|| (encoder_hidden.clone(), mask.clone(), copies));
        let mut cache = DecoderCache::new(layers, encoder_hidden, mask.as_ref());
        cache.repeat_interleave(copies);
        Self {
            model,
            cache,
            fresh,
            started: false,
        }
    }

    /// Logits `[rows][vocab]` (flattened) of the next token of every row of `sequences`.
    fn next_logits(&mut self, sequences: &[Vec<u32>], cur_len: usize) -> Result<(Vec<f32>, usize)> {
        let device = self.cache.encoder_hidden().device();
        let (from, cache) = match &self.fresh {
            Some((hidden, mask, copies)) => {
                self.cache = DecoderCache::new(
                    self.model.num_decoder_layers(),
                    hidden.clone(),
                    mask.as_ref(),
                );
                self.cache.repeat_interleave(*copies);
                (0, &mut self.cache)
            }
            None if !self.started => (0, &mut self.cache),
            None => (cur_len - 1, &mut self.cache),
        };
        self.started = true;
        let rows = sequences.len();
        let new = cur_len - from;
        let ids: Vec<i64> = sequences
            .iter()
            .flat_map(|s| s[from..cur_len].iter().map(|&t| t as i64))
            .collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, new]), &device);
        let logits = self.model.decode(ids, cache)?;
        let [_, len, vocab] = logits.dims();
        let last = logits
            .slice([0..rows, len - 1..len])
            .reshape([rows * vocab]);
        let values = last
            .into_host_data()
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::InvalidInput(format!("reading logits: {e:?}")))?;
        Ok((values, vocab))
    }
}

/// Greedy search, or multinomial sampling with `do_sample` (HF's `_sample`).
fn sample<M: Seq2SeqLm + ?Sized>(
    decoder: &mut Decoder<'_, M>,
    mut rows: Vec<Vec<u32>>,
    config: &GenerationConfig,
    processors: &Processing<'_>,
    max_length: usize,
    pad: Option<u32>,
) -> Result<Vec<Vec<u32>>> {
    let eos = config.eos_token_id.clone().unwrap_or_default();
    let mut rng = SplitMix64::new(config.seed.unwrap_or(0));
    let mut unfinished = vec![true; rows.len()];
    let mut cur_len = rows[0].len();
    loop {
        let (logits, vocab) = decoder.next_logits(&rows, cur_len)?;
        for (r, row) in rows.iter_mut().enumerate() {
            let scores = &mut logits[r * vocab..(r + 1) * vocab].to_vec();
            processors.process(row, scores);
            let mut next = if config.do_sample {
                rng.categorical(&softmax(scores)) as u32
            } else {
                argmax(scores) as u32
            };
            if !eos.is_empty() && !unfinished[r] {
                next = pad.unwrap_or(eos[0]);
            }
            row.push(next);
        }
        cur_len += 1;
        for (r, row) in rows.iter().enumerate() {
            let last = *row.last().expect("non-empty");
            if cur_len >= max_length || eos.contains(&last) {
                unfinished[r] = false;
            }
        }
        if unfinished.iter().all(|u| !u) {
            return Ok(rows);
        }
    }
}

/// Index of the first maximum, as `torch.argmax`.
fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// Indices of the `k` largest values, largest first; ties go to the lower index (the order of
/// `torch.topk` on the flattened scores). One pass keeping the best `k` so far: beam search asks
/// for a few of 50,000+ scores per row.
fn top_k(x: &[f32], k: usize) -> Vec<usize> {
    use std::cmp::Ordering;
    let k = k.min(x.len());
    let mut best: Vec<usize> = Vec::with_capacity(k + 1);
    if k == 0 {
        return best;
    }
    for (i, &v) in x.iter().enumerate() {
        // A later index ranks after an equal score: only a strictly larger one gets in.
        if best.len() == k && v.total_cmp(&x[best[k - 1]]) != Ordering::Greater {
            continue;
        }
        let at = best.partition_point(|&j| x[j].total_cmp(&v) != Ordering::Less);
        best.insert(at, i);
        best.truncate(k);
    }
    best
}

/// Beam search state of one batch item, as the tensors of HF's `_beam_search`.
struct Beams {
    running: Vec<Vec<u32>>,
    running_scores: Vec<f32>,
    finished: Vec<Vec<u32>>,
    finished_scores: Vec<f32>,
    finished_lens: Vec<usize>,
    is_finished: Vec<bool>,
    improvable: bool,
}

/// HF's (vectorised, 4.5x) beam search, step for step, so that ties and early stopping
/// resolve the same way.
fn beam_search<M: Seq2SeqLm + ?Sized>(
    decoder: &mut Decoder<'_, M>,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    processors: &Processing<'_>,
    max_length: usize,
    pad: Option<u32>,
) -> Result<Vec<Vec<u32>>> {
    let nb = config.num_beams;
    let eos = config.eos_token_id.clone().unwrap_or_default();
    let beams_to_keep = 2.max(1 + eos.len()) * nb;
    let prompt_len = prompts[0].len();
    let lp = config.length_penalty as f64;
    let early = config.early_stopping;
    // `pad_token_id or eos_token_id[0]`: a pad id of 0 is falsy in Python.
    let fill = match (pad, eos.first()) {
        (Some(p), _) if p != 0 => p,
        (_, Some(&e)) => e,
        (p, None) => p.unwrap_or(0),
    };
    let mut state: Vec<Beams> = prompts
        .iter()
        .map(|p| {
            let mut seq = vec![fill; max_length.max(prompt_len + 1)];
            seq[..prompt_len].copy_from_slice(p);
            Beams {
                running: vec![seq.clone(); nb],
                running_scores: (0..nb).map(|i| if i == 0 { 0.0 } else { -1e9 }).collect(),
                finished: vec![seq; nb],
                finished_scores: vec![-1e9; nb],
                finished_lens: vec![0; nb],
                is_finished: vec![false; nb],
                improvable: true,
            }
        })
        .collect();
    let mut cur_len = prompt_len;
    loop {
        let flat: Vec<Vec<u32>> = state
            .iter()
            .flat_map(|b| b.running.iter().map(|s| s[..cur_len].to_vec()))
            .collect();
        let (mut logits, vocab) = decoder.next_logits(&flat, cur_len)?;
        let mut reorder = Vec::with_capacity(flat.len());
        let mut all_hit = true;
        for (b, beams) in state.iter_mut().enumerate() {
            // b. log-probs, processed, plus the running beam scores.
            let rows = &mut logits[b * nb * vocab..(b + 1) * nb * vocab];
            for (i, row) in rows.chunks_exact_mut(vocab).enumerate() {
                log_softmax(row);
                processors.process(&flat[b * nb + i], row);
                let score = beams.running_scores[i];
                row.iter_mut().for_each(|v| *v += score);
            }
            // c. the top K continuations over all beams: each is among the top K of its row.
            let acc: &[f32] = rows;
            let mut candidates: Vec<usize> = (0..nb)
                .flat_map(|i| {
                    top_k(&acc[i * vocab..(i + 1) * vocab], beams_to_keep)
                        .into_iter()
                        .map(move |j| i * vocab + j)
                })
                .collect();
            candidates.sort_by(|&a, &b| acc[b].total_cmp(&acc[a]).then(a.cmp(&b)));
            candidates.truncate(beams_to_keep);
            let top = candidates;
            let top_scores: Vec<f32> = top.iter().map(|&i| acc[i]).collect();
            let top_beam: Vec<usize> = top.iter().map(|&i| i / vocab).collect();
            let top_seqs: Vec<Vec<u32>> = top
                .iter()
                .map(|&i| {
                    let mut s = beams.running[i / vocab].clone();
                    s[cur_len] = (i % vocab) as u32;
                    s
                })
                .collect();
            // d. which of them hit a stopping criterion (max length or an EOS token).
            let hits: Vec<bool> = top_seqs
                .iter()
                .map(|s| cur_len + 1 >= max_length || eos.contains(&s[cur_len]))
                .collect();
            all_hit &= hits.iter().all(|&h| h);
            // e. the best unfinished continuations keep running.
            let running_scores: Vec<f32> = top_scores
                .iter()
                .zip(&hits)
                .map(|(s, &h)| s + if h { -1.0e9 } else { -0.0 })
                .collect();
            let next = top_k(&running_scores, nb);
            beams.running = next.iter().map(|&k| top_seqs[k].clone()).collect();
            beams.running_scores = next.iter().map(|&k| running_scores[k]).collect();
            reorder.extend(next.iter().map(|&k| b * nb + top_beam[k]));
            // f. finished hypotheses that beat the kept ones replace them.
            let penalty = ((cur_len + 1 - prompt_len) as f64).powf(lp) as f32;
            let full = early == EarlyStopping::True && beams.is_finished.iter().all(|&f| f);
            let candidate_scores: Vec<f32> = top_scores
                .iter()
                .enumerate()
                .map(|(k, &s)| {
                    let did = hits[k] && k < nb;
                    let mut s = s / penalty;
                    s += if full { -1.0e9 } else { 0.0 };
                    s += if beams.improvable { 0.0 } else { -1.0e9 };
                    s += if did { -0.0 } else { -1.0e9 };
                    s
                })
                .collect();
            let merged_scores: Vec<f32> = beams
                .finished_scores
                .iter()
                .chain(&candidate_scores)
                .copied()
                .collect();
            let keep = top_k(&merged_scores, nb);
            let gen_len = cur_len + 1 - prompt_len;
            let pick = |k: usize| -> (Vec<u32>, f32, usize, bool) {
                if k < nb {
                    (
                        beams.finished[k].clone(),
                        beams.finished_scores[k],
                        beams.finished_lens[k],
                        beams.is_finished[k],
                    )
                } else {
                    let c = k - nb;
                    (
                        top_seqs[c].clone(),
                        candidate_scores[c],
                        gen_len,
                        hits[c] && c < nb,
                    )
                }
            };
            let picked: Vec<_> = keep.iter().map(|&k| pick(k)).collect();
            beams.finished = picked.iter().map(|p| p.0.clone()).collect();
            beams.finished_scores = picked.iter().map(|p| p.1).collect();
            beams.finished_lens = picked.iter().map(|p| p.2).collect();
            beams.is_finished = picked.iter().map(|p| p.3).collect();
        }
        decoder.cache.reorder_beams(&reorder);
        cur_len += 1;
        // g. can any batch item still improve?
        for beams in &mut state {
            let best_len = if early == EarlyStopping::Never && lp > 0.0 {
                max_length - prompt_len
            } else {
                cur_len - prompt_len
            };
            let best_possible = beams.running_scores[0] / (best_len as f64).powf(lp) as f32;
            let worst = beams
                .finished_scores
                .iter()
                .copied()
                .fold(f32::INFINITY, f32::min);
            let beats_a_slot = beams
                .is_finished
                .iter()
                .any(|&f| best_possible > if f { worst } else { -1.0e9 });
            beams.improvable &= beats_a_slot;
        }
        let improvement_possible = state.iter().any(|b| b.improvable);
        let all_finished = state.iter().all(|b| b.is_finished.iter().all(|&f| f));
        let open = !(all_finished && early == EarlyStopping::True);
        if !(improvement_possible && open && !all_hit) {
            break;
        }
    }
    let nrs = config.num_return_sequences;
    let longest = state
        .iter()
        .flat_map(|b| b.finished_lens[..nrs].iter().copied())
        .max()
        .unwrap_or(0);
    Ok(state
        .iter()
        .flat_map(|b| {
            b.finished[..nrs]
                .iter()
                .map(|s| s[..prompt_len + longest].to_vec())
        })
        .collect())
}

/// A small deterministic generator for `do_sample` (torch's generator cannot be reproduced;
/// a fixed `seed` still gives reproducible samples).
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index drawn with the given probabilities.
    fn categorical(&mut self, probs: &[f32]) -> usize {
        let u = self.next_f64() * probs.iter().map(|&p| p as f64).sum::<f64>();
        let mut acc = 0.0;
        let mut last_positive = 0;
        for (i, &p) in probs.iter().enumerate() {
            if p > 0.0 {
                last_positive = i;
                acc += p as f64;
                if u < acc {
                    return i;
                }
            }
        }
        last_positive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_breaks_ties_by_index() {
        assert_eq!(top_k(&[1.0, 3.0, 3.0, 2.0], 3), vec![1, 2, 3]);
        assert_eq!(top_k(&[2.0, 3.0, 3.0, 3.0], 2), vec![1, 2]);
        assert_eq!(top_k(&[1.0, 2.0], 5), vec![1, 0]);
        assert!(top_k(&[1.0], 0).is_empty());
        // The order of a full sort by (score descending, index ascending).
        let x: Vec<f32> = (0..500).map(|i| ((i * 7919) % 37) as f32 * 0.5).collect();
        let mut sorted: Vec<usize> = (0..x.len()).collect();
        sorted.sort_by(|&a, &b| x[b].total_cmp(&x[a]).then(a.cmp(&b)));
        for k in [1, 3, 10, 40] {
            assert_eq!(top_k(&x, k), sorted[..k]);
        }
    }

    #[test]
    fn default_length_is_twenty_new_tokens_capped_by_positions() {
        let c = GenerationConfig::default();
        assert_eq!(resolved_lengths(&c, 1, None), (21, 0));
        assert_eq!(resolved_lengths(&c, 1, Some(16)), (16, 0));
        let c = c.with_max_length(20);
        assert_eq!(resolved_lengths(&c, 1, Some(16)), (20, 0));
    }

    #[test]
    fn config_reads_hf_names() {
        let c: GenerationConfig = serde_json::from_str(
            r#"{"eos_token_id": 2, "decoder_start_token_id": 2, "early_stopping": "never",
                "num_beams": 4, "forced_eos_token_id": [2], "lang_to_id": {"<|en|>": 5}}"#,
        )
        .unwrap();
        assert_eq!(c.eos_token_id, Some(vec![2]));
        assert_eq!(c.early_stopping, EarlyStopping::Never);
        assert_eq!(c.num_beams, 4);
        assert!(c.extra.contains_key("lang_to_id"));
        assert_eq!(decoder_start_prompt(&c, 2).unwrap(), vec![vec![2], vec![2]]);
    }
}
