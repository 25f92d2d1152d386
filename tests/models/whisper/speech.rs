//! Speech: audio decoding, Whisper's log-mel features, the Whisper model and its generation,
//! against transformers' goldens (tests/fixtures/generate_speech.py).

use std::path::PathBuf;

use burn::tensor::{Int, Tensor, TensorData};
use burn_models::hub::Weights;
use burn_models::whisper::{
    WhisperConfig, WhisperForAudioClassification, WhisperForConditionalGeneration,
    WhisperGenerateOptions, WhisperGenerationConfig,
};
use burn_tasks::input::audio::Audio;
use burn_tasks::processors::WhisperFeatureExtractor;
use burn_tasks::processors::audio_features::WhisperFeatureConfig;
use integration_tests::*;
use serde_json::Value;

fn clip(name: &str) -> PathBuf {
    fixture("audio").join(name)
}

fn samples(name: &str) -> Vec<f32> {
    let audio = Audio::from_file(clip(name)).expect("decodes");
    assert_eq!(audio.sampling_rate, 16_000, "{name}");
    audio.samples
}

fn features_tensor(extractor: &WhisperFeatureExtractor, clip_name: &str) -> Tensor<3> {
    let mel = extractor.extract(&samples(clip_name));
    Tensor::from_data(
        TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
        &device(),
    )
}

/// Compares features with a golden: every frame covering the audio (`head`) within 1e-4,
/// every frame after it equal to the padding floor.
fn check_features(extractor: &WhisperFeatureExtractor, golden: &Value) {
    let name = golden["clip"].as_str().unwrap();
    let mel = extractor.extract(&samples(name));
    let shape: Vec<usize> = golden["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(vec![1, mel.mel_bins, mel.frames], shape, "{name}: shape");
    let head_frames = golden["frames"].as_u64().unwrap() as usize;
    let head: Vec<f32> = (0..mel.mel_bins)
        .flat_map(|m| mel.data[m * mel.frames..m * mel.frames + head_frames].to_vec())
        .collect();
    assert_close(
        &format!("{name} features ({} mels)", mel.mel_bins),
        &[1, mel.mel_bins, head_frames],
        &head,
        &golden["head"],
    );
    let floor = golden["tail_value"].as_f64().unwrap() as f32;
    for m in 0..mel.mel_bins {
        for t in head_frames..mel.frames {
            let v = mel.data[m * mel.frames + t];
            assert!(
                (v - floor).abs() <= TOLERANCE,
                "{name}: padding feature [{m}, {t}] = {v}, transformers {floor}"
            );
        }
    }
}

#[test]
fn wav_files_decode_to_the_samples_transformers_reads() {
    // 16-bit PCM is sample / 32768 (ffmpeg's conversion); float WAV is read as is.
    let mono = samples("tones-1s.wav");
    assert_eq!(mono.len(), 16_000);
    assert!(mono.iter().all(|s| (s * 32768.0).fract() == 0.0));
    let stereo = Audio::from_file(clip("stereo-1.5s.wav")).unwrap();
    assert_eq!(stereo.samples.len(), 24_000);
    let float = Audio::from_file(clip("float-0.7s.wav")).unwrap();
    assert_eq!(float.samples.len(), 11_200);
}

#[test]
fn flac_decodes_to_the_same_samples_as_wav() {
    let wav = samples("tones-1s.wav");
    let flac = Audio::from_file(clip("tones-1s.flac")).expect("FLAC decodes");
    assert_eq!(flac.sampling_rate, 16_000);
    assert_eq!(flac.samples.len(), wav.len());
    let worst = test_support::max_abs_diff(&flac.samples, &wav).0;
    assert!(worst < 1e-6, "max difference {worst}");
    // Truncated in the middle of a frame: the samples before the cut still decode.
    let bytes = std::fs::read(clip("tones-1s.flac")).unwrap();
    let cut = Audio::decode(&bytes[..bytes.len() / 2], Some("flac")).unwrap();
    assert!(cut.samples.len() < wav.len() && cut.samples.len() >= 4096);
}

#[test]
fn bad_audio_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.wav", b"", "empty"),
        ("truncated.wav", b"RIFF\x24\0\0\0WAVEfmt ", "WAV"),
        (
            "text.mp3",
            b"definitely not an mp3 file, just some text",
            "unsupported",
        ),
        ("noise.ogg", &[7u8; 300], "unsupported"),
    ];
    for (name, bytes, mentions) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let result = Audio::from_file(&path);
        assert_invalid_input(result, name, mentions);
    }
    assert_invalid_input(
        Audio::from_file(dir.path().join("missing.flac")),
        "missing file",
        "missing.flac",
    );
}

#[test]
fn whisper_features_match_transformers() {
    let golden = golden("whisper-tiny");
    let extractor = WhisperFeatureExtractor::from_model_dir(&model_dir("whisper-tiny")).unwrap();
    for case in golden["features"].as_array().unwrap() {
        check_features(&extractor, case);
    }
    let extractor = WhisperFeatureExtractor::new(WhisperFeatureConfig {
        feature_size: 128,
        ..WhisperFeatureConfig::default()
    })
    .unwrap();
    for case in golden["features_128"].as_array().unwrap() {
        check_features(&extractor, case);
    }
}

#[test]
fn whisper_features_truncate_to_30_seconds() {
    let extractor = WhisperFeatureExtractor::from_model_dir(&model_dir("whisper-tiny")).unwrap();
    let clip = samples("tones-2.5s.wav");
    let long: Vec<f32> = clip.iter().cycle().take(16_000 * 31).copied().collect();
    let cut = extractor.extract(&long);
    let exact = extractor.extract(&long[..16_000 * 30]);
    assert_eq!(cut.frames, 3000);
    assert_eq!(cut.data, exact.data);
}

fn load_whisper() -> (WhisperForConditionalGeneration, WhisperGenerationConfig) {
    let dir = fixture("whisper-tiny");
    let config: WhisperConfig = burn_models::config::read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    let device = device();
    let model = WhisperForConditionalGeneration::load(&weights.root(&device), &config).unwrap();
    let unused: Vec<String> = weights.unused();
    assert!(unused.is_empty(), "unused tensors: {unused:?}");
    let generation = WhisperGenerationConfig::from_model_dir(&dir, &config).unwrap();
    (model, generation)
}

#[test]
fn whisper_logits_match_transformers() {
    let golden = golden("whisper-tiny");
    let (model, _) = load_whisper();
    let extractor = WhisperFeatureExtractor::from_model_dir(&model_dir("whisper-tiny")).unwrap();
    for case in golden["model"].as_array().unwrap() {
        let name = case["clip"].as_str().unwrap();
        let features = features_tensor(&extractor, name);
        let ids = int_rows(&case["decoder_input_ids"]);
        let seq = ids[0].len();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids.concat(), [1, seq]), &device());
        let encoder = model.encode(features.clone()).unwrap();
        let [_, positions, dim] = encoder.dims();
        let (_, data) = to_vec(encoder.clone().slice([0..1, 0..8]));
        assert_close(
            &format!("{name} encoder states"),
            &[1, 8, dim],
            &data,
            &case["encoder_last_hidden_state_head"],
        );
        let sum: f64 = to_vec(encoder).1.iter().map(|&v| v as f64).sum();
        let expected = case["encoder_last_hidden_state_sum"].as_f64().unwrap();
        assert!(
            (sum - expected).abs() < 1e-4 * (positions * dim) as f64,
            "{name}: encoder sum {sum} vs {expected}"
        );
        let logits = model.forward(features, ids).unwrap();
        let [_, _, vocab] = logits.dims();
        let golden_shape = case["logits"]["shape"].as_array().unwrap()[1]
            .as_u64()
            .unwrap();
        let logits = if golden_shape == 1 {
            logits.slice([0..1, seq - 1..seq])
        } else {
            logits
        };
        let (shape, data) = to_vec(logits);
        assert_eq!(shape[2], vocab);
        assert_close(&format!("{name} logits"), &shape, &data, &case["logits"]);
    }
}

fn options(kwargs: &Value) -> WhisperGenerateOptions {
    WhisperGenerateOptions {
        language: kwargs["language"].as_str().map(str::to_string),
        task: kwargs["task"].as_str().map(str::to_string),
        return_timestamps: kwargs["return_timestamps"].as_bool().unwrap_or(false),
        max_new_tokens: kwargs["max_new_tokens"].as_u64().map(|n| n as usize),
        num_beams: kwargs["num_beams"].as_u64().map(|n| n as usize),
        no_cache: false,
    }
}

#[test]
fn whisper_greedy_generation_matches_transformers() {
    let golden = golden("whisper-tiny");
    let (model, generation) = load_whisper();
    let extractor = WhisperFeatureExtractor::from_model_dir(&model_dir("whisper-tiny")).unwrap();
    let mut checked = 0;
    for case in golden["generate"].as_array().unwrap() {
        let options = options(&case["kwargs"]);
        let name = case["clip"].as_str().unwrap();
        let out = model
            .generate(features_tensor(&extractor, name), &generation, &options)
            .unwrap();
        let expected: Vec<usize> = int_rows(&case["sequences"])[0]
            .iter()
            .map(|&t| t as usize)
            .collect();
        assert_eq!(out.tokens, expected, "{name} {}", case["kwargs"]);
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn whisper_cached_decoding_equals_uncached() {
    let (model, generation) = load_whisper();
    let extractor = WhisperFeatureExtractor::from_model_dir(&model_dir("whisper-tiny")).unwrap();
    for (clip, language) in [("tones-1s.wav", Some("en")), ("stereo-1.5s.wav", None)] {
        let mut options = WhisperGenerateOptions {
            language: language.map(str::to_string),
            max_new_tokens: Some(24),
            ..Default::default()
        };
        let features = features_tensor(&extractor, clip);
        let cached = model
            .generate(features.clone(), &generation, &options)
            .unwrap();
        options.no_cache = true;
        let uncached = model.generate(features, &generation, &options).unwrap();
        assert_eq!(cached, uncached, "{clip}");
        assert_eq!(cached.tokens.len(), 24);
    }
}

#[test]
fn whisper_generation_options_are_checked() {
    let (model, generation) = load_whisper();
    let extractor = WhisperFeatureExtractor::from_model_dir(&model_dir("whisper-tiny")).unwrap();
    let features = features_tensor(&extractor, "tones-1s.wav");
    for (options, mentions) in [
        (
            WhisperGenerateOptions {
                language: Some("klingon".into()),
                ..Default::default()
            },
            "Unsupported language",
        ),
        (
            WhisperGenerateOptions {
                task: Some("summarize".into()),
                ..Default::default()
            },
            "summarize",
        ),
        (
            WhisperGenerateOptions {
                max_new_tokens: Some(1000),
                ..Default::default()
            },
            "max_target_positions",
        ),
    ] {
        let err = model
            .generate(features.clone(), &generation, &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains(mentions), "{err}");
    }
    let short = Tensor::<3>::zeros([1, 80, 100], &device());
    let err = model.encode(short).unwrap_err().to_string();
    assert!(err.contains("3000"), "{err}");
}

#[test]
fn whisper_audio_classification_logits_match_transformers() {
    let dir = fixture("whisper-audiocls");
    let golden = golden("whisper-audiocls");
    let config: WhisperConfig = burn_models::config::read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    let model = WhisperForAudioClassification::load(&weights.root(&device()), &config).unwrap();
    assert!(weights.unused().is_empty(), "{:?}", weights.unused());
    let extractor =
        WhisperFeatureExtractor::from_model_dir(&burn_models::hub::ModelDir::local(&dir).unwrap())
            .unwrap();
    for case in golden["model"].as_array().unwrap() {
        let name = case["clip"].as_str().unwrap();
        let (shape, data) = to_vec(model.forward(features_tensor(&extractor, name)).unwrap());
        assert_close(&format!("{name} logits"), &shape, &data, &case["logits"]);
    }
}

/// Runs the `pipeline` goldens of a fixture through `pipeline(task)` (inputs are paths
/// relative to tests/fixtures). `skip` leaves out cases whose kwargs contain that key.
fn check_speech_pipeline(name: &str, task: &str, skip: Option<&str>) -> usize {
    let pipe = burn_tasks::pipeline(task)
        .unwrap()
        .model(fixture(name).to_str().unwrap())
        .device(device())
        .build()
        .unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in golden_cases(name, &[task]) {
        if skip.is_some_and(|key| case["kwargs"].get(key).is_some()) {
            continue;
        }
        let inputs = Value::from(fixture(case["inputs"].as_str().unwrap()).to_str().unwrap());
        if let Err(message) = check_case(&case, |case| {
            pipe.call(&inputs, &case["kwargs"])
                .map_err(|e| e.to_string())
        }) {
            failures.push(format!("{} {}: {message}", case["inputs"], case["kwargs"]));
        }
        checked += 1;
    }
    assert_no_failures(&failures);
    checked
}

/// Goldens from transformers 5.25. One behaviour differs from 4.57.6: with `return_language`
/// (and no word timestamps) 5.x reads the prompt's language token (`"language": "tagalog"`,
/// detected), where 4.x's chunks said `null`.
#[test]
fn asr_pipeline_matches_transformers() {
    // Greedy and beam search (the pipeline's default num_beams=5, and 3), segment timestamps,
    // chunked audio with strides.
    let checked = check_speech_pipeline("whisper-tiny", "automatic-speech-recognition", None);
    assert_eq!(checked, 13);
}

#[test]
fn audio_classification_pipeline_matches_transformers() {
    let checked = check_speech_pipeline("whisper-audiocls", "audio-classification", None);
    assert_eq!(checked, 4);
}

#[test]
fn speech_pipelines_reject_bad_inputs() {
    let pipe = burn_tasks::pipeline("automatic-speech-recognition")
        .unwrap()
        .model(fixture("whisper-tiny").to_str().unwrap())
        .device(device())
        .build()
        .unwrap();
    let empty = serde_json::json!({"raw": [], "sampling_rate": 16000});
    let err = pipe.call(&empty, &Value::Null).unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    let missing = Value::from(fixture("audio").join("nope.wav").to_str().unwrap());
    let err = pipe.call(&missing, &Value::Null).unwrap_err().to_string();
    assert!(err.contains("nope.wav"), "{err}");
    let kwargs = serde_json::json!({"generate_kwargs": {"language": "xx-unknown"}});
    let clip = Value::from(fixture("audio/tones-1s.wav").to_str().unwrap());
    let err = pipe.call(&clip, &kwargs).unwrap_err().to_string();
    assert!(err.contains("Unsupported language"), "{err}");
}

/// A checkpoint whose generation_config.json sets `num_beams` (here to 1, the global default)
/// keeps it under the pipeline, as in transformers 5 (4.x replaced it with the pipeline's 5
/// beams, which give other text on this fixture).
#[test]
fn asr_pipeline_keeps_the_checkpoints_num_beams() {
    let golden = golden("whisper-tiny");
    let cases = golden["generation_config_num_beams"].as_array().unwrap();
    assert!(!cases.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for entry in std::fs::read_dir(fixture("whisper-tiny")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut failures = Vec::new();
    for case in cases {
        let file = dir.join("generation_config.json");
        let mut generation: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for (key, value) in case["generation_config"].as_object().unwrap() {
            generation[key] = value.clone();
        }
        std::fs::write(&file, generation.to_string()).unwrap();
        let pipe = burn_tasks::pipeline("automatic-speech-recognition")
            .unwrap()
            .model(dir.to_str().unwrap())
            .device(device())
            .build()
            .unwrap();
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
fn asr_long_form_audio_matches_transformers() {
    let pipe = burn_tasks::pipeline("automatic-speech-recognition")
        .unwrap()
        .model(fixture("whisper-tiny").to_str().unwrap())
        .device(device())
        .build()
        .unwrap();
    let golden = golden("whisper-tiny");
    let cases = golden["long_form"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
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
        assert_json_close("long-form", &out, &case["output"]);
    }
    // Without timestamps transformers refuses long-form audio for this generation config.
    let clip = samples("tones-2.5s.wav");
    let long: Vec<f32> = clip.iter().copied().cycle().take(16_000 * 31).collect();
    let inputs = serde_json::json!({"raw": long, "sampling_rate": 16000});
    let kwargs = serde_json::json!({"generate_kwargs": {"num_beams": 1}});
    let err = pipe.call(&inputs, &kwargs).unwrap_err().to_string();
    assert!(err.contains("return_timestamps=True"), "{err}");
}

/// Whisper's `proj_out` is tied to the token embeddings as PyTorch ties them: one trained
/// tensor, whose gradient sums the lookup's and the projection's (what an untied copy of the
/// projection would receive, transposed), and the projection's own view never trains.
#[test]
fn tied_projection_trains_the_embedding() {
    use burn::module::Param;
    use burn_models::config::read_config;
    use burn_models::nn::Linear;
    let device = device().autodiff();
    let dir = fixture("whisper-tiny");
    let config: WhisperConfig = read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    let tied = WhisperForConditionalGeneration::load(&weights.root(&device), &config).unwrap();
    assert!(tied.proj_out.tied);
    // The same model with the projection as its own (untied) copy.
    let mut untied =
        WhisperForConditionalGeneration::load(&weights.root(&device), &config).unwrap();
    let copy = untied.decoder.embed_tokens.weight.val().inner().transpose();
    let copy = Tensor::<2>::from_data(copy.into_data(), &device);
    untied.proj_out = Linear::new("proj_out", Param::from_tensor(copy), None);

    let frames = 2 * config.max_source_positions;
    let features: Vec<f32> = (0..config.num_mel_bins * frames)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 2.0)
        .collect();
    let features = Tensor::<3>::from_data(
        TensorData::new(features, [1, config.num_mel_bins, frames]),
        &device,
    );
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 5, 9, 30], [1, 4]), &device);
    let grads_of = |model: &WhisperForConditionalGeneration| {
        let logits = model.forward(features.clone(), ids.clone()).unwrap();
        let loss = (logits.clone() * logits).mean();
        let grads = loss.backward();
        let table = model.decoder.embed_tokens.weight.val().grad(&grads);
        let projection = model.proj_out.weight.dense().grad(&grads);
        (table, projection)
    };
    let (tied_table, tied_projection) = grads_of(&tied);
    let (untied_table, untied_projection) = grads_of(&untied);
    assert!(tied_projection.is_none(), "the tied view is not trained");
    let expected = untied_table.unwrap() + untied_projection.unwrap().transpose();
    let diff = (tied_table.unwrap() - expected.clone())
        .abs()
        .max()
        .into_scalar::<f32>();
    let scale = expected.abs().max().into_scalar::<f32>();
    assert!(diff <= 1e-5 * scale.max(1e-6), "{diff} vs {scale}");
}
