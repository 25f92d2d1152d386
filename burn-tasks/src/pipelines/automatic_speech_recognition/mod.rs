//! `automatic-speech-recognition`, as transformers' `AutomaticSpeechRecognitionPipeline`: one
//! pipeline with two kinds of model behind it, chosen by the checkpoint's `model_type`. Whisper
//! generates text (segment or word timestamps, long-form and chunked audio, generation
//! options); CTC models (wav2vec2) decode frames greedily (character or word timestamps,
//! chunked audio). The options, the inputs and the `{text}` / `{text, chunks}` output are the
//! task's; each backend reads the options it supports and refuses the others.

mod ctc;
mod whisper;
mod words;

use std::path::PathBuf;

use burn_models::wav2vec2::Wav2Vec2ForCTC;
use burn_models::whisper::WhisperForConditionalGeneration;
use serde::Serialize;
use serde_json::{Map, Value};

pub use words::AsrWord;

use super::image_classification::to_json_per_input;
use super::kwargs::{FromKwarg, InputKind, Kwargs, OptionSpec, ValueKind};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::input::audio::Audio;

/// The `automatic-speech-recognition` task: its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<AutomaticSpeechRecognitionPipeline>(
    "automatic-speech-recognition",
    &["asr"],
    "Transcribe (or translate) speech with Whisper, or transcribe it with a CTC model (wav2vec2)",
    "facebook/wav2vec2-base-960h",
    InputKind::AudioFiles,
    &[
        OptionSpec::new(
            "return_timestamps",
            ValueKind::BoolOrText,
            "Whisper: true (segments) or word; CTC models: char or word",
        ),
        OptionSpec::new(
            "chunk_length_s",
            ValueKind::Number,
            "Transcribe long audio in chunks of this many seconds, merged",
        ),
        OptionSpec::new(
            "stride_length_s",
            ValueKind::SecondsOrPair,
            "Chunk overlap in seconds: one value for both sides or LEFT,RIGHT (default \
             chunk_length_s / 6)",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "CTC models: chunks run at once (default 1)",
        ),
        OptionSpec::new(
            "return_language",
            ValueKind::Bool,
            "Whisper: the language of each chunk in the output",
        ),
        OptionSpec::new(
            "language",
            ValueKind::Text,
            "Whisper: spoken language (code `en`, token `<|en|>` or name `english`); detected \
             when unset",
        ),
        OptionSpec::new(
            "task",
            ValueKind::Text,
            "Whisper: transcribe or translate (to English)",
        ),
        OptionSpec::new(
            "max_new_tokens",
            ValueKind::Count,
            "Whisper: most tokens to generate (default: the model's max_length)",
        ),
        OptionSpec::new(
            "num_beams",
            ValueKind::Count,
            "Whisper: beam search width (default 5 unless the model sets its own)",
        ),
        OptionSpec::new(
            "generate_kwargs",
            ValueKind::Json,
            "Whisper: generation options as a JSON object (HF's names)",
        ),
    ],
);

/// Audio to transcribe: a file (any format [`Audio::from_file`] reads), encoded bytes, or
/// samples with their rate (`{"raw": ..., "sampling_rate": ...}` in HF).
#[derive(Debug, Clone)]
pub enum AudioInput {
    /// An audio file.
    File(PathBuf),
    /// The bytes of an encoded audio file.
    Bytes(Vec<u8>),
    /// Samples already decoded, with their sampling rate.
    Samples(Audio),
}

impl AudioInput {
    /// Decoded, mono, at `rate` Hz: files and bytes as ffmpeg reads them for the pipeline
    /// (`ffmpeg -ac 1 -ar <rate>`), samples resampled when at another rate.
    pub fn load(&self, rate: u32) -> Result<Audio> {
        match self {
            Self::File(path) => Audio::from_file_at(path, rate),
            Self::Bytes(bytes) => Audio::decode_at(bytes, None, rate),
            Self::Samples(audio) => audio.clone().resampled(rate),
        }
    }
}

impl From<PathBuf> for AudioInput {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

/// `return_timestamps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnTimestamps {
    /// `False` (default): the text only.
    #[default]
    None,
    /// `True`: segment-level timestamps from Whisper's timestamp tokens.
    Segments,
    /// `"word"`: Whisper's words by cross-attention alignment, or CTC's words.
    Words,
    /// `"char"`: CTC's characters.
    Chars,
}

impl FromKwarg for ReturnTimestamps {
    fn from_kwarg(name: &'static str, value: &Value) -> Result<Self> {
        match value {
            Value::Bool(true) => Ok(Self::Segments),
            Value::Bool(false) | Value::Null => Ok(Self::None),
            Value::String(s) if s == "word" => Ok(Self::Words),
            Value::String(s) if s == "char" => Ok(Self::Chars),
            other => Err(TaskError::option(
                name,
                format!("{other} (use true, false, \"word\" or, for CTC models, \"char\")"),
            )),
        }
    }
}

/// The call's options with HF's names. Whisper's generation options not listed here go in
/// `generate_kwargs` (HF's names, e.g. `num_beams`, `max_new_tokens`, `language`, `task`).
#[derive(Debug, Clone)]
pub struct AsrOptions {
    /// `return_timestamps`: segment, word or character times (default none).
    pub return_timestamps: ReturnTimestamps,
    /// Split the audio into chunks of this many seconds, transcribed one by one and merged.
    pub chunk_length_s: Option<f64>,
    /// Overlap (left, right) of the chunks in seconds; default `chunk_length_s / 6` each side.
    pub stride_length_s: Option<(f64, f64)>,
    /// Whisper: the language of each chunk in the output.
    pub return_language: bool,
    /// CTC models: clips (or chunks) run through the model at once, padded with an attention
    /// mask. Whisper transcribes one input at a time.
    pub batch_size: usize,
    /// Whisper's generation options.
    pub generate_kwargs: Map<String, Value>,
}

impl Default for AsrOptions {
    fn default() -> Self {
        Self {
            return_timestamps: ReturnTimestamps::None,
            chunk_length_s: None,
            stride_length_s: None,
            return_language: false,
            batch_size: 1,
            generate_kwargs: Map::new(),
        }
    }
}

/// One timestamped piece of a Whisper transcription.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsrChunk {
    /// Present (possibly `null`) only with `return_language`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Option<String>>,
    /// `[start, end]` in seconds; an end is `null` when the transcription stops without a
    /// closing timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<(Option<f64>, Option<f64>)>,
    /// The segment's text.
    pub text: String,
}

/// The `"chunks"` of the output: segments (`return_timestamps=True`, `return_language`) or
/// words and characters with their times.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AsrChunks {
    /// Segments, with `return_timestamps=True` or `return_language`.
    Segments(Vec<AsrChunk>),
    /// Words or characters, with `return_timestamps="word"` or `"char"`.
    Words(Vec<AsrWord>),
}

/// `{"text": ...}`, with `"chunks"` when timestamps or languages were asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsrOutput {
    /// The whole transcription.
    pub text: String,
    /// Timestamped pieces, when timestamps or languages were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<AsrChunks>,
}

/// The model behind the pipeline.
enum Recognizer {
    Whisper(Box<whisper::WhisperRecognizer>),
    Ctc(Box<ctc::CtcRecognizer>),
}

/// A speech recognizer, Whisper (sequence to sequence) or Wav2Vec2 (CTC), with its feature
/// extractor and tokenizer, as transformers' `pipeline("automatic-speech-recognition")`.
pub struct AutomaticSpeechRecognitionPipeline {
    recognizer: Recognizer,
}

impl TaskPipeline for AutomaticSpeechRecognitionPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = AsrOptions;
    type Input = AudioInput;
    type Output = AsrOutput;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let model_type = burn_models::auto::model_type(&dir)?;
        let recognizer = match model_type.as_str() {
            "whisper" => {
                let mut whisper = whisper::WhisperRecognizer::load(&dir, device)?;
                whisper.model = source.prepare_model(whisper.model)?;
                Recognizer::Whisper(Box::new(whisper))
            }
            kind if ctc::CTC_MODEL_TYPES.contains(&kind) => {
                let mut ctc = ctc::CtcRecognizer::load(&dir, device)?;
                ctc.model = source.prepare_model(ctc.model)?;
                Recognizer::Ctc(Box::new(ctc))
            }
            other => {
                return Err(TaskError::InvalidModel(format!(
                    "{}: automatic-speech-recognition supports model_type whisper and {}, not \
                     `{other}`",
                    dir.path().display(),
                    ctc::CTC_MODEL_TYPES.join(", ")
                )));
            }
        };
        Ok(Self { recognizer })
    }

    /// Whisper takes any other keyword argument as a generation option, as transformers
    /// passes them to `generate`; CTC models have none.
    fn options(&self, kwargs: &mut Kwargs) -> Result<AsrOptions> {
        let mut options = AsrOptions::default();
        kwargs.update("return_timestamps", &mut options.return_timestamps)?;
        if let Some(chunk) = kwargs.get::<Option<f64>>("chunk_length_s")? {
            options.chunk_length_s = chunk;
        }
        kwargs.update("stride_length_s", &mut options.stride_length_s)?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        match &self.recognizer {
            Recognizer::Whisper(_) => {
                kwargs.update("return_language", &mut options.return_language)?;
                if let Some(generate) = kwargs.get::<Map<String, Value>>("generate_kwargs")? {
                    options.generate_kwargs.extend(generate);
                }
                options.generate_kwargs.extend(kwargs.drain());
            }
            Recognizer::Ctc(_) => {
                if let Some((name, _)) = kwargs.drain().into_iter().next() {
                    return Err(TaskError::InvalidInput(format!(
                        "automatic-speech-recognition with a CTC model has no option `{name}` \
                         (generation options apply to Whisper only)"
                    )));
                }
            }
        }
        Ok(options)
    }

    /// A file path, `{"raw"|"array": [...], "sampling_rate": n}`, or a list of these.
    fn inputs(&self, inputs: &Value, _: &mut Kwargs) -> Result<(Vec<AudioInput>, InputForm)> {
        audio_inputs(inputs)
    }

    fn run(&self, inputs: &[AudioInput], options: &AsrOptions) -> Result<Vec<AsrOutput>> {
        self.transcribe(inputs, options)
    }

    /// One input gives an object, a list of inputs a list.
    fn to_json(&self, outputs: Vec<AsrOutput>, form: InputForm, _: &AsrOptions) -> Result<Value> {
        to_json_per_input(outputs, form)
    }
}

impl AutomaticSpeechRecognitionPipeline {
    /// The transcription of each input.
    pub fn transcribe(
        &self,
        inputs: &[AudioInput],
        options: &AsrOptions,
    ) -> Result<Vec<AsrOutput>> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        if let Some(chunk) = options.chunk_length_s
            && !(chunk.is_finite() && chunk >= 0.0)
        {
            return Err(TaskError::option(
                "chunk_length_s",
                format!("{chunk} is not a length in seconds"),
            ));
        }
        match &self.recognizer {
            Recognizer::Whisper(whisper) => whisper.transcribe(inputs, options),
            Recognizer::Ctc(ctc) => ctc.transcribe(inputs, options),
        }
    }

    /// The rate, in Hz, audio is resampled to before the model.
    pub fn sampling_rate(&self) -> u32 {
        match &self.recognizer {
            Recognizer::Whisper(whisper) => whisper.sampling_rate(),
            Recognizer::Ctc(ctc) => ctc.sampling_rate(),
        }
    }

    /// The Whisper model, if the pipeline runs one (with any adapter loaded).
    pub fn whisper(&self) -> Option<&WhisperForConditionalGeneration> {
        match &self.recognizer {
            Recognizer::Whisper(whisper) => Some(&whisper.model),
            Recognizer::Ctc(_) => None,
        }
    }

    /// The CTC model, if the pipeline runs one (with any adapter loaded).
    pub fn ctc(&self) -> Option<&Wav2Vec2ForCTC> {
        match &self.recognizer {
            Recognizer::Ctc(ctc) => Some(&ctc.model),
            Recognizer::Whisper(_) => None,
        }
    }
}

/// Audio inputs as HF's audio pipelines take them: a file path, `{"raw"|"array": [...],
/// "sampling_rate": n}`, or a list of these.
pub(crate) fn audio_inputs(inputs: &Value) -> Result<(Vec<AudioInput>, InputForm)> {
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
                    .and_then(|rate| u32::try_from(rate).ok())
                    .ok_or_else(|| {
                        TaskError::InvalidInput(
                            "an audio dict needs a \"sampling_rate\" in Hz".into(),
                        )
                    })?;
                Ok(AudioInput::Samples(Audio::from_samples(samples, rate)?))
            }
            other => Err(TaskError::InvalidInput(format!(
                "audio input must be a file path or a {{\"raw\", \"sampling_rate\"}} dict, got {other}"
            ))),
        }
    };
    match inputs {
        Value::Array(items) => Ok((
            items.iter().map(one).collect::<Result<_>>()?,
            InputForm::List,
        )),
        Value::Object(_) => Ok((vec![one(inputs)?], InputForm::Dict)),
        single => Ok((vec![one(single)?], InputForm::One)),
    }
}

/// The default chunk overlap: `chunk_length_s / 6` on each side.
pub(crate) fn strides(options: &AsrOptions, chunk_length_s: f64) -> (f64, f64) {
    options
        .stride_length_s
        .unwrap_or((chunk_length_s / 6.0, chunk_length_s / 6.0))
}
