//! What pipelines see of vision models: the task heads as traits, and `AutoModelFor*`
//! loaders for them (by `model_type`).

use burn::tensor::{Device, Int, Tensor};

use crate::auto::{load_with, model_type};
use crate::config::CommonConfig;
use crate::detr::{DetrForObjectDetection, DetrForSegmentation};
use crate::error::{ModelError, Result};
use crate::hub::ModelDir;
use crate::nn::Linears;
use crate::vit::{ViTForImageClassification, ViTModel};

/// Models with an image classification head (`*ForImageClassification`).
pub trait ImageClassifier: Send + Linears {
    /// Logits `[batch, num_labels]` of `pixel_values` `[batch, channels, height, width]`.
    fn logits(&self, pixel_values: Tensor<4>) -> Result<Tensor<2>>;
    /// The `PretrainedConfig` part of the config (labels).
    fn common_config(&self) -> &CommonConfig;
}

/// Models with an object detection head (`*ForObjectDetection`).
pub trait ObjectDetector: Send + Linears {
    /// Class logits `[batch, queries, num_labels + 1]` (the last is "no object") and boxes
    /// `[batch, queries, 4]` as relative `(center_x, center_y, width, height)`, from
    /// `pixel_values` `[batch, C, H, W]` and `pixel_mask` `[batch, H, W]`.
    fn detect(
        &self,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<(Tensor<3>, Tensor<3>)>;
    /// The `PretrainedConfig` part of the config (labels).
    fn common_config(&self) -> &CommonConfig;
}

/// Models with a mask per query (`DetrForSegmentation`, `AutoModelForImageSegmentation`).
pub trait ImageSegmenter: Send + Linears {
    /// Class logits `[batch, queries, num_labels + 1]` (the last is "no object") and mask
    /// logits `[batch, queries, h, w]`, from `pixel_values` `[batch, C, H, W]` and
    /// `pixel_mask` `[batch, H, W]`.
    fn segment(
        &self,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<(Tensor<3>, Tensor<4>)>;
    /// The `PretrainedConfig` part of the config (labels).
    fn common_config(&self) -> &CommonConfig;
}

fn unsupported(dir: &ModelDir, model_type: &str, head: &str, supported: &str) -> ModelError {
    ModelError::Unsupported(format!(
        "{}: model_type `{model_type}` has no {head} here (supported: {supported})",
        dir.path().display()
    ))
}

/// `AutoModelForImageClassification.from_pretrained`.
pub fn load_image_classifier(dir: &ModelDir, device: &Device) -> Result<Box<dyn ImageClassifier>> {
    Ok(match model_type(dir)?.as_str() {
        "vit" => Box::new(load_with(dir, device, ViTForImageClassification::load)?),
        other => return Err(unsupported(dir, other, "image classification head", "vit")),
    })
}

/// `ViTModel.from_pretrained` (no pooler).
pub fn load_vit(dir: &ModelDir, device: &Device) -> Result<ViTModel> {
    load_with(dir, device, ViTModel::load)
}

/// `ViTForImageClassification.from_pretrained`.
pub fn load_vit_classifier(dir: &ModelDir, device: &Device) -> Result<ViTForImageClassification> {
    load_with(dir, device, ViTForImageClassification::load)
}

/// `AutoModelForObjectDetection.from_pretrained`.
pub fn load_object_detector(dir: &ModelDir, device: &Device) -> Result<Box<dyn ObjectDetector>> {
    Ok(match model_type(dir)?.as_str() {
        "detr" => Box::new(load_with(dir, device, DetrForObjectDetection::load)?),
        other => return Err(unsupported(dir, other, "object detection head", "detr")),
    })
}

/// `DetrForObjectDetection.from_pretrained`.
pub fn load_detr(dir: &ModelDir, device: &Device) -> Result<DetrForObjectDetection> {
    load_with(dir, device, DetrForObjectDetection::load)
}

/// `AutoModelForImageSegmentation.from_pretrained`.
pub fn load_image_segmenter(dir: &ModelDir, device: &Device) -> Result<Box<dyn ImageSegmenter>> {
    Ok(match model_type(dir)?.as_str() {
        "detr" => Box::new(load_detr_segmentation(dir, device)?),
        other => return Err(unsupported(dir, other, "image segmentation head", "detr")),
    })
}

/// `DetrForSegmentation.from_pretrained`.
pub fn load_detr_segmentation(dir: &ModelDir, device: &Device) -> Result<DetrForSegmentation> {
    load_with(dir, device, DetrForSegmentation::load).map_err(|e| match e {
        ModelError::Unsupported(message) => {
            ModelError::Unsupported(format!("{}: {message}", dir.path().display()))
        }
        other => other,
    })
}
