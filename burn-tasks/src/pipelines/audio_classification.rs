//! `audio-classification` with `WhisperForAudioClassification` or
//! `Wav2Vec2ForSequenceClassification`: `[{score, label}]` best first.

use burn::tensor::{Tensor, TensorData};
use burn_models::config::{CommonConfig, read_config};
use burn_models::hub::{ModelDir, Weights};
use burn_models::wav2vec2::{Wav2Vec2Config, Wav2Vec2ForSequenceClassification};
use burn_models::whisper::{WhisperConfig, WhisperForAudioClassification};

use super::automatic_speech_recognition::AudioInput;
use super::{PipelineSource, Task, sigmoid, softmax};
use crate::error::{Result, TaskError};
use crate::processors::{Wav2Vec2FeatureExtractor, WhisperFeatureExtractor};

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

/// A classifier with the front end its checkpoint was trained with.
enum AudioClassifier {
    Whisper {
        model: Box<WhisperForAudioClassification>,
        features: WhisperFeatureExtractor,
    },
    Wav2Vec2 {
        model: Box<Wav2Vec2ForSequenceClassification>,
        features: Wav2Vec2FeatureExtractor,
    },
}

pub struct AudioClassificationPipeline {
    model: AudioClassifier,
    device: burn::tensor::Device,
}

impl AudioClassificationPipeline {
    pub fn new(source: &PipelineSource) -> Result<Self> {
        let dir = source.resolve(Task::AudioClassification)?;
        let mut pipeline = Self::from_dir(&dir, source.device.clone())?;
        pipeline.model = match pipeline.model {
            AudioClassifier::Whisper { model, features } => AudioClassifier::Whisper {
                model: source.apply_adapter(model)?,
                features,
            },
            AudioClassifier::Wav2Vec2 { model, features } => AudioClassifier::Wav2Vec2 {
                model: source.apply_adapter(model)?,
                features,
            },
        };
        Ok(pipeline)
    }

    pub fn from_dir(dir: &ModelDir, device: burn::tensor::Device) -> Result<Self> {
        let model_type = burn_models::auto::model_type(dir)?;
        let labels = |common: &CommonConfig| {
            if common.num_labels() == 0 {
                return Err(TaskError::InvalidInput(format!(
                    "{}: the config defines no labels",
                    dir.path().display()
                )));
            }
            Ok(())
        };
        let model = match model_type.as_str() {
            "whisper" => {
                let config: WhisperConfig = read_config(&dir.config_path())?;
                labels(&config.common)?;
                let weights = Weights::from_model_dir(dir.path())?;
                AudioClassifier::Whisper {
                    model: Box::new(WhisperForAudioClassification::load(
                        &weights.root(&device),
                        &config,
                    )?),
                    features: WhisperFeatureExtractor::from_model_dir(dir.path())?,
                }
            }
            "wav2vec2" => {
                let config: Wav2Vec2Config = read_config(&dir.config_path())?;
                labels(&config.common)?;
                let weights = Weights::from_model_dir(dir.path())?;
                AudioClassifier::Wav2Vec2 {
                    model: Box::new(Wav2Vec2ForSequenceClassification::load(
                        &weights.root(&device),
                        &config,
                    )?),
                    features: Wav2Vec2FeatureExtractor::from_model_dir(dir.path())?,
                }
            }
            other => {
                return Err(TaskError::InvalidInput(format!(
                    "{}: audio-classification supports model_type whisper and wav2vec2, not `{other}`",
                    dir.path().display()
                )));
            }
        };
        Ok(Self { model, device })
    }

    pub fn config(&self) -> &CommonConfig {
        match &self.model {
            AudioClassifier::Whisper { model, .. } => model.common_config(),
            AudioClassifier::Wav2Vec2 { model, .. } => model.common_config(),
        }
    }

    fn sampling_rate(&self) -> u32 {
        match &self.model {
            AudioClassifier::Whisper { features, .. } => features.config.sampling_rate,
            AudioClassifier::Wav2Vec2 { features, .. } => features.config.sampling_rate,
        }
    }

    /// Logits `[1, num_labels]` of one clip, through the model's own front end.
    fn logits(&self, samples: &[f32]) -> Result<Tensor<2>> {
        Ok(match &self.model {
            AudioClassifier::Whisper { model, features } => {
                let mel = features.extract(samples);
                let features = Tensor::from_data(
                    TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
                    &self.device,
                );
                model.forward(features)?
            }
            AudioClassifier::Wav2Vec2 { model, features } => {
                // The pipeline calls the extractor with its default `return_attention_mask`.
                let with_mask = features.config.return_attention_mask;
                let batch = features.pad(vec![features.process_one(samples)?], with_mask);
                let (values, mask) = batch.to_tensors(&self.device);
                model.forward(values, mask.as_ref())?
            }
        })
    }

    pub fn classify(
        &self,
        inputs: &[AudioInput],
        options: &AudioClassificationOptions,
    ) -> Result<Vec<Vec<LabelScore>>> {
        inputs
            .iter()
            .map(|input| {
                let audio = input.load(self.sampling_rate())?;
                let logits = self
                    .logits(&audio.samples)?
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
        let config = self.config();
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
