//! `audio-classification` with `WhisperForAudioClassification`: `[{score, label}]` best first.

use burn::tensor::{Tensor, TensorData};
use burn_models::config::{CommonConfig, read_config};
use burn_models::hub::{ModelDir, Weights};
use burn_models::whisper::{WhisperConfig, WhisperForAudioClassification};

use super::automatic_speech_recognition::AudioInput;
use super::{PipelineSource, Task, sigmoid, softmax};
use crate::error::{Result, TaskError};
use crate::processors::WhisperFeatureExtractor;

/// `function_to_apply`: `softmax` (HF's default here), `sigmoid` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioFunction {
    #[default]
    Softmax,
    Sigmoid,
    None,
}

impl std::str::FromStr for AudioFunction {
    type Err = TaskError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "softmax" => Self::Softmax,
            "sigmoid" => Self::Sigmoid,
            "none" => Self::None,
            other => {
                return Err(TaskError::option(
                    "function_to_apply",
                    format!("`{other}` (expected softmax, sigmoid or none)"),
                ));
            }
        })
    }
}

/// One label and its score; serialized `{"score", "label"}` in HF's key order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelScore {
    pub score: f32,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct AudioClassificationOptions {
    /// Labels per input (HF default 5, capped at the number of labels).
    pub top_k: usize,
    pub function_to_apply: AudioFunction,
}

impl Default for AudioClassificationOptions {
    fn default() -> Self {
        Self {
            top_k: 5,
            function_to_apply: AudioFunction::Softmax,
        }
    }
}

pub struct AudioClassificationPipeline {
    model: WhisperForAudioClassification,
    features: WhisperFeatureExtractor,
    device: burn::tensor::Device,
}

impl AudioClassificationPipeline {
    pub fn new(source: &PipelineSource) -> Result<Self> {
        let dir = source.resolve(Task::AudioClassification)?;
        Self::from_dir(&dir, source.device.clone())
    }

    pub fn from_dir(dir: &ModelDir, device: burn::tensor::Device) -> Result<Self> {
        let model_type = burn_models::auto::model_type(dir)?;
        if model_type != "whisper" {
            return Err(TaskError::InvalidInput(format!(
                "{}: audio-classification supports model_type whisper, not `{model_type}`",
                dir.path().display()
            )));
        }
        let config: WhisperConfig = read_config(&dir.config_path())?;
        if config.common.num_labels() == 0 {
            return Err(TaskError::InvalidInput(format!(
                "{}: the config defines no labels",
                dir.path().display()
            )));
        }
        let weights = Weights::from_model_dir(dir.path())?;
        let model = WhisperForAudioClassification::load(&weights.root(&device), &config)?;
        let features = WhisperFeatureExtractor::from_model_dir(dir.path())?;
        Ok(Self {
            model,
            features,
            device,
        })
    }

    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    pub fn classify(
        &self,
        inputs: &[AudioInput],
        options: &AudioClassificationOptions,
    ) -> Result<Vec<Vec<LabelScore>>> {
        inputs
            .iter()
            .map(|input| {
                let audio = input.load(self.features.config.sampling_rate)?;
                let mel = self.features.extract(&audio.samples);
                let features = Tensor::from_data(
                    TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
                    &self.device,
                );
                let logits = self
                    .model
                    .forward(features)?
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| TaskError::InvalidInput(format!("reading logits: {e:?}")))?;
                Ok(self.postprocess(&logits, options))
            })
            .collect()
    }

    fn postprocess(&self, logits: &[f32], options: &AudioClassificationOptions) -> Vec<LabelScore> {
        let scores = match options.function_to_apply {
            AudioFunction::Softmax => softmax(logits),
            AudioFunction::Sigmoid => logits.iter().map(|&v| sigmoid(v)).collect(),
            AudioFunction::None => logits.to_vec(),
        };
        let config = self.model.common_config();
        let mut labeled: Vec<LabelScore> = scores
            .into_iter()
            .enumerate()
            .map(|(i, score)| LabelScore {
                label: config.label(i),
                score,
            })
            .collect();
        // torch.topk order: by score, ties by index.
        labeled.sort_by(|a, b| b.score.total_cmp(&a.score));
        labeled.truncate(options.top_k.min(labeled.len()));
        labeled
    }
}

/// HF's JSON: one input gives a list of `{score, label}`, several a list of lists.
pub fn to_hf_json(mut results: Vec<Vec<LabelScore>>, single: bool) -> serde_json::Value {
    if single && results.len() == 1 {
        serde_json::to_value(results.pop().expect("one")).expect("serializable")
    } else {
        serde_json::to_value(results).expect("serializable")
    }
}
