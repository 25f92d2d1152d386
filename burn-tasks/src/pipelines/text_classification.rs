//! `text-classification` (alias `sentiment-analysis`).

use burn_models::auto::load_sequence_classifier;
use burn_models::config::{CommonConfig, ProblemType};
use burn_models::heads::SequenceClassifier;
use serde_json::Value;

use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::scores::{FunctionToApply, LabelScore, host_values, map_rows, ranked, require_labels};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::processors::TextTokenizer;

/// The `text-classification` task (alias `sentiment-analysis`): its name, default model and
/// options.
pub static TASK: TaskSpec = TaskSpec::new::<TextClassificationPipeline>(
    "text-classification",
    &["sentiment-analysis"],
    "Classify texts or text pairs: [{label, score}] per input",
    "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    InputKind::Texts,
    &[
        OptionSpec::new(
            "top_k",
            ValueKind::CountOrNone,
            "Labels per input, best first; `all` (HF's None) gives every label. Without it, \
             HF's legacy output: the best label of each input",
        ),
        OptionSpec::new(
            "function_to_apply",
            ValueKind::Text,
            "default, sigmoid, softmax or none (default: from the config)",
        ),
        OptionSpec::new(
            "text_pair",
            ValueKind::Text,
            "The second text of a pair, for every string input",
        ),
        OptionSpec::new(
            "truncation",
            ValueKind::Bool,
            "Truncate inputs longer than the model instead of failing",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Inputs run at once (default 8)",
        ),
    ],
);

/// `top_k`: unset keeps HF's legacy output (the best label as one dict per input);
/// `Some(n)` returns the n best labels, `All` (`top_k=None`) every label, sorted by score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopK {
    /// No `top_k` given: HF's legacy output, the best label only.
    #[default]
    Unset,
    /// The `n` best labels.
    Some(usize),
    /// Every label (`top_k=None`).
    All,
}

/// Keyword arguments of `text-classification`, as in transformers' `TextClassificationPipeline`.
#[derive(Debug, Clone)]
pub struct TextClassificationOptions {
    /// `top_k`: how many labels per input (default: the legacy best-label output).
    pub top_k: TopK,
    /// `function_to_apply`: what turns logits into scores; `Default` follows the config's
    /// problem type and label count, as transformers does.
    pub function_to_apply: FunctionToApply,
    /// Truncate inputs longer than the model to its maximum length (HF tokenizer kwarg
    /// `truncation=True`); without it an overlong input is an error.
    pub truncation: bool,
    /// Inputs run through the model together, padded to the longest.
    pub batch_size: usize,
}

impl Default for TextClassificationOptions {
    fn default() -> Self {
        Self {
            top_k: TopK::Unset,
            function_to_apply: FunctionToApply::Default,
            truncation: false,
            batch_size: 8,
        }
    }
}

/// A text, or a text pair (`{"text": ..., "text_pair": ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextInput {
    /// The text.
    pub text: String,
    /// The second text of a pair (a tokenizer `text_pair`), for pair classifiers such as NLI.
    pub text_pair: Option<String>,
}

impl From<&str> for TextInput {
    fn from(text: &str) -> Self {
        Self {
            text: text.to_string(),
            text_pair: None,
        }
    }
}

/// A sequence classifier (BERT, DistilBERT, ...) and its tokenizer, as transformers'
/// `pipeline("text-classification")`.
pub struct TextClassificationPipeline {
    model: Box<dyn SequenceClassifier>,
    tokenizer: TextTokenizer,
    max_length: usize,
    device: burn::tensor::Device,
}

impl TaskPipeline for TextClassificationPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = TextClassificationOptions;
    type Input = TextInput;
    type Output = Vec<LabelScore>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let model = source.prepare_model(load_sequence_classifier(&dir, &device)?)?;
        require_labels(model.common_config(), &dir)?;
        let tokenizer = TextTokenizer::from_model_dir(&dir)?;
        let max_length = model_max_positions(&dir)?.min(tokenizer.model_max_length);
        Ok(Self {
            model,
            tokenizer,
            max_length,
            device,
        })
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<TextClassificationOptions> {
        let mut options = TextClassificationOptions::default();
        if let Some(top_k) = kwargs.get::<Option<usize>>("top_k")? {
            options.top_k = top_k.map_or(TopK::All, TopK::Some);
        }
        kwargs.update("function_to_apply", &mut options.function_to_apply)?;
        kwargs.update("truncation", &mut options.truncation)?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        Ok(options)
    }

    /// A string, a `{"text", "text_pair"}` dict, or a list of these; `text_pair=` pairs every
    /// string with the same second text (a tokenizer argument in transformers).
    fn inputs(&self, inputs: &Value, kwargs: &mut Kwargs) -> Result<(Vec<TextInput>, InputForm)> {
        let text_pair: Option<String> = kwargs.get("text_pair")?;
        let text_input = |value: &Value| -> Result<TextInput> {
            match value {
                Value::String(text) => Ok(TextInput {
                    text: text.clone(),
                    text_pair: text_pair.clone(),
                }),
                Value::Object(pair) => {
                    let field = |key: &'static str| -> Result<Option<String>> {
                        match pair.get(key) {
                            None | Some(Value::Null) => Ok(None),
                            Some(Value::String(s)) => Ok(Some(s.clone())),
                            Some(other) => Err(TaskError::InvalidInput(format!(
                                "`{key}` must be a string, got {other}"
                            ))),
                        }
                    };
                    Ok(TextInput {
                        text: field("text")?.ok_or_else(|| {
                            TaskError::InvalidInput("a text-pair dict needs a \"text\"".into())
                        })?,
                        text_pair: field("text_pair")?,
                    })
                }
                other => Err(TaskError::InvalidInput(format!(
                    "text-classification takes a string, a {{\"text\", \"text_pair\"}} dict or a list of them, got {other}"
                ))),
            }
        };
        Ok(match inputs {
            Value::Array(items) => (
                items.iter().map(text_input).collect::<Result<_>>()?,
                InputForm::List,
            ),
            Value::Object(_) => (vec![text_input(inputs)?], InputForm::Dict),
            single => (vec![text_input(single)?], InputForm::One),
        })
    }

    fn run(
        &self,
        inputs: &[TextInput],
        options: &TextClassificationOptions,
    ) -> Result<Vec<Vec<LabelScore>>> {
        self.classify(inputs, options)
    }

    /// Without `top_k` (legacy) each input gives its best label as a dict, and a single string
    /// is still wrapped in a list; with `top_k` each input gives a list.
    fn to_json(
        &self,
        outputs: Vec<Vec<LabelScore>>,
        form: InputForm,
        options: &TextClassificationOptions,
    ) -> Result<Value> {
        let legacy = options.top_k == TopK::Unset;
        let per_input: Vec<Value> = outputs
            .into_iter()
            .map(|scores| {
                if legacy {
                    serde_json::to_value(&scores[0])
                } else {
                    serde_json::to_value(scores)
                }
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| TaskError::Internal(e.to_string()))?;
        Ok(match (form, legacy) {
            (InputForm::One, true) => Value::Array(per_input),
            (form, _) => form.shape(per_input),
        })
    }
}

impl TextClassificationPipeline {
    /// The model's config (labels, problem type).
    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    /// Scores per input, each sorted best first and cut to `top_k` (one for `Unset`).
    pub fn classify(
        &self,
        inputs: &[TextInput],
        options: &TextClassificationOptions,
    ) -> Result<Vec<Vec<LabelScore>>> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        let mut results = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(options.batch_size) {
            let encodings = chunk
                .iter()
                .map(|input| self.encode(input, options.truncation))
                .collect::<Result<Vec<_>>>()?;
            let batch =
                self.tokenizer
                    .batch(&encodings.iter().collect::<Vec<_>>(), true, &self.device)?;
            let logits = self.model.logits(&batch)?;
            let [_, labels] = logits.dims();
            let values = host_values(logits)?;
            results.extend(map_rows(&values, labels, |row| {
                self.postprocess(row, options)
            }));
        }
        Ok(results)
    }

    fn encode(&self, input: &TextInput, truncation: bool) -> Result<tokenizers::Encoding> {
        if input.text.trim().is_empty()
            || input
                .text_pair
                .as_ref()
                .is_some_and(|p| p.trim().is_empty())
        {
            return Err(TaskError::InvalidInput(
                "empty text: nothing to classify".into(),
            ));
        }
        if truncation {
            let strategy = tokenizers::TruncationStrategy::LongestFirst;
            let mut encoding = self.tokenizer.encode_windows(
                &input.text,
                input.text_pair.as_deref(),
                self.max_length,
                0,
                strategy,
            )?;
            encoding.take_overflowing();
            return Ok(encoding);
        }
        let encoding = self
            .tokenizer
            .encode(&input.text, input.text_pair.as_deref())?;
        if encoding.len() > self.max_length {
            return Err(TaskError::InvalidInput(format!(
                "input of {} tokens is longer than the model's maximum of {} (use truncation)",
                encoding.len(),
                self.max_length
            )));
        }
        Ok(encoding)
    }

    fn postprocess(&self, logits: &[f32], options: &TextClassificationOptions) -> Vec<LabelScore> {
        let config = self.model.common_config();
        let function = match options.function_to_apply {
            FunctionToApply::Default => match config.problem_type {
                Some(ProblemType::Regression) => FunctionToApply::None,
                Some(ProblemType::MultiLabelClassification) => FunctionToApply::Sigmoid,
                _ if config.num_labels() == 1 => FunctionToApply::Sigmoid,
                _ => FunctionToApply::Softmax,
            },
            chosen => chosen,
        };
        let keep = match options.top_k {
            TopK::Unset => 1,
            TopK::Some(k) => k,
            TopK::All => usize::MAX,
        };
        ranked(function.apply(logits), |i| config.label(i), keep)
    }
}

/// The longest sequence the model's position table holds.
pub(crate) fn model_max_positions(dir: &burn_models::hub::ModelDir) -> Result<usize> {
    let json = dir.config_json()?;
    Ok(json
        .get("max_position_embeddings")
        .and_then(Value::as_u64)
        .unwrap_or(512) as usize)
}
