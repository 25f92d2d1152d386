//! Speech recognition with Whisper: audio -> log-mel features -> `generate()` -> text, as
//! `AutomaticSpeechRecognitionPipeline` does (its default generation settings, its
//! `_decode_asr` post-processing, its `{text}` / `{text, chunks}` output).

use std::collections::HashSet;

use burn::tensor::{Tensor, TensorData};
use burn_models::hub::{ModelDir, Weights};
use burn_models::whisper::{
    WhisperConfig, WhisperForConditionalGeneration, WhisperGenerateOptions, WhisperGenerationConfig,
};
use serde_json::{Map, Value};

use super::words::{AsrWord, WordGrouper, py_round2};
use super::{AsrChunk, AsrChunks, AsrOptions, AsrOutput, AudioInput, ReturnTimestamps};
use crate::error::{Result, TaskError};
use crate::processors::{TextTokenizer, WhisperFeatureExtractor, clean_up_tokenization};

/// A chunk's `(chunk_len, stride_left, stride_right)` in seconds.
type Stride = (f64, f64, f64);

/// One generate() call's output for `_decode_asr`: tokens, their times (word timestamps),
/// and the chunk's `(chunk_len, stride_left, stride_right)` when the audio was chunked.
type ModelOutput = (Vec<u32>, Option<Vec<f32>>, Option<Stride>);

pub(super) struct WhisperRecognizer {
    pub(super) model: WhisperForConditionalGeneration,
    generation: WhisperGenerationConfig,
    /// The generation options the checkpoint sets (non-null keys of its generation config):
    /// the pipeline's own defaults apply only to the others.
    checkpoint_generation_keys: HashSet<String>,
    features: WhisperFeatureExtractor,
    tokenizer: TextTokenizer,
    special_ids: HashSet<u32>,
    clean_up_spaces: bool,
    /// `tokenizer.language` (tokenizer_config.json), the default language of word grouping.
    tokenizer_language: Option<String>,
    device: burn::tensor::Device,
}

impl WhisperRecognizer {
    pub(super) fn load(dir: &ModelDir, device: burn::tensor::Device) -> Result<Self> {
        let config: WhisperConfig = dir.config()?;
        let weights = Weights::from_dir(dir)?;
        let model = WhisperForConditionalGeneration::load(&weights.root(&device), &config)?;
        let generation = WhisperGenerationConfig::from_dir(dir, &config)?;
        let checkpoint_generation_keys = generation_keys_set(dir)?;
        let features = WhisperFeatureExtractor::from_model_dir(dir)?;
        let tokenizer = TextTokenizer::from_model_dir(dir)?;
        let special_ids = tokenizer
            .inner()
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special)
            .map(|(id, _)| id)
            .collect();
        let tokenizer_config = super::super::optional_json(dir, "tokenizer_config.json")?;
        let clean_up_spaces = tokenizer_config
            .as_ref()
            .and_then(|c| {
                c.get("clean_up_tokenization_spaces")
                    .and_then(Value::as_bool)
            })
            .unwrap_or(false);
        let tokenizer_language = tokenizer_config
            .as_ref()
            .and_then(|c| c.get("language").and_then(Value::as_str))
            .map(str::to_string);
        Ok(Self {
            model,
            generation,
            checkpoint_generation_keys,
            features,
            tokenizer,
            special_ids,
            clean_up_spaces,
            tokenizer_language,
            device,
        })
    }

    pub(super) fn sampling_rate(&self) -> u32 {
        self.features.config.sampling_rate
    }

    pub(super) fn transcribe(
        &self,
        inputs: &[AudioInput],
        options: &AsrOptions,
    ) -> Result<Vec<AsrOutput>> {
        if options.return_timestamps == ReturnTimestamps::Chars {
            return Err(TaskError::option(
                "return_timestamps",
                "Whisper cannot return `char` timestamps, only word level or segment level \
                 timestamps. Use `return_timestamps='word'` or `return_timestamps=True` \
                 respectively.",
            ));
        }
        inputs
            .iter()
            .map(|input| self.transcribe_one(input, options))
            .collect()
    }

    fn transcribe_one(&self, input: &AudioInput, options: &AsrOptions) -> Result<AsrOutput> {
        let audio = input.load(self.sampling_rate())?;
        let (generate_options, generation) = self.generate_options(options)?;
        let words = options.return_timestamps == ReturnTimestamps::Words;
        // The samples of each generation with its stride: one range per chunk with
        // `chunk_length_s`, else all of the audio, decoded window after window when it is
        // longer than one (long-form). Features are extracted chunk by chunk as they are used.
        let len = audio.samples.len();
        let (segments, long_form) = match options.chunk_length_s.filter(|&c| c > 0.0) {
            Some(chunk_length_s) => (
                self.chunks(len, chunk_length_s, options)?
                    .into_iter()
                    .map(|(range, stride)| (range, Some(stride)))
                    .collect(),
                false,
            ),
            None => (vec![(0..len, None)], len > self.features.n_samples()),
        };
        let mut outputs = Vec::with_capacity(segments.len());
        for (range, stride) in segments {
            let samples = &audio.samples[range];
            let mel = if long_form {
                self.features.extract_long(samples)
            } else {
                self.features.extract(samples)
            };
            let num_frames = words.then(|| self.num_frames(samples.len()));
            let (tokens, times) = self.generate_tokens(
                mel,
                &generation,
                &generate_options,
                num_frames,
                options.return_language,
            )?;
            outputs.push((tokens, times, stride));
        }
        self.decode_asr(&outputs, options)
    }

    /// `chunk_iter`: sample ranges of `chunk_length_s` overlapping by the strides, each with its
    /// `(chunk_len, stride_left, stride_right)` in seconds.
    fn chunks(
        &self,
        len: usize,
        chunk_length_s: f64,
        options: &AsrOptions,
    ) -> Result<Vec<(std::ops::Range<usize>, Stride)>> {
        let rate = self.sampling_rate() as f64;
        let (left_s, right_s) = super::strides(options, chunk_length_s);
        let samples = |seconds: f64| (seconds * rate).round() as usize;
        let (chunk_len, stride_left, stride_right) =
            (samples(chunk_length_s), samples(left_s), samples(right_s));
        if chunk_len <= stride_left + stride_right {
            return Err(TaskError::option(
                "stride_length_s",
                "Chunk length must be superior to stride length",
            ));
        }
        let step = chunk_len - stride_left - stride_right;
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < len {
            let end = start + chunk_len;
            let is_last = end >= len;
            let this_len = end.min(len) - start;
            let left = if start == 0 { 0 } else { stride_left };
            let right = if is_last { 0 } else { stride_right };
            if this_len > left {
                chunks.push((
                    start..end.min(len),
                    (
                        this_len as f64 / rate,
                        left as f64 / rate,
                        right as f64 / rate,
                    ),
                ));
            }
            if is_last {
                break;
            }
            start += step;
        }
        Ok(chunks)
    }

    /// The feature frames of `samples` samples: the sum of the feature extractor's attention
    /// mask (one per hop, a window at most unless the audio is longer), HF's `num_frames`.
    fn num_frames(&self, samples: usize) -> usize {
        let hop = self.features.config.hop_length;
        let frames = samples.div_ceil(hop);
        if samples > self.features.n_samples() {
            frames
        } else {
            frames.min(self.features.n_samples().div_ceil(hop))
        }
    }

    /// Generated tokens (after the language token of the prompt with `return_language`), and
    /// their times when `num_frames` asks for word timestamps.
    fn generate_tokens(
        &self,
        mel: crate::processors::audio_features::LogMel,
        generation: &WhisperGenerationConfig,
        options: &WhisperGenerateOptions,
        num_frames: Option<usize>,
        return_language: bool,
    ) -> Result<(Vec<u32>, Option<Vec<f32>>)> {
        let features = Tensor::from_data(
            TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
            &self.device,
        );
        let out = match num_frames {
            Some(frames) => self.model.generate_with_token_timestamps(
                features,
                generation,
                options,
                Some(frames),
            )?,
            None => self.model.generate(features, generation, options)?,
        };
        // Like HF's generate: the tokens after the prompt.
        let mut tokens: Vec<u32> = out.tokens.iter().map(|&t| t as u32).collect();
        // transformers 5 puts the prompt's language token back in front for `return_language`
        // to read (4.x had none, so its chunks said `"language": null`). With word timestamps
        // 5.25 fails there (the token has no time), and we keep 4.x's output.
        if return_language && num_frames.is_none() {
            let language = generation.lang_to_id.as_ref().and_then(|map| {
                out.prompt
                    .iter()
                    .find(|&&t| map.values().any(|&id| id == t))
            });
            if let Some(&language) = language {
                tokens.insert(0, language as u32);
            }
        }
        Ok((tokens, out.segment_token_timestamps))
    }

    /// The per-call generation config: the pipeline's, updated by `generate_kwargs`.
    fn generate_options(
        &self,
        options: &AsrOptions,
    ) -> Result<(WhisperGenerateOptions, WhisperGenerationConfig)> {
        let mut generation = self.generation.clone();
        let mut call = WhisperGenerateOptions {
            return_timestamps: options.return_timestamps != ReturnTimestamps::None
                || generation.return_timestamps.unwrap_or(false),
            ..Default::default()
        };
        let mut shared = Map::new();
        for (key, value) in &options.generate_kwargs {
            let text = || {
                value.as_str().map(str::to_string).ok_or_else(|| {
                    TaskError::InvalidInput(format!("generate_kwargs.{key} must be a string"))
                })
            };
            match key.as_str() {
                "language" => call.language = if value.is_null() { None } else { Some(text()?) },
                "task" => call.task = Some(text()?),
                "return_timestamps" => {
                    call.return_timestamps = value.as_bool().ok_or_else(|| {
                        TaskError::InvalidInput("return_timestamps must be true or false".into())
                    })?
                }
                _ => {
                    shared.insert(key.clone(), value.clone());
                }
            }
        }
        generation.base.update(&shared)?;
        let set = |key: &str| {
            self.checkpoint_generation_keys.contains(key)
                || options
                    .generate_kwargs
                    .get(key)
                    .is_some_and(|value| !value.is_null())
        };
        pipeline_generation_defaults(&mut generation, set);
        Ok((call, generation))
    }

    /// `WhisperTokenizer._decode_asr`: each output's tokens (with their times for word
    /// timestamps) and its chunk's `(chunk_len, stride_left, stride_right)` in seconds when
    /// the audio was chunked.
    fn decode_asr(&self, outputs: &[ModelOutput], options: &AsrOptions) -> Result<AsrOutput> {
        let return_timestamps = options.return_timestamps != ReturnTimestamps::None;
        let words = options.return_timestamps == ReturnTimestamps::Words;
        let time_precision = self.features.config.chunk_length as f64
            / self.model.config().max_source_positions as f64;
        let timestamp_begin = self
            .tokenizer
            .inner()
            .token_to_id("<|notimestamps|>")
            .map_or(u32::MAX, |id| id + 1);
        let decode = |ids: &[u32]| self.decode(ids);
        let grouper = WordGrouper {
            decode: &decode,
            eos_token_id: self
                .tokenizer
                .inner()
                .token_to_id("<|endoftext|>")
                .unwrap_or(u32::MAX),
            default_language: self.tokenizer_language.clone(),
        };
        let segment_size = self.model.config().max_source_positions as f64;
        let mut chunks: Vec<AsrChunk> = Vec::new();
        let mut chunk_words: Vec<Vec<AsrWord>> = Vec::new();
        let mut last_language: Option<String> = None;
        let new_chunk = |language: &Option<String>| AsrChunk {
            language: Some(language.clone()),
            timestamp: Some((None, None)),
            text: String::new(),
        };
        let mut chunk = new_chunk(&last_language);
        let mut previous_tokens: Vec<Vec<u32>> = Vec::new();
        let mut previous_times: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut time_offset = 0.0;
        let mut skip = false;
        for (token_ids, token_times, stride) in outputs {
            if words && token_times.as_ref().map(Vec::len) != Some(token_ids.len()) {
                return Err(TaskError::InvalidInput(
                    "word timestamps need one time per generated token".into(),
                ));
            }
            let mut last_timestamp: Option<u32> = None;
            let mut first_timestamp = timestamp_begin as f64;
            if let Some((chunk_len, stride_left, stride_right)) = *stride {
                time_offset -= stride_left;
                let right_stride_start = chunk_len - stride_right;
                if stride_left != 0.0 {
                    first_timestamp = stride_left / time_precision + timestamp_begin as f64;
                }
                if stride_right != 0.0 {
                    for &token in token_ids.iter().rev() {
                        if token >= timestamp_begin {
                            if last_timestamp.is_some()
                                && ((token - timestamp_begin) as f64 * time_precision)
                                    < right_stride_start
                            {
                                break;
                            }
                            last_timestamp = Some(token);
                        }
                    }
                }
            }
            let mut cur_max_timestamp = 0.0;
            let mut prev_segments_len = 0.0;
            let mut penultimate_timestamp = 0.0;
            let mut current_tokens: Vec<u32> = Vec::new();
            let mut current_times: Vec<(f64, f64)> = Vec::new();
            for (i, &token) in token_ids.iter().enumerate() {
                if self.special_ids.contains(&token) {
                    let text = self
                        .tokenizer
                        .inner()
                        .id_to_token(token)
                        .unwrap_or_default();
                    let code = text.trim_start_matches("<|").trim_end_matches("|>");
                    if let Some(language) = language_name(code) {
                        if last_language.as_deref().is_some_and(|l| l != language)
                            && !return_timestamps
                        {
                            previous_tokens.push(std::mem::take(&mut current_tokens));
                            chunk.text = self.decode(&longest_common_sequence(&previous_tokens))?;
                            chunks.push(chunk);
                            chunk_words.push(Vec::new());
                            previous_tokens.clear();
                            chunk = new_chunk(&last_language);
                        }
                        chunk.language = Some(Some(language.to_string()));
                        last_language = Some(language.to_string());
                    }
                } else if token >= timestamp_begin {
                    let timestamp = (token - timestamp_begin) as f64 * time_precision;
                    if timestamp < cur_max_timestamp {
                        let last_was_single_ending = i >= 2
                            && !(token_ids[i - 1] >= timestamp_begin
                                && token_ids[i - 2] >= timestamp_begin);
                        if last_was_single_ending {
                            prev_segments_len += time_precision * segment_size;
                        } else {
                            cur_max_timestamp = penultimate_timestamp;
                            prev_segments_len += penultimate_timestamp;
                        }
                    }
                    penultimate_timestamp = cur_max_timestamp;
                    cur_max_timestamp = timestamp;
                    let time = round2(
                        (token - timestamp_begin) as f64 * time_precision
                            + time_offset
                            + prev_segments_len,
                    );
                    let stamp = chunk.timestamp.get_or_insert((None, None));
                    if last_timestamp.is_some_and(|last| last != 0 && token >= last) {
                        skip = true;
                    } else if skip
                        || (!previous_tokens.is_empty() && (token as f64) < first_timestamp)
                    {
                        skip = false;
                    } else if stamp.0.is_none() {
                        stamp.0 = Some(time);
                    } else if stamp.0 != Some(time) {
                        stamp.1 = Some(time);
                        previous_tokens.push(std::mem::take(&mut current_tokens));
                        let times = std::mem::take(&mut current_times);
                        if words {
                            previous_times.push(times);
                        }
                        let (resolved, resolved_times) =
                            longest_common_sequence_timed(&previous_tokens, &previous_times);
                        chunk.text = self.decode(&resolved)?;
                        chunk_words.push(if words {
                            grouper.collate(
                                &resolved,
                                &resolved_times,
                                last_language.as_deref(),
                                options.return_language,
                            )?
                        } else {
                            Vec::new()
                        });
                        chunks.push(chunk);
                        previous_tokens.clear();
                        previous_times.clear();
                        chunk = new_chunk(&last_language);
                    }
                } else {
                    current_tokens.push(token);
                    if let Some(times) = token_times.as_ref().filter(|_| words) {
                        // The token spans from the previous token's time to its own.
                        let start = if i == 0 { 0.0 } else { times[i - 1] as f64 };
                        current_times.push((
                            py_round2(start + time_offset),
                            py_round2(times[i] as f64 + time_offset),
                        ));
                    }
                }
            }
            if let Some((chunk_len, _, stride_right)) = *stride {
                time_offset += chunk_len - stride_right;
            }
            if !current_tokens.is_empty() {
                previous_tokens.push(current_tokens);
                if words {
                    previous_times.push(current_times);
                }
            } else if !previous_tokens.iter().any(|p| !p.is_empty()) {
                chunk = new_chunk(&last_language);
                previous_tokens.clear();
                previous_times.clear();
            }
        }
        if !previous_tokens.is_empty() {
            let (resolved, resolved_times) =
                longest_common_sequence_timed(&previous_tokens, &previous_times);
            chunk.text = self.decode(&resolved)?;
            chunk_words.push(if words {
                grouper.collate(
                    &resolved,
                    &resolved_times,
                    last_language.as_deref(),
                    options.return_language,
                )?
            } else {
                Vec::new()
            });
            chunks.push(chunk);
        }
        let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
        if words {
            let words = chunk_words.into_iter().flatten().collect();
            return Ok(AsrOutput {
                text,
                chunks: Some(AsrChunks::Words(words)),
            });
        }
        let chunks = (return_timestamps || options.return_language).then(|| {
            AsrChunks::Segments(
                chunks
                    .into_iter()
                    .map(|mut c| {
                        if !return_timestamps {
                            c.timestamp = None;
                        }
                        if !options.return_language {
                            c.language = None;
                        }
                        c
                    })
                    .collect(),
            )
        });
        Ok(AsrOutput { text, chunks })
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let text = self
            .tokenizer
            .inner()
            .decode(ids, false)
            .map_err(|e| TaskError::InvalidInput(format!("cannot decode tokens: {e}")))?;
        Ok(if self.clean_up_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }
}

/// `_prepare_generate_kwargs` of transformers 5.x: the pipeline's defaults (`num_beams=5`,
/// `max_new_tokens=256`) for the options neither the checkpoint's generation config nor the call
/// sets, and no `max_new_tokens` when `max_length` is set (Whisper's 448). transformers 4.x
/// applied `num_beams=5` whenever the value was 1, even one the checkpoint set.
fn pipeline_generation_defaults(
    generation: &mut WhisperGenerationConfig,
    set: impl Fn(&str) -> bool,
) {
    let base = &mut generation.base;
    if !set("num_beams") {
        base.num_beams = 5;
    }
    if !set("max_new_tokens") && !set("max_length") {
        base.max_new_tokens = Some(256);
    }
}

/// The keys with a value in the checkpoint's `generation_config.json` or, without one, in its
/// `config.json` (what `GenerationConfig.from_model_config` keeps): the options it sets.
fn generation_keys_set(dir: &ModelDir) -> Result<HashSet<String>> {
    let json = match dir.read_json("generation_config.json")? {
        Some(json) => json,
        None => dir.config_json()?,
    };
    Ok(json
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, _)| key.clone())
                .collect()
        })
        .unwrap_or_default())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `_find_longest_common_sequence`: merges the token lists of overlapping chunks.
fn longest_common_sequence(sequences: &[Vec<u32>]) -> Vec<u32> {
    longest_common_sequence_timed(sequences, &[]).0
}

/// `_find_longest_common_sequence(sequences, token_timestamp_sequences)`: with times (word
/// timestamps), a match also needs the left token's times not after the right one's, and the
/// times are cut where the tokens are.
fn longest_common_sequence_timed(
    sequences: &[Vec<u32>],
    times: &[Vec<(f64, f64)>],
) -> (Vec<u32>, Vec<(f64, f64)>) {
    let Some(first) = sequences.first() else {
        return (Vec::new(), Vec::new());
    };
    let timed = !times.is_empty();
    let mut left_sequence = first.clone();
    let mut left_length = left_sequence.len();
    let mut total: Vec<u32> = Vec::new();
    let mut left_times: Vec<(f64, f64)> = times.first().cloned().unwrap_or_default();
    let mut total_times: Vec<(f64, f64)> = Vec::new();
    for (seq_idx, right_sequence) in sequences[1..].iter().enumerate() {
        let mut max = 0.0f64;
        let mut max_indices = (left_length, left_length, 0usize, 0usize);
        let right_length = right_sequence.len();
        for i in 1..left_length + right_length {
            let eps = i as f64 / 10000.0;
            let left_start = left_length.saturating_sub(i);
            let left_stop = (left_length + right_length)
                .saturating_sub(i)
                .min(left_length);
            let right_start = i.saturating_sub(left_length);
            let right_stop = i.min(right_length);
            let left = &left_sequence[left_start..left_stop];
            let right = &right_sequence[right_start..right_stop];
            if left.len() != right.len() {
                // HF raises here; it cannot happen with these bounds.
                continue;
            }
            let matches = if timed {
                let right_times = &times[seq_idx + 1];
                (0..left.len())
                    .filter(|&k| {
                        left[k] == right[k]
                            && left_times[left_start + k] <= right_times[right_start + k]
                    })
                    .count()
            } else {
                left.iter().zip(right).filter(|(a, b)| a == b).count()
            };
            let matching = matches as f64 / i as f64 + eps;
            if matches > 1 && matching > max {
                max = matching;
                max_indices = (left_start, left_stop, right_start, right_stop);
            }
        }
        let (left_start, left_stop, right_start, right_stop) = max_indices;
        let left_mid = (left_stop + left_start) / 2;
        let right_mid = (right_stop + right_start) / 2;
        total.extend_from_slice(&left_sequence[..left_mid]);
        left_sequence = right_sequence[right_mid..].to_vec();
        left_length = left_sequence.len();
        if timed {
            total_times.extend_from_slice(&left_times[..left_mid]);
            left_times = times[seq_idx + 1][right_mid..].to_vec();
        }
    }
    total.extend_from_slice(&left_sequence);
    total_times.extend_from_slice(&left_times);
    (total, total_times)
}

/// Whisper's `LANGUAGES[code]`: the language name of a language token's code.
fn language_name(code: &str) -> Option<&'static str> {
    // TO_LANGUAGE_CODE lists the canonical name first for every code.
    burn_models::whisper::TO_LANGUAGE_CODE
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(name, _)| *name)
}
