//! `pipeline(task)`: one entry point for every task, called like a transformers pipeline with
//! JSON inputs and keyword arguments, returning HF's JSON.
//!
//! ```no_run
//! use burn_tasks::pipelines::{Task, pipeline};
//! use serde_json::json;
//!
//! let classifier = pipeline(Task::TextClassification).model("path/to/model").build()?;
//! let out = classifier.call(&json!("I love this!"), &json!({"top_k": null}))?;
//! # Ok::<(), burn_tasks::TaskError>(())
//! ```

use burn::tensor::Device;
use burn_models::hub::HubOptions;
use serde_json::{Map, Value};

use super::audio_classification;
use super::automatic_speech_recognition::{self, AudioInput, ReturnTimestamps};
use super::ctc_speech_recognition::{self, CtcAsrOptions, CtcSpeechRecognitionPipeline};
use super::document_question_answering::{self, DocumentQaInput};
use super::image_segmentation;
use super::question_answering::{self, QaInput};
use super::text_classification::{self, InputShape, TextInput, TopK};
use super::text2text_generation;
use super::token_classification;
use super::visual_question_answering::{self, VqaInput};
use super::*;
use crate::input::audio::Audio;

/// Starts building the pipeline of `task`; without `.model(...)` it uses HF's default model.
pub fn pipeline(task: Task) -> PipelineBuilder {
    PipelineBuilder {
        task,
        task_name: None,
        model: None,
        device: None,
        hub: HubOptions::from_env(),
        adapter: None,
    }
}

/// [`pipeline`] by an HF task name, keeping names that carry parameters
/// (`translation_en_to_fr` selects the checkpoint's `task_specific_params` entry).
pub fn pipeline_named(task: &str) -> Result<PipelineBuilder> {
    let mut builder = pipeline(task.parse()?);
    builder.task_name = Some(task.to_string());
    Ok(builder)
}

pub struct PipelineBuilder {
    task: Task,
    task_name: Option<String>,
    model: Option<String>,
    device: Option<Device>,
    hub: HubOptions,
    adapter: Option<std::path::PathBuf>,
}

impl PipelineBuilder {
    /// A local model directory or a hub id.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Where the model runs (default: `BURN_DEVICE`, else the best compiled-in backend).
    pub fn device(mut self, device: Device) -> Self {
        self.device = Some(device);
        self
    }

    /// A PEFT LoRA adapter directory applied on top of the model.
    pub fn adapter(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.adapter = Some(dir.into());
        self
    }

    /// Hub revision, token, cache and offline mode.
    pub fn hub(mut self, hub: HubOptions) -> Self {
        self.hub = hub;
        self
    }

    /// Loads the model and its tokenizer once.
    pub fn build(self) -> Result<Pipeline> {
        let device = match self.device {
            Some(device) => device,
            None => burn_models::device::parse_device(None)?,
        };
        let source = PipelineSource {
            model: self.model,
            hub: self.hub,
            device,
            adapter: self.adapter,
        };
        Ok(match self.task {
            Task::TextClassification => {
                Pipeline::TextClassification(TextClassificationPipeline::new(&source)?)
            }
            Task::TokenClassification => {
                Pipeline::TokenClassification(TokenClassificationPipeline::new(&source)?)
            }
            Task::QuestionAnswering => {
                Pipeline::QuestionAnswering(QuestionAnsweringPipeline::new(&source)?)
            }
            Task::ImageClassification => {
                Pipeline::ImageClassification(ImageClassificationPipeline::new(&source)?)
            }
            Task::DocumentQuestionAnswering => Pipeline::DocumentQuestionAnswering(
                DocumentQuestionAnsweringPipeline::new(&source)?,
            ),
            Task::VisualQuestionAnswering => {
                Pipeline::VisualQuestionAnswering(VisualQuestionAnsweringPipeline::new(&source)?)
            }
            Task::ObjectDetection => {
                Pipeline::ObjectDetection(ObjectDetectionPipeline::new(&source)?)
            }
            Task::ImageSegmentation => {
                Pipeline::ImageSegmentation(Box::new(ImageSegmentationPipeline::new(&source)?))
            }
            Task::Text2TextGeneration | Task::Summarization | Task::Translation => {
                Pipeline::Text2TextGeneration(Box::new(Text2TextGenerationPipeline::new(
                    &source,
                    self.task_name.as_deref().unwrap_or(self.task.name()),
                )?))
            }
            Task::AutomaticSpeechRecognition if ctc_speech_recognition::uses_ctc(&source) => {
                Pipeline::CtcSpeechRecognition(Box::new(CtcSpeechRecognitionPipeline::new(
                    &source,
                )?))
            }
            Task::AutomaticSpeechRecognition => Pipeline::AutomaticSpeechRecognition(Box::new(
                AutomaticSpeechRecognitionPipeline::new(&source)?,
            )),
            Task::AudioClassification => {
                Pipeline::AudioClassification(Box::new(AudioClassificationPipeline::new(&source)?))
            }
        })
    }
}

/// A loaded pipeline of any task.
pub enum Pipeline {
    TextClassification(TextClassificationPipeline),
    TokenClassification(TokenClassificationPipeline),
    QuestionAnswering(QuestionAnsweringPipeline),
    ImageClassification(ImageClassificationPipeline),
    DocumentQuestionAnswering(DocumentQuestionAnsweringPipeline),
    VisualQuestionAnswering(VisualQuestionAnsweringPipeline),
    ObjectDetection(ObjectDetectionPipeline),
    ImageSegmentation(Box<ImageSegmentationPipeline>),
    /// text2text-generation, summarization and translation.
    Text2TextGeneration(Box<Text2TextGenerationPipeline>),
    AutomaticSpeechRecognition(Box<AutomaticSpeechRecognitionPipeline>),
    /// automatic-speech-recognition with a CTC model (wav2vec2).
    CtcSpeechRecognition(Box<CtcSpeechRecognitionPipeline>),
    AudioClassification(Box<AudioClassificationPipeline>),
}

impl Pipeline {
    pub fn task(&self) -> Task {
        match self {
            Self::TextClassification(_) => Task::TextClassification,
            Self::TokenClassification(_) => Task::TokenClassification,
            Self::QuestionAnswering(_) => Task::QuestionAnswering,
            Self::ImageClassification(_) => Task::ImageClassification,
            Self::DocumentQuestionAnswering(_) => Task::DocumentQuestionAnswering,
            Self::VisualQuestionAnswering(_) => Task::VisualQuestionAnswering,
            Self::ObjectDetection(_) => Task::ObjectDetection,
            Self::ImageSegmentation(_) => Task::ImageSegmentation,
            Self::Text2TextGeneration(p) => p.task(),
            Self::AutomaticSpeechRecognition(_) => Task::AutomaticSpeechRecognition,
            Self::CtcSpeechRecognition(_) => Task::AutomaticSpeechRecognition,
            Self::AudioClassification(_) => Task::AudioClassification,
        }
    }

    /// `pipe(inputs, **kwargs)`: inputs and keyword arguments as transformers takes them, the
    /// result as transformers returns it. Unknown keyword arguments are errors.
    pub fn call(&self, inputs: &Value, kwargs: &Value) -> Result<Value> {
        let empty = Map::new();
        let kwargs = match kwargs {
            Value::Object(map) => map,
            Value::Null => &empty,
            other => {
                return Err(TaskError::InvalidInput(format!(
                    "kwargs must be an object, got {other}"
                )));
            }
        };
        match self {
            Self::TextClassification(p) => call_text_classification(p, inputs, kwargs),
            Self::TokenClassification(p) => call_token_classification(p, inputs, kwargs),
            Self::QuestionAnswering(p) => call_question_answering(p, inputs, kwargs),
            Self::ImageClassification(p) => call_image_classification(p, inputs, kwargs),
            Self::DocumentQuestionAnswering(p) => {
                call_document_question_answering(p, inputs, kwargs)
            }
            Self::VisualQuestionAnswering(p) => call_visual_question_answering(p, inputs, kwargs),
            Self::ObjectDetection(p) => call_object_detection(p, inputs, kwargs),
            Self::ImageSegmentation(p) => call_image_segmentation(p, inputs, kwargs),
            Self::Text2TextGeneration(p) => call_text2text(p, inputs, kwargs),
            Self::AutomaticSpeechRecognition(p) => call_asr(p, inputs, kwargs),
            Self::CtcSpeechRecognition(p) => call_ctc_asr(p, inputs, kwargs),
            Self::AudioClassification(p) => call_audio_classification(p, inputs, kwargs),
        }
    }
}

fn call_text_classification(
    pipeline: &TextClassificationPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = TextClassificationOptions::default();
    for (key, value) in kwargs {
        match key.as_str() {
            "top_k" => {
                options.top_k = match value {
                    Value::Null => TopK::All,
                    v => TopK::Some(count("top_k", v)?),
                }
            }
            "function_to_apply" => {
                options.function_to_apply = string("function_to_apply", value)?.parse()?
            }
            "truncation" => options.truncation = boolean("truncation", value)?,
            "batch_size" => options.batch_size = count("batch_size", value)?,
            other => return Err(unknown(other, Task::TextClassification)),
        }
    }
    let text_input = |value: &Value| -> Result<TextInput> {
        match value {
            Value::String(text) => Ok(TextInput::from(text.as_str())),
            Value::Object(pair) => Ok(TextInput {
                text: string("text", pair.get("text").unwrap_or(&Value::Null))?.to_string(),
                text_pair: pair
                    .get("text_pair")
                    .map(|p| string("text_pair", p).map(str::to_string))
                    .transpose()?,
            }),
            other => Err(TaskError::InvalidInput(format!(
                "text-classification takes a string, a {{\"text\", \"text_pair\"}} dict or a list of them, got {other}"
            ))),
        }
    };
    let (inputs, shape) = match inputs {
        Value::Array(items) => (
            items.iter().map(text_input).collect::<Result<_>>()?,
            InputShape::List,
        ),
        Value::Object(_) => (vec![text_input(inputs)?], InputShape::SinglePair),
        single => (vec![text_input(single)?], InputShape::SingleText),
    };
    let results = pipeline.classify(&inputs, &options)?;
    Ok(text_classification::to_hf_json(
        results,
        shape,
        options.top_k,
    ))
}

fn call_token_classification(
    pipeline: &TokenClassificationPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = TokenClassificationOptions::default();
    for (key, value) in kwargs {
        match key.as_str() {
            "aggregation_strategy" => {
                options.aggregation_strategy = string("aggregation_strategy", value)?.parse()?
            }
            "ignore_labels" => {
                options.ignore_labels = value
                    .as_array()
                    .ok_or_else(|| TaskError::option("ignore_labels", "must be a list of labels"))?
                    .iter()
                    .map(|l| string("ignore_labels", l).map(str::to_string))
                    .collect::<Result<_>>()?
            }
            "stride" => options.stride = Some(count("stride", value)?),
            "batch_size" => options.batch_size = count("batch_size", value)?,
            other => return Err(unknown(other, Task::TokenClassification)),
        }
    }
    let (texts, shape) = match inputs {
        Value::Array(items) => (
            items
                .iter()
                .map(|t| string("inputs", t).map(str::to_string))
                .collect::<Result<Vec<_>>>()?,
            token_classification::InputShape::List,
        ),
        single => (
            vec![string("inputs", single)?.to_string()],
            token_classification::InputShape::Single,
        ),
    };
    let results = pipeline.classify(&texts, &options)?;
    Ok(token_classification::to_hf_json(results, shape))
}

fn call_question_answering(
    pipeline: &QuestionAnsweringPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = QuestionAnsweringOptions::default();
    let (mut question, mut context) = (None, None);
    for (key, value) in kwargs {
        match key.as_str() {
            "top_k" => options.top_k = count("top_k", value)?,
            "doc_stride" => options.doc_stride = Some(count("doc_stride", value)?),
            "max_answer_len" => options.max_answer_len = count("max_answer_len", value)?,
            "max_seq_len" => options.max_seq_len = Some(count("max_seq_len", value)?),
            "max_question_len" => options.max_question_len = count("max_question_len", value)?,
            "handle_impossible_answer" => {
                options.handle_impossible_answer = boolean("handle_impossible_answer", value)?
            }
            "align_to_words" => options.align_to_words = boolean("align_to_words", value)?,
            "batch_size" => options.batch_size = count("batch_size", value)?,
            // `pipe(question=..., context=...)`
            "question" => question = Some(string("question", value)?.to_string()),
            "context" => context = Some(string("context", value)?.to_string()),
            other => return Err(unknown(other, Task::QuestionAnswering)),
        }
    }
    let qa_input = |value: &Value| -> Result<QaInput> {
        let field = |key: &'static str| {
            string(key, value.get(key).unwrap_or(&Value::Null)).map(str::to_string)
        };
        Ok(QaInput::new(field("question")?, field("context")?))
    };
    let inputs = match (inputs, question, context) {
        (Value::Null, Some(q), Some(c)) => vec![QaInput::new(q, c)],
        (Value::Array(items), None, None) => items.iter().map(qa_input).collect::<Result<_>>()?,
        (Value::Object(_), None, None) => vec![qa_input(inputs)?],
        _ => {
            return Err(TaskError::InvalidInput(
                "question-answering takes {\"question\", \"context\"} dicts, or question= and context=".into(),
            ));
        }
    };
    let results = pipeline.answer(&inputs, &options)?;
    Ok(question_answering::to_hf_json(results))
}

fn call_image_classification(
    pipeline: &ImageClassificationPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = ImageClassificationOptions::default();
    for (key, value) in kwargs {
        match key.as_str() {
            // `top_k=None` is HF's "use the default" (5).
            "top_k" if value.is_null() => {}
            "top_k" => options.top_k = count("top_k", value)?,
            "function_to_apply" => {
                options.function_to_apply = string("function_to_apply", value)?.parse()?
            }
            "batch_size" => options.batch_size = count("batch_size", value)?,
            other => return Err(unknown(other, Task::ImageClassification)),
        }
    }
    let (images, single) = image_classification::images_from_json(inputs)?;
    let results = pipeline.classify(&images, &options)?;
    Ok(image_classification::to_hf_json(results, single))
}

/// `pipe(image=..., question=..., word_boxes=...)` or `pipe([{"image", "question",
/// "word_boxes"}, ...])`; `image` is a path (read only by OCR, when there are no word boxes).
fn call_document_question_answering(
    pipeline: &DocumentQuestionAnsweringPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = DocumentQuestionAnsweringOptions::default();
    let mut single = Map::new();
    for (key, value) in kwargs {
        match key.as_str() {
            "top_k" => options.top_k = count("top_k", value)?,
            "doc_stride" => options.doc_stride = Some(count("doc_stride", value)?),
            "max_answer_len" => options.max_answer_len = count("max_answer_len", value)?,
            "max_seq_len" => options.max_seq_len = Some(count("max_seq_len", value)?),
            "max_question_len" => options.max_question_len = count("max_question_len", value)?,
            "handle_impossible_answer" => {
                options.handle_impossible_answer = boolean("handle_impossible_answer", value)?
            }
            "lang" => options.lang = Some(string("lang", value)?.to_string()),
            "tesseract_config" => {
                options.tesseract_config = string("tesseract_config", value)?.to_string()
            }
            "batch_size" => options.batch_size = count("batch_size", value)?,
            "image" | "question" | "word_boxes" => {
                single.insert(key.clone(), value.clone());
            }
            other => return Err(unknown(other, Task::DocumentQuestionAnswering)),
        }
    }
    let doc_input = |value: &Value| -> Result<DocumentQaInput> {
        let question = string("question", value.get("question").unwrap_or(&Value::Null))?;
        let image = match value.get("image") {
            None | Some(Value::Null) => None,
            Some(path) => Some(string("image", path)?.into()),
        };
        let word_boxes = match value.get("word_boxes") {
            None | Some(Value::Null) => None,
            Some(boxes) => Some(document_question_answering::parse_word_boxes(boxes)?),
        };
        Ok(DocumentQaInput {
            question: question.to_string(),
            image,
            word_boxes,
        })
    };
    let (inputs, is_single) = match inputs {
        Value::Array(items) if single.is_empty() => {
            (items.iter().map(doc_input).collect::<Result<_>>()?, false)
        }
        Value::Object(_) if single.is_empty() => (vec![doc_input(inputs)?], true),
        // `pipe(image, question=..., word_boxes=...)`: the image given positionally.
        Value::String(_) | Value::Null if single.contains_key("question") => {
            if !inputs.is_null() {
                single.insert("image".into(), inputs.clone());
            }
            (vec![doc_input(&Value::Object(single))?], true)
        }
        _ => {
            return Err(TaskError::InvalidInput(
                "document-question-answering takes {\"image\", \"question\", \"word_boxes\"} dicts, \
                 or image, question= and word_boxes="
                    .into(),
            ));
        }
    };
    let results = pipeline.answer(&inputs, &options)?;
    Ok(document_question_answering::to_hf_json(results, is_single))
}

/// `pipe(image=..., question=...)`, `pipe({"image", "question"})` or a list of such dicts;
/// `image` is a path.
fn call_visual_question_answering(
    pipeline: &VisualQuestionAnsweringPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = VisualQuestionAnsweringOptions::default();
    let mut single = Map::new();
    for (key, value) in kwargs {
        match key.as_str() {
            "top_k" => options.top_k = count("top_k", value)?,
            "batch_size" => options.batch_size = count("batch_size", value)?,
            "image" | "question" => {
                single.insert(key.clone(), value.clone());
            }
            other => return Err(unknown(other, Task::VisualQuestionAnswering)),
        }
    }
    let vqa_input = |value: &Value| -> Result<VqaInput> {
        let image = string("image", value.get("image").unwrap_or(&Value::Null))?;
        let question = string("question", value.get("question").unwrap_or(&Value::Null))?;
        Ok(VqaInput::new(image, question))
    };
    let (inputs, is_single) = match inputs {
        Value::Array(items) if single.is_empty() => {
            (items.iter().map(vqa_input).collect::<Result<_>>()?, false)
        }
        Value::Object(_) if single.is_empty() => (vec![vqa_input(inputs)?], true),
        Value::String(_) | Value::Null if single.contains_key("question") => {
            if !inputs.is_null() {
                single.insert("image".into(), inputs.clone());
            }
            (vec![vqa_input(&Value::Object(single))?], true)
        }
        _ => {
            return Err(TaskError::InvalidInput(
                "visual-question-answering takes {\"image\", \"question\"} dicts, or image= and question="
                    .into(),
            ));
        }
    };
    let results = pipeline.answer(&inputs, &options)?;
    Ok(visual_question_answering::to_hf_json(results, is_single))
}

fn call_object_detection(
    pipeline: &ObjectDetectionPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = ObjectDetectionOptions::default();
    for (key, value) in kwargs {
        match key.as_str() {
            "threshold" => {
                options.threshold = value.as_f64().ok_or_else(|| {
                    TaskError::option("threshold", format!("expected a number, got {value}"))
                })? as f32
            }
            "batch_size" => options.batch_size = count("batch_size", value)?,
            other => return Err(unknown(other, Task::ObjectDetection)),
        }
    }
    object_detection::call(pipeline, inputs, options)
}

/// HF's keyword arguments, plus `masks_dir` (where the mask PNGs go; default: a new temp dir).
fn call_image_segmentation(
    pipeline: &ImageSegmentationPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = ImageSegmentationOptions::default();
    let mut masks_dir = None;
    let number = |name: &'static str, value: &Value| {
        value
            .as_f64()
            .ok_or_else(|| TaskError::option(name, format!("expected a number, got {value}")))
    };
    for (key, value) in kwargs {
        match key.as_str() {
            "subtask" => {
                options.subtask = match value {
                    Value::Null => None,
                    other => Some(string("subtask", other)?.parse()?),
                }
            }
            "threshold" => options.threshold = number("threshold", value)? as f32,
            "mask_threshold" => options.mask_threshold = number("mask_threshold", value)? as f32,
            "overlap_mask_area_threshold" => {
                options.overlap_mask_area_threshold = number("overlap_mask_area_threshold", value)?
            }
            "batch_size" => options.batch_size = count("batch_size", value)?,
            "masks_dir" => masks_dir = Some(std::path::PathBuf::from(string("masks_dir", value)?)),
            other => return Err(unknown(other, Task::ImageSegmentation)),
        }
    }
    image_segmentation::call(pipeline, inputs, options, masks_dir.as_deref())
}

/// `generate()` keyword arguments the text2text pipelines pass through.
const GENERATE_KWARGS: &[&str] = &[
    "max_length",
    "max_new_tokens",
    "min_length",
    "min_new_tokens",
    "early_stopping",
    "num_beams",
    "do_sample",
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "length_penalty",
    "no_repeat_ngram_size",
    "bad_words_ids",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "num_return_sequences",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "decoder_start_token_id",
    "suppress_tokens",
    "begin_suppress_tokens",
    "use_cache",
];

fn call_text2text(
    pipeline: &Text2TextGenerationPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = Text2TextOptions::default();
    for (key, value) in kwargs {
        match key.as_str() {
            "truncation" => {
                options.truncation = Some(match value {
                    Value::String(s) => s != "do_not_truncate",
                    v => boolean("truncation", v)?,
                })
            }
            "clean_up_tokenization_spaces" => {
                options.clean_up_tokenization_spaces =
                    boolean("clean_up_tokenization_spaces", value)?
            }
            "return_tensors" => options.return_tensors = boolean("return_tensors", value)?,
            "return_text" => options.return_tensors = !boolean("return_text", value)?,
            "src_lang" => options.src_lang = Some(string("src_lang", value)?.to_string()),
            "tgt_lang" => options.tgt_lang = Some(string("tgt_lang", value)?.to_string()),
            "batch_size" => options.batch_size = count("batch_size", value)?,
            "seed" => options.seed = Some(count("seed", value)? as u64),
            k if GENERATE_KWARGS.contains(&k) => {
                options.generate_kwargs.insert(key.clone(), value.clone());
            }
            other => return Err(unknown(other, pipeline.task())),
        }
    }
    let (texts, single) = match inputs {
        Value::Array(items) => (
            items
                .iter()
                .map(|t| string("inputs", t).map(str::to_string))
                .collect::<Result<Vec<_>>>()?,
            false,
        ),
        single => (vec![string("inputs", single)?.to_string()], true),
    };
    let results = pipeline.generate(&texts, &options)?;
    Ok(text2text_generation::to_hf_json(
        pipeline.task(),
        results,
        single,
    ))
}

/// Audio inputs as HF's audio pipelines take them: a file path, `{"raw"|"array": [...],
/// "sampling_rate": n}`, or a list of these (`(inputs, single)`).
fn audio_inputs(inputs: &Value) -> Result<(Vec<AudioInput>, bool)> {
    let one = |value: &Value| -> Result<AudioInput> {
        match value {
            Value::String(path) => Ok(AudioInput::File(path.into())),
            Value::Object(map) => {
                let samples = map
                    .get("raw")
                    .or_else(|| map.get("array"))
                    .and_then(Value::as_array)
                    .ok_or_else(|| {
                        TaskError::InvalidInput(
                            "an audio dict needs a \"raw\" (or \"array\") list of samples and a \"sampling_rate\"".into(),
                        )
                    })?
                    .iter()
                    .map(|v| v.as_f64().map(|v| v as f32))
                    .collect::<Option<Vec<f32>>>()
                    .ok_or_else(|| TaskError::InvalidInput("audio samples must be numbers".into()))?;
                let rate = map
                    .get("sampling_rate")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| {
                        TaskError::InvalidInput("an audio dict needs a \"sampling_rate\"".into())
                    })?;
                Ok(AudioInput::Samples(Audio::from_samples(
                    samples,
                    rate as u32,
                )?))
            }
            other => Err(TaskError::InvalidInput(format!(
                "audio input must be a file path or a {{\"raw\", \"sampling_rate\"}} dict, got {other}"
            ))),
        }
    };
    match inputs {
        Value::Array(items) => Ok((items.iter().map(one).collect::<Result<_>>()?, false)),
        single => Ok((vec![one(single)?], true)),
    }
}

fn call_asr(
    pipeline: &AutomaticSpeechRecognitionPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = AsrOptions::default();
    for (key, value) in kwargs {
        match key.as_str() {
            "return_timestamps" => {
                options.return_timestamps = match value {
                    Value::Bool(true) => ReturnTimestamps::Segments,
                    Value::Bool(false) | Value::Null => ReturnTimestamps::None,
                    Value::String(s) if s == "word" => ReturnTimestamps::Words,
                    Value::String(s) if s == "char" => {
                        return Err(TaskError::option(
                            "return_timestamps",
                            "Whisper cannot return `char` timestamps, only word level or segment \
                             level timestamps. Use `return_timestamps='word'` or \
                             `return_timestamps=True` respectively.",
                        ));
                    }
                    other => {
                        return Err(TaskError::option(
                            "return_timestamps",
                            format!("{other} (use true, false or \"word\")"),
                        ));
                    }
                }
            }
            "return_language" => options.return_language = boolean("return_language", value)?,
            "generate_kwargs" => {
                let map = value
                    .as_object()
                    .ok_or_else(|| TaskError::option("generate_kwargs", "must be an object"))?;
                options.generate_kwargs.extend(map.clone());
            }
            "chunk_length_s" => {
                options.chunk_length_s = match value {
                    Value::Null => None,
                    v => Some(v.as_f64().ok_or_else(|| {
                        TaskError::option("chunk_length_s", format!("expected seconds, got {v}"))
                    })?),
                }
            }
            "stride_length_s" => {
                let seconds = |v: &Value| {
                    v.as_f64().ok_or_else(|| {
                        TaskError::option("stride_length_s", format!("expected seconds, got {v}"))
                    })
                };
                options.stride_length_s = match value {
                    Value::Null => None,
                    Value::Array(pair) if pair.len() == 2 => {
                        Some((seconds(&pair[0])?, seconds(&pair[1])?))
                    }
                    v => {
                        let s = seconds(v)?;
                        Some((s, s))
                    }
                }
            }
            "batch_size" => {
                count("batch_size", value)?;
            }
            // Other keyword arguments are generation options, as in transformers.
            _ => {
                options.generate_kwargs.insert(key.clone(), value.clone());
            }
        }
    }
    let (inputs, single) = audio_inputs(inputs)?;
    let results = pipeline.transcribe(&inputs, &options)?;
    Ok(automatic_speech_recognition::to_hf_json(results, single))
}

/// `pipe(audio, chunk_length_s=..., stride_length_s=..., batch_size=...,
/// return_timestamps="char"|"word")` for CTC models.
fn call_ctc_asr(
    pipeline: &CtcSpeechRecognitionPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = CtcAsrOptions::default();
    let seconds = |name: &'static str, v: &Value| {
        v.as_f64()
            .ok_or_else(|| TaskError::option(name, format!("expected seconds, got {v}")))
    };
    for (key, value) in kwargs {
        match key.as_str() {
            "return_timestamps" => {
                options.return_timestamps = match value {
                    Value::Null | Value::Bool(false) => Default::default(),
                    Value::String(s) => s.parse()?,
                    other => other.to_string().parse()?,
                }
            }
            "chunk_length_s" => {
                options.chunk_length_s = match value {
                    Value::Null => None,
                    v => Some(seconds("chunk_length_s", v)?),
                }
            }
            "stride_length_s" => {
                options.stride_length_s = match value {
                    Value::Null => None,
                    Value::Array(pair) if pair.len() == 2 => Some((
                        seconds("stride_length_s", &pair[0])?,
                        seconds("stride_length_s", &pair[1])?,
                    )),
                    v => {
                        let s = seconds("stride_length_s", v)?;
                        Some((s, s))
                    }
                }
            }
            "batch_size" => options.batch_size = count("batch_size", value)?,
            other => {
                return Err(TaskError::InvalidInput(format!(
                    "automatic-speech-recognition with a CTC model has no option `{other}` \
                     (generation options apply to Whisper only)"
                )));
            }
        }
    }
    let (inputs, single) = audio_inputs(inputs)?;
    let results = pipeline.transcribe(&inputs, &options)?;
    Ok(ctc_speech_recognition::to_hf_json(results, single))
}

fn call_audio_classification(
    pipeline: &AudioClassificationPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = AudioClassificationOptions::default();
    for (key, value) in kwargs {
        match key.as_str() {
            // `top_k=None` at call time is every label, as in transformers.
            "top_k" => {
                options.top_k = match value {
                    Value::Null => usize::MAX,
                    v => count("top_k", v)?,
                }
            }
            "function_to_apply" => {
                options.function_to_apply = string("function_to_apply", value)?.parse()?
            }
            "batch_size" => {
                count("batch_size", value)?;
            }
            other => return Err(unknown(other, Task::AudioClassification)),
        }
    }
    let (inputs, single) = audio_inputs(inputs)?;
    let results = pipeline.classify(&inputs, &options)?;
    Ok(audio_classification::to_hf_json(results, single))
}

fn unknown(name: &str, task: Task) -> TaskError {
    TaskError::InvalidInput(format!("{task} has no option `{name}`"))
}

fn count(name: &'static str, value: &Value) -> Result<usize> {
    value.as_u64().map(|v| v as usize).ok_or_else(|| {
        TaskError::option(
            name,
            format!("expected a non-negative integer, got {value}"),
        )
    })
}

fn boolean(name: &'static str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| TaskError::option(name, format!("expected true or false, got {value}")))
}

fn string<'a>(name: &'static str, value: &'a Value) -> Result<&'a str> {
    value
        .as_str()
        .ok_or_else(|| TaskError::option(name, format!("expected a string, got {value}")))
}
