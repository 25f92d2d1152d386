//! `--adapter` on every task: a PEFT-made LoRA adapter on the base fixture, through
//! `pipeline(task).adapter(dir)`, against transformers' pipeline on the adapted model
//! (tests/fixtures/generate_peft_tasks.py; transformers 5.x for the tasks it has, 4.57.6 for the
//! others). Each golden also holds the output without the adapter, far from the adapted one, so
//! a pipeline that ignored the adapter fails here.

use burn_tasks::pipelines::Pipeline;
use integration_tests::*;
use serde_json::Value;

/// The goldens name images relative to tests/fixtures/images and audio relative to
/// tests/fixtures.
fn with_paths(task: &str, inputs: &Value) -> Value {
    let path = |dir: &str, name: &Value| {
        Value::String(
            fixture(dir)
                .join(name.as_str().expect("a file name"))
                .display()
                .to_string(),
        )
    };
    match (task, inputs) {
        (_, Value::Array(items)) => {
            Value::Array(items.iter().map(|i| with_paths(task, i)).collect())
        }
        ("image-classification" | "object-detection" | "image-segmentation", name) => {
            path("images", name)
        }
        ("visual-question-answering", Value::Object(map)) => {
            let mut map = map.clone();
            map.insert("image".into(), path("images", &map["image"]));
            Value::Object(map)
        }
        ("audio-classification" | "automatic-speech-recognition", name) => path(".", name),
        (_, other) => other.clone(),
    }
}

fn run(task: &str, base: &str, adapter: Option<&str>, case: &Value) -> Result<Value, String> {
    let mut builder = burn_tasks::pipeline(task)
        .map_err(|e| e.to_string())?
        .model(fixture(base).to_string_lossy())
        .device(device());
    if let Some(adapter) = adapter {
        builder = builder.adapter(fixture("peft-tasks").join(adapter));
    }
    let pipe = builder.build().map_err(|e| e.to_string())?;
    call_case(&pipe, task, case)
}

/// Runs one golden case (`inputs`, `kwargs`) as its generator did: file inputs as fixture
/// paths, segmentation masks written to a scratch folder and read back into the JSON.
pub(super) fn call_case(pipe: &Pipeline, task: &str, case: &Value) -> Result<Value, String> {
    let mut kwargs = case["kwargs"].clone();
    let masks = tempfile::tempdir().unwrap();
    if task == "image-segmentation" {
        kwargs["masks_dir"] = masks.path().display().to_string().into();
    }
    let mut output = pipe
        .call(&with_paths(task, &case["inputs"]), &kwargs)
        .map_err(|e| e.to_string())?;
    if task == "image-segmentation" {
        masks_to_json(&mut output);
    }
    Ok(output)
}

#[test]
fn every_task_applies_a_peft_adapter_as_transformers_does() {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("peft-tasks").join("golden.json")).unwrap(),
    )
    .unwrap();
    let cases = golden["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut tasks = std::collections::BTreeSet::new();
    // detr-panoptic's cases come from transformers 4.57.6: 5.x renamed the mask head's
    // `bbox_attention.q_linear` to `q_proj`, which the adapter's `q_proj` target then matches
    // too, and PEFT on 5.x adds a LoRA there that the file lacks. detr-panoptic-v5 (made on 5.x,
    // with that LoRA under 5.x's name) has 5.x's goldens.
    for case in cases {
        let task = case["task"].as_str().unwrap();
        let base = case["base"].as_str().unwrap();
        let adapter = case["adapter"].as_str().unwrap();
        tasks.insert(task.split('_').next().unwrap().to_string());
        let what = format!("{adapter} {task} {}", case["inputs"]);
        // The adapted and the plain pipeline, each against transformers'.
        for (adapter, expected) in [
            (Some(adapter), &case["output"]),
            (None, &case["base_output"]),
        ] {
            match run(task, base, adapter, case) {
                Ok(actual) => {
                    if let Err(diff) = json_diff(&actual, expected) {
                        failures.push(format!(
                            "{what} (adapter {adapter:?}): {diff}\n  ours: {actual}\n  HF:   {expected}"
                        ));
                    }
                }
                Err(e) => failures.push(format!("{what} (adapter {adapter:?}): {e}")),
            }
        }
    }
    assert_no_failures(&failures);
    // text-classification, token-classification, question-answering, image-classification,
    // object-detection, image-segmentation, summarization, translation,
    // visual-question-answering, document-question-answering, audio-classification.
    assert_eq!(tasks.len(), 11, "{tasks:?}");
}

/// transformers 5 renamed ViT's modules (`vit.layers.{i}.attention.q_proj` for
/// `vit.encoder.layer.{i}.attention.attention.query`), and PEFT on 5.x names adapters so; it
/// cannot load an adapter made on 4.x (its `query`/`value` targets match no module). We load
/// both: the 4.x-named adapter gives the 5.x-named one's goldens (the same LoRA weights).
#[test]
fn adapters_named_as_transformers_4_and_5_name_modules_give_the_same_outputs() {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("peft-tasks").join("golden.json")).unwrap(),
    )
    .unwrap();
    let cases: Vec<&Value> = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case["adapter"] == "vit-imgcls-v5")
        .collect();
    assert!(!cases.is_empty(), "no vit-imgcls-v5 cases");
    let mut failures = Vec::new();
    for case in cases {
        let actual = run(
            "image-classification",
            "vit-imgcls",
            Some("vit-imgcls"),
            case,
        );
        match actual {
            Ok(actual) => {
                if let Err(diff) = json_diff(&actual, &case["output"]) {
                    failures.push(format!("{}: {diff}", case["inputs"]));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case["inputs"])),
        }
    }
    assert_no_failures(&failures);
}

/// An adapter made for another architecture names modules the model does not have: a clear
/// error, not a silently unadapted model.
#[test]
fn an_adapter_for_another_model_is_refused() {
    let err = burn_tasks::pipeline("image-classification")
        .unwrap()
        .model(fixture("vit-imgcls").to_string_lossy())
        .adapter(fixture("peft-tasks").join("detr-objdet"))
        .device(device())
        .build()
        .err()
        .expect("a DETR adapter on ViT")
        .to_string();
    assert!(err.contains("q_proj") || err.contains("target"), "{err}");
}
