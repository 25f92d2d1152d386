//! `question-answering`, as `transformers` 4.57's `QuestionAnsweringPipeline` runs with a fast
//! tokenizer (question first, padding on the right): the context is split into windows of
//! `max_seq_len` tokens overlapping by `doc_stride`, each window gives its best spans
//! (`select_starts_ends`/`decode_spans`), spans are mapped back to the context through the
//! encoding's word and character offsets, and answers with the same text are merged.
//!
//! `max_question_len` is accepted but, as in HF's fast-tokenizer path, has no effect.
//! Tokenizers padding on the left (context first) are not supported.

use burn_models::auto::{load_question_answerer, model_type};
use burn_models::config::CommonConfig;
use burn_models::heads::QuestionAnswerer;
use serde::Serialize;
use serde_json::Value;
use tokenizers::{Encoding, TruncationStrategy};

use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::scores::host_values;
use super::token_classification::{CharText, special_token_id};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::processors::TextTokenizer;

/// The `question-answering` task: its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<QuestionAnsweringPipeline>(
    "question-answering",
    &[],
    "Extract the answer to a question from a context",
    "distilbert/distilbert-base-cased-distilled-squad",
    InputKind::Keywords,
    &[
        OptionSpec::new(
            "question",
            ValueKind::Texts,
            "The question; repeat it for several (a batched call)",
        ),
        OptionSpec::new(
            "context",
            ValueKind::Texts,
            "The context the answer is taken from: one for all questions, or one per question",
        ),
        OptionSpec::new(
            "top_k",
            ValueKind::Count,
            "Answers per question (default 1)",
        ),
        OptionSpec::new(
            "doc_stride",
            ValueKind::Count,
            "Overlap of context windows in tokens (default min(max_seq_len / 2, 128))",
        ),
        OptionSpec::new(
            "max_answer_len",
            ValueKind::Count,
            "Longest answer in tokens (default 15)",
        ),
        OptionSpec::new(
            "max_seq_len",
            ValueKind::Count,
            "Tokens per window (default min(model_max_length, 384))",
        ),
        OptionSpec::new(
            "max_question_len",
            ValueKind::Count,
            "Accepted as HF does; its fast-tokenizer path does not use it (default 64)",
        ),
        OptionSpec::new(
            "handle_impossible_answer",
            ValueKind::Bool,
            "Also consider the null answer (\"\" at 0..0)",
        ),
        OptionSpec::new(
            "align_to_words",
            ValueKind::Bool,
            "Widen answers to whole words of the context (default true)",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Windows run at once (default 8)",
        ),
    ],
);

/// Keyword arguments of `question-answering`, as in transformers' `QuestionAnsweringPipeline`.
#[derive(Debug, Clone)]
pub struct QuestionAnsweringOptions {
    /// Answers per question, best first. (HF returns a dict, not a list, when only one
    /// answer results.)
    pub top_k: usize,
    /// Tokens of overlap between context windows; `None` is HF's `min(max_seq_len / 2, 128)`.
    pub doc_stride: Option<usize>,
    /// Longest answer, in tokens.
    pub max_answer_len: usize,
    /// Tokens per window (question, context and special tokens); `None` is HF's
    /// `min(model_max_length, 384)`.
    pub max_seq_len: Option<usize>,
    /// Accepted for compatibility; HF's fast-tokenizer path ignores it, and so does this one.
    pub max_question_len: usize,
    /// Add the null answer (`{"score": p(CLS, CLS), "start": 0, "end": 0, "answer": ""}`).
    pub handle_impossible_answer: bool,
    /// Widen spans to whole words of the context.
    pub align_to_words: bool,
    /// Windows run through the model together, padded to the longest.
    pub batch_size: usize,
}

impl Default for QuestionAnsweringOptions {
    fn default() -> Self {
        Self {
            top_k: 1,
            doc_stride: None,
            max_answer_len: 15,
            max_seq_len: None,
            max_question_len: 64,
            handle_impossible_answer: false,
            align_to_words: true,
            batch_size: 8,
        }
    }
}

/// A question about a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaInput {
    /// The question.
    pub question: String,
    /// The text that holds the answer.
    pub context: String,
}

impl QaInput {
    /// A question about `context`.
    pub fn new(question: impl Into<String>, context: impl Into<String>) -> Self {
        Self {
            question: question.into(),
            context: context.into(),
        }
    }
}

/// One answer span: `{"score", "start", "end", "answer"}` as HF's pipeline returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// Probability of the span (start times end probability, summed over windows that find
    /// the same span).
    pub score: f32,
    /// Character offsets of the answer in the context.
    pub start: usize,
    /// End character offset (exclusive).
    pub end: usize,
    /// The answer as it reads in the context.
    pub answer: String,
}

/// An extractive question-answering model (BERT, DistilBERT, ...) and its tokenizer, as
/// transformers' `pipeline("question-answering")`.
pub struct QuestionAnsweringPipeline {
    model: Box<dyn QuestionAnswerer>,
    tokenizer: TextTokenizer,
    with_token_types: bool,
    cls_token_id: Option<u32>,
    device: burn::tensor::Device,
}

/// One window of one input, ready for the model.
struct Window {
    input: usize,
    encoding: Encoding,
    /// 1 where a token cannot be (part of) an answer: the question and special tokens, except
    /// the CLS token.
    p_mask: Vec<bool>,
}

/// What an answer is before HF's last sort: scores are summed in f64 (Python floats).
struct Candidate {
    score: f64,
    start: usize,
    end: usize,
    answer: String,
}

impl TaskPipeline for QuestionAnsweringPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = QuestionAnsweringOptions;
    type Input = QaInput;
    type Output = Vec<Answer>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let model = source.prepare_model(load_question_answerer(&dir, &device)?)?;
        let tokenizer = TextTokenizer::from_model_dir(&dir)?;
        let with_token_types = model_type(&dir)? != "distilbert";
        let cls_token_id = special_token_id(&dir, &tokenizer, "cls_token");
        Ok(Self {
            model,
            tokenizer,
            with_token_types,
            cls_token_id,
            device,
        })
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<QuestionAnsweringOptions> {
        let mut options = QuestionAnsweringOptions::default();
        kwargs.update("top_k", &mut options.top_k)?;
        kwargs.update("doc_stride", &mut options.doc_stride)?;
        kwargs.update("max_answer_len", &mut options.max_answer_len)?;
        kwargs.update("max_seq_len", &mut options.max_seq_len)?;
        kwargs.update("max_question_len", &mut options.max_question_len)?;
        kwargs.update(
            "handle_impossible_answer",
            &mut options.handle_impossible_answer,
        )?;
        kwargs.update("align_to_words", &mut options.align_to_words)?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        Ok(options)
    }

    /// `{"question", "context"}` dicts (one or a list), or `question=` and `context=`: strings,
    /// a list of questions about one context, or two lists of the same length.
    fn inputs(&self, inputs: &Value, kwargs: &mut Kwargs) -> Result<(Vec<QaInput>, InputForm)> {
        let question = kwargs.take("question");
        let context = kwargs.take("context");
        let qa_input = |value: &Value| -> Result<QaInput> {
            let field = |key: &str| match value.get(key) {
                Some(Value::String(text)) => Ok(text.clone()),
                _ => Err(TaskError::InvalidInput(format!(
                    "a question-answering input needs a string \"{key}\", got {value}"
                ))),
            };
            Ok(QaInput::new(field("question")?, field("context")?))
        };
        let text = |name: &str, value: &Value| -> Result<String> {
            value.as_str().map(str::to_string).ok_or_else(|| {
                TaskError::InvalidInput(format!(
                    "`{name}` must be a string or a list of strings, got {value}"
                ))
            })
        };
        Ok(match (inputs, question, context) {
            (Value::Null, Some(question), Some(context)) => match (&question, &context) {
                (Value::String(q), Value::String(c)) => (vec![QaInput::new(q, c)], InputForm::Dict),
                (Value::Array(questions), Value::String(c)) => (
                    questions
                        .iter()
                        .map(|q| Ok(QaInput::new(text("question", q)?, c)))
                        .collect::<Result<_>>()?,
                    InputForm::List,
                ),
                (Value::Array(questions), Value::Array(contexts)) => {
                    if questions.len() != contexts.len() {
                        return Err(TaskError::InvalidInput(format!(
                            "{} questions but {} contexts: give one context, or one per question",
                            questions.len(),
                            contexts.len()
                        )));
                    }
                    (
                        questions
                            .iter()
                            .zip(contexts)
                            .map(|(q, c)| {
                                Ok(QaInput::new(text("question", q)?, text("context", c)?))
                            })
                            .collect::<Result<_>>()?,
                        InputForm::List,
                    )
                }
                _ => {
                    return Err(TaskError::InvalidInput(format!(
                        "question= and context= must be strings, or a list of questions with one \
                         context or a list of contexts; got {question} and {context}"
                    )));
                }
            },
            (Value::Array(items), None, None) => (
                items.iter().map(qa_input).collect::<Result<_>>()?,
                InputForm::List,
            ),
            (Value::Object(_), None, None) => (vec![qa_input(inputs)?], InputForm::Dict),
            _ => {
                return Err(TaskError::InvalidInput(
                    "question-answering takes {\"question\", \"context\"} dicts, or question= and context=".into(),
                ));
            }
        })
    }

    fn run(
        &self,
        inputs: &[QaInput],
        options: &QuestionAnsweringOptions,
    ) -> Result<Vec<Vec<Answer>>> {
        self.answer(inputs, options)
    }

    /// Only the number of inputs decides the shape: one input (even given as a one-element
    /// list) gives its result alone, several give a list of results. A result is a dict when
    /// it holds exactly one answer (whatever `top_k`), else a list.
    fn to_json(
        &self,
        outputs: Vec<Vec<Answer>>,
        _: InputForm,
        _: &QuestionAnsweringOptions,
    ) -> Result<Value> {
        let per_input = |answers: Vec<Answer>| -> Result<Value> {
            let value = if answers.len() == 1 {
                serde_json::to_value(&answers[0])
            } else {
                serde_json::to_value(answers)
            };
            value.map_err(|e| TaskError::Internal(e.to_string()))
        };
        if outputs.len() == 1 {
            per_input(outputs.into_iter().next().expect("one result"))
        } else {
            Ok(Value::Array(
                outputs.into_iter().map(per_input).collect::<Result<_>>()?,
            ))
        }
    }
}

impl QuestionAnsweringPipeline {
    /// The model's config.
    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    /// Answers per input, best first, at most `top_k` each.
    pub fn answer(
        &self,
        inputs: &[QaInput],
        options: &QuestionAnsweringOptions,
    ) -> Result<Vec<Vec<Answer>>> {
        let (max_seq_len, doc_stride) = self.check_options(options)?;
        if inputs.is_empty() {
            return Err(TaskError::InvalidInput(
                "at least one question is required".into(),
            ));
        }
        let mut windows = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            windows.extend(self.preprocess(i, input, max_seq_len, doc_stride)?);
        }
        // Start and end logits per window, unpadded.
        let mut logits: Vec<(Vec<f32>, Vec<f32>)> = Vec::with_capacity(windows.len());
        for chunk in windows.chunks(options.batch_size) {
            let encodings: Vec<&Encoding> = chunk.iter().map(|w| &w.encoding).collect();
            let batch = self
                .tokenizer
                .batch(&encodings, self.with_token_types, &self.device)?;
            let (start, end) = self.model.span_logits(&batch)?;
            logits.extend(unpadded_span_logits(start, end, &encodings)?);
        }
        let mut results = Vec::with_capacity(inputs.len());
        let mut next = 0;
        for (i, input) in inputs.iter().enumerate() {
            let count = windows[next..].iter().take_while(|w| w.input == i).count();
            let range = next..next + count;
            next += count;
            results.push(self.postprocess(input, &windows[range.clone()], &logits[range], options));
        }
        Ok(results)
    }

    /// Validates the options as HF does and resolves `max_seq_len` and `doc_stride`.
    fn check_options(&self, options: &QuestionAnsweringOptions) -> Result<(usize, usize)> {
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
            .unwrap_or_else(|| self.tokenizer.model_max_length.min(384));
        let doc_stride = options.doc_stride.unwrap_or((max_seq_len / 2).min(128));
        if doc_stride > max_seq_len {
            return Err(TaskError::option(
                "doc_stride",
                format!("`doc_stride` ({doc_stride}) is larger than `max_seq_len` ({max_seq_len})"),
            ));
        }
        let added = self.added_tokens(false);
        if max_seq_len <= added || max_seq_len - added < doc_stride {
            return Err(TaskError::option(
                "doc_stride",
                format!(
                    "{doc_stride} must be less than max_seq_len ({max_seq_len}) less the {added} special \
                     tokens the tokenizer adds"
                ),
            ));
        }
        Ok((max_seq_len, doc_stride))
    }

    fn added_tokens(&self, pair: bool) -> usize {
        use tokenizers::PostProcessor;
        self.tokenizer
            .inner()
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(pair))
    }

    /// Tokenizes question and context into windows (`truncation="only_second"`, overflowing
    /// windows with `doc_stride` overlap) and builds their `p_mask`.
    fn preprocess(
        &self,
        index: usize,
        input: &QaInput,
        max_seq_len: usize,
        doc_stride: usize,
    ) -> Result<Vec<Window>> {
        if input.question.trim().is_empty() {
            return Err(TaskError::InvalidInput("`question` cannot be empty".into()));
        }
        if input.context.trim().is_empty() {
            return Err(TaskError::InvalidInput("`context` cannot be empty".into()));
        }
        // The checks tokenizers would otherwise fail (or panic) on when truncating.
        let full = self
            .tokenizer
            .encode(&input.question, Some(&input.context))?;
        if full.len() > max_seq_len {
            let sequence_ids = full.get_sequence_ids();
            let question_len = sequence_ids.iter().filter(|s| **s == Some(0)).count();
            let context_len = sequence_ids.iter().filter(|s| **s == Some(1)).count();
            let special = full.len() - question_len - context_len;
            // Context tokens that fit in a window beside the question and special tokens.
            let room = max_seq_len.saturating_sub(question_len + special);
            if room == 0 {
                return Err(TaskError::InvalidInput(format!(
                    "the question is {question_len} tokens long: no room for the context in a window of \
                     max_seq_len ({max_seq_len}) tokens"
                )));
            }
            if doc_stride >= room {
                return Err(TaskError::option(
                    "doc_stride",
                    format!(
                        "{doc_stride} must be less than the {room} context tokens that fit in a window of \
                         max_seq_len ({max_seq_len}) tokens beside the question"
                    ),
                ));
            }
        }
        let mut encoding = self.tokenizer.encode_windows(
            &input.question,
            Some(&input.context),
            max_seq_len,
            doc_stride,
            TruncationStrategy::OnlySecond,
        )?;
        let overflowing = encoding.take_overflowing();
        Ok(std::iter::once(encoding)
            .chain(overflowing)
            .map(|encoding| {
                let p_mask = encoding
                    .get_sequence_ids()
                    .iter()
                    .zip(encoding.get_ids())
                    .map(|(sequence, &id)| *sequence != Some(1) && Some(id) != self.cls_token_id)
                    .collect();
                Window {
                    input: index,
                    encoding,
                    p_mask,
                }
            })
            .collect())
    }

    fn postprocess(
        &self,
        input: &QaInput,
        windows: &[Window],
        logits: &[(Vec<f32>, Vec<f32>)],
        options: &QuestionAnsweringOptions,
    ) -> Vec<Answer> {
        let context = CharText::new(&input.context);
        let mut min_null_score = 1_000_000f64;
        let mut answers: Vec<Candidate> = Vec::new();
        // Some candidates may be deleted if we align to words.
        let pre_top_k = if options.align_to_words {
            options.top_k * 2 + 10
        } else {
            options.top_k
        };
        for (window, (start, end)) in windows.iter().zip(logits) {
            let spans = select_starts_ends(
                start,
                end,
                &window.p_mask,
                &mut min_null_score,
                pre_top_k,
                options.handle_impossible_answer,
                options.max_answer_len,
            );
            for (s, e, score) in spans {
                let (start_index, end_index) =
                    get_indices(&window.encoding, s, e, options.align_to_words);
                let target = context.slice(start_index, end_index);
                let target_lower = target.to_lowercase();
                if let Some(existing) = answers
                    .iter_mut()
                    .find(|a| a.answer.to_lowercase() == target_lower)
                {
                    existing.score += score as f64;
                } else {
                    answers.push(Candidate {
                        score: score as f64,
                        start: start_index,
                        end: end_index,
                        answer: target.to_string(),
                    });
                }
            }
        }
        if options.handle_impossible_answer {
            answers.push(Candidate {
                score: min_null_score,
                start: 0,
                end: 0,
                answer: String::new(),
            });
        }
        // Python's sorted(reverse=True) is stable.
        answers.sort_by(|a, b| b.score.total_cmp(&a.score));
        answers.truncate(options.top_k);
        answers
            .into_iter()
            .map(|a| Answer {
                score: a.score as f32,
                start: a.start,
                end: a.end,
                answer: a.answer,
            })
            .collect()
    }
}

/// Start and end logits of each row of a padded window batch, cut to the row's own length.
pub(crate) fn unpadded_span_logits(
    start: burn::tensor::Tensor<2>,
    end: burn::tensor::Tensor<2>,
    encodings: &[&Encoding],
) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
    let [_, seq] = start.dims();
    let (start, end) = (host_values(start)?, host_values(end)?);
    Ok(encodings
        .iter()
        .enumerate()
        .map(|(row, encoding)| {
            let range = row * seq..row * seq + encoding.len();
            (start[range.clone()].to_vec(), end[range].to_vec())
        })
        .collect())
}

/// `select_starts_ends` then `decode_spans` for one window: `(start, end, score)` of the best
/// spans, best first.
pub(crate) fn select_starts_ends(
    start: &[f32],
    end: &[f32],
    p_mask: &[bool],
    min_null_score: &mut f64,
    top_k: usize,
    handle_impossible_answer: bool,
    max_answer_len: usize,
) -> Vec<(usize, usize, f32)> {
    let n = start.len();
    // Index 0 always counts as desired: HF tests membership in `undesired_tokens.nonzero()` of
    // a [1, seq] array, whose row indices are all 0.
    let desired: Vec<bool> = (0..n).map(|i| !p_mask[i] || i == 0).collect();
    let normalize = |logits: &[f32]| -> Vec<f32> {
        let masked: Vec<f32> = logits
            .iter()
            .zip(p_mask)
            .map(|(&v, &masked)| if masked { -10000.0 } else { v })
            .collect();
        let max = masked.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = masked.iter().map(|v| (v - max).exp()).collect();
        let sum: f32 = exps.iter().sum();
        exps.into_iter().map(|e| e / sum).collect()
    };
    let mut start = normalize(start);
    let mut end = normalize(end);
    if handle_impossible_answer {
        *min_null_score = min_null_score.min((start[0] * end[0]) as f64);
    }
    // Mask CLS.
    start[0] = 0.0;
    end[0] = 0.0;
    // The scores of every (start, end), zero unless start <= end < start + max_answer_len.
    let score_of = |flat: usize| -> f32 {
        let (s, e) = (flat / n, flat % n);
        if e >= s && e - s < max_answer_len {
            start[s] * end[e]
        } else {
            0.0
        }
    };
    let total = n * n;
    let mut order: Vec<usize> = (0..total).collect();
    // numpy's argmax/argpartition+argsort: best scores first (ties by position).
    let by_score = |a: &usize, b: &usize| score_of(*b).total_cmp(&score_of(*a)).then(a.cmp(b));
    let keep = top_k.min(total);
    if keep > 0 && keep < total {
        order.select_nth_unstable_by(keep - 1, by_score);
        order.truncate(keep);
    }
    order.sort_by(by_score);
    order
        .into_iter()
        .map(|flat| (flat / n, flat % n))
        .filter(|&(s, e)| desired[s] && desired[e])
        .map(|(s, e)| (s, e, score_of(s * n + e)))
        .collect()
}

/// Character span of tokens `s..=e` in the context: whole words when `align_to_words`
/// (falling back to token offsets when a token has no word), else token offsets.
fn get_indices(encoding: &Encoding, s: usize, e: usize, align_to_words: bool) -> (usize, usize) {
    let offsets = encoding.get_offsets();
    if align_to_words {
        let words = encoding
            .token_to_word(s)
            .zip(encoding.token_to_word(e))
            .and_then(|((_, start_word), (_, end_word))| {
                Some((
                    encoding.word_to_chars(start_word, 1)?.0,
                    encoding.word_to_chars(end_word, 1)?.1,
                ))
            });
        if let Some(span) = words {
            return span;
        }
    }
    (offsets[s].0, offsets[e].1)
}
