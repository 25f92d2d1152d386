//! Fine-tuning: datasets in the hub's formats, SQuAD features and metrics, training that
//! learns, resume, and the saved model in the Hugging Face layout.
//!
//! Data: tests/fixtures/train-data (written by tests/fixtures/generate_train.py).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn_models::auto;
use burn_models::hub::ModelDir;
use burn_tasks::error::TaskError;
use burn_tasks::processors::TextTokenizer;
use burn_tasks::train::data::{
    ClassificationColumns, ClassificationExample, QaExample, load_split, read_records, split_files,
};
use burn_tasks::train::features::{QaWindows, Tokens, qa_eval_features, qa_train_features};
use burn_tasks::train::metrics::{
    PostprocessOptions, postprocess_qa_predictions, squad_v1, squad_v2,
};
use burn_tasks::train::models::{load_classifier, load_question_answering};
use burn_tasks::train::trainer::latest_checkpoint;
use burn_tasks::train::{
    QuestionAnsweringRecipe, TextClassificationRecipe, TrainingArguments, run_question_answering,
    run_text_classification,
};
use integration_tests::{device, fixture, manifest_dir};
use serde_json::{Value, json};

fn data(name: &str) -> PathBuf {
    fixture("train-data").join(name)
}

fn data_str(name: &str) -> String {
    data(name).to_string_lossy().into_owned()
}

fn yelp_examples(records: &[serde_json::Map<String, Value>]) -> Vec<ClassificationExample> {
    records
        .iter()
        .map(|r| {
            ClassificationExample::from_record(r, &ClassificationColumns::default(), 5).unwrap()
        })
        .collect()
}

#[test]
fn parquet_jsonl_and_csv_read_the_same_rows() {
    let _random = integration_tests::random_stream_lock();
    let parquet = yelp_examples(&load_split(&data_str("yelp"), "train").unwrap());
    let jsonl = yelp_examples(&read_records(&data("yelp.jsonl")).unwrap());
    let csv = yelp_examples(&read_records(&data("yelp.csv")).unwrap());
    assert_eq!(parquet.len(), 64);
    assert_eq!(parquet, jsonl);
    assert_eq!(parquet, csv);
    assert_eq!(load_split(&data_str("yelp"), "test").unwrap().len(), 32);
}

#[test]
fn squad_parquet_and_original_json_agree() {
    let _random = integration_tests::random_stream_lock();
    let files = split_files(&data_str("squad"), "validation").unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with("validation-00000-of-00001.parquet"));
    let parquet: Vec<QaExample> = load_split(&data_str("squad"), "validation")
        .unwrap()
        .iter()
        .map(|r| QaExample::from_record(r).unwrap())
        .collect();
    let original: Vec<QaExample> = read_records(&data("squad-original.json"))
        .unwrap()
        .iter()
        .map(|r| QaExample::from_record(r).unwrap())
        .collect();
    assert_eq!(parquet.len(), 24);
    assert_eq!(parquet, original);
    // Multiple reference answers, character offsets into the context.
    let first = &parquet[0];
    assert!(first.answers.text.len() >= 2);
    for (text, &start) in first.answers.text.iter().zip(&first.answers.answer_start) {
        let found: String = first
            .context
            .chars()
            .skip(start)
            .take(text.chars().count())
            .collect();
        assert_eq!(&found, text);
    }
    let v2: Vec<QaExample> = load_split(&data_str("squad_v2"), "train")
        .unwrap()
        .iter()
        .map(|r| QaExample::from_record(r).unwrap())
        .collect();
    assert!(v2.iter().any(|e| e.answers.text.is_empty()));
}

#[test]
fn bad_datasets_are_clear_errors() {
    let _random = integration_tests::random_stream_lock();
    let dir = tempfile::tempdir().unwrap();
    let err = |path: &Path| read_records(path).unwrap_err().to_string();
    let unknown = dir.path().join("data.xml");
    std::fs::write(&unknown, "<x/>").unwrap();
    assert!(
        err(&unknown).contains("unknown format"),
        "{}",
        err(&unknown)
    );
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"text\": \"a\", \"label\": 1}\n{oops\n").unwrap();
    assert!(err(&broken).contains("line 2"), "{}", err(&broken));
    // A malformed dataset is a dataset error, a file that cannot be read an I/O error: neither
    // is the caller's input.
    let e = read_records(&broken).unwrap_err();
    assert!(matches!(e, TaskError::Dataset(_)), "{e:?}");
    let e = read_records(&dir.path().join("missing.jsonl")).unwrap_err();
    assert!(matches!(e, TaskError::Io { .. }), "{e:?}");
    let not_parquet = dir.path().join("x.parquet");
    std::fs::write(&not_parquet, "not parquet").unwrap();
    assert!(err(&not_parquet).contains("x.parquet"));

    let rows = read_records(&data("yelp.jsonl")).unwrap();
    let columns = ClassificationColumns {
        text: "review".into(),
        ..Default::default()
    };
    let e = ClassificationExample::from_record(&rows[0], &columns, 5).unwrap_err();
    assert!(matches!(e, TaskError::Dataset(_)), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("no column `review`") && e.contains("label, text"),
        "{e}"
    );
    // Labels run 0-4: a model with fewer classes cannot take them.
    let row = rows
        .iter()
        .find(|r| r["label"].as_u64() == Some(4))
        .unwrap();
    let e = ClassificationExample::from_record(row, &ClassificationColumns::default(), 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a class index below 4"), "{e}");

    let mut bad = load_split(&data_str("squad"), "train").unwrap()[0].clone();
    bad["answers"]["answer_start"] = json!([10_000]);
    let e = QaExample::from_record(&bad).unwrap_err().to_string();
    assert!(e.contains("runs past the end of its context"), "{e}");

    let e = load_split(&data_str("yelp"), "validation")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no validation files"), "{e}");
}

/// Answer spans found through the offset mapping cover the answer's characters; windows
/// without the answer, and unanswerable questions, point at [CLS].
#[test]
fn squad_features_locate_answers() {
    let _random = integration_tests::random_stream_lock();
    let tokenizer =
        TextTokenizer::from_model_dir(&ModelDir::local(&fixture("distilbert-base")).unwrap())
            .unwrap();
    let examples: Vec<QaExample> = load_split(&data_str("squad_v2"), "train")
        .unwrap()
        .iter()
        .map(|r| QaExample::from_record(r).unwrap())
        .collect();
    // Small windows, so that long contexts overflow and some windows miss the answer.
    let w = QaWindows {
        max_length: 32,
        doc_stride: 8,
    };
    let features = qa_train_features(&tokenizer, &examples, w).unwrap();
    let eval = qa_eval_features(&tokenizer, &examples, w).unwrap();
    assert_eq!(features.len(), eval.len());
    assert!(
        features.len() > examples.len(),
        "contexts overflow into several windows"
    );
    let (mut inside, mut cls) = (0, 0);
    for (f, e) in features.iter().zip(&eval) {
        assert_eq!(f.tokens.input_ids.len(), 32);
        let example = &examples[e.example];
        if f.start_position == 0 {
            assert_eq!(f.end_position, 0);
            cls += 1;
            continue;
        }
        inside += 1;
        let (s, _) = e.offsets[f.start_position].expect("a context token");
        let (_, end) = e.offsets[f.end_position].expect("a context token");
        let chars: Vec<char> = example.context.chars().collect();
        let span: String = chars[s..end].iter().collect();
        assert_eq!(span, example.answers.text[0], "{}", example.id);
    }
    assert!(
        inside > 0 && cls > 0,
        "{inside} answer windows, {cls} [CLS] windows"
    );
    // Unanswerable questions point at [CLS] in every window.
    for (f, e) in features.iter().zip(&eval) {
        if examples[e.example].answers.text.is_empty() {
            assert_eq!((f.start_position, f.end_position), (0, 0));
        }
    }
}

fn examples_of(value: &Value) -> Vec<QaExample> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.as_object().unwrap().clone();
            r.insert("context".into(), json!("x".repeat(100)));
            r.insert("question".into(), json!("q"));
            QaExample::from_record(&r).unwrap()
        })
        .collect()
}

fn predictions_of(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// EM/F1 equal to the official evaluation scripts' on a crafted prediction set.
#[test]
fn squad_metrics_match_the_official_scripts() {
    let _random = integration_tests::random_stream_lock();
    let text = std::fs::read_to_string(data("squad-metrics.json")).unwrap();
    let golden: Value = serde_json::from_str(&text).unwrap();
    let v1 = &golden["v1"];
    let s = squad_v1(
        &predictions_of(&v1["predictions"]),
        &examples_of(&v1["references"]),
    );
    let close = |a: f64, b: &Value| (a - b.as_f64().unwrap()).abs() < 1e-9;
    assert!(
        close(s.exact_match, &v1["expected"]["exact_match"]),
        "{s:?} vs {}",
        v1["expected"]
    );
    assert!(
        close(s.f1, &v1["expected"]["f1"]),
        "{s:?} vs {}",
        v1["expected"]
    );
    let v2 = &golden["v2"];
    let s = squad_v2(
        &predictions_of(&v2["predictions"]),
        &examples_of(&v2["references"]),
    );
    let e = &v2["expected"];
    assert!(
        close(s.exact, &e["exact"]) && close(s.f1, &e["f1"]),
        "{s:?} vs {e}"
    );
    assert_eq!(s.total as u64, e["total"].as_u64().unwrap());
    let (he, hf, ht) = s.has_ans.unwrap();
    assert!(
        close(he, &e["HasAns_exact"])
            && close(hf, &e["HasAns_f1"])
            && ht as u64 == e["HasAns_total"].as_u64().unwrap()
    );
    let (ne, nf, nt) = s.no_ans.unwrap();
    assert!(
        close(ne, &e["NoAns_exact"])
            && close(nf, &e["NoAns_f1"])
            && nt as u64 == e["NoAns_total"].as_u64().unwrap()
    );
}

/// Post-processing picks the best valid span over windows, honours max_answer_length, and in
/// v2 mode answers "" when the null score wins by more than the threshold.
#[test]
fn postprocessing_picks_spans_and_null_answers() {
    let _random = integration_tests::random_stream_lock();
    let example = QaExample {
        id: "q".into(),
        title: String::new(),
        context: "john lives in paris now".into(),
        question: "where?".into(),
        answers: Default::default(),
    };
    // Tokens: [CLS] where ? [SEP] john lives in paris now [SEP]
    let offsets = vec![
        None,
        None,
        None,
        None,
        Some((0, 4)),
        Some((5, 10)),
        Some((11, 13)),
        Some((14, 19)),
        Some((20, 23)),
        None,
    ];
    let feature = burn_tasks::train::features::QaEvalFeature {
        tokens: Tokens {
            input_ids: vec![0; 10],
            attention_mask: vec![1; 10],
            token_type_ids: vec![0; 10],
        },
        example: 0,
        offsets,
    };
    let mut start = vec![0.0f32; 10];
    let mut end = vec![0.0f32; 10];
    start[7] = 5.0; // "paris"
    end[7] = 4.0;
    start[2] = 9.0; // a question token: never an answer
    end[8] = 4.5; // "paris now" scores 9.5 > "paris" 9.0
    let run = |start: &[f32], end: &[f32], options: PostprocessOptions| {
        postprocess_qa_predictions(
            std::slice::from_ref(&example),
            std::slice::from_ref(&feature),
            &[(start.to_vec(), end.to_vec())],
            &options,
        )["q"]
            .clone()
    };
    assert_eq!(
        run(&start, &end, PostprocessOptions::default()),
        "paris now"
    );
    let short = PostprocessOptions {
        max_answer_length: 1,
        ..Default::default()
    };
    assert_eq!(run(&start, &end, short), "paris");
    let v2 = PostprocessOptions {
        version_2_with_negative: true,
        ..Default::default()
    };
    assert_eq!(run(&start, &end, v2), "paris now");
    let (mut s0, mut e0) = (start.clone(), end.clone());
    s0[0] = 6.0;
    e0[0] = 4.0; // null score 10 > 9.5
    assert_eq!(run(&s0, &e0, v2), "");
    let lenient = PostprocessOptions {
        null_score_diff_threshold: 1.0,
        ..v2
    };
    assert_eq!(run(&s0, &e0, lenient), "paris now");
}

fn quick_args(output: &Path, epochs: usize, lr: f64) -> TrainingArguments {
    TrainingArguments {
        output_dir: output.to_path_buf(),
        num_train_epochs: epochs,
        per_device_train_batch_size: 8,
        per_device_eval_batch_size: 16,
        learning_rate: lr,
        progress: false,
        logging_steps: 4,
        ..TrainingArguments::default()
    }
}

fn yelp_recipe(output: &Path, epochs: usize) -> TextClassificationRecipe {
    TextClassificationRecipe {
        model: fixture("bert-base").to_string_lossy().into_owned(),
        data: data_str("yelp"),
        train_samples: None,
        eval_samples: None,
        max_length: Some(24),
        evaluate_before_training: true,
        args: quick_args(output, epochs, 5e-3),
        ..TextClassificationRecipe::default()
    }
}

/// A short CPU run of the Yelp recipe on the tiny BERT: the loss falls and accuracy rises;
/// the saved model serves through our sequence-classification loader with the trained logits.
#[test]
fn yelp_recipe_learns_and_saves_a_hf_model() {
    let _guard = integration_tests::random_stream_lock();
    let out = tempfile::tempdir().unwrap();
    let result = run_text_classification(&yelp_recipe(out.path(), 10), &device()).unwrap();
    let before = result.initial_metrics.as_ref().unwrap()["accuracy"];
    let after = result.metrics["accuracy"];
    let losses = &result.epoch_losses;
    eprintln!("yelp: losses {losses:?}, accuracy {before} -> {after}");
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.7),
        "losses {losses:?}"
    );
    assert!(
        after > before + 0.3 && after >= 0.6,
        "accuracy {before} -> {after}"
    );
    assert_eq!(result.global_step, 10 * 8);
    // Checkpoints each epoch, the log, and the HF layout.
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "train.log",
        "checkpoint-80/trainer_state.json",
    ] {
        assert!(out.path().join(name).is_file(), "{name}");
    }
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["architectures"],
        json!(["BertForSequenceClassification"])
    );
    assert_eq!(config["id2label"].as_object().unwrap().len(), 5);
    let log = std::fs::read_to_string(out.path().join("train.log")).unwrap();
    assert!(
        log.lines().filter(|l| l.contains("eval_accuracy")).count() == 10,
        "{log}"
    );
    assert!(log.contains("\"learning_rate\"") && log.contains("\"grad_norm\""));

    // Our loader serves the saved model, with the logits of the trained one.
    check_saved_classifier(out.path(), "yelp");
}

/// Loads `dir` through `auto` and compares its logits with those of the trained model
/// reloaded from its last checkpoint (`checkpoint-{step}/model.bpk`, our own record of the
/// run's final parameters); writes `target/train-check/<name>` + `<name>-logits.json` for
/// `generate_train.py --check` (transformers' side).
fn check_saved_classifier(dir: &Path, name: &str) {
    let device = device();
    let model_dir = ModelDir::local(dir).unwrap();
    let ours = auto::load_sequence_classifier(&model_dir, &device).unwrap();
    let tokenizer = TextTokenizer::from_model_dir(&model_dir).unwrap();
    let texts = [
        "The food was amazing.",
        "A terrible place with bad coffee and bad service",
    ];
    let encodings: Vec<_> = texts
        .iter()
        .map(|t| tokenizer.encode(t, None).unwrap())
        .collect();
    let refs: Vec<_> = encodings.iter().collect();
    let input = tokenizer.batch(&refs, true, &device).unwrap();
    let logits = ours.logits(&input).unwrap();
    let (shape, values) = integration_tests::to_vec(logits);
    assert_eq!(shape, vec![2, 5]);
    let (skeleton, _) = load_classifier(&model_dir, &device, 5, None).unwrap();
    let trained = skeleton.try_load_file(last_checkpoint(dir)).unwrap();
    let (_, expected) = integration_tests::to_vec(trained.logits(&input).unwrap());
    // The same f32 parameters through the same forward pass: identical logits.
    test_support::assert_close(&format!("{name}: saved model"), &values, &expected, 0.0);
    export_for_python_check(
        dir,
        name,
        "text-classification",
        &input,
        json!({"logits": rows(&values, shape[1])}),
    );
}

/// The model record of the latest checkpoint in `dir`.
fn last_checkpoint(dir: &Path) -> PathBuf {
    latest_checkpoint(dir)
        .unwrap_or_else(|| panic!("no checkpoint in {}", dir.display()))
        .join("model.bpk")
}

fn rows(values: &[f32], cols: usize) -> Vec<Vec<f32>> {
    values.chunks(cols).map(<[f32]>::to_vec).collect()
}

fn export_for_python_check(
    dir: &Path,
    name: &str,
    task: &str,
    input: &burn_models::heads::EncoderInput,
    outputs: Value,
) {
    let target = manifest_dir().join("../target/train-check");
    let copy = target.join(name);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with("train.log") {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    let ints = |t: &burn::tensor::Tensor<2, burn::tensor::Int>| -> Value {
        let [b, s] = t.dims();
        let v = t
            .clone()
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        json!(v.chunks(s).take(b).collect::<Vec<_>>())
    };
    let mut doc = json!({"task": task, "input_ids": ints(&input.input_ids), "attention_mask": ints(&input.attention_mask)});
    if let Some(types) = &input.token_type_ids {
        doc["token_type_ids"] = ints(types);
    }
    for (k, v) in outputs.as_object().unwrap() {
        doc[k] = v.clone();
    }
    std::fs::write(
        target.join(format!("{name}-logits.json")),
        serde_json::to_string(&doc).unwrap(),
    )
    .unwrap();
}

fn squad_recipe(output: &Path, data: &str, v2: bool, epochs: usize) -> QuestionAnsweringRecipe {
    QuestionAnsweringRecipe {
        model: fixture("distilbert-base").to_string_lossy().into_owned(),
        data: data_str(data),
        windows: QaWindows {
            max_length: 48,
            doc_stride: 16,
        },
        version_2_with_negative: v2,
        evaluate_before_training: true,
        args: TrainingArguments {
            weight_decay: 0.01,
            ..quick_args(output, epochs, 3e-3)
        },
        ..QuestionAnsweringRecipe::default()
    }
}

/// A short CPU run of the SQuAD recipe on the tiny DistilBERT: the loss falls and F1 rises;
/// the saved model answers through our question-answering loader.
#[test]
fn squad_recipe_learns_and_saves_a_hf_model() {
    let _guard = integration_tests::random_stream_lock();
    let out = tempfile::tempdir().unwrap();
    let result =
        run_question_answering(&squad_recipe(out.path(), "squad", false, 8), &device()).unwrap();
    let before = result.initial_metrics.as_ref().unwrap()["f1"];
    let after = result.metrics["f1"];
    let losses = &result.epoch_losses;
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.7),
        "losses {losses:?}"
    );
    assert!(
        after > before + 20.0,
        "f1 {before} -> {after} ({:?})",
        result.metrics
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["architectures"],
        json!(["DistilBertForQuestionAnswering"])
    );

    let device = device();
    let model_dir = ModelDir::local(out.path()).unwrap();
    let ours = auto::load_question_answerer(&model_dir, &device).unwrap();
    let tokenizer = TextTokenizer::from_model_dir(&model_dir).unwrap();
    let encoding = tokenizer
        .encode(
            "where does mary live ?",
            Some("the team won the cup last year . mary lives in paris ."),
        )
        .unwrap();
    let input = tokenizer.batch(&[&encoding], false, &device).unwrap();
    let (start, end) = ours.span_logits(&input).unwrap();
    let (shape, start) = integration_tests::to_vec(start);
    let (_, end) = integration_tests::to_vec(end);
    // The trained model, from the run's last checkpoint, gives the same span logits.
    let (skeleton, _) = load_question_answering(&model_dir, &device).unwrap();
    let trained = skeleton.try_load_file(last_checkpoint(out.path())).unwrap();
    let (trained_start, trained_end) = trained.span_logits(&input).unwrap();
    let what = "squad: saved model";
    let expected_start = integration_tests::to_vec(trained_start).1;
    test_support::assert_close(
        &format!("{what} start logits"),
        &start,
        &expected_start,
        0.0,
    );
    let expected_end = integration_tests::to_vec(trained_end).1;
    test_support::assert_close(&format!("{what} end logits"), &end, &expected_end, 0.0);
    export_for_python_check(
        out.path(),
        "squad",
        "question-answering",
        &input,
        json!({"start_logits": rows(&start, shape[1]), "end_logits": rows(&end, shape[1])}),
    );
}

/// SQuAD 2.0: unanswerable questions train towards [CLS]; v2 metrics are reported.
#[test]
fn squad_v2_recipe_reports_has_and_no_answer_scores() {
    let _guard = integration_tests::random_stream_lock();
    let out = tempfile::tempdir().unwrap();
    let result =
        run_question_answering(&squad_recipe(out.path(), "squad_v2", true, 2), &device()).unwrap();
    for key in ["exact", "f1", "total", "HasAns_f1", "NoAns_f1"] {
        assert!(
            result.metrics.contains_key(key),
            "{key} in {:?}",
            result.metrics
        );
    }
    assert_eq!(result.metrics["total"], 24.0);
    // Without --v2, unanswerable training questions are refused with a clear error.
    let e = run_question_answering(&squad_recipe(out.path(), "squad_v2", false, 1), &device())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--v2"), "{e}");
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Two epochs in one run, and one epoch then `--resume` for the second, give the same weights
/// byte for byte and the same second-epoch loss.
#[test]
fn resume_continues_to_the_same_result() {
    let _guard = integration_tests::random_stream_lock();
    let whole = tempfile::tempdir().unwrap();
    let split = tempfile::tempdir().unwrap();
    let mut recipe = yelp_recipe(whole.path(), 2);
    recipe.evaluate_before_training = false;
    recipe.args.gradient_accumulation_steps = 2;
    recipe.args.warmup_steps = 2;
    recipe.args.weight_decay = 0.01;
    let full = run_text_classification(&recipe, &device()).unwrap();

    recipe.args.output_dir = split.path().to_path_buf();
    recipe.args.stop_after_epochs = Some(1);
    let first = run_text_classification(&recipe, &device()).unwrap();
    assert_eq!(first.global_step, 4);
    assert!(split.path().join("checkpoint-4").is_dir());
    recipe.args.stop_after_epochs = None;
    recipe.args.resume = true;
    let resumed = run_text_classification(&recipe, &device()).unwrap();
    assert_eq!(resumed.global_step, full.global_step);
    assert_eq!(first.epoch_losses[0], full.epoch_losses[0]);
    assert_eq!(resumed.epoch_losses, vec![full.epoch_losses[1]]);
    assert_eq!(resumed.metrics, full.metrics);
    assert!(
        file_bytes(&whole.path().join("model.safetensors"))
            == file_bytes(&split.path().join("model.safetensors")),
        "the resumed run's weights differ from the uninterrupted run's"
    );
    // A resume with other settings is refused rather than silently diverging.
    recipe.args.num_train_epochs = 3;
    let e = run_text_classification(&recipe, &device()).unwrap_err();
    assert!(matches!(e, TaskError::Checkpoint(_)), "{e:?}");
    assert!(e.to_string().contains("resume with the same"), "{e}");
    // A checkpoint whose state cannot be read is a checkpoint error too.
    recipe.args.num_train_epochs = 2;
    let last = latest_checkpoint(split.path()).unwrap();
    std::fs::write(last.join("trainer_state.json"), "{ not json").unwrap();
    let e = run_text_classification(&recipe, &device()).unwrap_err();
    assert!(
        matches!(&e, TaskError::Checkpoint(m) if m.contains("trainer_state.json")),
        "{e:?}"
    );
}

/// Data parallelism: a batch of 8 split over two devices (4 each, two replicas on the CPU
/// here; on GPUs `--devices cuda:0,cuda:1`) trains to the same losses and weights as the
/// batch of 8 on one device. Dropout is off so the two runs are comparable.
#[test]
fn data_parallel_matches_one_device() {
    let _guard = integration_tests::random_stream_lock();
    let model = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("bert-base")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model.path().join(entry.file_name())).unwrap();
    }
    let config_path = model.path().join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["hidden_dropout_prob"] = json!(0.0);
    config["attention_probs_dropout_prob"] = json!(0.0);
    std::fs::write(&config_path, config.to_string()).unwrap();

    let one = tempfile::tempdir().unwrap();
    let mut recipe = yelp_recipe(one.path(), 2);
    recipe.model = model.path().to_string_lossy().into_owned();
    recipe.evaluate_before_training = false;
    recipe.args.logging_steps = 1;
    let single = run_text_classification(&recipe, &device()).unwrap();

    let two = tempfile::tempdir().unwrap();
    recipe.args.output_dir = two.path().to_path_buf();
    recipe.args.per_device_train_batch_size = 4;
    recipe.args.devices = vec![device(), device()];
    let parallel = run_text_classification(&recipe, &device()).unwrap();

    assert_eq!(parallel.global_step, single.global_step);
    // The first step's gradient norm (before updates let rounding differences grow):
    // the shards' gradients must sum to the whole batch's, not to a multiple of it.
    let first_norm = |dir: &Path| -> f64 {
        let log = std::fs::read_to_string(dir.join("train.log")).unwrap();
        let line = log.lines().find(|l| l.contains("grad_norm")).unwrap();
        serde_json::from_str::<Value>(line).unwrap()["grad_norm"]
            .as_f64()
            .unwrap()
    };
    let (n1, n2) = (first_norm(one.path()), first_norm(two.path()));
    assert!(
        (n1 - n2).abs() < 1e-5 * n1,
        "first gradient norms {n1} vs {n2}"
    );
    // The first epoch agrees closely; later ones drift with rounding (more on GPUs).
    for (epoch, (a, b)) in single
        .epoch_losses
        .iter()
        .zip(&parallel.epoch_losses)
        .enumerate()
    {
        let tolerance = if epoch == 0 { 1e-4 } else { 2e-3 };
        assert!(
            (a - b).abs() < tolerance * a,
            "{:?} vs {:?}",
            single.epoch_losses,
            parallel.epoch_losses
        );
    }
    let read = |dir: &Path| {
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut out: Vec<(String, Vec<f32>)> = tensors
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let values = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                (name, values)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let (a, b) = (read(one.path()), read(two.path()));
    assert_eq!(a.len(), b.len());
    let (mut max_diff, mut sum_diff, mut count) = (0f32, 0f64, 0usize);
    for ((name_a, va), (name_b, vb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        for (x, y) in va.iter().zip(vb) {
            // NaN-aware: a NaN on one side is an infinite difference.
            let diff = test_support::element_diff(*x, *y);
            if diff > max_diff {
                max_diff = diff;
            }
            sum_diff += f64::from(diff);
            count += 1;
        }
    }
    let mean_diff = sum_diff / count as f64;
    // AdamW's first steps move a parameter by about the learning rate whatever the size of
    // its gradient, so a near-zero gradient whose rounding flips sign moves that weight the
    // other way: the largest difference can reach a few learning rates (GPU reductions
    // round differently again); the mean stays tiny.
    eprintln!(
        "data parallel vs one device: weights differ by {mean_diff:e} on average, {max_diff:e} at most"
    );
    assert!(mean_diff < 1e-4, "weights differ by {mean_diff} on average");
    assert!(max_diff < 2e-2, "weights differ by {max_diff}");
}

/// Mixed precision (HF's `bf16` / `fp16`): linear products in half precision with f32
/// parameters; losses and accuracy follow f32's run to half precision, and fp16's loss
/// scale is kept in the checkpoint.
#[test]
fn mixed_precision_trains() {
    use burn::tensor::FloatDType;
    let _guard = integration_tests::random_stream_lock();
    let device = device();
    let f32_dir = tempfile::tempdir().unwrap();
    let mut recipe = yelp_recipe(f32_dir.path(), 4);
    recipe.evaluate_before_training = false;
    let full = run_text_classification(&recipe, &device).unwrap();
    for (flag, dtype) in [("bf16", FloatDType::BF16), ("fp16", FloatDType::F16)] {
        if !device.supports_dtype(dtype) {
            eprintln!("{flag}: not supported on {device:?}, skipped");
            continue;
        }
        let out = tempfile::tempdir().unwrap();
        let mut recipe = yelp_recipe(out.path(), 4);
        recipe.args.bf16 = flag == "bf16";
        recipe.args.fp16 = flag == "fp16";
        let result = run_text_classification(&recipe, &device).unwrap();
        let losses = &result.epoch_losses;
        let (before, after) = (
            result.initial_metrics.as_ref().unwrap()["accuracy"],
            result.metrics["accuracy"],
        );
        eprintln!(
            "{flag}: losses {losses:?} (f32: {:?}), accuracy {before} -> {after}",
            full.epoch_losses
        );
        assert!(losses.last().unwrap() < &losses[0], "{flag}: {losses:?}");
        // Within two of the 32 evaluation reviews of f32's accuracy.
        assert!(
            (after - full.metrics["accuracy"]).abs() <= 2.0 / 32.0 + 1e-9,
            "{flag}: accuracy {before} -> {after}, f32 {}",
            full.metrics["accuracy"]
        );
        for (half, single) in losses.iter().zip(&full.epoch_losses) {
            assert!(
                (half - single).abs() < 0.02 * single,
                "{flag}: losses {losses:?} vs f32 {:?}",
                full.epoch_losses
            );
        }
        let state =
            std::fs::read_to_string(out.path().join("checkpoint-32/trainer_state.json")).unwrap();
        assert_eq!(state.contains("grad_scaler"), flag == "fp16", "{state}");
    }
    // Both at once is refused.
    let out = tempfile::tempdir().unwrap();
    let mut recipe = yelp_recipe(out.path(), 1);
    recipe.args.bf16 = true;
    recipe.args.fp16 = true;
    let e = run_text_classification(&recipe, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("exclude each other"), "{e}");
}

/// Models train on the autodiff twin of the device: gradients reach every parameter.
#[test]
fn every_parameter_gets_a_gradient() {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use burn::tensor::Tensor;
    let _guard = integration_tests::random_stream_lock();
    let device = device().autodiff();
    struct Count<'a>(&'a GradientsParams, usize, usize);
    impl ModuleVisitor for Count<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.1 += 1;
            if self.0.get::<D>(p.id).is_some() {
                self.2 += 1;
            }
        }
    }
    let tokenizer =
        TextTokenizer::from_model_dir(&ModelDir::local(&fixture("bert-seqcls")).unwrap()).unwrap();
    let encoding = tokenizer.encode("the food was good", None).unwrap();
    let (model, _) = burn_tasks::train::models::load_classifier(
        &ModelDir::local(&fixture("bert-seqcls")).unwrap(),
        &device,
        3,
        None,
    )
    .unwrap();
    let input = tokenizer.batch(&[&encoding], true, &device).unwrap();
    let loss = burn_tasks::train::recipes::cross_entropy(model.logits(&input).unwrap(), &[1]);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut count = Count(&grads, 0, 0);
    model.visit(&mut count);
    assert!(
        count.1 > 30 && count.1 == count.2,
        "{} of {} parameters have gradients",
        count.2,
        count.1
    );
}

/// The training path of attention (explicit softmax, dropout on the probabilities) computes
/// what the fused op computes when nothing is dropped.
#[test]
fn attention_training_path_matches_the_fused_op() {
    use burn::nn::DropoutConfig;
    use burn_models::nn::AttentionMask;
    let _guard = integration_tests::random_stream_lock();
    let device = device().autodiff();
    let dir = ModelDir::local(&fixture("bert-seqcls")).unwrap();
    let (model, _) = burn_tasks::train::models::load_classifier(&dir, &device, 3, None).unwrap();
    let burn_tasks::train::models::ClassifierModel::Bert(bert) = model else {
        unreachable!()
    };
    let attention = &bert.bert.encoder.layers[0].attention;
    let hidden =
        burn::tensor::Tensor::<3>::random([2, 5, 32], burn::tensor::Distribution::Default, &device);
    let mask_rows = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(vec![1i64, 1, 1, 1, 1, 1, 1, 1, 0, 0], [2, 5]),
        &device,
    );
    let mask = AttentionMask::from_padding(&mask_rows);
    let fused = attention.forward(hidden.clone(), Some(&mask));
    // Keeps every value (p = 1e-12): the explicit path without an effective drop.
    let explicit =
        attention.forward_with_dropout(hidden, Some(&mask), &DropoutConfig::new(1e-12).init());
    let (_, a) = integration_tests::to_vec(fused);
    let (_, b) = integration_tests::to_vec(explicit);
    let worst = test_support::max_abs_diff(&a, &b).0;
    assert!(worst < 1e-5, "max difference {worst}");
}

/// Post-processing picks what transformers' `postprocess_qa_predictions` picks, over
/// several windows per example, in v1 and v2 modes.
#[test]
fn postprocessing_matches_the_recipe() {
    let _random = integration_tests::random_stream_lock();
    let text = std::fs::read_to_string(data("squad-postprocess.json")).unwrap();
    let golden: Value = serde_json::from_str(&text).unwrap();
    let examples: Vec<QaExample> = golden["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| QaExample {
            id: e["id"].as_str().unwrap().into(),
            title: String::new(),
            context: e["context"].as_str().unwrap().into(),
            question: String::new(),
            answers: Default::default(),
        })
        .collect();
    let features: Vec<burn_tasks::train::features::QaEvalFeature> = golden["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let offsets: Vec<Option<(usize, usize)>> = f["offsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    o.as_array().map(|p| {
                        (
                            p[0].as_u64().unwrap() as usize,
                            p[1].as_u64().unwrap() as usize,
                        )
                    })
                })
                .collect();
            let n = offsets.len();
            burn_tasks::train::features::QaEvalFeature {
                tokens: Tokens {
                    input_ids: vec![0; n],
                    attention_mask: vec![1; n],
                    token_type_ids: vec![0; n],
                },
                example: f["example"].as_u64().unwrap() as usize,
                offsets,
            }
        })
        .collect();
    let floats = |v: &Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let logits: Vec<(Vec<f32>, Vec<f32>)> = golden["start_logits"]
        .as_array()
        .unwrap()
        .iter()
        .zip(golden["end_logits"].as_array().unwrap())
        .map(|(s, e)| (floats(s), floats(e)))
        .collect();
    let mut saw_null = false;
    for case in ["v1", "v1_short", "v2", "v2_threshold"] {
        let o = &golden[case]["options"];
        let options = PostprocessOptions {
            n_best_size: o["n_best_size"].as_u64().unwrap_or(20) as usize,
            max_answer_length: o["max_answer_length"].as_u64().unwrap_or(30) as usize,
            version_2_with_negative: o["version_2_with_negative"].as_bool().unwrap_or(false),
            null_score_diff_threshold: o["null_score_diff_threshold"].as_f64().unwrap_or(0.0),
        };
        let ours = postprocess_qa_predictions(&examples, &features, &logits, &options);
        let expected = predictions_of(&golden[case]["predictions"]);
        assert_eq!(ours, expected, "{case}");
        saw_null |= expected.values().any(String::is_empty);
    }
    assert!(saw_null, "the golden has v2 null answers");
}
