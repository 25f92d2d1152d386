//! Seq2seq models and generation against transformers: logits of a teacher-forced forward,
//! `model.generate(...)` token ids for greedy and beam search under many options, and the
//! cached decoder against the uncached one.

use burn::tensor::{Int, Tensor, TensorData};
use burn_models::bart::{BartConfig, BartForConditionalGeneration};
use burn_models::generation::{GenerationConfig, decoder_start_prompt, generate};
use burn_models::hub::Weights;
use integration_tests::*;
use serde_json::Value;

fn ids_tensor(rows: &[Vec<i64>]) -> Tensor<2, Int> {
    let (b, s) = (rows.len(), rows[0].len());
    Tensor::from_data(
        TensorData::new(rows.iter().flatten().copied().collect::<Vec<_>>(), [b, s]),
        &device(),
    )
}

fn load_marian(name: &str) -> BartForConditionalGeneration {
    let dir = fixture(name);
    let config = burn_models::config::read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    burn_models::marian::load(&weights.root(&device()), &config).unwrap()
}

fn load_bart(name: &str) -> BartForConditionalGeneration {
    let dir = fixture(name);
    let config: BartConfig = burn_models::config::read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    BartForConditionalGeneration::load(&weights.root(&device()), &config).unwrap()
}

fn u32_rows(v: &Value) -> Vec<Vec<u32>> {
    int_rows(v)
        .into_iter()
        .map(|r| r.into_iter().map(|x| x as u32).collect())
        .collect()
}

#[test]
fn bart_logits_match_transformers() {
    check_logits(&load_bart("bart-gen"), "bart-gen");
}

#[test]
fn marian_logits_match_transformers() {
    check_logits(&load_marian("marian-gen"), "marian-gen");
}

fn check_logits(model: &BartForConditionalGeneration, name: &str) {
    for case in golden(name)["model"].as_array().unwrap() {
        let logits = model
            .forward(
                ids_tensor(&int_rows(&case["input_ids"])),
                Some(ids_tensor(&int_rows(&case["attention_mask"]))),
                ids_tensor(&int_rows(&case["decoder_input_ids"])),
            )
            .unwrap();
        let (shape, data) = to_vec(logits);
        assert_close(&format!("{name} logits"), &shape, &data, &case["logits"]);
    }
}

/// Runs every `generate` golden of a fixture through `run`, which returns the sequences.
fn check_generate(
    name: &str,
    run: impl Fn(&[Vec<i64>], &[Vec<i64>], &GenerationConfig) -> Vec<Vec<u32>>,
    use_cache: bool,
) {
    let base = GenerationConfig::from_model_dir(&fixture(name)).unwrap();
    for case in golden(name)["generate"].as_array().unwrap() {
        let mut config = base.clone();
        config.update(case["kwargs"].as_object().unwrap()).unwrap();
        config.use_cache = use_cache;
        let ids = int_rows(&case["input_ids"]);
        let mask = int_rows(&case["attention_mask"]);
        let ours = run(&ids, &mask, &config);
        assert_eq!(
            ours,
            u32_rows(&case["sequences"]),
            "{name}/{} (use_cache={use_cache})",
            case["name"]
        );
    }
}

/// `(input_ids, attention_mask, config) -> sequences`.
type GenerateFn<'a> =
    Box<dyn Fn(&[Vec<i64>], &[Vec<i64>], &GenerationConfig) -> Vec<Vec<u32>> + 'a>;

fn bart_generate(model: &BartForConditionalGeneration) -> GenerateFn<'_> {
    Box::new(move |ids, mask, config| {
        let mask = ids_tensor(mask);
        let hidden = model.encode(ids_tensor(ids), Some(&mask)).unwrap();
        let prompt = decoder_start_prompt(config, ids.len()).unwrap();
        generate(model, hidden, Some(mask), &prompt, config).unwrap()
    })
}

#[test]
fn bart_generate_matches_transformers() {
    let model = load_bart("bart-gen");
    check_generate("bart-gen", bart_generate(&model), true);
}

#[test]
fn bart_uncached_decoding_gives_the_same_tokens() {
    let model = load_bart("bart-gen");
    check_generate("bart-gen", bart_generate(&model), false);
}

fn check_text2text_pipelines(fixture_name: &str, tasks: &[&str]) {
    for task in tasks {
        check_pipeline_goldens(
            &[fixture_name],
            &[task],
            |name| {
                burn_tasks::pipeline(task)
                    .unwrap()
                    .model(fixture(name).to_string_lossy())
                    .device(device())
                    .build()
                    .unwrap()
            },
            |pipe, case| {
                pipe.call(&case["inputs"], &case["kwargs"])
                    .map_err(|e| e.to_string())
            },
        );
    }
}

#[test]
fn bart_summarization_and_text2text_pipelines_match_transformers() {
    check_text2text_pipelines("bart-gen", &["summarization", "text2text-generation"]);
}

#[test]
fn marian_generate_matches_transformers() {
    let model = load_marian("marian-gen");
    check_generate("marian-gen", bart_generate(&model), true);
    check_generate("marian-gen", bart_generate(&model), false);
}

#[test]
fn marian_tokenizer_matches_transformers() {
    let tok = burn_tasks::processors::MarianTokenizer::from_dir(&fixture("marian-gen")).unwrap();
    let golden = golden("marian-gen");
    for case in golden["tokenizer"].as_array().unwrap() {
        let ids: Vec<u32> = case["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            tok.encode(case["text"].as_str().unwrap()).unwrap(),
            ids,
            "{}",
            case["text"]
        );
    }
    for case in golden["decode"].as_array().unwrap() {
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            tok.decode(&ids, true).unwrap(),
            case["text"].as_str().unwrap()
        );
    }
}

#[test]
fn marian_translation_pipeline_matches_transformers() {
    check_text2text_pipelines("marian-gen", &["translation_en_to_de"]);
}

#[test]
fn seq2seq_bad_inputs_are_errors() {
    let pipe = burn_tasks::pipeline("summarization")
        .unwrap()
        .model(fixture("bart-gen").to_string_lossy())
        .device(device())
        .build()
        .unwrap();
    let err = pipe
        .call(
            &serde_json::json!("a text"),
            &serde_json::json!({"num_beams": 0}),
        )
        .unwrap_err();
    assert!(err.to_string().contains("num_beams"), "{err}");
    assert!(
        pipe.call(
            &serde_json::json!("a text"),
            &serde_json::json!({"no_such_option": 1})
        )
        .is_err()
    );
    // An input longer than the model's 128 positions is truncated with a warning, not a panic.
    let long = "the food was great and the staff were amazing. ".repeat(40);
    let out = pipe
        .call(
            &serde_json::json!(long),
            &serde_json::json!({"max_new_tokens": 4}),
        )
        .unwrap();
    assert!(out[0]["summary_text"].is_string());
    assert!(
        pipe.call(
            &serde_json::json!(long),
            &serde_json::json!({"truncation": false, "max_new_tokens": 4})
        )
        .is_err()
    );
}

fn load_t5(name: &str) -> burn_models::t5::T5ForConditionalGeneration {
    let dir = fixture(name);
    let config = burn_models::config::read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    burn_models::t5::T5ForConditionalGeneration::load(&weights.root(&device()), &config).unwrap()
}

#[test]
fn t5_logits_match_transformers() {
    for name in ["t5-gen", "t5-v11-gen"] {
        let model = load_t5(name);
        for case in golden(name)["model"].as_array().unwrap() {
            let logits = model
                .forward(
                    ids_tensor(&int_rows(&case["input_ids"])),
                    Some(ids_tensor(&int_rows(&case["attention_mask"]))),
                    ids_tensor(&int_rows(&case["decoder_input_ids"])),
                )
                .unwrap();
            let (shape, data) = to_vec(logits);
            assert_close(&format!("{name} logits"), &shape, &data, &case["logits"]);
        }
    }
}

#[test]
fn t5_generate_matches_transformers_with_and_without_cache() {
    for name in ["t5-gen", "t5-v11-gen"] {
        let model = load_t5(name);
        for use_cache in [true, false] {
            check_generate(
                name,
                |ids, mask, config| {
                    let mask = ids_tensor(mask);
                    let hidden = model.encode(ids_tensor(ids), Some(&mask)).unwrap();
                    let prompt = decoder_start_prompt(config, ids.len()).unwrap();
                    generate(&model, hidden, Some(mask), &prompt, config).unwrap()
                },
                use_cache,
            );
        }
    }
}

#[test]
fn t5_pipelines_with_task_prefixes_match_transformers() {
    check_text2text_pipelines(
        "t5-gen",
        &[
            "summarization",
            "translation_en_to_de",
            "translation_en_to_fr",
            "text2text-generation",
        ],
    );
}

/// A model's own processor (Whisper's timestamp rules go this way) runs on every step.
#[test]
fn custom_logits_processor_is_applied() {
    struct Ban(u32);
    impl burn_models::generation::LogitsProcessor for Ban {
        fn process(&self, _input_ids: &[u32], scores: &mut [f32]) {
            scores[self.0 as usize] = f32::NEG_INFINITY;
        }
    }
    let model = load_bart("bart-gen");
    let case = &golden("bart-gen")["generate"][0];
    let mut config = GenerationConfig::from_model_dir(&fixture("bart-gen")).unwrap();
    config.update(case["kwargs"].as_object().unwrap()).unwrap();
    let expected = u32_rows(&case["sequences"]);
    let banned = expected[0][2];
    let mask = ids_tensor(&int_rows(&case["attention_mask"]));
    let hidden = model
        .encode(ids_tensor(&int_rows(&case["input_ids"])), Some(&mask))
        .unwrap();
    let prompt = decoder_start_prompt(&config, 1).unwrap();
    let out = burn_models::generation::generate_with(
        &model,
        hidden,
        Some(mask),
        &prompt,
        &config,
        &[&Ban(banned)],
    )
    .unwrap();
    assert!(!out[0].contains(&banned), "{out:?}");
    assert_ne!(out, expected);
}
