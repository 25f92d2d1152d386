//! `question-answering` against the `transformers.pipeline` goldens of the fixtures.

use std::path::PathBuf;

use burn::tensor::Device;
use burn_tasks::TaskError;
use burn_tasks::pipelines::question_answering::{QaInput, to_hf_json};
use burn_tasks::pipelines::{PipelineSource, QuestionAnsweringOptions, QuestionAnsweringPipeline};
use serde_json::Value;

const FIXTURES: &[&str] = &["bert-qa", "distilbert-qa"];
const SCORE_TOLERANCE: f64 = 1e-4;

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn pipeline(name: &str) -> QuestionAnsweringPipeline {
    let dir = fixture_dir(name);
    QuestionAnsweringPipeline::new(&PipelineSource::new(dir.to_string_lossy(), Device::flex()))
        .unwrap_or_else(|e| panic!("{name}: loading the pipeline: {e}"))
}

fn golden_cases(name: &str) -> Vec<Value> {
    let path = fixture_dir(name).join("golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let golden: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    golden["pipeline"]
        .as_array()
        .expect("golden.json has a `pipeline` list")
        .iter()
        .filter(|case| case["task"] == "question-answering")
        .cloned()
        .collect()
}

/// HF's call kwargs as options; unknown kwargs fail the test rather than pass silently.
fn options_from_kwargs(kwargs: &Value) -> Result<QuestionAnsweringOptions, String> {
    let mut options = QuestionAnsweringOptions::default();
    let count = |key: &str, value: &Value| -> Result<usize, String> {
        value
            .as_u64()
            .map(|v| v as usize)
            .ok_or(format!("{key} is not a non-negative integer"))
    };
    for (key, value) in kwargs.as_object().ok_or("kwargs is not an object")? {
        match key.as_str() {
            "top_k" | "topk" => options.top_k = count(key, value)?,
            "doc_stride" => options.doc_stride = Some(count(key, value)?),
            "max_answer_len" => options.max_answer_len = count(key, value)?,
            "max_seq_len" => options.max_seq_len = Some(count(key, value)?),
            "max_question_len" => options.max_question_len = count(key, value)?,
            "batch_size" => options.batch_size = count(key, value)?,
            "handle_impossible_answer" => {
                options.handle_impossible_answer = value
                    .as_bool()
                    .ok_or("handle_impossible_answer is not a bool")?
            }
            "align_to_words" => {
                options.align_to_words = value.as_bool().ok_or("align_to_words is not a bool")?
            }
            other => return Err(format!("unsupported kwarg `{other}`")),
        }
    }
    Ok(options)
}

/// Equal JSON, keys in the same order, `score`s within [`SCORE_TOLERANCE`].
fn compare(actual: &Value, expected: &Value, path: &str) -> Result<(), String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let (ak, ek): (Vec<_>, Vec<_>) = (a.keys().collect(), e.keys().collect());
            if ak != ek {
                return Err(format!("{path}: keys {ak:?}, expected {ek:?}"));
            }
            for (key, value) in e {
                compare(&a[key], value, &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                return Err(format!(
                    "{path}: {} items, expected {}\n  actual:   {actual}\n  expected: {expected}",
                    a.len(),
                    e.len()
                ));
            }
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                compare(a, e, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(e)) if path.ends_with(".score") => {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            if (a - e).abs() <= SCORE_TOLERANCE {
                Ok(())
            } else {
                Err(format!("{path}: {a}, expected {e}"))
            }
        }
        (Value::Number(a), Value::Number(e)) if a.is_f64() || e.is_f64() => {
            Err(format!("{path}: unexpected float {a} (expected {e})"))
        }
        _ if actual == expected => Ok(()),
        _ => Err(format!(
            "{path}: {actual}, expected {expected}\n  whole answer: see case"
        )),
    }
}

fn qa_input(value: &Value) -> Result<QaInput, String> {
    let field = |key: &str| {
        value[key]
            .as_str()
            .map(str::to_string)
            .ok_or(format!("input without a string `{key}`: {value}"))
    };
    Ok(QaInput::new(field("question")?, field("context")?))
}

/// Runs one golden case the way `pipeline(...)(inputs, **kwargs)` was called.
fn run_case(pipe: &QuestionAnsweringPipeline, case: &Value) -> Result<Value, String> {
    let options = options_from_kwargs(&case["kwargs"])?;
    let inputs = match &case["inputs"] {
        Value::Array(items) => items.iter().map(qa_input).collect::<Result<Vec<_>, _>>()?,
        single => vec![qa_input(single)?],
    };
    let results = pipe.answer(&inputs, &options).map_err(|e| e.to_string())?;
    Ok(to_hf_json(results))
}

fn check_fixture(name: &str) -> (usize, Vec<String>) {
    let pipe = pipeline(name);
    let cases = golden_cases(name);
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let outcome = run_case(&pipe, case).and_then(|actual| {
            compare(&actual, &case["output"], "output")
                .map_err(|e| format!("{e}\n  actual:   {actual}\n  expected: {}", case["output"]))
        });
        if let Err(message) = outcome {
            failures.push(format!(
                "{name} case {index} (kwargs {}): {message}",
                case["kwargs"]
            ));
        }
    }
    (cases.len(), failures)
}

#[test]
fn golden_pipeline_outputs() {
    let mut failures = Vec::new();
    for name in FIXTURES {
        let (count, fixture_failures) = check_fixture(name);
        assert!(
            count > 0,
            "{name}: no question-answering cases in golden.json"
        );
        eprintln!(
            "{name}: {} of {count} cases match",
            count - fixture_failures.len()
        );
        failures.extend(fixture_failures);
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn assert_invalid_input(
    result: Result<impl std::fmt::Debug, TaskError>,
    what: &str,
    mentions: &str,
) {
    match result {
        Err(TaskError::InvalidInput(message)) => {
            assert!(
                message.contains(mentions),
                "{what}: `{message}` does not mention {mentions}"
            )
        }
        other => panic!("{what}: expected TaskError::InvalidInput, got {other:?}"),
    }
}

#[test]
fn empty_inputs_are_clear_errors() {
    let pipe = pipeline("bert-qa");
    let options = QuestionAnsweringOptions::default();
    let context = "John Smith lives in London with his family.";
    assert_invalid_input(
        pipe.answer(&[QaInput::new("", context)], &options),
        "empty question",
        "question",
    );
    assert_invalid_input(
        pipe.answer(&[QaInput::new("  ", context)], &options),
        "blank question",
        "question",
    );
    assert_invalid_input(
        pipe.answer(&[QaInput::new("who?", "")], &options),
        "empty context",
        "context",
    );
    assert_invalid_input(
        pipe.answer(&[QaInput::new("who?", " \n ")], &options),
        "blank context",
        "context",
    );
    assert_invalid_input(
        pipe.answer(
            &[QaInput::new("who?", context), QaInput::new("where?", "")],
            &options,
        ),
        "empty context in a batch",
        "context",
    );
    assert_invalid_input(pipe.answer(&[], &options), "no question", "question");
}

#[test]
fn bad_options_are_clear_errors() {
    let pipe = pipeline("bert-qa");
    let input = [QaInput::new(
        "where does john live?",
        "John Smith lives in London with his family. He works for Google as a software engineer.",
    )];
    let cases = [
        (
            "top_k 0",
            QuestionAnsweringOptions {
                top_k: 0,
                ..Default::default()
            },
        ),
        (
            "max_answer_len 0",
            QuestionAnsweringOptions {
                max_answer_len: 0,
                ..Default::default()
            },
        ),
        (
            "batch_size 0",
            QuestionAnsweringOptions {
                batch_size: 0,
                ..Default::default()
            },
        ),
        (
            "doc_stride > max_seq_len",
            QuestionAnsweringOptions {
                doc_stride: Some(40),
                max_seq_len: Some(32),
                ..Default::default()
            },
        ),
        (
            "doc_stride as large as a window's context",
            QuestionAnsweringOptions {
                doc_stride: Some(20),
                max_seq_len: Some(24),
                ..Default::default()
            },
        ),
        (
            "max_seq_len 1",
            QuestionAnsweringOptions {
                doc_stride: Some(0),
                max_seq_len: Some(1),
                ..Default::default()
            },
        ),
    ];
    for (what, options) in cases {
        match pipe.answer(&input, &options) {
            Err(TaskError::InvalidOption { .. }) => {}
            other => panic!("{what}: expected TaskError::InvalidOption, got {other:?}"),
        }
    }
    // A question that leaves no room for the context is the input's fault.
    let options = QuestionAnsweringOptions {
        max_seq_len: Some(8),
        doc_stride: Some(2),
        ..Default::default()
    };
    assert_invalid_input(
        pipe.answer(&input, &options),
        "question longer than the window",
        "question",
    );
}
