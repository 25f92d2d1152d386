use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::tensor::Device;
use burn_models::heads::EncoderInput;
use burn_models::hub::ModelDir;
use serde_json::Value;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Result, TaskError};

/// transformers' `VERY_LARGE_INTEGER`: a tokenizer without a `model_max_length` (the largest
/// `usize` where 1e18 does not fit, as on wasm32).
const UNBOUNDED: usize = if usize::BITS >= 64 {
    1_000_000_000_000_000_000_u64 as usize
} else {
    usize::MAX
};

/// (max_length, stride, strategy) of a truncating tokenizer.
type TruncationKey = (usize, usize, TruncationStrategy);

/// A checkpoint's tokenizer, built once from its own files (`tokenizer.json`, or `vocab.txt`
/// with `tokenizer_config.json` for WordPiece models that predate fast tokenizers).
///
/// Encodings carry character offsets into the input text, as transformers returns them.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Copies of `inner` set up to truncate with given (max_length, stride, strategy), built
    /// on first use and kept: the vocabulary is cloned once per setting, not once per call.
    truncating: Mutex<Vec<(TruncationKey, Arc<Tokenizer>)>>,
    /// `tokenizer_config.json`'s `model_max_length` (unbounded when unset).
    pub model_max_length: usize,
    /// Id of the pad token (`pad_token` of `tokenizer_config.json`, `[PAD]` by default; 0 when
    /// the vocabulary lacks it).
    pub pad_token_id: u32,
    /// The prefix WordPiece puts on word continuations (`##`), if the model has one.
    pub continuing_subword_prefix: Option<String>,
}

impl TextTokenizer {
    /// Reads the tokenizer of a model folder: `tokenizer.json`, or `vocab.txt` with
    /// `tokenizer_config.json` for WordPiece models.
    pub fn from_model_dir(dir: &ModelDir) -> Result<Self> {
        let config = read_json(dir, "tokenizer_config.json")?.unwrap_or(Value::Null);
        let inner = if let Some(json) = dir.read_file("tokenizer.json")? {
            let path = dir.location("tokenizer.json");
            Tokenizer::from_bytes(json).map_err(|e| tokenizer_error(&path, e))?
        } else if let Some(vocab) = dir.read_file("vocab.txt")? {
            wordpiece_from_vocab(&vocab, &dir.location("vocab.txt"), &config)?
        } else {
            return Err(TaskError::Tokenizer {
                path: dir.path().to_path_buf(),
                message: "no tokenizer.json or vocab.txt in the model directory".into(),
            });
        };
        Self::new(inner, &config)
    }

    fn new(mut inner: Tokenizer, config: &Value) -> Result<Self> {
        // Pipelines choose truncation and padding per call, as transformers does.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .expect("disabling truncation cannot fail");
        let model_max_length = config
            .get("model_max_length")
            .and_then(Value::as_f64)
            .filter(|&n| n > 0.0 && n < 1e18)
            .map_or(UNBOUNDED, |n| n as usize);
        let pad_token = special_token(config, "pad_token").unwrap_or_else(|| "[PAD]".into());
        let pad_token_id = inner.token_to_id(&pad_token).unwrap_or(0);
        let continuing_subword_prefix = match inner.get_model() {
            tokenizers::ModelWrapper::WordPiece(wp) => Some(wp.continuing_subword_prefix.clone()),
            tokenizers::ModelWrapper::BPE(bpe) => bpe.continuing_subword_prefix.clone(),
            _ => None,
        };
        Ok(Self {
            inner,
            truncating: Mutex::default(),
            model_max_length,
            pad_token_id,
            continuing_subword_prefix,
        })
    }

    /// The underlying `tokenizers` tokenizer (no truncation, no padding).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Encodes a text (or a text pair) with special tokens and character offsets, untruncated.
    pub fn encode(&self, text: &str, pair: Option<&str>) -> Result<Encoding> {
        let encoded = match pair {
            Some(pair) => self.inner.encode_char_offsets((text, pair), true),
            None => self.inner.encode_char_offsets(text, true),
        };
        encoded.map_err(|e| TaskError::InvalidInput(format!("cannot tokenize {text:?}: {e}")))
    }

    /// Encodes with truncation to `max_length`, keeping overflowing windows that overlap by
    /// `stride` tokens (in [`Encoding::get_overflowing`]), as `return_overflowing_tokens=True`.
    pub fn encode_windows(
        &self,
        text: &str,
        pair: Option<&str>,
        max_length: usize,
        stride: usize,
        strategy: TruncationStrategy,
    ) -> Result<Encoding> {
        let tokenizer = self.truncating_tokenizer(max_length, stride, strategy)?;
        let encoded = match pair {
            Some(pair) => tokenizer.encode_char_offsets((text, pair), true),
            None => tokenizer.encode_char_offsets(text, true),
        };
        encoded.map_err(|e| TaskError::InvalidInput(format!("cannot tokenize {text:?}: {e}")))
    }

    /// Encodes pre-split words (`is_split_into_words=True`): `question` then `document`, with
    /// special tokens; with `windows: Some((max_length, stride))`, truncated to `max_length`
    /// on the document's side with overflowing windows as [`Self::encode_windows`].
    pub fn encode_words(
        &self,
        question: &[&str],
        document: &[&str],
        windows: Option<(usize, usize)>,
    ) -> Result<Encoding> {
        let input = (question.to_vec(), document.to_vec());
        let encoded = match windows {
            Some((max_length, stride)) => self
                .truncating_tokenizer(max_length, stride, TruncationStrategy::OnlySecond)?
                .encode_char_offsets(input, true),
            None => self.inner.encode_char_offsets(input, true),
        };
        encoded.map_err(|e| TaskError::InvalidInput(format!("cannot tokenize {question:?}: {e}")))
    }

    fn truncating_tokenizer(
        &self,
        max_length: usize,
        stride: usize,
        strategy: TruncationStrategy,
    ) -> Result<Arc<Tokenizer>> {
        let key = (max_length, stride, strategy);
        let mut cache = self
            .truncating
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, tokenizer)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(tokenizer.clone());
        }
        let mut tokenizer = self.inner.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy,
                stride,
            }))
            .map_err(|e| {
                TaskError::InvalidInput(format!("truncation to {max_length} tokens: {e}"))
            })?;
        let tokenizer = Arc::new(tokenizer);
        cache.push((key, tokenizer.clone()));
        Ok(tokenizer)
    }

    /// Pads encodings to the longest and stacks them into a model batch.
    pub fn batch(
        &self,
        encodings: &[&Encoding],
        with_token_types: bool,
        device: &Device,
    ) -> Result<EncoderInput> {
        let longest = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let pad = |values: &[u32], fill: i64| -> Vec<i64> {
            let mut row: Vec<i64> = values.iter().map(|&v| v as i64).collect();
            row.resize(longest, fill);
            row
        };
        let ids: Vec<_> = encodings
            .iter()
            .map(|e| pad(e.get_ids(), self.pad_token_id as i64))
            .collect();
        let mask: Vec<_> = encodings
            .iter()
            .map(|e| pad(e.get_attention_mask(), 0))
            .collect();
        let types: Vec<_> = encodings.iter().map(|e| pad(e.get_type_ids(), 0)).collect();
        Ok(EncoderInput::new(
            &ids,
            &mask,
            with_token_types.then_some(types.as_slice()),
            device,
        )?)
    }

    /// `convert_tokens_to_string` of transformers: the decoder applied to token strings.
    pub fn tokens_to_string(&self, tokens: &[String]) -> String {
        match self.inner.get_decoder() {
            Some(decoder) => {
                use tokenizers::Decoder;
                decoder
                    .decode(tokens.to_vec())
                    .unwrap_or_else(|_| tokens.join(" "))
            }
            None => tokens.join(" "),
        }
    }
}

/// The JSON file `name` of the model, if it has one.
fn read_json(dir: &ModelDir, name: &str) -> Result<Option<Value>> {
    let path = dir.location(name);
    let Some(bytes) = dir.read_file(name).map_err(|e| tokenizer_error(&path, e))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| tokenizer_error(&path, e))
}

fn tokenizer_error(path: &Path, e: impl std::fmt::Display) -> TaskError {
    TaskError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A special token from `tokenizer_config.json`, written as a string or as an AddedToken dict.
fn special_token(config: &Value, key: &str) -> Option<String> {
    match config.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// `BertTokenizerFast` built from `vocab.txt`, honouring `do_lower_case`,
/// `tokenize_chinese_chars`, `strip_accents` and the special tokens of `tokenizer_config.json`.
fn wordpiece_from_vocab(bytes: &[u8], vocab: &Path, config: &Value) -> Result<Tokenizer> {
    let token =
        |key: &str, default: &str| special_token(config, key).unwrap_or_else(|| default.into());
    let unk = token("unk_token", "[UNK]");
    let model = WordPiece::builder()
        .vocab(WordPiece::read_bytes(bytes).map_err(|e| tokenizer_error(vocab, e))?)
        .unk_token(unk)
        .build()
        .map_err(|e| tokenizer_error(vocab, e))?;
    let lowercase = config
        .get("do_lower_case")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let chinese = config
        .get("tokenize_chinese_chars")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let strip_accents = config.get("strip_accents").and_then(Value::as_bool);
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_normalizer(Some(BertNormalizer::new(
        true,
        chinese,
        strip_accents,
        lowercase,
    )));
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    let id = |t: &str| {
        tokenizer
            .token_to_id(t)
            .ok_or_else(|| TaskError::Tokenizer {
                path: vocab.to_path_buf(),
                message: format!("special token {t} is not in the vocabulary"),
            })
    };
    let (cls, sep) = (token("cls_token", "[CLS]"), token("sep_token", "[SEP]"));
    let (cls_id, sep_id) = (id(&cls)?, id(&sep)?);
    let special: Vec<_> = [
        "unk_token",
        "sep_token",
        "pad_token",
        "cls_token",
        "mask_token",
    ]
    .iter()
    .filter_map(|k| special_token(config, k))
    .map(|t| tokenizers::AddedToken::from(t, true))
    .collect();
    tokenizer.add_special_tokens(&special);
    tokenizer.with_post_processor(Some(BertProcessing::new((sep, sep_id), (cls, cls_id))));
    tokenizer.with_decoder(Some(WordPieceDecoder::default()));
    Ok(tokenizer)
}

/// transformers' `clean_up_tokenization`: spaces before punctuation and English contractions.
pub fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}
