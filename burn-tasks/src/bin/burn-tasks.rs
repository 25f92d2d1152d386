//! `burn-tasks <TASK> --model <DIR|HUB_ID> [options] <INPUT>...`: runs a pipeline and prints
//! what `transformers.pipeline(TASK)` returns for the same inputs, as JSON on stdout.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use burn_models::hub::HubOptions;
use burn_tasks::pipelines::PipelineSource;
use burn_tasks::pipelines::text_classification::{
    self, FunctionToApply, InputShape, TextClassificationOptions, TextClassificationPipeline, TextInput, TopK,
};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "burn-tasks", version, about = "Hugging Face pipelines in Rust, on Burn")]
struct Cli {
    #[command(subcommand)]
    task: TaskCommand,
}

/// Options every task takes: where the model comes from and where it runs.
#[derive(Args)]
struct ModelArgs {
    /// A local model directory (config.json, weights, tokenizer files) or a hub id.
    /// Defaults to the model HF's pipeline uses for the task.
    #[arg(long)]
    model: Option<String>,
    /// auto, cpu, ndarray, wgpu, cuda or cuda:N (default: $BURN_DEVICE, else the best built in).
    #[arg(long)]
    device: Option<String>,
    /// Hub revision (branch, tag or commit).
    #[arg(long)]
    revision: Option<String>,
    /// Hub token for gated or private models (default: $HF_TOKEN or the cached login).
    #[arg(long)]
    token: Option<String>,
    /// Hub cache directory (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub).
    #[arg(long)]
    cache_dir: Option<std::path::PathBuf>,
    /// Use only cached files (also $HF_HUB_OFFLINE=1).
    #[arg(long)]
    offline: bool,
    /// Inputs run through the model at once.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
}

impl ModelArgs {
    fn source(&self) -> Result<PipelineSource> {
        let device = burn_models::device::parse_device(self.device.as_deref())?;
        let mut hub = HubOptions::from_env();
        hub.revision = self.revision.clone().or(hub.revision);
        hub.token = self.token.clone().or(hub.token);
        hub.cache_dir = self.cache_dir.clone().or(hub.cache_dir);
        hub.offline |= self.offline;
        Ok(PipelineSource {
            model: self.model.clone(),
            hub,
            device,
        })
    }
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Classify texts or text pairs.
    #[command(name = "text-classification", alias = "sentiment-analysis")]
    TextClassification {
        #[command(flatten)]
        model: ModelArgs,
        /// Labels to return per input, best first; `all` (HF's top_k=None) returns every label.
        /// Without it, HF's legacy output: the best label per input.
        #[arg(long)]
        top_k: Option<String>,
        /// default, sigmoid, softmax or none.
        #[arg(long, default_value = "default")]
        function_to_apply: String,
        /// Second text of a pair, for a single INPUT (as {"text": INPUT, "text_pair": ...}).
        #[arg(long)]
        text_pair: Option<String>,
        /// Truncate inputs longer than the model instead of failing.
        #[arg(long)]
        truncation: bool,
        /// Texts to classify; several are one batched call.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
}

fn main() -> ExitCode {
    log::set_logger(&StderrLogger).ok();
    log::set_max_level(log::LevelFilter::Warn);
    match run(Cli::parse()) {
        Ok(json) => {
            println!("{}", serde_json::to_string_pretty(&json).expect("JSON values serialize"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<Value> {
    match cli.task {
        TaskCommand::TextClassification {
            model,
            top_k,
            function_to_apply,
            text_pair,
            truncation,
            inputs,
        } => {
            let top_k = match top_k.as_deref() {
                None => TopK::Unset,
                Some("all" | "none" | "None") => TopK::All,
                Some(n) => TopK::Some(n.parse().context("--top-k takes a number or `all`")?),
            };
            let options = TextClassificationOptions {
                top_k,
                function_to_apply: function_to_apply.parse::<FunctionToApply>()?,
                truncation,
                batch_size: model.batch_size,
            };
            if text_pair.is_some() && inputs.len() != 1 {
                bail!("--text-pair goes with exactly one INPUT");
            }
            let shape = match (&text_pair, inputs.len()) {
                (Some(_), _) => InputShape::SinglePair,
                (None, 1) => InputShape::SingleText,
                _ => InputShape::List,
            };
            let inputs: Vec<TextInput> = inputs
                .into_iter()
                .map(|text| TextInput {
                    text,
                    text_pair: text_pair.clone(),
                })
                .collect();
            let pipeline = TextClassificationPipeline::new(&model.source()?)?;
            let results = pipeline.classify(&inputs, &options)?;
            Ok(text_classification::to_hf_json(results, shape, top_k))
        }
    }
}

/// Library warnings (unused checkpoint tensors, truncation) go to stderr.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("warning: {}", record.args());
        }
    }
    fn flush(&self) {}
}
