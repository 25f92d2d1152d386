//! The vision subcommands of the `burn-tasks` command line against the pipeline goldens.

use std::path::PathBuf;
use std::process::{Command, Output};

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

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burn-tasks"))
        .args(args)
        .env("BURN_DEVICE", "cpu")
        .output()
        .expect("run burn-tasks")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "burn-tasks failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// The golden pipeline case of `fixture` whose inputs and kwargs are these.
fn golden_output(fixture: &str, inputs: &Value, kwargs: &Value) -> Value {
    let path = fixtures().join(fixture).join("golden.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    golden["pipeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| &c["inputs"] == inputs && &c["kwargs"] == kwargs)
        .unwrap_or_else(|| panic!("no golden case for {inputs} {kwargs}"))["output"]
        .clone()
}

/// Same structure, strings and integers; scores within 1e-4.
fn assert_matches(ours: &Value, hf: &Value) {
    match (ours, hf) {
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{ours} vs {hf}");
            a.iter().zip(b).for_each(|(a, b)| assert_matches(a, b));
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
            a.iter().for_each(|(k, v)| assert_matches(v, &b[k]));
        }
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= 1e-4, "{a} vs {b}");
        }
        _ => assert_eq!(ours, hf),
    }
}

fn image(name: &str) -> String {
    fixtures().join("images").join(name).display().to_string()
}

#[test]
fn image_classification_command() {
    let model = fixtures().join("vit-imgcls").display().to_string();
    let out = json(&run(&[
        "image-classification",
        "--model",
        &model,
        "--top-k",
        "2",
        &image("gray.png"),
    ]));
    let hf = golden_output(
        "vit-imgcls",
        &"gray.png".into(),
        &serde_json::json!({"top_k": 2}),
    );
    assert_matches(&out, &hf);
}

#[test]
fn object_detection_command() {
    let model = fixtures().join("detr-objdet").display().to_string();
    let out = json(&run(&[
        "object-detection",
        "--model",
        &model,
        "--threshold",
        "0.3",
        &image("image.bmp"),
        &image("rgb.png"),
    ]));
    let hf = golden_output(
        "detr-objdet",
        &serde_json::json!(["image.bmp", "rgb.png"]),
        &serde_json::json!({"threshold": 0.3}),
    );
    assert_matches(&out, &hf);
}

#[test]
fn unreadable_image_fails_cleanly() {
    let model = fixtures().join("vit-imgcls").display().to_string();
    let not_an_image = fixtures().join("images.json").display().to_string();
    let output = run(&["image-classification", "--model", &model, &not_an_image]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot decode image"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
