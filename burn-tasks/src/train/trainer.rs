//! The training loop, in the image of transformers' `Trainer`: AdamW with its defaults and no
//! weight decay on biases and LayerNorm weights, a linear schedule with optional warmup,
//! gradient accumulation, clipping by the global gradient norm (`max_grad_norm`),
//! evaluation after each epoch, checkpoints each epoch (model, optimizer, step, RNG) written
//! atomically, `--resume`, a progress bar and a log file.
//!
//! It runs on whatever device it is given (CPU, wgpu, CUDA): the model is moved to that
//! device's autodiff twin for training and evaluated on the plain device.
//!
//! Data parallelism (`TrainingArguments::devices`), as HF's Trainer uses every visible GPU:
//! each step takes `per_device_train_batch_size` examples per device, every device runs the
//! forward and backward pass of its shard on its own replica of the model (one thread per
//! device), and the gradients are summed on the main device, each shard weighted by its share
//! of the batch, so the step is that of the whole batch's mean loss. The optimizer state
//! lives on the main device alone; replicas are refreshed from it every step.
//!
//! Randomness is a pure function of the seed and the position in the run: the data order of
//! epoch `e` comes from `seed + e`, and dropout masks of micro-batch `b` of epoch `e` from the
//! device RNG reseeded with `(seed, e, b)`. A run resumed from a checkpoint therefore replays
//! exactly what an uninterrupted run would have done.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, FloatDType, Tensor};
use burn_models::nn::{Linears, set_compute_dtype};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::models::{io_error, write_atomic};
use crate::error::{Result, TaskError};

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
    /// [`train`] alone. The first one should be that device: it holds the model and the
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
    fn check(&self) -> Result<()> {
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
    fn compute_dtype(&self, devices: &[Device]) -> Result<Option<FloatDType>> {
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

/// `torch.amp.GradScaler`'s dynamic loss scaling for fp16: the loss is multiplied by
/// `scale` before the backward pass so small gradients survive f16; a step whose gradients
/// overflow is skipped and halves the scale, `growth_interval` clean steps double it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GradScaler {
    /// The factor the loss is multiplied by (65536 at the start).
    pub scale: f64,
    /// Clean steps since the last change of scale.
    pub growth_tracker: usize,
    /// Optimizer steps skipped because of non-finite gradients.
    pub skipped_steps: usize,
}

impl GradScaler {
    /// Clean steps after which the scale doubles (torch's `growth_interval`).
    pub const GROWTH_INTERVAL: usize = 2000;

    /// A scaler with torch's initial scale, 2^16.
    pub fn new() -> Self {
        Self {
            scale: 65536.0,
            growth_tracker: 0,
            skipped_steps: 0,
        }
    }

    /// Records a step's outcome; returns whether the optimizer should take it.
    pub fn update(&mut self, finite: bool) -> bool {
        if finite {
            self.growth_tracker += 1;
            if self.growth_tracker == Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.growth_tracker = 0;
            }
        } else {
            self.scale *= 0.5;
            self.growth_tracker = 0;
            self.skipped_steps += 1;
        }
        finite
    }
}

impl Default for GradScaler {
    fn default() -> Self {
        Self::new()
    }
}

/// What a task tells the loop: the loss of a batch and the metrics of an evaluation.
pub trait TrainTask: Sync {
    /// The model trained.
    type Model: Module + Clone + Linears;
    /// The number of training examples (features) batches are drawn from.
    fn train_len(&self) -> usize;
    /// The mean loss of the training features `batch`, a scalar tensor on `device`.
    fn loss(&self, model: &Self::Model, batch: &[usize], device: &Device) -> Result<Tensor<1>>;
    /// Metrics of the model (in evaluation mode, on the plain `device`).
    fn evaluate(
        &self,
        model: &Self::Model,
        device: &Device,
        batch_size: usize,
    ) -> Result<BTreeMap<String, f64>>;
}

/// `get_linear_schedule_with_warmup`: the learning rate of optimizer step `step` (from 0).
pub fn linear_schedule(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * step as f64 / warmup.max(1) as f64;
    }
    let remaining = total.saturating_sub(step) as f64;
    base * (remaining / total.saturating_sub(warmup).max(1) as f64).max(0.0)
}

/// The run's position, saved in each checkpoint as `trainer_state.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub global_step: usize,
    /// Optimizer steps of the whole run (epochs times steps per epoch).
    pub max_steps: usize,
    /// Everything randomness depends on (see the module docs): the data order and the
    /// dropout masks are functions of it and of the position.
    pub seed: u64,
    /// The log, as HF's `log_history`: every `logging_steps` the loss, learning rate and
    /// gradient norm; after each epoch its mean loss and the evaluation metrics.
    pub log_history: Vec<Value>,
    /// fp16's loss scaler, so a resumed run scales as the uninterrupted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_scaler: Option<GradScaler>,
}

/// The outcome of [`train`].
#[derive(Debug, Clone)]
pub struct TrainOutput<M> {
    /// The trained model, on the device given to [`train`].
    pub model: M,
    /// Where the run ended.
    pub state: TrainerState,
    /// Metrics of the last evaluation.
    pub metrics: BTreeMap<String, f64>,
    /// Mean training loss of each epoch run here (not those before a resume).
    pub epoch_losses: Vec<f64>,
}

fn mix_seed(seed: u64, a: u64, b: u64) -> u64 {
    // SplitMix64 over the three: distinct positions get unrelated streams.
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Epoch `epoch`'s order of the training examples.
fn epoch_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut StdRng::seed_from_u64(mix_seed(seed, 1, epoch as u64)));
    order
}

/// Sum of squared gradients over the module's parameters.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let s = grad.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// `torch.nn.utils.clip_grad_norm_` over all parameters together; returns the norm before
/// clipping.
pub fn clip_grad_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let mut norm = SquaredNorm { grads, sum: None };
    model.visit(&mut norm);
    let Some(sum) = norm.sum else { return 0.0 };
    let total = f64::from(sum.sqrt().into_scalar::<f32>());
    if max_norm > 0.0 {
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            model.visit(&mut ScaleGrads {
                grads,
                factor: coef,
            });
        }
    }
    total
}

/// AdamW as HF's Trainer builds it: decay on every parameter but biases and LayerNorm weights.
pub fn build_optimizer(args: &TrainingArguments) -> ModuleOptimizer {
    let adamw = |decay: f64| {
        AdamWConfig::new()
            .with_beta_1(args.adam_beta1 as f32)
            .with_beta_2(args.adam_beta2 as f32)
            .with_epsilon(args.adam_epsilon as f32)
            .with_weight_decay(decay as f32)
            .build()
    };
    let optim = ModuleOptimizer::from(adamw(args.weight_decay));
    if args.weight_decay > 0.0 {
        // Burn names LayerNorm's weight `gamma` under fields named `*norm*`.
        optim.with_group(
            ParamGroup::from_any_predicates(vec!["bias", "norm"]),
            adamw(0.0),
            None,
        )
    } else {
        optim
    }
}

/// A line of the log, to the log file (JSON lines) and to `log`.
struct Logger {
    file: Option<std::fs::File>,
}

impl Logger {
    fn open(dir: &Path, append: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let path = dir.join("train.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        Ok(Self { file: Some(file) })
    }

    fn line(&mut self, entry: &Value) {
        log::info!("{entry}");
        if let Some(file) = &mut self.file {
            let _ = writeln!(file, "{entry}");
            let _ = file.flush();
        }
    }
}

const CHECKPOINT_PREFIX: &str = "checkpoint-";

/// The latest complete checkpoint in `dir` (`checkpoint-{step}` with its trainer state).
pub fn latest_checkpoint(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step: usize = name.strip_prefix(CHECKPOINT_PREFIX)?.parse().ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, path)| path)
}

fn record_error(path: &Path, e: impl std::fmt::Debug) -> TaskError {
    TaskError::InvalidInput(format!("checkpoint {}: {e:?}", path.display()))
}

/// Writes `checkpoint-{step}` through a temporary directory renamed into place, so a crash
/// never leaves a partial checkpoint under a checkpoint's name.
fn save_checkpoint<M: Module + Clone>(
    dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &TrainerState,
) -> Result<PathBuf> {
    let final_dir = dir.join(format!("{CHECKPOINT_PREFIX}{}", state.global_step));
    let tmp = tempfile::Builder::new()
        .prefix(".checkpoint-tmp-")
        .tempdir_in(dir)
        .map_err(|e| io_error(dir, e))?;
    let model_path = tmp.path().join("model.bpk");
    model
        .clone()
        .save_file(&model_path)
        .map_err(|e| record_error(&model_path, e))?;
    let optim_path = tmp.path().join("optimizer.bpk");
    optim
        .save(&optim_path)
        .map_err(|e| record_error(&optim_path, e))?;
    let state_json = serde_json::to_string_pretty(state).expect("the state serializes");
    write_atomic(
        &tmp.path().join("trainer_state.json"),
        state_json.as_bytes(),
    )?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| io_error(&final_dir, e))?;
    }
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, &final_dir).map_err(|e| io_error(&final_dir, e))?;
    Ok(final_dir)
}

fn load_checkpoint<M: Module>(
    path: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, TrainerState)> {
    let model_path = path.join("model.bpk");
    let model = model
        .try_load_file(&model_path)
        .map_err(|e| record_error(&model_path, e))?;
    let optim_path = path.join("optimizer.bpk");
    let optim = optim
        .load(&optim_path)
        .map_err(|e| record_error(&optim_path, e))?;
    let state_path = path.join("trainer_state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|e| io_error(&state_path, e))?;
    let state = serde_json::from_str(&text).map_err(|e| io_error(&state_path, e))?;
    Ok((model, optim, state))
}

/// Trains `model` on `task` with `args` on `device` (a plain device; its autodiff twin runs
/// the backward passes). Returns the trained model on the plain device.
pub fn train<T: TrainTask>(
    task: &T,
    model: T::Model,
    args: &TrainingArguments,
    device: &Device,
) -> Result<TrainOutput<T::Model>> {
    args.check()?;
    let n = task.train_len();
    if n == 0 {
        return Err(TaskError::InvalidInput("the training set is empty".into()));
    }
    let ad_device = if args.gradient_checkpointing {
        device.clone().autodiff().gradient_checkpointing()
    } else {
        device.clone().autodiff()
    };
    let plain = device.clone().inner();
    // Under gradient checkpointing the parameters join the device's strategy (`train()` and
    // the optimizer make leaves without it).
    let checkpointed = |model: &T::Model| {
        burn_models::nn::lean::with_checkpointing_strategy(
            model.clone(),
            burn::tensor::GradientCheckpointingStrategy::Balanced,
        )
    };
    let replicas = if args.devices.is_empty() {
        vec![plain.clone()]
    } else {
        args.devices.iter().map(|d| d.clone().inner()).collect()
    };
    // As HF's Trainer: the batch of a step is the per-device batch times the devices.
    let batch = args.per_device_train_batch_size * replicas.len();
    let compute_dtype = args.compute_dtype(&replicas)?;
    let accum = args.gradient_accumulation_steps;
    let batches_per_epoch = n.div_ceil(batch);
    let steps_per_epoch = batches_per_epoch.div_ceil(accum);
    let max_steps = steps_per_epoch * args.num_train_epochs;
    let warmup = if args.warmup_steps > 0 {
        args.warmup_steps
    } else {
        (args.warmup_ratio * max_steps as f64).ceil() as usize
    };

    // `valid` then `train`: whatever device the model came on, its parameters become leaves
    // of the autodiff twin of `device` with their gradient settings (moving a tracked tensor
    // would make it a graph node instead).
    let mut model = model.valid().to_device(&plain).train();
    let mut optim = build_optimizer(args);
    let mut state = TrainerState {
        epoch: 0,
        global_step: 0,
        max_steps,
        seed: args.seed,
        log_history: Vec::new(),
        grad_scaler: None,
    };
    let mut resumed_from = None;
    if args.resume {
        match latest_checkpoint(&args.output_dir) {
            Some(path) => {
                let (m, o, s) = load_checkpoint(&path, model, optim)?;
                if s.max_steps != max_steps || s.seed != args.seed {
                    return Err(TaskError::InvalidInput(format!(
                        "{} was written by a run of {} steps with seed {}; this one has {max_steps} steps \
                         and seed {}: resume with the same epochs, batch size, accumulation and seed",
                        path.display(),
                        s.max_steps,
                        s.seed,
                        args.seed
                    )));
                }
                model = m.valid().to_device(&plain).train();
                optim = o;
                state = s;
                resumed_from = Some(path);
            }
            None => log::warn!(
                "--resume: no checkpoint in {}, starting from the beginning",
                args.output_dir.display()
            ),
        }
    }
    set_compute_dtype(&mut model, compute_dtype);
    if args.fp16 && state.grad_scaler.is_none() {
        state.grad_scaler = Some(GradScaler::new());
    }
    let mut logger = Logger::open(&args.output_dir, resumed_from.is_some())?;
    if let Some(path) = &resumed_from {
        logger.line(&json!({"resumed_from": path.display().to_string(), "epoch": state.epoch, "step": state.global_step}));
    }

    let bar = if args.progress {
        ProgressBar::new(max_steps as u64)
    } else {
        ProgressBar::with_draw_target(Some(max_steps as u64), ProgressDrawTarget::hidden())
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} steps {elapsed_precise}<{eta_precise} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_position(state.global_step as u64);

    let mut metrics = BTreeMap::new();
    let mut epoch_losses = Vec::new();
    let last_epoch = args
        .stop_after_epochs
        .map_or(args.num_train_epochs, |s| s.min(args.num_train_epochs));
    let mut accumulator = GradientsAccumulator::new();
    for epoch in state.epoch..last_epoch {
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, args.num_train_epochs));
        let order = epoch_order(n, args.seed, epoch);
        let chunks: Vec<&[usize]> = order.chunks(batch).collect();
        let started = Instant::now();
        let (mut epoch_loss, mut epoch_batches) = (0.0, 0usize);
        let (mut window_loss, mut window_batches, mut samples) = (0.0, 0usize, 0usize);
        for (group_index, group) in chunks.chunks(accum).enumerate() {
            let loss_scale = state.grad_scaler.as_ref().map_or(1.0, |g| g.scale);
            for (i, micro) in group.iter().enumerate() {
                let b = group_index * accum + i;
                let seed = mix_seed(args.seed, 2 + epoch as u64, b as u64);
                let scale = loss_scale / group.len() as f64;
                let (value, grads) = if replicas.len() == 1 {
                    ad_device.seed(seed);
                    // Checkpointed layers' dropout seeds on a GPU (see `lean::seed`).
                    burn_models::nn::lean::seed(seed);
                    let loss = if args.gradient_checkpointing {
                        task.loss(&checkpointed(&model), micro, &ad_device)?
                    } else {
                        task.loss(&model, micro, &ad_device)?
                    };
                    let value = f64::from(loss.clone().into_scalar::<f32>());
                    let grads = loss.mul_scalar(scale).backward();
                    (value, GradientsParams::from_grads(grads, &model))
                } else {
                    let shards = Shards {
                        devices: &replicas,
                        main: &ad_device,
                        checkpointing: args.gradient_checkpointing,
                    };
                    sharded_backward(task, &model, micro, &shards, seed, scale)?
                };
                if !value.is_finite() {
                    return Err(TaskError::InvalidInput(format!(
                        "the loss became {value} at epoch {} step {}: lower the learning rate",
                        epoch + 1,
                        state.global_step
                    )));
                }
                accumulator.accumulate(&model, grads);
                epoch_loss += value;
                epoch_batches += 1;
                window_loss += value;
                window_batches += 1;
                samples += micro.len();
            }
            let mut grads = accumulator.grads();
            if loss_scale != 1.0 {
                model.visit(&mut ScaleGrads {
                    grads: &mut grads,
                    factor: 1.0 / loss_scale,
                });
            }
            let grad_norm = clip_grad_norm(&model, &mut grads, args.max_grad_norm);
            let lr = linear_schedule(args.learning_rate, state.global_step, warmup, max_steps);
            let take_step = match &mut state.grad_scaler {
                Some(scaler) => scaler.update(grad_norm.is_finite()),
                None => true,
            };
            if take_step {
                model = optim.step(lr, model, grads);
            } else {
                logger.line(&json!({"step": state.global_step + 1, "skipped": "non-finite fp16 gradients", "loss_scale": loss_scale}));
            }
            state.global_step += 1;
            bar.inc(1);
            let rate = samples as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4} lr {lr:.2e} {rate:.1} samples/s",
                window_loss / window_batches as f64
            ));
            if state.global_step.is_multiple_of(args.logging_steps.max(1))
                || state.global_step == max_steps
            {
                let entry = json!({
                    "epoch": epoch as f64 + (group_index + 1) as f64 / steps_per_epoch as f64,
                    "step": state.global_step,
                    "loss": window_loss / window_batches as f64,
                    "learning_rate": lr,
                    "grad_norm": grad_norm,
                    "train_samples_per_second": rate,
                });
                logger.line(&entry);
                state.log_history.push(entry);
                window_loss = 0.0;
                window_batches = 0;
            }
        }
        let epoch_mean = epoch_loss / epoch_batches.max(1) as f64;
        epoch_losses.push(epoch_mean);
        state.epoch = epoch + 1;

        let eval_started = Instant::now();
        metrics = task.evaluate(
            &model.valid().to_device(&plain),
            &plain,
            args.per_device_eval_batch_size,
        )?;
        let mut entry =
            json!({"epoch": state.epoch, "step": state.global_step, "train_loss": epoch_mean});
        for (k, v) in &metrics {
            entry[format!("eval_{k}")] = json!(v);
        }
        entry["eval_runtime"] = json!(eval_started.elapsed().as_secs_f64());
        entry["train_samples_per_second"] = json!(samples_rate(n, started));
        logger.line(&entry);
        bar.println(format!(
            "epoch {}: train loss {epoch_mean:.4}, {}",
            state.epoch,
            metrics
                .iter()
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        state.log_history.push(entry);
        if args.save_each_epoch {
            let path = save_checkpoint(&args.output_dir, &model, &optim, &state)?;
            logger.line(&json!({"checkpoint": path.display().to_string()}));
        }
    }
    bar.finish_and_clear();
    if metrics.is_empty() {
        // Resumed a finished run: evaluate what was loaded.
        metrics = task.evaluate(
            &model.valid().to_device(&plain),
            &plain,
            args.per_device_eval_batch_size,
        )?;
    }
    let mut model = model.valid().to_device(&plain);
    set_compute_dtype(&mut model, None);
    Ok(TrainOutput {
        model,
        state,
        metrics,
        epoch_losses,
    })
}

/// Splits `batch` into `parts` contiguous shards whose sizes differ by at most one
/// (empty shards when the batch is smaller than `parts`).
pub fn split_batch(batch: &[usize], parts: usize) -> Vec<&[usize]> {
    let parts = parts.max(1);
    let (base, extra) = (batch.len() / parts, batch.len() % parts);
    let mut shards = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        shards.push(&batch[start..start + len]);
        start += len;
    }
    shards
}

/// The loss of `micro` (its mean over the examples) and the gradients of `loss * scale`,
/// computed shard by shard on `devices` and summed on `main` (an autodiff device).
///
/// Shards on distinct devices run in parallel threads; shards that share a device run one
/// after the other on it, so the device's RNG (dropout) is reseeded and drawn in a fixed
/// order and the result does not depend on thread timing.
/// A shard of a data-parallel batch and its position among the shards.
type IndexedShard<'a> = (usize, &'a [usize]);

/// Where the shards of a data-parallel batch run.
struct Shards<'a> {
    devices: &'a [Device],
    /// The autodiff device gradients are summed on.
    main: &'a Device,
    checkpointing: bool,
}

fn sharded_backward<T: TrainTask>(
    task: &T,
    model: &T::Model,
    micro: &[usize],
    shards_on: &Shards,
    seed: u64,
    scale: f64,
) -> Result<(f64, GradientsParams)> {
    let (devices, main) = (shards_on.devices, shards_on.main);
    let checkpointing = shards_on.checkpointing;
    let shards = split_batch(micro, devices.len());
    // Per distinct device: its shards, each with its index in the batch.
    let mut groups: Vec<(Device, Vec<IndexedShard>)> = Vec::new();
    for (i, (shard, device)) in shards.iter().zip(devices).enumerate() {
        if shard.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(d, _)| d == device) {
            Some((_, list)) => list.push((i, shard)),
            None => groups.push((device.clone(), vec![(i, shard)])),
        }
    }
    let total = micro.len() as f64;
    let results: Vec<Result<Vec<(f64, GradientsParams)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|(device, list)| {
                let replica = model.clone();
                scope.spawn(move || {
                    let ad = if checkpointing {
                        device.autodiff().gradient_checkpointing()
                    } else {
                        device.autodiff()
                    };
                    let mut replica = replica.fork(&ad);
                    if checkpointing {
                        replica = burn_models::nn::lean::with_checkpointing_strategy(
                            replica,
                            burn::tensor::GradientCheckpointingStrategy::Balanced,
                        );
                    }
                    let mut out = Vec::with_capacity(list.len());
                    for (i, shard) in list {
                        ad.seed(mix_seed(seed, 0xDA7A, i as u64));
                        burn_models::nn::lean::seed(mix_seed(seed, 0xDA7A, i as u64));
                        let loss = task.loss(&replica, shard, &ad)?;
                        let share = shard.len() as f64 / total;
                        let value = f64::from(loss.clone().into_scalar::<f32>()) * share;
                        let grads = loss.mul_scalar(share * scale).backward();
                        out.push((value, GradientsParams::from_grads(grads, &replica)));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a data-parallel worker panicked"))
            .collect()
    });
    let mut value = 0.0;
    let mut sum = GradientsAccumulator::new();
    for result in results {
        for (v, grads) in result? {
            value += v;
            sum.accumulate(model, grads.to_device(main, model));
        }
    }
    Ok((value, sum.grads()))
}

fn samples_rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_schedule_as_transformers() {
        // get_linear_schedule_with_warmup(opt, 2, 10) with lr 1.0
        let lrs: Vec<f64> = (0..10).map(|s| linear_schedule(1.0, s, 2, 10)).collect();
        let expected = [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125];
        for (a, b) in lrs.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{lrs:?}");
        }
        assert_eq!(linear_schedule(1.0, 0, 0, 4), 1.0);
        assert_eq!(linear_schedule(1.0, 3, 0, 4), 0.25);
    }

    #[test]
    fn batches_split_evenly() {
        let batch: Vec<usize> = (0..7).collect();
        let shards = split_batch(&batch, 3);
        assert_eq!(shards, vec![&[0, 1, 2][..], &[3, 4], &[5, 6]]);
        assert_eq!(split_batch(&batch[..1], 2), vec![&[0][..], &[]]);
    }

    #[test]
    fn epoch_orders_differ_and_repeat() {
        assert_eq!(epoch_order(50, 42, 0), epoch_order(50, 42, 0));
        assert_ne!(epoch_order(50, 42, 0), epoch_order(50, 42, 1));
    }
}
