//! `cargo xtask train-yelp` and `cargo xtask train-squad [--v2]`: the Hugging Face course's
//! fine-tuning recipes with their defaults, on any device, printing the final metrics.

use std::path::PathBuf;

use anyhow::Result;
use burn_tasks::train::features::QaWindows;
use burn_tasks::train::{
    QuestionAnsweringRecipe, RecipeOutput, TextClassificationRecipe, TrainingArguments,
    run_question_answering, run_text_classification,
};
use serde_json::json;

/// Options both recipes share; unset ones take the recipe's default.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Model directory or hub id.
    #[arg(long)]
    model: Option<String>,
    /// Dataset: a file (parquet, JSON lines, CSV), a directory of split files, or a hub id.
    #[arg(long)]
    data: Option<String>,
    /// Output directory: checkpoints, train.log and the final model (HF layout).
    #[arg(long)]
    output: Option<PathBuf>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Per-device training batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    eval_batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    weight_decay: Option<f64>,
    #[arg(long, default_value_t = 0)]
    warmup_steps: usize,
    #[arg(long, default_value_t = 0.0)]
    warmup_ratio: f64,
    #[arg(long, default_value_t = 1)]
    gradient_accumulation_steps: usize,
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Training examples to use after a seeded shuffle (`all` for every one).
    #[arg(long)]
    train_samples: Option<String>,
    /// Evaluation examples to use after a seeded shuffle (`all` for every one).
    #[arg(long)]
    eval_samples: Option<String>,
    /// Continue from the latest checkpoint in the output directory.
    #[arg(long)]
    resume: bool,
    /// Stop after this many epochs (the run can be continued with --resume).
    #[arg(long)]
    stop_after_epochs: Option<usize>,
    #[arg(long, default_value_t = 10)]
    logging_steps: usize,
    /// auto, cpu, ndarray, wgpu, cuda, cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// Data parallelism: split each batch over these devices (`cuda:0,cuda:1`); the batch
    /// size is per device. The first device holds the model unless --device says otherwise.
    #[arg(long)]
    devices: Option<String>,
    /// Mixed precision: f16 products with dynamic loss scaling (where the device supports f16).
    #[arg(long)]
    fp16: bool,
    /// Mixed precision: bf16 products (where the device supports bf16).
    #[arg(long)]
    bf16: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct YelpArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Padding/truncation length (the tokenizer's model_max_length, at most 512, by default).
    #[arg(long)]
    max_length: Option<usize>,
    #[arg(long, default_value_t = 5)]
    num_labels: usize,
    #[arg(long, default_value = "train")]
    train_split: String,
    #[arg(long, default_value = "test")]
    eval_split: String,
}

#[derive(clap::Args, Debug)]
pub struct SquadArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// SQuAD 2.0: `rajpurkar/squad_v2`, unanswerable questions, v2 metrics.
    #[arg(long)]
    v2: bool,
    #[arg(long, default_value_t = 384)]
    max_length: usize,
    #[arg(long, default_value_t = 128)]
    doc_stride: usize,
    #[arg(long, default_value_t = 20)]
    n_best_size: usize,
    #[arg(long, default_value_t = 30)]
    max_answer_length: usize,
    #[arg(long, default_value_t = 0.0)]
    null_score_diff_threshold: f64,
    #[arg(long, default_value = "train")]
    train_split: String,
    #[arg(long, default_value = "validation")]
    eval_split: String,
}

fn samples(value: &Option<String>, default: Option<usize>) -> Result<Option<usize>> {
    match value.as_deref() {
        None => Ok(default),
        Some("all") => Ok(None),
        Some(n) => Ok(Some(n.parse().map_err(|_| {
            anyhow::anyhow!("--train-samples/--eval-samples: `{n}` is not a number or `all`")
        })?)),
    }
}

impl CommonArgs {
    fn apply(&self, defaults: TrainingArguments) -> TrainingArguments {
        TrainingArguments {
            output_dir: self.output.clone().unwrap_or(defaults.output_dir),
            num_train_epochs: self.epochs.unwrap_or(defaults.num_train_epochs),
            per_device_train_batch_size: self
                .batch_size
                .unwrap_or(defaults.per_device_train_batch_size),
            per_device_eval_batch_size: self
                .eval_batch_size
                .or(self.batch_size)
                .unwrap_or(defaults.per_device_eval_batch_size),
            learning_rate: self.lr.unwrap_or(defaults.learning_rate),
            weight_decay: self.weight_decay.unwrap_or(defaults.weight_decay),
            warmup_steps: self.warmup_steps,
            warmup_ratio: self.warmup_ratio,
            gradient_accumulation_steps: self.gradient_accumulation_steps,
            max_grad_norm: self.max_grad_norm,
            seed: self.seed,
            resume: self.resume,
            stop_after_epochs: self.stop_after_epochs,
            logging_steps: self.logging_steps,
            progress: !self.quiet,
            fp16: self.fp16,
            bf16: self.bf16,
            ..defaults
        }
    }

    /// The main device and the data-parallel devices (empty: the main device alone).
    fn devices(&self) -> Result<(burn::tensor::Device, Vec<burn::tensor::Device>)> {
        let devices = match &self.devices {
            Some(list) => burn_models::device::parse_devices(list)?,
            None => Vec::new(),
        };
        let main = match (&self.device, devices.first()) {
            (None, Some(first)) => first.clone(),
            _ => burn_models::device::parse_device(self.device.as_deref())?,
        };
        Ok((main, devices))
    }
}

fn report(name: &str, out: &RecipeOutput) -> Result<()> {
    if !out.newly_initialized.is_empty() {
        eprintln!(
            "newly initialized from scratch: {}",
            out.newly_initialized.join(", ")
        );
    }
    eprintln!(
        "{name}: {} training / {} evaluation features, {} optimizer steps; epoch losses {:?}",
        out.train_features, out.eval_features, out.global_step, out.epoch_losses
    );
    eprintln!("model saved to {}", out.model_dir.display());
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "recipe": name,
            "metrics": out.metrics,
            "epoch_losses": out.epoch_losses,
            "global_step": out.global_step,
            "model_dir": out.model_dir,
        }))?
    );
    Ok(())
}

pub fn yelp(args: YelpArgs) -> Result<()> {
    let (device, devices) = args.common.devices()?;
    let defaults = TextClassificationRecipe::default();
    let recipe = TextClassificationRecipe {
        model: args.common.model.clone().unwrap_or(defaults.model.clone()),
        data: args.common.data.clone().unwrap_or(defaults.data.clone()),
        train_split: args.train_split.clone(),
        eval_split: args.eval_split.clone(),
        train_samples: samples(&args.common.train_samples, defaults.train_samples)?,
        eval_samples: samples(&args.common.eval_samples, defaults.eval_samples)?,
        num_labels: args.num_labels,
        max_length: args.max_length,
        args: TrainingArguments {
            devices,
            ..args.common.apply(defaults.args.clone())
        },
        ..defaults
    };
    let out = run_text_classification(&recipe, &device)?;
    report("train-yelp", &out)
}

pub fn squad(args: SquadArgs) -> Result<()> {
    let (device, devices) = args.common.devices()?;
    let defaults = QuestionAnsweringRecipe::default();
    let default_data = if args.v2 {
        "rajpurkar/squad_v2".to_string()
    } else {
        defaults.data.clone()
    };
    let recipe = QuestionAnsweringRecipe {
        model: args.common.model.clone().unwrap_or(defaults.model.clone()),
        data: args.common.data.clone().unwrap_or(default_data),
        train_split: args.train_split.clone(),
        eval_split: args.eval_split.clone(),
        train_samples: samples(&args.common.train_samples, defaults.train_samples)?,
        eval_samples: samples(&args.common.eval_samples, defaults.eval_samples)?,
        windows: QaWindows {
            max_length: args.max_length,
            doc_stride: args.doc_stride,
        },
        version_2_with_negative: args.v2,
        n_best_size: args.n_best_size,
        max_answer_length: args.max_answer_length,
        null_score_diff_threshold: args.null_score_diff_threshold,
        args: TrainingArguments {
            devices,
            ..args.common.apply(defaults.args.clone())
        },
        ..defaults
    };
    let out = run_question_answering(&recipe, &device)?;
    report(
        if args.v2 {
            "train-squad --v2"
        } else {
            "train-squad"
        },
        &out,
    )
}
