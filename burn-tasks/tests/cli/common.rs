//! What every command-line test needs: the binary, the fixtures, the goldens, JSON comparison.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

pub use test_support::{assert_json_close, element_diff_f64};

/// The package's directory, read at run time: cargo sets it for `cargo test`, and a test
/// binary reused from a checkout elsewhere must not read that checkout's fixtures.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    manifest_dir().join("../tests/fixtures")
}

/// `tests/fixtures/<name>` as a command-line argument.
pub fn fixture(name: &str) -> String {
    fixtures().join(name).to_string_lossy().into_owned()
}

/// `tests/fixtures/images/<name>` as a command-line argument.
pub fn image(name: &str) -> String {
    fixture(&format!("images/{name}"))
}

/// Runs `burn-tasks` on the CPU.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burn-tasks"))
        .args(args)
        .env("BURN_DEVICE", "cpu")
        .output()
        .expect("run burn-tasks")
}

/// The JSON a successful run printed.
#[track_caller]
pub fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "burn-tasks failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// Asserts a failed run with a one-line `error: ...` message and no panic.
#[track_caller]
pub fn assert_clean_error(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    stderr
}

/// The `pipeline` cases of `tests/fixtures/<fixture>/<file>`.
pub fn golden_cases(fixture_name: &str, file: &str) -> Vec<Value> {
    let path = fixtures().join(fixture_name).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let golden: Value = serde_json::from_str(&text).expect("golden JSON");
    golden["pipeline"]
        .as_array()
        .expect("pipeline cases")
        .clone()
}

/// The `index`-th pipeline case of `tests/fixtures/<fixture>/golden.json`.
pub fn golden_case(fixture_name: &str, index: usize) -> Value {
    golden_cases(fixture_name, "golden.json")[index].clone()
}

/// The output of the golden case of `<fixture>/golden.json` with these inputs and kwargs.
pub fn golden_output(fixture_name: &str, inputs: &Value, kwargs: &Value) -> Value {
    golden_output_in(fixture_name, "golden.json", inputs, kwargs)
}

/// [`golden_output`] from another golden file of the fixture.
pub fn golden_output_in(fixture_name: &str, file: &str, inputs: &Value, kwargs: &Value) -> Value {
    golden_cases(fixture_name, file)
        .into_iter()
        .find(|c| &c["inputs"] == inputs && &c["kwargs"] == kwargs)
        .unwrap_or_else(|| panic!("{fixture_name}/{file}: no golden case for {inputs} {kwargs}"))
        ["output"]
        .clone()
}

/// A mask PNG as the goldens store masks: size, 255-pixel count, run lengths from 0s.
pub fn png_json(path: &str) -> Value {
    let mask = image::open(path).expect("mask PNG").into_luma8();
    test_support::mask_json(mask.width() as usize, mask.height() as usize, mask.as_raw())
}
