//! PEFT's `bias="all"`: every parameter named `*.bias` trains and is saved, the LayerNorm and
//! convolution biases as well as the linear ones. Goldens from Python PEFT
//! (tests/fixtures/generate_peft_bias.py) with every trainable bias perturbed.

use std::collections::BTreeMap;
use std::path::Path;

use super::common::*;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Gradients, Int, Tensor, TensorData};
use burn_models::heads::SequenceClassifier;
use burn_models::hub::param_name;
use burn_models::nn::Linears;
use burn_models::whisper::{WhisperConfig, WhisperForConditionalGeneration};
use burn_peft::*;

/// f32 logits must match PEFT within this absolute tolerance.
const TOLERANCE: f32 = 1e-4;
const BERT: &str = "peft-bert-bias-all";
const WHISPER: &str = "peft-whisper-bias-all";

fn check_bert<M: SequenceClassifier>(what: &str, model: &M, key: &str) {
    let golden = golden(BERT);
    for case in golden["cases"].as_array().unwrap() {
        let logits = model.logits(&input(case, &device())).unwrap();
        assert_close(
            &format!("{what}/{}/{key}", case["name"]),
            logits,
            &case[key],
            TOLERANCE,
        );
    }
}

fn whisper(device: &burn::tensor::Device) -> WhisperForConditionalGeneration {
    load_fixture::<WhisperConfig, _>(
        "whisper-tiny",
        device,
        WhisperForConditionalGeneration::load,
    )
}

/// The generator's synthetic log-mel input, `0.5 sin(0.001 (m + 1) (t + 1))`, and its
/// decoder ids.
fn whisper_input(device: &burn::tensor::Device) -> (Tensor<3>, Tensor<2, Int>) {
    let golden = golden(WHISPER);
    let frames = golden["frames"].as_u64().unwrap() as usize;
    let mels = 80;
    let mut values = Vec::with_capacity(mels * frames);
    for m in 1..=mels {
        for t in 1..=frames {
            values.push(0.5 * (0.001f32 * m as f32 * t as f32).sin());
        }
    }
    let ids: Vec<i64> = golden["decoder_input_ids"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let len = ids.len();
    (
        Tensor::from_data(TensorData::new(values, [1, mels, frames]), device),
        Tensor::from_data(TensorData::new(ids, [1, len]), device),
    )
}

fn check_whisper(what: &str, model: &WhisperForConditionalGeneration, key: &str) {
    let device = device();
    let (features, ids) = whisper_input(&device);
    let logits = model.forward(features, ids).unwrap();
    assert_close(what, logits, &golden(WHISPER)[key], TOLERANCE);
}

/// Saves the adapter and compares file by file with PEFT's: the same config, the same keys,
/// the same values.
fn assert_saves_as_peft(save: impl Fn(&Path), name: &str) {
    let dir = tempfile::tempdir().unwrap();
    save(dir.path());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap(),
        std::fs::read_to_string(fixture(name).join("adapter_config.json")).unwrap()
    );
    let ours = read_tensors(dir.path().join(WEIGHTS_NAME));
    let peft = read_tensors(fixture(name).join(WEIGHTS_NAME));
    let keys =
        |t: &[(String, Vec<usize>, Vec<u8>)]| t.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&peft), "{name}: keys");
    assert_eq!(ours, peft, "{name}: values");
}

#[test]
fn bert_bias_all_adapter_from_peft() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let mut model =
        PeftModel::from_pretrained(bert("bert-seqcls", &device), &fixture(BERT)).unwrap();
    // The LayerNorm biases are PEFT's, not the base checkpoint's.
    let base = bert("bert-seqcls", &device);
    let beta = |m: &burn_models::bert::BertForSequenceClassification| {
        m.bert.embeddings.layer_norm.beta.as_ref().unwrap().val()
    };
    let moved = max_abs_diff_of(beta(&model.base_model), beta(&base));
    assert!(
        moved > 1e-3,
        "embeddings.LayerNorm.bias loaded from the adapter"
    );
    check_bert("adapter", &model.base_model, "adapter");
    // Trained biases belong to the base model: disabling the adapter keeps them (PEFT warns
    // about this); so does merging.
    model.disable_adapters();
    check_bert("disabled", &model.base_model, "disabled");
    model.enable_adapters();
    model.merge_adapter();
    check_bert("merged", &model.base_model, "merged");
    model.unmerge_adapter();
    check_bert("unmerged", &model.base_model, "adapter");
    assert_saves_as_peft(|dir| model.save_pretrained(dir).unwrap(), BERT);
    check_bert("merge_and_unload", &model.merge_and_unload(), "merged");
}

#[test]
fn bert_bias_all_counts_as_peft() {
    let _random = integration_tests::random_stream_lock();
    let golden = golden(BERT);
    let config = LoraConfig::from_file(&fixture(BERT)).unwrap();
    assert_eq!(config.bias, Bias::All);
    let model = get_peft_model(bert("bert-seqcls", &device()), config).unwrap();
    assert_eq!(
        model.get_nb_trainable_parameters(),
        (
            golden["trainable_params"].as_u64().unwrap() as usize,
            golden["all_params"].as_u64().unwrap() as usize
        )
    );
    assert_eq!(
        model.trainable_parameters_line(),
        golden["print_trainable_parameters"].as_str().unwrap()
    );
}

#[test]
fn whisper_bias_all_adapter_from_peft() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let golden = golden(WHISPER);
    let mut model = PeftModel::from_pretrained(whisper(&device), &fixture(WHISPER)).unwrap();
    let conv_bias =
        |m: &WhisperForConditionalGeneration| m.encoder.conv1.bias.as_ref().unwrap().val();
    let moved = max_abs_diff_of(conv_bias(&model.base_model), conv_bias(&whisper(&device)));
    assert!(moved > 1e-3, "encoder.conv1.bias loaded from the adapter");
    check_whisper("adapter", &model.base_model, "adapter");
    model.disable_adapters();
    check_whisper("disabled", &model.base_model, "disabled");
    model.enable_adapters();
    model.merge_adapter();
    check_whisper("merged", &model.base_model, "merged");
    model.unmerge_adapter();
    check_whisper("unmerged", &model.base_model, "adapter");
    assert_saves_as_peft(|dir| model.save_pretrained(dir).unwrap(), WHISPER);
    check_whisper("merge_and_unload", &model.merge_and_unload(), "merged");

    // The count of a fresh adapter, from the model and from the config alone.
    let config = LoraConfig::from_file(&fixture(WHISPER)).unwrap();
    let expected = (
        golden["trainable_params"].as_u64().unwrap() as usize,
        golden["all_params"].as_u64().unwrap() as usize,
    );
    let fresh = get_peft_model(whisper(&device), config.clone()).unwrap();
    assert_eq!(fresh.get_nb_trainable_parameters(), expected);
    assert_eq!(
        fresh.trainable_parameters_line(),
        golden["print_trainable_parameters"].as_str().unwrap()
    );
    let dims: WhisperDims = serde_json::from_str(
        &std::fs::read_to_string(fixture("whisper-tiny").join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        whisper_shape(&dims).trainable_with(&config).unwrap(),
        expected
    );
}

/// Which named parameters (checkpoint names) received a gradient.
struct WithGrad<'a> {
    grads: &'a Gradients,
    /// Checkpoint name (or `?` for a linear's parameters) -> got a non-zero gradient.
    named: BTreeMap<String, bool>,
    elements_with_grad: usize,
}

impl ModuleVisitor for WithGrad<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let grad = param.val().grad(self.grads);
        if grad.is_some() {
            self.elements_with_grad += param.shape().num_elements();
        }
        if let Some(name) = param_name(param.id) {
            let nonzero = grad.is_some_and(|g| g.abs().sum().into_scalar::<f64>() > 0.0);
            self.named.insert(name, nonzero);
        }
    }
}

/// With `bias="all"` the norm and conv biases get gradients and their weights do not; in
/// all, exactly the counted trainable parameters get one.
#[test]
fn bias_all_gradients_reach_norm_and_conv_biases_only() {
    let _random = integration_tests::random_stream_lock();
    let device = device().autodiff();
    let config = LoraConfig::from_file(&fixture(WHISPER)).unwrap();
    let model = get_peft_model(whisper(&device), config).unwrap();
    let (features, ids) = whisper_input(&device);
    let logits = model.base_model.forward(features, ids).unwrap();
    let grads = logits.powi_scalar(2).mean().backward();
    let mut seen = WithGrad {
        grads: &grads,
        named: BTreeMap::new(),
        elements_with_grad: 0,
    };
    model.base_model.visit(&mut seen);
    assert_eq!(
        seen.elements_with_grad,
        model.get_nb_trainable_parameters().0
    );
    for name in [
        "model.encoder.conv1.bias",
        "model.encoder.conv2.bias",
        "model.encoder.layers.0.self_attn_layer_norm.bias",
        "model.decoder.layer_norm.bias",
    ] {
        assert_eq!(seen.named.get(name), Some(&true), "{name} trains");
    }
    for name in [
        "model.encoder.conv1.weight",
        "model.encoder.layers.0.self_attn_layer_norm.weight",
        "model.decoder.layer_norm.weight",
    ] {
        assert_eq!(seen.named.get(name), Some(&false), "{name} is frozen");
    }

    // BERT: its LayerNorm biases likewise.
    let config = LoraConfig::from_file(&fixture(BERT)).unwrap();
    let model = get_peft_model(bert("bert-seqcls", &device), config).unwrap();
    let golden = golden(BERT);
    let logits = model
        .base_model
        .logits(&input(&golden["cases"][1], &device))
        .unwrap();
    let grads = logits.powi_scalar(2).sum().backward();
    let mut seen = WithGrad {
        grads: &grads,
        named: BTreeMap::new(),
        elements_with_grad: 0,
    };
    model.base_model.visit(&mut seen);
    assert_eq!(
        seen.elements_with_grad,
        model.get_nb_trainable_parameters().0
    );
    assert_eq!(
        seen.named.get("bert.embeddings.LayerNorm.bias"),
        Some(&true)
    );
    assert_eq!(
        seen.named.get("bert.embeddings.LayerNorm.weight"),
        Some(&false)
    );
}

/// An adapter made here with `bias="all"` saves PEFT's keys for every bias, and reloads.
#[test]
fn new_bias_all_adapter_round_trips() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let config = LoraConfig::from_file(&fixture(BERT)).unwrap();
    let model = get_peft_model(bert("bert-seqcls", &device), config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save_pretrained(dir.path()).unwrap();
    let keys = |path: &Path| -> Vec<String> {
        read_tensors(path.join(WEIGHTS_NAME))
            .into_iter()
            .map(|e| e.0)
            .collect()
    };
    assert_eq!(keys(dir.path()), keys(&fixture(BERT)));
    let reloaded = PeftModel::from_pretrained(bert("bert-seqcls", &device), dir.path()).unwrap();
    let golden = golden(BERT);
    let case = &golden["cases"][0];
    let a = model.base_model.logits(&input(case, &device)).unwrap();
    let b = reloaded.base_model.logits(&input(case, &device)).unwrap();
    let diff = max_abs_diff_of(a, b);
    assert!(diff < 1e-6, "{diff}");
}

/// wav2vec2 (CTC, "group" and "layer" feature-extractor norms): `bias="all"` trains the
/// feature extractor's conv, GroupNorm and LayerNorm biases and the positional conv's, as
/// PEFT counts them (tests/fixtures/peft-w2v-bias-all-params.json).
#[test]
fn wav2vec2_bias_all_counts_as_peft() {
    let _random = integration_tests::random_stream_lock();
    use burn_models::wav2vec2::{Wav2Vec2Config, Wav2Vec2ForCTC};
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("peft-w2v-bias-all-params.json")).unwrap(),
    )
    .unwrap();
    let config = LoraConfig {
        bias: Bias::All,
        ..LoraConfig::new(2, 4.0, &["q_proj", "v_proj"])
    };
    for base in ["w2v-ctc-group", "w2v-ctc-layer"] {
        let model = load_fixture::<Wav2Vec2Config, _>(base, &device(), Wav2Vec2ForCTC::load);
        let model = get_peft_model(model, config.clone()).unwrap();
        // (The total differs: Burn folds the positional conv's weight norm into one weight
        // and does not hold `masked_spec_embed`, a training-only parameter.)
        let (trainable, _) = model.get_nb_trainable_parameters();
        assert_eq!(
            trainable,
            golden[base]["trainable_params"].as_u64().unwrap() as usize,
            "{base}"
        );
    }
}

/// PEFT's counts for a fixture with `bias="all"` (tests/fixtures/peft-vision-bias-all-params.json,
/// from `generate_peft_bias.py vision`): (trainable, all).
fn peft_counts(base: &str) -> (usize, usize) {
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("peft-vision-bias-all-params.json")).unwrap(),
    )
    .unwrap();
    let count = |key: &str| golden[base][key].as_u64().unwrap() as usize;
    (count("trainable_params"), count("all_params"))
}

/// Our (trainable, all) counts of `model` with the LoRA config the counts were made with: r=2,
/// alpha 4 on `targets`, `bias="all"`.
fn bias_all_counts<M: Linears + Module>(model: M, targets: &[&str]) -> (usize, usize) {
    let config = LoraConfig {
        bias: Bias::All,
        ..LoraConfig::new(2, 4.0, targets)
    };
    get_peft_model(model, config)
        .unwrap()
        .get_nb_trainable_parameters()
}

/// bias="all" on vision models, whose biases also sit in convolutions (DETR's input
/// projection and mask head) and GroupNorms: PEFT's trainable counts.
#[test]
fn vision_bias_all_counts_as_peft() {
    let _random = integration_tests::random_stream_lock();
    use burn_models::detr::{DetrConfig, DetrForObjectDetection, DetrForSegmentation};
    use burn_models::vit::{ViTConfig, ViTForImageClassification};
    let device = device();
    let detr = ["q_proj", "v_proj"];
    let model = load_fixture::<DetrConfig, _>("detr-objdet", &device, DetrForObjectDetection::load);
    assert_eq!(
        bias_all_counts(model, &detr).0,
        peft_counts("detr-objdet").0
    );
    let model = load_fixture::<DetrConfig, _>("detr-panoptic", &device, DetrForSegmentation::load);
    assert_eq!(
        bias_all_counts(model, &detr).0,
        peft_counts("detr-panoptic").0
    );
    let model =
        load_fixture::<ViTConfig, _>("vit-imgcls", &device, ViTForImageClassification::load);
    assert_eq!(
        bias_all_counts(model, &["query", "value"]).0,
        peft_counts("vit-imgcls").0
    );
}

/// Encoder-decoders whose output projection is tied to the embeddings: PEFT's trainable and
/// total counts (PyTorch counts the shared tensor once; here the projection is a view of it).
#[test]
fn tied_seq2seq_counts_as_peft() {
    let _random = integration_tests::random_stream_lock();
    use burn_models::bart::{BartConfig, BartForConditionalGeneration};
    use burn_models::t5::{T5Config, T5ForConditionalGeneration};
    let device = device();
    let model =
        load_fixture::<BartConfig, _>("bart-gen", &device, BartForConditionalGeneration::load);
    assert!(model.lm_head.tied);
    assert_eq!(
        bias_all_counts(model, &["q_proj", "v_proj"]),
        peft_counts("bart-gen")
    );
    let model = load_fixture::<T5Config, _>("t5-gen", &device, T5ForConditionalGeneration::load);
    assert_eq!(bias_all_counts(model, &["q", "v"]), peft_counts("t5-gen"));
}
