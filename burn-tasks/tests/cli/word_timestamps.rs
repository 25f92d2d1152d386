//! `burn-tasks automatic-speech-recognition --return-timestamps word` on the tiny Whisper
//! fixture, compared with transformers' `return_timestamps="word"` golden.

use super::common::*;

#[test]
fn asr_word_timestamps_like_transformers() {
    let out = json(&run(&[
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
    ]));
    let kwargs = serde_json::json!({"return_timestamps": "word", "generate_kwargs": {"num_beams": 1, "language": "en"}});
    let expected = golden_output_in(
        "whisper-tiny",
        "golden_word_timestamps.json",
        &serde_json::json!("audio/tones-1s.wav"),
        &kwargs,
    );
    assert_eq!(out, expected);
    assert!(out["chunks"].as_array().is_some_and(|c| !c.is_empty()));
}

#[test]
fn asr_rejects_unknown_timestamp_levels() {
    let err = assert_clean_error(&[
        "asr",
        "--model",
        &fixture("whisper-tiny"),
        "--return-timestamps",
        "char",
        &fixture("audio/tones-1s.wav"),
    ]);
    assert!(err.contains("word"), "{err}");
}
