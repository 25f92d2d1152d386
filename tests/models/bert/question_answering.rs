//! `question-answering` against the `transformers.pipeline` goldens of the fixtures.

use burn_tasks::TaskError;
use burn_tasks::pipelines::question_answering::QaInput;
use burn_tasks::pipelines::question_answering::QuestionAnsweringOptions;
use burn_tasks::pipelines::{QuestionAnsweringPipeline, TaskPipeline};
use integration_tests::*;
use serde_json::Value;

const FIXTURES: &[&str] = &["bert-qa", "distilbert-qa"];
const TASKS: &[&str] = &["question-answering"];

fn pipeline(name: &str) -> QuestionAnsweringPipeline {
    typed_pipeline(name)
}

/// Runs one golden case the way `pipeline(...)(inputs, **kwargs)` was called, through the
/// typed pipeline's reading of HF's inputs and keyword arguments.
fn run_case(pipe: &QuestionAnsweringPipeline, case: &Value) -> Result<Value, String> {
    pipe.call_json(&case["inputs"], &case["kwargs"])
        .map_err(|e| e.to_string())
}

/// Every golden case of the fixtures, with the default `batch_size` and again one window at a
/// time and three at a time (padded batches must not change the results).
#[test]
fn golden_pipeline_outputs() {
    check_pipeline_goldens(FIXTURES, TASKS, pipeline, run_case);
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
