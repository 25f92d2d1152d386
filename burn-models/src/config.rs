//! Fields every Hugging Face `config.json` shares (`PretrainedConfig`), with HF's defaults.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::error::{ModelError, Result};

/// What a loss and a pipeline make of the logits of a classification head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemType {
    /// `regression`: the logits are the scores (no activation); MSE loss.
    Regression,
    /// `single_label_classification`: softmax over the labels; cross-entropy loss.
    SingleLabelClassification,
    /// `multi_label_classification`: a sigmoid per label; binary cross-entropy loss.
    MultiLabelClassification,
}

/// The `PretrainedConfig` part of a config: labels, problem type, architecture names.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct CommonConfig {
    /// `model_type`: the architecture family (`"bert"`, `"whisper"`, ...).
    pub model_type: Option<String>,
    /// `architectures`: the model classes the checkpoint was saved from.
    pub architectures: Option<Vec<String>>,
    /// `id2label`: class index to label name.
    #[serde(deserialize_with = "id2label_from_json")]
    pub id2label: Option<BTreeMap<usize, String>>,
    /// `label2id`: label name to class index.
    pub label2id: Option<BTreeMap<String, usize>>,
    num_labels: Option<usize>,
    /// `problem_type`: how classification logits are scored (see [`ProblemType`]).
    pub problem_type: Option<ProblemType>,
    /// `torch_dtype`: the dtype the weights were saved in (`"float32"`, ...).
    pub torch_dtype: Option<String>,
}

impl CommonConfig {
    /// `len(id2label)` when present, else `num_labels`, else 2: what `PretrainedConfig` does.
    pub fn num_labels(&self) -> usize {
        self.id2label
            .as_ref()
            .map(BTreeMap::len)
            .or(self.num_labels)
            .unwrap_or(2)
    }

    /// The label of class `index`: `id2label[index]`, or `LABEL_{index}` as HF names it.
    pub fn label(&self, index: usize) -> String {
        self.id2label
            .as_ref()
            .and_then(|m| m.get(&index).cloned())
            .unwrap_or_else(|| format!("LABEL_{index}"))
    }
}

fn id2label_from_json<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<BTreeMap<usize, String>>, D::Error> {
    let raw: Option<BTreeMap<String, String>> = Option::deserialize(d)?;
    raw.map(|m| {
        m.into_iter()
            .map(|(k, v)| {
                k.parse::<usize>().map(|k| (k, v)).map_err(|_| {
                    serde::de::Error::custom(format!("id2label key `{k}` is not an integer"))
                })
            })
            .collect()
    })
    .transpose()
}

/// Reads a config struct from `config.json`, naming the file in errors.
#[cfg(feature = "fs")]
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    parse_config(&text, path)
}

/// Parses a config struct from the JSON text of the file at `path` (named in errors).
pub fn parse_config<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    serde_json::from_str(text).map_err(|e| ModelError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
