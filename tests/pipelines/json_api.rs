//! Every `pipeline` golden of every fixture through the one HF-shaped entry point:
//! `pipeline(task).model(dir).build()?.call(inputs, kwargs)` must return transformers' JSON.

use burn_tasks::pipelines::{InputKind, TASKS, ValueKind, task_spec};
use burn_tasks::{TaskError, pipeline};
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
        let pipe = json_pipeline(cases[0]["task"].as_str().unwrap(), name);
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
    let pipe = json_pipeline("question-answering", "bert-qa");
    let case = &golden("bert-qa")["pipeline"][0];
    let kwargs =
        json!({"question": case["inputs"]["question"], "context": case["inputs"]["context"]});
    let ours = pipe.call(&Value::Null, &kwargs).unwrap();
    assert_json_close("question=, context=", &ours, &case["output"]);
}

#[test]
fn unknown_options_and_bad_inputs_are_errors() {
    let pipe = json_pipeline("sentiment-analysis", "bert-seqcls");
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
    let error = match pipeline("text-classification")
        .unwrap()
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
            .contains(task_spec("text-classification").unwrap().default_model),
        "{error}"
    );
}

/// A fixture each task loads, to read its options.
fn fixture_of(task: &str) -> &'static str {
    match task {
        "text-classification" => "bert-seqcls",
        "token-classification" => "bert-tokcls",
        "question-answering" => "bert-qa",
        "summarization" | "text2text-generation" => "bart-gen",
        "translation" => "marian-gen",
        "image-classification" => "vit-imgcls",
        "object-detection" => "detr-objdet",
        "image-segmentation" => "detr-panoptic",
        "automatic-speech-recognition" => "whisper-tiny",
        "audio-classification" => "whisper-audiocls",
        "document-question-answering" => "layoutlm-qa",
        "visual-question-answering" => "vilt-vqa",
        other => panic!("no fixture for {other}: add one here"),
    }
}

/// A valid value of each option, to call a task with it.
fn sample_value(name: &str, kind: ValueKind) -> Value {
    match name {
        "function_to_apply" => json!("softmax"),
        "aggregation_strategy" => json!("simple"),
        "ignore_labels" => json!(["O"]),
        "subtask" => json!("panoptic"),
        "language" => json!("en"),
        "task" => json!("transcribe"),
        "src_lang" => json!("en"),
        "tgt_lang" => json!("de"),
        "lang" => json!("eng"),
        "return_timestamps" => json!(false),
        "early_stopping" => json!(true),
        "generate_kwargs" => json!({}),
        "masks_dir" => json!(std::env::temp_dir()),
        "bad_words_ids" | "suppress_tokens" | "begin_suppress_tokens" => json!([]),
        "forced_eos_token_id" | "eos_token_id" => json!(2),
        "stride_length_s" => json!(1.0),
        _ => match kind {
            ValueKind::Bool => json!(true),
            ValueKind::Count | ValueKind::CountOrNone => json!(1),
            ValueKind::Number => json!(0.5),
            _ => json!("text"),
        },
    }
}

/// Every option a task declares (and so every command-line flag) is one its call reads: a
/// declared name the call left unread would be a flag that cannot work. Each task is called
/// with a golden case's inputs, one declared option, and an unknown option after it: the
/// unknown one must be what is refused, so the declared one was read. (Inputs given as
/// keywords, `question=` and the like, have tests of their own.)
#[test]
fn every_declared_option_is_read_by_its_task() {
    for task in TASKS {
        let name = fixture_of(task.name);
        let pipe = json_pipeline(task.name, name);
        let case = golden(name)["pipeline"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|case| task_spec(case["task"].as_str().unwrap_or("")).ok() == Some(*task))
            .cloned()
            .unwrap_or_else(|| panic!("{name}: no {task} case"));
        let declared: Vec<&str> = task.options.iter().map(|o| o.name).collect();
        let mut unique = declared.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            declared.len(),
            "{task}: an option declared twice"
        );
        for option in task.options {
            if ["question", "context", "image", "word_boxes"].contains(&option.name)
                || case["kwargs"].get(option.name).is_some()
            {
                continue;
            }
            let mut kwargs = case["kwargs"].as_object().cloned().unwrap_or_default();
            kwargs.insert(option.name.into(), sample_value(option.name, option.value));
            kwargs.insert("no_such_option".into(), json!(1));
            let result = pipe.call(&case["inputs"], &Value::Object(kwargs));
            let message = match result {
                Err(error) => error.to_string(),
                Ok(_) => "ran".to_string(),
            };
            assert!(
                !message.contains(&format!("no option `{}`", option.name)),
                "{task}: declared option `{}` is not read: {message}",
                option.name
            );
            // Whisper passes unknown names on to generation, as transformers does; elsewhere
            // the unknown option is what stops the call.
            if task.name != "automatic-speech-recognition" {
                assert!(
                    message.contains("no option `no_such_option`"),
                    "{task} with `{}`: {message}",
                    option.name
                );
            }
        }
        if task.inputs == InputKind::Keywords {
            assert!(
                task.options.iter().any(|o| o.value == ValueKind::Texts),
                "{task}: its inputs are options, but none takes texts"
            );
        }
    }
}
