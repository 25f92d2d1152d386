//! `text2text-generation`, `summarization` and `translation_xx_to_yy`: encoder-decoder
//! generation (BART, Marian, T5) with HF's generation defaults, task parameters and output.

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_models::generation::{GenerationConfig, decoder_start_prompt, generate};
use burn_models::seq2seq::{TextSeq2SeqLm, load_seq2seq_lm};
use serde_json::{Map, Value, json};

use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::token_classification::texts_from_json;
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::processors::{MarianTokenizer, TextTokenizer, clean_up_tokenization};

/// The options of the three tasks: the pipeline's own, then `generate()`'s by HF's names;
/// `$extra` are a task's own.
macro_rules! generation_options {
    ($($extra:expr),* $(,)?) => {
        &[
            $($extra,)*
            OptionSpec::new(
                "truncation",
                ValueKind::Bool,
                "Truncate overlong inputs silently (without it they are truncated with a warning)",
            ),
            OptionSpec::new(
                "clean_up_tokenization_spaces",
                ValueKind::Bool,
                "Remove spaces before punctuation in the output",
            ),
            OptionSpec::new(
                "return_tensors",
                ValueKind::Bool,
                "Return the generated token ids instead of the text",
            ),
            OptionSpec::new("return_text", ValueKind::Bool, "Return the text (default true)"),
            OptionSpec::new("batch_size", ValueKind::Count, "Inputs generated at once (default 1)"),
            OptionSpec::new("seed", ValueKind::Count, "Seed of sampling (do_sample)"),
            OptionSpec::new(
                "max_new_tokens",
                ValueKind::Count,
                "New tokens to generate at most (default 256 unless the model sets max_length)",
            ),
            OptionSpec::new(
                "max_length",
                ValueKind::Count,
                "Total output length at most, decoder start token included",
            ),
            OptionSpec::new("min_length", ValueKind::Count, "Shortest output, decoder start token included"),
            OptionSpec::new("min_new_tokens", ValueKind::Count, "Fewest new tokens"),
            OptionSpec::new("num_beams", ValueKind::Count, "Beams of beam search (1 = greedy; default 4)"),
            OptionSpec::new(
                "num_return_sequences",
                ValueKind::Count,
                "Outputs per input (at most num_beams)",
            ),
            OptionSpec::new("length_penalty", ValueKind::Number, "Beam search's length exponent"),
            OptionSpec::new("early_stopping", ValueKind::BoolOrText, "true, false or never"),
            OptionSpec::new("no_repeat_ngram_size", ValueKind::Count, "No n-gram of this size twice"),
            OptionSpec::new("repetition_penalty", ValueKind::Number, "Penalty of repeated tokens"),
            OptionSpec::new(
                "do_sample",
                ValueKind::Bool,
                "Sample instead of searching (with temperature, top_k, top_p, seed)",
            ),
            OptionSpec::new("temperature", ValueKind::Number, "Sampling temperature"),
            OptionSpec::new("top_k", ValueKind::Count, "Sample from the k most likely tokens"),
            OptionSpec::new("top_p", ValueKind::Number, "Sample from the smallest set with this mass"),
            OptionSpec::new("bad_words_ids", ValueKind::Json, "Token sequences never generated (JSON)"),
            OptionSpec::new("forced_bos_token_id", ValueKind::Count, "Token forced first"),
            OptionSpec::new("forced_eos_token_id", ValueKind::Json, "Token (or tokens) forced last"),
            OptionSpec::new("pad_token_id", ValueKind::Count, "Padding token"),
            OptionSpec::new("bos_token_id", ValueKind::Count, "Beginning-of-sequence token"),
            OptionSpec::new("eos_token_id", ValueKind::Json, "End token (or tokens)"),
            OptionSpec::new("decoder_start_token_id", ValueKind::Count, "First decoder token"),
            OptionSpec::new("suppress_tokens", ValueKind::Json, "Tokens never generated (JSON list)"),
            OptionSpec::new(
                "begin_suppress_tokens",
                ValueKind::Json,
                "Tokens not generated first (JSON list)",
            ),
            OptionSpec::new("use_cache", ValueKind::Bool, "Cache keys and values while decoding (default true)"),
        ]
    };
}

/// `generate()` keyword arguments the pipelines pass on to generation.
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

/// The `text2text-generation` task: its name, default model and options.
pub static TEXT2TEXT_GENERATION: TaskSpec = TaskSpec::new::<Text2TextGenerationPipeline>(
    "text2text-generation",
    &[],
    "Generate text from text with an encoder-decoder: [{generated_text}]",
    "google-t5/t5-base",
    InputKind::Texts,
    generation_options!(),
);

/// The `summarization` task (output key `summary_text`).
pub static SUMMARIZATION: TaskSpec = TaskSpec::new::<Text2TextGenerationPipeline>(
    "summarization",
    &[],
    "Summarize texts (BART, T5): [{summary_text}]",
    "sshleifer/distilbart-cnn-12-6",
    InputKind::Texts,
    generation_options!(),
);

/// The `translation` task (output key `translation_text`); `translation_xx_to_yy` names
/// the languages.
pub static TRANSLATION: TaskSpec = TaskSpec::new::<Text2TextGenerationPipeline>(
    "translation",
    &[],
    "Translate texts (Marian, T5); `translation_xx_to_yy` names the languages: [{translation_text}]",
    "google-t5/t5-base",
    InputKind::Texts,
    generation_options!(
        OptionSpec::new(
            "src_lang",
            ValueKind::Text,
            "Source language (selects T5's task prefix translation_{src}_to_{tgt})",
        ),
        OptionSpec::new("tgt_lang", ValueKind::Text, "Target language"),
    ),
);

/// Options of a call. Generation options go in `generate_kwargs` under HF's names
/// (`max_new_tokens`, `max_length`, `min_length`, `num_beams`, `length_penalty`,
/// `no_repeat_ngram_size`, `early_stopping`, `repetition_penalty`, `bad_words_ids`,
/// `num_return_sequences`, `do_sample`, `temperature`, `top_k`, `top_p`, ...).
#[derive(Debug, Clone)]
pub struct Text2TextOptions {
    /// Generation keyword arguments with HF's names, applied over the model's
    /// `generation_config.json`.
    pub generate_kwargs: Map<String, Value>,
    /// `None` (default): inputs longer than the model are truncated with a warning (HF would
    /// fail); `Some(true)`: truncated silently, as HF's `truncation=True`; `Some(false)`: error.
    pub truncation: Option<bool>,
    /// `clean_up_tokenization_spaces`: remove the spaces the tokenizer leaves before
    /// punctuation and in contractions (default `false`).
    pub clean_up_tokenization_spaces: bool,
    /// Also return the generated ids (`return_tensors=True`), without the text.
    pub return_tensors: bool,
    /// Translation: source and target languages; they select the checkpoint's
    /// `task_specific_params["translation_{src}_to_{tgt}"]` (T5's prefixes).
    pub src_lang: Option<String>,
    /// The target language (see `src_lang`).
    pub tgt_lang: Option<String>,
    /// Inputs generated together, padded (1 = one at a time, as HF's default).
    pub batch_size: usize,
    /// Seed of `do_sample`.
    pub seed: Option<u64>,
}

impl Default for Text2TextOptions {
    fn default() -> Self {
        Self {
            generate_kwargs: Map::new(),
            truncation: None,
            clean_up_tokenization_spaces: false,
            return_tensors: false,
            src_lang: None,
            tgt_lang: None,
            batch_size: 1,
            seed: None,
        }
    }
}

/// One generated sequence: its text, or its ids with `return_tensors`.
#[derive(Debug, Clone, PartialEq)]
pub enum Generated {
    /// The decoded text (`generated_text`, `summary_text` or `translation_text`).
    Text(String),
    /// The generated token ids (`generated_token_ids`, `summary_token_ids`, ...), with
    /// `return_tensors`.
    TokenIds(Vec<u32>),
}

/// A fast tokenizer (`tokenizer.json`: BART, T5) or Marian's SentencePiece pair.
enum Seq2SeqTokenizer {
    Fast(TextTokenizer),
    Marian(MarianTokenizer),
}

impl Seq2SeqTokenizer {
    fn pad_token_id(&self) -> u32 {
        match self {
            Self::Fast(t) => t.pad_token_id,
            Self::Marian(t) => t.pad_token_id,
        }
    }

    fn model_max_length(&self) -> usize {
        match self {
            Self::Fast(t) => t.model_max_length,
            Self::Marian(t) => t.model_max_length,
        }
    }

    /// Ids of `text` with special tokens, cut to `max_length` (special tokens kept) if given.
    fn encode(&self, text: &str, max_length: Option<usize>) -> Result<Vec<u32>> {
        match (self, max_length) {
            (Self::Fast(t), None) => Ok(t.encode(text, None)?.get_ids().to_vec()),
            (Self::Fast(t), Some(max)) => Ok(t
                .encode_windows(
                    text,
                    None,
                    max,
                    0,
                    tokenizers::TruncationStrategy::LongestFirst,
                )?
                .get_ids()
                .to_vec()),
            (Self::Marian(t), max) => {
                let mut ids = t.encode(text)?;
                if let Some(max) = max
                    && ids.len() > max
                {
                    ids.truncate(max.saturating_sub(1));
                    ids.push(t.eos_token_id);
                }
                Ok(ids)
            }
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Self::Fast(t) => t
                .inner()
                .decode(ids, true)
                .map_err(|e| TaskError::InvalidInput(format!("cannot decode {ids:?}: {e}"))),
            Self::Marian(t) => t.decode(ids, true),
        }
    }
}

/// An encoder-decoder model (T5, BART, Marian) and its tokenizer, serving
/// `text2text-generation`, `summarization` and `translation` as transformers' pipelines do.
pub struct Text2TextGenerationPipeline {
    task: &'static TaskSpec,
    /// The task name as given (`translation_en_to_de`), for `task_specific_params`.
    task_name: String,
    model: Box<dyn TextSeq2SeqLm>,
    tokenizer: Seq2SeqTokenizer,
    /// `model.generation_config` as loaded.
    model_config: GenerationConfig,
    config_json: Value,
    max_input_length: usize,
    device: Device,
}

impl TaskPipeline for Text2TextGenerationPipeline {
    const TASKS: &'static [&'static TaskSpec] =
        &[&TEXT2TEXT_GENERATION, &SUMMARIZATION, &TRANSLATION];
    type Options = Text2TextOptions;
    type Input = String;
    type Output = Vec<Generated>;

    /// The builder's task: `text2text-generation`, `summarization`, `translation` or
    /// `translation_xx_to_yy`.
    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let task = source.task();
        let task_name = source.task_name();
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let model = source.prepare_model(load_seq2seq_lm(&dir, &device)?)?;
        let tokenizer = if !dir.has_file("tokenizer.json") && MarianTokenizer::is_marian_model(&dir)
        {
            Seq2SeqTokenizer::Marian(MarianTokenizer::from_model_dir(&dir)?)
        } else {
            Seq2SeqTokenizer::Fast(TextTokenizer::from_model_dir(&dir)?)
        };
        let model_config = GenerationConfig::from_dir(&dir)?;
        let config_json = dir.config_json()?;
        let max_input_length = model
            .max_source_positions()
            .unwrap_or(usize::MAX)
            .min(tokenizer.model_max_length());
        let mut task_name = task_name.to_string();
        if task_name == "translation" {
            // HF: "translation" on a model with translation_* parameters takes the first.
            if let Some(key) = config_json
                .get("task_specific_params")
                .and_then(Value::as_object)
                .and_then(|p| p.keys().find(|k| k.starts_with("translation")))
            {
                log::warn!("\"translation\" task was used, defaulting to \"{key}\"");
                task_name = key.clone();
            }
        }
        Ok(Self {
            task,
            task_name,
            model,
            tokenizer,
            model_config,
            config_json,
            max_input_length,
            device,
        })
    }

    fn task(&self) -> &'static TaskSpec {
        self.task
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<Text2TextOptions> {
        let mut options = Text2TextOptions::default();
        if let Some(value) = kwargs.take("truncation") {
            options.truncation = Some(match value {
                // HF's TruncationStrategy names.
                Value::String(s) => s != "do_not_truncate",
                v => <bool as super::kwargs::FromKwarg>::from_kwarg("truncation", &v)?,
            });
        }
        kwargs.update(
            "clean_up_tokenization_spaces",
            &mut options.clean_up_tokenization_spaces,
        )?;
        kwargs.update("return_tensors", &mut options.return_tensors)?;
        if let Some(text) = kwargs.get::<bool>("return_text")? {
            options.return_tensors = !text;
        }
        if self.task == &TRANSLATION {
            kwargs.update("src_lang", &mut options.src_lang)?;
            kwargs.update("tgt_lang", &mut options.tgt_lang)?;
        }
        kwargs.update("batch_size", &mut options.batch_size)?;
        kwargs.update("seed", &mut options.seed)?;
        for name in GENERATE_KWARGS {
            if let Some(value) = kwargs.take(name) {
                options.generate_kwargs.insert(name.to_string(), value);
            }
        }
        Ok(options)
    }

    fn inputs(&self, inputs: &Value, _: &mut Kwargs) -> Result<(Vec<String>, InputForm)> {
        texts_from_json(inputs)
    }

    fn run(&self, inputs: &[String], options: &Text2TextOptions) -> Result<Vec<Vec<Generated>>> {
        self.generate(inputs, options)
    }

    /// Per input a list of `{<name>_text}` (or `{<name>_token_ids}`); a single input gives its
    /// list, a list of inputs with one result each gives one dict per input.
    fn to_json(
        &self,
        outputs: Vec<Vec<Generated>>,
        form: InputForm,
        _: &Text2TextOptions,
    ) -> Result<Value> {
        let name = match self.task.name {
            "summarization" => "summary",
            "translation" => "translation",
            _ => "generated",
        };
        let records: Vec<Vec<Value>> = outputs
            .into_iter()
            .map(|group| {
                group
                    .into_iter()
                    .map(|g| match g {
                        Generated::Text(text) => json!({ format!("{name}_text"): text }),
                        Generated::TokenIds(ids) => json!({ format!("{name}_token_ids"): ids }),
                    })
                    .collect()
            })
            .collect();
        if form.is_single() {
            return Ok(Value::Array(records.into_iter().next().unwrap_or_default()));
        }
        Ok(if records.iter().all(|r| r.len() == 1) {
            Value::Array(records.into_iter().flatten().collect())
        } else {
            Value::Array(records.into_iter().map(Value::Array).collect())
        })
    }
}

impl Text2TextGenerationPipeline {
    /// The generation config of a call and the prefix put before every input: the pipeline's
    /// defaults (`max_new_tokens=256, num_beams=4`) under the model's own generation config,
    /// then `task_specific_params`, then the call's options, as transformers resolves them.
    pub fn generation_config(
        &self,
        options: &Text2TextOptions,
    ) -> Result<(GenerationConfig, String)> {
        let global = GenerationConfig::default().as_json_map();
        let mut pipe = global.clone();
        pipe.insert("max_new_tokens".into(), json!(256));
        pipe.insert("num_beams".into(), json!(4));
        let model = self.model_config.as_json_map();
        let with_model_defaults = |config: &mut Map<String, Value>| {
            for (key, value) in &model {
                if key.starts_with('_') || key == "transformers_version" {
                    continue;
                }
                if config.get(key) == global.get(key) && Some(value) != global.get(key) {
                    config.insert(key.clone(), value.clone());
                }
            }
        };
        with_model_defaults(&mut pipe);
        if pipe.get("max_new_tokens") == Some(&json!(256))
            && pipe.get("max_length").is_some_and(|m| m != &json!(20))
        {
            pipe.remove("max_new_tokens");
        }
        let mut config: GenerationConfig = serde_json::from_value(Value::Object(pipe))
            .map_err(|e| TaskError::InvalidInput(format!("generation config: {e}")))?;
        let mut prefix = self
            .config_json
            .get("prefix")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let key = match (&options.src_lang, &options.tgt_lang) {
            (Some(src), Some(tgt)) if self.task == &TRANSLATION => {
                format!("translation_{src}_to_{tgt}")
            }
            _ => self.task_name.clone(),
        };
        if let Some(p) = config.apply_task_params(&self.config_json, &key)? {
            prefix = p;
        }
        if config.pad_token_id.is_none() {
            config.pad_token_id = Some(self.tokenizer.pad_token_id());
        }
        // generate() again falls back to the model's values for options left at the defaults.
        let mut map = config.as_json_map();
        with_model_defaults(&mut map);
        config = serde_json::from_value(Value::Object(map))
            .map_err(|e| TaskError::InvalidInput(format!("generation config: {e}")))?;
        config.update(&options.generate_kwargs)?;
        config.seed = options.seed;
        Ok((config, prefix))
    }

    /// Generates for every input: per input, `num_return_sequences` results.
    pub fn generate(
        &self,
        inputs: &[String],
        options: &Text2TextOptions,
    ) -> Result<Vec<Vec<Generated>>> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        let (config, prefix) = self.generation_config(options)?;
        let mut results = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(options.batch_size) {
            let encodings = chunk
                .iter()
                .map(|text| self.encode(&format!("{prefix}{text}"), options.truncation))
                .collect::<Result<Vec<_>>>()?;
            let longest = encodings.iter().map(Vec::len).max().unwrap_or(0);
            let (batch, pad) = (encodings.len(), self.tokenizer.pad_token_id() as i64);
            let mut ids = Vec::with_capacity(batch * longest);
            let mut mask = Vec::with_capacity(batch * longest);
            for e in &encodings {
                ids.extend(e.iter().map(|&t| t as i64));
                ids.extend(std::iter::repeat_n(pad, longest - e.len()));
                mask.extend(std::iter::repeat_n(1i64, e.len()));
                mask.extend(std::iter::repeat_n(0i64, longest - e.len()));
            }
            let ids =
                Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, longest]), &self.device);
            let mask =
                Tensor::<2, Int>::from_data(TensorData::new(mask, [batch, longest]), &self.device);
            let hidden = self.model.encode(ids, Some(&mask))?;
            let prompt = decoder_start_prompt(&config, batch)?;
            let sequences = generate(&*self.model, hidden, Some(mask), &prompt, &config)?;
            let per_input = sequences.len() / batch;
            for group in sequences.chunks(per_input) {
                results.push(
                    group
                        .iter()
                        .map(|ids| self.postprocess(ids, options))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
        }
        Ok(results)
    }

    fn encode(&self, text: &str, truncation: Option<bool>) -> Result<Vec<u32>> {
        let ids = self.tokenizer.encode(text, None)?;
        if ids.len() <= self.max_input_length {
            return Ok(ids);
        }
        match truncation {
            Some(false) => Err(TaskError::InvalidInput(format!(
                "input of {} tokens is longer than the model's maximum of {} (allow truncation)",
                ids.len(),
                self.max_input_length
            ))),
            silent => {
                if silent.is_none() {
                    log::warn!(
                        "input of {} tokens truncated to the model's maximum of {}",
                        ids.len(),
                        self.max_input_length
                    );
                }
                self.tokenizer.encode(text, Some(self.max_input_length))
            }
        }
    }

    fn postprocess(&self, ids: &[u32], options: &Text2TextOptions) -> Result<Generated> {
        if options.return_tensors {
            return Ok(Generated::TokenIds(ids.to_vec()));
        }
        let text = self.tokenizer.decode(ids)?;
        Ok(Generated::Text(if options.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        }))
    }
}
