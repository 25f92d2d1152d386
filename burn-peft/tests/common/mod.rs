//! Fixture helpers for the burn-peft tests (the goldens live in tests/fixtures).
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use burn_models::bert::{BertConfig, BertForSequenceClassification};
use burn_models::config::read_config;
use burn_models::distilbert::{DistilBertConfig, DistilBertForSequenceClassification};
use burn_models::heads::EncoderInput;
use burn_models::hub::{WeightScope, Weights};
use serde_json::Value;

/// The package's directory, read at run time: cargo sets it for `cargo test`, and a test
/// binary reused from a checkout elsewhere must not read that checkout's fixtures.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn fixture(name: &str) -> PathBuf {
    manifest_dir().join("../tests/fixtures").join(name)
}

pub fn golden(name: &str) -> Value {
    let path = fixture(name).join("golden.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn device() -> Device {
    burn_models::device::parse_device(Some(
        std::env::var("BURN_DEVICE").as_deref().unwrap_or("cpu"),
    ))
    .expect("test device")
}

/// The model of fixture `name`, read with its config by `load` (a model's `load`).
pub fn load_fixture<C: serde::de::DeserializeOwned, M>(
    name: &str,
    device: &Device,
    load: impl FnOnce(&WeightScope, &C) -> burn_models::error::Result<M>,
) -> M {
    let dir = fixture(name);
    let config: C = read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    load(&weights.root(device), &config).unwrap()
}

pub fn bert(name: &str, device: &Device) -> BertForSequenceClassification {
    load_fixture::<BertConfig, _>(name, device, BertForSequenceClassification::load)
}

pub fn distilbert(name: &str, device: &Device) -> DistilBertForSequenceClassification {
    load_fixture::<DistilBertConfig, _>(name, device, DistilBertForSequenceClassification::load)
}

/// A safetensors file as sorted (key, shape, bytes).
pub fn read_tensors(path: PathBuf) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    tensors.sort();
    tensors
}

fn rows(value: &Value) -> Vec<Vec<i64>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        })
        .collect()
}

pub fn input(case: &Value, device: &Device) -> EncoderInput {
    let types = case.get("token_type_ids").map(rows);
    EncoderInput::new(
        &rows(&case["input_ids"]),
        &rows(&case["attention_mask"]),
        types.as_deref(),
        device,
    )
    .unwrap()
}

pub fn values<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let shape = t.dims().to_vec();
    (
        shape,
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap(),
    )
}

/// Largest |actual - golden| after checking shapes.
pub fn max_diff<const D: usize>(actual: Tensor<D>, golden: &Value) -> f32 {
    let (shape, data) = values(actual);
    let expected_shape: Vec<usize> = golden["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(shape, expected_shape, "shape");
    let expected: Vec<f32> = golden["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    data.iter()
        .zip(&expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0, f32::max)
}

pub fn assert_close<const D: usize>(what: &str, actual: Tensor<D>, golden: &Value, tolerance: f32) {
    let diff = max_diff(actual, golden);
    assert!(diff <= tolerance, "{what}: max |diff| {diff} > {tolerance}");
}
