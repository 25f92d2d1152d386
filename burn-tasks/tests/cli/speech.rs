//! The `burn-tasks` command line for speech: automatic-speech-recognition and
//! audio-classification on the tiny Whisper fixtures, compared with transformers' goldens.

use serde_json::{Value, json};

use super::common::*;

/// The golden case of `fixture_name` with this audio file and kwargs.
fn speech_golden(fixture_name: &str, input: &str, kwargs: Value) -> Value {
    golden_output(fixture_name, &json!(input), &kwargs)
}

#[test]
fn asr_transcribes_a_wav_file_like_transformers() {
    let out = json(&run(&[
        "automatic-speech-recognition",
        "--model",
        &fixture("whisper-tiny"),
        "--language",
        "fr",
        "--task",
        "translate",
        "--num-beams",
        "1",
        &fixture("audio/stereo-1.5s.wav"),
    ]));
    let expected = speech_golden(
        "whisper-tiny",
        "audio/stereo-1.5s.wav",
        serde_json::json!({"generate_kwargs": {"num_beams": 1, "language": "fr", "task": "translate"}}),
    );
    assert_eq!(out, expected);
}

#[test]
fn asr_default_beam_search_and_several_files() {
    let out = json(&run(&[
        "asr",
        "--model",
        &fixture("whisper-tiny"),
        &fixture("audio/tones-1s.wav"),
        &fixture("audio/tones-1s.wav"),
    ]));
    let expected = speech_golden("whisper-tiny", "audio/tones-1s.wav", serde_json::json!({}));
    assert_eq!(out, Value::Array(vec![expected.clone(), expected]));
}

#[test]
fn audio_classification_top_k_and_function() {
    let out = json(&run(&[
        "audio-classification",
        "--model",
        &fixture("whisper-audiocls"),
        "--top-k",
        "3",
        "--function-to-apply",
        "none",
        &fixture("audio/float-0.7s.wav"),
    ]));
    let expected = speech_golden(
        "whisper-audiocls",
        "audio/float-0.7s.wav",
        serde_json::json!({"function_to_apply": "none", "top_k": 3}),
    );
    let (ours, hf) = (out.as_array().unwrap(), expected.as_array().unwrap());
    assert_eq!(ours.len(), hf.len());
    for (a, b) in ours.iter().zip(hf) {
        assert_eq!(a["label"], b["label"]);
        let (x, y) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
}

#[test]
fn speech_errors_are_messages_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.mp3");
    std::fs::write(&bad, b"not audio").unwrap();
    let out = run(&[
        "asr",
        "--model",
        &fixture("whisper-tiny"),
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("bad.mp3"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = run(&[
        "asr",
        "--model",
        &fixture("whisper-tiny"),
        "--language",
        "klingon",
        &fixture("audio/tones-1s.wav"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("Unsupported language"),
        "{stderr}"
    );
}

#[test]
fn asr_chunked_with_timestamps() {
    let out = json(&run(&[
        "asr",
        "--model",
        &fixture("whisper-tiny"),
        "--language",
        "en",
        "--num-beams",
        "1",
        "--max-new-tokens",
        "10",
        "--chunk-length-s",
        "0.8",
        "--stride-length-s",
        "0.2,0.1",
        &fixture("audio/stereo-1.5s.wav"),
    ]));
    let expected = speech_golden(
        "whisper-tiny",
        "audio/stereo-1.5s.wav",
        serde_json::json!({"chunk_length_s": 0.8, "stride_length_s": [0.2, 0.1], "generate_kwargs": {"num_beams": 1, "language": "en", "max_new_tokens": 10}}),
    );
    assert_eq!(out, expected);
}
