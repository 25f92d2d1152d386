//! `automatic-speech-recognition` with CTC models (wav2vec2): audio -> normalised samples ->
//! `Wav2Vec2ForCTC` -> greedy CTC decoding, as `AutomaticSpeechRecognitionPipeline` does for
//! `self.type == "ctc"`: its batching (clips padded with an attention mask), its chunking of long
//! audio (`chunk_length_s`, `stride_length_s`, strides aligned to the model's frame rate and cut
//! from the frame ids before they are joined), and its `{text}` / `{text, chunks}` output.

use burn_models::config::read_config;
use burn_models::hub::{ModelDir, Weights};
use burn_models::wav2vec2::{Wav2Vec2Config, Wav2Vec2ForCTC};
use serde::Serialize;
use serde_json::Value;

use super::automatic_speech_recognition::AudioInput;
use super::{PipelineSource, Task};
use crate::error::{Result, TaskError};
use crate::processors::ctc_tokenizer::Wav2Vec2CtcTokenizer;
use crate::processors::wav2vec2_features::Wav2Vec2FeatureExtractor;

/// Model types whose speech recognition is CTC over a frame vocabulary.
pub const CTC_MODEL_TYPES: &[&str] = &["wav2vec2"];

/// `return_timestamps` of CTC models: per character or per word (`True` is Whisper's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CtcTimestamps {
    #[default]
    None,
    Char,
    Word,
}

impl std::str::FromStr for CtcTimestamps {
    type Err = TaskError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "char" => Self::Char,
            "word" => Self::Word,
            "false" | "False" | "none" => Self::None,
            other => {
                return Err(TaskError::option(
                    "return_timestamps",
                    format!(
                        "`{other}`: CTC can either predict character level timestamps, or word \
                         level timestamps. Set `return_timestamps='char'` or \
                         `return_timestamps='word'` as required."
                    ),
                ));
            }
        })
    }
}

/// The pipeline's call options with HF's names and defaults.
#[derive(Debug, Clone)]
pub struct CtcAsrOptions {
    /// Split audio into chunks of this many seconds (0 or `None`: no chunking).
    pub chunk_length_s: Option<f64>,
    /// Overlap (left, right) in seconds; default `chunk_length_s / 6` each side.
    pub stride_length_s: Option<(f64, f64)>,
    /// Clips (or chunks) run through the model at once, padded with an attention mask.
    pub batch_size: usize,
    pub return_timestamps: CtcTimestamps,
}

impl Default for CtcAsrOptions {
    fn default() -> Self {
        Self {
            chunk_length_s: None,
            stride_length_s: None,
            batch_size: 1,
            return_timestamps: CtcTimestamps::None,
        }
    }
}

/// One character or word with its start and end in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CtcChunk {
    pub text: String,
    pub timestamp: (f64, f64),
}

/// `{"text": ...}`, with `"chunks"` when timestamps were asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CtcAsrOutput {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<CtcChunk>>,
}

/// A clip or chunk ready for the model, with the input it belongs to and, for chunks,
/// `(samples, stride_left, stride_right)`.
struct Item {
    input: usize,
    values: Vec<f32>,
    stride: Option<(usize, usize, usize)>,
}

pub struct CtcSpeechRecognitionPipeline {
    model: Wav2Vec2ForCTC,
    features: Wav2Vec2FeatureExtractor,
    tokenizer: Wav2Vec2CtcTokenizer,
    device: burn::tensor::Device,
}

/// Whether `source`'s model is one this pipeline runs (its `model_type` is a CTC one).
pub fn uses_ctc(source: &PipelineSource) -> bool {
    source
        .resolve(Task::AutomaticSpeechRecognition)
        .and_then(|dir| Ok(burn_models::auto::model_type(&dir)?))
        .is_ok_and(|t| CTC_MODEL_TYPES.contains(&t.as_str()))
}

/// Python's `int(round(x))`: halves to even.
fn py_round(x: f64) -> usize {
    x.round_ties_even().max(0.0) as usize
}

impl CtcSpeechRecognitionPipeline {
    pub fn new(source: &PipelineSource) -> Result<Self> {
        let dir = source.resolve(Task::AutomaticSpeechRecognition)?;
        let mut pipeline = Self::from_dir(&dir, source.device.clone())?;
        pipeline.model = source.apply_adapter(pipeline.model)?;
        Ok(pipeline)
    }

    pub fn from_dir(dir: &ModelDir, device: burn::tensor::Device) -> Result<Self> {
        let model_type = burn_models::auto::model_type(dir)?;
        if !CTC_MODEL_TYPES.contains(&model_type.as_str()) {
            return Err(TaskError::InvalidInput(format!(
                "{}: CTC speech recognition supports model_type {}, not `{model_type}`",
                dir.path().display(),
                CTC_MODEL_TYPES.join(", ")
            )));
        }
        let config: Wav2Vec2Config = read_config(&dir.config_path())?;
        let weights = Weights::from_model_dir(dir.path())?;
        let model = Wav2Vec2ForCTC::load(&weights.root(&device), &config)?;
        let features = Wav2Vec2FeatureExtractor::from_model_dir(dir.path())?;
        let tokenizer = Wav2Vec2CtcTokenizer::from_model_dir(dir)?;
        Ok(Self {
            model,
            features,
            tokenizer,
            device,
        })
    }

    pub fn model(&self) -> &Wav2Vec2ForCTC {
        &self.model
    }

    pub fn tokenizer(&self) -> &Wav2Vec2CtcTokenizer {
        &self.tokenizer
    }

    pub fn sampling_rate(&self) -> u32 {
        self.features.config.sampling_rate
    }

    pub fn transcribe(
        &self,
        inputs: &[AudioInput],
        options: &CtcAsrOptions,
    ) -> Result<Vec<CtcAsrOutput>> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        let mut items = Vec::new();
        for (input, audio) in inputs.iter().enumerate() {
            let audio = audio.load(self.sampling_rate())?;
            match options.chunk_length_s.filter(|&c| c > 0.0) {
                Some(chunk_length_s) => {
                    self.chunk(input, &audio.samples, chunk_length_s, options, &mut items)?
                }
                None => items.push(Item {
                    input,
                    values: self.features.process_one(&audio.samples)?,
                    stride: None,
                }),
            }
        }
        let mut tokens: Vec<Vec<u32>> = vec![Vec::new(); inputs.len()];
        for batch in items.chunks(options.batch_size) {
            let rows = self.frame_ids(batch)?;
            for (item, row) in batch.iter().zip(rows) {
                tokens[item.input].extend_from_slice(&self.cut_stride(item, &row));
            }
        }
        Ok(tokens
            .iter()
            .map(|ids| self.postprocess(ids, options.return_timestamps))
            .collect())
    }

    /// `chunk_iter`: windows of `chunk_length_s` overlapping by the strides, every length
    /// rounded to a whole number of model frames, each window normalised on its own.
    fn chunk(
        &self,
        input: usize,
        samples: &[f32],
        chunk_length_s: f64,
        options: &CtcAsrOptions,
        items: &mut Vec<Item>,
    ) -> Result<()> {
        let rate = self.sampling_rate() as f64;
        let align = self.model.config().inputs_to_logits_ratio() as f64;
        let (left_s, right_s) = options
            .stride_length_s
            .unwrap_or((chunk_length_s / 6.0, chunk_length_s / 6.0));
        if left_s < 0.0 || right_s < 0.0 {
            return Err(TaskError::option("stride_length_s", "must not be negative"));
        }
        let aligned = |seconds: f64| py_round(seconds * rate / align) * align as usize;
        let (chunk_len, stride_left, stride_right) =
            (aligned(chunk_length_s), aligned(left_s), aligned(right_s));
        if chunk_len <= stride_left + stride_right {
            return Err(TaskError::option(
                "stride_length_s",
                "Chunk length must be superior to stride length",
            ));
        }
        let step = chunk_len - stride_left - stride_right;
        let len = samples.len();
        // As transformers: every window start, including windows after the one reaching the
        // end, as long as the window is longer than its left stride.
        for start in (0..len).step_by(step) {
            let end = (start + chunk_len).min(len);
            let left = if start == 0 { 0 } else { stride_left };
            let right = if start + chunk_len >= len {
                0
            } else {
                stride_right
            };
            let n = end - start;
            if n > left {
                items.push(Item {
                    input,
                    values: self.features.process_one(&samples[start..end])?,
                    stride: Some((n, left, right)),
                });
            }
        }
        Ok(())
    }

    /// Greedy CTC: the argmax id of every frame of a padded batch, per row (padded frames
    /// included, as transformers decodes them too).
    fn frame_ids(&self, batch: &[Item]) -> Result<Vec<Vec<u32>>> {
        let padded = self
            .features
            .pad(batch.iter().map(|item| item.values.clone()).collect(), true);
        let (values, mask) = padded.to_tensors(&self.device);
        let logits = self.model.forward(values, mask.as_ref())?;
        let [rows, frames, _] = logits.dims();
        let ids: Vec<i64> = logits
            .argmax(2)
            .reshape([rows * frames])
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(|e| TaskError::InvalidInput(format!("reading frame ids: {e:?}")))?;
        Ok(ids
            .chunks(frames.max(1))
            .map(|row| row.iter().map(|&id| id as u32).collect())
            .collect())
    }

    /// `rescale_stride` to frames, then the frames of the window's own (unstrided) part.
    fn cut_stride(&self, item: &Item, row: &[u32]) -> Vec<u32> {
        let Some((samples, left, right)) = item.stride else {
            return row.to_vec();
        };
        let ratio = 1.0 / self.model.config().inputs_to_logits_ratio() as f64;
        let token_n = py_round(samples as f64 * ratio);
        let left = py_round(left as f64 / samples as f64 * token_n as f64);
        let right = py_round(right as f64 / samples as f64 * token_n as f64);
        let stop = token_n.saturating_sub(right).min(row.len());
        row[left.min(stop)..stop].to_vec()
    }

    fn postprocess(&self, ids: &[u32], timestamps: CtcTimestamps) -> CtcAsrOutput {
        let (text, offsets) = self.tokenizer.decode_with_offsets(ids, false);
        let ratio = self.model.config().inputs_to_logits_ratio() as f64;
        let rate = self.sampling_rate() as f64;
        let seconds = |frames: usize| frames as f64 * ratio / rate;
        let chunks = match timestamps {
            CtcTimestamps::None => None,
            CtcTimestamps::Char => Some(
                offsets
                    .into_iter()
                    .map(|o| CtcChunk {
                        text: o.char,
                        timestamp: (seconds(o.start_offset), seconds(o.end_offset)),
                    })
                    .collect(),
            ),
            CtcTimestamps::Word => Some(
                self.tokenizer
                    .word_offsets(&offsets)
                    .into_iter()
                    .map(|w| CtcChunk {
                        text: w.word,
                        timestamp: (seconds(w.start_offset), seconds(w.end_offset)),
                    })
                    .collect(),
            ),
        };
        CtcAsrOutput { text, chunks }
    }
}

/// HF's JSON: one input gives an object, a list of inputs a list.
pub fn to_hf_json(mut results: Vec<CtcAsrOutput>, single: bool) -> Value {
    if single && results.len() == 1 {
        serde_json::to_value(results.pop().expect("one")).expect("serializable")
    } else {
        serde_json::to_value(results).expect("serializable")
    }
}
