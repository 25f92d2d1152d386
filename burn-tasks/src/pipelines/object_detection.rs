//! `object-detection`: labelled boxes in images (DETR).

use std::collections::BTreeMap;

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_models::config::CommonConfig;
use burn_models::vision::{ObjectDetector, load_object_detector};
use serde::Serialize;
use serde_json::Value;

use super::image_classification::{images_from_json, to_json_per_input};
use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::scores::{argmax, host_values, softmax};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::input::ImageInput;
use crate::processors::ImageProcessor;

/// The `object-detection` task: its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<ObjectDetectionPipeline>(
    "object-detection",
    &[],
    "Find objects in images: labelled boxes in pixels of the original image",
    "facebook/detr-resnet-50",
    InputKind::Images,
    &[
        OptionSpec::new(
            "threshold",
            ValueKind::Number,
            "Keep detections scoring above this (default 0.5)",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Images run at once (default 8)",
        ),
    ],
);

/// Keyword arguments of `object-detection`, as in transformers' `ObjectDetectionPipeline`.
#[derive(Debug, Clone)]
pub struct ObjectDetectionOptions {
    /// Keep detections scoring above this (HF's default 0.5).
    pub threshold: f32,
    /// Images run through the model together. Only images of one processed size share a
    /// batch: padding changes DETR's backbone features near the border, and HF's pipeline
    /// processes each image alone.
    pub batch_size: usize,
}

impl Default for ObjectDetectionOptions {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            batch_size: 8,
        }
    }
}

/// A box in original-image pixels, truncated to integers as HF's pipeline does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BoundingBox {
    /// Left edge.
    pub xmin: i64,
    /// Top edge.
    pub ymin: i64,
    /// Right edge.
    pub xmax: i64,
    /// Bottom edge.
    pub ymax: i64,
}

/// One detected object: `{"score", "label", "box"}` as HF's pipeline returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// Softmax probability of the best class ("no object" left out).
    pub score: f32,
    /// The class name, from the config's `id2label`.
    pub label: String,
    /// Where the object is (`"box"` in the JSON).
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
}

/// A DETR object detector and its image processor, as transformers'
/// `pipeline("object-detection")`.
pub struct ObjectDetectionPipeline {
    model: Box<dyn ObjectDetector>,
    processor: ImageProcessor,
    device: Device,
}

impl TaskPipeline for ObjectDetectionPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = ObjectDetectionOptions;
    type Input = ImageInput;
    type Output = Vec<Detection>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let model = source.prepare_model(load_object_detector(&dir, &device)?)?;
        Ok(Self {
            model,
            processor: ImageProcessor::from_model_dir(&dir)?,
            device,
        })
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<ObjectDetectionOptions> {
        let mut options = ObjectDetectionOptions::default();
        kwargs.update("threshold", &mut options.threshold)?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        Ok(options)
    }

    fn inputs(&self, inputs: &Value, _: &mut Kwargs) -> Result<(Vec<ImageInput>, InputForm)> {
        images_from_json(inputs)
    }

    fn run(
        &self,
        inputs: &[ImageInput],
        options: &ObjectDetectionOptions,
    ) -> Result<Vec<Vec<Detection>>> {
        self.detect(inputs, options)
    }

    /// A list of detections for one image, a list of such lists for a list.
    fn to_json(
        &self,
        outputs: Vec<Vec<Detection>>,
        form: InputForm,
        _: &ObjectDetectionOptions,
    ) -> Result<Value> {
        to_json_per_input(outputs, form)
    }
}

impl ObjectDetectionPipeline {
    /// The model's config (labels).
    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    /// Detections per image, in query order, as `post_process_object_detection` returns them.
    pub fn detect(
        &self,
        images: &[ImageInput],
        options: &ObjectDetectionOptions,
    ) -> Result<Vec<Vec<Detection>>> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        if !options.threshold.is_finite() {
            return Err(TaskError::option("threshold", "must be a finite number"));
        }
        let mut results = vec![Vec::new(); images.len()];
        for (chunk_index, chunk) in images.chunks(options.batch_size).enumerate() {
            let decoded = chunk
                .iter()
                .map(ImageInput::load)
                .collect::<Result<Vec<_>>>()?;
            // Group the chunk's images by their processed size.
            let mut groups: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
            for (i, image) in decoded.iter().enumerate() {
                let size = self.processor.output_size(image.height, image.width);
                groups.entry(size).or_default().push(i);
            }
            for members in groups.values() {
                let group: Vec<_> = members.iter().map(|&i| decoded[i].clone()).collect();
                let batch = self.processor.process(&group)?;
                let mask: Tensor<3, Int> = match &batch.pixel_mask {
                    Some(mask) => Tensor::from_data(
                        TensorData::new(mask.clone(), [batch.batch, batch.height, batch.width]),
                        &self.device,
                    ),
                    None => Tensor::ones([batch.batch, batch.height, batch.width], &self.device),
                };
                let (logits, boxes) = self.model.detect(batch.pixel_values(&self.device), mask)?;
                let [_, queries, classes] = logits.dims();
                let logits = host_values(logits)?;
                let boxes = host_values(boxes)?;
                for (row, &i) in members.iter().enumerate() {
                    let image = &decoded[i];
                    let logits = &logits[row * queries * classes..][..queries * classes];
                    let boxes = &boxes[row * queries * 4..][..queries * 4];
                    results[chunk_index * options.batch_size + i] = self.postprocess(
                        logits,
                        boxes,
                        classes,
                        (image.width, image.height),
                        options.threshold,
                    );
                }
            }
        }
        Ok(results)
    }

    /// `post_process_object_detection` + the pipeline's formatting: softmax over the classes,
    /// the best real class (the last is "no object"), boxes from relative centre/size to
    /// corners in original pixels, kept above `threshold`, truncated to integers.
    fn postprocess(
        &self,
        logits: &[f32],
        boxes: &[f32],
        classes: usize,
        (width, height): (usize, usize),
        threshold: f32,
    ) -> Vec<Detection> {
        let config = self.model.common_config();
        let (w, h) = (width as f32, height as f32);
        if classes < 2 {
            return Vec::new(); // only "no object"
        }
        logits
            .chunks_exact(classes)
            .zip(boxes.chunks_exact(4))
            .filter_map(|(logits, b)| {
                let probs = softmax(logits);
                // The first maximum, as torch.max returns.
                let label = argmax(&probs[..classes - 1]);
                let score = probs[label];
                if score <= threshold {
                    return None;
                }
                let (cx, cy, bw, bh) = (b[0], b[1], b[2], b[3]);
                let corner = |v: f32, scale: f32| (v * scale) as i64;
                Some(Detection {
                    score,
                    label: config.label(label),
                    bbox: BoundingBox {
                        xmin: corner(cx - 0.5 * bw, w),
                        ymin: corner(cy - 0.5 * bh, h),
                        xmax: corner(cx + 0.5 * bw, w),
                        ymax: corner(cy + 0.5 * bh, h),
                    },
                })
            })
            .collect()
    }
}
