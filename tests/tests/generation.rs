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
    let model = load_bart("bart-gen");
    for case in golden("bart-gen")["model"].as_array().unwrap() {
        let logits = model
            .forward(
                ids_tensor(&int_rows(&case["input_ids"])),
                Some(ids_tensor(&int_rows(&case["attention_mask"]))),
                ids_tensor(&int_rows(&case["decoder_input_ids"])),
            )
            .unwrap();
        let (shape, data) = to_vec(logits);
        assert_close("bart logits", &shape, &data, &case["logits"]);
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
        config
            .update(case["kwargs"].as_object().unwrap())
            .unwrap();
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

fn bart_generate(
    model: &BartForConditionalGeneration,
) -> impl Fn(&[Vec<i64>], &[Vec<i64>], &GenerationConfig) -> Vec<Vec<u32>> + '_ {
    move |ids, mask, config| {
        let mask = ids_tensor(mask);
        let hidden = model.encode(ids_tensor(ids), Some(&mask)).unwrap();
        let prompt = decoder_start_prompt(config, ids.len()).unwrap();
        generate(model, hidden, Some(mask), &prompt, config).unwrap()
    }
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
