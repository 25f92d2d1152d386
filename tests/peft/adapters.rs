//! LoRA against goldens made by Python PEFT (tests/fixtures/generate_peft.py): loading,
//! merging, disabling, saving, and PEFT's parameter counts.

use super::common::*;
use burn::module::Module;
use burn_models::heads::SequenceClassifier;
use burn_peft::*;
use serde_json::Value;

/// f32 logits must match PEFT within this absolute tolerance.
const TOLERANCE: f32 = 1e-4;

/// Runs every golden case through `model`, comparing with `golden[case][key]`.
fn check<M: SequenceClassifier>(what: &str, model: &M, golden: &Value, key: &str) {
    let device = device();
    for case in golden["cases"].as_array().unwrap() {
        let logits = model.logits(&input(case, &device)).unwrap();
        assert_close(
            &format!("{what}/{}/{key}", case["name"]),
            logits,
            &case[key],
            TOLERANCE,
        );
    }
}

/// Loads the PEFT-made adapter and checks it on, disabled, merged, unmerged, unloaded.
fn check_adapter<M: SequenceClassifier + Module>(name: &str, base: M) {
    let golden = golden(name);
    let mut model = PeftModel::from_pretrained(base, &fixture(name)).unwrap();
    check(name, &model.base_model, &golden, "adapter");
    model.disable_adapters();
    check(name, &model.base_model, &golden, "disabled");
    model.enable_adapters();
    check(name, &model.base_model, &golden, "adapter");
    model.merge_adapter();
    check(name, &model.base_model, &golden, "merged");
    model.unmerge_adapter();
    check(name, &model.base_model, &golden, "adapter");
    let merged = model.merge_and_unload();
    check(name, &merged, &golden, "merged");
    let mut lora_layers = 0;
    merged.visit_linears(&mut |l| lora_layers += l.adapters.len() + l.saved.len());
    assert_eq!(lora_layers, 0, "merge_and_unload leaves no adapters");
}

#[test]
fn bert_adapter_from_peft() {
    let _random = integration_tests::random_stream_lock();
    check_adapter("peft-bert-seqcls", bert("bert-seqcls", &device()));
}

#[test]
fn distilbert_adapter_from_peft_regex_rslora_bias() {
    let _random = integration_tests::random_stream_lock();
    check_adapter(
        "peft-distilbert-seqcls",
        distilbert("distilbert-seqcls", &device()),
    );
}

#[test]
fn adapter_config_written_as_peft_writes_it() {
    let _random = integration_tests::random_stream_lock();
    for name in ["peft-bert-seqcls", "peft-distilbert-seqcls"] {
        let path = fixture(name).join("adapter_config.json");
        let config = LoraConfig::from_file(&path).unwrap();
        assert_eq!(
            config.to_json(),
            std::fs::read_to_string(&path).unwrap(),
            "{name}"
        );
    }
    let bert = LoraConfig::from_file(&fixture("peft-bert-seqcls")).unwrap();
    assert_eq!(bert.r, 4);
    assert_eq!(bert.lora_alpha, 8.0);
    assert_eq!(bert.bias, Bias::None);
    assert_eq!(
        bert.target_modules,
        Some(TargetModules::Names(vec!["query".into(), "value".into()]))
    );
    let distil = LoraConfig::from_file(&fixture("peft-distilbert-seqcls")).unwrap();
    assert!(distil.use_rslora);
    assert_eq!(distil.bias, Bias::LoraOnly);
    assert!(
        distil
            .targets("distilbert.transformer.layer.1.ffn.lin1")
            .unwrap()
    );
    assert!(
        !distil
            .targets("distilbert.transformer.layer.1.ffn.lin2")
            .unwrap()
    );
    assert!(
        !distil
            .targets("distilbert.transformer.layer.1.attention.k_lin")
            .unwrap()
    );
}

#[test]
fn new_config_has_peft_defaults_and_fields() {
    let _random = integration_tests::random_stream_lock();
    let config = LoraConfig::default();
    assert_eq!(
        (config.r, config.lora_alpha, config.lora_dropout),
        (8, 8.0, 0.0)
    );
    assert_eq!(config.bias, Bias::None);
    assert_eq!(config.init_lora_weights, InitLoraWeights::Bool(true));
    assert!(!config.use_rslora && !config.fan_in_fan_out);
    // Every key PEFT writes, nothing more: compare the key set with PEFT's own file.
    let ours: Value = serde_json::from_str(&LoraConfig::new(4, 8.0, &["query"]).to_json()).unwrap();
    let peft: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("peft-bert-seqcls").join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&peft));
}

#[test]
fn bad_configs_are_errors() {
    let _random = integration_tests::random_stream_lock();
    let mut config = LoraConfig::new(4, 8.0, &["query"]);
    config.use_dora = true;
    assert!(matches!(config.validate(), Err(PeftError::Unsupported(_))));
    let config = LoraConfig {
        target_modules: Some(TargetModules::Regex("(?<=x)query".into())),
        ..LoraConfig::default()
    };
    assert!(config.validate().is_err(), "look-behind is not supported");
    let no_match = LoraConfig::new(4, 8.0, &["q_proj"]);
    let err = get_peft_model(bert("bert-seqcls", &device()), no_match).unwrap_err();
    assert!(err.to_string().contains("matched no linear layer"), "{err}");
    // An adapter for another architecture: its saved classifier has another shape here.
    let err = PeftModel::from_pretrained(
        bert("bert-seqcls", &device()),
        &fixture("peft-distilbert-seqcls"),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("base_model.model.classifier.weight"),
        "{err}"
    );
    // Without the classifier, its LoRA tensors match no layer of BERT.
    let dir = tempfile::tempdir().unwrap();
    let mut config = LoraConfig::from_file(&fixture("peft-distilbert-seqcls")).unwrap();
    config.modules_to_save = None;
    config.save(dir.path()).unwrap();
    std::fs::copy(
        fixture("peft-distilbert-seqcls").join(WEIGHTS_NAME),
        dir.path().join(WEIGHTS_NAME),
    )
    .unwrap();
    let err = PeftModel::from_pretrained(bert("bert-seqcls", &device()), dir.path()).unwrap_err();
    assert!(err.to_string().contains("match"), "{err}");
    let err = PeftModel::from_pretrained(bert("bert-seqcls", &device()), &fixture("bert-seqcls"))
        .unwrap_err();
    assert!(matches!(err, PeftError::Io { .. }), "{err}");
}

#[test]
fn trainable_parameters_as_peft_counts_them() {
    let _random = integration_tests::random_stream_lock();
    for (name, base) in [
        ("peft-bert-seqcls", true),
        ("peft-distilbert-seqcls", false),
    ] {
        let golden = golden(name);
        let config = LoraConfig::from_file(&fixture(name)).unwrap();
        let line = if base {
            get_peft_model(bert("bert-seqcls", &device()), config)
                .unwrap()
                .trainable_parameters_line()
        } else {
            get_peft_model(distilbert("distilbert-seqcls", &device()), config)
                .unwrap()
                .trainable_parameters_line()
        };
        assert_eq!(line, golden["print_trainable_parameters"].as_str().unwrap());
    }
}

/// whisper-large-v2's config.json (the fields that size parameters).
const WHISPER_LARGE_V2: &str = r#"{
  "_name_or_path": "openai/whisper-large-v2",
  "activation_function": "gelu",
  "architectures": ["WhisperForConditionalGeneration"],
  "d_model": 1280,
  "decoder_attention_heads": 20,
  "decoder_ffn_dim": 5120,
  "decoder_layers": 32,
  "encoder_attention_heads": 20,
  "encoder_ffn_dim": 5120,
  "encoder_layers": 32,
  "max_source_positions": 1500,
  "max_target_positions": 448,
  "model_type": "whisper",
  "num_mel_bins": 80,
  "scale_embedding": false,
  "vocab_size": 51865
}"#;

#[test]
fn whisper_large_v2_trainable_parameters_from_config() {
    let _random = integration_tests::random_stream_lock();
    let dims: WhisperDims = serde_json::from_str(WHISPER_LARGE_V2).unwrap();
    let shape = whisper_shape(&dims);
    let config = LoraConfig {
        lora_dropout: 0.05,
        ..LoraConfig::new(4, 64.0, &["q_proj", "v_proj"])
    };
    let (trainable, all) = shape.trainable_with(&config).unwrap();
    // PEFT 0.21 on WhisperForConditionalGeneration(config) built on the meta device
    // (tests/fixtures/peft-whisper-params.json).
    assert_eq!(trainable, 1_966_080);
    assert_eq!(all, 1_545_271_040);
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("peft-whisper-params.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        shape.trainable_parameters_line(&config).unwrap(),
        golden["print_trainable_parameters"].as_str().unwrap()
    );
    assert_eq!(thousands(1_966_080), "1,966,080");
    assert_eq!(thousands(999), "999");
}

#[test]
fn saved_adapter_round_trips() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let name = "peft-bert-seqcls";
    let golden = golden(name);
    let model = PeftModel::from_pretrained(bert("bert-seqcls", &device), &fixture(name)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save_pretrained(dir.path()).unwrap();
    // The config file is byte-identical; the tensors are the same keys and values.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap(),
        std::fs::read_to_string(fixture(name).join("adapter_config.json")).unwrap()
    );
    assert_eq!(
        read_tensors(dir.path().join(WEIGHTS_NAME)),
        read_tensors(fixture(name).join(WEIGHTS_NAME))
    );
    let reloaded = PeftModel::from_pretrained(bert("bert-seqcls", &device), dir.path()).unwrap();
    check(name, &reloaded.base_model, &golden, "adapter");
}

/// A new adapter trained (here: set) on the Rust side, saved for Python PEFT to load:
/// with PEFT_CHECK_DIR set, writes the adapter, the base fixture name and our logits there
/// for `python tests/fixtures/generate_peft.py --check $PEFT_CHECK_DIR`.
#[test]
fn new_adapter_saves_and_reloads() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let config = LoraConfig {
        modules_to_save: Some(vec!["classifier".into()]),
        init_lora_weights: InitLoraWeights::Bool(false), // non-zero B
        ..LoraConfig::new(2, 4.0, &["query", "key", "dense"])
    };
    let model = get_peft_model(bert("bert-seqcls", &device), config).unwrap();
    let golden = golden("peft-bert-seqcls");
    let case = &golden["cases"][1];
    let logits = model.base_model.logits(&input(case, &device)).unwrap();
    let dir = match std::env::var("PEFT_CHECK_DIR") {
        Ok(dir) => {
            std::fs::create_dir_all(&dir).unwrap();
            std::path::PathBuf::from(dir)
        }
        Err(_) => tempfile::tempdir().unwrap().keep(),
    };
    model.save_pretrained(&dir).unwrap();
    let reloaded = PeftModel::from_pretrained(bert("bert-seqcls", &device), &dir).unwrap();
    let again = reloaded.base_model.logits(&input(case, &device)).unwrap();
    let (shape, data) = values(logits);
    let expected = serde_json::json!({"shape": shape, "data": data});
    // A few ulp (logits near 10 have an ulp of 1e-6): the reloaded model may sum in another order.
    assert_close("reloaded", again, &expected, 1e-5);
    // The base model without the adapter differs (B is not zero).
    assert!(
        max_diff(
            bert("bert-seqcls", &device)
                .logits(&input(case, &device))
                .unwrap(),
            &expected
        ) > 1e-3
    );
    std::fs::write(dir.join("base.txt"), "bert-seqcls").unwrap();
    let check = serde_json::json!({
        "input_ids": case["input_ids"],
        "attention_mask": case["attention_mask"],
        "token_type_ids": case["token_type_ids"],
        "logits": expected,
    });
    std::fs::write(dir.join("rust_logits.json"), check.to_string()).unwrap();
}

#[test]
fn several_named_adapters_one_active() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let golden_bert = golden("peft-bert-seqcls");
    let mut model =
        PeftModel::from_pretrained(bert("bert-seqcls", &device), &fixture("peft-bert-seqcls"))
            .unwrap();
    // A second adapter starting as the identity (B = 0): with it active the model is the
    // base model, except the classifier copy it saved (equal to the original).
    let config = LoraConfig::new(2, 4.0, &["query", "value"]);
    model.add_adapter("second", config).unwrap();
    assert_eq!(model.adapter_names(), ["default", "second"]);
    assert_eq!(model.active_adapter(), "default");
    check("default", &model.base_model, &golden_bert, "adapter");
    model.set_adapter("second").unwrap();
    check("second", &model.base_model, &golden_bert, "disabled");
    model.set_adapter("default").unwrap();
    check("default again", &model.base_model, &golden_bert, "adapter");
    assert!(model.set_adapter("third").is_err());
    assert!(
        model
            .add_adapter("second", LoraConfig::new(2, 4.0, &["query"]))
            .is_err()
    );
}

/// PEFT's default init: B = 0 (the adapted model equals the base model), A Kaiming-uniform,
/// U(-1/sqrt(in), 1/sqrt(in)); `"gaussian"`: A ~ N(0, 1/r).
#[test]
fn default_init_is_identity_with_kaiming_uniform_a() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let golden = golden("peft-bert-seqcls");
    let model = get_peft_model(
        bert("bert-seqcls", &device),
        LoraConfig::new(4, 8.0, &["query", "value"]),
    )
    .unwrap();
    check("fresh adapter", &model.base_model, &golden, "disabled");
    let query = &model.base_model.bert.encoder.layers[0].attention.query;
    let adapter = &query.adapters[0];
    assert_eq!((adapter.rank(), adapter.scaling), (4, 2.0));
    let (_, a) = values(adapter.a.val());
    let (_, b) = values(adapter.b.val());
    let bound = 1.0 / (32f32).sqrt();
    assert!(a.iter().all(|v| v.abs() <= bound) && a.iter().any(|v| v.abs() > bound / 2.0));
    assert!(b.iter().all(|v| *v == 0.0));
    let rs = LoraConfig {
        use_rslora: true,
        ..LoraConfig::new(4, 8.0, &["query"])
    };
    assert_eq!(rs.scaling(4, 8.0), 4.0, "rsLoRA: alpha / sqrt(r)");
}
