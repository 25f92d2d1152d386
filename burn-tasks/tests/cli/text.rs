//! The `burn-tasks` command line: HF task names, options, JSON on stdout, clean errors.

use super::common::*;
use serde_json::Value;

#[test]
fn sentiment_analysis_alias_single_and_batched() {
    let single = golden_case("bert-seqcls", 0);
    let out = run(&[
        "sentiment-analysis",
        "--model",
        &fixture("bert-seqcls"),
        single["inputs"].as_str().unwrap(),
    ]);
    assert_json_close("output", &json(&out), &single["output"]);

    let batched = golden_case("bert-seqcls", 3); // list input, top_k=None
    let mut args = vec!["text-classification", "--top-k", "all", "--model"];
    let model = fixture("bert-seqcls");
    args.push(&model);
    let texts: Vec<&str> = batched["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    args.extend(texts);
    assert_json_close("output", &json(&run(&args)), &batched["output"]);
}

#[test]
fn text_pair_option() {
    let case = golden_case("bert-seqcls", 9);
    let out = run(&[
        "text-classification",
        "--model",
        &fixture("bert-seqcls"),
        "--text-pair",
        case["inputs"]["text_pair"].as_str().unwrap(),
        case["inputs"]["text"].as_str().unwrap(),
    ]);
    // `--text-pair` is the keyword argument `text_pair=`: transformers classifies the pair as it
    // does the `{"text", "text_pair"}` dict of the golden case, but a string input keeps its
    // list (`classifier("a", text_pair="b")` returns `[{label, score}]`).
    assert_json_close("output", &json(&out), &serde_json::json!([case["output"]]));
}

#[test]
fn errors_are_messages_not_panics() {
    for args in [
        vec!["text-classification", "--model", "./no/such/dir", "hello"],
        vec![
            "text-classification",
            "--model",
            &fixture("bert-seqcls"),
            "--function-to-apply",
            "cubic",
            "hi",
        ],
        vec![
            "text-classification",
            "--model",
            &fixture("bert-seqcls"),
            "",
        ],
        vec![
            "text-classification",
            "--model",
            &fixture("bert-seqcls"),
            "--device",
            "quantum",
            "hi",
        ],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = run(&["no-such-task", "hi"]);
    assert!(!out.status.success());
}

#[test]
fn ner_alias_with_aggregation_strategy() {
    let case = golden_case("bert-tokcls", 5);
    let out = run(&[
        "ner",
        "--model",
        &fixture("bert-tokcls"),
        "--aggregation-strategy",
        "simple",
        case["inputs"].as_str().unwrap(),
    ]);
    assert_json_close("output", &json(&out), &case["output"]);

    let case = golden_case("bert-tokcls", 3); // ignore_labels=[]
    let out = run(&[
        "token-classification",
        "--model",
        &fixture("bert-tokcls"),
        "--ignore-labels",
        "",
        case["inputs"].as_str().unwrap(),
    ]);
    assert_json_close("output", &json(&out), &case["output"]);
}

#[test]
fn question_answering_options() {
    let case = golden_case("bert-qa", 3); // max_seq_len 48, doc_stride 16, top_k 3
    let out = run(&[
        "question-answering",
        "--model",
        &fixture("bert-qa"),
        "--question",
        case["inputs"]["question"].as_str().unwrap(),
        "--context",
        case["inputs"]["context"].as_str().unwrap(),
        "--max-seq-len",
        "48",
        "--doc-stride",
        "16",
        "--top-k",
        "3",
    ]);
    assert_json_close("output", &json(&out), &case["output"]);

    let case = golden_case("bert-qa", 5); // handle_impossible_answer
    let out = run(&[
        "question-answering",
        "--model",
        &fixture("bert-qa"),
        "--handle-impossible-answer",
        "--question",
        case["inputs"]["question"].as_str().unwrap(),
        "--context",
        case["inputs"]["context"].as_str().unwrap(),
    ]);
    assert_json_close("output", &json(&out), &case["output"]);

    let out = run(&[
        "question-answering",
        "--model",
        &fixture("bert-qa"),
        "--question",
        "who?",
        "--context",
        "",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
}

/// `--adapter`: a PEFT LoRA adapter on top of `--model`, against transformers' pipeline on
/// the PEFT model (tests/fixtures/generate_peft.py).
#[test]
fn adapter_option_matches_peft_pipeline() {
    for (base, adapter) in [
        ("bert-seqcls", "peft-bert-seqcls"),
        ("distilbert-seqcls", "peft-distilbert-seqcls"),
        // bias="all": the LayerNorm biases come from the adapter too.
        ("bert-seqcls", "peft-bert-bias-all"),
    ] {
        let single = golden_case(adapter, 0);
        let (model, adapter_dir) = (fixture(base), fixture(adapter));
        let out = run(&[
            "text-classification",
            "--model",
            &model,
            "--adapter",
            &adapter_dir,
            single["inputs"].as_str().unwrap(),
        ]);
        assert_json_close("output", &json(&out), &single["output"]);

        let batched = golden_case(adapter, 3); // list input, top_k=None
        let mut args = vec![
            "text-classification",
            "--top-k",
            "all",
            "--model",
            &model,
            "--adapter",
            &adapter_dir,
        ];
        args.extend(
            batched["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap()),
        );
        assert_json_close("output", &json(&run(&args)), &batched["output"]);
    }
    // An adapter made for another base model is a clear error.
    let out = run(&[
        "text-classification",
        "--model",
        &fixture("bert-seqcls"),
        "--adapter",
        &fixture("peft-distilbert-seqcls"),
        "hello",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("classifier") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// Every boolean option takes `--flag` alone, `--flag true` and `--flag false`, on every task,
/// and the three forms are the keyword argument `true`/`false`.
#[test]
fn boolean_flags_take_a_value_or_none() {
    let model = fixture("bert-qa");
    let qa = |flag: &[&str]| {
        let mut args = vec!["question-answering", "--model", &model];
        args.extend_from_slice(flag);
        args.extend([
            "--question",
            "Who lives in Paris?",
            "--context",
            "John lives in Paris.",
        ]);
        json(&run(&args))
    };
    let alone = qa(&["--handle-impossible-answer"]);
    assert_eq!(alone, qa(&["--handle-impossible-answer", "true"]));
    assert_eq!(qa(&[]), qa(&["--handle-impossible-answer", "false"]));
    // The flag alone before a positional input does not take the input as its value.
    let model = fixture("bert-seqcls");
    let classify = |flag: &[&str]| {
        let mut args = vec!["text-classification", "--model", &model];
        args.extend_from_slice(flag);
        args.push("the food was great");
        json(&run(&args))
    };
    assert_eq!(
        classify(&["--truncation"]),
        classify(&["--truncation", "true"])
    );
    assert_eq!(classify(&[]), classify(&["--truncation", "false"]));
    let error = assert_clean_error(&[
        "text-classification",
        "--model",
        &model,
        "--truncation=maybe",
        "hello",
    ]);
    assert!(error.contains("truncation"), "{error}");
}

/// `--quantize int8` runs the model's linear layers in dynamic int8: transformers' f32 label,
/// a score within the int8 tolerance of `tests/pipelines/quantize.rs` (0.1) but not the f32
/// one (so the flag was not ignored); an unknown quantization is a clear error.
#[test]
fn quantize_int8() {
    let case = golden_case("bert-seqcls", 0);
    let model = fixture("bert-seqcls");
    let text = case["inputs"].as_str().unwrap();
    let out = json(&run(&[
        "text-classification",
        "--model",
        &model,
        "--quantize",
        "int8",
        text,
    ]));
    // One text gives `[{label, score}]`.
    let first = |v: &Value| {
        if v.is_array() {
            v[0].clone()
        } else {
            v.clone()
        }
    };
    let (ours, expected) = (first(&out), first(&case["output"]));
    assert_eq!(ours["label"], expected["label"], "{out}");
    let diff = element_diff_f64(
        ours["score"].as_f64().unwrap(),
        expected["score"].as_f64().unwrap(),
    );
    assert!(
        diff <= 0.1 && diff > 1e-6,
        "int8 score {out} against {expected}"
    );
    let error = assert_clean_error(&[
        "text-classification",
        "--model",
        &model,
        "--quantize",
        "int4",
        text,
    ]);
    assert!(error.contains("int4") && error.contains("int8"), "{error}");
}
