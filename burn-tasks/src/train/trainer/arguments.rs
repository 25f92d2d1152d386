//! `TrainingArguments`: the loop's settings, with transformers' names and defaults.

use std::path::PathBuf;

use burn::tensor::{Device, FloatDType};

use crate::error::{Result, TaskError};

/// `train_sampling_strategy`: the order the training examples are drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SamplingStrategy {
    /// A new permutation each epoch (`"random"`, PyTorch's `RandomSampler`).
    #[default]
    Random,
    /// The dataset's own order every epoch (`"sequential"`, `SequentialSampler`).
    Sequential,
}

/// `TrainingArguments`, with transformers' names and defaults.
#[derive(Debug, Clone)]
pub struct TrainingArguments {
    /// Where checkpoints, the log and the final model go.
    pub output_dir: PathBuf,
    /// `num_train_epochs` (3).
    pub num_train_epochs: usize,
    /// `per_device_train_batch_size`: training examples per step on each device (8).
    pub per_device_train_batch_size: usize,
    /// `per_device_eval_batch_size`: evaluation examples per forward pass (8).
    pub per_device_eval_batch_size: usize,
    /// `learning_rate`: AdamW's peak learning rate (5e-5).
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay (not applied to biases and LayerNorm weights).
    pub weight_decay: f64,
    /// `adam_beta1` (0.9).
    pub adam_beta1: f64,
    /// `adam_beta2` (0.999).
    pub adam_beta2: f64,
    /// `adam_epsilon` (1e-8).
    pub adam_epsilon: f64,
    /// Clip gradients to this global L2 norm (0 or less: no clipping).
    pub max_grad_norm: f64,
    /// Linear warmup steps; when 0, `warmup_ratio` of the optimizer steps.
    pub warmup_steps: usize,
    /// `warmup_ratio`: the share of optimizer steps used for warmup when `warmup_steps` is 0.
    pub warmup_ratio: f64,
    /// `gradient_accumulation_steps`: batches whose gradients are summed before each optimizer
    /// step (1).
    pub gradient_accumulation_steps: usize,
    /// The order examples are drawn in (`train_sampling_strategy`).
    pub train_sampling_strategy: SamplingStrategy,
    /// `seed` (42): the data order and dropout masks derive from it.
    pub seed: u64,
    /// Log the training loss every this many optimizer steps.
    pub logging_steps: usize,
    /// Save a checkpoint after each epoch (`save_strategy="epoch"`).
    pub save_each_epoch: bool,
    /// Continue from the latest checkpoint in `output_dir`.
    pub resume: bool,
    /// End the run after this many epochs have been completed, as an interruption would
    /// (the checkpoint of that epoch is written); `resume` continues it.
    pub stop_after_epochs: Option<usize>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Mixed precision with f16 products and dynamic loss scaling (HF's `fp16`).
    pub fp16: bool,
    /// Mixed precision with bf16 products (HF's `bf16`; no loss scaling needed).
    pub bf16: bool,
    /// Split each batch over these devices (data parallelism); empty: the device given to
    /// `train` alone. The first one should be that device: it holds the model and the
    /// optimizer state.
    pub devices: Vec<Device>,
    /// `gradient_checkpointing`: recompute activations in the backward pass instead of keeping
    /// them (Burn's `Balanced` strategy, and layers that support it, such as Whisper's encoder
    /// layers, recomputed whole from their input), trading time for memory.
    pub gradient_checkpointing: bool,
}

impl Default for TrainingArguments {
    fn default() -> Self {
        Self {
            output_dir: PathBuf::from("trainer_output"),
            num_train_epochs: 3,
            per_device_train_batch_size: 8,
            per_device_eval_batch_size: 8,
            learning_rate: 5e-5,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: 1.0,
            warmup_steps: 0,
            warmup_ratio: 0.0,
            gradient_accumulation_steps: 1,
            train_sampling_strategy: SamplingStrategy::Random,
            seed: 42,
            logging_steps: 10,
            save_each_epoch: true,
            resume: false,
            stop_after_epochs: None,
            progress: true,
            fp16: false,
            bf16: false,
            devices: Vec::new(),
            gradient_checkpointing: false,
        }
    }
}

impl TrainingArguments {
    pub(super) fn check(&self) -> Result<()> {
        let positive = |name: &'static str, v: usize| {
            if v == 0 {
                Err(TaskError::option(name, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("num_train_epochs", self.num_train_epochs)?;
        positive(
            "per_device_train_batch_size",
            self.per_device_train_batch_size,
        )?;
        positive(
            "per_device_eval_batch_size",
            self.per_device_eval_batch_size,
        )?;
        positive(
            "gradient_accumulation_steps",
            self.gradient_accumulation_steps,
        )?;
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(TaskError::option(
                "learning_rate",
                format!("{} is not a positive number", self.learning_rate),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(TaskError::option("weight_decay", "must be 0 or more"));
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return Err(TaskError::option("warmup_ratio", "must be in [0, 1)"));
        }
        if self.fp16 && self.bf16 {
            return Err(TaskError::option(
                "fp16",
                "fp16 and bf16 exclude each other",
            ));
        }
        Ok(())
    }

    /// The product type of mixed precision, if any, after checking every training device
    /// supports it.
    pub(super) fn compute_dtype(&self, devices: &[Device]) -> Result<Option<FloatDType>> {
        let (dtype, name) = match (self.fp16, self.bf16) {
            (true, _) => (FloatDType::F16, "fp16"),
            (_, true) => (FloatDType::BF16, "bf16"),
            _ => return Ok(None),
        };
        for device in devices {
            if !device.supports_dtype(dtype) {
                return Err(TaskError::option(
                    name,
                    format!("{device:?} has no {dtype:?} support: train in f32 (drop --{name})"),
                ));
            }
        }
        Ok(Some(dtype))
    }
}
