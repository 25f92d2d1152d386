//! Fixture helpers of the burn-peft tests.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use burn_models::bert::{BertConfig, BertForSequenceClassification};
use burn_models::config::read_config;
use burn_models::distilbert::{DistilBertConfig, DistilBertForSequenceClassification};
use burn_models::heads::EncoderInput;
use burn_models::hub::{WeightScope, Weights};
use serde_json::Value;

pub use integration_tests::{device, fixture, golden};

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

/// Largest |actual - golden| after checking shapes (NaN-aware: a NaN gives infinity).
pub fn max_diff<const D: usize>(actual: Tensor<D>, golden: &Value) -> f32 {
    let (shape, data) = values(actual);
    let (expected_shape, expected) = integration_tests::golden_tensor(golden);
    assert_eq!(shape, expected_shape, "shape");
    test_support::max_abs_diff(&data, &expected).0
}

/// Largest |a - b| of two tensors read back to the host (NaN-aware: a NaN on one side gives
/// infinity).
pub fn max_abs_diff_of<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let (shape_a, a) = values(a);
    let (shape_b, b) = values(b);
    assert_eq!(shape_a, shape_b, "shape");
    test_support::max_abs_diff(&a, &b).0
}

#[track_caller]
pub fn assert_close<const D: usize>(what: &str, actual: Tensor<D>, golden: &Value, tolerance: f32) {
    let diff = max_diff(actual, golden);
    assert!(diff <= tolerance, "{what}: max |diff| {diff} > {tolerance}");
}
