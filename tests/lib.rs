//! Helpers shared by the integration tests: fixture paths, goldens, tolerant comparisons.

use std::path::PathBuf;

use burn::tensor::Device;
use serde_json::Value;

/// f32 outputs must match transformers within this absolute tolerance.
pub const TOLERANCE: f32 = 1e-4;

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// `tests/fixtures/<name>/golden.json`.
pub fn golden(name: &str) -> Value {
    let path = fixture(name).join("golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

/// Asserts shape equality and element-wise closeness, reporting the worst element.
pub fn assert_close(what: &str, shape: &[usize], actual: &[f32], golden: &Value) {
    let (expected_shape, expected) = golden_tensor(golden);
    assert_eq!(shape, expected_shape.as_slice(), "{what}: shape");
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let (worst, diff) = actual
        .iter()
        .zip(&expected)
        .map(|(a, e)| (a - e).abs())
        .enumerate()
        .fold((0, 0.0f32), |acc, (i, d)| {
            if d > acc.1 || d.is_nan() { (i, d) } else { acc }
        });
    assert!(
        diff <= TOLERANCE,
        "{what}: max abs diff {diff} at flat index {worst} (ours {}, transformers {})",
        actual[worst],
        expected[worst]
    );
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

/// Compares two JSON values: equal structure, strings and integers; floats within [`TOLERANCE`].
pub fn assert_json_close(what: &str, actual: &Value, expected: &Value) {
    fn walk(path: &str, a: &Value, e: &Value) -> Result<(), String> {
        match (a, e) {
            (Value::Number(x), Value::Number(y)) => {
                if x.is_f64() || y.is_f64() {
                    let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                    if (x - y).abs() > TOLERANCE as f64 {
                        return Err(format!("{path}: {x} vs {y}"));
                    }
                } else if x != y {
                    return Err(format!("{path}: {x} vs {y}"));
                }
                Ok(())
            }
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return Err(format!("{path}: {} items vs {}", x.len(), y.len()));
                }
                x.iter()
                    .zip(y)
                    .enumerate()
                    .try_for_each(|(i, (x, y))| walk(&format!("{path}[{i}]"), x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                let (kx, ky): (Vec<_>, Vec<_>) = (x.keys().collect(), y.keys().collect());
                if kx != ky {
                    return Err(format!("{path}: keys {kx:?} vs {ky:?}"));
                }
                x.iter()
                    .try_for_each(|(k, v)| walk(&format!("{path}.{k}"), v, &y[k]))
            }
            _ if a == e => Ok(()),
            _ => Err(format!("{path}: {a} vs {e}")),
        }
    }
    if let Err(diff) = walk("", actual, expected) {
        panic!("{what}: differs from transformers at {diff}\nours: {actual}\nHF:   {expected}");
    }
}
