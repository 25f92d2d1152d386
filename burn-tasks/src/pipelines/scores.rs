//! Turning a classifier's logits into HF's `[{label, score}]`: the score function, numpy's
//! softmax and argmax, and the best-first top-k the classification pipelines share.

use burn::tensor::Tensor;
use burn_models::host::HostRead;
use serde::Serialize;

use crate::error::{Result, TaskError};

/// `function_to_apply`: what turns logits into scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FunctionToApply {
    /// The task's choice from the model's config (see each pipeline).
    #[default]
    Default,
    /// `1 / (1 + exp(-x))` on each logit: independent labels (multi-label classification).
    Sigmoid,
    /// Softmax over the labels: scores that sum to one (single-label classification).
    Softmax,
    /// The raw logits.
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

crate::kwarg_from_str!(FunctionToApply);

impl FunctionToApply {
    /// The scores of `logits`; `Default` must have been resolved by the pipeline first (it
    /// leaves the logits as they are).
    pub fn apply(self, logits: &[f32]) -> Vec<f32> {
        match self {
            Self::Sigmoid => logits.iter().map(|&v| sigmoid(v)).collect(),
            Self::Softmax => softmax(logits),
            Self::None | Self::Default => logits.to_vec(),
        }
    }
}

/// One label and its score: `{"label", "score"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    /// The label's name, from the model config's `id2label`.
    pub label: String,
    /// Its score, after `function_to_apply`.
    pub score: f32,
}

/// The `top_k` best of `scores` (one per label), best first. The sort is stable, as Python's
/// and `torch.topk`'s order: equal scores keep label order.
pub fn ranked(scores: Vec<f32>, label: impl Fn(usize) -> String, top_k: usize) -> Vec<LabelScore> {
    let mut labeled: Vec<LabelScore> = scores
        .into_iter()
        .enumerate()
        .map(|(i, score)| LabelScore {
            label: label(i),
            score,
        })
        .collect();
    labeled.sort_by(|a, b| b.score.total_cmp(&a.score));
    labeled.truncate(top_k);
    labeled
}

/// Numerically stable softmax in f32, as numpy computes it in transformers' postprocessing.
pub fn softmax(values: &[f32]) -> Vec<f32> {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = values.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// The logistic function `1 / (1 + exp(-value))`.
pub fn sigmoid(value: f32) -> f32 {
    1.0 / (1.0 + (-value).exp())
}

/// numpy's argmax: the first maximum.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Fails unless the classifier's config names its labels (`id2label`): scores need labels.
pub(crate) fn require_labels(
    config: &burn_models::config::CommonConfig,
    dir: &burn_models::hub::ModelDir,
) -> Result<()> {
    if config.num_labels() == 0 {
        return Err(TaskError::InvalidModel(format!(
            "{}: the config defines no labels (empty id2label)",
            dir.path().display()
        )));
    }
    Ok(())
}

/// A model output read back to the host, row-major.
pub(crate) fn host_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_host_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| TaskError::Internal(format!("reading a model output: {e:?}")))
}

/// Rows of `width` values of a `[rows, width]` output, each turned into a result by `f`.
pub(crate) fn map_rows<T>(values: &[f32], width: usize, f: impl FnMut(&[f32]) -> T) -> Vec<T> {
    if width == 0 {
        return Vec::new();
    }
    values.chunks_exact(width).map(f).collect()
}
