//! Loading: local directories, the hub cache layout, and clear errors for bad checkpoints.

use std::path::Path;

use burn_models::ModelError;
use burn_models::auto;
use burn_models::heads::EncoderInput;
use burn_models::hub::{HubOptions, ModelDir};
use integration_tests::*;
use safetensors::SafeTensors;

/// A scratch copy of a fixture that a test may damage.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn load_error(dir: &Path) -> ModelError {
    let dir = ModelDir::local(dir).expect("config.json is there");
    match auto::load_sequence_classifier(&dir, &device()) {
        Ok(_) => panic!("loading {} should fail", dir.path().display()),
        Err(e) => e,
    }
}

#[test]
fn garbage_safetensors_is_a_clear_error() {
    let dir = copy_fixture("bert-seqcls");
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"this is not a safetensors file",
    )
    .unwrap();
    let error = load_error(dir.path());
    assert!(
        matches!(error, ModelError::CorruptWeights { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("model.safetensors"), "{error}");
}

#[test]
fn truncated_safetensors_is_a_clear_error() {
    let dir = copy_fixture("bert-seqcls");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let error = load_error(dir.path());
    assert!(
        matches!(error, ModelError::CorruptWeights { .. }),
        "{error}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = copy_fixture("bert-seqcls");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<_> = tensors
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "bert.encoder.layer.1.attention.self.key.weight")
        .collect();
    std::fs::write(&path, safetensors::serialize(kept, None).unwrap()).unwrap();
    let error = load_error(dir.path());
    assert!(
        matches!(&error, ModelError::MissingTensor { name, .. } if name == "bert.encoder.layer.1.attention.self.key.weight"),
        "{error}"
    );
}

#[test]
fn shape_mismatch_names_the_tensor_and_both_shapes() {
    let dir = copy_fixture("bert-seqcls");
    let config_path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["intermediate_size"] = 40.into();
    std::fs::write(&config_path, config.to_string()).unwrap();
    let error = load_error(dir.path());
    match &error {
        ModelError::ShapeMismatch {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "bert.encoder.layer.0.intermediate.dense.weight");
            assert_eq!(expected[0], 40);
            assert_ne!(found, expected);
        }
        _ => panic!("expected a shape mismatch, got {error}"),
    }
}

#[test]
fn missing_weights_and_config_are_clear_errors() {
    let dir = copy_fixture("bert-seqcls");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let error = load_error(dir.path());
    assert!(matches!(error, ModelError::NoWeights { .. }), "{error}");

    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let error = ModelDir::local(dir.path()).unwrap_err();
    assert!(error.to_string().contains("config.json"), "{error}");

    let error = ModelDir::resolve("./no/such/model-dir", &HubOptions::default()).unwrap_err();
    assert!(error.to_string().contains("no/such/model-dir"), "{error}");
}

#[test]
fn unknown_architecture_is_named() {
    let dir = copy_fixture("bert-seqcls");
    let config_path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("\"model_type\": \"bert\"", "\"model_type\": \"mystery\"");
    std::fs::write(&config_path, text).unwrap();
    let error = load_error(dir.path());
    assert!(error.to_string().contains("mystery"), "{error}");
}

#[test]
fn input_longer_than_the_model_is_an_error_not_a_panic() {
    let model = auto::load_sequence_classifier(
        &ModelDir::local(&fixture("bert-seqcls")).unwrap(),
        &device(),
    )
    .unwrap();
    let long = vec![vec![5i64; 65]];
    let mask = vec![vec![1i64; 65]];
    let input = EncoderInput::new(&long, &mask, None, &device()).unwrap();
    let error = model.logits(&input).unwrap_err();
    assert!(
        error.to_string().contains("longer than the model"),
        "{error}"
    );

    let out_of_vocab =
        EncoderInput::new(&[vec![2, 100_000, 3]], &[vec![1, 1, 1]], None, &device()).unwrap();
    let error = model.logits(&out_of_vocab).unwrap_err();
    assert!(
        error.to_string().contains("outside the vocabulary"),
        "{error}"
    );

    let ragged = EncoderInput::new(
        &[vec![2, 3], vec![2]],
        &[vec![1, 1], vec![1]],
        None,
        &device(),
    );
    assert!(ragged.is_err());
}

/// A hub id resolves through the standard cache layout
/// (`models--org--name/refs/main`, `snapshots/<commit>/...`) without a network.
#[test]
fn hub_id_resolves_from_the_cache_offline() {
    let cache = tempfile::tempdir().unwrap();
    let repo = cache.path().join("models--tiny-org--tiny-bert");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    for entry in std::fs::read_dir(fixture("bert-seqcls")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, snapshot.join(path.file_name().unwrap())).unwrap();
    }
    let options = HubOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        offline: true,
        ..HubOptions::default()
    };
    let dir = ModelDir::resolve("tiny-org/tiny-bert", &options).unwrap();
    assert_eq!(dir.path(), snapshot);
    auto::load_sequence_classifier(&dir, &device()).unwrap();

    let error = ModelDir::resolve("tiny-org/not-cached", &options).unwrap_err();
    assert!(error.to_string().contains("offline"), "{error}");
    let pinned = HubOptions {
        revision: Some("v2".into()),
        ..options
    };
    assert!(ModelDir::resolve("tiny-org/tiny-bert", &pinned).is_err());
}
