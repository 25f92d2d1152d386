//! `Wav2Vec2FeatureExtractor`: raw audio as the model's `input_values`, normalised to zero mean
//! and unit variance per utterance, padded into a batch, with an attention mask where the
//! checkpoint's `preprocessor_config.json` asks for one.

use burn_models::hub::ModelDir;

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Deserialize;

use crate::error::{Result, TaskError};

/// `Wav2Vec2FeatureExtractor`'s settings, with HF's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Wav2Vec2FeatureConfig {
    /// `feature_size`: values per time step (1: raw mono audio).
    pub feature_size: usize,
    /// `sampling_rate`: the rate the audio must have, in Hz (16000).
    pub sampling_rate: u32,
    /// `padding_value`: what shorter clips are padded with (0).
    pub padding_value: f32,
    /// `do_normalize`: normalise each clip to zero mean and unit variance.
    pub do_normalize: bool,
    /// Whether calls return an attention mask by default ("layer" models were trained with one;
    /// "group" models such as wav2vec2-base were not).
    pub return_attention_mask: bool,
    /// `padding_side`: `"right"` (default) or `"left"`.
    pub padding_side: String,
}

impl Default for Wav2Vec2FeatureConfig {
    fn default() -> Self {
        Self {
            feature_size: 1,
            sampling_rate: 16_000,
            padding_value: 0.0,
            do_normalize: true,
            return_attention_mask: false,
            padding_side: "right".into(),
        }
    }
}

/// A padded batch: `input_values` `[batch, len]` row-major and, when asked for, the attention
/// mask (1 = audio, 0 = padding).
#[derive(Debug, Clone, PartialEq)]
pub struct Wav2Vec2Batch {
    /// The padded samples, `batch` rows of `len`.
    pub input_values: Vec<f32>,
    /// Clips in the batch.
    pub batch: usize,
    /// Samples per row (the longest clip).
    pub len: usize,
    /// `[batch, len]` row-major, 1 for audio and 0 for padding; `None` when not asked for.
    pub attention_mask: Option<Vec<i64>>,
}

impl Wav2Vec2Batch {
    /// `(input_values, attention_mask)` as tensors on `device`.
    pub fn to_tensors(&self, device: &Device) -> (Tensor<2>, Option<Tensor<2, Int>>) {
        let shape = [self.batch, self.len];
        let values = Tensor::from_data(TensorData::new(self.input_values.clone(), shape), device);
        let mask = self
            .attention_mask
            .as_ref()
            .map(|m| Tensor::from_data(TensorData::new(m.clone(), shape), device));
        (values, mask)
    }

    /// Row `i` of `input_values`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.input_values[i * self.len..(i + 1) * self.len]
    }
}

/// The front end of Wav2Vec2 checkpoints (`Wav2Vec2FeatureExtractor`): normalised raw
/// audio, padded into batches.
#[derive(Debug, Clone)]
pub struct Wav2Vec2FeatureExtractor {
    /// The settings it was built with.
    pub config: Wav2Vec2FeatureConfig,
}

/// `zero_mean_unit_var_norm` of one utterance: `(x - mean) / sqrt(var + 1e-7)`.
pub fn zero_mean_unit_var(samples: &[f32]) -> Vec<f32> {
    let (mean, scale) = mean_and_scale(samples);
    samples
        .iter()
        .map(|&x| ((x as f64 - mean) * scale) as f32)
        .collect()
}

/// The mean and `1 / sqrt(var + 1e-7)` (population variance, as numpy's `var`).
fn mean_and_scale(samples: &[f32]) -> (f64, f64) {
    let n = samples.len().max(1) as f64;
    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = samples
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, 1.0 / (var + 1e-7).sqrt())
}

impl Wav2Vec2FeatureExtractor {
    /// A feature extractor for `config`; fails on settings it cannot apply.
    pub fn new(config: Wav2Vec2FeatureConfig) -> Result<Self> {
        let bad = |message: String| Err(TaskError::option("preprocessor_config", message));
        if config.feature_size != 1 {
            return bad(format!(
                "Wav2Vec2FeatureExtractor takes mono audio (feature_size 1), not feature_size {}",
                config.feature_size
            ));
        }
        if config.sampling_rate == 0 {
            return bad("sampling_rate must be positive".into());
        }
        if config.padding_side != "right" && config.padding_side != "left" {
            return bad(format!(
                "padding_side must be right or left, not `{}`",
                config.padding_side
            ));
        }
        Ok(Self { config })
    }

    /// From a model directory's `preprocessor_config.json`.
    pub fn from_model_dir(dir: &ModelDir) -> Result<Self> {
        Self::new(super::preprocessor_settings(dir)?)
    }

    /// `feature_extractor(clips, padding=padding, return_attention_mask=...)`: clips of equal
    /// length, or any lengths with `padding` (to the longest). As in transformers, a padded
    /// batch is normalised per clip over its own samples only when the attention mask is
    /// returned; without a mask the padding takes part in the statistics.
    pub fn call(
        &self,
        clips: &[&[f32]],
        padding: bool,
        return_attention_mask: Option<bool>,
    ) -> Result<Wav2Vec2Batch> {
        let with_mask = return_attention_mask.unwrap_or(self.config.return_attention_mask);
        let len = clips.iter().map(|c| c.len()).max().unwrap_or(0);
        if clips.is_empty() || clips.iter().any(|c| c.is_empty()) {
            return Err(TaskError::InvalidInput("empty audio: no samples".into()));
        }
        if !padding && clips.iter().any(|c| c.len() != len) {
            return Err(TaskError::InvalidInput(
                "clips of different lengths need padding=true to form one batch".into(),
            ));
        }
        let mut batch = self.pad(clips.iter().map(|c| c.to_vec()).collect(), with_mask);
        if self.config.do_normalize {
            for (i, clip) in clips.iter().enumerate() {
                let row = &mut batch.input_values[i * len..(i + 1) * len];
                if with_mask {
                    // transformers takes the statistics of the row's first `n` values and
                    // overwrites the rest with the padding value (right padding in mind).
                    let n = clip.len();
                    let (mean, scale) = mean_and_scale(&row[..n]);
                    for v in row.iter_mut() {
                        *v = ((*v as f64 - mean) * scale) as f32;
                    }
                    row[n..].fill(self.config.padding_value);
                } else {
                    let normed = zero_mean_unit_var(row);
                    row.copy_from_slice(&normed);
                }
            }
        }
        Ok(batch)
    }

    /// One clip as the pipelines process it before batching: normalised on its own.
    pub fn process_one(&self, clip: &[f32]) -> Result<Vec<f32>> {
        if clip.is_empty() {
            return Err(TaskError::InvalidInput("empty audio: no samples".into()));
        }
        Ok(if self.config.do_normalize {
            zero_mean_unit_var(clip)
        } else {
            clip.to_vec()
        })
    }

    /// The pipelines' `pad_collate_fn`: already-processed clips padded with `padding_value`
    /// to the longest, with their attention mask when `with_mask`.
    pub fn pad(&self, clips: Vec<Vec<f32>>, with_mask: bool) -> Wav2Vec2Batch {
        let len = clips.iter().map(Vec::len).max().unwrap_or(0);
        let batch = clips.len();
        let mut input_values = vec![self.config.padding_value; batch * len];
        let mut mask = vec![0i64; batch * len];
        for (i, clip) in clips.iter().enumerate() {
            let start = i * len + self.offset(len, clip.len());
            input_values[start..start + clip.len()].copy_from_slice(clip);
            mask[start..start + clip.len()].fill(1);
        }
        Wav2Vec2Batch {
            input_values,
            batch,
            len,
            attention_mask: with_mask.then_some(mask),
        }
    }

    /// Where a clip of `n` samples starts in a row of `len`.
    fn offset(&self, len: usize, n: usize) -> usize {
        if self.config.padding_side == "left" {
            len - n
        } else {
            0
        }
    }
}
