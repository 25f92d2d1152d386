//! Peak resident memory of one training step (forward, backward, Adam update) for: f32 full
//! fine-tuning, f32 base + LoRA, int8 base + LoRA, NF4 base + LoRA, on random-weight models of
//! real sizes: a BERT-base-sized encoder (`--model bert-base`, LoRA r=8 on query/value) or a
//! whisper-small-sized Whisper (`--model whisper-small`: d_model 768, 12 + 12 layers, 30 s
//! windows = 3,000 mel frames, `--labels` decoder tokens; LoRA r=4, alpha 64 on q_proj/v_proj,
//! dropout 0.05, the tied output projection kept in f32: the train-whisper-lora recipe), or the
//! recipe's own model size (`--model whisper-large-v2`: d_model 1280, 32 + 32 layers, 20 heads;
//! its random checkpoint is written in f16, 3.1 GB, to save disk; loaded as f32). Each
//! scheme runs in its own process; the peak is reset (`/proc/self/clear_refs`) after the model
//! is built, so it covers the step with the model resident, not the transient of reading the
//! f32 checkpoint. Linux only.
//!
//! ```sh
//! cargo run -p burn-peft --example peft_memory -- --model whisper-small --batch 1
//! cargo run -p burn-peft --example peft_memory -- --model whisper-large-v2 \
//!     --schemes int8-lora [--checkpointing]
//! cargo run -p burn-peft --example peft_memory -- [--model bert-base] [--batch 4] [--seq 128]
//!     [--checkpointing] [--plain-backward] [--schemes f32-full,int8-lora]
//! ```
//!
//! `--checkpointing` runs every scheme with Burn's gradient checkpointing (`Balanced`), which
//! recomputes memory-bound results in the backward pass instead of keeping them.
//! `--plain-backward` turns off burn-models' hand-written backward passes (`nn::lean`: frozen
//! quantized layers that dequantize again in the backward pass instead of keeping an f32 copy,
//! attention that recomputes its probabilities) to measure what they save.
//! Workers run with `MALLOC_MMAP_THRESHOLD_=65536` so freed tensors return to the system
//! and the numbers measure live memory rather than allocator retention.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Gradients, Tensor};
use burn::tensor::{Int, TensorData};
use burn_models::bert::{BertConfig, BertModel};
use burn_models::config::read_config;
use burn_models::heads::EncoderInput;
use burn_models::hub::Weights;
use burn_models::whisper::{WhisperConfig, WhisperForConditionalGeneration};
use burn_peft::quant::Quantization;
use burn_peft::*;
use serde_json::{Value, json};

const SCHEMES: [&str; 4] = ["f32-full", "f32-lora", "int8-lora", "nf4-lora"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str, default: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let model = get("--model", "bert-base");
    let whisper = match model.as_str() {
        "bert-base" => None,
        "whisper-small" => Some(WhisperSize::SMALL),
        "whisper-large-v2" => Some(WhisperSize::LARGE_V2),
        other => panic!("--model {other}: expected bert-base, whisper-small or whisper-large-v2"),
    };
    let batch: usize = get("--batch", if whisper.is_some() { "1" } else { "4" })
        .parse()
        .expect("--batch");
    let seq: usize = get("--seq", "128").parse().expect("--seq");
    let labels: usize = get("--labels", "32").parse().expect("--labels");
    let checkpointing = args.iter().any(|a| a == "--checkpointing");
    let plain = args.iter().any(|a| a == "--plain-backward");
    if let Some(scheme) = args
        .iter()
        .position(|a| a == "--worker")
        .map(|i| args[i + 1].clone())
    {
        let dir = PathBuf::from(get("--dir", "."));
        let result = if whisper.is_some() {
            whisper_worker(&scheme, &dir, batch, labels, checkpointing)
        } else {
            worker(&scheme, &dir, batch, seq, checkpointing)
        };
        println!("{result}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("burn-peft-memory-{model}"));
    let schemes: Vec<String> = get("--schemes", &SCHEMES.join(","))
        .split(',')
        .map(str::to_string)
        .collect();
    if let Some(size) = whisper {
        write_whisper_checkpoint(&dir, size);
        println!(
            "{model}-sized Whisper (d_model {}, {} + {} layers, vocab 51865), random \
             weights, batch {batch} x 3000 mel frames (30 s) x {labels} label tokens, one step \
             of Adam; LoRA r=4 alpha=64 on q_proj/v_proj; gradient checkpointing {}; \
             hand-written backward passes {}\n",
            size.d_model,
            size.layers,
            size.layers,
            if checkpointing { "on" } else { "off" },
            if plain { "off" } else { "on" },
        );
    } else {
        write_checkpoint(&dir);
        println!(
            "BERT-base-sized encoder (hidden 768, 12 layers, vocab 30522), random weights, batch \
             {batch} x {seq} tokens, one step of Adam; LoRA r=8 on query/value; gradient \
             checkpointing {}; hand-written backward passes {}\n",
            if checkpointing { "on" } else { "off" },
            if plain { "off" } else { "on" },
        );
    }
    println!(
        "| scheme | base linear weights | trainable params | resident after setup | peak RSS of the step | step time |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut full = None;
    for scheme in &schemes {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--worker", scheme, "--dir", dir.to_str().unwrap()])
            .args(["--model", &model])
            .args(["--batch", &batch.to_string(), "--seq", &seq.to_string()])
            .args(["--labels", &labels.to_string()])
            .args(checkpointing.then_some("--checkpointing"))
            .env("MALLOC_MMAP_THRESHOLD_", "65536");
        if plain {
            command.env("BURN_MODELS_PLAIN_BACKWARD", "1");
        }
        let output = command.output().expect("worker");
        assert!(
            output.status.success(),
            "{scheme}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let r: Value = serde_json::from_slice(&output.stdout).expect("worker JSON");
        let peak = r["peak_step_mb"].as_f64().unwrap();
        let versus = if scheme == "f32-full" {
            full = Some(peak);
            String::new()
        } else {
            full.map(|f| format!(" ({:+.0}% vs full FT)", 100.0 * (peak / f - 1.0)))
                .unwrap_or_default()
        };
        println!(
            "| {scheme} | {:.1} MiB | {} | {:.0} MiB | {:.0} MiB{versus} | {:.1} s |",
            r["base_weight_bytes"].as_f64().unwrap() / 1048576.0,
            thousands(r["trainable"].as_u64().unwrap() as usize),
            r["rss_after_setup_mb"].as_f64().unwrap(),
            peak,
            r["step_s"].as_f64().unwrap(),
        );
    }
}

fn status_kb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn worker(scheme: &str, dir: &Path, batch: usize, seq: usize, checkpointing: bool) -> Value {
    let mut device = burn_models::device::parse_device(Some("cpu"))
        .unwrap()
        .autodiff();
    if checkpointing {
        device = device.gradient_checkpointing();
    }
    let config: BertConfig = read_config(&dir.join("config.json")).unwrap();
    let model = {
        let weights = Weights::from_model_dir(dir).unwrap();
        BertModel::load_bare(&weights.root(&device), &config).unwrap()
    };
    let lora = LoraConfig::new(8, 16.0, &["query", "value"]);
    let (model, trainable, bytes) = match scheme {
        "f32-full" => {
            let bytes = base_weight_bytes(&model);
            let n = trainable_params(&model);
            (model, n, bytes)
        }
        _ => {
            let mut model = model;
            match scheme {
                "int8-lora" => {
                    quant::quantize_model(&mut model, Quantization::Int8 { threshold: None }, &[])
                        .unwrap();
                }
                "nf4-lora" => {
                    quant::quantize_model(&mut model, Quantization::Nf4, &[]).unwrap();
                }
                _ => {}
            }
            let bytes = base_weight_bytes(&model);
            let peft = get_peft_model(model, lora).unwrap();
            let (trainable, _) = peft.get_nb_trainable_parameters();
            (peft.base_model, trainable, bytes)
        }
    };
    let rss_after_setup = status_kb("VmRSS:") / 1024.0;
    // Reset the peak to the current resident set: what follows is the training step.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM (Linux only)");
    let ids: Vec<Vec<i64>> = (0..batch)
        .map(|b| {
            (0..seq)
                .map(|s| ((b * 131 + s * 7) % 30000 + 1000) as i64)
                .collect()
        })
        .collect();
    let mask = vec![vec![1i64; seq]; batch];
    let input = EncoderInput::new(&ids, &mask, None, &device).unwrap();
    let start = Instant::now();
    let output = model.forward(&input).unwrap();
    let pooled = output.pooler_output.expect("pooler");
    let loss = output.last_hidden_state.powi_scalar(2).mean() + pooled.powi_scalar(2).mean();
    finish_step(
        model,
        loss,
        start,
        Report {
            scheme,
            bytes,
            trainable,
            rss_after_setup,
        },
    )
}

/// Elements of the parameters full fine-tuning trains: those that require gradients (a tied
/// output projection trains through the embedding it is tied to, not as its own copy).
fn trainable_params<M: Module>(model: &M) -> usize {
    struct Count(usize);
    impl burn::module::ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if param.val().is_require_grad() {
                self.0 += param.shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    model.visit(&mut count);
    count.0
}

/// What a worker reports besides the step's own figures.
struct Report<'a> {
    scheme: &'a str,
    bytes: usize,
    trainable: usize,
    rss_after_setup: f64,
}

/// Backward pass and Adam update from `loss`, then the report with the step time (from
/// `start`) and the process's peak RSS.
fn finish_step<M: Module>(model: M, loss: Tensor<1>, start: Instant, report: Report) -> Value {
    let grads = loss.backward();
    let mut adam = Adam {
        grads: &grads,
        state: HashMap::new(),
        lr: 1e-4,
        updated: 0,
    };
    let model = model.map(&mut adam);
    let step_s = start.elapsed().as_secs_f64();
    assert_eq!(
        adam.updated, report.trainable,
        "Adam holds state for the trainable parameters alone"
    );
    let peak = status_kb("VmHWM:") / 1024.0;
    drop(model);
    json!({
        "scheme": report.scheme,
        "base_weight_bytes": report.bytes,
        "trainable": report.trainable,
        "rss_after_setup_mb": report.rss_after_setup,
        "peak_step_mb": peak,
        "step_s": step_s,
    })
}

struct Adam<'a> {
    grads: &'a Gradients,
    state: HashMap<ParamId, (Tensor<1>, Tensor<1>)>,
    lr: f64,
    updated: usize,
}

impl ModuleMapper for Adam<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(grad) = param.val().grad(self.grads) else {
            return param;
        };
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        let shape = grad.dims();
        let n = grad.shape().num_elements();
        self.updated += n;
        let g: Tensor<1> = grad.reshape([n]);
        let (m, v) = self
            .state
            .remove(&param.id)
            .unwrap_or_else(|| (g.zeros_like(), g.zeros_like()));
        let m = m * b1 + g.clone() * (1.0 - b1);
        let v = v * b2 + g.powi_scalar(2) * (1.0 - b2);
        let m_hat = m.clone() / (1.0 - b1);
        let v_hat = v.clone() / (1.0 - b2);
        let update: Tensor<D> = (m_hat / (v_hat.sqrt() + eps)).reshape(shape);
        self.state.insert(param.id, (m, v));
        let lr = self.lr;
        param.map(|t| (t.inner() - update * lr).autodiff().require_grad())
    }
}

/// A BERT-base-sized `BertModel` checkpoint with reproducible random weights.
fn write_checkpoint(dir: &Path) {
    if dir.join("model.safetensors").is_file() {
        return;
    }
    std::fs::create_dir_all(dir).unwrap();
    let config = json!({"model_type": "bert", "vocab_size": 30522, "hidden_size": 768,
        "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
        "max_position_embeddings": 512, "type_vocab_size": 2});
    let (h, f) = (768usize, 3072usize);
    let mut shapes: Vec<(String, Vec<usize>)> = Vec::new();
    let mut linear = |name: String, i: usize, o: usize| {
        shapes.push((format!("{name}.weight"), vec![o, i]));
        shapes.push((format!("{name}.bias"), vec![o]));
    };
    for i in 0..12 {
        let p = format!("encoder.layer.{i}");
        for n in ["query", "key", "value"] {
            linear(format!("{p}.attention.self.{n}"), h, h);
        }
        linear(format!("{p}.attention.output.dense"), h, h);
        linear(format!("{p}.intermediate.dense"), h, f);
        linear(format!("{p}.output.dense"), f, h);
    }
    linear("pooler.dense".into(), h, h);
    for i in 0..12 {
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            shapes.push((format!("encoder.layer.{i}.{n}.weight"), vec![h]));
            shapes.push((format!("encoder.layer.{i}.{n}.bias"), vec![h]));
        }
    }
    shapes.push(("embeddings.LayerNorm.weight".into(), vec![h]));
    shapes.push(("embeddings.LayerNorm.bias".into(), vec![h]));
    shapes.push(("embeddings.word_embeddings.weight".into(), vec![30522, h]));
    shapes.push(("embeddings.position_embeddings.weight".into(), vec![512, h]));
    shapes.push(("embeddings.token_type_embeddings.weight".into(), vec![2, h]));
    write_random(dir, shapes, |name| name.contains("LayerNorm.weight"), false);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

/// One training step of a whisper-small-sized model under `scheme` (see [`worker`]).
fn whisper_worker(
    scheme: &str,
    dir: &Path,
    batch: usize,
    labels: usize,
    checkpointing: bool,
) -> Value {
    let mut device = burn_models::device::parse_device(Some("cpu"))
        .unwrap()
        .autodiff();
    if checkpointing {
        device = device.gradient_checkpointing();
    }
    // With checkpointing, the model is built on the plain device and then made trainable, as
    // the trainer does: ops under Burn's `Balanced` strategy keep their inputs in the graph
    // until a backward pass, which would count the quantization's f32 temporaries.
    let build_device = if checkpointing {
        device.clone().inner()
    } else {
        device.clone()
    };
    let config: WhisperConfig = read_config(&dir.join("config.json")).unwrap();
    let mut model = {
        let weights = Weights::from_model_dir(dir).unwrap();
        WhisperForConditionalGeneration::load(&weights.root(&build_device), &config).unwrap()
    };
    // The train-whisper-lora recipe: the tied output projection stays in f32.
    let keep = ["proj_out", "model.decoder.embed_tokens"];
    match scheme {
        "int8-lora" => {
            let scheme = Quantization::Int8 {
                threshold: Some(quant::LLM_INT8_THRESHOLD),
            };
            quant::quantize_model(&mut model, scheme, &keep).unwrap();
        }
        "nf4-lora" => {
            quant::quantize_model(&mut model, Quantization::Nf4, &keep).unwrap();
        }
        "f32-full" | "f32-lora" => {}
        other => panic!("unknown scheme {other}"),
    }
    let bytes = base_weight_bytes(&model);
    let (model, trainable) = if scheme == "f32-full" {
        // Counted on the trainable model (with checkpointing it is built on the plain device).
        let n = trainable_params(&model.clone().train());
        (model, n)
    } else {
        let lora = LoraConfig {
            lora_dropout: 0.05,
            ..LoraConfig::new(4, 64.0, &["q_proj", "v_proj"])
        };
        let peft = get_peft_model(model, lora).unwrap();
        let (trainable, _) = peft.get_nb_trainable_parameters();
        (peft.base_model, trainable)
    };
    let model = if checkpointing {
        burn_models::nn::lean::with_checkpointing_strategy(
            model.train(),
            burn::tensor::GradientCheckpointingStrategy::Balanced,
        )
    } else {
        model
    };
    let rss_after_setup = status_kb("VmRSS:") / 1024.0;
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM (Linux only)");
    let frames = 2 * config.max_source_positions;
    let features: Vec<f32> = (0..batch * config.num_mel_bins * frames)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 2.0)
        .collect();
    let features = Tensor::<3>::from_data(
        TensorData::new(features, [batch, config.num_mel_bins, frames]),
        &device,
    );
    let tokens: Vec<i64> = (0..batch * (labels + 1))
        .map(|i| ((i * 131) % 50000 + 100) as i64)
        .collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(tokens, [batch, labels + 1]), &device);
    let inputs = tokens.clone().slice([0..batch, 0..labels]);
    let targets = tokens.slice([0..batch, 1..labels + 1]);
    let start = Instant::now();
    let logits = model.forward(features, inputs).unwrap();
    // Teacher-forced cross-entropy.
    let loss = log_softmax(logits, 2)
        .gather(2, targets.unsqueeze_dim::<3>(2))
        .mean()
        .neg();
    finish_step(
        model,
        loss,
        start,
        Report {
            scheme,
            bytes,
            trainable,
            rss_after_setup,
        },
    )
}

/// The sizes of a Whisper checkpoint (openai/whisper-*'s config.json; both have 80 mel bins and
/// a 51,865-token vocabulary).
#[derive(Clone, Copy)]
struct WhisperSize {
    d_model: usize,
    ffn: usize,
    layers: usize,
    heads: usize,
    /// Checkpoint dtype: f16 halves the disk a large random checkpoint takes.
    f16: bool,
}

impl WhisperSize {
    const SMALL: Self = Self {
        d_model: 768,
        ffn: 3072,
        layers: 12,
        heads: 12,
        f16: false,
    };
    const LARGE_V2: Self = Self {
        d_model: 1280,
        ffn: 5120,
        layers: 32,
        heads: 20,
        f16: true,
    };
}

/// A `WhisperForConditionalGeneration` checkpoint of `size` (output projection tied) with
/// reproducible random weights.
fn write_whisper_checkpoint(dir: &Path, size: WhisperSize) {
    if dir.join("model.safetensors").is_file() {
        return;
    }
    std::fs::create_dir_all(dir).unwrap();
    let (d, ffn, layers, mels, vocab) = (size.d_model, size.ffn, size.layers, 80usize, 51865usize);
    let config = json!({
        "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
        "vocab_size": vocab, "num_mel_bins": mels, "d_model": d,
        "encoder_layers": layers, "decoder_layers": layers,
        "encoder_attention_heads": size.heads, "decoder_attention_heads": size.heads,
        "encoder_ffn_dim": ffn, "decoder_ffn_dim": ffn,
        "max_source_positions": 1500, "max_target_positions": 448,
        "decoder_start_token_id": 50258, "pad_token_id": 50257,
        "bos_token_id": 50257, "eos_token_id": 50257, "activation_function": "gelu"
    });
    let mut shapes: Vec<(String, Vec<usize>)> = Vec::new();
    let linear = |shapes: &mut Vec<(String, Vec<usize>)>, name: String, i, o, bias: bool| {
        shapes.push((format!("{name}.weight"), vec![o, i]));
        if bias {
            shapes.push((format!("{name}.bias"), vec![o]));
        }
    };
    let norm = |shapes: &mut Vec<(String, Vec<usize>)>, name: String| {
        shapes.push((format!("{name}.weight"), vec![d]));
        shapes.push((format!("{name}.bias"), vec![d]));
    };
    shapes.push(("model.encoder.conv1.weight".into(), vec![d, mels, 3]));
    shapes.push(("model.encoder.conv1.bias".into(), vec![d]));
    shapes.push(("model.encoder.conv2.weight".into(), vec![d, d, 3]));
    shapes.push(("model.encoder.conv2.bias".into(), vec![d]));
    shapes.push(("model.encoder.embed_positions.weight".into(), vec![1500, d]));
    for side in ["encoder", "decoder"] {
        for i in 0..layers {
            let p = format!("model.{side}.layers.{i}");
            let attention = |shapes: &mut Vec<(String, Vec<usize>)>, a: &str| {
                for (n, bias) in [
                    ("q_proj", true),
                    ("k_proj", false),
                    ("v_proj", true),
                    ("out_proj", true),
                ] {
                    linear(shapes, format!("{p}.{a}.{n}"), d, d, bias);
                }
            };
            attention(&mut shapes, "self_attn");
            if side == "decoder" {
                attention(&mut shapes, "encoder_attn");
                norm(&mut shapes, format!("{p}.encoder_attn_layer_norm"));
            }
            norm(&mut shapes, format!("{p}.self_attn_layer_norm"));
            linear(&mut shapes, format!("{p}.fc1"), d, ffn, true);
            linear(&mut shapes, format!("{p}.fc2"), ffn, d, true);
            norm(&mut shapes, format!("{p}.final_layer_norm"));
        }
        norm(&mut shapes, format!("model.{side}.layer_norm"));
    }
    shapes.push(("model.decoder.embed_tokens.weight".into(), vec![vocab, d]));
    shapes.push(("model.decoder.embed_positions.weight".into(), vec![448, d]));
    write_random(dir, shapes, |name| name.contains("norm.weight"), size.f16);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

/// Writes `model.safetensors` with reproducible uniform random values (norm weights near 1),
/// in f32 or f16, streaming (a large checkpoint is never held in memory).
fn write_random(
    dir: &Path,
    shapes: Vec<(String, Vec<usize>)>,
    is_norm: impl Fn(&str) -> bool,
    f16: bool,
) {
    use std::io::Write;
    let size = if f16 { 2 } else { 4 };
    // The safetensors layout: u64 header length, JSON header (offsets into the data), data.
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape) in &shapes {
        let bytes = shape.iter().product::<usize>() * size;
        header.insert(
            name.clone(),
            json!({"dtype": if f16 { "F16" } else { "F32" }, "shape": shape,
                   "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut header = Value::Object(header).to_string().into_bytes();
    // Padded with spaces to 8 bytes, as safetensors' own writer does.
    header.resize(header.len().next_multiple_of(8), b' ');
    let file = std::fs::File::create(dir.join("model.safetensors")).unwrap();
    let mut out = std::io::BufWriter::with_capacity(1 << 22, file);
    out.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    out.write_all(&header).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for (name, shape) in shapes {
        let n: usize = shape.iter().product();
        let norm = is_norm(&name);
        for _ in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let u = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let v = if norm { 1.0 + 0.1 * u } else { 0.07 * u };
            if f16 {
                out.write_all(&burn::tensor::f16::from_f32(v).to_le_bytes())
                    .unwrap();
            } else {
                out.write_all(&v.to_le_bytes()).unwrap();
            }
        }
    }
    out.flush().unwrap();
}
