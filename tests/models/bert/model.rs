//! Model outputs against transformers' on the committed goldens: every BERT/DistilBERT head,
//! the bare models, and the loading variants (f16, sharded, pytorch_model.bin).

use burn_models::auto::{self, model_type};
use burn_models::bert::BertModel;
use burn_models::distilbert::DistilBertModel;
use burn_models::heads::EncoderInput;
use burn_models::hub::{ModelDir, Weights};
use integration_tests::*;
use serde_json::Value;

fn cases(name: &str) -> Vec<Value> {
    golden(name)["model"]
        .as_array()
        .expect("model cases")
        .clone()
}

fn input(case: &Value) -> EncoderInput {
    let types = case.get("token_type_ids").map(int_rows);
    EncoderInput::new(
        &int_rows(&case["input_ids"]),
        &int_rows(&case["attention_mask"]),
        types.as_deref(),
        &device(),
    )
    .expect("golden input")
}

fn dir(name: &str) -> ModelDir {
    ModelDir::local(&fixture(name)).expect("fixture dir")
}

/// The base model's last hidden state (and pooler output) of any fixture, loaded from the
/// head checkpoint through the `bert.` / `distilbert.` prefix.
fn check_base(name: &str, case: &Value) {
    let what = format!("{name}/{}", case["name"]);
    let dir = dir(name);
    let weights = Weights::from_model_dir(dir.path()).unwrap();
    let device = device();
    match model_type(&dir).unwrap().as_str() {
        "bert" => {
            let config = burn_models::config::read_config(&dir.config_path()).unwrap();
            let model = BertModel::load_bare(&weights.root(&device), &config).unwrap();
            let out = model.forward(&input(case)).unwrap();
            let (shape, data) = to_vec(out.last_hidden_state);
            assert_close(
                &format!("{what} last_hidden_state"),
                &shape,
                &data,
                &case["last_hidden_state"],
            );
            if let Some(golden) = case.get("pooler_output") {
                let (shape, data) = to_vec(out.pooler_output.expect("pooler"));
                assert_close(&format!("{what} pooler_output"), &shape, &data, golden);
            }
        }
        "distilbert" => {
            let config = burn_models::config::read_config(&dir.config_path()).unwrap();
            let model = DistilBertModel::load(&weights.root(&device), &config).unwrap();
            let (shape, data) = to_vec(model.forward(&input(case)).unwrap());
            assert_close(
                &format!("{what} last_hidden_state"),
                &shape,
                &data,
                &case["last_hidden_state"],
            );
        }
        other => panic!("unexpected model_type {other}"),
    }
}

/// Compares `logits` of every case of a fixture, then its base model outputs.
fn check_logits(name: &str, logits: impl Fn(&EncoderInput) -> (Vec<usize>, Vec<f32>)) {
    for case in cases(name) {
        let (shape, data) = logits(&input(&case));
        assert_close(
            &format!("{name}/{} logits", case["name"]),
            &shape,
            &data,
            &case["logits"],
        );
        check_base(name, &case);
    }
}

fn check_sequence_classifier(name: &str) {
    let model = auto::load_sequence_classifier(&dir(name), &device()).unwrap();
    check_logits(name, |input| to_vec(model.logits(input).unwrap()));
}

fn check_token_classifier(name: &str) {
    let model = auto::load_token_classifier(&dir(name), &device()).unwrap();
    check_logits(name, |input| to_vec(model.logits(input).unwrap()));
}

fn check_question_answerer(name: &str) {
    let model = auto::load_question_answerer(&dir(name), &device()).unwrap();
    for case in cases(name) {
        let (start, end) = model.span_logits(&input(&case)).unwrap();
        let what = format!("{name}/{}", case["name"]);
        let (shape, data) = to_vec(start);
        assert_close(
            &format!("{what} start_logits"),
            &shape,
            &data,
            &case["start_logits"],
        );
        let (shape, data) = to_vec(end);
        assert_close(
            &format!("{what} end_logits"),
            &shape,
            &data,
            &case["end_logits"],
        );
        check_base(name, &case);
    }
}

#[test]
fn bert_bare_model() {
    for case in cases("bert-base") {
        check_base("bert-base", &case);
    }
}

#[test]
fn distilbert_bare_model() {
    for case in cases("distilbert-base") {
        check_base("distilbert-base", &case);
    }
}

#[test]
fn bert_sequence_classification() {
    for name in ["bert-seqcls", "bert-regression", "bert-multilabel"] {
        check_sequence_classifier(name);
    }
}

#[test]
fn distilbert_sequence_classification() {
    check_sequence_classifier("distilbert-seqcls");
}

#[test]
fn token_classification_heads() {
    check_token_classifier("bert-tokcls");
    check_token_classifier("distilbert-tokcls");
}

#[test]
fn question_answering_heads() {
    check_question_answerer("bert-qa");
    check_question_answerer("distilbert-qa");
}

/// The same weights stored as f16, as shards with an index, and as `pytorch_model.bin`.
#[test]
fn checkpoint_formats() {
    for name in ["bert-seqcls-f16", "bert-seqcls-sharded", "bert-seqcls-bin"] {
        check_sequence_classifier(name);
    }
    assert!(fixture("bert-seqcls-sharded/model.safetensors.index.json").is_file());
    assert!(fixture("bert-seqcls-bin/pytorch_model.bin").is_file());
}

/// Tensors the loaded architecture does not use are reported, as transformers warns.
#[test]
fn unused_tensors_are_reported() {
    let dir = dir("bert-seqcls");
    let weights = Weights::from_model_dir(dir.path()).unwrap();
    let config = burn_models::config::read_config(&dir.config_path()).unwrap();
    BertModel::load_bare(&weights.root(&device()), &config).unwrap();
    assert_eq!(weights.unused(), ["classifier.bias", "classifier.weight"]);
}
