//! `text-classification` (alias `sentiment-analysis`).

use burn_models::auto::load_sequence_classifier;
use burn_models::config::{CommonConfig, ProblemType};
use burn_models::heads::SequenceClassifier;
use serde::Serialize;
use serde_json::Value;

use super::{PipelineSource, Task, sigmoid, softmax};
use crate::error::{Result, TaskError};
use crate::processors::TextTokenizer;

/// `function_to_apply`: what turns logits into scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FunctionToApply {
    /// By the config: none for regression, sigmoid for multi-label or one label, else softmax.
    #[default]
    Default,
    Sigmoid,
    Softmax,
    None,
}

impl std::str::FromStr for FunctionToApply {
    type Err = TaskError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "default" => Self::Default,
            "sigmoid" => Self::Sigmoid,
            "softmax" => Self::Softmax,
            "none" => Self::None,
            other => {
                return Err(TaskError::option(
                    "function_to_apply",
                    format!("`{other}` (expected default, sigmoid, softmax or none)"),
                ));
            }
        })
    }
}

/// `top_k`: unset keeps HF's legacy output (the best label as one dict per input);
/// `Some(n)` returns the n best labels, `All` (`top_k=None`) every label, sorted by score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopK {
    #[default]
    Unset,
    Some(usize),
    All,
}

#[derive(Debug, Clone)]
pub struct TextClassificationOptions {
    pub top_k: TopK,
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
    pub text: String,
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub score: f32,
}

pub struct TextClassificationPipeline {
    model: Box<dyn SequenceClassifier>,
    tokenizer: TextTokenizer,
    max_length: usize,
    device: burn::tensor::Device,
}

impl TextClassificationPipeline {
    pub fn new(source: &PipelineSource) -> Result<Self> {
        let dir = source.resolve(Task::TextClassification)?;
        let model = source.apply_adapter(load_sequence_classifier(&dir, &source.device)?)?;
        if model.common_config().num_labels() == 0 {
            return Err(TaskError::InvalidInput(format!(
                "{}: the config defines no labels (empty id2label)",
                dir.path().display()
            )));
        }
        let tokenizer = TextTokenizer::from_model_dir(&dir)?;
        let max_length = model_max_positions(&dir)?.min(tokenizer.model_max_length);
        Ok(Self {
            model,
            tokenizer,
            max_length,
            device: source.device.clone(),
        })
    }

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
            let [rows, labels] = logits.dims();
            let values = logits
                .into_data()
                .try_into_vec::<f32>()
                .map_err(|e| TaskError::InvalidInput(format!("reading logits: {e:?}")))?;
            for row in 0..rows {
                results.push(self.postprocess(&values[row * labels..(row + 1) * labels], options));
            }
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
        let scores = match function {
            FunctionToApply::Sigmoid => logits.iter().map(|&v| sigmoid(v)).collect(),
            FunctionToApply::Softmax => softmax(logits),
            _ => logits.to_vec(),
        };
        let mut labeled: Vec<LabelScore> = scores
            .into_iter()
            .enumerate()
            .map(|(i, score)| LabelScore {
                label: config.label(i),
                score,
            })
            .collect();
        // Stable sort, like Python's: equal scores keep label order.
        labeled.sort_by(|a, b| b.score.total_cmp(&a.score));
        let keep = match options.top_k {
            TopK::Unset => 1,
            TopK::Some(k) => k,
            TopK::All => labeled.len(),
        };
        labeled.truncate(keep);
        labeled
    }
}

/// How the inputs of a call were given, which decides the shape of HF's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputShape {
    /// One string.
    SingleText,
    /// One `{"text", "text_pair"}` dict.
    SinglePair,
    /// A list of inputs.
    List,
}

/// HF's JSON for a call. Without `top_k` (legacy) each input gives its best label as a dict,
/// and a single string is still wrapped in a list; with `top_k` each input gives a list.
pub fn to_hf_json(results: Vec<Vec<LabelScore>>, shape: InputShape, top_k: TopK) -> Value {
    let legacy = top_k == TopK::Unset;
    let mut per_input: Vec<Value> = results
        .into_iter()
        .map(|scores| {
            if legacy {
                serde_json::to_value(&scores[0]).expect("serializable")
            } else {
                serde_json::to_value(scores).expect("serializable")
            }
        })
        .collect();
    match (shape, legacy) {
        (InputShape::SingleText, true) | (InputShape::List, _) => Value::Array(per_input),
        (_, _) => per_input.pop().unwrap_or(Value::Null),
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
