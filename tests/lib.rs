//! Helpers shared by the integration tests: fixture paths, goldens, tolerant comparisons.

use std::path::PathBuf;

use burn::tensor::Device;
use serde_json::Value;

/// The package's directory, read at run time: cargo sets it for `cargo test`, and a test
/// binary reused from a checkout elsewhere must not read that checkout's fixtures.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub use test_support::{
    TOLERANCE, assert_close_rel, assert_json_close, json_diff, mask_json, max_abs_diff,
    max_rel_diff,
};

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    manifest_dir().join("fixtures").join(name)
}

/// `tests/fixtures/<name>/golden.json`.
pub fn golden(name: &str) -> Value {
    let path = fixture(name).join("golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture `name` as a model directory.
pub fn model_dir(name: &str) -> burn_models::hub::ModelDir {
    burn_models::hub::ModelDir::local(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The typed pipeline `P` on fixture `name`, on the test device.
pub fn typed_pipeline<P: burn_tasks::TaskPipeline>(name: &str) -> P {
    P::builder()
        .model(fixture(name).display().to_string())
        .device(device())
        .load()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The JSON pipeline of `task` on fixture `name`, on the test device.
pub fn json_pipeline(task: &str, name: &str) -> burn_tasks::Pipeline {
    burn_tasks::pipeline(task)
        .and_then(|builder| {
            builder
                .model(fixture(name).display().to_string())
                .device(device())
                .build()
        })
        .unwrap_or_else(|e| panic!("{task} on {name}: {e}"))
}

/// Held by every test that seeds or draws from the device's random stream (training with
/// dropout, seeded initialisation): the tests of one binary run on threads of one process, and
/// a draw by one test between another's seed and its use would change that test's numbers.
pub fn random_stream_lock() -> std::sync::MutexGuard<'static, ()> {
    static RANDOM_STREAM: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RANDOM_STREAM
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The test device: `BURN_DEVICE` if set (e.g. `wgpu`), else the CPU.
pub fn device() -> Device {
    burn_models::device::parse_device(Some(
        std::env::var("BURN_DEVICE").as_deref().unwrap_or("cpu"),
    ))
    .expect("test device")
}

/// A golden tensor `{"shape": [...], "data": [...]}`.
pub fn golden_tensor(value: &Value) -> (Vec<usize>, Vec<f32>) {
    let shape = value["shape"]
        .as_array()
        .expect("golden tensor shape")
        .iter()
        .map(|v| v.as_u64().expect("dim") as usize)
        .collect();
    let data = value["data"]
        .as_array()
        .expect("golden tensor data")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect();
    (shape, data)
}

/// Rows of integers (`input_ids`, `attention_mask`, ...).
pub fn int_rows(value: &Value) -> Vec<Vec<i64>> {
    value
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_i64().expect("integer"))
                .collect()
        })
        .collect()
}

/// Asserts shape equality and element-wise closeness to a golden tensor within [`TOLERANCE`],
/// reporting the worst element (NaN-aware).
#[track_caller]
pub fn assert_close(what: &str, shape: &[usize], actual: &[f32], golden: &Value) {
    let (expected_shape, expected) = golden_tensor(golden);
    assert_eq!(shape, expected_shape.as_slice(), "{what}: shape");
    test_support::assert_close(what, actual, &expected, TOLERANCE);
}

/// Reads a float tensor back to the host.
pub fn to_vec<const D: usize>(tensor: burn::tensor::Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let shape = tensor.dims().to_vec();
    let data = tensor
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 tensor");
    (shape, data)
}

/// The `pipeline` cases of `tests/fixtures/<name>/golden.json` whose `task` is one of `tasks`.
pub fn golden_cases(name: &str, tasks: &[&str]) -> Vec<Value> {
    golden(name)["pipeline"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: golden.json has no `pipeline` list"))
        .iter()
        .filter(|case| tasks.iter().any(|task| case["task"] == *task))
        .cloned()
        .collect()
}

/// Runs one golden case (`{"inputs", "kwargs", "output"}`) and compares what `run` returns with
/// its `output` through [`json_diff`]; the error names the difference and shows both values.
pub fn check_case(
    case: &Value,
    run: impl FnOnce(&Value) -> Result<Value, String>,
) -> Result<(), String> {
    let actual = run(case)?;
    json_diff(&actual, &case["output"]).map_err(|diff| {
        format!(
            "output{diff}\n  actual:   {actual}\n  expected: {}",
            case["output"]
        )
    })
}

/// Checks a pipeline against the goldens of `fixtures` for `tasks`: every case with the default
/// `batch_size` and again with `batch_size` 1 and 3 (padded batches must not change the results).
/// Panics listing every failing case, or where a fixture has no case.
pub fn check_pipeline_goldens<P>(
    fixtures: &[&str],
    tasks: &[&str],
    load: impl Fn(&str) -> P,
    run: impl Fn(&P, &Value) -> Result<Value, String>,
) {
    let mut failures = Vec::new();
    for name in fixtures {
        let pipe = load(name);
        let cases = golden_cases(name, tasks);
        assert!(
            !cases.is_empty(),
            "{name}: no {tasks:?} cases in golden.json"
        );
        let before = failures.len();
        for batch_size in [None, Some(1), Some(3)] {
            for (index, case) in cases.iter().enumerate() {
                let mut case = case.clone();
                if let Some(batch_size) = batch_size {
                    case["kwargs"]["batch_size"] = batch_size.into();
                }
                if let Err(message) = check_case(&case, |case| run(&pipe, case)) {
                    failures.push(format!(
                        "{name} case {index} (inputs {}, kwargs {}): {message}",
                        case["inputs"], case["kwargs"]
                    ));
                }
            }
        }
        eprintln!(
            "{name}: {} cases, run with 3 batch sizes: {} failures",
            cases.len(),
            failures.len() - before
        );
    }
    assert_no_failures(&failures);
}

/// Panics listing `failures`, if any.
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Asserts a [`TaskError::InvalidInput`] whose message is not empty and mentions `mentions`.
///
/// [`TaskError::InvalidInput`]: burn_tasks::TaskError::InvalidInput
pub fn assert_invalid_input(
    result: Result<impl std::fmt::Debug, burn_tasks::TaskError>,
    what: &str,
    mentions: &str,
) {
    match result {
        Err(burn_tasks::TaskError::InvalidInput(message)) => {
            assert!(!message.is_empty(), "{what}: empty message");
            assert!(
                message.contains(mentions),
                "{what}: `{message}` does not mention {mentions}"
            );
        }
        other => panic!("{what}: expected TaskError::InvalidInput, got {other:?}"),
    }
}

/// Replaces every `mask` path of a pipeline's JSON output by [`mask_json`] of the PNG there.
pub fn masks_to_json(output: &mut Value) {
    match output {
        Value::Array(items) => items.iter_mut().for_each(masks_to_json),
        Value::Object(segment) => {
            let path = segment["mask"].as_str().expect("mask path").to_string();
            let png = burn_tasks::input::load_image(std::path::Path::new(&path)).expect("mask PNG");
            // Grayscale decodes to equal RGB channels.
            let gray: Vec<u8> = png.data.chunks_exact(3).map(|p| p[0]).collect();
            segment.insert("mask".into(), mask_json(png.width, png.height, &gray));
        }
        other => panic!("unexpected output item {other}"),
    }
}
