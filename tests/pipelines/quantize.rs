//! `pipeline(task).quantize(Quantization::Int8)` (the command line's `--quantize int8`) on every
//! task: the pipeline goldens of the f32 models, run with dynamic int8 linear layers, keep their
//! labels, spans and texts in as many cases as measured, and there their scores stay within a
//! measured tolerance of transformers' f32 ones.

use burn_tasks::pipelines::Quantization;
use integration_tests::*;
use serde_json::Value;

use super::adapters::call_case;

/// Scores, boxes and timestamps of the int8 pipelines stay this close to transformers' f32
/// ones where the labels, spans and texts are unchanged. Measured: worst 0.036 over every
/// task. The tiny random models (hidden size 32) sum few products per output, so int8
/// rounding barely averages out, and a softmax over few labels passes logit errors of ~0.1
/// (`tests/models/int8.rs`) on to the probabilities.
const INT8_SCORE_TOLERANCE: f64 = 0.05;

/// Below this, the outputs would be f32 ones (within the goldens' 1e-4): the pipeline did not
/// quantize.
const QUANTIZED_AT_LEAST: f64 = 1e-3;

/// Cases (of 131) whose labels, spans, boxes and texts all equal transformers' f32 ones. The
/// random tiny models decode and rank near-ties, which int8 rounding flips: measured, every
/// whisper-tiny transcript and w2v-ctc-layer text differ, 4 generated texts, 2 DETR box
/// corners by a pixel, one panoptic mask, 2 distilbert-qa spans and one bert-multilabel
/// ranking; the other 108 are unchanged.
const UNCHANGED_AT_LEAST: usize = 108;

/// The task's f32 goldens: `(task, fixture, case)`, inputs as transformers took them.
fn cases() -> Vec<(String, String, Value)> {
    let mut cases = Vec::new();
    for name in [
        "bert-seqcls",
        "bert-regression",
        "bert-multilabel",
        "distilbert-seqcls",
        "bert-tokcls",
        "distilbert-tokcls",
        "bert-qa",
        "distilbert-qa",
        "layoutlm-tokcls",
        "whisper-tiny",
        "w2v-ctc-layer",
    ] {
        for case in golden(name)["pipeline"].as_array().unwrap() {
            let task = case["task"].as_str().unwrap().to_string();
            cases.push((task, name.to_string(), case.clone()));
        }
    }
    // Image classification, object detection, segmentation, summarization, translation,
    // visual and document question answering, audio classification: the plain models' outputs
    // of the adapter goldens.
    let peft: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("peft-tasks").join("golden.json")).unwrap(),
    )
    .unwrap();
    for case in peft["cases"].as_array().unwrap() {
        let mut case = case.clone();
        case["output"] = case["base_output"].clone();
        let task = case["task"].as_str().unwrap().to_string();
        let base = case["base"].as_str().unwrap().to_string();
        cases.push((task, base, case));
    }
    cases
}

/// The largest difference between the floats of `actual` and `expected`, or where they differ
/// in anything else (structure, keys, strings, integers, booleans).
fn float_diff(path: &str, actual: &Value, expected: &Value) -> Result<f64, String> {
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) if a.is_f64() || e.is_f64() => {
            Ok(test_support::element_diff_f64(
                a.as_f64().unwrap_or(f64::NAN),
                e.as_f64().unwrap_or(f64::NAN),
            ))
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => a
            .iter()
            .zip(e)
            .enumerate()
            .try_fold(0f64, |worst, (i, (a, e))| {
                Ok(worst.max(float_diff(&format!("{path}[{i}]"), a, e)?))
            }),
        (Value::Object(a), Value::Object(e)) if a.keys().eq(e.keys()) => {
            a.iter().try_fold(0f64, |worst, (k, v)| {
                Ok(worst.max(float_diff(&format!("{path}.{k}"), v, &e[k])?))
            })
        }
        _ if actual == expected => Ok(0.0),
        _ => Err(format!("{path}: {actual} vs {expected}")),
    }
}

fn run(task: &str, name: &str, case: &Value, quantization: Quantization) -> Result<Value, String> {
    let pipe = burn_tasks::pipeline(task)
        .map_err(|e| e.to_string())?
        .model(fixture(name).to_string_lossy())
        .device(device())
        .quantize(quantization)
        .build()
        .map_err(|e| e.to_string())?;
    call_case(&pipe, task, case)
}

#[test]
fn every_task_keeps_its_outputs_in_int8() {
    let mut failures = Vec::new();
    let mut worst = 0f64;
    let (mut unchanged, mut total) = (0, 0);
    let mut tasks = std::collections::BTreeSet::new();
    for (task, name, case) in cases() {
        tasks.insert(task.split('_').next().unwrap().to_string());
        let what = format!("{name} {task} {} {}", case["inputs"], case["kwargs"]);
        total += 1;
        let ours = match run(&task, &name, &case, Quantization::Int8) {
            Ok(ours) => ours,
            Err(e) => {
                failures.push(format!("{what}: {e}"));
                continue;
            }
        };
        match float_diff("", &ours, &case["output"]) {
            Ok(diff) => {
                unchanged += 1;
                eprintln!("{what}: worst score difference {diff:.4}");
                if diff > INT8_SCORE_TOLERANCE {
                    failures.push(format!("{what}: scores off by {diff}\n  ours: {ours}"));
                }
                worst = worst.max(diff);
            }
            Err(e) => eprintln!("{what}: changed at {e}"),
        }
    }
    eprintln!("worst score difference over every task: {worst}; {unchanged} of {total} unchanged");
    assert_no_failures(&failures);
    assert!(
        unchanged >= UNCHANGED_AT_LEAST,
        "{unchanged} of {total} unchanged"
    );
    // The twelve pipelines: text and token classification, question answering, summarization,
    // translation, image classification, object detection, image segmentation, speech
    // recognition, audio classification, document and visual question answering.
    assert_eq!(tasks.len(), 12, "{tasks:?}");
    assert!(
        worst > QUANTIZED_AT_LEAST,
        "int8 outputs equal f32 ones ({worst})"
    );
}

#[test]
fn quantization_names() {
    assert_eq!("int8".parse::<Quantization>().unwrap(), Quantization::Int8);
    let error = "int4".parse::<Quantization>().unwrap_err().to_string();
    assert!(error.contains("int4") && error.contains("int8"), "{error}");
}
