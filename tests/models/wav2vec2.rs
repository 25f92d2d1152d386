//! wav2vec2: the feature extractor, `Wav2Vec2ForCTC` / `Wav2Vec2ForSequenceClassification`, the
//! CTC tokenizer and the automatic-speech-recognition / audio-classification pipelines, against
//! transformers' goldens (tests/fixtures/generate_w2v.py).
//!
//! `w2v-ctc-group`: group-norm feature encoder, post-norm encoder, no attention mask, weight norm
//! under the `parametrizations.weight.original0/1` names. `w2v-ctc-layer`: layer-norm feature
//! encoder, stable-layer-norm encoder, attention mask, legacy `weight_g`/`weight_v` names.
//! `w2v-audiocls`: layer norm + stable, attention mask, weighted layer sum.

use burn::tensor::Tensor;
use burn_models::hub::Weights;
use burn_models::nn::Linears;
use burn_models::wav2vec2::{Wav2Vec2Config, Wav2Vec2ForCTC, Wav2Vec2ForSequenceClassification};
use burn_tasks::input::audio::Audio;
use burn_tasks::pipelines::automatic_speech_recognition::AsrOptions;
use burn_tasks::pipelines::automatic_speech_recognition::AudioInput;
use burn_tasks::pipelines::{AutomaticSpeechRecognitionPipeline, Pipeline, pipeline};
use burn_tasks::processors::Wav2Vec2FeatureExtractor;
use burn_tasks::processors::ctc_tokenizer::Wav2Vec2CtcTokenizer;
use integration_tests::*;
use serde_json::{Value, json};

const CTC: [&str; 2] = ["w2v-ctc-group", "w2v-ctc-layer"];

fn samples(name: &str) -> Vec<f32> {
    let audio = Audio::from_file(fixture("audio").join(name)).expect("decodes");
    assert_eq!(audio.sampling_rate, 16_000, "{name}");
    audio.samples
}

fn config(name: &str) -> Wav2Vec2Config {
    burn_models::config::read_config(&fixture(name).join("config.json")).expect("config")
}

fn extractor(name: &str) -> Wav2Vec2FeatureExtractor {
    Wav2Vec2FeatureExtractor::from_model_dir(&model_dir(name)).expect("preprocessor_config")
}

/// The golden batch (`features.clips`) as the feature extractor makes it, padded.
fn golden_batch(name: &str) -> burn_tasks::processors::wav2vec2_features::Wav2Vec2Batch {
    let golden = golden(name);
    let clips: Vec<Vec<f32>> = golden["features"]["clips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| samples(c.as_str().unwrap()))
        .collect();
    let refs: Vec<&[f32]> = clips.iter().map(Vec::as_slice).collect();
    extractor(name).call(&refs, true, None).expect("features")
}

/// Compares sampled values (`{"index", "values"}` per row) of a `[rows, len]` array.
fn check_rows(what: &str, rows: &[&[f32]], golden: &Value) {
    let golden = golden.as_array().unwrap();
    assert_eq!(rows.len(), golden.len(), "{what}: rows");
    for (r, (row, expected)) in rows.iter().zip(golden).enumerate() {
        let index: Vec<usize> = expected["index"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        for (&i, value) in index.iter().zip(expected["values"].as_array().unwrap()) {
            let expected = value.as_f64().unwrap() as f32;
            assert!(
                (row[i] - expected).abs() <= TOLERANCE,
                "{what}: row {r} value {i} = {}, transformers {expected}",
                row[i]
            );
        }
    }
}

#[test]
fn feature_extractor_matches_transformers() {
    for name in ["w2v-ctc-group", "w2v-ctc-layer", "w2v-audiocls"] {
        let golden = golden(name);
        let padded = &golden["features"]["padded"];
        let batch = golden_batch(name);
        let shape: Vec<usize> = vec![batch.batch, batch.len];
        assert_eq!(json!(shape), padded["shape"], "{name}: padded batch shape");
        let rows: Vec<&[f32]> = (0..batch.batch).map(|i| batch.row(i)).collect();
        check_rows(&format!("{name} padded"), &rows, &padded["rows"]);
        let lengths = batch.attention_mask.as_ref().map(|m| {
            m.chunks(batch.len)
                .map(|r| r.iter().sum::<i64>())
                .collect::<Vec<_>>()
        });
        assert_eq!(
            json!(lengths),
            padded["attention_mask_lengths"],
            "{name}: attention mask"
        );
        // One clip alone: normalised over itself.
        let single = &golden["features"]["single"];
        let clip = samples(single["clip"].as_str().unwrap());
        let one = extractor(name).call(&[&clip], false, None).unwrap();
        check_rows(&format!("{name} single"), &[one.row(0)], &single["rows"]);
    }
}

fn load_ctc(name: &str) -> Wav2Vec2ForCTC {
    let weights = Weights::from_model_dir(&fixture(name)).expect("weights");
    let model = Wav2Vec2ForCTC::load(&weights.root(&device()), &config(name)).expect("loads");
    assert!(
        weights.unused().is_empty(),
        "{name}: unused tensors {:?}",
        weights.unused()
    );
    model
}

/// transformers 5 records `hidden_states[-1]` of the stable-layer-norm encoder (w2v-ctc-layer)
/// before its final LayerNorm (4.x recorded it after); the logits read the normalised output.
#[test]
fn ctc_logits_and_hidden_states_match_transformers() {
    for name in CTC {
        let model = load_ctc(name);
        let case = &golden(name)["model"][0];
        let batch = golden_batch(name);
        assert_eq!(
            batch.attention_mask.is_some(),
            case["attention_mask"].as_bool().unwrap(),
            "{name}: attention mask"
        );
        let (values, mask) = batch.to_tensors(&device());
        let (logits, hidden) = model
            .forward_hidden(values, mask.as_ref(), true)
            .expect("forward");
        let (shape, data) = to_vec(logits);
        assert_close(&format!("{name} logits"), &shape, &data, &case["logits"]);
        let golden_hidden = case["hidden_states"].as_array().unwrap();
        assert_eq!(hidden.len(), golden_hidden.len(), "{name}: hidden states");
        for (i, (state, expected)) in hidden.into_iter().zip(golden_hidden).enumerate() {
            let (shape, data) = to_vec(state);
            assert_close(&format!("{name} hidden state {i}"), &shape, &data, expected);
        }
    }
}

/// `use_weighted_layer_sum` sums every hidden state as transformers 5 records them: with the
/// stable-layer-norm encoder, the last layer's output before the final LayerNorm (4.x summed
/// the normalised one, which moves these logits by about 4e-3).
#[test]
fn sequence_classifier_logits_match_transformers() {
    let name = "w2v-audiocls";
    let weights = Weights::from_model_dir(&fixture(name)).unwrap();
    let model =
        Wav2Vec2ForSequenceClassification::load(&weights.root(&device()), &config(name)).unwrap();
    assert!(weights.unused().is_empty(), "{:?}", weights.unused());
    let golden = golden(name);
    let batch = golden_batch(name);
    let (values, mask) = batch.to_tensors(&device());
    for case in golden["model"].as_array().unwrap() {
        let masked = case["attention_mask"].as_bool().unwrap();
        let mask = if masked { mask.as_ref() } else { None };
        let (shape, data) = to_vec(model.forward(values.clone(), mask).unwrap());
        assert_close(
            &format!("{name} logits (attention mask: {masked})"),
            &shape,
            &data,
            &case["logits"],
        );
    }
}

#[test]
fn ctc_tokenizer_decodes_as_transformers() {
    for name in CTC {
        let tokenizer = Wav2Vec2CtcTokenizer::from_model_dir(
            &burn_models::hub::ModelDir::local(&fixture(name)).unwrap(),
        )
        .unwrap();
        assert_eq!(tokenizer.pad_token_id(), 0);
        for case in golden(name)["tokenizer"].as_array().unwrap() {
            let ids: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let skip = case["skip_special_tokens"].as_bool().unwrap();
            assert_eq!(
                tokenizer.decode(&ids, skip),
                case["text"].as_str().unwrap(),
                "{name}: decode({ids:?}, skip_special_tokens={skip})"
            );
        }
    }
}

/// Golden inputs name clips as `audio/<file>`: paths under tests/fixtures.
fn absolute_inputs(inputs: &Value) -> Value {
    match inputs {
        Value::String(path) => Value::String(fixture(path).display().to_string()),
        Value::Array(items) => Value::Array(items.iter().map(absolute_inputs).collect()),
        other => other.clone(),
    }
}

fn load_pipeline(task: &str, name: &str) -> Pipeline {
    json_pipeline(task, name)
}

#[test]
fn speech_recognition_pipeline_matches_transformers() {
    let mut failures = Vec::new();
    for name in CTC {
        let pipe = load_pipeline("automatic-speech-recognition", name);
        let typed: AutomaticSpeechRecognitionPipeline = typed_pipeline(name);
        assert!(
            typed.ctc().is_some() && typed.whisper().is_none(),
            "{name}: a wav2vec2 model runs CTC recognition"
        );
        let cases = golden_cases(name, &["automatic-speech-recognition"]);
        // Single clips, a batch of three, two chunked runs, char and word timestamps.
        assert_eq!(cases.len(), 7, "{name}: pipeline cases");
        for case in cases {
            let run = |case: &Value| {
                pipe.call(&absolute_inputs(&case["inputs"]), &case["kwargs"])
                    .map_err(|e| e.to_string())
            };
            if let Err(message) = check_case(&case, run) {
                failures.push(format!("{name} kwargs {}: {message}", case["kwargs"]));
            }
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn audio_classification_pipeline_matches_transformers() {
    let name = "w2v-audiocls";
    check_pipeline_goldens(
        &[name],
        &["audio-classification"],
        |name| load_pipeline("audio-classification", name),
        |pipe, case| {
            pipe.call(&absolute_inputs(&case["inputs"]), &case["kwargs"])
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn every_linear_layer_is_visible_for_lora_and_quantization() {
    let model = load_ctc("w2v-ctc-layer");
    let mut paths = Vec::new();
    model.visit_linears(&mut |l| paths.push(l.path.clone()));
    // Feature projection, 2 layers x (4 attention + 2 feed-forward), lm_head.
    assert_eq!(paths.len(), 1 + 2 * 6 + 1, "{paths:?}");
    for expected in [
        "wav2vec2.feature_projection.projection",
        "wav2vec2.encoder.layers.1.attention.q_proj",
        "wav2vec2.encoder.layers.0.feed_forward.output_dense",
        "lm_head",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let pipe: AutomaticSpeechRecognitionPipeline = typed_pipeline("w2v-ctc-layer");
    let options = AsrOptions::default();
    // Empty audio.
    let empty = AudioInput::Samples(Audio {
        samples: vec![],
        sampling_rate: 16_000,
    });
    assert_invalid_input(pipe.transcribe(&[empty], &options), "empty audio", "empty");
    // Shorter than the conv stack's receptive field (165 samples here).
    let short = AudioInput::Samples(Audio::from_samples(vec![0.1; 100], 16_000).unwrap());
    let result = pipe.transcribe(&[short], &options);
    match result {
        Err(burn_tasks::TaskError::Model(burn_models::ModelError::InvalidInput(message))) => {
            assert!(message.contains("receptive field"), "{message}")
        }
        other => panic!("short audio: {other:?}"),
    }
    // Whisper's timestamps are not CTC's.
    let asr = load_pipeline("automatic-speech-recognition", "w2v-ctc-layer");
    let clip = fixture("audio/tones-1s.wav").display().to_string();
    let error = asr
        .call(&json!(clip), &json!({"return_timestamps": true}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("return_timestamps='char'"), "{error}");
    let error = asr
        .call(&json!(clip), &json!({"num_beams": 2}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("num_beams"), "{error}");
    let error = asr
        .call(
            &json!(clip),
            &json!({"chunk_length_s": 0.5, "stride_length_s": 0.25}),
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("superior to stride"), "{error}");
}

#[test]
fn missing_tensors_are_named() {
    for (name, drop) in [
        ("w2v-ctc-group", "lm_head.weight"),
        (
            "w2v-ctc-group",
            "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1",
        ),
        (
            "w2v-ctc-layer",
            "wav2vec2.encoder.pos_conv_embed.conv.weight_v",
        ),
        (
            "w2v-audiocls",
            "wav2vec2.feature_extractor.conv_layers.2.layer_norm.bias",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for file in std::fs::read_dir(fixture(name)).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(&file, dir.path().join(file.file_name().unwrap())).unwrap();
        }
        let bytes = std::fs::read(fixture(name).join("model.safetensors")).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let kept: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .tensors()
            .into_iter()
            .filter(|(n, _)| n != drop)
            .collect();
        assert_eq!(kept.len() + 1, tensors.len(), "{drop} is in {name}");
        safetensors::serialize_to_file(kept, None, &dir.path().join("model.safetensors")).unwrap();
        let task = if name == "w2v-audiocls" {
            "audio-classification"
        } else {
            "automatic-speech-recognition"
        };
        let error = match pipeline(task)
            .unwrap()
            .model(dir.path().display().to_string())
            .device(device())
            .build()
        {
            Ok(_) => panic!("{name} without {drop} loaded"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(drop),
            "{name}: `{error}` does not name {drop}"
        );
    }
}

#[test]
fn short_and_long_clips_batch_with_an_attention_mask() {
    // A layer-norm model with the mask: a padded batch gives each clip the logits it gets alone.
    let name = "w2v-ctc-layer";
    let model = load_ctc(name);
    let fe = extractor(name);
    let (long, short) = (samples("tones-1s.wav"), samples("float-0.7s.wav"));
    let batch = fe.call(&[&long, &short], true, Some(true)).unwrap();
    let (values, mask) = batch.to_tensors(&device());
    let padded = model.forward(values, mask.as_ref()).unwrap();
    let alone = fe.call(&[&short], false, Some(true)).unwrap();
    let (values, mask) = alone.to_tensors(&device());
    let single: Tensor<3> = model.forward(values, mask.as_ref()).unwrap();
    let [_, frames, vocab] = single.dims();
    let (_, a) = to_vec(padded.slice([1..2, 0..frames, 0..vocab]));
    let (_, b) = to_vec(single);
    let worst = test_support::max_abs_diff(&a, &b).0;
    assert!(worst < 1e-4, "padded vs alone: {worst}");
}

/// Where the time goes for a wav2vec2-base-sized model: `W2V_BENCH=DIR` (a `Wav2Vec2ForCTC`
/// checkpoint) `cargo test -p integration-tests --test wav2vec2 -- --ignored --nocapture`.
#[test]
#[ignore = "a timing run, not a check: needs W2V_BENCH=<a wav2vec2-base-sized checkpoint dir>"]
fn time_a_base_sized_model() {
    let Ok(dir) = std::env::var("W2V_BENCH") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let config: Wav2Vec2Config =
        burn_models::config::read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    let model = Wav2Vec2ForCTC::load(&weights.root(&device()), &config).unwrap();
    let seconds = 10;
    let samples: Vec<f32> = (0..16_000 * seconds)
        .map(|i| (i as f32 * 0.173).sin() * 0.3)
        .collect();
    let values = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(samples, [1, 16_000 * seconds]),
        &device(),
    );
    let sync = |t: Tensor<3>| t.into_data();
    if std::env::var("W2V_BENCH_LAYERS").is_ok() {
        let mut x: Tensor<3> = values.clone().unsqueeze_dim(1);
        for (i, layer) in model
            .wav2vec2
            .feature_extractor
            .conv_layers
            .iter()
            .enumerate()
        {
            let t = std::time::Instant::now();
            let y = layer.conv.forward(x.clone());
            let y = Tensor::<3>::from_data(sync(y), &device());
            let conv = t.elapsed();
            let t = std::time::Instant::now();
            let mut z = y.clone();
            if let Some(norm) = &layer.group_norm {
                z = norm.forward(z);
            }
            let z = Tensor::<3>::from_data(sync(z), &device());
            let norm = t.elapsed();
            let t = std::time::Instant::now();
            let z = Tensor::<3>::from_data(sync(layer.activation.forward(z)), &device());
            eprintln!(
                "conv layer {i} {:?}: conv {conv:?}, norm {norm:?}, activation {:?}",
                z.dims(),
                t.elapsed()
            );
            x = z;
        }
    }
    for _ in 0..2 {
        let start = std::time::Instant::now();
        let features = model
            .wav2vec2
            .feature_extractor
            .forward(values.clone())
            .swap_dims(1, 2);
        let features = Tensor::<3>::from_data(sync(features), &device());
        let conv = start.elapsed();
        let hidden = model.wav2vec2.feature_projection.forward(features);
        let pos = std::time::Instant::now();
        let p = model
            .wav2vec2
            .encoder
            .pos_conv_embed
            .forward(hidden.clone());
        let _ = sync(p);
        let pos = pos.elapsed();
        let start2 = std::time::Instant::now();
        let _ = sync(model.wav2vec2.encoder.run(hidden, None, false).0);
        eprintln!(
            "{seconds} s audio: conv feature encoder {conv:?}, positional conv {pos:?}, encoder (with it) {:?}",
            start2.elapsed()
        );
    }
}
