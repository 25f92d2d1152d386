//! The text-classification pipeline against `transformers.pipeline("text-classification")`.

use burn_tasks::TaskError;
use burn_tasks::pipelines::TaskPipeline;
use burn_tasks::pipelines::text_classification::{
    TextClassificationOptions, TextClassificationPipeline, TextInput, TopK,
};
use integration_tests::*;

fn pipeline(name: &str) -> TextClassificationPipeline {
    typed_pipeline(name)
}

fn check_fixture(name: &str) {
    let pipeline = pipeline(name);
    let golden = golden(name);
    let cases = golden["pipeline"].as_array().unwrap();
    assert!(!cases.is_empty());
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(case["task"], "text-classification");
        let ours = pipeline
            .call_json(&case["inputs"], &case["kwargs"])
            .unwrap();
        assert_json_close(
            &format!("{name} case {i} kwargs {}", case["kwargs"]),
            &ours,
            &case["output"],
        );
    }
}

#[test]
fn bert_matches_hf_pipeline() {
    check_fixture("bert-seqcls");
}

#[test]
fn regression_and_multilabel_defaults_match_hf() {
    check_fixture("bert-regression");
    check_fixture("bert-multilabel");
}

#[test]
fn distilbert_matches_hf_pipeline() {
    check_fixture("distilbert-seqcls");
}

/// Batching pads inputs to one length; scores must not depend on the batch size.
#[test]
fn batch_size_does_not_change_scores() {
    let pipeline = pipeline("bert-seqcls");
    let inputs: Vec<TextInput> = [
        "it was fine",
        "the service was terrible and the meal was cold",
        "good",
    ]
    .into_iter()
    .map(TextInput::from)
    .collect();
    let one = TextClassificationOptions {
        batch_size: 1,
        top_k: TopK::All,
        ..Default::default()
    };
    let all = TextClassificationOptions {
        batch_size: 3,
        top_k: TopK::All,
        ..Default::default()
    };
    let a = serde_json::to_value(pipeline.classify(&inputs, &one).unwrap()).unwrap();
    let b = serde_json::to_value(pipeline.classify(&inputs, &all).unwrap()).unwrap();
    assert_json_close("batch 1 vs 3", &a, &b);
}

#[test]
fn empty_and_overlong_text_are_clear_errors() {
    let pipeline = pipeline("bert-seqcls");
    let options = TextClassificationOptions::default();
    let error = pipeline
        .classify(&[TextInput::from("   ")], &options)
        .unwrap_err();
    assert!(matches!(error, TaskError::InvalidInput(_)), "{error}");
    assert!(error.to_string().contains("empty"), "{error}");

    let long = "the food was great ".repeat(40);
    let error = pipeline
        .classify(&[TextInput::from(long.as_str())], &options)
        .unwrap_err();
    assert!(
        error.to_string().contains("longer than the model"),
        "{error}"
    );

    let truncating = TextClassificationOptions {
        truncation: true,
        ..Default::default()
    };
    let scores = pipeline
        .classify(&[TextInput::from(long.as_str())], &truncating)
        .unwrap();
    assert_eq!(scores[0].len(), 1);
}
