//! The comparisons every test of the workspace uses: numbers (NaN-aware), JSON outputs against
//! transformers' goldens, and masks as the goldens store them.
//!
//! `f32::max` drops NaN (`NaN.max(1.0) == 1.0`), so a maximum built with it lets NaN outputs
//! pass any tolerance. Here a NaN on one side only, an infinity against a finite value, or a
//! length mismatch is an infinite difference, so every comparison with a finite tolerance fails.

use serde_json::Value;

/// How far one element is from its reference: `|a - b|`, 0 where both are the same NaN or
/// infinity, and `f32::INFINITY` where only one side is NaN or the infinities differ.
pub fn element_diff(actual: f32, expected: f32) -> f32 {
    if actual.is_nan() || expected.is_nan() {
        return if actual.is_nan() && expected.is_nan() {
            0.0
        } else {
            f32::INFINITY
        };
    }
    if actual == expected {
        return 0.0; // also equal infinities, whose difference would be NaN
    }
    let diff = (actual - expected).abs();
    if diff.is_nan() { f32::INFINITY } else { diff }
}

/// The largest [`element_diff`] and its flat index; `(INFINITY, 0)` when the lengths differ,
/// `(0.0, 0)` for two empty slices.
pub fn max_abs_diff(actual: &[f32], expected: &[f32]) -> (f32, usize) {
    if actual.len() != expected.len() {
        return (f32::INFINITY, 0);
    }
    let mut worst = (0.0f32, 0usize);
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let diff = element_diff(a, e);
        if diff > worst.0 {
            worst = (diff, i);
        }
    }
    worst
}

/// The largest relative difference `|a - e| / max(|e|, floor)`, NaN-aware like
/// [`max_abs_diff`]; `floor` keeps near-zero references from dividing by zero.
pub fn max_rel_diff(actual: &[f32], expected: &[f32], floor: f32) -> (f32, usize) {
    if actual.len() != expected.len() {
        return (f32::INFINITY, 0);
    }
    let mut worst = (0.0f32, 0usize);
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let diff = element_diff(a, e) / e.abs().max(floor);
        if diff > worst.0 || diff.is_nan() {
            worst = (if diff.is_nan() { f32::INFINITY } else { diff }, i);
        }
    }
    worst
}

/// Panics unless every element of `actual` is within `tolerance` of `expected` (absolute),
/// naming the worst element.
#[track_caller]
pub fn assert_close(what: &str, actual: &[f32], expected: &[f32], tolerance: f32) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {} values against {} expected",
        actual.len(),
        expected.len()
    );
    let (diff, at) = max_abs_diff(actual, expected);
    assert!(
        diff <= tolerance,
        "{what}: max abs diff {diff} > {tolerance} at flat index {at} (ours {}, reference {})",
        actual[at],
        expected[at]
    );
}

/// Panics unless every element is within `tolerance` relative to the reference (with
/// `floor` as the smallest reference magnitude divided by), naming the worst element.
#[track_caller]
pub fn assert_close_rel(what: &str, actual: &[f32], expected: &[f32], tolerance: f32, floor: f32) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {} values against {} expected",
        actual.len(),
        expected.len()
    );
    let (diff, at) = max_rel_diff(actual, expected, floor);
    assert!(
        diff <= tolerance,
        "{what}: max relative diff {diff} > {tolerance} at flat index {at} (ours {}, reference {})",
        actual[at],
        expected[at]
    );
}

/// [`element_diff`] for f64 values (JSON numbers), with the same NaN rules.
pub fn element_diff_f64(actual: f64, expected: f64) -> f64 {
    if actual.is_nan() || expected.is_nan() {
        return if actual.is_nan() && expected.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if actual == expected {
        return 0.0;
    }
    let diff = (actual - expected).abs();
    if diff.is_nan() { f64::INFINITY } else { diff }
}

/// f32 outputs must match transformers within this absolute tolerance: what float32 rounding
/// leaves between two implementations that sum in different orders (the goldens' 1e-4).
pub const TOLERANCE: f32 = 1e-4;

/// Compares two JSON values: equal structure, key order, strings and integers; floats within
/// [`TOLERANCE`] (NaN-aware). The first difference comes back as `path: ours vs expected`.
pub fn json_diff(actual: &Value, expected: &Value) -> Result<(), String> {
    json_diff_within(actual, expected, TOLERANCE as f64)
}

/// [`json_diff`] with floats within `tolerance`.
pub fn json_diff_within(actual: &Value, expected: &Value, tolerance: f64) -> Result<(), String> {
    fn walk(path: &str, a: &Value, e: &Value, tolerance: f64) -> Result<(), String> {
        match (a, e) {
            (Value::Number(x), Value::Number(y)) => {
                if x.is_f64() || y.is_f64() {
                    let (x, y) = (
                        x.as_f64().unwrap_or(f64::NAN),
                        y.as_f64().unwrap_or(f64::NAN),
                    );
                    if element_diff_f64(x, y) > tolerance {
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
                    .try_for_each(|(i, (x, y))| walk(&format!("{path}[{i}]"), x, y, tolerance))
            }
            (Value::Object(x), Value::Object(y)) => {
                let (kx, ky): (Vec<_>, Vec<_>) = (x.keys().collect(), y.keys().collect());
                if kx != ky {
                    return Err(format!("{path}: keys {kx:?} vs {ky:?}"));
                }
                x.iter()
                    .try_for_each(|(k, v)| walk(&format!("{path}.{k}"), v, &y[k], tolerance))
            }
            _ if a == e => Ok(()),
            _ => Err(format!("{path}: {a} vs {e}")),
        }
    }
    walk("", actual, expected, tolerance)
}

/// Panics with both values where [`json_diff`] finds a difference.
#[track_caller]
pub fn assert_json_close(what: &str, actual: &Value, expected: &Value) {
    if let Err(diff) = json_diff(actual, expected) {
        panic!("{what}: differs from transformers at {diff}\nours: {actual}\nHF:   {expected}");
    }
}

/// A 0/255 mask as the goldens store it: size, pixels at 255, and run lengths of the row-major
/// pixels alternating 0-runs and 255-runs, starting with a (possibly empty) 0-run.
pub fn mask_json(width: usize, height: usize, pixels: &[u8]) -> Value {
    assert_eq!(pixels.len(), width * height, "mask size");
    assert!(
        pixels.iter().all(|&p| p == 0 || p == 255),
        "mask values must be 0 or 255"
    );
    let mut runs = Vec::new();
    let mut current = 0u8;
    let mut length = 0u64;
    for &p in pixels {
        if p != current {
            runs.push(length);
            current = p;
            length = 0;
        }
        length += 1;
    }
    runs.push(length);
    serde_json::json!({
        "width": width,
        "height": height,
        "ones": pixels.iter().filter(|&&p| p == 255).count(),
        "rle": runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_never_passes() {
        assert_eq!(max_abs_diff(&[1.0, f32::NAN], &[1.0, 2.0]).0, f32::INFINITY);
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0, f32::NAN]).0, f32::INFINITY);
        assert_eq!(max_rel_diff(&[f32::NAN], &[1.0], 1e-6).0, f32::INFINITY);
        let result = std::panic::catch_unwind(|| assert_close("nan", &[f32::NAN], &[0.0], 1e-4));
        assert!(result.is_err(), "a NaN output must fail the comparison");
    }

    #[test]
    fn infinities_and_lengths() {
        assert_eq!(max_abs_diff(&[f32::INFINITY], &[f32::INFINITY]).0, 0.0);
        assert_eq!(
            max_abs_diff(&[f32::INFINITY], &[f32::NEG_INFINITY]).0,
            f32::INFINITY
        );
        assert_eq!(max_abs_diff(&[f32::INFINITY], &[1.0]).0, f32::INFINITY);
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]).0, f32::INFINITY);
        assert_eq!(element_diff_f64(f64::NAN, 1.0), f64::INFINITY);
    }

    #[test]
    fn worst_element_is_found() {
        assert_eq!(max_abs_diff(&[1.0, 2.5, 3.0], &[1.0, 2.0, 3.1]), (0.5, 1));
        let (rel, at) = max_rel_diff(&[1.0, 110.0], &[1.0, 100.0], 1e-6);
        assert!((rel - 0.1).abs() < 1e-6 && at == 1);
        assert_close("close", &[1.0, 2.0], &[1.00001, 2.0], 1e-4);
    }

    #[test]
    fn json_floats_within_tolerance_and_structure_exact() {
        use serde_json::json;
        assert!(json_diff(&json!([{"a": 1.0}]), &json!([{"a": 1.00005}])).is_ok());
        assert!(json_diff(&json!([{"a": 1.0}]), &json!([{"a": 1.001}])).is_err());
        assert!(json_diff(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})).is_err());
        assert!(json_diff(&json!("x"), &json!("y")).is_err());
        assert!(json_diff(&json!([1]), &json!([1, 2])).is_err());
    }
}
