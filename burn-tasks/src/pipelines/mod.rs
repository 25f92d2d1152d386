//! `transformers.pipeline(task)` for Rust: one module per task, each with an options struct
//! using HF's names and defaults and an output type whose JSON is HF's.

pub mod audio_classification;
pub mod automatic_speech_recognition;
pub mod ctc_speech_recognition;
pub mod document_question_answering;
mod dynamic;
pub mod image_classification;
pub mod image_segmentation;
pub mod object_detection;
pub mod question_answering;
pub mod text2text_generation;
pub mod text_classification;
pub mod token_classification;
pub mod visual_question_answering;
mod whisper_words;

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use burn_models::hub::{HubOptions, ModelDir};

pub use audio_classification::{AudioClassificationOptions, AudioClassificationPipeline};
pub use automatic_speech_recognition::{AsrOptions, AutomaticSpeechRecognitionPipeline};
pub use ctc_speech_recognition::{CtcAsrOptions, CtcSpeechRecognitionPipeline};
pub use document_question_answering::{
    DocumentQuestionAnsweringOptions, DocumentQuestionAnsweringPipeline,
};
pub use dynamic::{Pipeline, PipelineBuilder, pipeline, pipeline_named};
pub use image_classification::{ImageClassificationOptions, ImageClassificationPipeline};
pub use image_segmentation::{ImageSegmentationOptions, ImageSegmentationPipeline, Subtask};
pub use object_detection::{ObjectDetectionOptions, ObjectDetectionPipeline};
pub use question_answering::{QuestionAnsweringOptions, QuestionAnsweringPipeline};
pub use text_classification::{TextClassificationOptions, TextClassificationPipeline};
pub use text2text_generation::{Text2TextGenerationPipeline, Text2TextOptions};
pub use token_classification::{TokenClassificationOptions, TokenClassificationPipeline};
pub use visual_question_answering::{
    VisualQuestionAnsweringOptions, VisualQuestionAnsweringPipeline,
};

use crate::error::{Result, TaskError};

/// The tasks of `transformers.pipeline`, by their HF names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    TextClassification,
    TokenClassification,
    QuestionAnswering,
    ImageClassification,
    DocumentQuestionAnswering,
    VisualQuestionAnswering,
    ObjectDetection,
    ImageSegmentation,
    Text2TextGeneration,
    Summarization,
    /// `translation` and `translation_xx_to_yy`.
    Translation,
    AutomaticSpeechRecognition,
    AudioClassification,
}

impl Task {
    pub const ALL: &[Task] = &[
        Task::TextClassification,
        Task::TokenClassification,
        Task::QuestionAnswering,
        Task::ImageClassification,
        Task::DocumentQuestionAnswering,
        Task::VisualQuestionAnswering,
        Task::ObjectDetection,
        Task::ImageSegmentation,
        Task::Text2TextGeneration,
        Task::Summarization,
        Task::Translation,
        Task::AutomaticSpeechRecognition,
        Task::AudioClassification,
    ];

    /// The canonical HF task name.
    pub fn name(self) -> &'static str {
        match self {
            Task::TextClassification => "text-classification",
            Task::TokenClassification => "token-classification",
            Task::QuestionAnswering => "question-answering",
            Task::ImageClassification => "image-classification",
            Task::DocumentQuestionAnswering => "document-question-answering",
            Task::VisualQuestionAnswering => "visual-question-answering",
            Task::ObjectDetection => "object-detection",
            Task::ImageSegmentation => "image-segmentation",
            Task::Text2TextGeneration => "text2text-generation",
            Task::Summarization => "summarization",
            Task::Translation => "translation",
            Task::AutomaticSpeechRecognition => "automatic-speech-recognition",
            Task::AudioClassification => "audio-classification",
        }
    }

    /// The model HF's `pipeline(task)` uses when none is given.
    pub fn default_model(self) -> &'static str {
        match self {
            Task::TextClassification => {
                "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
            }
            Task::TokenClassification => "dbmdz/bert-large-cased-finetuned-conll03-english",
            Task::QuestionAnswering => "distilbert/distilbert-base-cased-distilled-squad",
            Task::ImageClassification => "google/vit-base-patch16-224",
            Task::DocumentQuestionAnswering => "impira/layoutlm-document-qa",
            Task::VisualQuestionAnswering => "dandelin/vilt-b32-finetuned-vqa",
            Task::ObjectDetection => "facebook/detr-resnet-50",
            Task::ImageSegmentation => "facebook/detr-resnet-50-panoptic",
            Task::Text2TextGeneration | Task::Translation => "google-t5/t5-base",
            Task::Summarization => "sshleifer/distilbart-cnn-12-6",
            // wav2vec2 models: CTC recognition and sequence classification.
            Task::AutomaticSpeechRecognition => "facebook/wav2vec2-base-960h",
            Task::AudioClassification => "superb/wav2vec2-base-superb-ks",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Task {
    type Err = TaskError;

    /// HF task names and their aliases (`sentiment-analysis`, `ner`).
    fn from_str(name: &str) -> Result<Self> {
        Ok(match name {
            "text-classification" | "sentiment-analysis" => Task::TextClassification,
            "token-classification" | "ner" => Task::TokenClassification,
            "question-answering" => Task::QuestionAnswering,
            "image-classification" => Task::ImageClassification,
            "document-question-answering" => Task::DocumentQuestionAnswering,
            "visual-question-answering" | "vqa" => Task::VisualQuestionAnswering,
            "object-detection" => Task::ObjectDetection,
            "image-segmentation" => Task::ImageSegmentation,
            "text2text-generation" => Task::Text2TextGeneration,
            "summarization" => Task::Summarization,
            t if t == "translation" || t.starts_with("translation_") => Task::Translation,
            "automatic-speech-recognition" => Task::AutomaticSpeechRecognition,
            "audio-classification" => Task::AudioClassification,
            other => return Err(TaskError::UnknownTask(other.to_string())),
        })
    }
}

/// Where a pipeline gets its model and where it runs. `model: None` takes the task's
/// default hub model, as `pipeline(task)` does.
#[derive(Debug, Clone)]
pub struct PipelineSource {
    pub model: Option<String>,
    pub hub: HubOptions,
    pub device: Device,
    /// A PEFT LoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`)
    /// applied on top of the model, as `PeftModel.from_pretrained(model, adapter)`.
    pub adapter: Option<std::path::PathBuf>,
}

impl PipelineSource {
    pub fn new(model: impl Into<String>, device: Device) -> Self {
        Self {
            model: Some(model.into()),
            hub: HubOptions::from_env(),
            device,
            adapter: None,
        }
    }

    /// Loads the adapter, if one is set, into `model` (left active, unmerged).
    pub(crate) fn apply_adapter<M: burn_models::nn::Linears>(&self, model: M) -> Result<M> {
        Ok(match &self.adapter {
            Some(dir) => burn_peft::PeftModel::from_pretrained(model, dir)?.base_model,
            None => model,
        })
    }

    pub(crate) fn resolve(&self, task: Task) -> Result<ModelDir> {
        let model = self.model.as_deref().unwrap_or(task.default_model());
        Ok(ModelDir::resolve(model, &self.hub)?)
    }
}

/// Numerically stable softmax in f32, as numpy computes it in transformers' postprocessing.
pub(crate) fn softmax(values: &[f32]) -> Vec<f32> {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = values.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

pub(crate) fn sigmoid(value: f32) -> f32 {
    1.0 / (1.0 + (-value).exp())
}
