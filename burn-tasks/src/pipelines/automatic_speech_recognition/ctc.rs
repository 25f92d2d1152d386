//! Speech recognition with CTC models (wav2vec2): audio -> normalised samples ->
//! `Wav2Vec2ForCTC` -> greedy CTC decoding, as `AutomaticSpeechRecognitionPipeline` does for
//! `self.type == "ctc"`: its batching (clips padded with an attention mask), its chunking of long
//! audio (`chunk_length_s`, `stride_length_s`, strides aligned to the model's frame rate and cut
//! from the frame ids before they are joined), and its `{text}` / `{text, chunks}` output.

use super::words::AsrWord;
use super::{AsrChunks, AsrOptions, AsrOutput, AudioInput, ReturnTimestamps};
use crate::error::{Result, TaskError};
use crate::processors::ctc_tokenizer::Wav2Vec2CtcTokenizer;
use crate::processors::wav2vec2_features::Wav2Vec2FeatureExtractor;
use burn_models::host::HostRead;
use burn_models::hub::{ModelDir, Weights};
use burn_models::wav2vec2::{Wav2Vec2Config, Wav2Vec2ForCTC};

/// Model types whose speech recognition is CTC over a frame vocabulary.
pub const CTC_MODEL_TYPES: &[&str] = &["wav2vec2"];

/// A clip or chunk ready for the model, with the input it belongs to and, for chunks,
/// `(samples, stride_left, stride_right)`.
struct Item {
    input: usize,
    values: Vec<f32>,
    stride: Option<(usize, usize, usize)>,
}

pub(super) struct CtcRecognizer {
    pub(super) model: Wav2Vec2ForCTC,
    features: Wav2Vec2FeatureExtractor,
    tokenizer: Wav2Vec2CtcTokenizer,
    device: burn::tensor::Device,
}

/// Python's `int(round(x))`: halves to even.
fn py_round(x: f64) -> usize {
    x.round_ties_even().max(0.0) as usize
}

impl CtcRecognizer {
    pub(super) fn load(dir: &ModelDir, device: burn::tensor::Device) -> Result<Self> {
        let config: Wav2Vec2Config = dir.config()?;
        let weights = Weights::from_dir(dir)?;
        let model = Wav2Vec2ForCTC::load(&weights.root(&device), &config)?;
        let features = Wav2Vec2FeatureExtractor::from_model_dir(dir)?;
        let tokenizer = Wav2Vec2CtcTokenizer::from_model_dir(dir)?;
        Ok(Self {
            model,
            features,
            tokenizer,
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
        if options.return_timestamps == ReturnTimestamps::Segments {
            return Err(TaskError::option(
                "return_timestamps",
                "`true`: CTC can either predict character level timestamps, or word level \
                 timestamps. Set `return_timestamps='char'` or `return_timestamps='word'` as \
                 required.",
            ));
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
        options: &AsrOptions,
        items: &mut Vec<Item>,
    ) -> Result<()> {
        let rate = self.sampling_rate() as f64;
        let align = self.model.config().inputs_to_logits_ratio() as f64;
        let (left_s, right_s) = super::strides(options, chunk_length_s);
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
            .into_host_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(|e| TaskError::Internal(format!("reading frame ids: {e:?}")))?;
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

    fn postprocess(&self, ids: &[u32], timestamps: ReturnTimestamps) -> AsrOutput {
        let (text, offsets) = self.tokenizer.decode_with_offsets(ids, false);
        let ratio = self.model.config().inputs_to_logits_ratio() as f64;
        let rate = self.sampling_rate() as f64;
        let seconds = |frames: usize| frames as f64 * ratio / rate;
        let timed = |text: String, start: usize, end: usize| AsrWord {
            text,
            timestamp: (seconds(start), seconds(end)),
            language: None,
        };
        let chunks = match timestamps {
            ReturnTimestamps::None | ReturnTimestamps::Segments => None,
            ReturnTimestamps::Chars => Some(
                offsets
                    .into_iter()
                    .map(|o| timed(o.char, o.start_offset, o.end_offset))
                    .collect(),
            ),
            ReturnTimestamps::Words => Some(
                self.tokenizer
                    .word_offsets(&offsets)
                    .into_iter()
                    .map(|w| timed(w.word, w.start_offset, w.end_offset))
                    .collect(),
            ),
        };
        AsrOutput {
            text,
            chunks: chunks.map(AsrChunks::Words),
        }
    }
}
