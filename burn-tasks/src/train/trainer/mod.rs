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
//! epoch `e` comes from `seed + e` (unless `train_sampling_strategy` is sequential), and
//! dropout masks of micro-batch `b` of epoch `e` from the device RNG reseeded with
//! `(seed, e, b)`. A run resumed from a checkpoint therefore replays
//! exactly what an uninterrupted run would have done.

mod arguments;
mod checkpoint;
mod optim;
mod parallel;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};
use burn_models::nn::{Linears, set_compute_dtype};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

pub use arguments::{SamplingStrategy, TrainingArguments};
pub use checkpoint::{TrainerState, latest_checkpoint};
use checkpoint::{load_checkpoint, save_checkpoint};
use optim::ScaleGrads;
pub use optim::{GradScaler, build_optimizer, clip_grad_norm, linear_schedule};
pub use parallel::split_batch;
use parallel::{Shards, sharded_backward};

use super::models::io_error;
use crate::error::{Result, TaskError};

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
        return Err(TaskError::Dataset("the training set is empty".into()));
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
                    return Err(TaskError::Checkpoint(format!(
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
        let order = match args.train_sampling_strategy {
            SamplingStrategy::Random => epoch_order(n, args.seed, epoch),
            SamplingStrategy::Sequential => (0..n).collect(),
        };
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
                    return Err(TaskError::option(
                        "learning_rate",
                        format!(
                            "the loss became {value} at epoch {} step {}: lower the learning rate",
                            epoch + 1,
                            state.global_step
                        ),
                    ));
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

fn samples_rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_orders_differ_and_repeat() {
        assert_eq!(epoch_order(50, 42, 0), epoch_order(50, 42, 0));
        assert_ne!(epoch_order(50, 42, 0), epoch_order(50, 42, 1));
    }
}
