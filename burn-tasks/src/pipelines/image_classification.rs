//! `image-classification`: labels of whole images (ViT and friends).

use burn::tensor::Device;
use burn_models::config::{CommonConfig, ProblemType};
use burn_models::vision::{ImageClassifier, load_image_classifier};
use serde_json::Value;

use super::text_classification::{FunctionToApply, LabelScore};
use super::{PipelineSource, Task, sigmoid, softmax};
use crate::error::{Result, TaskError};
use crate::input::ImageInput;
use crate::processors::ImageProcessor;

#[derive(Debug, Clone)]
pub struct ImageClassificationOptions {
    /// Labels per image, best first (clamped to the number of labels). HF's default is 5.
    pub top_k: usize,
    pub function_to_apply: FunctionToApply,
    /// Images run through the model together.
    pub batch_size: usize,
}

impl Default for ImageClassificationOptions {
    fn default() -> Self {
        Self {
            top_k: 5,
            function_to_apply: FunctionToApply::Default,
            batch_size: 8,
        }
    }
}

pub struct ImageClassificationPipeline {
    model: Box<dyn ImageClassifier>,
    processor: ImageProcessor,
    device: Device,
}

impl ImageClassificationPipeline {
    pub fn new(source: &PipelineSource) -> Result<Self> {
        let dir = source.resolve(Task::ImageClassification)?;
        let model = source.apply_adapter(load_image_classifier(&dir, &source.device)?)?;
        if model.common_config().num_labels() == 0 {
            return Err(TaskError::InvalidInput(format!(
                "{}: the config defines no labels (empty id2label)",
                dir.path().display()
            )));
        }
        let processor_path = dir.file("preprocessor_config.json").ok_or_else(|| {
            TaskError::InvalidInput(format!(
                "{}: no preprocessor_config.json (the image processor's settings)",
                dir.path().display()
            ))
        })?;
        Ok(Self {
            model,
            processor: ImageProcessor::from_file(&processor_path)?,
            device: source.device.clone(),
        })
    }

    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    pub fn processor(&self) -> &ImageProcessor {
        &self.processor
    }

    /// Scores per image, best first, `top_k` of them.
    pub fn classify(
        &self,
        images: &[ImageInput],
        options: &ImageClassificationOptions,
    ) -> Result<Vec<Vec<LabelScore>>> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        let mut results = Vec::with_capacity(images.len());
        for chunk in images.chunks(options.batch_size) {
            let decoded = chunk
                .iter()
                .map(ImageInput::load)
                .collect::<Result<Vec<_>>>()?;
            let batch = self.processor.process(&decoded)?;
            let logits = self.model.logits(batch.pixel_values(&self.device))?;
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

    fn postprocess(&self, logits: &[f32], options: &ImageClassificationOptions) -> Vec<LabelScore> {
        let config = self.model.common_config();
        let labels = config.num_labels();
        // The image pipeline's own default: sigmoid for multi-label or a single label,
        // softmax for single-label or several labels.
        let function = match options.function_to_apply {
            FunctionToApply::Default => match config.problem_type {
                Some(ProblemType::MultiLabelClassification) => FunctionToApply::Sigmoid,
                _ if labels == 1 => FunctionToApply::Sigmoid,
                Some(ProblemType::SingleLabelClassification) => FunctionToApply::Softmax,
                _ if labels > 1 => FunctionToApply::Softmax,
                _ => FunctionToApply::None,
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
        // Stable, as Python's sort: equal scores keep label order.
        labeled.sort_by(|a, b| b.score.total_cmp(&a.score));
        labeled.truncate(options.top_k.min(labels));
        labeled
    }
}

/// HF's JSON: a list of `{label, score}` for one image, a list of such lists for a list.
pub fn to_hf_json(results: Vec<Vec<LabelScore>>, single: bool) -> Value {
    let mut per_image: Vec<Value> = results
        .into_iter()
        .map(|scores| serde_json::to_value(scores).expect("serializable"))
        .collect();
    if single {
        per_image.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(per_image)
    }
}

/// An image given as JSON: a path. URLs are not fetched.
pub(crate) fn image_from_json(value: &Value) -> Result<ImageInput> {
    let path = value.as_str().ok_or_else(|| {
        TaskError::InvalidInput(format!("an image is given by its file path, got {value}"))
    })?;
    if path.starts_with("http://") || path.starts_with("https://") {
        return Err(TaskError::InvalidInput(format!(
            "{path}: images are not downloaded; save the file and pass its path"
        )));
    }
    Ok(ImageInput::Path(path.into()))
}

/// Images of a call: one path, or a list of them (`true` = a single image).
pub(crate) fn images_from_json(inputs: &Value) -> Result<(Vec<ImageInput>, bool)> {
    match inputs {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(TaskError::InvalidInput("an empty list of images".into()));
            }
            Ok((
                items.iter().map(image_from_json).collect::<Result<_>>()?,
                false,
            ))
        }
        single => Ok((vec![image_from_json(single)?], true)),
    }
}
