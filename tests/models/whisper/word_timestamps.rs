//! Whisper word-level timestamps against transformers' goldens
//! (tests/fixtures/generate_wts.py -> whisper-tiny/golden_word_timestamps.json): the median
//! filter and DTW, `generate(..., return_token_timestamps=True)`, and the pipeline's
//! `return_timestamps="word"` output.

use burn::tensor::{Tensor, TensorData};
use burn_models::hub::Weights;
use burn_models::whisper::{
    WhisperConfig, WhisperForConditionalGeneration, WhisperGenerateOptions,
    WhisperGenerationConfig, dynamic_time_warping, median_filter,
};
use burn_tasks::input::audio::Audio;
use burn_tasks::processors::WhisperFeatureExtractor;
use integration_tests::*;
use serde_json::Value;

fn goldens() -> Value {
    let path = fixture("whisper-tiny").join("golden_word_timestamps.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn samples(name: &str) -> Vec<f32> {
    Audio::from_file(fixture("audio").join(name))
        .expect("decodes")
        .samples
}

fn floats(value: &Value) -> Vec<f64> {
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Null => out.push(f64::NAN),
            other => out.push(other.as_f64().expect("a number")),
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

fn same_f32(a: f32, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a as f64 - b).abs() <= 1e-6 * (1.0 + b.abs())
}

#[test]
fn median_filter_matches_transformers() {
    let golden = goldens();
    let cases = golden["median_filter"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let width = case["width"].as_u64().unwrap() as usize;
        let input: Vec<f32> = floats(&case["input"]).iter().map(|&v| v as f32).collect();
        let expected = floats(&case["output"]);
        let mut row_len = &case["input"];
        while let Some(first) = row_len.as_array().and_then(|a| a.first()) {
            if !first.is_array() {
                break;
            }
            row_len = first;
        }
        let cols = row_len.as_array().unwrap().len();
        let actual: Vec<f32> = input
            .chunks(cols)
            .flat_map(|row| median_filter(row, width))
            .collect();
        assert_eq!(actual.len(), expected.len());
        for (k, (&a, &e)) in actual.iter().zip(&expected).enumerate() {
            assert!(same_f32(a, e), "width {width} [{k}]: {a} vs {e}");
        }
    }
}

#[test]
fn dynamic_time_warping_matches_transformers() {
    let golden = goldens();
    let cases = golden["dtw"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let rows = case["matrix"].as_array().unwrap().len();
        let matrix = floats(&case["matrix"]);
        let cols = matrix.len() / rows;
        let (text, time) = dynamic_time_warping(&matrix, rows, cols);
        let ints = |v: &Value| -> Vec<i64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        };
        assert_eq!(text, ints(&case["text_indices"]), "{rows}x{cols} text");
        assert_eq!(time, ints(&case["time_indices"]), "{rows}x{cols} time");
    }
}

fn load_whisper(
    dir: &std::path::Path,
) -> (WhisperForConditionalGeneration, WhisperGenerationConfig) {
    let config: WhisperConfig = burn_models::config::read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(dir).unwrap();
    let model = WhisperForConditionalGeneration::load(&weights.root(&device()), &config).unwrap();
    let generation = WhisperGenerationConfig::from_model_dir(dir, &config).unwrap();
    (model, generation)
}

#[test]
fn token_timestamps_match_transformers() {
    let golden = goldens();
    let dir = fixture("whisper-tiny");
    let (model, generation) = load_whisper(&dir);
    let extractor =
        WhisperFeatureExtractor::from_model_dir(&burn_models::hub::ModelDir::local(&dir).unwrap())
            .unwrap();
    let cases = golden["token_timestamps"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let clip = case["clip"].as_str().unwrap();
        let kwargs = &case["kwargs"];
        let mel = extractor.extract(&samples(clip));
        let features = Tensor::<3>::from_data(
            TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
            &device(),
        );
        let options = WhisperGenerateOptions {
            language: kwargs["language"].as_str().map(str::to_string),
            return_timestamps: kwargs["return_timestamps"].as_bool().unwrap_or(false),
            max_new_tokens: kwargs["max_new_tokens"].as_u64().map(|n| n as usize),
            num_beams: kwargs["num_beams"].as_u64().map(|n| n as usize),
            ..Default::default()
        };
        let num_frames = case["num_frames"].as_u64().map(|n| n as usize);
        let out = model
            .generate_with_token_timestamps(features, &generation, &options, num_frames)
            .unwrap();
        let expected: Vec<usize> = int_rows(&case["sequences"])[0]
            .iter()
            .map(|&t| t as usize)
            .collect();
        assert_eq!(out.tokens, expected, "{clip} {kwargs}: tokens");
        let times = out.token_timestamps.expect("token timestamps");
        let expected = floats(&case["token_timestamps"]);
        assert_eq!(times.len(), expected.len(), "{clip} {kwargs}");
        for (k, (&a, &e)) in times.iter().zip(&expected).enumerate() {
            assert!(
                (a as f64 - e).abs() < 1e-4,
                "{clip} {kwargs}: token {k} at {a} s, transformers {e} s\nours {times:?}\nHF   {expected:?}"
            );
        }
    }
}

#[test]
fn alignment_head_cross_attention_matches_transformers() {
    let golden = goldens();
    let case = &golden["cross_attentions"];
    let dir = fixture("whisper-tiny");
    let (model, generation) = load_whisper(&dir);
    let heads = generation.alignment_heads.clone().unwrap();
    let golden_heads: Vec<(usize, usize)> = int_rows(&case["alignment_heads"])
        .iter()
        .map(|h| (h[0] as usize, h[1] as usize))
        .collect();
    assert_eq!(heads, golden_heads);
    let extractor =
        WhisperFeatureExtractor::from_model_dir(&burn_models::hub::ModelDir::local(&dir).unwrap())
            .unwrap();
    let mel = extractor.extract(&samples(case["clip"].as_str().unwrap()));
    let features = Tensor::<3>::from_data(
        TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
        &device(),
    );
    let encoder = model.encode(features).unwrap();
    let ids: Vec<usize> = int_rows(&case["decoder_input_ids"])[0]
        .iter()
        .map(|&t| t as usize)
        .collect();
    let weights = model
        .alignment_weights(&encoder, &ids, &heads, 0, Some(50))
        .unwrap();
    assert_eq!(
        (weights.heads, weights.rows, weights.cols),
        (2, ids.len(), 50)
    );
    let expected = floats(&case["weights"]);
    assert_eq!(weights.data.len(), expected.len());
    for (k, (&a, &e)) in weights.data.iter().zip(&expected).enumerate() {
        assert!((a as f64 - e).abs() < 1e-4, "weight {k}: {a} vs {e}");
    }
}

#[test]
fn explicit_cross_attention_gives_the_fused_result() {
    // The alignment layers leave the fused op only to expose the probabilities: the decoder's
    // output must not change.
    let dir = fixture("whisper-tiny");
    let (model, _) = load_whisper(&dir);
    let features = Tensor::<3>::random(
        [1, 80, 3000],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device(),
    );
    let encoder = model.encode(features).unwrap();
    let ids = Tensor::<2, burn::tensor::Int>::from_data(
        TensorData::new(vec![421i64, 422, 523, 527, 324, 335, 212], [1, 7]),
        &device(),
    );
    let mut cache = model.new_cache(&encoder);
    let fused = model.decoder.forward(ids.clone(), &mut cache).unwrap();
    let mut cache = model.new_cache(&encoder);
    let (explicit, weights) = model
        .decoder
        .forward_with_cross_attentions(ids, &mut cache, &[0, 1])
        .unwrap();
    let (_, a) = to_vec(fused);
    let (_, b) = to_vec(explicit);
    let worst = test_support::max_abs_diff(&a, &b).0;
    assert!(worst < 1e-4, "max difference {worst}");
    let probs = weights[1].clone().expect("layer 1 weights");
    assert_eq!(probs.dims(), [1, 4, 7, 1500]);
    let (_, sums) = to_vec(probs.sum_dim(3));
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{sums:?}");
}

fn asr_pipeline(dir: &std::path::Path) -> burn_tasks::Pipeline {
    burn_tasks::pipeline("automatic-speech-recognition")
        .unwrap()
        .model(dir.to_str().unwrap())
        .device(device())
        .build()
        .unwrap()
}

#[test]
fn word_timestamps_pipeline_matches_transformers() {
    let golden = goldens();
    let pipe = asr_pipeline(&fixture("whisper-tiny"));
    let cases = golden["pipeline"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    let mut failures = Vec::new();
    for case in cases {
        let inputs = Value::from(fixture(case["inputs"].as_str().unwrap()).to_str().unwrap());
        if let Err(message) = check_case(case, |case| {
            pipe.call(&inputs, &case["kwargs"])
                .map_err(|e| e.to_string())
        }) {
            failures.push(format!("{} {}: {message}", case["inputs"], case["kwargs"]));
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn word_timestamps_of_long_form_audio_match_transformers() {
    let golden = goldens();
    let pipe = asr_pipeline(&fixture("whisper-tiny"));
    let cases = golden["long_form"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    for case in cases {
        let clip = samples(case["clip"].as_str().unwrap());
        let repeat = case["repeat"].as_u64().unwrap() as usize;
        let long: Vec<f32> = clip
            .iter()
            .copied()
            .cycle()
            .take(clip.len() * repeat)
            .collect();
        assert!(long.len() > 16_000 * 30);
        let inputs = serde_json::json!({"raw": long, "sampling_rate": 16000});
        let out = pipe.call(&inputs, &case["kwargs"]).unwrap();
        assert_json_close("long-form words", &out, &case["output"]);
    }
}

#[test]
fn word_timestamps_need_alignment_heads_as_in_transformers() {
    let golden = goldens();
    let expected = &golden["no_alignment_heads"];
    // A copy of the fixture whose generation config has no alignment_heads.
    let tmp = tempfile::tempdir().unwrap();
    let source = fixture("whisper-tiny");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name.to_str().unwrap().starts_with("golden") {
            continue;
        }
        std::fs::copy(&path, tmp.path().join(name)).unwrap();
    }
    let gen_path = tmp.path().join("generation_config.json");
    let mut generation: Value =
        serde_json::from_str(&std::fs::read_to_string(&gen_path).unwrap()).unwrap();
    generation
        .as_object_mut()
        .unwrap()
        .remove("alignment_heads");
    std::fs::write(&gen_path, generation.to_string()).unwrap();

    let pipe = asr_pipeline(tmp.path());
    let inputs = Value::from(
        fixture(expected["inputs"].as_str().unwrap())
            .to_str()
            .unwrap(),
    );
    let err = pipe
        .call(&inputs, &expected["kwargs"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(expected["error"].as_str().unwrap()),
        "{err}\nvs transformers: {}",
        expected["error"]
    );
    // Segment timestamps do not need them.
    let kwargs = serde_json::json!({"return_timestamps": true, "generate_kwargs": {"num_beams": 1, "language": "en", "max_new_tokens": 8}});
    pipe.call(&inputs, &kwargs).unwrap();
}

#[test]
fn bad_return_timestamps_values_are_clear_errors() {
    let pipe = asr_pipeline(&fixture("whisper-tiny"));
    let inputs = Value::from(fixture("audio/tones-1s.wav").to_str().unwrap());
    let kwargs = serde_json::json!({"return_timestamps": "char"});
    let err = pipe.call(&inputs, &kwargs).unwrap_err().to_string();
    assert!(err.contains("word"), "{err}");
}
