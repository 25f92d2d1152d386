//! `burn-tasks <TASK> --model <DIR|HUB_ID> [options] <INPUT>...`: runs a pipeline and prints
//! what `transformers.pipeline(TASK)` returns for the same inputs, as JSON on stdout.
//!
//! The command line is built from the task registry: every task option is a flag named after
//! HF's keyword argument (`top_k` is `--top-k`), and the flags become the keyword arguments of
//! the same `pipeline(task)(inputs, **kwargs)` call the library makes.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use burn_models::hub::HubOptions;
use burn_tasks::pipelines::kwargs::cli_value;
use burn_tasks::pipelines::{InputKind, OptionSpec, TASKS, TaskSpec, ValueKind, pipeline};
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{Map, Value};

fn main() -> ExitCode {
    burn_models::malloc::tune_allocator();
    log::set_logger(&StderrLogger).ok();
    log::set_max_level(log::LevelFilter::Warn);
    let args: Vec<String> = std::env::args().collect();
    let (args, task_name) = normalize_args(args);
    let matches = match command().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => error.exit(),
    };
    match run(&matches, task_name) {
        Ok(json) => {
            use std::io::Write;
            let text = serde_json::to_string_pretty(&json).expect("JSON values serialize");
            // A reader that stops early (`| head`) closes the pipe: not an error of ours.
            match writeln!(std::io::stdout().lock(), "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: writing the result: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The flags every task takes: where the model comes from and where it runs.
const MODEL_FLAGS: &[(&str, &str)] = &[
    (
        "model",
        "A local model directory (config.json, weights, tokenizer files) or a hub id; defaults \
         to the model HF's pipeline uses for the task",
    ),
    (
        "device",
        "auto, cpu, ndarray, wgpu, cuda or cuda:N (default: $BURN_DEVICE, else the best built in)",
    ),
    ("revision", "Hub revision (branch, tag or commit)"),
    (
        "token",
        "Hub token for gated or private models (default: $HF_TOKEN or the cached login)",
    ),
    (
        "cache-dir",
        "Hub cache directory (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)",
    ),
    (
        "adapter",
        "A PEFT LoRA adapter directory (adapter_config.json, adapter_model.safetensors) applied \
         on top of --model",
    ),
    (
        "quantize",
        "int8: dynamic int8 linear layers on the CPU (int8 weights per output row, activations \
         quantized per row as they come), as PyTorch's quantize_dynamic; default f32",
    ),
];

/// The command line of every task in the registry.
fn command() -> Command {
    let mut cli = Command::new("burn-tasks")
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "Hugging Face pipelines in Rust, on Burn: prints what transformers.pipeline(TASK) \
             returns, as JSON",
        )
        .subcommand_required(true)
        .arg_required_else_help(true);
    for task in TASKS {
        cli = cli.subcommand(task_command(task));
    }
    cli
}

fn task_command(task: &'static TaskSpec) -> Command {
    let mut sub = Command::new(task.name)
        .about(task.summary)
        .visible_aliases(task.aliases.iter().copied());
    for (name, help) in MODEL_FLAGS {
        let value = match *name {
            "model" => "DIR|HUB_ID",
            "adapter" | "cache-dir" => "DIR",
            "device" => "DEVICE",
            "quantize" => "int8",
            _ => "TEXT",
        };
        sub = sub.arg(Arg::new(*name).long(*name).help(*help).value_name(value));
    }
    sub = sub.arg(
        Arg::new("offline")
            .long("offline")
            .help("Use only cached hub files (also $HF_HUB_OFFLINE=1)")
            .value_name("true|false"),
    );
    for option in task.options {
        sub = sub.arg(option_arg(option));
    }
    let inputs = Arg::new("inputs")
        .action(ArgAction::Append)
        .value_name("INPUT");
    let inputs = match task.inputs {
        InputKind::Texts => inputs
            .required(true)
            .help("Texts; several are one batched call"),
        InputKind::Images => inputs
            .required(true)
            .help("Image files (PNG, JPEG, WebP, BMP); several are one batched call"),
        InputKind::AudioFiles => inputs
            .required(true)
            .help("Audio files (WAV, MP3, FLAC, OGG/Vorbis); several give a list"),
        InputKind::Image => inputs.num_args(0..=1).help("The image file"),
        // The inputs are options (`--question`, `--context`).
        InputKind::Keywords => return sub,
    };
    sub.arg(inputs)
}

fn option_arg(option: &'static OptionSpec) -> Arg {
    let flag = option.name.replace('_', "-");
    let arg = Arg::new(option.name)
        .long(flag)
        .help(option.help)
        .allow_hyphen_values(option.value == ValueKind::Number);
    match option.value {
        ValueKind::Texts => arg.action(ArgAction::Append).value_name("TEXT"),
        ValueKind::Bool => arg.value_name("true|false"),
        ValueKind::Count => arg.value_name("N"),
        ValueKind::CountOrNone => arg.value_name("N|all"),
        ValueKind::Number => arg.value_name("X"),
        ValueKind::Text => arg.value_name("TEXT"),
        ValueKind::List => arg.value_name("A,B,..."),
        ValueKind::BoolOrText => arg.value_name("true|false|WORD"),
        ValueKind::SecondsOrPair => arg.value_name("S|LEFT,RIGHT"),
        ValueKind::JsonFile => arg.value_name("FILE"),
        ValueKind::Json => arg.value_name("JSON"),
    }
}

/// `translation_en_to_de` is a task name of its own in HF: it runs `translation` with those
/// languages. And a boolean flag given alone (`--truncation`) means `--truncation=true`.
fn normalize_args(mut args: Vec<String>) -> (Vec<String>, Option<String>) {
    let mut task_name = None;
    if let Some(name) = args.get(1).cloned()
        && name.starts_with("translation_")
        && let Ok(task) = burn_tasks::pipelines::task_spec(&name)
    {
        args[1] = task.name.to_string();
        task_name = Some(name);
    }
    let Some(task) = args
        .get(1)
        .and_then(|name| TASKS.iter().find(|t| t.answers_to(name)))
    else {
        return (args, task_name);
    };
    let is_flag = |token: &str| {
        let name = token.strip_prefix("--").map(|n| n.replace('-', "_"));
        name.is_some_and(|name| {
            name == "offline"
                || task
                    .option(&name)
                    .is_some_and(|o| o.value == ValueKind::Bool)
        })
    };
    let is_bool = |token: Option<&String>| {
        token.is_some_and(|t| matches!(t.as_str(), "true" | "false" | "True" | "False"))
    };
    let mut normalized = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let token = &args[i];
        if token == "--" {
            normalized.extend(args[i..].iter().cloned());
            break;
        }
        if is_flag(token) && !is_bool(args.get(i + 1)) {
            normalized.push(format!("{token}=true"));
        } else {
            normalized.push(token.clone());
        }
        i += 1;
    }
    (normalized, task_name)
}

fn run(matches: &ArgMatches, task_name: Option<String>) -> Result<Value> {
    let (name, args) = matches.subcommand().context("a task is required")?;
    let task = burn_tasks::pipelines::task_spec(name)?;
    let mut kwargs = Map::new();
    for option in task.options {
        let values: Vec<&String> = match args.get_many::<String>(option.name) {
            Some(values) => values.collect(),
            None => continue,
        };
        let mut json = values
            .iter()
            .map(|text| cli_value(option, text))
            .collect::<burn_tasks::Result<Vec<Value>>>()?;
        let value = if json.len() == 1 {
            json.pop().expect("one value")
        } else {
            Value::Array(json)
        };
        kwargs.insert(option.name.to_string(), value);
    }
    let positional: Vec<Value> = args
        .try_get_many::<String>("inputs")
        .ok()
        .flatten()
        .map(|values| values.map(|v| Value::from(v.as_str())).collect())
        .unwrap_or_default();
    let inputs = match (task.inputs, positional.len()) {
        (_, 0) => Value::Null,
        (_, 1) => positional.into_iter().next().expect("one input"),
        _ => Value::Array(positional),
    };
    if inputs.is_null() && task.inputs == InputKind::Image && !kwargs.contains_key("image") {
        bail!("{task} needs an image: give its file as the input");
    }

    let text = |name: &str| args.get_one::<String>(name).cloned();
    let mut hub = HubOptions::from_env();
    hub.revision = text("revision").or(hub.revision);
    hub.token = text("token").or(hub.token);
    hub.cache_dir = text("cache-dir").map(Into::into).or(hub.cache_dir);
    if let Some(offline) = text("offline") {
        hub.offline |= matches!(offline.as_str(), "true" | "True");
    }
    let device = burn_models::device::parse_device(text("device").as_deref())?;
    let mut builder = pipeline(task_name.as_deref().unwrap_or(name))?
        .device(device)
        .hub(hub);
    if let Some(model) = text("model") {
        builder = builder.model(model);
    }
    if let Some(adapter) = text("adapter") {
        builder = builder.adapter(adapter);
    }
    if let Some(quantization) = text("quantize") {
        builder = builder.quantize(quantization.parse()?);
    }
    Ok(builder.build()?.call(&inputs, &Value::Object(kwargs))?)
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
