//! `GenerationConfig`: the decoding options of `generation_config.json` (or, for older
//! checkpoints, of `config.json`), with transformers' field names and defaults.

use serde::{Deserialize, Deserializer};

use crate::error::{ModelError, Result};
use crate::hub::ModelDir;

/// `early_stopping`: `true`, `false` or `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// Stop a batch item as soon as `num_beams` hypotheses are finished.
    True,
    /// Stop when the best running beam can (heuristically) no longer beat the finished ones.
    #[default]
    False,
    /// Canonical beam search: stop only when no better candidate is possible.
    Never,
}

impl<'de> Deserialize<'de> for EarlyStopping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(Self::True),
            serde_json::Value::Bool(false) | serde_json::Value::Null => Ok(Self::False),
            serde_json::Value::String(s) if s == "never" => Ok(Self::Never),
            other => Err(serde::de::Error::custom(format!(
                "early_stopping must be true, false or \"never\", not {other}"
            ))),
        }
    }
}

impl std::str::FromStr for EarlyStopping {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "true" | "True" => Ok(Self::True),
            "false" | "False" => Ok(Self::False),
            "never" => Ok(Self::Never),
            _ => Err(format!(
                "early_stopping must be true, false or never, not `{s}`"
            )),
        }
    }
}

/// HF's `GenerationConfig`. Unknown fields (Whisper's `lang_to_id`, `alignment_heads`, ...)
/// are kept in [`extra`](Self::extra) for the models that read them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct GenerationConfig {
    /// Total length (decoder prompt + new tokens). See [`explicit_max_length`](Self::explicit_max_length).
    pub max_length: usize,
    /// New tokens; takes precedence over `max_length`.
    pub max_new_tokens: Option<usize>,
    /// `min_length`: end-of-sequence is forbidden before this total length.
    pub min_length: usize,
    /// `min_new_tokens`: end-of-sequence is forbidden before this many new tokens.
    pub min_new_tokens: Option<usize>,
    /// `early_stopping`: when beam search ends.
    pub early_stopping: EarlyStopping,
    /// `num_beams`: beams of beam search (1: greedy or sampling).
    pub num_beams: usize,
    /// `do_sample`: sample the next token instead of taking the best one.
    pub do_sample: bool,
    /// `temperature`: logits are divided by it before sampling.
    pub temperature: f32,
    /// `top_k`: sample among the k most likely tokens (0: no limit).
    pub top_k: usize,
    /// `top_p`: sample among the most likely tokens whose probabilities sum to p (nucleus).
    pub top_p: f32,
    /// `repetition_penalty`: logits of tokens already generated are divided (or, if negative,
    /// multiplied) by it.
    pub repetition_penalty: f32,
    /// `length_penalty`: beam scores are divided by length to this power.
    pub length_penalty: f32,
    /// `no_repeat_ngram_size`: n-grams of this size may occur only once (0: off).
    pub no_repeat_ngram_size: usize,
    /// `bad_words_ids`: token sequences that may not be generated.
    pub bad_words_ids: Option<Vec<Vec<u32>>>,
    /// `forced_bos_token_id`: the token forced first after the decoder start.
    pub forced_bos_token_id: Option<u32>,
    /// `forced_eos_token_id`: the token(s) forced when `max_length` is reached.
    #[serde(deserialize_with = "one_or_many")]
    pub forced_eos_token_id: Option<Vec<u32>>,
    /// `num_return_sequences`: outputs per input (at most `num_beams` with beam search).
    pub num_return_sequences: usize,
    /// `pad_token_id`: id of the padding token.
    pub pad_token_id: Option<u32>,
    /// `bos_token_id`: id of the beginning-of-sequence token.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id`: id of the end-of-sequence token.
    #[serde(deserialize_with = "one_or_many")]
    pub eos_token_id: Option<Vec<u32>>,
    /// `decoder_start_token_id`: the first token fed to the decoder.
    #[serde(deserialize_with = "one_or_many")]
    pub decoder_start_token_id: Option<Vec<u32>>,
    /// `suppress_tokens`: tokens that are never generated.
    pub suppress_tokens: Option<Vec<u32>>,
    /// `begin_suppress_tokens`: tokens not generated at the first step.
    pub begin_suppress_tokens: Option<Vec<u32>>,
    /// `use_cache`: reuse the keys and values of earlier steps.
    pub use_cache: bool,
    /// Seed of the sampler (`do_sample`); HF takes it from `torch.manual_seed`.
    #[serde(skip)]
    pub seed: Option<u64>,
    /// Whether `max_length` was asked for by the caller. When not, and it is still HF's default
    /// of 20, HF generates 20 *new* tokens (capped by the model's positions); so do we.
    #[serde(skip)]
    pub explicit_max_length: bool,
    /// Every other field, as read (Whisper's `lang_to_id`, `alignment_heads`, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What transformers' `generate` falls back to for options a checkpoint leaves unset
/// (`GenerationConfig._get_default_generation_params`).
impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_length: 20,
            max_new_tokens: None,
            min_length: 0,
            min_new_tokens: None,
            early_stopping: EarlyStopping::False,
            num_beams: 1,
            do_sample: false,
            temperature: 1.0,
            top_k: 50,
            top_p: 1.0,
            repetition_penalty: 1.0,
            length_penalty: 1.0,
            no_repeat_ngram_size: 0,
            bad_words_ids: None,
            forced_bos_token_id: None,
            forced_eos_token_id: None,
            num_return_sequences: 1,
            pad_token_id: None,
            bos_token_id: None,
            eos_token_id: None,
            decoder_start_token_id: None,
            suppress_tokens: None,
            begin_suppress_tokens: None,
            use_cache: true,
            seed: None,
            explicit_max_length: false,
            extra: serde_json::Map::new(),
        }
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<u32>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(id)) => Some(vec![id]),
        Some(OneOrMany::Many(ids)) => Some(ids),
    })
}

impl GenerationConfig {
    /// What `model.generation_config` holds after `from_pretrained`: `generation_config.json`
    /// when the directory has one, else the generation fields of `config.json`.
    #[cfg(feature = "fs")]
    pub fn from_model_dir(dir: &std::path::Path) -> Result<Self> {
        Self::from_dir(&ModelDir::on_disk(dir))
    }

    /// [`Self::from_model_dir`] for a model directory on disk or in memory.
    pub fn from_dir(dir: &ModelDir) -> Result<Self> {
        match dir.read_config_file("generation_config.json")? {
            Some(config) => Ok(config),
            None => dir.config(),
        }
    }

    /// Applies `task_specific_params[task]` of `config.json` (e.g. BART's `summarization`
    /// lengths, T5's `prefix`-less options), as HF pipelines do; returns the entry's `prefix`.
    pub fn apply_task_params(
        &mut self,
        config_json: &serde_json::Value,
        task: &str,
    ) -> Result<Option<String>> {
        let Some(params) = config_json
            .get("task_specific_params")
            .and_then(|p| p.get(task))
            .and_then(|p| p.as_object())
        else {
            return Ok(None);
        };
        let mut merged = serde_json::to_value(self.as_json_map()).expect("json");
        let mut prefix = None;
        for (key, value) in params {
            if key == "prefix" {
                prefix = value.as_str().map(str::to_string);
            } else {
                merged[key] = value.clone();
            }
        }
        let explicit = self.explicit_max_length;
        let seed = self.seed;
        *self = serde_json::from_value(merged)
            .map_err(|e| ModelError::InvalidInput(format!("task_specific_params.{task}: {e}")))?;
        self.explicit_max_length = explicit;
        self.seed = seed;
        Ok(prefix)
    }

    /// The config as a JSON object with HF's field names.
    pub fn as_json_map(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let mut m = self.extra.clone();
        let early = match self.early_stopping {
            EarlyStopping::True => json!(true),
            EarlyStopping::False => json!(false),
            EarlyStopping::Never => json!("never"),
        };
        for (k, v) in [
            ("max_length", json!(self.max_length)),
            ("max_new_tokens", json!(self.max_new_tokens)),
            ("min_length", json!(self.min_length)),
            ("min_new_tokens", json!(self.min_new_tokens)),
            ("early_stopping", early),
            ("num_beams", json!(self.num_beams)),
            ("do_sample", json!(self.do_sample)),
            ("temperature", json!(self.temperature)),
            ("top_k", json!(self.top_k)),
            ("top_p", json!(self.top_p)),
            ("repetition_penalty", json!(self.repetition_penalty)),
            ("length_penalty", json!(self.length_penalty)),
            ("no_repeat_ngram_size", json!(self.no_repeat_ngram_size)),
            ("bad_words_ids", json!(self.bad_words_ids)),
            ("forced_bos_token_id", json!(self.forced_bos_token_id)),
            ("forced_eos_token_id", json!(self.forced_eos_token_id)),
            ("num_return_sequences", json!(self.num_return_sequences)),
            ("pad_token_id", json!(self.pad_token_id)),
            ("bos_token_id", json!(self.bos_token_id)),
            ("eos_token_id", json!(self.eos_token_id)),
            ("decoder_start_token_id", json!(self.decoder_start_token_id)),
            ("suppress_tokens", json!(self.suppress_tokens)),
            ("begin_suppress_tokens", json!(self.begin_suppress_tokens)),
            ("use_cache", json!(self.use_cache)),
        ] {
            if !v.is_null() {
                m.insert(k.into(), v);
            }
        }
        m
    }

    /// Overrides fields by their HF names, as `generate(**kwargs)` / `GenerationConfig.update`
    /// do; a `null` clears an optional field. A `max_length` given here counts as the caller's.
    pub fn update(&mut self, kwargs: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
        let mut merged = serde_json::Value::Object(self.as_json_map());
        for (key, value) in kwargs {
            merged[key] = value.clone();
        }
        let explicit = self.explicit_max_length || kwargs.contains_key("max_length");
        let seed = self.seed;
        *self = serde_json::from_value(merged)
            .map_err(|e| ModelError::InvalidInput(format!("generation option: {e}")))?;
        self.explicit_max_length = explicit;
        self.seed = seed;
        Ok(())
    }

    /// Sets `max_length` as a caller's choice (HF's `generate(max_length=...)`).
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = max_length;
        self.explicit_max_length = true;
        self
    }

    /// Checks the options against each other, as `GenerationConfig.validate` does for the
    /// combinations that would otherwise fail later.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::InvalidInput(m));
        if self.num_beams == 0 {
            return bad("num_beams must be at least 1".into());
        }
        if self.num_return_sequences == 0
            || self.num_return_sequences > self.num_beams.max(1) && !self.do_sample
        {
            return bad(format!(
                "num_return_sequences ({}) must be between 1 and num_beams ({})",
                self.num_return_sequences, self.num_beams
            ));
        }
        if self.do_sample && self.num_beams > 1 {
            return bad("do_sample with num_beams > 1 (beam sampling) is not supported".into());
        }
        if self.repetition_penalty <= 0.0 || !self.repetition_penalty.is_finite() {
            return bad(format!(
                "repetition_penalty must be a positive number, not {}",
                self.repetition_penalty
            ));
        }
        if self.do_sample && (self.temperature <= 0.0 || !self.temperature.is_finite()) {
            return bad(format!(
                "temperature must be a positive number, not {}",
                self.temperature
            ));
        }
        if self.do_sample && !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], not {}", self.top_p));
        }
        if let Some(words) = &self.bad_words_ids
            && words.iter().any(Vec::is_empty)
        {
            return bad("bad_words_ids must not contain an empty list".into());
        }
        Ok(())
    }
}
