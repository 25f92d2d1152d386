//! Image processors from `preprocessor_config.json`, as transformers' slow (PIL) processors:
//! `ViTImageProcessor` (resize to a fixed size, rescale, normalize) and `DetrImageProcessor`
//! (resize by shortest/longest edge, rescale, normalize, pad the batch with a `pixel_mask`),
//! and `ViltImageProcessor` (shortest edge, longer edge capped at 1333/800 of it, both rounded
//! down to a multiple of `size_divisor`; padded batches with a `pixel_mask`).

use std::path::Path;

use burn_models::hub::ModelDir;

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::Value;

use super::resample::{Resample, resize};
use crate::error::{Result, TaskError};
use crate::input::RgbImage;

/// The target size of `resize`, in any of the forms HF configs write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSize {
    /// `{"height", "width"}`: exactly this size.
    Exact {
        /// Output height in pixels.
        height: usize,
        /// Output width in pixels.
        width: usize,
    },
    /// `{"shortest_edge", "longest_edge"?}`: keep the aspect ratio.
    Edges {
        /// The shorter side is resized to this many pixels...
        shortest_edge: usize,
        /// ...unless the longer side would then exceed this.
        longest_edge: Option<usize>,
    },
}

/// Which family of processor: decides the defaults and the resize rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorKind {
    /// `ViTImageProcessor` (and `DeiTImageProcessor`): resize to a fixed size.
    Vit,
    /// `DetrImageProcessor`.
    Detr,
    /// `ViltImageProcessor`.
    Vilt,
}

/// A parsed `preprocessor_config.json`, with the processor's defaults filled in.
#[derive(Debug, Clone)]
pub struct ImageProcessor {
    /// Which processor this is.
    pub kind: ProcessorKind,
    /// `do_resize`: resize before rescaling.
    pub do_resize: bool,
    /// `size`: the resize target.
    pub size: ImageSize,
    /// `resample`: PIL's resampling filter for the resize.
    pub resample: Resample,
    /// `do_rescale`: multiply the 0-255 pixel values by `rescale_factor`.
    pub do_rescale: bool,
    /// `rescale_factor`: usually `1/255`.
    pub rescale_factor: f64,
    /// `do_normalize`: subtract `image_mean` and divide by `image_std`, per channel.
    pub do_normalize: bool,
    /// `image_mean`: per-channel mean (R, G, B).
    pub image_mean: [f32; 3],
    /// `image_std`: per-channel standard deviation (R, G, B).
    pub image_std: [f32; 3],
    /// `do_pad`: pad the batch to its largest image (bottom and right), with a `pixel_mask`.
    pub do_pad: bool,
    /// ViLT: resized sides are rounded down to a multiple of this.
    pub size_divisor: usize,
}

/// A batch of processed images: `pixel_values` `[batch, 3, height, width]` and, for padded
/// batches, `pixel_mask` `[batch, height, width]` (1 = image, 0 = padding).
#[derive(Debug, Clone)]
pub struct PixelBatch {
    /// `[batch, 3, height, width]` row-major.
    pub pixel_values: Vec<f32>,
    /// `[batch, height, width]` row-major, 1 for image and 0 for padding; `None` when unpadded.
    pub pixel_mask: Option<Vec<i64>>,
    /// Images in the batch.
    pub batch: usize,
    /// Height of every image in the batch (after padding).
    pub height: usize,
    /// Width of every image in the batch (after padding).
    pub width: usize,
    /// `(height, width)` of every image after resizing, before padding.
    pub resized_sizes: Vec<(usize, usize)>,
}

impl PixelBatch {
    /// `pixel_values` as a tensor on `device`.
    pub fn pixel_values(&self, device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(
                self.pixel_values.clone(),
                [self.batch, 3, self.height, self.width],
            ),
            device,
        )
    }

    /// The mask as a tensor; all ones when the batch was not padded.
    pub fn pixel_mask(&self, device: &Device) -> Tensor<3, Int> {
        let shape = [self.batch, self.height, self.width];
        match &self.pixel_mask {
            Some(mask) => Tensor::from_data(TensorData::new(mask.clone(), shape), device),
            None => Tensor::ones(shape, device),
        }
    }
}

impl ImageProcessor {
    /// The image processor of a model directory (its `preprocessor_config.json`).
    pub fn from_model_dir(dir: &ModelDir) -> Result<Self> {
        Self::from_json(&super::preprocessor_config(dir)?).map_err(|e| match e {
            TaskError::InvalidOption { name, message } => TaskError::InvalidModel(format!(
                "{}: preprocessor_config.json: `{name}`: {message}",
                dir.path().display()
            )),
            other => other,
        })
    }

    /// Reads a `preprocessor_config.json` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TaskError::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| TaskError::InvalidInput(format!("invalid {}: {e}", path.display())))?;
        Self::from_json(&json).map_err(|e| match e {
            TaskError::InvalidOption { name, message } => {
                TaskError::InvalidInput(format!("{}: `{name}`: {message}", path.display()))
            }
            other => other,
        })
    }

    /// From the JSON of a `preprocessor_config.json`.
    pub fn from_json(json: &Value) -> Result<Self> {
        let type_name = json
            .get("image_processor_type")
            .or_else(|| json.get("feature_extractor_type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = match type_name.trim_end_matches("Fast") {
            "ViTImageProcessor" | "ViTFeatureExtractor" | "DeiTImageProcessor" => {
                ProcessorKind::Vit
            }
            "DetrImageProcessor" | "DetrFeatureExtractor" => ProcessorKind::Detr,
            "ViltImageProcessor" | "ViltFeatureExtractor" => ProcessorKind::Vilt,
            other => {
                return Err(TaskError::option(
                    "image_processor_type",
                    format!("`{other}` is not supported (ViTImageProcessor, DetrImageProcessor)"),
                ));
            }
        };
        let flag = |name: &'static str, default: bool| -> Result<bool> {
            match json.get(name) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| TaskError::option(name, format!("expected a boolean, got {v}"))),
            }
        };
        let triple = |name: &'static str, default: [f32; 3]| -> Result<[f32; 3]> {
            match json.get(name) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
                Some(Value::Array(items)) if items.len() == 3 => {
                    let mut out = [0.0; 3];
                    for (o, v) in out.iter_mut().zip(items) {
                        *o = v.as_f64().ok_or_else(|| {
                            TaskError::option(name, format!("expected numbers, got {v}"))
                        })? as f32;
                    }
                    Ok(out)
                }
                Some(v) => Err(TaskError::option(
                    name,
                    format!("expected one number per RGB channel, got {v}"),
                )),
            }
        };
        const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
        let (default_size, default_mean, default_std) = match kind {
            ProcessorKind::Vit => (
                ImageSize::Exact {
                    height: 224,
                    width: 224,
                },
                [0.5; 3],
                [0.5; 3],
            ),
            ProcessorKind::Detr => (
                ImageSize::Edges {
                    shortest_edge: 800,
                    longest_edge: Some(1333),
                },
                IMAGENET_MEAN,
                IMAGENET_STD,
            ),
            ProcessorKind::Vilt => (
                ImageSize::Edges {
                    shortest_edge: 384,
                    longest_edge: None,
                },
                [0.5; 3],
                [0.5; 3],
            ),
        };
        let max_size = json
            .get("max_size")
            .and_then(Value::as_u64)
            .map(|v| v as usize);
        let size = match json.get("size") {
            None | Some(Value::Null) => default_size,
            Some(v) => parse_size(v, kind, max_size)?,
        };
        let std = triple("image_std", default_std)?;
        if std.contains(&0.0) {
            return Err(TaskError::option("image_std", "a standard deviation of 0"));
        }
        Ok(Self {
            kind,
            do_resize: flag("do_resize", true)?,
            size,
            resample: Resample::from_pil(json.get("resample").and_then(Value::as_u64).unwrap_or(
                // PIL's BICUBIC for ViLT, BILINEAR for the others.
                if kind == ProcessorKind::Vilt { 3 } else { 2 },
            ))?,
            do_rescale: flag("do_rescale", true)?,
            rescale_factor: json
                .get("rescale_factor")
                .and_then(Value::as_f64)
                .unwrap_or(1.0 / 255.0),
            do_normalize: flag("do_normalize", true)?,
            image_mean: triple("image_mean", default_mean)?,
            image_std: std,
            do_pad: flag("do_pad", kind != ProcessorKind::Vit)?,
            size_divisor: match json.get("size_divisor") {
                None | Some(Value::Null) => 32,
                Some(v) => v.as_u64().filter(|&d| d > 0).ok_or_else(|| {
                    TaskError::option(
                        "size_divisor",
                        format!("expected a positive integer, got {v}"),
                    )
                })? as usize,
            },
        })
    }

    /// The `(height, width)` an image of `(height, width)` is resized to.
    pub fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        if !self.do_resize {
            return (height, width);
        }
        match self.size {
            ImageSize::Exact { height, width } => (height, width),
            ImageSize::Edges { shortest_edge, .. } if self.kind == ProcessorKind::Vilt => {
                vilt_output_size(height, width, shortest_edge, self.size_divisor)
            }
            ImageSize::Edges {
                shortest_edge,
                longest_edge,
            } => size_with_aspect_ratio(height, width, shortest_edge, longest_edge),
        }
    }

    /// Resizes, rescales and normalizes one image: `[3, height, width]` values.
    pub fn process_one(&self, image: &RgbImage) -> Result<(Vec<f32>, usize, usize)> {
        let (height, width) = self.output_size(image.height, image.width);
        let resized;
        let image = if self.do_resize {
            resized = resize(image, width, height, self.resample)?;
            &resized
        } else {
            image
        };
        let plane = height * width;
        let mut out = vec![0f32; 3 * plane];
        for (i, pixel) in image.data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                // As numpy: rescale in f64 then cast to f32; normalize in f32.
                let mut v = if self.do_rescale {
                    (f64::from(pixel[c]) * self.rescale_factor) as f32
                } else {
                    f32::from(pixel[c])
                };
                if self.do_normalize {
                    v = (v - self.image_mean[c]) / self.image_std[c];
                }
                out[c * plane + i] = v;
            }
        }
        Ok((out, height, width))
    }

    /// Processes a batch. Images of different sizes need `do_pad` (they are padded at the
    /// bottom and right with zeros, as DETR does); otherwise sizes must agree.
    pub fn process(&self, images: &[RgbImage]) -> Result<PixelBatch> {
        if images.is_empty() {
            return Err(TaskError::InvalidInput("no images to process".into()));
        }
        let processed = images
            .iter()
            .map(|image| self.process_one(image))
            .collect::<Result<Vec<_>>>()?;
        let height = processed.iter().map(|p| p.1).max().unwrap_or(0);
        let width = processed.iter().map(|p| p.2).max().unwrap_or(0);
        let same = processed.iter().all(|p| p.1 == height && p.2 == width);
        if !same && !self.do_pad {
            return Err(TaskError::InvalidInput(
                "images of different sizes after resizing cannot be batched without padding (do_pad)"
                    .into(),
            ));
        }
        let batch = images.len();
        let mut pixel_values = vec![0f32; batch * 3 * height * width];
        let mut mask = vec![0i64; batch * height * width];
        for (b, (values, h, w)) in processed.iter().enumerate() {
            for c in 0..3 {
                for y in 0..*h {
                    let src = &values[(c * h + y) * w..][..*w];
                    let dst = ((b * 3 + c) * height + y) * width;
                    pixel_values[dst..dst + w].copy_from_slice(src);
                }
            }
            for y in 0..*h {
                let dst = (b * height + y) * width;
                mask[dst..dst + w].fill(1);
            }
        }
        Ok(PixelBatch {
            pixel_values,
            pixel_mask: self.do_pad.then_some(mask),
            batch,
            height,
            width,
            resized_sizes: processed.iter().map(|p| (p.1, p.2)).collect(),
        })
    }
}

/// `get_size_dict` for the forms configs use: a dict, or a bare int (square for ViT, the
/// shortest edge for DETR, with the legacy `max_size` as the longest).
fn parse_size(value: &Value, kind: ProcessorKind, max_size: Option<usize>) -> Result<ImageSize> {
    let field = |name: &str| value.get(name).and_then(Value::as_u64).map(|v| v as usize);
    if let Some(n) = value.as_u64() {
        let n = n as usize;
        return Ok(match kind {
            ProcessorKind::Vit => ImageSize::Exact {
                height: n,
                width: n,
            },
            ProcessorKind::Detr | ProcessorKind::Vilt => ImageSize::Edges {
                shortest_edge: n,
                longest_edge: max_size,
            },
        });
    }
    let size = match (field("height"), field("width"), field("shortest_edge")) {
        (Some(height), Some(width), _) => ImageSize::Exact { height, width },
        (_, _, Some(shortest_edge)) => ImageSize::Edges {
            shortest_edge,
            longest_edge: field("longest_edge").or(max_size),
        },
        _ => {
            return Err(TaskError::option(
                "size",
                format!(
                    "expected {{height, width}} or {{shortest_edge, longest_edge}}, got {value}"
                ),
            ));
        }
    };
    match size {
        ImageSize::Exact { height, width } if height == 0 || width == 0 => {
            Err(TaskError::option("size", "a size of 0"))
        }
        ImageSize::Edges {
            shortest_edge: 0, ..
        } => Err(TaskError::option("size", "a size of 0")),
        size => Ok(size),
    }
}

/// ViLT's `get_resize_output_image_size` (Python float arithmetic): the shorter side to
/// `shorter`, the longer capped at `int(1333 / 800 * shorter)`, each rounded half up and then
/// down to a multiple of `size_divisor`.
pub fn vilt_output_size(
    height: usize,
    width: usize,
    shorter: usize,
    size_divisor: usize,
) -> (usize, usize) {
    let longer = (1333.0 / 800.0 * shorter as f64) as usize as f64;
    let (h, w, min_size) = (height as f64, width as f64, shorter as f64);
    let scale = min_size / h.min(w);
    let (mut new_h, mut new_w) = if h < w {
        (min_size, scale * w)
    } else {
        (scale * h, min_size)
    };
    if new_h.max(new_w) > longer {
        let scale = longer / new_h.max(new_w);
        new_h *= scale;
        new_w *= scale;
    }
    let (new_h, new_w) = ((new_h + 0.5) as usize, (new_w + 0.5) as usize);
    (
        new_h / size_divisor * size_divisor,
        new_w / size_divisor * size_divisor,
    )
}

/// `get_size_with_aspect_ratio` of transformers' DETR processor (Python float arithmetic,
/// `round` half to even, `int` truncating).
pub fn size_with_aspect_ratio(
    height: usize,
    width: usize,
    size: usize,
    max_size: Option<usize>,
) -> (usize, usize) {
    let mut size = size;
    let mut raw_size = None;
    if let Some(max_size) = max_size {
        let min_original = height.min(width) as f64;
        let max_original = height.max(width) as f64;
        if max_original / min_original * size as f64 > max_size as f64 {
            let raw = max_size as f64 * min_original / max_original;
            raw_size = Some(raw);
            size = raw.round_ties_even() as usize;
        }
    }
    if (height <= width && height == size) || (width <= height && width == size) {
        (height, width)
    } else if width < height {
        let oh = match raw_size {
            Some(raw) => (raw * height as f64 / width as f64) as usize,
            None => (size as f64 * height as f64 / width as f64) as usize,
        };
        (oh, size)
    } else {
        let ow = match raw_size {
            Some(raw) => (raw * width as f64 / height as f64) as usize,
            None => (size as f64 * width as f64 / height as f64) as usize,
        };
        (size, ow)
    }
}
