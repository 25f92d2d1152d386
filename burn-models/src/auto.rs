//! `AutoModelFor*`: read `config.json`, pick the architecture by `model_type`, load its weights.

use burn::tensor::Device;
use serde::de::DeserializeOwned;

use crate::bert::*;
use crate::distilbert::*;
use crate::error::{ModelError, Result};
use crate::heads::{QuestionAnswerer, SequenceClassifier, TokenClassifier, VisualQuestionAnswerer};
use crate::hub::{ModelDir, WeightScope, Weights};
use crate::layoutlm::*;

/// Architectures with text encoder heads.
const ENCODER_TYPES: &str = "bert, distilbert, layoutlm";

/// The `model_type` of a model directory's config.
pub fn model_type(dir: &ModelDir) -> Result<String> {
    let json = dir.config_json()?;
    json.get("model_type")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| ModelError::Config {
            path: dir.config_path(),
            message: "no `model_type` field".into(),
        })
}

/// Opens the weights, runs `build` over them, and warns about tensors nothing used.
pub(crate) fn load_with<C: DeserializeOwned, M>(
    dir: &ModelDir,
    device: &Device,
    build: impl FnOnce(&WeightScope, &C) -> Result<M>,
) -> Result<M> {
    let config: C = dir.config()?;
    let weights = Weights::from_dir(dir)?;
    let model = build(&weights.root(device), &config)?;
    report_unused(dir, &weights);
    Ok(model)
}

fn report_unused(dir: &ModelDir, weights: &Weights) {
    // Buffers such as `position_ids` are not weights; transformers ignores them too.
    let unused: Vec<String> = weights
        .unused()
        .into_iter()
        .filter(|name| !name.ends_with("position_ids"))
        .collect();
    if !unused.is_empty() {
        log::warn!(
            "{} tensors of {} were not used: {}",
            unused.len(),
            dir.path().display(),
            unused.join(", ")
        );
    }
}

fn unsupported(dir: &ModelDir, model_type: &str, head: &str) -> ModelError {
    ModelError::Unsupported(format!(
        "{}: model_type `{model_type}` has no {head} here (supported: {ENCODER_TYPES})",
        dir.path().display()
    ))
}

/// `AutoModelForSequenceClassification.from_pretrained`.
pub fn load_sequence_classifier(
    dir: &ModelDir,
    device: &Device,
) -> Result<Box<dyn SequenceClassifier>> {
    Ok(match model_type(dir)?.as_str() {
        "bert" => Box::new(load_with(dir, device, BertForSequenceClassification::load)?),
        "distilbert" => Box::new(load_with(
            dir,
            device,
            DistilBertForSequenceClassification::load,
        )?),
        "layoutlm" => Box::new(load_with(
            dir,
            device,
            LayoutLMForSequenceClassification::load,
        )?),
        other => return Err(unsupported(dir, other, "sequence classification head")),
    })
}

/// `AutoModelForTokenClassification.from_pretrained`.
pub fn load_token_classifier(dir: &ModelDir, device: &Device) -> Result<Box<dyn TokenClassifier>> {
    Ok(match model_type(dir)?.as_str() {
        "bert" => Box::new(load_with(dir, device, BertForTokenClassification::load)?),
        "distilbert" => Box::new(load_with(
            dir,
            device,
            DistilBertForTokenClassification::load,
        )?),
        "layoutlm" => Box::new(load_with(
            dir,
            device,
            LayoutLMForTokenClassification::load,
        )?),
        other => return Err(unsupported(dir, other, "token classification head")),
    })
}

/// `AutoModelForQuestionAnswering.from_pretrained`.
pub fn load_question_answerer(
    dir: &ModelDir,
    device: &Device,
) -> Result<Box<dyn QuestionAnswerer>> {
    Ok(match model_type(dir)?.as_str() {
        "bert" => Box::new(load_with(dir, device, BertForQuestionAnswering::load)?),
        "distilbert" => Box::new(load_with(
            dir,
            device,
            DistilBertForQuestionAnswering::load,
        )?),
        "layoutlm" => Box::new(load_with(dir, device, LayoutLMForQuestionAnswering::load)?),
        other => return Err(unsupported(dir, other, "question answering head")),
    })
}

/// `BertModel.from_pretrained` (bare encoder, pooler when the checkpoint has one).
pub fn load_bert(dir: &ModelDir, device: &Device) -> Result<BertModel> {
    load_with(dir, device, BertModel::load_bare)
}

/// `DistilBertModel.from_pretrained`.
pub fn load_distilbert(dir: &ModelDir, device: &Device) -> Result<DistilBertModel> {
    load_with(dir, device, DistilBertModel::load)
}

/// `AutoModelForVisualQuestionAnswering.from_pretrained`.
pub fn load_visual_question_answerer(
    dir: &ModelDir,
    device: &Device,
) -> Result<Box<dyn VisualQuestionAnswerer>> {
    Ok(match model_type(dir)?.as_str() {
        "vilt" => Box::new(load_with(
            dir,
            device,
            crate::vilt::ViltForQuestionAnswering::load,
        )?),
        other => {
            return Err(ModelError::Unsupported(format!(
                "{}: model_type `{other}` has no visual question answering head here (supported: vilt)",
                dir.path().display()
            )));
        }
    })
}

/// `LayoutLMModel.from_pretrained`.
pub fn load_layoutlm(dir: &ModelDir, device: &Device) -> Result<LayoutLMModel> {
    load_with(dir, device, LayoutLMModel::load)
}
