//! `cargo xtask train-yelp` / `train-squad` end to end on the tiny fixtures, on the CPU.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The package's directory, read at run time: cargo sets it for `cargo test`, and a test
/// binary reused from a checkout elsewhere must not read that checkout's fixtures.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn fixtures() -> PathBuf {
    manifest_dir().join("../tests/fixtures")
}

fn run(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

#[test]
fn train_yelp_prints_final_metrics() {
    let out = tempfile::tempdir().unwrap();
    let f = fixtures();
    let report = run(&[
        "train-yelp",
        "--model",
        f.join("bert-base").to_str().unwrap(),
        "--data",
        f.join("train-data/yelp").to_str().unwrap(),
        "--output",
        out.path().to_str().unwrap(),
        "--epochs",
        "10",
        "--batch-size",
        "8",
        "--lr",
        "5e-3",
        "--max-length",
        "24",
        "--train-samples",
        "all",
        "--eval-samples",
        "all",
        "--device",
        "cpu",
        "--quiet",
    ]);
    let accuracy = report["metrics"]["accuracy"].as_f64().unwrap();
    let losses: Vec<f64> = report["epoch_losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(accuracy >= 0.6, "{report}");
    assert!(losses.last().unwrap() < &losses[0], "{report}");
    assert!(out.path().join("model.safetensors").is_file());
}

#[test]
fn train_squad_v2_prints_final_metrics() {
    let out = tempfile::tempdir().unwrap();
    let f = fixtures();
    let report = run(&[
        "train-squad",
        "--v2",
        "--model",
        f.join("distilbert-base").to_str().unwrap(),
        "--data",
        f.join("train-data/squad_v2").to_str().unwrap(),
        "--output",
        out.path().to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--max-length",
        "48",
        "--doc-stride",
        "16",
        "--eval-samples",
        "8",
        "--device",
        "cpu",
        "--quiet",
    ]);
    for key in ["exact", "f1", "HasAns_exact", "total"] {
        assert!(report["metrics"][key].is_number(), "{key}: {report}");
    }
    assert_eq!(report["metrics"]["total"].as_f64(), Some(8.0));
}

#[test]
fn bad_options_are_errors() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["train-yelp", "--model", "/nonexistent/model", "--quiet"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/model"), "{stderr}");
}

/// A hub dataset id is read from the hub cache as `huggingface_hub` lays it out (offline here:
/// the layout a download leaves, built by hand).
#[test]
fn hub_dataset_ids_resolve_through_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let repo = cache.path().join("datasets--Yelp--yelp_review_full");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = repo.join("snapshots").join(commit).join("yelp_review_full");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    let f = fixtures();
    for split in ["train", "test"] {
        let name = format!("{split}-00000-of-00001.parquet");
        std::fs::copy(f.join("train-data/yelp").join(&name), snapshot.join(&name)).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "train-yelp",
            "--model",
            f.join("bert-base").to_str().unwrap(),
            "--output",
            out.path().to_str().unwrap(),
            "--epochs",
            "1",
            "--max-length",
            "16",
            "--train-samples",
            "16",
            "--eval-samples",
            "8",
            "--device",
            "cpu",
            "--quiet",
        ])
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["metrics"]["accuracy"].is_number(), "{report}");
    assert!(
        stderr.contains("16 training / 8 evaluation features"),
        "{stderr}"
    );

    // Not cached and offline: a clear error naming the dataset.
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "train-squad",
            "--model",
            f.join("distilbert-base").to_str().unwrap(),
            "--quiet",
            "--device",
            "cpu",
        ])
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rajpurkar/squad") && stderr.contains("offline"),
        "{stderr}"
    );
}
