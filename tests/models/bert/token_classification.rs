//! `token-classification` against the `transformers.pipeline` goldens of the fixtures.

use burn_tasks::TaskError;
use burn_tasks::pipelines::token_classification::{
    AggregationStrategy, TokenClassificationOptions,
};
use burn_tasks::pipelines::{TaskPipeline, TokenClassificationPipeline};
use integration_tests::*;
use serde_json::Value;

const FIXTURES: &[&str] = &["bert-tokcls", "distilbert-tokcls"];
const TASKS: &[&str] = &["token-classification", "ner"];

fn pipeline(name: &str) -> TokenClassificationPipeline {
    typed_pipeline(name)
}

/// Runs one golden case the way `pipeline(...)(inputs, **kwargs)` was called, through the
/// typed pipeline's reading of HF's inputs and keyword arguments.
fn run_case(pipe: &TokenClassificationPipeline, case: &Value) -> Result<Value, String> {
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
fn every_strategy_parses_case_insensitively() {
    for (name, strategy) in [
        ("none", AggregationStrategy::None),
        ("SIMPLE", AggregationStrategy::Simple),
        ("First", AggregationStrategy::First),
        ("average", AggregationStrategy::Average),
        ("MAX", AggregationStrategy::Max),
    ] {
        assert_eq!(name.parse::<AggregationStrategy>().unwrap(), strategy);
    }
    let err = "mean".parse::<AggregationStrategy>().unwrap_err();
    assert!(
        matches!(
            err,
            TaskError::InvalidOption {
                name: "aggregation_strategy",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn empty_inputs_are_clear_errors() {
    let pipe = pipeline("bert-tokcls");
    let options = TokenClassificationOptions::default();
    assert_invalid_input(pipe.classify(&[""], &options), "empty sentence", "text");
    assert_invalid_input(
        pipe.classify(&["   \n\t"], &options),
        "whitespace sentence",
        "text",
    );
    assert_invalid_input(
        pipe.classify(&["John lives here.", ""], &options),
        "empty sentence in a batch",
        "text",
    );
    assert_invalid_input(pipe.classify::<&str>(&[], &options), "no sentence", "text");
}

#[test]
fn bad_options_are_clear_errors() {
    let pipe = pipeline("bert-tokcls");
    let text = ["John Smith works at Google in New York."];
    let stride_without_aggregation = TokenClassificationOptions {
        stride: Some(4),
        ..Default::default()
    };
    let too_large_stride = TokenClassificationOptions {
        stride: Some(64),
        aggregation_strategy: AggregationStrategy::Simple,
        ..Default::default()
    };
    let no_batch = TokenClassificationOptions {
        batch_size: 0,
        ..Default::default()
    };
    for (what, options) in [
        ("stride with aggregation none", stride_without_aggregation),
        ("stride >= model_max_length", too_large_stride),
        ("batch_size 0", no_batch),
    ] {
        match pipe.classify(&text, &options) {
            Err(TaskError::InvalidOption { .. }) => {}
            other => panic!("{what}: expected TaskError::InvalidOption, got {other:?}"),
        }
    }
}

/// A text longer than the model (64 tokens for bert-tokcls) is truncated to one window without
/// `stride`, and classified whole in overlapping windows with it.
#[test]
fn long_texts_truncate_or_stride() {
    let pipe = pipeline("bert-tokcls");
    let text = "John Smith works at Google in New York. ".repeat(12);
    let simple = TokenClassificationOptions {
        aggregation_strategy: AggregationStrategy::Simple,
        ignore_labels: vec![],
        ..Default::default()
    };
    let truncated = pipe.classify(&[text.as_str()], &simple).unwrap().remove(0);
    let last_end = truncated.iter().map(|e| e.end()).max().unwrap();
    assert!(
        last_end < text.trim_end().chars().count(),
        "the text was not truncated"
    );

    let strided = TokenClassificationOptions {
        stride: Some(16),
        ..simple
    };
    let whole = pipe.classify(&[text.as_str()], &strided).unwrap().remove(0);
    let last_end = whole.iter().map(|e| e.end()).max().unwrap();
    assert_eq!(
        last_end,
        text.trim_end().chars().count(),
        "stride must cover the whole text"
    );
    // Overlapping windows leave no overlapping entities.
    for pair in whole.windows(2) {
        assert!(pair[0].start() <= pair[1].start(), "entities out of order");
        assert!(pair[0].end() <= pair[1].start(), "overlapping entities");
    }
}
