//! The text-classification pipeline against `transformers.pipeline("text-classification")`.

use burn_tasks::TaskError;
use burn_tasks::pipelines::PipelineSource;
use burn_tasks::pipelines::text_classification::{
    InputShape, TextClassificationOptions, TextClassificationPipeline, TextInput, TopK, to_hf_json,
};
use integration_tests::*;
use serde_json::Value;

fn pipeline(name: &str) -> TextClassificationPipeline {
    TextClassificationPipeline::new(&PipelineSource::new(
        fixture(name).to_str().unwrap(),
        device(),
    ))
    .unwrap()
}

fn text_input(value: &Value) -> TextInput {
    match value {
        Value::String(text) => TextInput::from(text.as_str()),
        Value::Object(pair) => TextInput {
            text: pair["text"].as_str().unwrap().to_string(),
            text_pair: pair
                .get("text_pair")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        other => panic!("unexpected input {other}"),
    }
}

fn options(kwargs: &Value) -> TextClassificationOptions {
    let mut options = TextClassificationOptions::default();
    if let Some(top_k) = kwargs.get("top_k") {
        options.top_k = match top_k.as_u64() {
            Some(k) => TopK::Some(k as usize),
            None => TopK::All,
        };
    }
    if let Some(f) = kwargs.get("function_to_apply") {
        options.function_to_apply = f.as_str().unwrap().parse().unwrap();
    }
    options
}

fn check_fixture(name: &str) {
    let pipeline = pipeline(name);
    let golden = golden(name);
    let cases = golden["pipeline"].as_array().unwrap();
    assert!(!cases.is_empty());
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(case["task"], "text-classification");
        let (inputs, shape) = match &case["inputs"] {
            Value::Array(items) => (items.iter().map(text_input).collect(), InputShape::List),
            Value::Object(_) => (vec![text_input(&case["inputs"])], InputShape::SinglePair),
            single => (vec![text_input(single)], InputShape::SingleText),
        };
        let options = options(&case["kwargs"]);
        let results = pipeline.classify(&inputs, &options).unwrap();
        let ours = to_hf_json(results, shape, options.top_k);
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
