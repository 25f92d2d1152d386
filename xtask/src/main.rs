//! `cargo xtask <command>`: project recipes.
//!
//! * `bench [--filter A,B] [--skip C] [--device D] [--runs N] [--rounds R]`: our workloads beside PyTorch/transformers
//!   on the same machine, in one run, as a ratio.
//! * `train-yelp` / `train-squad [--v2]`: the HF course's fine-tuning recipes (BERT on
//!   Yelp reviews, DistilBERT on SQuAD), printing the final metrics.
//! * `train-whisper-lora [--dry-run]`: LoRA on an int8 Whisper base, saving a PEFT adapter.
//! * `gpu-probe`, `gpu-suites`, `gpu-bench`: the checks `.ci/gpu-check` runs on a GPU machine
//!   from prebuilt binaries (adapters, the integration suites, the workloads with GPU memory).
//! * `convert-ct2-whisper <ct2 dir> <out dir>`: a CTranslate2 (faster-whisper) Whisper as a
//!   Hugging Face checkpoint directory.

mod bench;
mod bench_speech;
mod bench_vision;
mod convert_whisper;
mod gpu;
mod train;
mod train_whisper;
mod workload;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmark against PyTorch/transformers (when `python3 -c "import torch"` works).
    Bench(bench::BenchArgs),
    /// Fine-tune a sequence classifier: google-bert/bert-base-cased on Yelp/yelp_review_full.
    TrainYelp(train::YelpArgs),
    /// Fine-tune extractive QA: distilbert/distilbert-base-uncased on rajpurkar/squad (--v2: squad_v2).
    TrainSquad(train::SquadArgs),
    /// LoRA fine-tuning of Whisper on an int8 base: openai/whisper-large-v2 on Common Voice zh-CN.
    TrainWhisperLora(train_whisper::WhisperLoraArgs),
    /// The adapters wgpu finds, and a matrix product on the device checked against the CPU.
    GpuProbe(gpu::ProbeArgs),
    /// Runs the integration test binary on a device under a time limit, reporting each test.
    GpuSuites(gpu::SuitesArgs),
    /// Our side of the benchmark workloads on a device, with the GPU memory each took.
    GpuBench(gpu::GpuBenchArgs),
    /// A CTranslate2 Whisper (faster-whisper's model.bin + tokenizer.json) as a Hugging Face
    /// checkpoint directory (config, generation config, f32 safetensors, tokenizer, preprocessor).
    ConvertCt2Whisper(convert_whisper::ConvertArgs),
}

fn main() -> Result<()> {
    burn_models::malloc::tune_allocator();
    match Cli::parse().command {
        Command::Bench(args) => bench::run(args),
        Command::TrainYelp(args) => train::yelp(args),
        Command::TrainSquad(args) => train::squad(args),
        Command::TrainWhisperLora(args) => train_whisper::run(args),
        Command::GpuProbe(args) => gpu::probe(args),
        Command::GpuSuites(args) => gpu::suites(args),
        Command::GpuBench(args) => gpu::gpu_bench(args),
        Command::ConvertCt2Whisper(args) => convert_whisper::run(args),
    }
}
