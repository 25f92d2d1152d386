//! Tokenization as the fine-tuning recipes do it: `padding="max_length", truncation=True` for
//! classification; for SQuAD, `truncation="only_second"` windows of `max_length` tokens that
//! overlap by `doc_stride`, with answer start/end token positions found through the offset
//! mapping (the `[CLS]` index when the answer is outside a window or there is none).

use burn::tensor::Device;
use burn_models::heads::EncoderInput;
use tokenizers::{Encoding, TruncationStrategy};

use super::data::{ClassificationExample, QaExample};
use crate::error::{Result, TaskError};
use crate::processors::TextTokenizer;

/// Token ids of one model input, padded to the recipe's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    /// `input_ids`, padded with the tokenizer's pad id.
    pub input_ids: Vec<i64>,
    /// `attention_mask`: 1 for tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// `token_type_ids`: 0 for the first segment, 1 for the second.
    pub token_type_ids: Vec<i64>,
}

impl Tokens {
    fn from_encoding(encoding: &Encoding, pad_to: usize, pad_id: u32) -> Self {
        let pad = |values: &[u32], fill: u32| -> Vec<i64> {
            let mut row: Vec<i64> = values.iter().map(|&v| v as i64).collect();
            row.resize(pad_to.max(row.len()), fill as i64);
            row
        };
        Self {
            input_ids: pad(encoding.get_ids(), pad_id),
            attention_mask: pad(encoding.get_attention_mask(), 0),
            token_type_ids: pad(encoding.get_type_ids(), 0),
        }
    }

    /// Stacks rows into a model batch.
    pub fn batch(
        rows: &[&Tokens],
        with_token_types: bool,
        device: &Device,
    ) -> Result<EncoderInput> {
        let ids: Vec<Vec<i64>> = rows.iter().map(|r| r.input_ids.clone()).collect();
        let mask: Vec<Vec<i64>> = rows.iter().map(|r| r.attention_mask.clone()).collect();
        let types: Vec<Vec<i64>> = rows.iter().map(|r| r.token_type_ids.clone()).collect();
        Ok(EncoderInput::new(
            &ids,
            &mask,
            with_token_types.then_some(types.as_slice()),
            device,
        )?)
    }
}

/// A tokenized classification example.
#[derive(Debug, Clone)]
pub struct ClassificationFeature {
    /// The padded tokens of the text.
    pub tokens: Tokens,
    /// The class index.
    pub label: usize,
}

/// `tokenizer(texts, padding="max_length", truncation=True, max_length=max_length)`.
pub fn classification_features(
    tokenizer: &TextTokenizer,
    examples: &[ClassificationExample],
    max_length: usize,
) -> Result<Vec<ClassificationFeature>> {
    check_max_length(tokenizer, max_length)?;
    examples
        .iter()
        .map(|example| {
            let encoding = tokenizer.encode_windows(
                &example.text,
                None,
                max_length,
                0,
                TruncationStrategy::LongestFirst,
            )?;
            Ok(ClassificationFeature {
                tokens: Tokens::from_encoding(&encoding, max_length, tokenizer.pad_token_id),
                label: example.label,
            })
        })
        .collect()
}

fn check_max_length(tokenizer: &TextTokenizer, max_length: usize) -> Result<()> {
    if max_length < 3 {
        return Err(TaskError::option(
            "max_length",
            format!("{max_length} leaves no room for text between the special tokens"),
        ));
    }
    if max_length > tokenizer.model_max_length {
        log::warn!(
            "max_length {max_length} is longer than the tokenizer's model_max_length {}",
            tokenizer.model_max_length
        );
    }
    Ok(())
}

/// A SQuAD window for training: its tokens and the answer's token span (`(0, 0)`, the
/// `[CLS]` token, when the answer is not inside the window or the question has none).
#[derive(Debug, Clone)]
pub struct QaTrainFeature {
    /// The window's tokens (question, then a slice of the context).
    pub tokens: Tokens,
    /// Token index of the answer's first token.
    pub start_position: usize,
    /// Token index of the answer's last token (inclusive).
    pub end_position: usize,
}

/// A SQuAD window for evaluation: its tokens, the example it came from, and the character
/// span in the context of each context token (`None` for question and special tokens).
#[derive(Debug, Clone)]
pub struct QaEvalFeature {
    /// The window's tokens (question, then a slice of the context).
    pub tokens: Tokens,
    /// Index of the example (in the evaluation examples) the window came from.
    pub example: usize,
    /// Character span in the context of each token; `None` for question and special tokens.
    pub offsets: Vec<Option<(usize, usize)>>,
}

/// SQuAD's window settings.
#[derive(Debug, Clone, Copy)]
pub struct QaWindows {
    /// `max_length` (384 in the recipe).
    pub max_length: usize,
    /// `stride` (128): tokens shared by consecutive windows.
    pub doc_stride: usize,
}

impl Default for QaWindows {
    fn default() -> Self {
        Self {
            max_length: 384,
            doc_stride: 128,
        }
    }
}

/// The windows of one question, with the question stripped of surrounding whitespace as the
/// recipe does (some SQuAD questions start with many spaces).
fn windows(tokenizer: &TextTokenizer, example: &QaExample, w: QaWindows) -> Result<Vec<Encoding>> {
    let question = example.question.trim();
    if question.is_empty() || example.context.trim().is_empty() {
        return Err(TaskError::Dataset(format!(
            "question {}: empty question or context",
            example.id
        )));
    }
    let full = tokenizer.encode(question, Some(&example.context))?;
    if full.len() > w.max_length {
        let sequence_ids = full.get_sequence_ids();
        let question_len = sequence_ids.iter().filter(|s| **s == Some(0)).count();
        let context_len = sequence_ids.iter().filter(|s| **s == Some(1)).count();
        let room = w.max_length.saturating_sub(full.len() - context_len);
        if room == 0 || w.doc_stride >= room {
            return Err(TaskError::Dataset(format!(
                "question {}: {question_len} question tokens leave {room} context tokens in a window of \
                 max_length {}, not more than doc_stride {}",
                example.id, w.max_length, w.doc_stride
            )));
        }
    }
    let mut encoding = tokenizer.encode_windows(
        question,
        Some(&example.context),
        w.max_length,
        w.doc_stride,
        TruncationStrategy::OnlySecond,
    )?;
    let overflowing = encoding.take_overflowing();
    Ok(std::iter::once(encoding).chain(overflowing).collect())
}

/// `prepare_train_features` of the recipe.
pub fn qa_train_features(
    tokenizer: &TextTokenizer,
    examples: &[QaExample],
    w: QaWindows,
) -> Result<Vec<QaTrainFeature>> {
    let mut features = Vec::new();
    for example in examples {
        for encoding in windows(tokenizer, example, w)? {
            let (start_position, end_position) = answer_span(&encoding, example);
            features.push(QaTrainFeature {
                tokens: Tokens::from_encoding(&encoding, w.max_length, tokenizer.pad_token_id),
                start_position,
                end_position,
            });
        }
    }
    Ok(features)
}

/// The first answer's token span in this window, or the `[CLS]` index (0) for both ends.
fn answer_span(encoding: &Encoding, example: &QaExample) -> (usize, usize) {
    let cls_index = encoding
        .get_tokens()
        .iter()
        .position(|t| t == "[CLS]")
        .unwrap_or(0);
    let (Some(text), Some(&start_char)) = (
        example.answers.text.first(),
        example.answers.answer_start.first(),
    ) else {
        return (cls_index, cls_index);
    };
    let end_char = start_char + text.chars().count();
    let sequence_ids = encoding.get_sequence_ids();
    let offsets = encoding.get_offsets();
    let Some(context_start) = sequence_ids.iter().position(|s| *s == Some(1)) else {
        return (cls_index, cls_index);
    };
    let context_end = sequence_ids
        .iter()
        .rposition(|s| *s == Some(1))
        .expect("a context token exists");
    if offsets[context_start].0 > start_char || offsets[context_end].1 < end_char {
        return (cls_index, cls_index);
    }
    let mut idx = context_start;
    while idx <= context_end && offsets[idx].0 <= start_char {
        idx += 1;
    }
    let start = idx - 1;
    let mut idx = context_end as isize;
    while idx >= context_start as isize && offsets[idx as usize].1 >= end_char {
        idx -= 1;
    }
    let end = (idx + 1) as usize;
    (start, end)
}

/// `prepare_validation_features` of the recipe.
pub fn qa_eval_features(
    tokenizer: &TextTokenizer,
    examples: &[QaExample],
    w: QaWindows,
) -> Result<Vec<QaEvalFeature>> {
    let mut features = Vec::new();
    for (index, example) in examples.iter().enumerate() {
        for encoding in windows(tokenizer, example, w)? {
            let offsets = encoding
                .get_sequence_ids()
                .iter()
                .zip(encoding.get_offsets())
                .map(|(sequence, &offset)| (*sequence == Some(1)).then_some(offset))
                .collect();
            features.push(QaEvalFeature {
                tokens: Tokens::from_encoding(&encoding, w.max_length, tokenizer.pad_token_id),
                example: index,
                offsets,
            });
        }
    }
    Ok(features)
}
