//! `cargo xtask <command>`: project recipes.
//!
//! * `bench [--filter NAME] [--device D] [--runs N]`: our workloads beside PyTorch/transformers
//!   on the same machine, in one run, as a ratio.

mod bench;
mod bench_speech;

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
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => bench::run(args),
    }
}
