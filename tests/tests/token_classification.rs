//! `token-classification` against the `transformers.pipeline` goldens of the fixtures.

use std::path::PathBuf;

use burn::tensor::Device;
use burn_tasks::TaskError;
use burn_tasks::pipelines::token_classification::{AggregationStrategy, InputShape, to_hf_json};
use burn_tasks::pipelines::{
    PipelineSource, TokenClassificationOptions, TokenClassificationPipeline,
};
use serde_json::Value;

const FIXTURES: &[&str] = &["bert-tokcls", "distilbert-tokcls"];
const SCORE_TOLERANCE: f64 = 1e-4;

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn pipeline(name: &str) -> TokenClassificationPipeline {
    let dir = fixture_dir(name);
    TokenClassificationPipeline::new(&PipelineSource::new(dir.to_string_lossy(), Device::flex()))
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
        .filter(|case| case["task"] == "token-classification" || case["task"] == "ner")
        .cloned()
        .collect()
}

/// HF's call kwargs as options; unknown kwargs fail the test rather than pass silently.
fn options_from_kwargs(kwargs: &Value) -> Result<TokenClassificationOptions, String> {
    let mut options = TokenClassificationOptions::default();
    for (key, value) in kwargs.as_object().ok_or("kwargs is not an object")? {
        match key.as_str() {
            "aggregation_strategy" => {
                options.aggregation_strategy = value
                    .as_str()
                    .ok_or("aggregation_strategy is not a string")?
                    .parse()
                    .map_err(|e: TaskError| e.to_string())?
            }
            "ignore_labels" => {
                options.ignore_labels = value
                    .as_array()
                    .ok_or("ignore_labels is not a list")?
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or("ignore_labels holds a non-string")
                    })
                    .collect::<Result<_, _>>()?
            }
            "stride" => {
                options.stride = Some(value.as_u64().ok_or("stride is not an integer")? as usize)
            }
            "batch_size" => {
                options.batch_size = value.as_u64().ok_or("batch_size is not an integer")? as usize
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
        _ => Err(format!("{path}: {actual}, expected {expected}")),
    }
}

/// Runs one golden case the way `pipeline(...)(inputs, **kwargs)` was called.
fn run_case(pipe: &TokenClassificationPipeline, case: &Value) -> Result<Value, String> {
    let options = options_from_kwargs(&case["kwargs"])?;
    let (texts, shape) = match &case["inputs"] {
        Value::String(text) => (vec![text.clone()], InputShape::Single),
        Value::Array(items) => (
            items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or("non-string input"))
                .collect::<Result<Vec<_>, _>>()?,
            InputShape::List,
        ),
        other => return Err(format!("unsupported inputs {other}")),
    };
    let results = pipe.classify(&texts, &options).map_err(|e| e.to_string())?;
    Ok(to_hf_json(results, shape))
}

fn check_fixture(name: &str) -> (usize, Vec<String>) {
    let pipe = pipeline(name);
    let cases = golden_cases(name);
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let outcome =
            run_case(&pipe, case).and_then(|actual| compare(&actual, &case["output"], "output"));
        if let Err(message) = outcome {
            failures.push(format!(
                "{name} case {index} (inputs {}, kwargs {}): {message}",
                case["inputs"], case["kwargs"]
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
            "{name}: no token-classification cases in golden.json"
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

fn assert_invalid_input(result: Result<impl std::fmt::Debug, TaskError>, what: &str) {
    match result {
        Err(TaskError::InvalidInput(message)) => {
            assert!(!message.is_empty(), "{what}: empty message")
        }
        other => panic!("{what}: expected TaskError::InvalidInput, got {other:?}"),
    }
}

#[test]
fn empty_inputs_are_clear_errors() {
    let pipe = pipeline("bert-tokcls");
    let options = TokenClassificationOptions::default();
    assert_invalid_input(pipe.classify(&[""], &options), "empty sentence");
    assert_invalid_input(pipe.classify(&["   \n\t"], &options), "whitespace sentence");
    assert_invalid_input(
        pipe.classify(&["John lives here.", ""], &options),
        "empty sentence in a batch",
    );
    assert_invalid_input(pipe.classify::<&str>(&[], &options), "no sentence");
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
