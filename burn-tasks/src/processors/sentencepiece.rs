//! SentencePiece models (`.spm` / `.model` protobuf files) read without the C++ library, and
//! the Marian tokenizer built on them (opus-mt checkpoints ship `source.spm`, `target.spm`
//! and a joint `vocab.json`, and no `tokenizer.json`).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tokenizers::Tokenizer;
use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{NormalizerWrapper, Precompiled, Replace, Sequence, Strip};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};

use burn_models::hub::ModelDir;

use crate::error::{Result, TaskError};

/// One entry of a SentencePiece vocabulary.
#[derive(Debug, Clone)]
pub struct SpmPiece {
    /// The piece's text (`▁` marks a word start).
    pub piece: String,
    /// Its log probability (unigram) or merge rank score (BPE).
    pub score: f32,
    /// 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
    pub kind: u64,
}

/// The parts of a SentencePiece `ModelProto` a tokenizer needs.
#[derive(Debug, Clone)]
pub struct SpmModel {
    /// The vocabulary, by id.
    pub pieces: Vec<SpmPiece>,
    /// 1 unigram, 2 BPE, 3 word, 4 char.
    pub model_type: u64,
    /// Id of the unknown piece.
    pub unk_id: usize,
    /// The normalizer's character map (`normalizer_spec.precompiled_charsmap`).
    pub precompiled_charsmap: Vec<u8>,
    /// `add_dummy_prefix`: a `▁` is put before the text.
    pub add_dummy_prefix: bool,
    /// `remove_extra_whitespaces`: leading, trailing and repeated spaces are removed.
    pub remove_extra_whitespaces: bool,
}

/// A minimal protobuf wire-format reader: enough for `sentencepiece_model.proto`.
struct Wire<'a> {
    bytes: &'a [u8],
    pos: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
    Fixed64,
}

impl<'a> Wire<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The next `(field number, value)`, `None` at the end; `Err` on malformed data.
    fn next(&mut self) -> std::result::Result<Option<(u64, Field<'a>)>, ()> {
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint().ok_or(())?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint().ok_or(())?),
            1 => {
                self.pos += 8;
                Field::Fixed64
            }
            2 => {
                let len = self.varint().ok_or(())? as usize;
                let end = self.pos.checked_add(len).ok_or(())?;
                let slice = self.bytes.get(self.pos..end).ok_or(())?;
                self.pos = end;
                Field::Bytes(slice)
            }
            5 => {
                let b = self.bytes.get(self.pos..self.pos + 4).ok_or(())?;
                self.pos += 4;
                Field::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => return Err(()),
        };
        if self.pos > self.bytes.len() {
            return Err(());
        }
        Ok(Some((key >> 3, field)))
    }
}

impl SpmModel {
    /// Reads a SentencePiece model file (`.spm` / `.model`).
    #[cfg(feature = "fs")]
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| spm_error(path, e))?;
        Self::parse(&bytes).map_err(|message| spm_error(path, message))
    }

    /// Parses a serialized `ModelProto`.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let malformed = || "not a SentencePiece model (malformed protobuf)".to_string();
        let mut model = SpmModel {
            pieces: Vec::new(),
            model_type: 1,
            unk_id: 0,
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
        };
        let mut wire = Wire::new(bytes);
        while let Some((number, field)) = wire.next().map_err(|_| malformed())? {
            match (number, field) {
                (1, Field::Bytes(piece)) => {
                    let mut entry = SpmPiece {
                        piece: String::new(),
                        score: 0.0,
                        kind: 1,
                    };
                    let mut inner = Wire::new(piece);
                    while let Some((n, f)) = inner.next().map_err(|_| malformed())? {
                        match (n, f) {
                            (1, Field::Bytes(s)) => {
                                entry.piece = String::from_utf8(s.to_vec())
                                    .map_err(|_| "a piece is not UTF-8".to_string())?
                            }
                            (2, Field::Fixed32(bits)) => entry.score = f32::from_bits(bits),
                            (3, Field::Varint(kind)) => entry.kind = kind,
                            _ => {}
                        }
                    }
                    model.pieces.push(entry);
                }
                (2, Field::Bytes(trainer)) => {
                    let mut inner = Wire::new(trainer);
                    while let Some((n, f)) = inner.next().map_err(|_| malformed())? {
                        match (n, f) {
                            (3, Field::Varint(t)) => model.model_type = t,
                            (40, Field::Varint(id)) => model.unk_id = id as usize,
                            _ => {}
                        }
                    }
                }
                (3, Field::Bytes(normalizer)) => {
                    let mut inner = Wire::new(normalizer);
                    while let Some((n, f)) = inner.next().map_err(|_| malformed())? {
                        match (n, f) {
                            (2, Field::Bytes(map)) => model.precompiled_charsmap = map.to_vec(),
                            (3, Field::Varint(v)) => model.add_dummy_prefix = v != 0,
                            (4, Field::Varint(v)) => model.remove_extra_whitespaces = v != 0,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return Err("the SentencePiece model has no pieces".into());
        }
        Ok(model)
    }

    /// The model as a `tokenizers` pipeline, as transformers' `SpmConverter` builds it, plus
    /// the whitespace clean-up SentencePiece itself applies (`remove_extra_whitespaces`).
    /// Ids are the piece indices of this model.
    pub fn tokenizer(&self) -> std::result::Result<Tokenizer, String> {
        if self.model_type != 1 {
            return Err(format!(
                "SentencePiece model type {} is not supported (only unigram)",
                self.model_type
            ));
        }
        let vocab = self
            .pieces
            .iter()
            .map(|p| (p.piece.clone(), f64::from(p.score)))
            .collect();
        let unigram = Unigram::from(vocab, Some(self.unk_id), false).map_err(|e| e.to_string())?;
        let mut tokenizer = Tokenizer::new(unigram);
        let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
        if !self.precompiled_charsmap.is_empty() {
            let precompiled = Precompiled::from(&self.precompiled_charsmap)
                .map_err(|e| format!("precompiled_charsmap: {e}"))?;
            normalizers.push(precompiled.into());
        }
        if self.remove_extra_whitespaces {
            normalizers.push(Strip::new(true, true).into());
            normalizers.push(
                Replace::new(
                    tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
                    " ",
                )
                .map_err(|e| e.to_string())?
                .into(),
            );
        }
        tokenizer.with_normalizer(Some(Sequence::new(normalizers)));
        let scheme = if self.add_dummy_prefix {
            PrependScheme::Always
        } else {
            PrependScheme::Never
        };
        tokenizer.with_pre_tokenizer(Some(Metaspace::new('▁', scheme, true)));
        tokenizer.with_decoder(Some(MetaspaceDecoder::new('▁', scheme, true)));
        Ok(tokenizer)
    }
}

fn spm_error(path: &Path, e: impl std::fmt::Display) -> TaskError {
    TaskError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// transformers' `MarianTokenizer`: source text through `source.spm`, pieces mapped to ids by
/// `vocab.json` (unknown pieces to `<unk>`), `</s>` appended; ids decoded through the joint
/// vocabulary back to pieces and joined as `target.spm` does.
pub struct MarianTokenizer {
    source: Tokenizer,
    vocab: HashMap<String, u32>,
    tokens: HashMap<u32, String>,
    special: HashSet<u32>,
    /// Id of `</s>`, appended to every encoding.
    pub eos_token_id: u32,
    /// Id of `<unk>`.
    pub unk_token_id: u32,
    /// Id of `<pad>`.
    pub pad_token_id: u32,
    /// `model_max_length` of `tokenizer_config.json` (512 when unset).
    pub model_max_length: usize,
}

impl MarianTokenizer {
    /// Whether a model directory holds a Marian tokenizer (`source.spm` and `vocab.json`).
    #[cfg(feature = "fs")]
    pub fn is_marian_dir(dir: &Path) -> bool {
        Self::is_marian_model(&ModelDir::on_disk(dir))
    }

    /// [`Self::is_marian_dir`] for a model on disk or in memory.
    pub fn is_marian_model(dir: &ModelDir) -> bool {
        dir.has_file("source.spm") && dir.has_file("vocab.json")
    }

    /// Reads `source.spm`, `vocab.json` and `tokenizer_config.json` from a
    /// model folder.
    #[cfg(feature = "fs")]
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Self::from_model_dir(&ModelDir::on_disk(dir))
    }

    /// [`Self::from_dir`] for a model on disk or in memory.
    pub fn from_model_dir(dir: &ModelDir) -> Result<Self> {
        let source_path = dir.location("source.spm");
        let source = match super::model_file(dir, "source.spm")? {
            Some(bytes) => SpmModel::parse(&bytes).map_err(|m| spm_error(&source_path, m))?,
            None => return Err(spm_error(&source_path, "not found")),
        };
        let source_tokenizer = source.tokenizer().map_err(|e| spm_error(&source_path, e))?;
        let vocab_path = dir.location("vocab.json");
        let text = dir
            .read_string("vocab.json")
            .map_err(|e| spm_error(&vocab_path, e))?
            .ok_or_else(|| spm_error(&vocab_path, "not found"))?;
        let vocab: HashMap<String, u32> =
            serde_json::from_str(&text).map_err(|e| spm_error(&vocab_path, e))?;
        let config: serde_json::Value = dir
            .read_file("tokenizer_config.json")
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_slice(&t).ok())
            .unwrap_or_default();
        let token = |key: &str, default: &str| -> String {
            match config.get(key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v
                    .get("content")
                    .and_then(|c| c.as_str())
                    .unwrap_or(default)
                    .to_string(),
                None => default.to_string(),
            }
        };
        let id = |name: String| -> Result<u32> {
            vocab.get(&name).copied().ok_or_else(|| {
                spm_error(
                    &vocab_path,
                    format!("special token {name} is not in the vocabulary"),
                )
            })
        };
        let eos = id(token("eos_token", "</s>"))?;
        let unk = id(token("unk_token", "<unk>"))?;
        let pad = id(token("pad_token", "<pad>"))?;
        let model_max_length = config
            .get("model_max_length")
            .and_then(|v| v.as_f64())
            .filter(|&n| n > 0.0 && n < 1e18)
            .map_or(512, |n| n as usize);
        Ok(Self {
            source: source_tokenizer,
            tokens: vocab.iter().map(|(k, &v)| (v, k.clone())).collect(),
            vocab,
            special: [eos, unk, pad].into_iter().collect(),
            eos_token_id: eos,
            unk_token_id: unk,
            pad_token_id: pad,
            model_max_length,
        })
    }

    /// Token ids of `text` with `</s>` appended; a leading `>>xx<<` language code stays one token.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let (code, rest) = match text.strip_prefix(">>").and_then(|_| text.find("<<")) {
            Some(end) => (Some(&text[..end + 2]), &text[end + 2..]),
            None => (None, text),
        };
        let encoding = self
            .source
            .encode(rest, false)
            .map_err(|e| TaskError::InvalidInput(format!("cannot tokenize {text:?}: {e}")))?;
        let mut ids: Vec<u32> = code
            .into_iter()
            .map(|c| self.vocab.get(c).copied().unwrap_or(self.unk_token_id))
            .collect();
        ids.extend(
            encoding
                .get_tokens()
                .iter()
                .map(|t| self.vocab.get(t).copied().unwrap_or(self.unk_token_id)),
        );
        ids.push(self.eos_token_id);
        Ok(ids)
    }

    /// Text of `ids`, special tokens left out when `skip_special_tokens`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let mut out = String::new();
        let mut pieces = String::new();
        for &id in ids {
            let token = self.tokens.get(&id).ok_or_else(|| {
                TaskError::InvalidInput(format!("token id {id} is not in the vocabulary"))
            })?;
            if self.special.contains(&id) {
                if skip_special_tokens {
                    continue;
                }
                out.push_str(&join_pieces(&pieces));
                out.push_str(token);
                out.push(' ');
                pieces.clear();
            } else {
                pieces.push_str(token);
            }
        }
        out.push_str(&join_pieces(&pieces));
        Ok(out.replace('▁', " ").trim().to_string())
    }
}

/// SentencePiece's `DecodePieces`: `▁` back to spaces, without the first one.
fn join_pieces(pieces: &str) -> String {
    let text = pieces.replace('▁', " ");
    text.strip_prefix(' ').map(str::to_string).unwrap_or(text)
}
