//! `burn-tasks automatic-speech-recognition --return-timestamps word` on the tiny Whisper
//! fixture, compared with transformers' `return_timestamps="word"` golden.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn asr_word_timestamps_like_transformers() {
    let output = Command::new(env!("CARGO_BIN_EXE_burn-tasks"))
        .args([
            "automatic-speech-recognition",
            "--model",
            &fixture("whisper-tiny"),
            "--language",
            "en",
            "--num-beams",
            "1",
            "--return-timestamps",
            "word",
            &fixture("audio/tones-1s.wav"),
        ])
        .env("BURN_DEVICE", "cpu")
        .output()
        .expect("run burn-tasks");
    assert!(
        output.status.success(),
        "burn-tasks failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let path = PathBuf::from(fixture("whisper-tiny")).join("golden_word_timestamps.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let kwargs = serde_json::json!({"return_timestamps": "word", "generate_kwargs": {"num_beams": 1, "language": "en"}});
    let expected = &golden["pipeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["inputs"] == "audio/tones-1s.wav" && c["kwargs"] == kwargs)
        .expect("golden case")["output"];
    assert_eq!(&out, expected);
    assert!(out["chunks"].as_array().is_some_and(|c| !c.is_empty()));
}

#[test]
fn asr_rejects_unknown_timestamp_levels() {
    let output = Command::new(env!("CARGO_BIN_EXE_burn-tasks"))
        .args([
            "asr",
            "--model",
            &fixture("whisper-tiny"),
            "--return-timestamps",
            "char",
            &fixture("audio/tones-1s.wav"),
        ])
        .env("BURN_DEVICE", "cpu")
        .output()
        .expect("run burn-tasks");
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("word"), "{err}");
}
