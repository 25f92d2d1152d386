//! LayoutLM against transformers: model outputs with 2-D boxes, the document-question-answering
//! pipeline (word boxes given, and by OCR where the `ocr` feature is on), and its errors.

use burn_models::auto::{load_layoutlm, load_question_answerer, load_token_classifier};
use burn_models::heads::EncoderInput;
use burn_models::hub::ModelDir;
use burn_tasks::pipeline;
use burn_tasks::pipelines::document_question_answering::{
    DocumentQaInput, DocumentQuestionAnsweringOptions, DocumentQuestionAnsweringPipeline,
    parse_word_boxes,
};
use integration_tests::*;
use serde_json::{Value, json};

fn dir(name: &str) -> ModelDir {
    ModelDir::local(&fixture(name)).expect("fixture dir")
}

fn boxes(case: &Value) -> Vec<Vec<[i64; 4]>> {
    case["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    let v: Vec<i64> = b
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_i64().unwrap())
                        .collect();
                    [v[0], v[1], v[2], v[3]]
                })
                .collect()
        })
        .collect()
}

fn input(case: &Value) -> EncoderInput {
    let types = int_rows(&case["token_type_ids"]);
    EncoderInput::new(
        &int_rows(&case["input_ids"]),
        &int_rows(&case["attention_mask"]),
        Some(&types),
        &device(),
    )
    .unwrap()
    .with_bbox(&boxes(case), &device())
    .unwrap()
}

fn model_cases(name: &str) -> Vec<Value> {
    golden(name)["model"].as_array().unwrap().clone()
}

#[test]
fn question_answering_logits_match_transformers() {
    let model = load_question_answerer(&dir("layoutlm-qa"), &device()).unwrap();
    assert!(model.uses_boxes());
    for case in model_cases("layoutlm-qa") {
        let (start, end) = model.span_logits(&input(&case)).unwrap();
        let what = format!("layoutlm-qa/{}", case["name"]);
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
    }
}

#[test]
fn token_classification_logits_and_hidden_states_match_transformers() {
    let model = load_token_classifier(&dir("layoutlm-tokcls"), &device()).unwrap();
    let base = load_layoutlm(&dir("layoutlm-tokcls"), &device()).unwrap();
    for case in model_cases("layoutlm-tokcls") {
        let what = format!("layoutlm-tokcls/{}", case["name"]);
        let (shape, data) = to_vec(model.logits(&input(&case)).unwrap());
        assert_close(&format!("{what} logits"), &shape, &data, &case["logits"]);
        let hidden = base.forward(&input(&case)).unwrap().last_hidden_state;
        let (shape, data) = to_vec(hidden);
        assert_close(
            &format!("{what} last_hidden_state"),
            &shape,
            &data,
            &case["last_hidden_state"],
        );
    }
}

#[test]
fn boxes_the_model_cannot_embed_are_errors() {
    let model = load_question_answerer(&dir("layoutlm-qa"), &device()).unwrap();
    let case = &model_cases("layoutlm-qa")[0];
    let mut bbox = boxes(case);
    bbox[0][3] = [10, 10, 1024, 20];
    let too_far = EncoderInput::new(
        &int_rows(&case["input_ids"]),
        &int_rows(&case["attention_mask"]),
        None,
        &device(),
    )
    .unwrap()
    .with_bbox(&bbox, &device())
    .unwrap();
    let err = model.span_logits(&too_far).unwrap_err().to_string();
    assert!(err.contains("1024"), "{err}");
    bbox[0][3] = [50, 10, 40, 20];
    let inverted = EncoderInput::new(
        &int_rows(&case["input_ids"]),
        &int_rows(&case["attention_mask"]),
        None,
        &device(),
    )
    .unwrap()
    .with_bbox(&bbox, &device())
    .unwrap();
    let err = model.span_logits(&inverted).unwrap_err().to_string();
    assert!(err.contains("x0 > x1"), "{err}");
    let short = EncoderInput::new(&[vec![1, 2]], &[vec![1, 1]], None, &device()).unwrap();
    assert!(short.with_bbox(&[vec![[0; 4]]], &device()).is_err());
}

#[test]
fn document_question_answering_matches_the_hf_pipeline() {
    check_pipeline_goldens(
        &["layoutlm-qa"],
        &["document-question-answering"],
        |name| {
            pipeline("document-question-answering")
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

fn document_pipeline() -> DocumentQuestionAnsweringPipeline {
    typed_pipeline("layoutlm-qa")
}

#[test]
fn bad_document_inputs_are_clear_errors() {
    let pipe = document_pipeline();
    let options = DocumentQuestionAnsweringOptions::default();
    let words = vec![("total".to_string(), [10, 10, 50, 20])];
    let run = |input: DocumentQaInput| pipe.answer(&[input], &options);
    assert_invalid_input(
        run(DocumentQaInput::with_word_boxes("  ", words.clone())),
        "empty question",
        "question",
    );
    assert_invalid_input(
        run(DocumentQaInput::with_word_boxes("what?", vec![])),
        "no words",
        "no words",
    );
    assert_invalid_input(
        run(DocumentQaInput::with_word_boxes(
            "what?",
            vec![("x".into(), [0, 0, 1001, 5])],
        )),
        "box past 1000",
        "<= 1000",
    );
    assert_invalid_input(
        run(DocumentQaInput {
            question: "what?".into(),
            image: None,
            word_boxes: None,
        }),
        "nothing to read",
        "word_boxes",
    );
    assert!(
        parse_word_boxes(&json!([["a", [1, 2, 3]]]))
            .unwrap_err()
            .to_string()
            .contains("4")
    );
    assert!(
        parse_word_boxes(&json!([["a", [1, 2, 3, 4.5]]]))
            .unwrap_err()
            .to_string()
            .contains("integers")
    );
    assert!(parse_word_boxes(&json!({"a": 1})).is_err());
    let other = pipeline("document-question-answering")
        .unwrap()
        .model(fixture("bert-qa").to_string_lossy())
        .device(device())
        .build();
    assert!(other.err().unwrap().to_string().contains("LayoutLM"));
}

/// Tesseract reads the committed page image; the words, boxes and answers must be the ones
/// transformers got from pytesseract on the same image.
#[cfg(feature = "ocr")]
#[test]
fn ocr_reads_the_page_as_transformers_does() {
    let golden = golden("layoutlm-qa");
    let ocr = &golden["ocr"];
    let image = fixture("layoutlm-qa").join(ocr["image"].as_str().unwrap());
    let words = burn_tasks::input::ocr::apply_tesseract(&image, None, "").unwrap();
    let ours = json!({
        "words": words.iter().map(|(w, _)| w.clone()).collect::<Vec<_>>(),
        "boxes": words.iter().map(|(_, b)| b.to_vec()).collect::<Vec<_>>(),
    });
    assert_json_close(
        "OCR words and boxes",
        &ours,
        &json!({"words": ocr["words"], "boxes": ocr["boxes"]}),
    );
    let options = DocumentQuestionAnsweringOptions {
        top_k: 2,
        ..Default::default()
    };
    let question = ocr["question"].as_str().unwrap();
    let answers = document_pipeline()
        .answer(&[DocumentQaInput::with_image(question, image)], &options)
        .unwrap();
    assert_json_close(
        "OCR answers",
        &serde_json::to_value(&answers[0]).unwrap(),
        &ocr["output"],
    );
}

#[cfg(not(feature = "ocr"))]
#[test]
fn without_the_ocr_feature_an_image_alone_names_the_feature() {
    let image = fixture("layoutlm-qa").join("document.png");
    let result = document_pipeline().answer(
        &[DocumentQaInput::with_image("what?", image)],
        &DocumentQuestionAnsweringOptions::default(),
    );
    assert_invalid_input(result, "no ocr feature", "`ocr` cargo feature");
}
