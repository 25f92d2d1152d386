//! Side-by-side benchmark: each workload on our side, then the same workload in PyTorch
//! (`xtask/bench/bench_torch.py`, on the very same checkpoint directory), medians of several
//! runs after warm-up, same thread count, reported as a ratio.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use burn_models::auto;
use burn_models::heads::EncoderInput;
use burn_models::hub::ModelDir;
use serde_json::{Value, json};

use crate::bench_speech::{LORA_STEP_LABELS, LORA_STEP_WORKLOAD};
use crate::workload::{Workload, bench_pixels, transformer_layer_shapes};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Run only workloads whose name contains one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Skip workloads whose name contains one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Our device (auto, cpu, wgpu, cuda).
    #[arg(long)]
    device: Option<String>,
    /// Timed runs per workload and side in each round (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Rounds per workload: each round runs every side once, ours first in even rounds and
    /// last in odd ones, so load from other processes falls on both sides alike; a ratio is
    /// the median of the rounds' ratios, a time the median of the rounds' medians.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Threads for PyTorch (ours uses rayon's default, the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Skip the PyTorch side.
    #[arg(long)]
    no_torch: bool,
    /// Internal: run only our side of this workload and print its figures as JSON (each
    /// workload runs in its own process so that peak memory is its own).
    #[arg(long, hide = true)]
    worker: Option<String>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench/results.json")]
    output: PathBuf,
}

/// Beam search of a distilbart-sized model: `GENERATE_NEW_TOKENS` new tokens, 4 beams.
const GENERATE_WORKLOAD: &str = "distilbart-generate-beam4-64new-1x256";
const GENERATE_NEW_TOKENS: usize = 64;
const GENERATE_BEAMS: usize = 4;

pub(crate) fn workloads() -> Vec<Workload> {
    let bert_base = json!({
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": 30522,
        "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12
    });
    let distilbert_base = json!({
        "model_type": "distilbert", "architectures": ["DistilBertModel"], "vocab_size": 30522,
        "dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072, "activation": "gelu",
        "max_position_embeddings": 512
    });
    // sshleifer/distilbart-cnn-12-6's shape; random weights, so `generate` runs to its length.
    let distilbart = json!({
        "model_type": "bart", "architectures": ["BartForConditionalGeneration"],
        "vocab_size": 50264, "d_model": 1024, "encoder_layers": 12, "decoder_layers": 6,
        "encoder_attention_heads": 16, "decoder_attention_heads": 16, "encoder_ffn_dim": 4096,
        "decoder_ffn_dim": 4096, "activation_function": "gelu", "max_position_embeddings": 1024,
        "scale_embedding": false, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
        "decoder_start_token_id": 2, "forced_bos_token_id": 0, "forced_eos_token_id": 2,
        "is_encoder_decoder": true
    });
    let vit_base = json!({
        "model_type": "vit", "architectures": ["ViTModel"], "hidden_size": 768,
        "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
        "hidden_act": "gelu", "image_size": 224, "patch_size": 16, "num_channels": 3,
        "layer_norm_eps": 1e-12, "qkv_bias": true
    });
    // microsoft/layoutlm-base-uncased: BERT-base plus the 2-D box tables.
    let mut layoutlm_base = bert_base.clone();
    layoutlm_base["model_type"] = json!("layoutlm");
    layoutlm_base["architectures"] = json!(["LayoutLMModel"]);
    layoutlm_base["max_2d_position_embeddings"] = json!(1024);
    let mut all = vec![
        Workload::new(GENERATE_WORKLOAD, distilbart, 1, 256),
        // `seq` is the image side for vision workloads: 8 images of 224x224.
        Workload::new("vit-base-forward-8x224", vit_base, 8, 224),
        Workload::new("bert-base-forward-8x128", bert_base.clone(), 8, 128),
        // The same with int8 linear layers, on the f32 row's checkpoint.
        Workload {
            int8: true,
            checkpoint: "bert-base-forward-8x128",
            ..Workload::new("bert-base-forward-8x128-int8", bert_base.clone(), 8, 128)
        },
        Workload::new("distilbert-base-forward-8x128", distilbert_base, 8, 128),
        // Token ids and one box per token (see `bench_boxes`).
        Workload::new("layoutlm-base-forward-8x128", layoutlm_base, 8, 128),
        // One 800x1066 image (`seq` unused: see `bench_vision`).
        Workload::new(
            "detr-resnet50-forward-1x800x1066",
            crate::bench_vision::detr_resnet50(),
            1,
            crate::bench_vision::DETR_HEIGHT,
        ),
        // One optimizer step of fine-tuning (forward, loss, backward, clipping, AdamW) of a
        // fresh 5-label classification head on BERT-base: the Yelp recipe's step.
        Workload::new(TRAIN_STEP_WORKLOAD, bert_base, 8, 128),
    ];
    // Whisper: 30 s of audio, encoder + 32 generated tokens; greedy and beam 5, f32 and int8.
    all.extend(crate::bench_speech::workloads());
    // One int8 + LoRA training step of whisper-small, on the whisper-small row's checkpoint.
    all.push(Workload {
        checkpoint: "whisper-small-30s-32tok",
        ..Workload::new(
            LORA_STEP_WORKLOAD,
            crate::bench_speech::lora_step_config(),
            1,
            1,
        )
    });
    all
}

pub fn run(args: BenchArgs) -> Result<()> {
    let device = burn_models::device::parse_device(args.device.as_deref())?;
    if let Some(name) = &args.worker {
        let workload = workloads()
            .into_iter()
            .find(|w| w.name == name)
            .with_context(|| format!("no workload {name}"))?;
        let dir = Path::new("target/bench/models").join(workload.checkpoint);
        let timing = bench_ours(&workload, &dir, &device, args.runs)?;
        println!(
            "{}",
            json!({"median_ms": timing.median_ms, "load_ms": timing.load_ms, "peak_rss_mb": peak_rss_mb()})
        );
        return Ok(());
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let root = PathBuf::from("target/bench/models");
    let mut rows = Vec::new();
    for workload in selected_workloads(&args.filter, &args.skip) {
        let dir = root.join(workload.checkpoint);
        write_random_checkpoint(&dir, &workload.config)?;
        let with_ct2 = !args.no_torch
            && workload.config["model_type"] == "whisper"
            && workload.name != LORA_STEP_WORKLOAD;
        let mut rounds = Vec::new();
        for round in 0..args.rounds.max(1) {
            let peers = |args: &BenchArgs| -> Result<(Option<Timing>, Option<Timing>)> {
                let torch = if args.no_torch {
                    None
                } else {
                    eprintln!("{} round {round}: pytorch...", workload.name);
                    bench_torch(&workload, &dir, args.runs, threads)?
                };
                let ct2 = if with_ct2 {
                    eprintln!("{} round {round}: ctranslate2...", workload.name);
                    bench_ct2(&workload, &dir, args.runs, threads)?
                } else {
                    None
                };
                Ok((torch, ct2))
            };
            let ours_run = |args: &BenchArgs| {
                eprintln!("{} round {round}: ours...", workload.name);
                bench_ours_in_process(workload.name, args)
            };
            let (ours, (torch, ct2)) = if round % 2 == 0 {
                let ours = ours_run(&args)?;
                (ours, peers(&args)?)
            } else {
                let peers = peers(&args)?;
                (ours_run(&args)?, peers)
            };
            rounds.push(Round { ours, torch, ct2 });
        }
        rows.push(Row::from_rounds(workload.name, rounds));
    }
    print_table(&rows);
    for Row {
        name, ours, torch, ..
    } in &rows
    {
        if *name == GENERATE_WORKLOAD {
            let rate = |ms: f64| GENERATE_NEW_TOKENS as f64 / (ms / 1e3);
            println!(
                "{name}: {:.1} tokens/s ours, {} tokens/s transformers generate()",
                rate(ours.median_ms),
                torch
                    .as_ref()
                    .map_or("-".into(), |t| format!("{:.1}", rate(t.median_ms)))
            );
        }
        if *name == LORA_STEP_WORKLOAD {
            println!(
                "\n{name}: ours is int8 (LLM.int8, threshold 6.0) + LoRA; the PyTorch column is an \
                 f32 base + PEFT LoRA (bitsandbytes' int8 needs CUDA), so its ratio is not like for like"
            );
        }
        if *name == TRAIN_STEP_WORKLOAD {
            let batch = workloads()
                .iter()
                .find(|w| w.name == *name)
                .map_or(f64::NAN, |w| w.batch as f64);
            let rate = |t: &Timing| batch * 1e3 / t.median_ms;
            println!(
                "\n{name}: training throughput {:.2} samples/s ours, {} PyTorch",
                rate(ours),
                torch
                    .as_ref()
                    .map_or("-".to_string(), |t| format!("{:.2} samples/s", rate(t)))
            );
        }
    }
    let json: Vec<Value> = rows
        .iter()
        .map(|row| {
            let Row { name, ours, torch, ct2, ratio, ct2_ratio, rounds } = row;
            json!({
                "workload": name,
                "ours_ms": ours.median_ms, "ours_load_ms": ours.load_ms,
                "torch_ms": torch.as_ref().map(|t| t.median_ms),
                "torch_load_ms": torch.as_ref().map(|t| t.load_ms),
                "ours_peak_rss_mb": ours.peak_rss_mb,
                "torch_peak_rss_mb": torch.as_ref().map(|t| t.peak_rss_mb),
                "ratio": ratio,
                "ct2_ms": ct2.as_ref().map(|t| t.median_ms),
                "ct2_load_ms": ct2.as_ref().map(|t| t.load_ms),
                "ct2_peak_rss_mb": ct2.as_ref().map(|t| t.peak_rss_mb),
                "ct2_ratio": ct2_ratio,
                "rounds": rounds.iter().map(|r| json!({
                    "ours_ms": r.ours.median_ms,
                    "torch_ms": r.torch.as_ref().map(|t| t.median_ms),
                    "ct2_ms": r.ct2.as_ref().map(|t| t.median_ms),
                })).collect::<Vec<_>>(),
                "torch_note": if *name == LORA_STEP_WORKLOAD {
                    Some("f32 base + PEFT LoRA (bitsandbytes int8 needs CUDA)")
                } else if name.ends_with("-int8") {
                    Some("torch.ao.quantization.quantize_dynamic (qint8 Linear); CTranslate2 compute_type int8")
                } else {
                    None
                },
            })
        })
        .collect();
    if let Some(parent) = args.output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let report = json!({
        "device": format!("{device:?}"),
        "threads": threads,
        "runs_per_round": args.runs,
        "rounds": args.rounds.max(1),
        "results": json,
    });
    std::fs::write(&args.output, serde_json::to_string_pretty(&report)?)?;
    eprintln!("results written to {}", args.output.display());
    Ok(())
}

/// The workloads whose name contains one of `filter` (all when it is empty), in the order of
/// `filter`'s names, less those whose name contains one of `skip`.
fn selected_workloads(filter: &[String], skip: &[String]) -> Vec<Workload> {
    let mut all: Vec<Option<Workload>> = workloads().into_iter().map(Some).collect();
    let named = |name: &str, names: &[String]| names.iter().any(|n| name.contains(n.as_str()));
    let mut selected = Vec::new();
    let everything = [String::new()];
    let filter = if filter.is_empty() {
        &everything[..]
    } else {
        filter
    };
    for wanted in filter {
        for slot in &mut all {
            if slot
                .as_ref()
                .is_some_and(|w| w.name.contains(wanted.as_str()) && !named(w.name, skip))
            {
                selected.extend(slot.take());
            }
        }
    }
    selected
}

/// One round of one workload: each side's median over its runs.
struct Round {
    ours: Timing,
    torch: Option<Timing>,
    ct2: Option<Timing>,
}

/// One workload's figures over its rounds: ours, PyTorch's, CTranslate2's (Whisper only), each
/// the median of the rounds' figures, and the ratios as medians of the rounds' ratios.
struct Row {
    name: &'static str,
    ours: Timing,
    torch: Option<Timing>,
    ct2: Option<Timing>,
    ratio: Option<f64>,
    ct2_ratio: Option<f64>,
    rounds: Vec<Round>,
}

impl Row {
    fn from_rounds(name: &'static str, rounds: Vec<Round>) -> Self {
        let ours: Vec<&Timing> = rounds.iter().map(|r| &r.ours).collect();
        let torch: Vec<&Timing> = rounds.iter().filter_map(|r| r.torch.as_ref()).collect();
        let ct2: Vec<&Timing> = rounds.iter().filter_map(|r| r.ct2.as_ref()).collect();
        let ratios = |peer: fn(&Round) -> Option<&Timing>| {
            let ratios: Vec<f64> = rounds
                .iter()
                .filter_map(|r| peer(r).map(|t| r.ours.median_ms / t.median_ms))
                .collect();
            (!ratios.is_empty()).then(|| median_of(ratios))
        };
        Self {
            name,
            ours: Timing::median_of(&ours).expect("at least one round"),
            torch: Timing::median_of(&torch),
            ct2: Timing::median_of(&ct2),
            ratio: ratios(|r| r.torch.as_ref()),
            ct2_ratio: ratios(|r| r.ct2.as_ref()),
            rounds,
        }
    }
}

/// The median of `values` (the upper one of an even count's middle pair).
fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Timing {
    median_ms: f64,
    load_ms: f64,
    peak_rss_mb: f64,
}

impl Timing {
    /// Each figure's median over `timings`; `None` for none.
    fn median_of(timings: &[&Timing]) -> Option<Self> {
        if timings.is_empty() {
            return None;
        }
        let of = |f: fn(&Timing) -> f64| median_of(timings.iter().map(|t| f(t)).collect());
        Some(Self {
            median_ms: of(|t| t.median_ms),
            load_ms: of(|t| t.load_ms),
            peak_rss_mb: of(|t| t.peak_rss_mb),
        })
    }

    fn from_json(json: &Value) -> Self {
        let get = |k: &str| json[k].as_f64().unwrap_or(f64::NAN);
        Self {
            median_ms: get("median_ms"),
            load_ms: get("load_ms"),
            peak_rss_mb: get("peak_rss_mb"),
        }
    }
}

/// The process's peak resident memory (VmHWM), in MiB.
pub(crate) fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs our side of one workload in a fresh process of this same binary.
fn bench_ours_in_process(name: &str, args: &BenchArgs) -> Result<Timing> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["bench", "--worker", name, "--runs", &args.runs.to_string()]);
    if let Some(device) = &args.device {
        command.args(["--device", device]);
    }
    let output = command.output().context("running the benchmark worker")?;
    if !output.status.success() {
        bail!("{name}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let json: Value = serde_json::from_slice(&output.stdout).context("worker output")?;
    Ok(Timing::from_json(&json))
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

/// The training-step workload (timed by `bench_train_step`, and by `bench_torch.py --train`).
const TRAIN_STEP_WORKLOAD: &str = "bert-base-train-step-8x128";

/// Labels of the training-step workload's classification head (Yelp's 5 stars).
const TRAIN_STEP_LABELS: usize = 5;

/// One fine-tuning step as `Trainer` takes it: forward in training mode (dropout), loss,
/// backward, global-norm clipping to 1.0, AdamW (lr 5e-5).
fn bench_train_step(
    workload: &Workload,
    dir: &Path,
    device: &Device,
    runs: usize,
) -> Result<Timing> {
    use burn::module::Module;
    use burn::optim::GradientsParams;
    use burn_tasks::train::models::load_classifier;
    use burn_tasks::train::recipes::cross_entropy;
    use burn_tasks::train::trainer::{TrainingArguments, build_optimizer, clip_grad_norm};

    let model_dir = ModelDir::local(dir)?;
    let plain = device.clone().inner();
    let ad = device.clone().autodiff();
    let (ids, mask) = bench_inputs(workload);
    let input = EncoderInput::new(&ids, &mask, None, &ad)?;
    let labels: Vec<usize> = (0..workload.batch).map(|b| b % TRAIN_STEP_LABELS).collect();
    let start = Instant::now();
    plain.seed(42);
    let (model, _) = load_classifier(&model_dir, &plain, TRAIN_STEP_LABELS, None)?;
    let mut model = model.train();
    let args = TrainingArguments::default();
    let mut optim = build_optimizer(&args);
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    let mut samples = Vec::with_capacity(runs);
    for run in 0..=runs {
        let t = Instant::now();
        let loss = cross_entropy(model.logits(&input)?, &labels);
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        clip_grad_norm(&model, &mut grads, args.max_grad_norm);
        model = optim.step(args.learning_rate, model, grads);
        plain.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        // The first step (optimizer state allocation) is the warm-up.
        if run > 0 {
            samples.push(t.elapsed());
        }
    }
    Ok(Timing {
        median_ms: median(samples),
        load_ms,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Deterministic boxes `(x0, y0, x1, y1)` in 0..1000 with x0 <= x1 and y0 <= y1, one per
/// token, the same formula as `bench_torch.py`.
fn bench_boxes(workload: &Workload) -> Vec<Vec<[i64; 4]>> {
    (0..workload.batch)
        .map(|b| {
            (0..workload.seq)
                .map(|s| {
                    let x0 = ((b * 37 + s * 13) % 900) as i64;
                    let y0 = ((b * 53 + s * 29) % 900) as i64;
                    let (w, h) = (((s * 7) % 100) as i64, ((b + s) % 100) as i64);
                    [x0, y0, x0 + w, y0 + h]
                })
                .collect()
        })
        .collect()
}

/// Deterministic token ids and a full attention mask, the same as `bench_torch.py` builds.
fn bench_inputs(workload: &Workload) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let ids: Vec<Vec<i64>> = (0..workload.batch)
        .map(|b| {
            (0..workload.seq)
                .map(|s| ((b * 131 + s * 7) % 30000 + 1000) as i64)
                .collect()
        })
        .collect();
    let mask = vec![vec![1i64; workload.seq]; workload.batch];
    (ids, mask)
}

fn bench_ours(workload: &Workload, dir: &Path, device: &Device, runs: usize) -> Result<Timing> {
    if workload.name == TRAIN_STEP_WORKLOAD {
        return bench_train_step(workload, dir, device, runs);
    }
    let model_dir = ModelDir::local(dir)?;
    let ids: Vec<Vec<i64>> = (0..workload.batch)
        .map(|b| {
            (0..workload.seq)
                .map(|s| ((b * 131 + s * 7) % 30000 + 1000) as i64)
                .collect()
        })
        .collect();
    let mask = vec![vec![1i64; workload.seq]; workload.batch];
    let input = EncoderInput::new(&ids, &mask, None, device)?;
    let start = Instant::now();
    let mut forward: Box<dyn FnMut() -> Result<()>> = match workload.config["model_type"].as_str() {
        Some("bert") => {
            let mut model = auto::load_bert(&model_dir, device)?;
            if workload.int8 {
                burn_models::nn::quantize_dynamic(&mut model)?;
            }
            Box::new(move || {
                let out = model.forward(&input)?;
                let _ = out.last_hidden_state.into_data();
                Ok(())
            })
        }
        Some("layoutlm") => {
            let model = auto::load_layoutlm(&model_dir, device)?;
            let input = input.with_bbox(&bench_boxes(workload), device)?;
            Box::new(move || {
                let out = model.forward(&input)?;
                let _ = out.last_hidden_state.into_data();
                Ok(())
            })
        }
        Some("detr") => crate::bench_vision::detector(dir, device)?,
        Some("distilbert") => {
            let model = auto::load_distilbert(&model_dir, device)?;
            Box::new(move || {
                let _ = model.forward(&input)?.into_data();
                Ok(())
            })
        }
        Some("bart") => {
            use burn_models::generation::{GenerationConfig, decoder_start_prompt, generate};
            let model = burn_models::seq2seq::load_seq2seq_lm(&model_dir, device)?;
            let mut config = GenerationConfig::from_model_dir(dir)?;
            // Exactly N new tokens on both sides: the end-of-sequence token is held back.
            config.update(
                json!({
                    "num_beams": GENERATE_BEAMS, "max_new_tokens": GENERATE_NEW_TOKENS,
                    "min_new_tokens": GENERATE_NEW_TOKENS, "no_repeat_ngram_size": 0,
                })
                .as_object()
                .expect("object"),
            )?;
            let batch = workload.batch;
            Box::new(move || {
                let hidden = model.encode(input.input_ids.clone(), Some(&input.attention_mask))?;
                let prompt = decoder_start_prompt(&config, batch)?;
                let out = generate(
                    &*model,
                    hidden,
                    Some(input.attention_mask.clone()),
                    &prompt,
                    &config,
                )?;
                anyhow::ensure!(
                    out[0].len() == GENERATE_NEW_TOKENS + 1,
                    "generated {} tokens",
                    out[0].len()
                );
                Ok(())
            })
        }
        // The training step's first call (optimizer state allocation) is its warm-up.
        Some("whisper") if workload.name == LORA_STEP_WORKLOAD => {
            crate::bench_speech::lora_train_step(dir, device)?
        }
        Some("whisper") => {
            crate::bench_speech::transcriber(dir, device, workload.beams, workload.int8)?
        }
        Some("vit") => {
            let model = burn_models::vision::load_vit(&model_dir, device)?;
            let pixels = bench_pixels(workload.batch, workload.seq, workload.seq, device);
            Box::new(move || {
                let _ = model.forward(pixels.clone(), false)?.into_data();
                Ok(())
            })
        }
        other => bail!("no benchmark for {other:?}"),
    };
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    forward()?; // warm-up
    let samples = (0..runs)
        .map(|_| {
            let t = Instant::now();
            forward().map(|_| t.elapsed())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Timing {
        median_ms: median(samples),
        load_ms,
        peak_rss_mb: peak_rss_mb(),
    })
}

fn bench_torch(
    workload: &Workload,
    dir: &Path,
    runs: usize,
    threads: usize,
) -> Result<Option<Timing>> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(if workload.config["model_type"] == "whisper" {
            "bench/bench_torch_whisper.py"
        } else {
            "bench/bench_torch.py"
        });
    let output = Command::new("python3")
        .arg(&script)
        .args(["--model", &dir.to_string_lossy()])
        .args([
            "--batch",
            &workload.batch.to_string(),
            "--seq",
            &workload.seq.to_string(),
        ])
        .args(if workload.config["model_type"] == "detr" {
            vec![
                "--width".to_string(),
                crate::bench_vision::DETR_WIDTH.to_string(),
            ]
        } else {
            Vec::new()
        })
        .args(if workload.config["model_type"] == "bart" {
            vec![
                "--generate-new-tokens".to_string(),
                GENERATE_NEW_TOKENS.to_string(),
                "--num-beams".to_string(),
                GENERATE_BEAMS.to_string(),
            ]
        } else {
            Vec::new()
        })
        .args([
            "--runs",
            &runs.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .args(if workload.name == LORA_STEP_WORKLOAD {
            vec![
                "--train-lora".to_string(),
                "--labels".to_string(),
                LORA_STEP_LABELS.to_string(),
            ]
        } else {
            Vec::new()
        })
        .args(if workload.int8 {
            vec!["--quantize-dynamic".to_string()]
        } else {
            Vec::new()
        })
        .args(
            if workload.config["model_type"] == "whisper" && workload.name != LORA_STEP_WORKLOAD {
                vec!["--num-beams".to_string(), workload.beams.to_string()]
            } else {
                Vec::new()
            },
        )
        .args(if workload.name == TRAIN_STEP_WORKLOAD {
            vec![
                "--train".to_string(),
                "--num-labels".to_string(),
                TRAIN_STEP_LABELS.to_string(),
            ]
        } else {
            Vec::new()
        })
        .output()
        .context("running python3")?;
    if !output.status.success() {
        eprintln!(
            "PyTorch side skipped: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        );
        return Ok(None);
    }
    let json: Value = serde_json::from_slice(&output.stdout).context("bench_torch.py output")?;
    Ok(Some(Timing::from_json(&json)))
}

fn print_table(rows: &[Row]) {
    println!(
        "| workload | ours (ms) | PyTorch (ms) | ratio | CTranslate2 (ms) | ratio | load ours / PyTorch / CT2 (ms) | peak RSS ours / PyTorch / CT2 (MiB) |\n|---|---|---|---|---|---|---|---|"
    );
    let figure =
        |t: &Option<Timing>, f: &dyn Fn(&Timing) -> String| t.as_ref().map_or("-".to_string(), f);
    for Row {
        name,
        ours,
        torch,
        ct2,
        ratio,
        ct2_ratio,
        ..
    } in rows
    {
        let ms = |t: &Timing| format!("{:.1}", t.median_ms);
        let ratio_of = |r: &Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
        let load = |t: &Timing| format!("{:.0}", t.load_ms);
        let rss = |t: &Timing| format!("{:.0}", t.peak_rss_mb);
        println!(
            "| {name} | {:.1} | {} | {} | {} | {} | {:.0} / {} / {} | {:.0} / {} / {} |",
            ours.median_ms,
            figure(torch, &ms),
            ratio_of(ratio),
            figure(ct2, &ms),
            ratio_of(ct2_ratio),
            ours.load_ms,
            figure(torch, &load),
            figure(ct2, &load),
            ours.peak_rss_mb,
            figure(torch, &rss),
            figure(ct2, &rss),
        );
    }
}

/// CTranslate2 (faster-whisper's engine) on the same checkpoint, converted by its transformers
/// converter (`xtask/bench/bench_ct2_whisper.py`); `None` when `ctranslate2` is not installed.
fn bench_ct2(
    workload: &Workload,
    dir: &Path,
    runs: usize,
    threads: usize,
) -> Result<Option<Timing>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/bench_ct2_whisper.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(["--model", &dir.to_string_lossy()])
        .args([
            "--runs",
            &runs.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .args(["--beams", &workload.beams.to_string()])
        .args(["--new-tokens", &crate::bench_speech::NEW_TOKENS.to_string()])
        .args([
            "--compute-type",
            if workload.int8 { "int8" } else { "float32" },
        ])
        .output()
        .context("running python3")?;
    if !output.status.success() {
        eprintln!(
            "CTranslate2 side skipped: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        );
        return Ok(None);
    }
    let json: Value =
        serde_json::from_slice(&output.stdout).context("bench_ct2_whisper.py output")?;
    Ok(Some(Timing::from_json(&json)))
}

/// Writes `config.json` and `model.safetensors` with reproducible random weights under HF's
/// names, so that both sides load the very same checkpoint.
pub(crate) fn write_random_checkpoint(dir: &Path, config: &Value) -> Result<()> {
    if dir.join("model.safetensors").is_file() && dir.join("config.json").is_file() {
        let existing: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
        if &existing == config {
            return Ok(());
        }
    }
    std::fs::create_dir_all(dir)?;
    let shapes = encoder_shapes(config)?;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let is_norm_weight = name.contains("LayerNorm.weight")
                || name.contains("layer_norm.weight")
                || (name.contains("layernorm") && name.ends_with(".weight"))
                // ResNet's frozen batch norms: scales and variances near 1.
                || name.ends_with("normalization.weight")
                || name.ends_with("running_var");
            let bytes = (0..n)
                .flat_map(|_| {
                    // xorshift: reproducible N(0, 0.02)-ish values without a rand dependency.
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let u = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                    let v = if is_norm_weight {
                        1.0 + 0.1 * u
                    } else {
                        0.07 * u
                    };
                    v.to_le_bytes()
                })
                .collect();
            (name, (shape, bytes))
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(name, (shape, bytes))| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .expect("consistent view");
            (name.clone(), view)
        })
        .collect();
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    safetensors::serialize_to_file(views, Some(metadata), &dir.join("model.safetensors"))?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(config)?,
    )?;
    Ok(())
}

/// HF weight names and shapes of a bare BERT, LayoutLM, DistilBERT or ViT encoder (Whisper
/// and DETR: see `bench_speech` and `bench_vision`).
fn encoder_shapes(config: &Value) -> Result<Vec<(String, Vec<usize>)>> {
    let get = |k: &str| {
        config[k]
            .as_u64()
            .map(|v| v as usize)
            .with_context(|| format!("config.{k}"))
    };
    if config["model_type"] == "whisper" {
        return crate::bench_speech::whisper_shapes(config);
    }
    if config["model_type"] == "detr" {
        return crate::bench_vision::detr_shapes(config);
    }
    let mut shapes = Vec::new();
    let mut linear = |name: String, i: usize, o: usize| {
        shapes.push((format!("{name}.weight"), vec![o, i]));
        shapes.push((format!("{name}.bias"), vec![o]));
    };
    let mut norms = Vec::new();
    if config["model_type"] == "vit" {
        let (h, f) = (get("hidden_size")?, get("intermediate_size")?);
        let (side, patch) = (get("image_size")?, get("patch_size")?);
        for i in 0..get("num_hidden_layers")? {
            let p = format!("encoder.layer.{i}");
            for n in ["query", "key", "value"] {
                linear(format!("{p}.attention.attention.{n}"), h, h);
            }
            linear(format!("{p}.attention.output.dense"), h, h);
            linear(format!("{p}.intermediate.dense"), h, f);
            linear(format!("{p}.output.dense"), f, h);
            norms.push(format!("{p}.layernorm_before"));
            norms.push(format!("{p}.layernorm_after"));
        }
        norms.push("layernorm".into());
        let patches = (side / patch) * (side / patch);
        shapes.push(("embeddings.cls_token".into(), vec![1, 1, h]));
        shapes.push((
            "embeddings.position_embeddings".into(),
            vec![1, patches + 1, h],
        ));
        let proj = "embeddings.patch_embeddings.projection";
        shapes.push((format!("{proj}.weight"), vec![h, 3, patch, patch]));
        shapes.push((format!("{proj}.bias"), vec![h]));
        for n in norms {
            shapes.push((format!("{n}.weight"), vec![h]));
            shapes.push((format!("{n}.bias"), vec![h]));
        }
        return Ok(shapes);
    }
    let hidden = match config["model_type"].as_str() {
        Some(family @ ("bert" | "layoutlm")) => {
            let (h, f) = (get("hidden_size")?, get("intermediate_size")?);
            for i in 0..get("num_hidden_layers")? {
                let p = format!("encoder.layer.{i}");
                for n in ["query", "key", "value"] {
                    linear(format!("{p}.attention.self.{n}"), h, h);
                }
                linear(format!("{p}.attention.output.dense"), h, h);
                linear(format!("{p}.intermediate.dense"), h, f);
                linear(format!("{p}.output.dense"), f, h);
                norms.push(format!("{p}.attention.output.LayerNorm"));
                norms.push(format!("{p}.output.LayerNorm"));
            }
            linear("pooler.dense".into(), h, h);
            if family == "layoutlm" {
                let boxes = get("max_2d_position_embeddings")?;
                for t in ["x", "y", "h", "w"] {
                    shapes.push((
                        format!("embeddings.{t}_position_embeddings.weight"),
                        vec![boxes, h],
                    ));
                }
            }
            shapes.push((
                "embeddings.token_type_embeddings.weight".into(),
                vec![get("type_vocab_size")?, h],
            ));
            h
        }
        Some("distilbert") => {
            let (h, f) = (get("dim")?, get("hidden_dim")?);
            for i in 0..get("n_layers")? {
                let p = format!("transformer.layer.{i}");
                for n in ["q_lin", "k_lin", "v_lin", "out_lin"] {
                    linear(format!("{p}.attention.{n}"), h, h);
                }
                linear(format!("{p}.ffn.lin1"), h, f);
                linear(format!("{p}.ffn.lin2"), f, h);
                norms.push(format!("{p}.sa_layer_norm"));
                norms.push(format!("{p}.output_layer_norm"));
            }
            h
        }
        Some("bart") => return bart_shapes(&get),
        other => bail!("no random checkpoint for model_type {other:?}"),
    };
    // Embeddings and LayerNorms are named alike in both families.
    norms.push("embeddings.LayerNorm".into());
    shapes.push((
        "embeddings.word_embeddings.weight".into(),
        vec![get("vocab_size")?, hidden],
    ));
    shapes.push((
        "embeddings.position_embeddings.weight".into(),
        vec![get("max_position_embeddings")?, hidden],
    ));
    for n in norms {
        shapes.push((format!("{n}.weight"), vec![hidden]));
        shapes.push((format!("{n}.bias"), vec![hidden]));
    }
    Ok(shapes)
}

/// HF weight names and shapes of `BartForConditionalGeneration` (the LM head is tied).
fn bart_shapes(get: &dyn Fn(&str) -> Result<usize>) -> Result<Vec<(String, Vec<usize>)>> {
    let d = get("d_model")?;
    let mut shapes = vec![
        (
            "model.shared.weight".to_string(),
            vec![get("vocab_size")?, d],
        ),
        ("final_logits_bias".to_string(), vec![1, get("vocab_size")?]),
    ];
    let linear = |shapes: &mut Vec<_>, name: String, i: usize, o: usize| {
        shapes.push((format!("{name}.weight"), vec![o, i]));
        shapes.push((format!("{name}.bias"), vec![o]));
    };
    for side in ["encoder", "decoder"] {
        let p = format!("model.{side}");
        shapes.push((
            format!("{p}.embed_positions.weight"),
            vec![get("max_position_embeddings")? + 2, d],
        ));
        linear(&mut shapes, format!("{p}.layernorm_embedding"), 0, d);
        let ffn = get(&format!("{side}_ffn_dim"))?;
        for i in 0..get(&format!("{side}_layers"))? {
            let l = format!("{p}.layers.{i}");
            transformer_layer_shapes(&mut shapes, &l, side == "decoder", d, ffn, true);
        }
    }
    // LayerNorms came out as `[d, 0]` "linears": make them `[d]` weights and biases.
    Ok(shapes
        .into_iter()
        .map(|(name, shape)| {
            if shape.len() == 2 && shape[1] == 0 {
                (name, vec![shape[0]])
            } else {
                (name, shape)
            }
        })
        .collect())
}
