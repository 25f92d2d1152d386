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
use super::question_answering::{self, QaInput};
use super::text_classification::{self, InputShape, TextInput, TopK};
use super::text2text_generation;
use super::token_classification;
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
            Task::AutomaticSpeechRecognition => Pipeline::AutomaticSpeechRecognition(Box::new(
                AutomaticSpeechRecognitionPipeline::new(&source)?,
            )),
            Task::AudioClassification => {
                Pipeline::AudioClassification(Box::new(AudioClassificationPipeline::new(&source)?))
            }
            Task::Text2TextGeneration | Task::Summarization | Task::Translation => {
                Pipeline::Text2TextGeneration(Box::new(Text2TextGenerationPipeline::new(
                    &source,
                    self.task_name.as_deref().unwrap_or(self.task.name()),
                )?))
            }
        })
    }
}

/// A loaded pipeline of any task.
pub enum Pipeline {
    TextClassification(TextClassificationPipeline),
    TokenClassification(TokenClassificationPipeline),
    QuestionAnswering(QuestionAnsweringPipeline),
    AutomaticSpeechRecognition(Box<AutomaticSpeechRecognitionPipeline>),
    AudioClassification(Box<AudioClassificationPipeline>),
    /// text2text-generation, summarization and translation.
    Text2TextGeneration(Box<Text2TextGenerationPipeline>),
}

impl Pipeline {
    pub fn task(&self) -> Task {
        match self {
            Self::TextClassification(_) => Task::TextClassification,
            Self::TokenClassification(_) => Task::TokenClassification,
            Self::QuestionAnswering(_) => Task::QuestionAnswering,
            Self::AutomaticSpeechRecognition(_) => Task::AutomaticSpeechRecognition,
            Self::AudioClassification(_) => Task::AudioClassification,
            Self::Text2TextGeneration(p) => p.task(),
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
            Self::AutomaticSpeechRecognition(p) => call_asr(p, inputs, kwargs),
            Self::AudioClassification(p) => call_audio_classification(p, inputs, kwargs),
            Self::Text2TextGeneration(p) => call_text2text(p, inputs, kwargs),
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
                    other => {
                        return Err(TaskError::option(
                            "return_timestamps",
                            format!(
                                "{other} (word timestamps are not implemented; use true or false)"
                            ),
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

fn call_audio_classification(
    pipeline: &AudioClassificationPipeline,
    inputs: &Value,
    kwargs: &Map<String, Value>,
) -> Result<Value> {
    let mut options = AudioClassificationOptions::default();
    for (key, value) in kwargs {
        match key.as_str() {
            "top_k" => {
                if !value.is_null() {
                    options.top_k = count("top_k", value)?
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
