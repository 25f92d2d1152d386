//! `document-question-answering`, as `transformers` 4.57's `DocumentQuestionAnsweringPipeline`
//! runs it for LayoutLM (v1) models: the document is a list of words with their boxes on the
//! page (0-1000 units), given by the caller or read from the image by Tesseract OCR (cargo
//! feature `ocr`). The question's whitespace-separated words and the document's words are
//! tokenized as pre-split words (`truncation="only_second"`, overflowing windows of
//! `max_seq_len` tokens overlapping by `doc_stride`), every document token gets its word's box
//! (separators get (1000, 1000, 1000, 1000), the question (0, 0, 0, 0)), and answers are spans
//! of whole words: `start`/`end` are word indices, `answer` the words joined by spaces.

use std::path::PathBuf;

use burn_models::auto::{load_question_answerer, model_type};
use burn_models::config::CommonConfig;
use burn_models::heads::QuestionAnswerer;
use serde::Serialize;
use serde_json::Value;
use tokenizers::Encoding;

use super::image_classification::to_json_per_input;
use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::question_answering::{select_starts_ends, unpadded_span_logits};
use super::token_classification::special_token_id;
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
pub use crate::input::ocr::WordBox;
use crate::processors::TextTokenizer;

/// The `document-question-answering` task: its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<DocumentQuestionAnsweringPipeline>(
    "document-question-answering",
    &[],
    "Answer a question about a document image (LayoutLM): from its words and boxes, or from \
     Tesseract OCR of the image (cargo feature `ocr`)",
    "impira/layoutlm-document-qa",
    InputKind::Image,
    &[
        OptionSpec::new("question", ValueKind::Text, "The question"),
        OptionSpec::new(
            "image",
            ValueKind::Text,
            "The document image, if not given as the input",
        ),
        OptionSpec::new(
            "word_boxes",
            ValueKind::JsonFile,
            "The document's words as JSON: a list of [word, [x0, y0, x1, y1]] in 0-1000 units \
             (a file on the command line); without it the image is read by OCR",
        ),
        OptionSpec::new("top_k", ValueKind::Count, "Answers to return (default 1)"),
        OptionSpec::new(
            "doc_stride",
            ValueKind::Count,
            "Overlap of windows in tokens (default min(max_seq_len / 2, 256))",
        ),
        OptionSpec::new(
            "max_answer_len",
            ValueKind::Count,
            "Longest answer in tokens (default 15)",
        ),
        OptionSpec::new(
            "max_seq_len",
            ValueKind::Count,
            "Tokens per window (default: the tokenizer's model_max_length)",
        ),
        OptionSpec::new(
            "max_question_len",
            ValueKind::Count,
            "Accepted as HF does; unused for LayoutLM (default 64)",
        ),
        OptionSpec::new(
            "handle_impossible_answer",
            ValueKind::Bool,
            "Also consider the null answer (\"\" at word 0..0)",
        ),
        OptionSpec::new(
            "lang",
            ValueKind::Text,
            "OCR language (Tesseract's -l), e.g. eng",
        ),
        OptionSpec::new(
            "tesseract_config",
            ValueKind::Text,
            "Extra Tesseract arguments for OCR",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Windows run at once (default 8)",
        ),
    ],
);

/// Keyword arguments of `document-question-answering`, as in transformers'
/// `DocumentQuestionAnsweringPipeline`.
#[derive(Debug, Clone)]
pub struct DocumentQuestionAnsweringOptions {
    /// Answers per question, best first.
    pub top_k: usize,
    /// Tokens of overlap between windows; `None` is HF's `min(max_seq_len / 2, 256)`.
    pub doc_stride: Option<usize>,
    /// Longest answer, in tokens.
    pub max_answer_len: usize,
    /// Tokens per window; `None` is the tokenizer's `model_max_length`, as HF.
    pub max_seq_len: Option<usize>,
    /// Accepted for compatibility; HF's pipeline ignores it for LayoutLM, and so does this one.
    pub max_question_len: usize,
    /// Add the null answer (`{"score": p(CLS, CLS), "answer": "", "start": 0, "end": 0}`).
    pub handle_impossible_answer: bool,
    /// Tesseract's language for OCR (`-l`), HF's `lang`; `None` is Tesseract's default.
    pub lang: Option<String>,
    /// Extra Tesseract arguments for OCR, HF's `tesseract_config`.
    pub tesseract_config: String,
    /// Windows run through the model together, padded to the longest.
    pub batch_size: usize,
}

impl Default for DocumentQuestionAnsweringOptions {
    fn default() -> Self {
        Self {
            top_k: 1,
            doc_stride: None,
            max_answer_len: 15,
            max_seq_len: None,
            max_question_len: 64,
            handle_impossible_answer: false,
            lang: None,
            tesseract_config: String::new(),
            batch_size: 8,
        }
    }
}

/// A question about a document: its words and boxes, or an image to OCR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentQaInput {
    /// The question.
    pub question: String,
    /// The page image; read (by OCR) only when `word_boxes` is `None`.
    pub image: Option<PathBuf>,
    /// The page's words and their boxes (0-1000 coordinates, as LayoutLM takes them); when
    /// `None` they come from OCR of `image`.
    pub word_boxes: Option<Vec<WordBox>>,
}

impl DocumentQaInput {
    /// A question about a page whose words and boxes are already known.
    pub fn with_word_boxes(question: impl Into<String>, word_boxes: Vec<WordBox>) -> Self {
        Self {
            question: question.into(),
            image: None,
            word_boxes: Some(word_boxes),
        }
    }

    /// A question about a page image, read by OCR (Tesseract).
    pub fn with_image(question: impl Into<String>, image: impl Into<PathBuf>) -> Self {
        Self {
            question: question.into(),
            image: Some(image.into()),
            word_boxes: None,
        }
    }
}

/// One answer: `{"score", "answer", "start", "end"}` as HF's pipeline returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentAnswer {
    /// Probability of the span (start times end probability).
    pub score: f32,
    /// The answer's words, joined by spaces.
    pub answer: String,
    /// Index of the answer's first and last word in the document's words.
    pub start: usize,
    /// Index of the answer's last word (inclusive).
    pub end: usize,
}

/// A LayoutLM document question-answering model and its tokenizer, as transformers'
/// `pipeline("document-question-answering")`.
pub struct DocumentQuestionAnsweringPipeline {
    model: Box<dyn QuestionAnswerer>,
    tokenizer: TextTokenizer,
    cls_token_id: Option<u32>,
    sep_token_id: Option<u32>,
    device: burn::tensor::Device,
}

/// One window of one input.
struct Window {
    input: usize,
    encoding: Encoding,
    /// True where a token cannot be (part of) an answer: question and special tokens but CLS.
    p_mask: Vec<bool>,
    bbox: Vec<[i64; 4]>,
}

impl TaskPipeline for DocumentQuestionAnsweringPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = DocumentQuestionAnsweringOptions;
    type Input = DocumentQaInput;
    type Output = Vec<DocumentAnswer>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let kind = model_type(&dir)?;
        if kind != "layoutlm" {
            return Err(TaskError::InvalidModel(format!(
                "document-question-answering supports LayoutLM models (model_type `layoutlm`), not `{kind}`"
            )));
        }
        let model = source.prepare_model(load_question_answerer(&dir, &device)?)?;
        let tokenizer = TextTokenizer::from_model_dir(&dir)?;
        Ok(Self {
            model,
            cls_token_id: special_token_id(&dir, &tokenizer, "cls_token"),
            sep_token_id: special_token_id(&dir, &tokenizer, "sep_token"),
            tokenizer,
            device,
        })
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<DocumentQuestionAnsweringOptions> {
        let mut options = DocumentQuestionAnsweringOptions::default();
        kwargs.update("top_k", &mut options.top_k)?;
        kwargs.update("doc_stride", &mut options.doc_stride)?;
        kwargs.update("max_answer_len", &mut options.max_answer_len)?;
        kwargs.update("max_seq_len", &mut options.max_seq_len)?;
        kwargs.update("max_question_len", &mut options.max_question_len)?;
        kwargs.update(
            "handle_impossible_answer",
            &mut options.handle_impossible_answer,
        )?;
        kwargs.update("lang", &mut options.lang)?;
        kwargs.update("tesseract_config", &mut options.tesseract_config)?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        Ok(options)
    }

    /// `pipe(image, question=..., word_boxes=...)`, the same as keywords, or `{"image",
    /// "question", "word_boxes"}` dicts (one or a list); `image` is a path, read only by OCR
    /// when there are no word boxes.
    fn inputs(
        &self,
        inputs: &Value,
        kwargs: &mut Kwargs,
    ) -> Result<(Vec<DocumentQaInput>, InputForm)> {
        let mut single = serde_json::Map::new();
        for key in ["image", "question", "word_boxes"] {
            if let Some(value) = kwargs.take(key) {
                single.insert(key.into(), value);
            }
        }
        let doc_input = |value: &Value| -> Result<DocumentQaInput> {
            let question = match value.get("question") {
                Some(Value::String(q)) => q.clone(),
                _ => {
                    return Err(TaskError::InvalidInput(format!(
                        "a document-question-answering input needs a string \"question\", got {value}"
                    )));
                }
            };
            let image = match value.get("image") {
                None | Some(Value::Null) => None,
                Some(Value::String(path)) => Some(PathBuf::from(path)),
                Some(other) => {
                    return Err(TaskError::InvalidInput(format!(
                        "an image is given by its file path, got {other}"
                    )));
                }
            };
            let word_boxes = match value.get("word_boxes") {
                None | Some(Value::Null) => None,
                Some(boxes) => Some(parse_word_boxes(boxes)?),
            };
            Ok(DocumentQaInput {
                question,
                image,
                word_boxes,
            })
        };
        Ok(match inputs {
            Value::Array(items) if single.is_empty() => (
                items.iter().map(doc_input).collect::<Result<_>>()?,
                InputForm::List,
            ),
            Value::Object(_) if single.is_empty() => (vec![doc_input(inputs)?], InputForm::Dict),
            Value::String(_) | Value::Null if single.contains_key("question") => {
                if !inputs.is_null() {
                    single.insert("image".into(), inputs.clone());
                }
                (vec![doc_input(&Value::Object(single))?], InputForm::One)
            }
            _ => {
                return Err(TaskError::InvalidInput(
                    "document-question-answering takes {\"image\", \"question\", \"word_boxes\"} dicts, \
                     or image, question= and word_boxes="
                        .into(),
                ));
            }
        })
    }

    fn run(
        &self,
        inputs: &[DocumentQaInput],
        options: &DocumentQuestionAnsweringOptions,
    ) -> Result<Vec<Vec<DocumentAnswer>>> {
        self.answer(inputs, options)
    }

    /// One input gives its list of answers, several give a list of lists.
    fn to_json(
        &self,
        outputs: Vec<Vec<DocumentAnswer>>,
        form: InputForm,
        _: &DocumentQuestionAnsweringOptions,
    ) -> Result<Value> {
        to_json_per_input(outputs, form)
    }
}

impl DocumentQuestionAnsweringPipeline {
    /// The model's config.
    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    /// Answers per input, best first, at most `top_k` each.
    pub fn answer(
        &self,
        inputs: &[DocumentQaInput],
        options: &DocumentQuestionAnsweringOptions,
    ) -> Result<Vec<Vec<DocumentAnswer>>> {
        let (max_seq_len, doc_stride) = self.check_options(options)?;
        if inputs.is_empty() {
            return Err(TaskError::InvalidInput(
                "at least one question is required".into(),
            ));
        }
        let mut documents = Vec::with_capacity(inputs.len());
        let mut windows = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let words = document_words(input, options)?;
            windows.extend(self.preprocess(i, &input.question, &words, max_seq_len, doc_stride)?);
            documents.push(words);
        }
        let mut logits: Vec<(Vec<f32>, Vec<f32>)> = Vec::with_capacity(windows.len());
        for chunk in windows.chunks(options.batch_size) {
            let encodings: Vec<&Encoding> = chunk.iter().map(|w| &w.encoding).collect();
            let longest = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
            let boxes: Vec<Vec<[i64; 4]>> = chunk
                .iter()
                .map(|w| {
                    let mut row = w.bbox.clone();
                    row.resize(longest, [0; 4]);
                    row
                })
                .collect();
            let batch = self
                .tokenizer
                .batch(&encodings, true, &self.device)?
                .with_bbox(&boxes, &self.device)?;
            let (start, end) = self.model.span_logits(&batch)?;
            logits.extend(unpadded_span_logits(start, end, &encodings)?);
        }
        let mut results = Vec::with_capacity(inputs.len());
        let mut next = 0;
        for (i, words) in documents.iter().enumerate() {
            let count = windows[next..].iter().take_while(|w| w.input == i).count();
            let range = next..next + count;
            next += count;
            results.push(postprocess(
                words,
                &windows[range.clone()],
                &logits[range],
                options,
            ));
        }
        Ok(results)
    }

    fn check_options(&self, options: &DocumentQuestionAnsweringOptions) -> Result<(usize, usize)> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        if options.top_k < 1 {
            return Err(TaskError::option("top_k", "should be >= 1 (got 0)"));
        }
        if options.max_answer_len < 1 {
            return Err(TaskError::option(
                "max_answer_len",
                "should be >= 1 (got 0)",
            ));
        }
        let max_seq_len = options
            .max_seq_len
            .unwrap_or(self.tokenizer.model_max_length);
        let doc_stride = options.doc_stride.unwrap_or((max_seq_len / 2).min(256));
        if doc_stride >= max_seq_len {
            return Err(TaskError::option(
                "doc_stride",
                format!(
                    "`doc_stride` ({doc_stride}) must be less than `max_seq_len` ({max_seq_len})"
                ),
            ));
        }
        Ok((max_seq_len, doc_stride))
    }

    fn preprocess(
        &self,
        index: usize,
        question: &str,
        words: &[WordBox],
        max_seq_len: usize,
        doc_stride: usize,
    ) -> Result<Vec<Window>> {
        let question_words: Vec<&str> = question.split_whitespace().collect();
        if question_words.is_empty() {
            return Err(TaskError::InvalidInput("`question` cannot be empty".into()));
        }
        if words.is_empty() {
            return Err(TaskError::InvalidInput(
                "the document has no words (empty word_boxes, or OCR found no text)".into(),
            ));
        }
        let document: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
        // The checks tokenizers would otherwise fail (or panic) on when truncating.
        let full = self
            .tokenizer
            .encode_words(&question_words, &document, None)?;
        if full.len() > max_seq_len {
            let sequence_ids = full.get_sequence_ids();
            let question_len = sequence_ids.iter().filter(|s| **s == Some(0)).count();
            let context_len = sequence_ids.iter().filter(|s| **s == Some(1)).count();
            let special = full.len() - question_len - context_len;
            let room = max_seq_len.saturating_sub(question_len + special);
            if room == 0 {
                return Err(TaskError::InvalidInput(format!(
                    "the question is {question_len} tokens long: no room for the document in a window \
                     of max_seq_len ({max_seq_len}) tokens"
                )));
            }
            if doc_stride >= room {
                return Err(TaskError::option(
                    "doc_stride",
                    format!(
                        "{doc_stride} must be less than the {room} document tokens that fit in a window \
                         of max_seq_len ({max_seq_len}) tokens beside the question"
                    ),
                ));
            }
        }
        let mut encoding = self.tokenizer.encode_words(
            &question_words,
            &document,
            Some((max_seq_len, doc_stride)),
        )?;
        let overflowing = encoding.take_overflowing();
        Ok(std::iter::once(encoding)
            .chain(overflowing)
            .map(|encoding| {
                let mut p_mask = Vec::with_capacity(encoding.len());
                let mut bbox = Vec::with_capacity(encoding.len());
                for ((sequence, &id), word) in encoding
                    .get_sequence_ids()
                    .iter()
                    .zip(encoding.get_ids())
                    .zip(encoding.get_word_ids())
                {
                    p_mask.push(*sequence != Some(1) && Some(id) != self.cls_token_id);
                    bbox.push(match (sequence, word) {
                        (Some(1), Some(word)) => words[*word as usize].1,
                        _ if Some(id) == self.sep_token_id => [1000; 4],
                        _ => [0; 4],
                    });
                }
                Window {
                    input: index,
                    encoding,
                    p_mask,
                    bbox,
                }
            })
            .collect())
    }
}

/// The document's words: the caller's, or Tesseract's reading of the image.
fn document_words(
    input: &DocumentQaInput,
    options: &DocumentQuestionAnsweringOptions,
) -> Result<Vec<WordBox>> {
    match (&input.word_boxes, &input.image) {
        (Some(words), _) => {
            for (word, [x0, y0, x1, y1]) in words {
                if [x0, y0, x1, y1].iter().any(|&&v| !(0..=1000).contains(&v)) || x0 > x1 || y0 > y1
                {
                    return Err(TaskError::InvalidInput(format!(
                        "the box of {word:?} is [{x0}, {y0}, {x1}, {y1}]: boxes are [x0, y0, x1, y1] \
                         with 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000"
                    )));
                }
            }
            Ok(words.clone())
        }
        (None, Some(image)) => crate::input::ocr::apply_tesseract(
            image,
            options.lang.as_deref(),
            &options.tesseract_config,
        ),
        (None, None) => Err(TaskError::InvalidInput(
            "give an image or word_boxes: without word_boxes the image is read by OCR".into(),
        )),
    }
}

/// HF's `postprocess_extractive_qa`: the best spans of every window whose ends fall on
/// document words, then (optionally) the null answer, sorted by score.
fn postprocess(
    words: &[WordBox],
    windows: &[Window],
    logits: &[(Vec<f32>, Vec<f32>)],
    options: &DocumentQuestionAnsweringOptions,
) -> Vec<DocumentAnswer> {
    let mut min_null_score = 1_000_000f64;
    let mut answers = Vec::new();
    for (window, (start, end)) in windows.iter().zip(logits) {
        let spans = select_starts_ends(
            start,
            end,
            &window.p_mask,
            &mut min_null_score,
            options.top_k,
            options.handle_impossible_answer,
            options.max_answer_len,
        );
        let word_ids = window.encoding.get_word_ids();
        for (s, e, score) in spans {
            // Question tokens have word ids too, but p_mask keeps spans off them.
            if let (Some(first), Some(last)) = (word_ids[s], word_ids[e]) {
                let (first, last) = (first as usize, last as usize);
                let answer = words[first..=last]
                    .iter()
                    .map(|(w, _)| w.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                answers.push(DocumentAnswer {
                    score,
                    answer,
                    start: first,
                    end: last,
                });
            }
        }
    }
    if options.handle_impossible_answer {
        answers.push(DocumentAnswer {
            score: min_null_score as f32,
            answer: String::new(),
            start: 0,
            end: 0,
        });
    }
    // Python's sorted(reverse=True) is stable.
    answers.sort_by(|a, b| b.score.total_cmp(&a.score));
    answers.truncate(options.top_k);
    answers
}

/// Parses word boxes as HF takes them: a list of `[word, [x0, y0, x1, y1]]` (0-1000 units).
pub fn parse_word_boxes(value: &Value) -> Result<Vec<WordBox>> {
    let bad = |what: String| TaskError::InvalidInput(format!("word_boxes: {what}"));
    let items = value
        .as_array()
        .ok_or_else(|| bad("expected a list of [word, [x0, y0, x1, y1]]".into()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let pair = item.as_array().filter(|p| p.len() == 2);
            let (word, coords) = match pair {
                Some(p) => (p[0].as_str(), p[1].as_array()),
                None => (None, None),
            };
            let (Some(word), Some(coords)) = (word, coords) else {
                return Err(bad(format!("item {i} is not [word, [x0, y0, x1, y1]]")));
            };
            if coords.len() != 4 {
                return Err(bad(format!(
                    "the box of item {i} ({word:?}) has {} numbers, not 4",
                    coords.len()
                )));
            }
            let mut bbox = [0i64; 4];
            for (slot, v) in bbox.iter_mut().zip(coords) {
                let n = v
                    .as_f64()
                    .ok_or_else(|| bad(format!("the box of {word:?} holds a non-number")))?;
                if n.fract() != 0.0 {
                    return Err(bad(format!(
                        "the box of {word:?} holds {n}: coordinates are integers in 0-1000"
                    )));
                }
                *slot = n as i64;
            }
            Ok((word.to_string(), bbox))
        })
        .collect()
}
