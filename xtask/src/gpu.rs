//! Checks for a GPU machine that has no cargo and no network, run from prebuilt binaries by
//! `.ci/gpu-check` (built by `.ci/gpu-build`):
//!
//! * `gpu-probe`: the adapters wgpu finds per graphics API, the one a default wgpu device
//!   takes, and a matrix product on the device checked against the CPU and timed.
//! * `gpu-suites`: runs the integration test binary on a device under a time limit and
//!   reports each test's outcome (a test still running at the limit is reported as such).
//! * `gpu-bench`: our side of the benchmark workloads on a device, each in its own process,
//!   with the GPU memory it took (`nvidia-smi`, sampled while it runs).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::{Value, json};

use crate::bench;
use crate::bench_speech::{LORA_STEP_WORKLOAD, lora_step_config, lora_train_step_with};

/// The int8 + LoRA step of whisper-small with gradient checkpointing (the recipe's
/// `--gradient-checkpointing`), on the same checkpoint as [`LORA_STEP_WORKLOAD`].
pub const LORA_STEP_CHECKPOINTED_WORKLOAD: &str =
    "whisper-small-lora-int8-gradient-checkpointing-train-step";

/// What `gpu-bench` runs unless told otherwise: an encoder, a vision model, speech
/// recognition, beam-search generation, a full fine-tuning step, and the int8 + LoRA Whisper
/// step with and without gradient checkpointing.
const DEFAULT_WORKLOADS: [&str; 7] = [
    "bert-base-forward-8x128",
    "vit-base-forward-8x224",
    "whisper-small-30s-32tok",
    "distilbart-generate-beam4-64new-1x256",
    "bert-base-train-step-8x128",
    LORA_STEP_WORKLOAD,
    LORA_STEP_CHECKPOINTED_WORKLOAD,
];

/// Where the benchmark's random checkpoints live (the same place `cargo xtask bench` uses,
/// relative to the working directory).
const CHECKPOINTS: &str = "target/bench/models";

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// The device to check (as `--device` elsewhere).
    #[arg(long, default_value = "wgpu")]
    device: String,
    /// Side of the square matrices multiplied on the device.
    #[arg(long, default_value_t = 2048)]
    matmul_size: usize,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/gpu-check/probe.json")]
    output: PathBuf,
}

/// The adapters wgpu finds on this machine and what Burn's device does with them.
pub fn probe(args: ProbeArgs) -> Result<()> {
    let adapters = wgpu_adapters();
    println!(
        "wgpu adapters:\n{}",
        serde_json::to_string_pretty(&adapters)?
    );
    let matmul = match matmul_check(&args.device, args.matmul_size) {
        Ok(report) => report,
        Err(e) => json!({ "device": args.device, "error": format!("{e:#}") }),
    };
    println!(
        "matrix product on {}:\n{}",
        args.device,
        serde_json::to_string_pretty(&matmul)?
    );
    let adapter = &adapters["default_device_adapter"];
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    println!(
        "probe: the default wgpu adapter is {} ({}, {}); {n}x{n} product on {}: {}",
        text(&adapter["name"]),
        text(&adapter["device_type"]),
        text(&adapter["backend"]),
        args.device,
        match matmul["gflops"].as_f64() {
            Some(gflops) => format!(
                "{gflops:.0} GFLOP/s, matches the CPU: {}",
                matmul["matches_cpu"]
            ),
            None => format!("failed: {}", text(&matmul["error"])),
        },
        n = args.matmul_size,
    );
    let report = json!({ "wgpu": adapters, "matmul": matmul });
    write_json(&args.output, &report)?;
    if matmul.get("error").is_some() {
        bail!("the device `{}` did not run a matrix product", args.device);
    }
    Ok(())
}

/// Each graphics API wgpu was built with, the adapters it reports there, and the adapter a
/// default wgpu device takes: cubecl-wgpu's rule is the first of Vulkan, DX12, GL that has an
/// adapter other than a CPU one (else the first with any), and there the high-performance one.
#[cfg(feature = "wgpu")]
fn wgpu_adapters() -> Value {
    use futures_lite::future::block_on;

    let enabled = wgpu::Instance::enabled_backend_features();
    let mut apis = Vec::new();
    let mut settled: Option<(wgpu::Backend, bool)> = None;
    for backend in [
        wgpu::Backend::Vulkan,
        wgpu::Backend::Dx12,
        wgpu::Backend::Gl,
    ] {
        if !enabled.contains(backend.into()) {
            continue;
        }
        let instance = instance(backend);
        let adapters = block_on(instance.enumerate_adapters(backend.into()));
        let has_gpu = adapters
            .iter()
            .any(|a| a.get_info().device_type != wgpu::DeviceType::Cpu);
        if settled.is_none_or(|(_, gpu)| !gpu && has_gpu) && !adapters.is_empty() {
            settled = Some((backend, has_gpu));
        }
        apis.push(json!({
            "api": format!("{backend:?}"),
            "adapters": adapters.iter().map(adapter_json).collect::<Vec<_>>(),
        }));
    }
    let default = settled.map(|(backend, _)| {
        let instance = instance(backend);
        match block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })) {
            Ok(adapter) => adapter_json(&adapter),
            Err(e) => json!({ "api": format!("{backend:?}"), "error": e.to_string() }),
        }
    });
    json!({ "apis": apis, "default_device_adapter": default })
}

#[cfg(feature = "wgpu")]
fn instance(backend: wgpu::Backend) -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: backend.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

#[cfg(feature = "wgpu")]
fn adapter_json(adapter: &wgpu::Adapter) -> Value {
    let info = adapter.get_info();
    let limits = adapter.limits();
    json!({
        "name": info.name,
        "device_type": format!("{:?}", info.device_type),
        "backend": format!("{:?}", info.backend),
        "vendor": format!("{:#06x}", info.vendor),
        "device": format!("{:#06x}", info.device),
        "driver": info.driver,
        "driver_info": info.driver_info,
        "max_buffer_size": limits.max_buffer_size,
        "max_storage_buffer_binding_size": limits.max_storage_buffer_binding_size,
        "features": format!("{:?}", adapter.features()),
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_adapters() -> Value {
    json!({ "error": "this build has no wgpu (build with --features wgpu)" })
}

/// A product of two random `n x n` matrices on `device`, against the same product on the CPU,
/// then timed (median of 5 after one warm-up, each synchronised).
fn matmul_check(device: &str, n: usize) -> Result<Value> {
    let device = burn_models::device::parse_device(Some(device))?;
    let cpu = burn_models::device::parse_device(Some("cpu"))?;
    let values = |seed: usize| -> Vec<f32> {
        (0..n * n)
            .map(|i| (((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0) - 1.0)
            .collect()
    };
    let on = |seed: usize, device: &Device| {
        Tensor::<2>::from_data(TensorData::new(values(seed), [n, n]), device)
    };
    let start = Instant::now();
    let product = on(1, &device).matmul(on(2, &device));
    let actual: Vec<f32> = product
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the product back: {e:?}"))?;
    let first_ms = start.elapsed().as_secs_f64() * 1e3;
    let expected: Vec<f32> = on(1, &cpu)
        .matmul(on(2, &cpu))
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the CPU product: {e:?}"))?;
    // Relative to the largest value: the sums run over n terms in another order.
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
    let mut worst = 0f32;
    for (a, e) in actual.iter().zip(&expected) {
        let diff = (a - e).abs() / scale;
        // A NaN anywhere fails the check (`f32::max` would drop it).
        if diff.is_nan() {
            worst = f32::NAN;
            break;
        }
        worst = worst.max(diff);
    }
    let (a, b) = (on(1, &device), on(2, &device));
    let mut samples = Vec::new();
    for run in 0..6 {
        let t = Instant::now();
        // Kept until the device has finished it.
        let product = a.clone().matmul(b.clone());
        device.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        drop(product);
        if run > 0 {
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let median_ms = median(samples);
    // f32 products on the CPU and a GPU agree to a few 1e-6 of the largest value at these sizes;
    // 1e-4 leaves room for other summation orders (TF32 would not pass, and must not).
    let ok = worst <= 1e-4;
    Ok(json!({
        "device": format!("{device:?}"),
        "n": n,
        "max_diff_vs_cpu_relative_to_max": worst,
        "matches_cpu": ok,
        "first_call_ms": first_ms,
        "median_ms": median_ms,
        "gflops": 2.0 * (n as f64).powi(3) / (median_ms * 1e6),
    }))
}

#[derive(clap::Args)]
pub struct SuitesArgs {
    /// The test binary (`cargo test -p integration-tests --test suites`, as `.ci/gpu-build`
    /// builds it).
    #[arg(long)]
    binary: PathBuf,
    /// `BURN_DEVICE` for the tests.
    #[arg(long, default_value = "wgpu")]
    device: String,
    /// Stop the run after this many seconds; tests not finished by then are reported as such.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Threads running tests (libtest's default: one per core).
    #[arg(long)]
    test_threads: Option<usize>,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/gpu-check/suites.json")]
    output: PathBuf,
    /// Where the test binary's output goes, as it comes.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Run only tests whose name contains one of these (e.g. `models::bert::`).
    filters: Vec<String>,
}

/// Outcome of one test.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Passed,
    Failed,
    Ignored,
    /// Started but not finished when the run was stopped.
    Running,
    /// Not started when the run was stopped.
    NotStarted,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
            Self::Running => "running when stopped",
            Self::NotStarted => "not started",
        }
    }
}

/// Runs the integration tests on `--device` under a time limit: libtest's JSON events
/// (`-Z unstable-options --format json`, allowed by `RUSTC_BOOTSTRAP=1` at run time) give
/// each failure's output as it happens, so a run stopped at the limit still reports every
/// failure so far.
pub fn suites(args: SuitesArgs) -> Result<()> {
    let listed = list_tests(&args.binary, &args.filters)?;
    if listed.is_empty() {
        bail!(
            "{} lists no tests for {:?}",
            args.binary.display(),
            args.filters
        );
    }
    let mut log = match &args.log {
        Some(path) => Some(create(path)?),
        None => None,
    };
    let mut command = Command::new(&args.binary);
    command
        .args([
            "-Z",
            "unstable-options",
            "--format",
            "json",
            "--report-time",
        ])
        .args(&args.filters)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("BURN_DEVICE", &args.device)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(threads) = args.test_threads {
        command.arg(format!("--test-threads={threads}"));
    }
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        command.env("RUST_BACKTRACE", "0");
    }
    // The fixtures: `tests/` of the working directory unless the caller says where.
    if std::env::var_os("CARGO_MANIFEST_DIR").is_none() {
        command.env("CARGO_MANIFEST_DIR", std::env::current_dir()?.join("tests"));
    }
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("running {}", args.binary.display()))?;
    let stderr = drain(child.stderr.take().context("stderr")?);
    let (lines, reader) = line_channel(child.stdout.take().context("stdout")?);
    let deadline = start + Duration::from_secs(args.timeout_secs);
    let mut outcomes: BTreeMap<String, (Outcome, Option<f64>)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut timed_out = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        let line = match lines.recv_timeout(deadline - now) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if let Some(log) = log.as_mut() {
            writeln!(log, "{line}")?;
        }
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            println!("{line}");
            continue;
        };
        if event["type"] != "test" {
            continue;
        }
        let name = event["name"].as_str().unwrap_or_default().to_string();
        let time = event["exec_time"].as_f64();
        let outcome = match event["event"].as_str() {
            Some("started") => Outcome::Running,
            Some("ok") => Outcome::Passed,
            Some("ignored") => Outcome::Ignored,
            Some("failed") => Outcome::Failed,
            // `timeout` is libtest's "running for over 60 seconds" notice, not an outcome.
            _ => continue,
        };
        if outcome != Outcome::Running {
            println!(
                "{} {name}{}",
                outcome.name(),
                time.map_or(String::new(), |t| format!(" ({t:.1} s)"))
            );
        }
        if outcome == Outcome::Failed {
            failures.push(json!({
                "name": name,
                "seconds": time,
                "output": tail(event["stdout"].as_str().unwrap_or_default(), 6000),
            }));
        }
        outcomes.insert(name, (outcome, time));
    }
    if timed_out {
        let _ = child.kill();
        println!("stopped after {} s", args.timeout_secs);
    }
    let status = child.wait()?;
    drop(reader);
    let stderr = stderr.join().unwrap_or_default();
    if let Some(log) = log.as_mut() {
        log.write_all(stderr.as_bytes())?;
    }
    for name in &listed {
        outcomes
            .entry(name.clone())
            .or_insert((Outcome::NotStarted, None));
    }
    let mut counts: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
    for (name, (outcome, _)) in &outcomes {
        let suite = name.split("::").next().unwrap_or_default().to_string();
        for key in [suite, "all".to_string()] {
            *counts
                .entry(key)
                .or_default()
                .entry(outcome.name())
                .or_default() += 1;
        }
    }
    let report = json!({
        "binary": args.binary.display().to_string(),
        "device": args.device,
        "filters": args.filters,
        "timeout_secs": args.timeout_secs,
        "timed_out": timed_out,
        "exit_status": status.code(),
        "wall_s": start.elapsed().as_secs_f64(),
        "counts": counts,
        "failures": failures,
        "stderr_tail": tail(&stderr, 4000),
        "tests": outcomes
            .iter()
            .map(|(name, (outcome, time))| json!({"name": name, "outcome": outcome.name(), "seconds": time}))
            .collect::<Vec<_>>(),
    });
    write_json(&args.output, &report)?;
    println!("\n| suite | passed | failed | ignored | running when stopped | not started |");
    println!("|---|---|---|---|---|---|");
    for (suite, count) in &counts {
        let n = |o: Outcome| count.get(o.name()).copied().unwrap_or(0);
        println!(
            "| {suite} | {} | {} | {} | {} | {} |",
            n(Outcome::Passed),
            n(Outcome::Failed),
            n(Outcome::Ignored),
            n(Outcome::Running),
            n(Outcome::NotStarted)
        );
    }
    println!("report: {}", args.output.display());
    Ok(())
}

/// The names of the tests the binary would run for `filters` (ignored ones included).
fn list_tests(binary: &Path, filters: &[String]) -> Result<BTreeSet<String>> {
    let output = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .args(filters)
        .output()
        .with_context(|| format!("listing the tests of {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} --list: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

#[derive(clap::Args)]
pub struct GpuBenchArgs {
    /// Our device (as `--device` elsewhere).
    #[arg(long, default_value = "wgpu")]
    device: String,
    /// Timed runs per workload (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Workloads to run, by exact name (default: the seven of the GPU check; `all`: every
    /// workload of `cargo xtask bench` and the checkpointed LoRA step).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Stop a workload's process after this many seconds.
    #[arg(long, default_value_t = 120)]
    workload_timeout_secs: u64,
    /// Start no new workload after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Where the JSON results go (rewritten after each workload).
    #[arg(long, default_value = "target/gpu-check/bench.json")]
    output: PathBuf,
    /// Internal: run only our side of this workload and print its figures as JSON.
    #[arg(long, hide = true)]
    worker: Option<String>,
}

/// Our side of the benchmark workloads on `--device`, each in its own process (through
/// `cargo xtask bench`'s worker, or this module's for the checkpointed LoRA step), with the
/// process's GPU memory: `nvidia-smi`'s `memory.used` sampled every 50 ms while it runs, less
/// the value just before it started. Burn's GPU runtimes keep the memory pools they grow until
/// the process ends, so the sampled maximum is the most the workload held, allocator pools
/// included (what has to fit on the card).
pub fn gpu_bench(args: GpuBenchArgs) -> Result<()> {
    if let Some(name) = &args.worker {
        return worker(name, &args.device, args.runs);
    }
    let all: Vec<String> = bench::workloads()
        .iter()
        .map(|w| w.name.to_string())
        .chain([LORA_STEP_CHECKPOINTED_WORKLOAD.to_string()])
        .collect();
    let names: Vec<String> = match args.workloads.as_slice() {
        [] => DEFAULT_WORKLOADS.iter().map(|s| s.to_string()).collect(),
        [all_of_them] if all_of_them == "all" => all.clone(),
        some => some.to_vec(),
    };
    if let Some(unknown) = names.iter().find(|n| !all.contains(n)) {
        bail!(
            "no workload {unknown}; the workloads are: {}",
            all.join(", ")
        );
    }
    let gpu = nvidia_smi(&[
        "--query-gpu=name,memory.total,driver_version",
        "--format=csv,noheader",
    ]);
    let start = Instant::now();
    let mut results = Vec::new();
    for name in &names {
        let remaining = args.timeout_secs.saturating_sub(start.elapsed().as_secs());
        if remaining == 0 {
            results.push(json!({"workload": name, "status": "not run (time limit)"}));
            continue;
        }
        let (dir, config) = checkpoint_of(name)?;
        eprintln!("{name}: writing the checkpoint if missing");
        bench::write_random_checkpoint(&dir, &config)?;
        eprintln!("{name}: running on {}", args.device);
        let limit = Duration::from_secs(args.workload_timeout_secs.min(remaining));
        let result = run_worker(name, &args, limit)?;
        eprintln!("{name}: {result}");
        results.push(result);
        write_bench_report(&args, &gpu, &results)?;
    }
    write_bench_report(&args, &gpu, &results)?;
    println!(
        "\n| workload | ours on {} (ms) | load (ms) | GPU memory (MiB) | peak RSS (MiB) | status |",
        args.device
    );
    println!("|---|---|---|---|---|---|");
    for r in &results {
        let f = |k: &str, digits: usize| {
            r[k].as_f64()
                .map_or("-".to_string(), |v| format!("{v:.digits$}"))
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r["workload"].as_str().unwrap_or_default(),
            f("median_ms", 1),
            f("load_ms", 0),
            f("gpu_memory_mib", 0),
            f("peak_rss_mb", 0),
            r["status"].as_str().unwrap_or_default()
        );
    }
    println!("results: {}", args.output.display());
    Ok(())
}

/// The checkpoint directory and config a workload runs on.
fn checkpoint_of(name: &str) -> Result<(PathBuf, Value)> {
    let root = Path::new(CHECKPOINTS);
    if name == LORA_STEP_CHECKPOINTED_WORKLOAD {
        let lora = bench::workloads()
            .into_iter()
            .find(|w| w.name == LORA_STEP_WORKLOAD)
            .context("no LoRA step workload")?;
        return Ok((root.join(lora.checkpoint), lora_step_config()));
    }
    let workload = bench::workloads()
        .into_iter()
        .find(|w| w.name == name)
        .with_context(|| format!("no workload {name}"))?;
    Ok((root.join(workload.checkpoint), workload.config))
}

fn write_bench_report(args: &GpuBenchArgs, gpu: &Option<String>, results: &[Value]) -> Result<()> {
    write_json(
        &args.output,
        &json!({
            "device": args.device,
            "runs": args.runs,
            "nvidia_smi_gpu": gpu,
            "gpu_memory_method": "nvidia-smi memory.used sampled every 50 ms during the workload's process, maximum less the value before it started (MiB)",
            "results": results,
        }),
    )
}

/// Runs one workload's worker process under `limit`, sampling GPU memory meanwhile.
fn run_worker(name: &str, args: &GpuBenchArgs, limit: Duration) -> Result<Value> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    if name == LORA_STEP_CHECKPOINTED_WORKLOAD {
        command.args(["gpu-bench", "--worker", name]);
    } else {
        command.args(["bench", "--worker", name]);
    }
    command
        .args(["--device", &args.device, "--runs", &args.runs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let baseline = gpu_memory_used_mib();
    let sampler = MemorySampler::start();
    let start = Instant::now();
    let mut child = command.spawn().context("starting the workload")?;
    let stdout = drain(child.stdout.take().context("stdout")?);
    let stderr = drain(child.stderr.take().context("stderr")?);
    let status = wait_with_limit(&mut child, limit)?;
    let wall_s = start.elapsed().as_secs_f64();
    let memory = sampler.map(MemorySampler::stop).unwrap_or_default();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let mut result = json!({
        "workload": name,
        "wall_s": wall_s,
        "gpu_memory_baseline_mib": baseline,
        "gpu_memory_peak_mib": memory.peak_mib,
        "gpu_memory_mib": match (memory.peak_mib, baseline) {
            (Some(p), Some(b)) => Some(p - b),
            _ => None,
        },
        "gpu_memory_samples": memory.count,
        // The process's course (load, then the runs after `load_ms`), as [ms, MiB] at each change.
        "gpu_memory_changes_ms_mib": memory.changes,
    });
    let figures = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok());
    match (status, figures) {
        (Some(s), Some(Value::Object(figures))) if s.success() => {
            for (k, v) in figures {
                result[k] = v;
            }
            result["status"] = json!("ok");
        }
        (None, _) => {
            result["status"] = json!(format!("stopped after {} s", limit.as_secs()));
            result["stderr_tail"] = json!(tail(&stderr, 3000));
        }
        (Some(s), _) => {
            result["status"] = json!(format!("failed ({s})"));
            result["stderr_tail"] = json!(tail(&stderr, 3000));
        }
    }
    Ok(result)
}

/// The worker of the checkpointed LoRA step (the other workloads use `bench --worker`):
/// load, one untimed step (it allocates the optimizer state), then `runs` timed steps.
fn worker(name: &str, device: &str, runs: usize) -> Result<()> {
    if name != LORA_STEP_CHECKPOINTED_WORKLOAD {
        bail!("no gpu-bench worker for {name} (bench --worker runs it)");
    }
    let device = burn_models::device::parse_device(Some(device))?;
    let (dir, _) = checkpoint_of(name)?;
    let start = Instant::now();
    let mut step = lora_train_step_with(&dir, &device, true)?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    step()?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        step()?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "{}",
        json!({"median_ms": median(samples), "load_ms": load_ms, "peak_rss_mb": bench::peak_rss_mb()})
    );
    Ok(())
}

/// `nvidia-smi`'s answer to `args`, or `None` where there is none.
fn nvidia_smi(args: &[&str]) -> Option<String> {
    let output = Command::new("nvidia-smi").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// GPU 0's memory in use, MiB.
fn gpu_memory_used_mib() -> Option<f64> {
    nvidia_smi(&[
        "--id=0",
        "--query-gpu=memory.used",
        "--format=csv,noheader,nounits",
    ])?
    .parse()
    .ok()
}

/// `nvidia-smi` reporting GPU 0's memory in use every 50 ms.
struct MemorySampler {
    child: Child,
    reader: std::thread::JoinHandle<MemorySamples>,
}

/// What [`MemorySampler`] saw.
#[derive(Default)]
struct MemorySamples {
    peak_mib: Option<f64>,
    count: usize,
    /// `(ms since the start, MiB)` at the start and at each change.
    changes: Vec<(u64, f64)>,
}

impl MemorySampler {
    fn start() -> Option<Self> {
        let mut child = Command::new("nvidia-smi")
            .args([
                "--id=0",
                "--query-gpu=memory.used",
                "--format=csv,noheader,nounits",
                "--loop-ms=50",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdout = child.stdout.take()?;
        let start = Instant::now();
        let reader = std::thread::spawn(move || {
            let mut seen = MemorySamples::default();
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                let Ok(mib) = line.trim().parse::<f64>() else {
                    continue;
                };
                seen.peak_mib = Some(seen.peak_mib.map_or(mib, |p| p.max(mib)));
                seen.count += 1;
                if seen.changes.last().is_none_or(|&(_, last)| last != mib) {
                    seen.changes.push((start.elapsed().as_millis() as u64, mib));
                }
            }
            seen
        });
        Some(Self { child, reader })
    }

    fn stop(mut self) -> MemorySamples {
        // One more sample's time, so the last moments of the workload are read.
        std::thread::sleep(Duration::from_millis(100));
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader.join().unwrap_or_default()
    }
}

/// Waits for `child` up to `limit`; kills it after. `None`: it was killed.
fn wait_with_limit(child: &mut Child, limit: Duration) -> Result<Option<std::process::ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if start.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads `stream` to its end on a thread (so that a full pipe never blocks the child).
fn drain(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The lines of `stream`, as they come, through a channel.
fn line_channel(
    stream: impl Read + Send + 'static,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<()>,
) {
    let (send, receive) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    (receive, reader)
}

fn median(mut samples: Vec<f64>) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The last `max` bytes of `text` (on a character boundary).
fn tail(text: &str, max: usize) -> String {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

fn create(path: &Path) -> Result<std::fs::File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut file = create(path)?;
    file.write_all(serde_json::to_string_pretty(value)?.as_bytes())?;
    Ok(())
}
