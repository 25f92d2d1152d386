//! `image-classification`: labels of whole images (ViT and friends).

use burn::tensor::Device;
use burn_models::config::{CommonConfig, ProblemType};
use burn_models::vision::{ImageClassifier, load_image_classifier};
use serde_json::Value;

use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::scores::{FunctionToApply, LabelScore, host_values, map_rows, ranked, require_labels};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::input::ImageInput;
use crate::processors::ImageProcessor;

/// The `image-classification` task: its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<ImageClassificationPipeline>(
    "image-classification",
    &[],
    "Label images (PNG, JPEG, WebP, BMP files): [{label, score}] per image",
    "google/vit-base-patch16-224",
    InputKind::Images,
    &[
        OptionSpec::new(
            "top_k",
            ValueKind::CountOrNone,
            "Labels per image, best first (default 5)",
        ),
        OptionSpec::new(
            "function_to_apply",
            ValueKind::Text,
            "default, sigmoid, softmax or none (default: from the config)",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Images run at once (default 8)",
        ),
    ],
);

/// Keyword arguments of `image-classification`, as in transformers' `ImageClassificationPipeline`.
#[derive(Debug, Clone)]
pub struct ImageClassificationOptions {
    /// Labels per image, best first (clamped to the number of labels). HF's default is 5.
    pub top_k: usize,
    /// `function_to_apply`: what turns logits into scores; `Default` follows the config's
    /// problem type and label count, as transformers does.
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

/// An image classifier (ViT, ResNet, ...) and its image processor, as transformers'
/// `pipeline("image-classification")`.
pub struct ImageClassificationPipeline {
    model: Box<dyn ImageClassifier>,
    processor: ImageProcessor,
    device: Device,
}

impl TaskPipeline for ImageClassificationPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = ImageClassificationOptions;
    type Input = ImageInput;
    type Output = Vec<LabelScore>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let model = source.prepare_model(load_image_classifier(&dir, &device)?)?;
        require_labels(model.common_config(), &dir)?;
        Ok(Self {
            model,
            processor: ImageProcessor::from_model_dir(&dir)?,
            device,
        })
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<ImageClassificationOptions> {
        let mut options = ImageClassificationOptions::default();
        // `top_k=None` is HF's "use the default" (5).
        if let Some(top_k) = kwargs.get::<Option<usize>>("top_k")? {
            options.top_k = top_k.unwrap_or(options.top_k);
        }
        kwargs.update("function_to_apply", &mut options.function_to_apply)?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        Ok(options)
    }

    fn inputs(&self, inputs: &Value, _: &mut Kwargs) -> Result<(Vec<ImageInput>, InputForm)> {
        images_from_json(inputs)
    }

    fn run(
        &self,
        inputs: &[ImageInput],
        options: &ImageClassificationOptions,
    ) -> Result<Vec<Vec<LabelScore>>> {
        self.classify(inputs, options)
    }

    /// A list of `{label, score}` for one image, a list of such lists for a list.
    fn to_json(
        &self,
        outputs: Vec<Vec<LabelScore>>,
        form: InputForm,
        _: &ImageClassificationOptions,
    ) -> Result<Value> {
        to_json_per_input(outputs, form)
    }
}

/// Each result serialised, shaped by how the inputs were given.
pub(crate) fn to_json_per_input<T: serde::Serialize>(
    outputs: Vec<T>,
    form: InputForm,
) -> Result<Value> {
    let per_input = outputs
        .into_iter()
        .map(serde_json::to_value)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| TaskError::Internal(e.to_string()))?;
    Ok(form.shape(per_input))
}

impl ImageClassificationPipeline {
    /// The model's config (labels).
    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    /// The image processor (resizing and normalisation from `preprocessor_config.json`).
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
            let [_, labels] = logits.dims();
            let values = host_values(logits)?;
            results.extend(map_rows(&values, labels, |row| {
                self.postprocess(row, options)
            }));
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
        ranked(function.apply(logits), |i| config.label(i), options.top_k)
    }
}

/// An image given as JSON: a path, or the file itself as a base64 data URL
/// (`data:image/png;base64,...`, as transformers' `load_image` takes). URLs are not fetched.
pub(crate) fn image_from_json(value: &Value) -> Result<ImageInput> {
    let path = value.as_str().ok_or_else(|| {
        TaskError::InvalidInput(format!(
            "an image is given by its file path or a data URL, got {value}"
        ))
    })?;
    if path.starts_with("data:image/") {
        use base64::Engine;
        // transformers keeps what follows the first comma and decodes it as base64.
        let encoded = path.split(',').nth(1).unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| TaskError::InvalidInput(format!("an image data URL: {e}")))?;
        return Ok(ImageInput::Bytes(bytes));
    }
    if path.starts_with("http://") || path.starts_with("https://") {
        return Err(TaskError::InvalidInput(format!(
            "{path}: images are not downloaded; save the file and pass its path"
        )));
    }
    Ok(ImageInput::Path(path.into()))
}

/// Images of a call: one path, or a list of them.
pub(crate) fn images_from_json(inputs: &Value) -> Result<(Vec<ImageInput>, InputForm)> {
    match inputs {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(TaskError::InvalidInput("an empty list of images".into()));
            }
            Ok((
                items.iter().map(image_from_json).collect::<Result<_>>()?,
                InputForm::List,
            ))
        }
        single => Ok((vec![image_from_json(single)?], InputForm::One)),
    }
}
