//! Tokenization against the fast tokenizers of transformers: ids, tokens, char offsets, words.

use burn_models::hub::ModelDir;
use burn_tasks::processors::TextTokenizer;
use integration_tests::*;
use serde_json::Value;

fn check(name: &str, tokenizer: &TextTokenizer) {
    let golden = golden(name);
    let cases = golden["tokenizer"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let encoding = tokenizer.encode(text, None).unwrap();
        let what = format!("{name} {text:?}");
        let ids: Vec<u64> = encoding.get_ids().iter().map(|&i| i as u64).collect();
        let expected: Vec<u64> = case["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(ids, expected, "{what}: ids");
        let tokens: Vec<Value> = encoding
            .get_tokens()
            .iter()
            .map(|t| Value::from(t.as_str()))
            .collect();
        assert_eq!(Value::from(tokens), case["tokens"], "{what}: tokens");
        let offsets: Vec<Value> = encoding
            .get_offsets()
            .iter()
            .map(|&(a, b)| Value::from(vec![a, b]))
            .collect();
        assert_eq!(
            Value::from(offsets),
            case["offset_mapping"],
            "{what}: offsets"
        );
        let words: Vec<Value> = encoding
            .get_word_ids()
            .iter()
            .map(|w| w.map_or(Value::Null, Value::from))
            .collect();
        assert_eq!(Value::from(words), case["word_ids"], "{what}: word ids");
    }
}

#[test]
fn fast_tokenizers_match_transformers() {
    for name in ["bert-seqcls", "bert-tokcls", "distilbert-qa"] {
        let tokenizer =
            TextTokenizer::from_model_dir(&ModelDir::local(&fixture(name)).unwrap()).unwrap();
        check(name, &tokenizer);
    }
}

/// Older BERT repositories ship only `vocab.txt` + `tokenizer_config.json`.
#[test]
fn wordpiece_from_vocab_txt_matches_tokenizer_json() {
    for name in ["bert-seqcls", "bert-tokcls"] {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "config.json",
            "vocab.txt",
            "tokenizer_config.json",
            "special_tokens_map.json",
        ] {
            std::fs::copy(fixture(name).join(file), dir.path().join(file)).unwrap();
        }
        let tokenizer =
            TextTokenizer::from_model_dir(&ModelDir::local(dir.path()).unwrap()).unwrap();
        check(name, &tokenizer);
    }
}
