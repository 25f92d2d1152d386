//! `object-detection`: labelled boxes in images (DETR).

use std::collections::BTreeMap;

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_models::config::CommonConfig;
use burn_models::vision::{ObjectDetector, load_object_detector};
use serde::Serialize;
use serde_json::Value;

use super::image_classification::images_from_json;
use super::{PipelineSource, Task, softmax};
use crate::error::{Result, TaskError};
use crate::input::ImageInput;
use crate::processors::ImageProcessor;

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
    pub xmin: i64,
    pub ymin: i64,
    pub xmax: i64,
    pub ymax: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub score: f32,
    pub label: String,
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
}

pub struct ObjectDetectionPipeline {
    model: Box<dyn ObjectDetector>,
    processor: ImageProcessor,
    device: Device,
}

impl ObjectDetectionPipeline {
    pub fn new(source: &PipelineSource) -> Result<Self> {
        let dir = source.resolve(Task::ObjectDetection)?;
        let model = source.apply_adapter(load_object_detector(&dir, &source.device)?)?;
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
                let read = |t: Tensor<3>, what: &str| {
                    t.into_data()
                        .try_into_vec::<f32>()
                        .map_err(|e| TaskError::InvalidInput(format!("reading {what}: {e:?}")))
                };
                let logits = read(logits, "logits")?;
                let boxes = read(boxes, "boxes")?;
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
        logits
            .chunks_exact(classes)
            .zip(boxes.chunks_exact(4))
            .filter_map(|(logits, b)| {
                let probs = softmax(logits);
                // The first maximum, as torch.max returns.
                let (label, score) = probs[..classes - 1].iter().copied().enumerate().fold(
                    (0, f32::NEG_INFINITY),
                    |best, (i, p)| {
                        if p > best.1 { (i, p) } else { best }
                    },
                );
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

/// HF's JSON: a list of detections for one image, a list of such lists for a list.
pub fn to_hf_json(results: Vec<Vec<Detection>>, single: bool) -> Value {
    let mut per_image: Vec<Value> = results
        .into_iter()
        .map(|d| serde_json::to_value(d).expect("serializable"))
        .collect();
    if single {
        per_image.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(per_image)
    }
}

/// `pipe(images, threshold=...)` from JSON.
pub(crate) fn call(
    pipeline: &ObjectDetectionPipeline,
    inputs: &Value,
    options: ObjectDetectionOptions,
) -> Result<Value> {
    let (images, single) = images_from_json(inputs)?;
    Ok(to_hf_json(pipeline.detect(&images, &options)?, single))
}
