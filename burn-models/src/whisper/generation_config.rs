//! Whisper's generation settings: its fields of `generation_config.json` (prompt tokens,
//! suppression, timestamps, alignment heads) over the shared [`GenerationConfig`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::WhisperConfig;
use crate::error::Result;
use crate::generation::GenerationConfig;

/// `eos_token_id`: one id or several.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(usize),
    /// Several ids.
    Many(Vec<usize>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<usize> {
        match self {
            Self::One(id) => vec![*id],
            Self::Many(ids) => ids.clone(),
        }
    }
}

/// Whisper's fields of `generation_config.json` (prompt tokens, suppression, timestamps), with
/// the shared options (lengths, beams, ...) in [`base`](Self::base).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct WhisperGenerationConfig {
    /// `decoder_start_token_id`: `<|startoftranscript|>`.
    #[serde(default)]
    pub decoder_start_token_id: Option<usize>,
    /// `eos_token_id`: `<|endoftext|>`.
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// `pad_token_id`.
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// `forced_decoder_ids`: `(position, id)` pairs forced after the start token (older
    /// checkpoints' language and task); a `None` id leaves the position free.
    #[serde(default)]
    pub forced_decoder_ids: Option<Vec<(usize, Option<usize>)>>,
    /// `suppress_tokens`: ids never generated.
    #[serde(default)]
    pub suppress_tokens: Option<Vec<usize>>,
    /// `begin_suppress_tokens`: ids not generated first (a space and `<|endoftext|>`).
    #[serde(default)]
    pub begin_suppress_tokens: Option<Vec<usize>>,
    /// `lang_to_id`: language tokens (`<|en|>`) to ids.
    #[serde(default)]
    pub lang_to_id: Option<BTreeMap<String, usize>>,
    /// `task_to_id`: `transcribe` and `translate` to their token ids.
    #[serde(default)]
    pub task_to_id: Option<BTreeMap<String, usize>>,
    /// `is_multilingual`: whether the model knows several languages (false for `.en` models).
    #[serde(default)]
    pub is_multilingual: Option<bool>,
    /// `no_timestamps_token_id`: `<|notimestamps|>`; ids above it are timestamps.
    #[serde(default)]
    pub no_timestamps_token_id: Option<usize>,
    /// `max_initial_timestamp_index`: the latest first timestamp, in 0.02 s steps.
    #[serde(default)]
    pub max_initial_timestamp_index: Option<usize>,
    /// `return_timestamps`: the checkpoint's default for timestamps.
    #[serde(default)]
    pub return_timestamps: Option<bool>,
    /// `alignment_heads`: `(layer, head)` cross-attention heads that align tokens to time
    /// (word timestamps).
    #[serde(default)]
    pub alignment_heads: Option<Vec<(usize, usize)>>,
    /// `language`: the default language, if the checkpoint sets one.
    #[serde(default)]
    pub language: Option<String>,
    /// `task`: the default task, if the checkpoint sets one.
    #[serde(default)]
    pub task: Option<String>,
    /// The same file read as the shared [`GenerationConfig`] (beams, lengths, penalties, ...).
    #[serde(skip)]
    pub base: GenerationConfig,
}

impl WhisperGenerationConfig {
    /// `generation_config.json` of a model directory, or (as `GenerationConfig.from_model_config`)
    /// the token ids of `config.json` when the file is absent.
    #[cfg(feature = "fs")]
    pub fn from_model_dir(dir: &std::path::Path, config: &WhisperConfig) -> Result<Self> {
        Self::from_dir(&crate::hub::ModelDir::on_disk(dir), config)
    }

    /// [`Self::from_model_dir`] for a model directory on disk or in memory.
    pub fn from_dir(dir: &crate::hub::ModelDir, config: &WhisperConfig) -> Result<Self> {
        let mut generation: Self = dir
            .read_config_file("generation_config.json")?
            .unwrap_or_default();
        generation.base = GenerationConfig::from_dir(dir)?;
        generation
            .decoder_start_token_id
            .get_or_insert(config.decoder_start_token_id);
        generation
            .eos_token_id
            .get_or_insert(TokenIds::One(config.eos_token_id));
        generation.pad_token_id.get_or_insert(config.pad_token_id);
        Ok(generation)
    }

    /// The end-of-text ids (`eos_token_id` as a list).
    pub fn eos_token_ids(&self) -> Vec<usize> {
        self.eos_token_id
            .as_ref()
            .map(TokenIds::to_vec)
            .unwrap_or_default()
    }

    /// The first id past `<|notimestamps|>`: every id from here on is a timestamp.
    pub fn timestamp_begin(&self, vocab_size: usize) -> usize {
        self.no_timestamps_token_id
            .map_or(vocab_size + 1, |id| id + 1)
    }
}
