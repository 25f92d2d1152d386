//! `image-segmentation`: labelled masks over images (`DetrForSegmentation`), post-processed as
//! `DetrImageProcessor.post_process_{panoptic,instance,semantic}_segmentation` do when
//! transformers' `ImageSegmentationPipeline` calls them: masks resized to the original image
//! (bilinear, `align_corners=False`, as `F.interpolate`), one 0/255 mask per segment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::{Device, Tensor, activation};
use burn_models::config::CommonConfig;
use burn_models::vision::{ImageSegmenter, load_image_segmenter};
use image::GrayImage;
use serde_json::{Value, json};

use super::image_classification::images_from_json;
use super::kwargs::{InputKind, Kwargs, OptionSpec, ValueKind};
use super::scores::{host_values, sigmoid, softmax};
use super::{InputForm, PipelineBuilder, TaskPipeline, TaskSpec};
use crate::error::{Result, TaskError};
use crate::input::ImageInput;
use crate::processors::ImageProcessor;
use crate::processors::image::ProcessorKind;

/// The `image-segmentation` task: its name, default model and options.
pub static TASK: TaskSpec = TaskSpec::new::<ImageSegmentationPipeline>(
    "image-segmentation",
    &[],
    "Segment images: labelled masks, written as 0/255 grayscale PNGs at the original size",
    "facebook/detr-resnet-50-panoptic",
    InputKind::Images,
    &[
        OptionSpec::new(
            "subtask",
            ValueKind::Text,
            "panoptic, instance or semantic (default: the first the model supports, in that order)",
        ),
        OptionSpec::new(
            "threshold",
            ValueKind::Number,
            "Keep segments whose class probability is above this (default 0.9)",
        ),
        OptionSpec::new(
            "mask_threshold",
            ValueKind::Number,
            "Mask probabilities at or above this count as a segment's area (default 0.5)",
        ),
        OptionSpec::new(
            "overlap_mask_area_threshold",
            ValueKind::Number,
            "Drop segments left with less than this share of their own mask area (default 0.5)",
        ),
        OptionSpec::new(
            "batch_size",
            ValueKind::Count,
            "Images run at once (default 8)",
        ),
        OptionSpec::new(
            "masks_dir",
            ValueKind::Text,
            "Where the mask PNGs go (default: a new temporary directory); `mask` holds their paths",
        ),
    ],
);

/// What kind of segments to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subtask {
    /// One segment per detected object or region; every pixel belongs to at most one.
    Panoptic,
    /// One segment per detected object (for DETR, computed as panoptic is).
    Instance,
    /// One segment per class present; no scores.
    Semantic,
}

impl Subtask {
    /// The order HF's pipeline tries them in when `subtask` is not given.
    pub const ALL: [Subtask; 3] = [Subtask::Panoptic, Subtask::Instance, Subtask::Semantic];

    /// HF's spelling of the subtask (`"panoptic"`).
    pub fn name(self) -> &'static str {
        match self {
            Subtask::Panoptic => "panoptic",
            Subtask::Instance => "instance",
            Subtask::Semantic => "semantic",
        }
    }
}

impl fmt::Display for Subtask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Subtask {
    type Err = TaskError;

    fn from_str(name: &str) -> Result<Self> {
        Subtask::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                TaskError::option(
                    "subtask",
                    format!("`{name}` is not one of panoptic, instance, semantic"),
                )
            })
    }
}

crate::kwarg_from_str!(Subtask);

/// Keyword arguments of `image-segmentation`, as in transformers' `ImageSegmentationPipeline`.
#[derive(Debug, Clone)]
pub struct ImageSegmentationOptions {
    /// `None`: the first of panoptic, instance, semantic the model supports (HF's rule).
    pub subtask: Option<Subtask>,
    /// Keep segments whose class probability is above this (HF's default 0.9).
    pub threshold: f32,
    /// Mask probabilities at or above this count as the segment's area (default 0.5).
    pub mask_threshold: f32,
    /// Drop a segment when less than this share of its own mask area is left to it after
    /// overlaps are resolved (default 0.5).
    pub overlap_mask_area_threshold: f64,
    /// Images run through the model together. Only images of one processed size share a
    /// batch: padding changes DETR's features near the border, and HF's pipeline processes
    /// each image alone.
    pub batch_size: usize,
    /// Where the JSON output's mask PNGs are written (default: a new temporary directory).
    /// The typed output keeps masks in memory and writes nothing.
    pub masks_dir: Option<PathBuf>,
}

impl Default for ImageSegmentationOptions {
    fn default() -> Self {
        Self {
            subtask: None,
            threshold: 0.9,
            mask_threshold: 0.5,
            overlap_mask_area_threshold: 0.5,
            batch_size: 8,
            masks_dir: None,
        }
    }
}

/// One segment: HF's `{"score", "label", "mask"}` with the mask in memory, at the original
/// image's size, 255 inside the segment and 0 elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The class probability, rounded to 6 decimals as HF does; `None` for semantic.
    pub score: Option<f32>,
    /// The class name, from the config's `id2label`.
    pub label: String,
    /// The segment's mask at the original image's size: 255 inside, 0 outside.
    pub mask: GrayImage,
}

/// A DETR segmentation model and its image processor, as transformers'
/// `pipeline("image-segmentation")`.
pub struct ImageSegmentationPipeline {
    model: Box<dyn ImageSegmenter>,
    processor: ImageProcessor,
    device: Device,
}

impl TaskPipeline for ImageSegmentationPipeline {
    const TASKS: &'static [&'static TaskSpec] = &[&TASK];
    type Options = ImageSegmentationOptions;
    type Input = ImageInput;
    type Output = Vec<Segment>;

    fn load(source: &PipelineBuilder<Self>) -> Result<Self> {
        let device = source.target_device()?;
        let dir = source.resolve()?;
        let processor = ImageProcessor::from_model_dir(&dir)?;
        if processor.kind != ProcessorKind::Detr {
            return Err(TaskError::InvalidModel(format!(
                "{}: image segmentation needs a DetrImageProcessor (its post-processing), \
                 the model has a {:?} processor",
                dir.path().display(),
                processor.kind
            )));
        }
        Ok(Self {
            model: source.prepare_model(load_image_segmenter(&dir, &device)?)?,
            processor,
            device,
        })
    }

    fn options(&self, kwargs: &mut Kwargs) -> Result<ImageSegmentationOptions> {
        let mut options = ImageSegmentationOptions::default();
        kwargs.update("subtask", &mut options.subtask)?;
        kwargs.update("threshold", &mut options.threshold)?;
        kwargs.update("mask_threshold", &mut options.mask_threshold)?;
        kwargs.update(
            "overlap_mask_area_threshold",
            &mut options.overlap_mask_area_threshold,
        )?;
        kwargs.update("batch_size", &mut options.batch_size)?;
        if let Some(dir) = kwargs.get::<String>("masks_dir")? {
            options.masks_dir = Some(dir.into());
        }
        Ok(options)
    }

    fn inputs(&self, inputs: &Value, _: &mut Kwargs) -> Result<(Vec<ImageInput>, InputForm)> {
        images_from_json(inputs)
    }

    fn run(
        &self,
        inputs: &[ImageInput],
        options: &ImageSegmentationOptions,
    ) -> Result<Vec<Vec<Segment>>> {
        self.segment(inputs, options)
    }

    /// HF's JSON with each mask written as a 0/255 grayscale PNG into `masks_dir` and `mask`
    /// holding its path: a list of segments for one image, a list of such lists for a list.
    fn to_json(
        &self,
        outputs: Vec<Vec<Segment>>,
        form: InputForm,
        options: &ImageSegmentationOptions,
    ) -> Result<Value> {
        let dir = masks_dir(options.masks_dir.as_deref())?;
        let mut per_image = Vec::with_capacity(outputs.len());
        for (i, segments) in outputs.into_iter().enumerate() {
            let mut out = Vec::with_capacity(segments.len());
            for (j, segment) in segments.into_iter().enumerate() {
                let path = dir.join(format!("image{i}-segment{j}.png"));
                segment
                    .mask
                    .save_with_format(&path, image::ImageFormat::Png)
                    .map_err(|e| TaskError::io(&path, std::io::Error::other(e.to_string())))?;
                // The f32 score printed as the 6-decimal Python float HF returns.
                let score = segment.score.map(|s| (f64::from(s) * 1e6).round() / 1e6);
                out.push(json!({
                    "score": score,
                    "label": segment.label,
                    "mask": path.display().to_string(),
                }));
            }
            per_image.push(Value::Array(out));
        }
        Ok(form.shape(per_image))
    }
}

impl ImageSegmentationPipeline {
    /// The model's config (labels).
    pub fn config(&self) -> &CommonConfig {
        self.model.common_config()
    }

    /// The subtasks this model's image processor can post-process, in HF's order of
    /// preference (`DetrImageProcessor` has all three).
    pub fn supported_subtasks(&self) -> &'static [Subtask] {
        &Subtask::ALL
    }

    /// Segments per image: panoptic and instance in query order, semantic in class order.
    pub fn segment(
        &self,
        images: &[ImageInput],
        options: &ImageSegmentationOptions,
    ) -> Result<Vec<Vec<Segment>>> {
        if options.batch_size == 0 {
            return Err(TaskError::option("batch_size", "must be at least 1"));
        }
        for (name, value) in [
            ("threshold", f64::from(options.threshold)),
            ("mask_threshold", f64::from(options.mask_threshold)),
            (
                "overlap_mask_area_threshold",
                options.overlap_mask_area_threshold,
            ),
        ] {
            if !value.is_finite() {
                return Err(TaskError::option(name, "must be a finite number"));
            }
        }
        let supported = self.supported_subtasks();
        let subtask = match options.subtask {
            None => supported[0],
            Some(s) if supported.contains(&s) => s,
            Some(s) => {
                return Err(TaskError::option(
                    "subtask",
                    format!("`{s}` is not supported by this model"),
                ));
            }
        };
        let mut results = vec![Vec::new(); images.len()];
        for (chunk_index, chunk) in images.chunks(options.batch_size).enumerate() {
            let decoded = chunk
                .iter()
                .map(ImageInput::load)
                .collect::<Result<Vec<_>>>()?;
            let mut groups: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
            for (i, image) in decoded.iter().enumerate() {
                let size = self.processor.output_size(image.height, image.width);
                groups.entry(size).or_default().push(i);
            }
            for members in groups.values() {
                let group: Vec<_> = members.iter().map(|&i| decoded[i].clone()).collect();
                let batch = self.processor.process(&group)?;
                let (logits, masks) = self.model.segment(
                    batch.pixel_values(&self.device),
                    batch.pixel_mask(&self.device),
                )?;
                let [_, queries, classes] = logits.dims();
                let [_, _, h, w] = masks.dims();
                if classes < 2 {
                    return Err(TaskError::InvalidInput(format!(
                        "the model predicts {classes} classes (labels and \"no object\")"
                    )));
                }
                let maps = match subtask {
                    // Class-weighted mask probabilities, `[batch, classes - 1, h, w]`: the
                    // einsum("bqc,bqhw->bchw") of `post_process_semantic_segmentation`.
                    Subtask::Semantic => {
                        let class_probs = activation::softmax(logits.clone(), 2).slice([
                            0..group.len(),
                            0..queries,
                            0..classes - 1,
                        ]);
                        let mask_probs: Tensor<3> =
                            activation::sigmoid(masks).reshape([group.len(), queries, h * w]);
                        host_values(class_probs.swap_dims(1, 2).matmul(mask_probs))?
                    }
                    _ => host_values(masks)?,
                };
                let logits = host_values(logits)?;
                for (row, &i) in members.iter().enumerate() {
                    let image = &decoded[i];
                    let logits = &logits[row * queries * classes..][..queries * classes];
                    let target = (image.height, image.width);
                    results[chunk_index * options.batch_size + i] = match subtask {
                        Subtask::Semantic => {
                            let per = (classes - 1) * h * w;
                            self.semantic(&maps[row * per..][..per], classes - 1, (h, w), target)
                        }
                        _ => self.panoptic(
                            logits,
                            classes,
                            &maps[row * queries * h * w..][..queries * h * w],
                            (h, w),
                            target,
                            options,
                        ),
                    };
                }
            }
        }
        Ok(results)
    }

    /// `post_process_panoptic_segmentation` (and `_instance_`, the same without
    /// `label_ids_to_fuse`) + the pipeline's per-segment masks.
    fn panoptic(
        &self,
        logits: &[f32],
        classes: usize,
        mask_logits: &[f32],
        (h, w): (usize, usize),
        (height, width): (usize, usize),
        options: &ImageSegmentationOptions,
    ) -> Vec<Segment> {
        let config = self.model.common_config();
        let no_object = classes - 1;
        // `softmax(logits).max(-1)` over every class, "no object" included; the first
        // maximum, as torch.max returns.
        let kept: Vec<(usize, usize, f32)> = logits
            .chunks_exact(classes)
            .enumerate()
            .filter_map(|(q, logits)| {
                let (label, score) = softmax(logits).into_iter().enumerate().fold(
                    (0, f32::NEG_INFINITY),
                    |best, (i, p)| {
                        if p > best.1 { (i, p) } else { best }
                    },
                );
                (label != no_object && score > options.threshold).then_some((q, label, score))
            })
            .collect();
        if kept.is_empty() {
            return Vec::new();
        }
        let plane = h * w;
        let probs: Vec<Vec<f32>> = kept
            .iter()
            .map(|&(q, ..)| {
                mask_logits[q * plane..][..plane]
                    .iter()
                    .map(|&v| sigmoid(v))
                    .collect()
            })
            .collect();
        // Per pixel of the original image: every kept mask resized, weighted by its score;
        // the best query takes the pixel (`mask_labels`), and each query's own area counts
        // its weighted probabilities at or above mask_threshold.
        let rows = linear_taps(h, height);
        let cols = linear_taps(w, width);
        let mut winner = vec![0u32; height * width];
        let mut area = vec![0usize; kept.len()];
        let mut original = vec![0usize; kept.len()];
        for (y, row) in rows.iter().enumerate() {
            for (x, col) in cols.iter().enumerate() {
                let mut best = (0, f32::NEG_INFINITY);
                for (k, p) in probs.iter().enumerate() {
                    let value = bilinear(p, w, row, col) * kept[k].2;
                    if value >= options.mask_threshold {
                        original[k] += 1;
                    }
                    if value > best.1 {
                        best = (k, value);
                    }
                }
                winner[y * width + x] = best.0 as u32;
                area[best.0] += 1;
            }
        }
        kept.iter()
            .enumerate()
            .filter(|&(k, _)| {
                // `mask_k_area / original_area` is a float32 tensor, compared as a Python float.
                area[k] > 0
                    && original[k] > 0
                    && f64::from(area[k] as f32 / original[k] as f32)
                        > options.overlap_mask_area_threshold
            })
            .map(|(k, &(_, label, score))| Segment {
                score: Some(round6(score)),
                label: config.label(label),
                mask: mask_image(width, height, |i| winner[i] == k as u32),
            })
            .collect()
    }

    /// `post_process_semantic_segmentation` (class maps resized, argmax per pixel) + one
    /// segment per class present, in class order (`np.unique`).
    fn semantic(
        &self,
        maps: &[f32],
        classes: usize,
        (h, w): (usize, usize),
        (height, width): (usize, usize),
    ) -> Vec<Segment> {
        let config = self.model.common_config();
        let plane = h * w;
        let rows = linear_taps(h, height);
        let cols = linear_taps(w, width);
        let mut label_of = vec![0u32; height * width];
        for (y, row) in rows.iter().enumerate() {
            for (x, col) in cols.iter().enumerate() {
                let mut best = (0, f32::NEG_INFINITY);
                for c in 0..classes {
                    let value = bilinear(&maps[c * plane..][..plane], w, row, col);
                    if value > best.1 {
                        best = (c, value);
                    }
                }
                label_of[y * width + x] = best.0 as u32;
            }
        }
        let mut present = vec![false; classes];
        for &c in &label_of {
            present[c as usize] = true;
        }
        (0..classes)
            .filter(|&c| present[c])
            .map(|c| Segment {
                score: None,
                label: config.label(c),
                mask: mask_image(width, height, |i| label_of[i] == c as u32),
            })
            .collect()
    }
}

/// Python's `round(x, 6)` of a float32 score (to within float precision).
fn round6(score: f32) -> f32 {
    ((f64::from(score) * 1e6).round() / 1e6) as f32
}

fn mask_image(width: usize, height: usize, inside: impl Fn(usize) -> bool) -> GrayImage {
    let pixels = (0..width * height)
        .map(|i| if inside(i) { 255 } else { 0 })
        .collect();
    GrayImage::from_raw(width as u32, height as u32, pixels).expect("width * height pixels")
}

/// One output coordinate of a 1-d linear resize: two source indices and their weights.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: f32,
    w1: f32,
}

/// PyTorch's `upsample_bilinear2d` (`align_corners=False`, no antialias) source indices and
/// weights along one axis, in float32: `src = (dst + 0.5) * in / out - 0.5`, clamped at 0.
fn linear_taps(input: usize, output: usize) -> Vec<Tap> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let real = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (real.floor() as usize).min(input - 1);
            let w1 = (real - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            Tap {
                i0,
                i1,
                w0: 1.0 - w1,
                w1,
            }
        })
        .collect()
}

/// One interpolated value, summed in PyTorch's order (rows outer, columns inner).
fn bilinear(plane: &[f32], width: usize, row: &Tap, col: &Tap) -> f32 {
    let at = |y: usize, x: usize| plane[y * width + x];
    let top = at(row.i0, col.i0) * col.w0 + at(row.i0, col.i1) * col.w1;
    let bottom = at(row.i1, col.i0) * col.w0 + at(row.i1, col.i1) * col.w1;
    top * row.w0 + bottom * row.w1
}

/// The directory masks are written to: `dir` (created if missing), or a fresh temporary
/// directory that is kept after the program ends.
pub fn masks_dir(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| TaskError::io(dir, e))?;
            Ok(dir.to_path_buf())
        }
        None => tempfile::Builder::new()
            .prefix("burn-tasks-masks-")
            .tempdir()
            .map(|d| d.keep())
            .map_err(|e| TaskError::io(std::env::temp_dir(), e)),
    }
}
