//! Every `pipeline` golden of every fixture through the one HF-shaped entry point:
//! `pipeline(task).model(dir).build()?.call(inputs, kwargs)` must return transformers' JSON.

use burn_tasks::{Task, TaskError, pipeline};
use integration_tests::*;
use serde_json::{Value, json};

const FIXTURES: &[&str] = &[
    "bert-seqcls",
    "bert-regression",
    "bert-multilabel",
    "distilbert-seqcls",
    "bert-tokcls",
    "distilbert-tokcls",
    "bert-qa",
    "distilbert-qa",
    "bert-seqcls-f16",
    "layoutlm-qa",
    "layoutlm-tokcls",
];

#[test]
fn every_golden_pipeline_case_matches_transformers() {
    let mut checked = 0;
    for name in FIXTURES {
        let golden = golden(name);
        let cases = golden["pipeline"].as_array().unwrap();
        let task: Task = cases[0]["task"].as_str().unwrap().parse().unwrap();
        let pipe = pipeline(task)
            .model(fixture(name).to_string_lossy())
            .device(device())
            .build()
            .unwrap();
        for (i, case) in cases.iter().enumerate() {
            let ours = pipe
                .call(&case["inputs"], &case["kwargs"])
                .unwrap_or_else(|e| panic!("{name} case {i}: {e}"));
            assert_json_close(
                &format!("{name} case {i} kwargs {}", case["kwargs"]),
                &ours,
                &case["output"],
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} cases");
}

#[test]
fn question_and_context_keywords() {
    let pipe = pipeline(Task::QuestionAnswering)
        .model(fixture("bert-qa").to_string_lossy())
        .device(device())
        .build()
        .unwrap();
    let case = &golden("bert-qa")["pipeline"][0];
    let kwargs =
        json!({"question": case["inputs"]["question"], "context": case["inputs"]["context"]});
    let ours = pipe.call(&Value::Null, &kwargs).unwrap();
    assert_json_close("question=, context=", &ours, &case["output"]);
}

#[test]
fn unknown_options_and_bad_inputs_are_errors() {
    let pipe = pipeline(Task::TextClassification)
        .model(fixture("bert-seqcls").to_string_lossy())
        .device(device())
        .build()
        .unwrap();
    let error = pipe.call(&json!("good"), &json!({"topk": 2})).unwrap_err();
    assert!(error.to_string().contains("topk"), "{error}");
    let error = pipe
        .call(&json!("good"), &json!({"top_k": "two"}))
        .unwrap_err();
    assert!(
        matches!(error, TaskError::InvalidOption { name: "top_k", .. }),
        "{error}"
    );
    let error = pipe.call(&json!(42), &Value::Null).unwrap_err();
    assert!(matches!(error, TaskError::InvalidInput(_)), "{error}");
}

/// Without a model, `pipeline(task)` takes HF's default model id; offline and uncached that
/// is a clear error naming the model, not a panic or a hang.
#[test]
fn default_model_offline_is_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let hub = burn_models::hub::HubOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        offline: true,
        ..Default::default()
    };
    let error = match pipeline(Task::TextClassification)
        .hub(hub)
        .device(device())
        .build()
    {
        Ok(_) => panic!("no model is cached"),
        Err(e) => e,
    };
    assert!(
        error
            .to_string()
            .contains(Task::TextClassification.default_model()),
        "{error}"
    );
}
