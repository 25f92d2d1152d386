//! `cargo xtask train-whisper-lora`: LoRA fine-tuning of Whisper on an int8 base (the PEFT
//! int8 Whisper notebook: whisper-large-v2, Common Voice 11 zh-CN, r=4, alpha=64, q_proj/v_proj,
//! batch 64, lr 1e-3, 1 epoch), saving a PEFT adapter.

use std::path::PathBuf;

use anyhow::Result;
use burn_peft::{Bias, LoraConfig, Quantization};
use burn_tasks::train::speech::{
    WhisperLoraRecipe, model_config_json, run_whisper_lora, trainable_parameters_line,
};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct WhisperLoraArgs {
    /// Base model directory or hub id.
    #[arg(long, default_value = "openai/whisper-large-v2")]
    model: String,
    /// Common Voice release directory ({split}.tsv + clips/), parquet files, or a hub dataset id.
    #[arg(long, default_value = "mozilla-foundation/common_voice_11_0")]
    data: String,
    /// Dataset configuration (Common Voice locale).
    #[arg(long, default_value = "zh-CN")]
    language_abbr: String,
    /// Whisper language (name or code).
    #[arg(long, default_value = "Chinese (China)")]
    language: String,
    #[arg(long, default_value = "transcribe")]
    task: String,
    /// Hub token for the gated dataset (default: HF_TOKEN).
    #[arg(long)]
    token: Option<String>,
    #[arg(long, default_value = "whisper-large-v2-lora")]
    output: PathBuf,
    #[arg(long, default_value_t = 4)]
    r: usize,
    #[arg(long, default_value_t = 64.0)]
    lora_alpha: f64,
    #[arg(long, value_delimiter = ',', default_value = "q_proj,v_proj")]
    target_modules: Vec<String>,
    #[arg(long, default_value_t = 0.05)]
    lora_dropout: f64,
    /// Base weights: int8, nf4 or f32.
    #[arg(long, default_value = "int8")]
    quantization: String,
    /// Full f32 fine-tuning instead of LoRA (the baseline).
    #[arg(long)]
    full_finetune: bool,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    #[arg(long)]
    eval_batch_size: Option<usize>,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 50)]
    warmup_steps: usize,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    #[arg(long, default_value_t = 10)]
    logging_steps: usize,
    #[arg(long, default_value_t = 640)]
    train_samples: usize,
    #[arg(long, default_value_t = 320)]
    eval_samples: usize,
    /// Use the whole splits instead of --train-samples/--eval-samples.
    #[arg(long)]
    full: bool,
    #[arg(long, default_value = "train")]
    train_split: String,
    #[arg(long, default_value = "test")]
    eval_split: String,
    #[arg(long, default_value_t = 128)]
    generation_max_length: usize,
    /// Evaluate the loss only (no generation, no CER/WER).
    #[arg(long)]
    no_eval_generate: bool,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Continue from the latest checkpoint in --output.
    #[arg(long)]
    resume: bool,
    /// Stop after this many epochs (continue with --resume).
    #[arg(long)]
    stop_after_epochs: Option<usize>,
    /// `no`: write no checkpoints (`save_strategy="no"`); `epoch` (default) after each epoch.
    #[arg(long, default_value = "epoch")]
    save_strategy: String,
    /// Recompute activations in the backward pass (HF's `gradient_checkpointing=True`): Whisper's
    /// encoder and decoder layers are run again from their inputs instead of keeping their
    /// activations.
    #[arg(long)]
    gradient_checkpointing: bool,
    /// Micro-batches whose gradients are summed before each optimizer step (HF's
    /// `gradient_accumulation_steps`): the effective batch is --batch-size times this, the
    /// memory that of one --batch-size.
    #[arg(long, default_value_t = 1)]
    gradient_accumulation_steps: usize,
    /// Print PEFT's trainable-parameters line from the model's config alone and exit.
    #[arg(long)]
    dry_run: bool,
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
    #[arg(long)]
    quiet: bool,
}

impl WhisperLoraArgs {
    fn lora(&self) -> LoraConfig {
        let targets: Vec<&str> = self.target_modules.iter().map(String::as_str).collect();
        LoraConfig {
            lora_dropout: self.lora_dropout,
            bias: Bias::None,
            ..LoraConfig::new(self.r, self.lora_alpha, &targets)
        }
    }
}

pub fn run(args: WhisperLoraArgs) -> Result<()> {
    if let Some(token) = &args.token {
        // SAFETY: set before any thread is spawned; the hub client reads it.
        unsafe { std::env::set_var("HF_TOKEN", token) };
    }
    let lora = args.lora();
    if args.dry_run {
        let config = model_config_json(&args.model)?;
        println!("{}", trainable_parameters_line(&config, &lora)?);
        return Ok(());
    }
    let quantization = match args.quantization.as_str() {
        "int8" => Some(Quantization::Int8 {
            threshold: Some(burn_peft::quant::LLM_INT8_THRESHOLD),
        }),
        "nf4" => Some(Quantization::Nf4),
        "f32" | "none" => None,
        other => anyhow::bail!("--quantization {other}: expected int8, nf4 or f32"),
    };
    let devices = match &args.devices {
        Some(list) => burn_models::device::parse_devices(list)?,
        None => Vec::new(),
    };
    let device = match (&args.device, devices.first()) {
        (None, Some(first)) => first.clone(),
        _ => burn_models::device::parse_device(args.device.as_deref())?,
    };
    let defaults = WhisperLoraRecipe::default();
    let recipe = WhisperLoraRecipe {
        model: args.model.clone(),
        data: args.data.clone(),
        dataset_config: Some(args.language_abbr.clone()),
        language: args.language.clone(),
        task: args.task.clone(),
        train_split: args.train_split.clone(),
        eval_split: args.eval_split.clone(),
        train_samples: (!args.full).then_some(args.train_samples),
        eval_samples: (!args.full).then_some(args.eval_samples),
        lora,
        quantization,
        full_finetune: args.full_finetune,
        generation_max_length: args.generation_max_length,
        eval_generate: !args.no_eval_generate,
        args: burn_tasks::train::TrainingArguments {
            output_dir: args.output.clone(),
            num_train_epochs: args.epochs,
            per_device_train_batch_size: args.batch_size,
            per_device_eval_batch_size: args.eval_batch_size.unwrap_or(args.batch_size),
            learning_rate: args.lr,
            warmup_steps: args.warmup_steps,
            logging_steps: args.logging_steps,
            seed: args.seed,
            resume: args.resume,
            stop_after_epochs: args.stop_after_epochs,
            progress: !args.quiet,
            save_each_epoch: args.save_strategy != "no",
            devices,
            fp16: args.fp16,
            bf16: args.bf16,
            gradient_checkpointing: args.gradient_checkpointing,
            gradient_accumulation_steps: args.gradient_accumulation_steps,
            ..defaults.args
        },
    };
    let out = run_whisper_lora(&recipe, &device)?;
    eprintln!(
        "train-whisper-lora: {} training / {} evaluation clips, {} optimizer steps",
        out.train_examples, out.eval_examples, out.global_step
    );
    eprintln!("adapter saved to {}", out.adapter_dir.display());
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "recipe": "train-whisper-lora",
            "trainable": out.trainable_line,
            "metrics": out.metrics,
            "epoch_losses": out.epoch_losses,
            "logged_losses": out.logged_losses,
            "global_step": out.global_step,
            "adapter_dir": out.adapter_dir,
        }))?
    );
    Ok(())
}
