//! `token-classification` against the `transformers.pipeline` goldens of the fixtures.

use burn_tasks::TaskError;
use burn_tasks::pipelines::token_classification::{AggregationStrategy, InputShape, to_hf_json};
use burn_tasks::pipelines::{
    PipelineSource, TokenClassificationOptions, TokenClassificationPipeline,
};
use integration_tests::*;
use serde_json::Value;

const FIXTURES: &[&str] = &["bert-tokcls", "distilbert-tokcls"];
const TASKS: &[&str] = &["token-classification", "ner"];

fn pipeline(name: &str) -> TokenClassificationPipeline {
    let dir = fixture(name);
    TokenClassificationPipeline::new(&PipelineSource::new(dir.to_string_lossy(), device()))
        .unwrap_or_else(|e| panic!("{name}: loading the pipeline: {e}"))
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

/// More `transformers` 4.57.6 outputs on the same fixtures, for options the fixture goldens do not
/// cover: `stride` windows over a text longer than bert-tokcls' 64 tokens, truncation without it, [UNK] tokens, and a list input. Made with
/// `pipeline(task, model=dir, tokenizer=dir, device="cpu", dtype=torch.float32)(inputs, **kwargs)`,
/// scores written as the shortest decimal of their float32, one case per line.
const HF_REFERENCES: &str = r###"{"fixture": "bert-tokcls", "inputs": "John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! ", "kwargs": {}, "output": [{"entity": "B-PER", "score": 0.868884, "index": 1, "word": "John", "start": 0, "end": 4}, {"entity": "B-ORG", "score": 0.5431279, "index": 2, "word": "Smith", "start": 5, "end": 10}, {"entity": "B-LOC", "score": 0.2815159, "index": 4, "word": "##s", "start": 15, "end": 16}, {"entity": "B-PER", "score": 0.6790526, "index": 5, "word": "at", "start": 17, "end": 19}, {"entity": "B-ORG", "score": 0.9584145, "index": 6, "word": "Google", "start": 20, "end": 26}, {"entity": "I-PER", "score": 0.3334606, "index": 7, "word": "in", "start": 27, "end": 29}, {"entity": "B-ORG", "score": 0.7152506, "index": 8, "word": "New", "start": 30, "end": 33}, {"entity": "I-MISC", "score": 0.51253414, "index": 9, "word": "York", "start": 34, "end": 38}, {"entity": "B-PER", "score": 0.40352407, "index": 12, "word": "John", "start": 45, "end": 49}, {"entity": "I-ORG", "score": 0.25706547, "index": 13, "word": "##son", "start": 49, "end": 52}, {"entity": "B-LOC", "score": 0.45241815, "index": 14, "word": "moved", "start": 53, "end": 58}, {"entity": "B-ORG", "score": 0.5637943, "index": 15, "word": "from", "start": 59, "end": 63}, {"entity": "I-MISC", "score": 0.81555563, "index": 17, "word": "to", "start": 71, "end": 73}, {"entity": "B-ORG", "score": 0.53858835, "index": 18, "word": "W", "start": 74, "end": 75}, {"entity": "I-ORG", "score": 0.46260035, "index": 19, "word": "##a", "start": 75, "end": 76}, {"entity": "I-PER", "score": 0.46753854, "index": 20, "word": "##s", "start": 76, "end": 77}, {"entity": "I-ORG", "score": 0.34658313, "index": 22, "word": "##ing", "start": 78, "end": 81}, {"entity": "B-ORG", "score": 0.78322786, "index": 24, "word": "last", "start": 85, "end": 89}, {"entity": "B-PER", "score": 0.7706904, "index": 25, "word": "year", "start": 90, "end": 94}, {"entity": "I-ORG", "score": 0.351352, "index": 26, "word": "!", "start": 94, "end": 95}, {"entity": "I-MISC", "score": 0.40960744, "index": 27, "word": "John", "start": 96, "end": 100}, {"entity": "B-ORG", "score": 0.7359889, "index": 28, "word": "Smith", "start": 101, "end": 106}, {"entity": "I-MISC", "score": 0.34697798, "index": 30, "word": "##s", "start": 111, "end": 112}, {"entity": "I-ORG", "score": 0.2917299, "index": 31, "word": "at", "start": 113, "end": 115}, {"entity": "I-ORG", "score": 0.3270581, "index": 33, "word": "in", "start": 123, "end": 125}, {"entity": "B-ORG", "score": 0.6339293, "index": 34, "word": "New", "start": 126, "end": 129}, {"entity": "B-PER", "score": 0.31206897, "index": 35, "word": "York", "start": 130, "end": 134}, {"entity": "B-ORG", "score": 0.38444915, "index": 36, "word": ".", "start": 134, "end": 135}, {"entity": "I-MISC", "score": 0.44689023, "index": 38, "word": "John", "start": 141, "end": 145}, {"entity": "B-ORG", "score": 0.35427216, "index": 39, "word": "##son", "start": 145, "end": 148}, {"entity": "I-PER", "score": 0.4792264, "index": 40, "word": "moved", "start": 149, "end": 154}, {"entity": "I-MISC", "score": 0.593405, "index": 43, "word": "to", "start": 167, "end": 169}, {"entity": "I-PER", "score": 0.37394682, "index": 44, "word": "W", "start": 170, "end": 171}, {"entity": "B-LOC", "score": 0.6139591, "index": 45, "word": "##a", "start": 171, "end": 172}, {"entity": "B-ORG", "score": 0.3980103, "index": 46, "word": "##s", "start": 172, "end": 173}, {"entity": "I-ORG", "score": 0.5775157, "index": 48, "word": "##ing", "start": 174, "end": 177}, {"entity": "B-ORG", "score": 0.6347305, "index": 49, "word": "##ton", "start": 177, "end": 180}, {"entity": "B-PER", "score": 0.82042056, "index": 50, "word": "last", "start": 181, "end": 185}, {"entity": "I-PER", "score": 0.4881332, "index": 51, "word": "year", "start": 186, "end": 190}, {"entity": "B-ORG", "score": 0.3263986, "index": 52, "word": "!", "start": 190, "end": 191}, {"entity": "I-MISC", "score": 0.61171526, "index": 53, "word": "John", "start": 192, "end": 196}, {"entity": "B-ORG", "score": 0.7316113, "index": 54, "word": "Smith", "start": 197, "end": 202}, {"entity": "B-ORG", "score": 0.6807923, "index": 56, "word": "##s", "start": 207, "end": 208}, {"entity": "B-PER", "score": 0.7744088, "index": 57, "word": "at", "start": 209, "end": 211}, {"entity": "B-PER", "score": 0.30290398, "index": 58, "word": "Google", "start": 212, "end": 218}, {"entity": "I-PER", "score": 0.26875043, "index": 59, "word": "in", "start": 219, "end": 221}, {"entity": "I-MISC", "score": 0.52432066, "index": 61, "word": "York", "start": 226, "end": 230}, {"entity": "I-ORG", "score": 0.662593, "index": 62, "word": ".", "start": 230, "end": 231}]}
{"fixture": "bert-tokcls", "inputs": "John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! ", "kwargs": {"aggregation_strategy": "simple", "stride": 16}, "output": [{"entity_group": "PER", "score": 0.868884, "word": "John", "start": 0, "end": 4}, {"entity_group": "ORG", "score": 0.5431279, "word": "Smith", "start": 5, "end": 10}, {"entity_group": "LOC", "score": 0.2815159, "word": "##s", "start": 15, "end": 16}, {"entity_group": "PER", "score": 0.6790526, "word": "at", "start": 17, "end": 19}, {"entity_group": "ORG", "score": 0.9584145, "word": "Google", "start": 20, "end": 26}, {"entity_group": "PER", "score": 0.3334606, "word": "in", "start": 27, "end": 29}, {"entity_group": "ORG", "score": 0.7152506, "word": "New", "start": 30, "end": 33}, {"entity_group": "MISC", "score": 0.51253414, "word": "York", "start": 34, "end": 38}, {"entity_group": "PER", "score": 0.40352407, "word": "John", "start": 45, "end": 49}, {"entity_group": "ORG", "score": 0.25706547, "word": "##son", "start": 49, "end": 52}, {"entity_group": "LOC", "score": 0.45241815, "word": "moved", "start": 53, "end": 58}, {"entity_group": "ORG", "score": 0.5637943, "word": "from", "start": 59, "end": 63}, {"entity_group": "MISC", "score": 0.81555563, "word": "to", "start": 71, "end": 73}, {"entity_group": "ORG", "score": 0.5005944, "word": "Wa", "start": 74, "end": 76}, {"entity_group": "PER", "score": 0.46753854, "word": "##s", "start": 76, "end": 77}, {"entity_group": "ORG", "score": 0.34658313, "word": "##ing", "start": 78, "end": 81}, {"entity_group": "ORG", "score": 0.78322786, "word": "last", "start": 85, "end": 89}, {"entity_group": "PER", "score": 0.7706904, "word": "year", "start": 90, "end": 94}, {"entity_group": "ORG", "score": 0.351352, "word": "!", "start": 94, "end": 95}, {"entity_group": "MISC", "score": 0.40960744, "word": "John", "start": 96, "end": 100}, {"entity_group": "ORG", "score": 0.7359889, "word": "Smith", "start": 101, "end": 106}, {"entity_group": "MISC", "score": 0.34697798, "word": "##s", "start": 111, "end": 112}, {"entity_group": "ORG", "score": 0.2917299, "word": "at", "start": 113, "end": 115}, {"entity_group": "ORG", "score": 0.3270581, "word": "in", "start": 123, "end": 125}, {"entity_group": "ORG", "score": 0.6339293, "word": "New", "start": 126, "end": 129}, {"entity_group": "PER", "score": 0.31206897, "word": "York", "start": 130, "end": 134}, {"entity_group": "ORG", "score": 0.38444915, "word": ".", "start": 134, "end": 135}, {"entity_group": "MISC", "score": 0.44689023, "word": "John", "start": 141, "end": 145}, {"entity_group": "ORG", "score": 0.35427216, "word": "##son", "start": 145, "end": 148}, {"entity_group": "PER", "score": 0.4792264, "word": "moved", "start": 149, "end": 154}, {"entity_group": "MISC", "score": 0.593405, "word": "to", "start": 167, "end": 169}, {"entity_group": "PER", "score": 0.37394682, "word": "W", "start": 170, "end": 171}, {"entity_group": "LOC", "score": 0.6139591, "word": "##a", "start": 171, "end": 172}, {"entity_group": "ORG", "score": 0.3980103, "word": "##s", "start": 172, "end": 173}, {"entity_group": "ORG", "score": 0.4053928, "word": "##h", "start": 173, "end": 174}, {"entity_group": "ORG", "score": 0.5775157, "word": "##ing", "start": 174, "end": 177}, {"entity_group": "ORG", "score": 0.6347305, "word": "##ton", "start": 177, "end": 180}, {"entity_group": "PER", "score": 0.65427685, "word": "last year", "start": 181, "end": 190}, {"entity_group": "ORG", "score": 0.9615796, "word": "!", "start": 190, "end": 191}, {"entity_group": "MISC", "score": 0.61171526, "word": "John", "start": 192, "end": 196}, {"entity_group": "ORG", "score": 0.92616856, "word": "Smith", "start": 197, "end": 202}, {"entity_group": "PER", "score": 0.41978234, "word": "work", "start": 203, "end": 207}, {"entity_group": "ORG", "score": 0.6807923, "word": "##s", "start": 207, "end": 208}, {"entity_group": "PER", "score": 0.7744088, "word": "at", "start": 209, "end": 211}, {"entity_group": "PER", "score": 0.28582722, "word": "Google in", "start": 212, "end": 221}, {"entity_group": "LOC", "score": 0.45220393, "word": "New", "start": 222, "end": 225}, {"entity_group": "PER", "score": 0.74906975, "word": "York", "start": 226, "end": 230}, {"entity_group": "ORG", "score": 0.662593, "word": ".", "start": 230, "end": 231}, {"entity_group": "MISC", "score": 0.56699497, "word": "Mary", "start": 232, "end": 236}, {"entity_group": "PER", "score": 0.66511834, "word": "John", "start": 237, "end": 241}, {"entity_group": "MISC", "score": 0.33090687, "word": "##son", "start": 241, "end": 244}, {"entity_group": "PER", "score": 0.71121013, "word": "moved from", "start": 245, "end": 255}, {"entity_group": "ORG", "score": 0.30055642, "word": "Berlin to", "start": 256, "end": 265}, {"entity_group": "ORG", "score": 0.32753143, "word": "W", "start": 266, "end": 267}, {"entity_group": "PER", "score": 0.7706414, "word": "##a", "start": 267, "end": 268}, {"entity_group": "MISC", "score": 0.51221853, "word": "##s", "start": 268, "end": 269}, {"entity_group": "ORG", "score": 0.33104962, "word": "##h", "start": 269, "end": 270}, {"entity_group": "ORG", "score": 0.38264114, "word": "##ing", "start": 270, "end": 273}, {"entity_group": "ORG", "score": 0.3615077, "word": "##ton", "start": 273, "end": 276}, {"entity_group": "ORG", "score": 0.4474222, "word": "last", "start": 277, "end": 281}, {"entity_group": "PER", "score": 0.55253994, "word": "year", "start": 282, "end": 286}, {"entity_group": "PER", "score": 0.57866734, "word": "!", "start": 286, "end": 287}]}
{"fixture": "bert-tokcls", "inputs": "John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! ", "kwargs": {"aggregation_strategy": "first", "stride": 16}, "output": [{"entity_group": "PER", "score": 0.868884, "word": "John", "start": 0, "end": 4}, {"entity_group": "ORG", "score": 0.5431279, "word": "Smith", "start": 5, "end": 10}, {"entity_group": "PER", "score": 0.6790526, "word": "at", "start": 17, "end": 19}, {"entity_group": "ORG", "score": 0.9584145, "word": "Google", "start": 20, "end": 26}, {"entity_group": "PER", "score": 0.3334606, "word": "in", "start": 27, "end": 29}, {"entity_group": "ORG", "score": 0.7152506, "word": "New", "start": 30, "end": 33}, {"entity_group": "MISC", "score": 0.51253414, "word": "York", "start": 34, "end": 38}, {"entity_group": "PER", "score": 0.40352407, "word": "Johnson", "start": 45, "end": 52}, {"entity_group": "LOC", "score": 0.45241815, "word": "moved", "start": 53, "end": 58}, {"entity_group": "ORG", "score": 0.5637943, "word": "from", "start": 59, "end": 63}, {"entity_group": "MISC", "score": 0.81555563, "word": "to", "start": 71, "end": 73}, {"entity_group": "ORG", "score": 0.53858835, "word": "Washington", "start": 74, "end": 84}, {"entity_group": "ORG", "score": 0.78322786, "word": "last", "start": 85, "end": 89}, {"entity_group": "PER", "score": 0.7706904, "word": "year", "start": 90, "end": 94}, {"entity_group": "ORG", "score": 0.351352, "word": "!", "start": 94, "end": 95}, {"entity_group": "MISC", "score": 0.40960744, "word": "John", "start": 96, "end": 100}, {"entity_group": "ORG", "score": 0.7359889, "word": "Smith", "start": 101, "end": 106}, {"entity_group": "ORG", "score": 0.2917299, "word": "at", "start": 113, "end": 115}, {"entity_group": "ORG", "score": 0.3270581, "word": "in", "start": 123, "end": 125}, {"entity_group": "ORG", "score": 0.6339293, "word": "New", "start": 126, "end": 129}, {"entity_group": "PER", "score": 0.31206897, "word": "York", "start": 130, "end": 134}, {"entity_group": "ORG", "score": 0.38444915, "word": ".", "start": 134, "end": 135}, {"entity_group": "MISC", "score": 0.44689023, "word": "Johnson", "start": 141, "end": 148}, {"entity_group": "PER", "score": 0.4792264, "word": "moved", "start": 149, "end": 154}, {"entity_group": "MISC", "score": 0.593405, "word": "to", "start": 167, "end": 169}, {"entity_group": "PER", "score": 0.37394682, "word": "Washington", "start": 170, "end": 180}, {"entity_group": "PER", "score": 0.65427685, "word": "last year", "start": 181, "end": 190}, {"entity_group": "ORG", "score": 0.9615796, "word": "!", "start": 190, "end": 191}, {"entity_group": "MISC", "score": 0.61171526, "word": "John", "start": 192, "end": 196}, {"entity_group": "ORG", "score": 0.92616856, "word": "Smith", "start": 197, "end": 202}, {"entity_group": "PER", "score": 0.41978234, "word": "works", "start": 203, "end": 208}, {"entity_group": "PER", "score": 0.7744088, "word": "at", "start": 209, "end": 211}, {"entity_group": "PER", "score": 0.28582722, "word": "Google in", "start": 212, "end": 221}, {"entity_group": "LOC", "score": 0.45220393, "word": "New", "start": 222, "end": 225}, {"entity_group": "PER", "score": 0.74906975, "word": "York", "start": 226, "end": 230}, {"entity_group": "ORG", "score": 0.662593, "word": ".", "start": 230, "end": 231}, {"entity_group": "MISC", "score": 0.56699497, "word": "Mary", "start": 232, "end": 236}, {"entity_group": "PER", "score": 0.69584626, "word": "Johnson moved from", "start": 237, "end": 255}, {"entity_group": "ORG", "score": 0.30055642, "word": "Berlin to", "start": 256, "end": 265}, {"entity_group": "ORG", "score": 0.32753143, "word": "Washington", "start": 266, "end": 276}, {"entity_group": "ORG", "score": 0.4474222, "word": "last", "start": 277, "end": 281}, {"entity_group": "PER", "score": 0.55253994, "word": "year", "start": 282, "end": 286}, {"entity_group": "PER", "score": 0.57866734, "word": "!", "start": 286, "end": 287}]}
{"fixture": "bert-tokcls", "inputs": "John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! ", "kwargs": {"aggregation_strategy": "average", "stride": 10}, "output": [{"entity_group": "PER", "score": 0.868884, "word": "John", "start": 0, "end": 4}, {"entity_group": "ORG", "score": 0.5431279, "word": "Smith", "start": 5, "end": 10}, {"entity_group": "PER", "score": 0.6790526, "word": "at", "start": 17, "end": 19}, {"entity_group": "ORG", "score": 0.9584145, "word": "Google", "start": 20, "end": 26}, {"entity_group": "PER", "score": 0.3334606, "word": "in", "start": 27, "end": 29}, {"entity_group": "ORG", "score": 0.7152506, "word": "New", "start": 30, "end": 33}, {"entity_group": "MISC", "score": 0.51253414, "word": "York", "start": 34, "end": 38}, {"entity_group": "PER", "score": 0.3260611, "word": "Johnson", "start": 45, "end": 52}, {"entity_group": "LOC", "score": 0.45241815, "word": "moved", "start": 53, "end": 58}, {"entity_group": "ORG", "score": 0.5637943, "word": "from", "start": 59, "end": 63}, {"entity_group": "MISC", "score": 0.81555563, "word": "to", "start": 71, "end": 73}, {"entity_group": "LOC", "score": 0.17541333, "word": "Washington", "start": 74, "end": 84}, {"entity_group": "ORG", "score": 0.78322786, "word": "last", "start": 85, "end": 89}, {"entity_group": "PER", "score": 0.7706904, "word": "year", "start": 90, "end": 94}, {"entity_group": "ORG", "score": 0.351352, "word": "!", "start": 94, "end": 95}, {"entity_group": "MISC", "score": 0.40960744, "word": "John", "start": 96, "end": 100}, {"entity_group": "ORG", "score": 0.7359889, "word": "Smith", "start": 101, "end": 106}, {"entity_group": "ORG", "score": 0.2917299, "word": "at", "start": 113, "end": 115}, {"entity_group": "ORG", "score": 0.3270581, "word": "in", "start": 123, "end": 125}, {"entity_group": "ORG", "score": 0.6339293, "word": "New", "start": 126, "end": 129}, {"entity_group": "PER", "score": 0.31206897, "word": "York", "start": 130, "end": 134}, {"entity_group": "ORG", "score": 0.38444915, "word": ".", "start": 134, "end": 135}, {"entity_group": "MISC", "score": 0.33033603, "word": "Johnson", "start": 141, "end": 148}, {"entity_group": "PER", "score": 0.4792264, "word": "moved", "start": 149, "end": 154}, {"entity_group": "MISC", "score": 0.593405, "word": "to", "start": 167, "end": 169}, {"entity_group": "ORG", "score": 0.24569197, "word": "Washington", "start": 170, "end": 180}, {"entity_group": "PER", "score": 0.65427685, "word": "last year", "start": 181, "end": 190}, {"entity_group": "ORG", "score": 0.3263986, "word": "!", "start": 190, "end": 191}, {"entity_group": "PER", "score": 0.8544489, "word": "John", "start": 192, "end": 196}, {"entity_group": "ORG", "score": 0.7316113, "word": "Smith", "start": 197, "end": 202}, {"entity_group": "PER", "score": 0.7744088, "word": "at", "start": 209, "end": 211}, {"entity_group": "PER", "score": 0.28582722, "word": "Google in", "start": 212, "end": 221}, {"entity_group": "ORG", "score": 0.6667407, "word": "New", "start": 222, "end": 225}, {"entity_group": "MISC", "score": 0.52432066, "word": "York", "start": 226, "end": 230}, {"entity_group": "ORG", "score": 0.662593, "word": ".", "start": 230, "end": 231}, {"entity_group": "PER", "score": 0.35428393, "word": "Johnson", "start": 237, "end": 244}, {"entity_group": "LOC", "score": 0.5314304, "word": "moved", "start": 245, "end": 250}, {"entity_group": "ORG", "score": 0.5111349, "word": "from", "start": 251, "end": 255}, {"entity_group": "MISC", "score": 0.8192029, "word": "to", "start": 263, "end": 265}, {"entity_group": "ORG", "score": 0.7423416, "word": "last", "start": 277, "end": 281}, {"entity_group": "PER", "score": 0.75306165, "word": "year", "start": 282, "end": 286}, {"entity_group": "ORG", "score": 0.3104323, "word": "!", "start": 286, "end": 287}]}
{"fixture": "bert-tokcls", "inputs": "John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! John Smith works at Google in New York. Mary Johnson moved from Berlin to Washington last year! ", "kwargs": {"aggregation_strategy": "max", "stride": 30}, "output": [{"entity_group": "PER", "score": 0.868884, "word": "John", "start": 0, "end": 4}, {"entity_group": "ORG", "score": 0.5431279, "word": "Smith", "start": 5, "end": 10}, {"entity_group": "PER", "score": 0.6790526, "word": "at", "start": 17, "end": 19}, {"entity_group": "ORG", "score": 0.9584145, "word": "Google", "start": 20, "end": 26}, {"entity_group": "PER", "score": 0.3334606, "word": "in", "start": 27, "end": 29}, {"entity_group": "ORG", "score": 0.7152506, "word": "New", "start": 30, "end": 33}, {"entity_group": "MISC", "score": 0.51253414, "word": "York", "start": 34, "end": 38}, {"entity_group": "PER", "score": 0.40352407, "word": "Johnson", "start": 45, "end": 52}, {"entity_group": "LOC", "score": 0.45241815, "word": "moved", "start": 53, "end": 58}, {"entity_group": "ORG", "score": 0.5637943, "word": "from", "start": 59, "end": 63}, {"entity_group": "MISC", "score": 0.81555563, "word": "to", "start": 71, "end": 73}, {"entity_group": "ORG", "score": 0.53858835, "word": "Washington", "start": 74, "end": 84}, {"entity_group": "ORG", "score": 0.78322786, "word": "last", "start": 85, "end": 89}, {"entity_group": "PER", "score": 0.7706904, "word": "year", "start": 90, "end": 94}, {"entity_group": "ORG", "score": 0.351352, "word": "!", "start": 94, "end": 95}, {"entity_group": "MISC", "score": 0.40960744, "word": "John", "start": 96, "end": 100}, {"entity_group": "ORG", "score": 0.7359889, "word": "Smith", "start": 101, "end": 106}, {"entity_group": "ORG", "score": 0.2917299, "word": "at", "start": 113, "end": 115}, {"entity_group": "ORG", "score": 0.3270581, "word": "in", "start": 123, "end": 125}, {"entity_group": "ORG", "score": 0.6339293, "word": "New", "start": 126, "end": 129}, {"entity_group": "MISC", "score": 0.32654482, "word": "York", "start": 130, "end": 134}, {"entity_group": "ORG", "score": 0.38444915, "word": ".", "start": 134, "end": 135}, {"entity_group": "ORG", "score": 0.91113377, "word": "Johnson", "start": 141, "end": 148}, {"entity_group": "ORG", "score": 0.78375787, "word": "moved", "start": 149, "end": 154}, {"entity_group": "PER", "score": 0.37902647, "word": "from", "start": 155, "end": 159}, {"entity_group": "MISC", "score": 0.593405, "word": "to", "start": 167, "end": 169}, {"entity_group": "ORG", "score": 0.6698939, "word": "Washington", "start": 170, "end": 180}, {"entity_group": "PER", "score": 0.65427685, "word": "last year", "start": 181, "end": 190}, {"entity_group": "PER", "score": 0.34240937, "word": "!", "start": 190, "end": 191}, {"entity_group": "MISC", "score": 0.61171526, "word": "John", "start": 192, "end": 196}, {"entity_group": "ORG", "score": 0.79564357, "word": "Smith", "start": 197, "end": 202}, {"entity_group": "ORG", "score": 0.61146224, "word": "works", "start": 203, "end": 208}, {"entity_group": "PER", "score": 0.83089733, "word": "at", "start": 209, "end": 211}, {"entity_group": "PER", "score": 0.28582722, "word": "Google in", "start": 212, "end": 221}, {"entity_group": "MISC", "score": 0.52432066, "word": "York", "start": 226, "end": 230}, {"entity_group": "ORG", "score": 0.662593, "word": ".", "start": 230, "end": 231}, {"entity_group": "ORG", "score": 0.65068007, "word": "Johnson", "start": 237, "end": 244}, {"entity_group": "ORG", "score": 0.7720114, "word": "moved", "start": 245, "end": 250}, {"entity_group": "ORG", "score": 0.37762266, "word": "Berlin", "start": 256, "end": 262}, {"entity_group": "MISC", "score": 0.6560245, "word": "to", "start": 263, "end": 265}, {"entity_group": "ORG", "score": 0.36030945, "word": "last", "start": 277, "end": 281}, {"entity_group": "LOC", "score": 0.4160632, "word": "year", "start": 282, "end": 286}, {"entity_group": "ORG", "score": 0.47048694, "word": "!", "start": 286, "end": 287}]}
{"fixture": "bert-tokcls", "inputs": "unbelievable washington 🙂 in Zürich", "kwargs": {}, "output": [{"entity": "B-PER", "score": 0.2771372, "index": 2, "word": "##n", "start": 1, "end": 2}, {"entity": "B-ORG", "score": 0.41668585, "index": 4, "word": "##e", "start": 3, "end": 4}, {"entity": "I-PER", "score": 0.35241532, "index": 5, "word": "##l", "start": 4, "end": 5}, {"entity": "B-ORG", "score": 0.93487155, "index": 6, "word": "##i", "start": 5, "end": 6}, {"entity": "B-ORG", "score": 0.4893109, "index": 7, "word": "##e", "start": 6, "end": 7}, {"entity": "I-MISC", "score": 0.4526752, "index": 8, "word": "##v", "start": 7, "end": 8}, {"entity": "I-PER", "score": 0.45444793, "index": 9, "word": "##a", "start": 8, "end": 9}, {"entity": "B-LOC", "score": 0.69735026, "index": 11, "word": "##l", "start": 10, "end": 11}, {"entity": "I-PER", "score": 0.34280032, "index": 12, "word": "##e", "start": 11, "end": 12}, {"entity": "B-ORG", "score": 0.9051284, "index": 13, "word": "was", "start": 13, "end": 16}, {"entity": "B-LOC", "score": 0.54985946, "index": 14, "word": "##h", "start": 16, "end": 17}, {"entity": "B-PER", "score": 0.46315292, "index": 15, "word": "##ing", "start": 17, "end": 20}, {"entity": "B-ORG", "score": 0.4936014, "index": 16, "word": "##ton", "start": 20, "end": 23}, {"entity": "I-MISC", "score": 0.5051998, "index": 17, "word": "🙂", "start": 24, "end": 25}, {"entity": "B-ORG", "score": 0.29913867, "index": 18, "word": "in", "start": 26, "end": 28}, {"entity": "B-PER", "score": 0.44560936, "index": 19, "word": "Z", "start": 29, "end": 30}, {"entity": "I-PER", "score": 0.5615154, "index": 20, "word": "##ü", "start": 30, "end": 31}, {"entity": "B-LOC", "score": 0.6354582, "index": 22, "word": "##i", "start": 32, "end": 33}, {"entity": "B-PER", "score": 0.3791358, "index": 23, "word": "##c", "start": 33, "end": 34}]}
{"fixture": "bert-tokcls", "inputs": "unbelievable washington 🙂 in Zürich", "kwargs": {"aggregation_strategy": "average", "ignore_labels": []}, "output": [{"entity_group": "ORG", "score": 0.22406137, "word": "unbelievable", "start": 0, "end": 12}, {"entity_group": "ORG", "score": 0.46248305, "word": "washington", "start": 13, "end": 23}, {"entity_group": "MISC", "score": 0.5051998, "word": "🙂", "start": 24, "end": 25}, {"entity_group": "ORG", "score": 0.29913867, "word": "in", "start": 26, "end": 28}, {"entity_group": "O", "score": 0.21055137, "word": "Zürich", "start": 29, "end": 35}]}
{"fixture": "bert-tokcls", "inputs": ["Paris", "  Jane   visited  Café Müller in   Paris , France."], "kwargs": {"aggregation_strategy": "first"}, "output": [[{"entity_group": "PER", "score": 0.4251745, "word": "Paris", "start": 0, "end": 5}], [{"entity_group": "PER", "score": 0.37872708, "word": "Jane", "start": 2, "end": 6}, {"entity_group": "PER", "score": 0.28375146, "word": "Müller", "start": 23, "end": 29}, {"entity_group": "ORG", "score": 0.35659268, "word": "Paris", "start": 35, "end": 40}, {"entity_group": "LOC", "score": 0.7602188, "word": ",", "start": 41, "end": 42}, {"entity_group": "ORG", "score": 0.26320553, "word": "France", "start": 43, "end": 49}]]}
{"fixture": "distilbert-tokcls", "inputs": "unbelievable washington 🙂 in Zürich", "kwargs": {}, "output": [{"entity": "I-MISC", "score": 0.67330825, "index": 1, "word": "u", "start": 0, "end": 1}, {"entity": "I-ORG", "score": 0.4764912, "index": 2, "word": "##n", "start": 1, "end": 2}, {"entity": "I-ORG", "score": 0.7521111, "index": 3, "word": "##b", "start": 2, "end": 3}, {"entity": "I-MISC", "score": 0.92474747, "index": 5, "word": "##l", "start": 4, "end": 5}, {"entity": "I-PER", "score": 0.38274944, "index": 6, "word": "##i", "start": 5, "end": 6}, {"entity": "B-ORG", "score": 0.5047472, "index": 8, "word": "##v", "start": 7, "end": 8}, {"entity": "B-PER", "score": 0.8216629, "index": 9, "word": "##a", "start": 8, "end": 9}, {"entity": "B-ORG", "score": 0.31721678, "index": 10, "word": "##b", "start": 9, "end": 10}, {"entity": "B-ORG", "score": 0.81894314, "index": 11, "word": "##l", "start": 10, "end": 11}, {"entity": "B-PER", "score": 0.62415403, "index": 14, "word": "##h", "start": 16, "end": 17}, {"entity": "B-ORG", "score": 0.5636189, "index": 15, "word": "##ing", "start": 17, "end": 20}, {"entity": "I-MISC", "score": 0.92481095, "index": 16, "word": "##ton", "start": 20, "end": 23}, {"entity": "B-LOC", "score": 0.45727304, "index": 17, "word": "🙂", "start": 24, "end": 25}, {"entity": "I-LOC", "score": 0.527381, "index": 18, "word": "in", "start": 26, "end": 28}, {"entity": "B-PER", "score": 0.30921623, "index": 19, "word": "Z", "start": 29, "end": 30}, {"entity": "I-PER", "score": 0.34238666, "index": 20, "word": "##ü", "start": 30, "end": 31}, {"entity": "I-MISC", "score": 0.46473294, "index": 21, "word": "##r", "start": 31, "end": 32}, {"entity": "B-ORG", "score": 0.58702546, "index": 22, "word": "##i", "start": 32, "end": 33}, {"entity": "I-MISC", "score": 0.46804157, "index": 23, "word": "##c", "start": 33, "end": 34}, {"entity": "B-PER", "score": 0.7208083, "index": 24, "word": "##h", "start": 34, "end": 35}]}
{"fixture": "distilbert-tokcls", "inputs": "unbelievable washington 🙂 in Zürich", "kwargs": {"aggregation_strategy": "average", "ignore_labels": []}, "output": [{"entity_group": "O", "score": 0.28294834, "word": "unbelievable", "start": 0, "end": 12}, {"entity_group": "MISC", "score": 0.24090563, "word": "washington", "start": 13, "end": 23}, {"entity_group": "LOC", "score": 0.49232703, "word": "🙂 in", "start": 24, "end": 28}, {"entity_group": "PER", "score": 0.21584673, "word": "Zürich", "start": 29, "end": 35}]}
{"fixture": "distilbert-tokcls", "inputs": ["Paris", "  Jane   visited  Café Müller in   Paris , France."], "kwargs": {"aggregation_strategy": "first"}, "output": [[{"entity_group": "MISC", "score": 0.6980543, "word": "Paris", "start": 0, "end": 5}], [{"entity_group": "MISC", "score": 0.3172957, "word": "visited", "start": 9, "end": 16}, {"entity_group": "PER", "score": 0.70279557, "word": "Café Müller", "start": 18, "end": 29}, {"entity_group": "ORG", "score": 0.34878948, "word": ",", "start": 41, "end": 42}, {"entity_group": "MISC", "score": 0.5148827, "word": "France", "start": 43, "end": 49}, {"entity_group": "LOC", "score": 0.3088064, "word": ".", "start": 49, "end": 50}]]}
"###;

#[test]
fn more_hf_reference_outputs() {
    check_hf_references(HF_REFERENCES, pipeline, run_case);
}
