//! `audio-classification` with `WhisperForAudioClassification` or
//! `Wav2Vec2ForSequenceClassification`: `[{score, label}]` best first.

use burn::tensor::{Tensor, TensorData};
use burn_models::config::CommonConfig;
use burn_models::hub::{ModelDir, Weights};
use burn_models::wav2vec2::{Wav2Vec2Config, Wav2Vec2ForSequenceClassification};
use burn_models::whisper::{WhisperConfig, WhisperForAudioClassification};
use serde_json::{Value, json};

use super::automatic_speech_recognition::{AudioInput, audio_inputs};
use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::scores::{FunctionToApply, LabelScore, host_values, ranked, require_labels};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::processors::{Wav2Vec2FeatureExtractor, WhisperFeatureExtractor};

/// The `audio-classification` task: its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<AudioClassificationPipeline>(
    "audio-classification",
    &[],
    "Classify audio clips: [{score, label}] per clip",
    "superb/wav2vec2-base-superb-ks",
    InputKind::AudioFiles,
    &[
        OptionSpec::new(
            "top_k",
            ValueKind::CountOrNone,
            "Labels per input, best first; `all` (HF's None) gives every label (default 5)",
        ),
        OptionSpec::new(
            "function_to_apply",
            ValueKind::Text,
            "softmax, sigmoid or none (default softmax)",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Accepted as HF does; clips run one at a time",
        ),
    ],
);

/// Keyword arguments of `audio-classification`, as in transformers' `AudioClassificationPipeline`.
#[derive(Debug, Clone)]
pub struct AudioClassificationOptions {
    /// Labels per input (HF default 5, capped at the number of labels).
    pub top_k: usize,
    /// HF's default here is softmax (`Default` means softmax).
    pub function_to_apply: FunctionToApply,
}

impl Default for AudioClassificationOptions {
    fn default() -> Self {
        Self {
            top_k: 5,
            function_to_apply: FunctionToApply::Softmax,
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

/// An audio classifier (Wav2Vec2 or Whisper encoder) and its feature extractor, as
/// transformers' `pipeline("audio-classification")`.
pub struct AudioClassificationPipeline {
    model: AudioClassifier,
    device: burn::tensor::Device,
}

impl TaskPipeline for AudioClassificationPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = AudioClassificationOptions;
    type Input = AudioInput;
    type Output = Vec<LabelScore>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let dir = source.resolve()?;
        let mut pipeline = Self::from_dir(&dir, source.target_device()?)?;
        pipeline.model = match pipeline.model {
            AudioClassifier::Whisper { model, features } => AudioClassifier::Whisper {
                model: source.prepare_model(model)?,
                features,
            },
            AudioClassifier::Wav2Vec2 { model, features } => AudioClassifier::Wav2Vec2 {
                model: source.prepare_model(model)?,
                features,
            },
        };
        Ok(pipeline)
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<AudioClassificationOptions> {
        let mut options = AudioClassificationOptions::default();
        // `top_k=None` at call time is every label, as in transformers.
        if let Some(top_k) = kwargs.get::<Option<usize>>("top_k")? {
            options.top_k = top_k.unwrap_or(usize::MAX);
        }
        kwargs.update("function_to_apply", &mut options.function_to_apply)?;
        kwargs.get::<usize>("batch_size")?;
        Ok(options)
    }

    fn inputs(&self, inputs: &Value, _: &mut Kwargs) -> Result<(Vec<AudioInput>, InputForm)> {
        audio_inputs(inputs)
    }

    fn run(
        &self,
        inputs: &[AudioInput],
        options: &AudioClassificationOptions,
    ) -> Result<Vec<Vec<LabelScore>>> {
        self.classify(inputs, options)
    }

    /// One input gives a list of `{score, label}` (HF's key order here), several a list of
    /// lists.
    fn to_json(
        &self,
        outputs: Vec<Vec<LabelScore>>,
        form: InputForm,
        _: &AudioClassificationOptions,
    ) -> Result<Value> {
        let per_input = outputs
            .into_iter()
            .map(|scores| {
                Value::Array(
                    scores
                        .into_iter()
                        .map(|s| json!({"score": s.score, "label": s.label}))
                        .collect(),
                )
            })
            .collect();
        Ok(form.shape(per_input))
    }
}

impl AudioClassificationPipeline {
    fn from_dir(dir: &ModelDir, device: burn::tensor::Device) -> Result<Self> {
        let model_type = burn_models::auto::model_type(dir)?;
        let model = match model_type.as_str() {
            "whisper" => {
                let config: WhisperConfig = dir.config()?;
                require_labels(&config.common, dir)?;
                let weights = Weights::from_dir(dir)?;
                AudioClassifier::Whisper {
                    model: Box::new(WhisperForAudioClassification::load(
                        &weights.root(&device),
                        &config,
                    )?),
                    features: WhisperFeatureExtractor::from_model_dir(dir)?,
                }
            }
            "wav2vec2" => {
                let config: Wav2Vec2Config = dir.config()?;
                require_labels(&config.common, dir)?;
                let weights = Weights::from_dir(dir)?;
                AudioClassifier::Wav2Vec2 {
                    model: Box::new(Wav2Vec2ForSequenceClassification::load(
                        &weights.root(&device),
                        &config,
                    )?),
                    features: Wav2Vec2FeatureExtractor::from_model_dir(dir)?,
                }
            }
            other => {
                return Err(TaskError::InvalidModel(format!(
                    "{}: audio-classification supports model_type whisper and wav2vec2, not `{other}`",
                    dir.path().display()
                )));
            }
        };
        Ok(Self { model, device })
    }

    /// The model's config (labels).
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

    /// The `top_k` best labels of each clip, best first; clips at another sampling rate are
    /// resampled to the feature extractor's.
    pub fn classify(
        &self,
        inputs: &[AudioInput],
        options: &AudioClassificationOptions,
    ) -> Result<Vec<Vec<LabelScore>>> {
        inputs
            .iter()
            .map(|input| {
                let audio = input.load(self.sampling_rate())?;
                let logits = host_values(self.logits(&audio.samples)?)?;
                Ok(self.postprocess(&logits, options))
            })
            .collect()
    }

    fn postprocess(&self, logits: &[f32], options: &AudioClassificationOptions) -> Vec<LabelScore> {
        let function = match options.function_to_apply {
            FunctionToApply::Default => FunctionToApply::Softmax,
            chosen => chosen,
        };
        let config = self.config();
        ranked(function.apply(logits), |i| config.label(i), options.top_k)
    }
}
