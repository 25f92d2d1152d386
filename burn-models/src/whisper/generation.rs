//! Whisper's generation as `WhisperForConditionalGeneration.generate` does it for one 30-second
//! window: the decoder prompt (start, language, task, no-timestamps), language detection, the
//! suppress-token rules, and greedy decoding with the key/value cache.

use crate::host::HostRead;
use burn::tensor::{Int, Tensor, TensorData};

use super::{
    TOKEN_TIME_PRECISION, TimestampRules, TokenTimestampOptions, WhisperForConditionalGeneration,
    WhisperGenerationConfig, language_to_id, no_alignment_heads,
};
use crate::error::{ModelError, Result};
use crate::generation::{GenerationConfig, generate, generate_with};
use crate::nn::DecoderCache;

/// What `generate(..., language=, task=, return_timestamps=, max_new_tokens=)` takes.
#[derive(Debug, Clone, Default)]
pub struct WhisperGenerateOptions {
    /// A code (`en`), a token (`<|en|>`) or a name (`english`); `None` detects the language
    /// (multilingual models) or uses the config's forced ids.
    pub language: Option<String>,
    /// `transcribe` or `translate`.
    pub task: Option<String>,
    /// Predict timestamp tokens (segment times) instead of `<|notimestamps|>`.
    pub return_timestamps: bool,
    /// `max_new_tokens` per window (prompt plus new tokens must fit `max_target_positions`);
    /// unset: the generation config's, else derived from its `max_length`.
    pub max_new_tokens: Option<usize>,
    /// Beam search width; `None` keeps the generation config's.
    pub num_beams: Option<usize>,
    /// Run every step over the whole prefix instead of the key/value cache (slow; for tests).
    pub no_cache: bool,
}

/// Generated ids of one window, without the prompt and without the final end-of-text.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperGeneration {
    /// The decoder prompt: start of transcript, language, task and timestamp tokens.
    pub prompt: Vec<usize>,
    /// The generated ids.
    pub tokens: Vec<usize>,
    /// One time in seconds per token of `tokens` (`return_token_timestamps=True`), from the
    /// alignment heads, as `generate()` returns them: from the start of the window (of
    /// sequential decoding) that produced the token. `None` unless asked for.
    pub token_timestamps: Option<Vec<f32>>,
    /// The same times from the start of the audio (`segments[..]["token_timestamps"]`, what
    /// the ASR pipeline reads).
    pub segment_token_timestamps: Option<Vec<f32>>,
}

fn invalid(message: impl Into<String>) -> ModelError {
    ModelError::InvalidInput(message.into())
}

impl WhisperForConditionalGeneration {
    /// `detect_language`: the language token whose logit after `<|startoftranscript|>` is
    /// highest.
    pub fn detect_language(
        &self,
        encoder_states: &Tensor<3>,
        generation: &WhisperGenerationConfig,
    ) -> Result<usize> {
        let lang_to_id = generation.lang_to_id.as_ref().ok_or_else(|| {
            invalid("the generation config has no lang_to_id: cannot detect the language")
        })?;
        let start = generation
            .decoder_start_token_id
            .unwrap_or(self.config.decoder_start_token_id);
        let mut cache = self.new_cache(encoder_states);
        let logits = self.step_logits(&[start], &mut cache)?;
        lang_to_id
            .values()
            .copied()
            .filter(|&id| id < logits.len())
            // Lowest id among equal logits, as argmax over the masked vocabulary.
            .fold(None, |best: Option<usize>, id| match best {
                Some(b) if logits[b] >= logits[id] && (logits[b] > logits[id] || b < id) => Some(b),
                _ => Some(id),
            })
            .ok_or_else(|| invalid("lang_to_id holds no id inside the vocabulary"))
    }

    /// The decoder prompt, as `_retrieve_init_tokens` builds it.
    pub fn init_tokens(
        &self,
        encoder_states: &Tensor<3>,
        generation: &WhisperGenerationConfig,
        options: &WhisperGenerateOptions,
    ) -> Result<Vec<usize>> {
        let language = options.language.clone().or(generation.language.clone());
        let task = options.task.clone().or(generation.task.clone());
        if generation.is_multilingual == Some(false) && (language.is_some() || task.is_some()) {
            return Err(invalid(
                "Cannot specify `task` or `language` for an English-only model.",
            ));
        }
        let start = generation
            .decoder_start_token_id
            .unwrap_or(self.config.decoder_start_token_id);
        let mut init: Vec<Option<usize>> = vec![Some(start)];
        if task.is_none() && language.is_none() {
            // The deprecated `forced_decoder_ids` (positions 1, 2, ...) when neither is set.
            if let Some(forced) = &generation.forced_decoder_ids {
                for (expected, &(position, id)) in (1..).zip(forced) {
                    if position != expected {
                        return Err(invalid(format!(
                            "forced_decoder_ids {forced:?} do not follow Whisper's prompt pattern"
                        )));
                    }
                    init.push(id);
                }
            }
        }
        let lang_undefined = init.len() <= 1 || init[1].is_none();
        let lang_id = match (&language, &generation.lang_to_id) {
            (Some(language), Some(map)) => Some(language_to_id(language, map)?),
            (Some(_), None) => {
                return Err(invalid(
                    "The generation config is outdated and is thus not compatible with the \
                     `language` argument (no lang_to_id)",
                ));
            }
            (None, Some(_)) if lang_undefined => {
                Some(self.detect_language(encoder_states, generation)?)
            }
            _ => None,
        };
        if let Some(lang_id) = lang_id {
            if init.len() > 1 {
                init[1] = Some(lang_id);
            } else {
                init.push(Some(lang_id));
            }
        }
        let task_ids: Vec<usize> = generation
            .task_to_id
            .as_ref()
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        if let Some(task) = &task {
            let task_to_id = generation.task_to_id.as_ref().ok_or_else(|| {
                invalid("The generation config is outdated: no task_to_id for the `task` argument")
            })?;
            let id = *task_to_id
                .get(task.as_str())
                .filter(|_| ["translate", "transcribe"].contains(&task.as_str()))
                .ok_or_else(|| {
                    invalid(format!(
                        "The `{task}` task is not supported. The task should be one of `['translate', 'transcribe']`"
                    ))
                })?;
            // HF appends the task, then replaces any task id already there by it.
            init.push(Some(id));
            if init
                .iter()
                .any(|t| t.is_some_and(|t| task_ids.contains(&t)))
            {
                for t in init.iter_mut() {
                    if t.is_some_and(|t| task_ids.contains(&t)) {
                        *t = Some(id);
                    }
                }
            }
        } else if let (Some(_), Some(task_to_id)) = (&language, &generation.task_to_id)
            && !init
                .iter()
                .any(|t| t.is_some_and(|t| task_ids.contains(&t)))
            && let Some(&transcribe) = task_to_id.get("transcribe")
        {
            init.push(Some(transcribe));
        }
        if let Some(no_timestamps) = generation.no_timestamps_token_id {
            let last = init.last().copied().flatten();
            if !options.return_timestamps && last != Some(no_timestamps) {
                init.push(Some(no_timestamps));
            } else if options.return_timestamps && last == Some(no_timestamps) {
                init.pop();
            }
        }
        Ok(init.into_iter().flatten().collect())
    }

    /// Logits of the last of `ids` (new tokens after the cache's), on the host.
    pub fn step_logits(&self, ids: &[usize], cache: &mut DecoderCache) -> Result<Vec<f32>> {
        let device = self.proj_out.weight.device();
        let data: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &device);
        if let Some(&bad) = ids.iter().find(|&&i| i >= self.config.vocab_size) {
            return Err(invalid(format!(
                "decoder token id {bad} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        let logits = self.step(input, cache)?;
        logits
            .into_host_data()
            .try_into_vec::<f32>()
            .map_err(|e| invalid(format!("reading logits: {e:?}")))
    }

    /// The largest number of new tokens, as `_set_max_new_tokens_and_length` and generate's
    /// stopping criteria compute it.
    pub fn max_new_tokens(
        &self,
        prompt_len: usize,
        generation: &WhisperGenerationConfig,
        options: &WhisperGenerateOptions,
    ) -> Result<usize> {
        let max_target = self.config.max_target_positions;
        match options.max_new_tokens.or(generation.base.max_new_tokens) {
            Some(n) => {
                if n + prompt_len > max_target {
                    return Err(invalid(format!(
                        "The length of `decoder_input_ids`, including special start tokens, is \
                         {prompt_len}, and `max_new_tokens` is {n}. Thus, the combined length \
                         exceeds the `max_target_positions` of the Whisper model: {max_target}."
                    )));
                }
                Ok(n)
            }
            None => {
                let initial = (max_target / 2 - 1).min(prompt_len.saturating_sub(1));
                let max_length = (generation.base.max_length + initial).min(max_target);
                Ok(max_length.saturating_sub(prompt_len))
            }
        }
    }

    /// `generate()` on one window of features `[1, mels, frames]`: greedy or beam search
    /// through the shared generation module, with Whisper's prompt and length rules.
    pub fn generate(
        &self,
        input_features: Tensor<3>,
        generation: &WhisperGenerationConfig,
        options: &WhisperGenerateOptions,
    ) -> Result<WhisperGeneration> {
        self.generate_inner(input_features, generation, options, None)
    }

    /// `generate(..., return_token_timestamps=True)`: [`generate`](Self::generate) plus one
    /// time per generated token from the generation config's `alignment_heads`.
    /// `num_frames` is the input's length in feature frames (HF reads it from the attention
    /// mask, as the pipeline passes it); `None` aligns over the whole window.
    pub fn generate_with_token_timestamps(
        &self,
        input_features: Tensor<3>,
        generation: &WhisperGenerationConfig,
        options: &WhisperGenerateOptions,
        num_frames: Option<usize>,
    ) -> Result<WhisperGeneration> {
        let alignment_heads = generation
            .alignment_heads
            .clone()
            .ok_or_else(no_alignment_heads)?;
        self.check_alignment_heads(&alignment_heads)?;
        let request = TokenTimestampOptions {
            alignment_heads,
            num_frames,
        };
        self.generate_inner(input_features, generation, options, Some(&request))
    }

    fn generate_inner(
        &self,
        input_features: Tensor<3>,
        generation: &WhisperGenerationConfig,
        options: &WhisperGenerateOptions,
        token_timestamps: Option<&TokenTimestampOptions>,
    ) -> Result<WhisperGeneration> {
        if input_features.dims()[0] != 1 {
            return Err(invalid("Whisper generation decodes one window at a time"));
        }
        // More than one window (long-form audio) is decoded window after window, with
        // timestamps, as transformers does.
        let [_, mels, frames] = input_features.dims();
        let window = 2 * self.config.max_source_positions;
        let long_form = frames > window;
        let first = if long_form {
            input_features.clone().slice([0..1, 0..mels, 0..window])
        } else {
            input_features.clone()
        };
        let encoder_states = self.encode(first)?;
        if long_form && !options.return_timestamps && generation.return_timestamps == Some(false) {
            return Err(invalid(
                "You have passed more than 3000 mel input features (> 30 seconds) which \
                 automatically enables long-form generation which requires the model to predict \
                 timestamp tokens. Please either pass `return_timestamps=True` or make sure to \
                 pass no more than 3000 mel input features.",
            ));
        }
        let options = &WhisperGenerateOptions {
            return_timestamps: options.return_timestamps || long_form,
            ..options.clone()
        };
        let prompt = self.init_tokens(&encoder_states, generation, options)?;
        let mut config = generation.base.clone();
        if let Some(beams) = options.num_beams {
            config.num_beams = beams;
        }
        config.max_new_tokens = Some(self.max_new_tokens(prompt.len(), generation, options)?);
        config.use_cache = !options.no_cache;
        if options.return_timestamps {
            let (tokens, times) = self.sequential_with_timestamps(
                input_features,
                encoder_states,
                &prompt,
                generation,
                options,
                &config,
                token_timestamps,
            )?;
            let (token_timestamps, segment_token_timestamps) = times.unzip();
            return Ok(WhisperGeneration {
                prompt,
                tokens,
                token_timestamps,
                segment_token_timestamps,
            });
        }
        let prompt32: Vec<u32> = prompt.iter().map(|&t| t as u32).collect();
        let rows = generate(self, encoder_states.clone(), None, &[prompt32], &config)?;
        let generated: Vec<usize> = rows[0][prompt.len()..]
            .iter()
            .map(|&t| t as usize)
            .collect();
        let tokens = strip_end(generated.clone(), generation);
        let token_timestamps = match token_timestamps {
            Some(request) => {
                let sequence = [prompt.as_slice(), &generated].concat();
                let times =
                    self.token_timestamps(&encoder_states, &sequence, prompt.len(), request, 0)?;
                Some(times[prompt.len()..prompt.len() + tokens.len()].to_vec())
            }
            None => None,
        };
        Ok(WhisperGeneration {
            tokens,
            prompt,
            segment_token_timestamps: token_timestamps.clone(),
            token_timestamps,
        })
    }

    /// Timestamped decoding as `generate` runs it (its `while seek < max_frames` loop): decode
    /// the window from `seek`; a window that ends inside a segment is decoded again from the
    /// last complete segment's end timestamp, until the frames are used up. Returns every
    /// segment's tokens, concatenated, and with `token_timestamps` their times from the
    /// window's start and from the audio's (shifted as `_retrieve_segment` does).
    #[allow(clippy::too_many_arguments)]
    fn sequential_with_timestamps(
        &self,
        input_features: Tensor<3>,
        first_window: Tensor<3>,
        prompt: &[usize],
        generation: &WhisperGenerationConfig,
        options: &WhisperGenerateOptions,
        config: &GenerationConfig,
        token_timestamps: Option<&TokenTimestampOptions>,
    ) -> Result<(Vec<usize>, Option<WindowTimes>)> {
        let [_, mels, total_frames] = input_features.dims();
        let input_stride = 2;
        let window = input_stride * self.config.max_source_positions;
        let timestamp_begin = generation.timestamp_begin(self.config.vocab_size);
        let mut seek = 0;
        let mut all = Vec::new();
        let mut all_times = token_timestamps.map(|_| (Vec::new(), Vec::new()));
        let mut encoder_states = Some(first_window);
        while seek < total_frames {
            let frames = (total_frames - seek).min(window);
            let states = match encoder_states.take() {
                Some(states) => states,
                None => {
                    // The rest of the features, zero-padded to a full window (F.pad).
                    let mut segment =
                        input_features
                            .clone()
                            .slice([0..1, 0..mels, seek..seek + frames]);
                    if frames < window {
                        let pad = Tensor::zeros([1, mels, window - frames], &segment.device());
                        segment = Tensor::cat(vec![segment, pad], 2);
                    }
                    self.encode(segment)?
                }
            };
            let mut config = config.clone();
            config.max_new_tokens = Some(self.max_new_tokens(prompt.len(), generation, options)?);
            let generated = self.decode_with_timestamps(&states, prompt, generation, &config)?;
            let tokens = strip_end(generated.clone(), generation);
            let (segments, offset) = split_segments(&tokens, timestamp_begin, frames, input_stride);
            if let (Some(request), Some(all_times)) = (token_timestamps, all_times.as_mut()) {
                // The window starts `seek * 0.02 / 2` seconds in, added in f32 as torch adds
                // the float64 offset to the float32 times.
                let sequence = [prompt, generated.as_slice()].concat();
                let times =
                    self.token_timestamps(&states, &sequence, prompt.len(), request, seek)?;
                let time_offset = (seek as f64 * TOKEN_TIME_PRECISION / input_stride as f64) as f32;
                for range in &segments {
                    let range = prompt.len() + range.start..prompt.len() + range.end;
                    all_times.0.extend_from_slice(&times[range.clone()]);
                    all_times
                        .1
                        .extend(times[range].iter().map(|&t| t + time_offset));
                }
            }
            for range in segments {
                all.extend_from_slice(&tokens[range]);
            }
            seek += offset.max(1);
        }
        Ok((all, all_times))
    }

    /// One window's decoding (greedy or beam search, through the shared module) with
    /// `WhisperTimeStampLogitsProcessor` as a custom processor.
    fn decode_with_timestamps(
        &self,
        encoder_states: &Tensor<3>,
        prompt: &[usize],
        generation: &WhisperGenerationConfig,
        config: &GenerationConfig,
    ) -> Result<Vec<usize>> {
        let rules = TimestampRules::new(generation, prompt.len(), self.config.vocab_size)
            .ok_or_else(|| {
                invalid("return_timestamps needs `no_timestamps_token_id` in the generation config")
            })?;
        let prompt32: Vec<u32> = prompt.iter().map(|&t| t as u32).collect();
        let rows = generate_with(
            self,
            encoder_states.clone(),
            None,
            &[prompt32],
            config,
            &[&rules],
        )?;
        Ok(rows[0][prompt.len()..]
            .iter()
            .map(|&t| t as usize)
            .collect())
    }
}

/// Token times from each window's start and from the audio's start.
type WindowTimes = (Vec<f32>, Vec<f32>);

/// As `generate_with_fallback`: drop the padding after the end (all of it when the pad is
/// not the end token, all but one when it is), then the end token itself.
fn strip_end(mut tokens: Vec<usize>, generation: &WhisperGenerationConfig) -> Vec<usize> {
    let eos = generation.eos_token_ids();
    if let Some(pad) = generation.base.pad_token_id.map(|p| p as usize)
        && tokens.last() == Some(&pad)
    {
        let mut pads = tokens.iter().filter(|&&t| t == pad).count();
        if eos.contains(&pad) {
            pads -= 1;
        }
        tokens.truncate(tokens.len() - pads);
    }
    if tokens.last().is_some_and(|t| eos.contains(t)) {
        tokens.pop();
    }
    tokens
}

/// `_retrieve_segment`: the index ranges of the window's complete segments in `tokens`
/// (consecutive timestamp pairs end a segment) and how many feature frames to advance.
fn split_segments(
    tokens: &[usize],
    timestamp_begin: usize,
    frames: usize,
    input_stride: usize,
) -> (Vec<std::ops::Range<usize>>, usize) {
    let is_ts: Vec<bool> = tokens.iter().map(|&t| t >= timestamp_begin).collect();
    let n = tokens.len();
    let single_ending = n >= 2 && !is_ts[n - 2] && is_ts[n - 1];
    let mut slices: Vec<usize> = (0..n.saturating_sub(1))
        .filter(|&i| is_ts[i] && is_ts[i + 1])
        .map(|i| i + 1)
        .collect();
    if slices.is_empty() {
        return (std::iter::once(0..n).collect(), frames);
    }
    if single_ending {
        slices.push(n);
    } else {
        *slices.last_mut().expect("non-empty") += 1;
    }
    let mut out = Vec::new();
    let mut last_slice = 0;
    for &current in &slices {
        out.push(last_slice.min(n)..current.min(n));
        last_slice = current;
    }
    let offset = if single_ending {
        frames
    } else {
        (tokens[last_slice - 2] - timestamp_begin) * input_stride
    };
    (out, offset)
}

/// Index of the largest value; the first one on ties (`torch.argmax`).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}
