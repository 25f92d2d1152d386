//! `Wav2Vec2CTCTokenizer`'s decoding: CTC frame ids -> text, from a checkpoint's `vocab.json`
//! and `tokenizer_config.json` (`special_tokens_map.json` when present).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use burn_models::hub::ModelDir;
use serde_json::Value;

use super::clean_up_tokenization;
use crate::error::{Result, TaskError};

/// One character (after grouping and blank removal) with the frames it spans.
#[derive(Debug, Clone, PartialEq)]
pub struct CharOffset {
    /// The character.
    pub char: String,
    /// First CTC frame of the character.
    pub start_offset: usize,
    /// The frame after its last one.
    pub end_offset: usize,
}

/// One word with the frames it spans.
#[derive(Debug, Clone, PartialEq)]
pub struct WordOffset {
    /// The word.
    pub word: String,
    /// First CTC frame of the word.
    pub start_offset: usize,
    /// The frame after its last one.
    pub end_offset: usize,
}

/// The tokenizer of Wav2Vec2 CTC checkpoints (`Wav2Vec2CTCTokenizer`): decodes frame ids
/// into text, with character and word offsets.
#[derive(Debug, Clone)]
pub struct Wav2Vec2CtcTokenizer {
    decoder: HashMap<u32, String>,
    encoder: HashMap<String, u32>,
    /// `added_tokens_decoder` of `tokenizer_config.json`: looked up before the vocabulary.
    added: HashMap<u32, String>,
    /// `pad_token`: the CTC blank (`<pad>`).
    pub pad_token: String,
    /// `unk_token`: the unknown character (`<unk>`).
    pub unk_token: String,
    /// `word_delimiter_token`: the token between words (`|`).
    pub word_delimiter_token: Option<String>,
    /// What the word delimiter becomes in the text (a space).
    pub replace_word_delimiter_char: String,
    /// `do_lower_case`: lower-case the decoded text.
    pub do_lower_case: bool,
    /// `clean_up_tokenization_spaces`: remove spaces before punctuation in the decoded text.
    pub clean_up_tokenization_spaces: bool,
    special_tokens: HashSet<String>,
    special_ids: HashSet<u32>,
}

fn tokenizer_error(path: &Path, message: impl Into<String>) -> TaskError {
    TaskError::Tokenizer {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The JSON file `name` of the model, if it has one.
fn read_json(dir: &ModelDir, name: &str) -> Result<Option<Value>> {
    let path = dir.location(name);
    let Some(bytes) = dir
        .read_file(name)
        .map_err(|e| tokenizer_error(&path, format!("cannot read: {e}")))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| tokenizer_error(&path, format!("invalid JSON: {e}")))
}

/// A token setting: a string, or an `AddedToken` dict with its `content`.
fn token_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => map
            .get("content")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

/// Python's `str.strip()`: Unicode whitespace plus the ASCII separators `\x1c`-`\x1f`.
fn py_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

impl Wav2Vec2CtcTokenizer {
    /// Reads `vocab.json` and `tokenizer_config.json` (and `special_tokens_map.json` when
    /// present) from a model folder.
    pub fn from_model_dir(dir: &ModelDir) -> Result<Self> {
        let vocab = read_json(dir, "vocab.json")?.ok_or_else(|| {
            tokenizer_error(
                dir.path(),
                "no vocab.json (Wav2Vec2CTCTokenizer's vocabulary)",
            )
        })?;
        let vocab_path = dir.location("vocab.json");
        let mut config = read_json(dir, "tokenizer_config.json")?
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let (Some(Value::Object(special)), Value::Object(map)) =
            (read_json(dir, "special_tokens_map.json")?, &mut config)
        {
            for (key, value) in special {
                map.entry(key).or_insert(value);
            }
        }
        Self::new(&vocab, &config, &vocab_path)
    }

    /// From `vocab.json`'s content (token -> id, or per language when the config names a
    /// `target_lang`) and `tokenizer_config.json`'s.
    pub fn new(vocab: &Value, config: &Value, vocab_path: &Path) -> Result<Self> {
        let setting = |key: &str, default: &str| -> Option<String> {
            match config.get(key) {
                None => Some(default.to_string()),
                Some(Value::Null) => None,
                Some(v) => token_text(v),
            }
        };
        let vocab = match config.get("target_lang").and_then(Value::as_str) {
            Some(lang) => vocab.get(lang).ok_or_else(|| {
                tokenizer_error(
                    vocab_path,
                    format!("no vocabulary for target_lang `{lang}`"),
                )
            })?,
            None => vocab,
        };
        let entries = vocab
            .as_object()
            .ok_or_else(|| tokenizer_error(vocab_path, "expected an object of token -> id"))?;
        let mut encoder = HashMap::new();
        for (token, id) in entries {
            let id = id.as_u64().ok_or_else(|| {
                tokenizer_error(vocab_path, format!("token `{token}` has no integer id"))
            })?;
            encoder.insert(token.clone(), id as u32);
        }
        let decoder: HashMap<u32, String> = encoder.iter().map(|(t, &i)| (i, t.clone())).collect();
        let added: HashMap<u32, String> = config
            .get("added_tokens_decoder")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(id, token)| Some((id.parse().ok()?, token_text(token)?)))
                    .collect()
            })
            .unwrap_or_default();
        let unk_token = setting("unk_token", "<unk>").unwrap_or_else(|| "<unk>".into());
        let pad_token = setting("pad_token", "<pad>").unwrap_or_else(|| "<pad>".into());
        let mut special_tokens: Vec<String> = ["bos_token", "eos_token"]
            .iter()
            .filter_map(|key| setting(key, if *key == "bos_token" { "<s>" } else { "</s>" }))
            .chain([unk_token.clone(), pad_token.clone()])
            .chain(
                ["sep_token", "cls_token", "mask_token"]
                    .iter()
                    .filter_map(|key| config.get(*key).and_then(token_text)),
            )
            .collect();
        if let Some(extra) = config
            .get("additional_special_tokens")
            .and_then(Value::as_array)
        {
            special_tokens.extend(extra.iter().filter_map(token_text));
        }
        let mut tokenizer = Self {
            decoder,
            encoder,
            added,
            pad_token,
            unk_token,
            word_delimiter_token: setting("word_delimiter_token", "|"),
            replace_word_delimiter_char: config
                .get("replace_word_delimiter_char")
                .and_then(Value::as_str)
                .unwrap_or(" ")
                .to_string(),
            do_lower_case: config
                .get("do_lower_case")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            clean_up_tokenization_spaces: config
                .get("clean_up_tokenization_spaces")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            special_tokens: HashSet::new(),
            special_ids: HashSet::new(),
        };
        tokenizer.special_ids = special_tokens
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        tokenizer.special_tokens = special_tokens.into_iter().collect();
        if tokenizer.token_to_id(&tokenizer.pad_token).is_none() {
            return Err(tokenizer_error(
                vocab_path,
                format!(
                    "the pad token `{}` (the CTC blank) is not in the vocabulary",
                    tokenizer.pad_token
                ),
            ));
        }
        Ok(tokenizer)
    }

    /// `convert_tokens_to_ids` of one token: added tokens, then the vocabulary, else `<unk>`'s id.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.added
            .iter()
            .find(|(_, t)| t.as_str() == token)
            .map(|(&id, _)| id)
            .or_else(|| self.encoder.get(token).copied())
            .or_else(|| self.encoder.get(&self.unk_token).copied())
    }

    /// The id of the CTC blank (`pad_token`).
    pub fn pad_token_id(&self) -> u32 {
        self.token_to_id(&self.pad_token).expect("checked at load")
    }

    /// Tokens in the vocabulary (the CTC head's width), added tokens not counted.
    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    fn id_to_token(&self, id: u32) -> &str {
        self.added
            .get(&id)
            .or_else(|| self.decoder.get(&id))
            .map_or(self.unk_token.as_str(), String::as_str)
    }

    /// The tokens `convert_ids_to_tokens` gives and `_decode` keeps.
    fn tokens(&self, ids: &[u32], skip_special_tokens: bool) -> Vec<&str> {
        ids.iter()
            .filter(|id| !(skip_special_tokens && self.special_ids.contains(id)))
            .map(|&id| self.id_to_token(id))
            .filter(|token| {
                !(skip_special_tokens
                    && *token != self.pad_token
                    && self.special_tokens.contains(*token))
            })
            .collect()
    }

    /// `decode(ids, skip_special_tokens)`: repeated ids grouped into one, blanks dropped, the
    /// word delimiter made a space. (With `skip_special_tokens`, transformers drops the blanks
    /// before grouping, so a doubled letter collapses; this does the same.)
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        self.decode_with_offsets(ids, skip_special_tokens).0
    }

    /// `decode(..., output_char_offsets=True)`: the text and each kept character's frames.
    pub fn decode_with_offsets(
        &self,
        ids: &[u32],
        skip_special_tokens: bool,
    ) -> (String, Vec<CharOffset>) {
        let tokens = self.tokens(ids, skip_special_tokens);
        let mut offsets: Vec<CharOffset> = Vec::new();
        let mut position = 0;
        let mut i = 0;
        while i < tokens.len() {
            let mut j = i;
            while j < tokens.len() && tokens[j] == tokens[i] {
                j += 1;
            }
            let token = tokens[i];
            if token != self.pad_token {
                let char = if Some(token) == self.word_delimiter_token.as_deref() {
                    self.replace_word_delimiter_char.clone()
                } else {
                    token.to_string()
                };
                offsets.push(CharOffset {
                    char,
                    start_offset: position,
                    end_offset: position + (j - i),
                });
            }
            position += j - i;
            i = j;
        }
        let joined: String = offsets.iter().map(|o| o.char.as_str()).collect();
        let mut text = py_strip(&joined).to_string();
        if self.do_lower_case {
            text = text.to_lowercase();
        }
        if self.clean_up_tokenization_spaces {
            text = clean_up_tokenization(&text);
        }
        (text, offsets)
    }

    /// `_get_word_offsets`: characters between delimiters joined into words.
    pub fn word_offsets(&self, offsets: &[CharOffset]) -> Vec<WordOffset> {
        let delimiter = &self.replace_word_delimiter_char;
        let mut words = Vec::new();
        let mut in_word = false;
        let mut current: Option<WordOffset> = None;
        for offset in offsets {
            let is_word = offset.char != *delimiter;
            match (in_word, is_word) {
                (true, true) => {
                    if let Some(word) = current.as_mut() {
                        word.word.push_str(&offset.char);
                        word.end_offset = offset.end_offset;
                    }
                }
                (true, false) => words.extend(current.take()),
                (false, true) => {
                    current = Some(WordOffset {
                        word: offset.char.clone(),
                        start_offset: offset.start_offset,
                        end_offset: offset.end_offset,
                    })
                }
                (false, false) => {}
            }
            in_word = is_word;
        }
        words.extend(current);
        words
    }
}
