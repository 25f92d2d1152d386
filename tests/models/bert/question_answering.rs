//! `question-answering` against the `transformers.pipeline` goldens of the fixtures.

use burn_tasks::TaskError;
use burn_tasks::pipelines::question_answering::QaInput;
use burn_tasks::pipelines::question_answering::QuestionAnsweringOptions;
use burn_tasks::pipelines::{QuestionAnsweringPipeline, TaskPipeline};
use integration_tests::*;
use serde_json::Value;

const FIXTURES: &[&str] = &["bert-qa", "distilbert-qa"];
const TASKS: &[&str] = &["question-answering"];

fn pipeline(name: &str) -> QuestionAnsweringPipeline {
    typed_pipeline(name)
}

/// Runs one golden case the way `pipeline(...)(inputs, **kwargs)` was called, through the
/// typed pipeline's reading of HF's inputs and keyword arguments.
fn run_case(pipe: &QuestionAnsweringPipeline, case: &Value) -> Result<Value, String> {
    pipe.call_json(&case["inputs"], &case["kwargs"])
        .map_err(|e| e.to_string())
}

/// Every golden case of the fixtures, with the default `batch_size` and again one window at a
/// time and three at a time (padded batches must not change the results).
#[test]
fn golden_pipeline_outputs() {
    check_pipeline_goldens(FIXTURES, TASKS, pipeline, run_case);
}

#[test]
fn empty_inputs_are_clear_errors() {
    let pipe = pipeline("bert-qa");
    let options = QuestionAnsweringOptions::default();
    let context = "John Smith lives in London with his family.";
    assert_invalid_input(
        pipe.answer(&[QaInput::new("", context)], &options),
        "empty question",
        "question",
    );
    assert_invalid_input(
        pipe.answer(&[QaInput::new("  ", context)], &options),
        "blank question",
        "question",
    );
    assert_invalid_input(
        pipe.answer(&[QaInput::new("who?", "")], &options),
        "empty context",
        "context",
    );
    assert_invalid_input(
        pipe.answer(&[QaInput::new("who?", " \n ")], &options),
        "blank context",
        "context",
    );
    assert_invalid_input(
        pipe.answer(
            &[QaInput::new("who?", context), QaInput::new("where?", "")],
            &options,
        ),
        "empty context in a batch",
        "context",
    );
    assert_invalid_input(pipe.answer(&[], &options), "no question", "question");
}

#[test]
fn bad_options_are_clear_errors() {
    let pipe = pipeline("bert-qa");
    let input = [QaInput::new(
        "where does john live?",
        "John Smith lives in London with his family. He works for Google as a software engineer.",
    )];
    let cases = [
        (
            "top_k 0",
            QuestionAnsweringOptions {
                top_k: 0,
                ..Default::default()
            },
        ),
        (
            "max_answer_len 0",
            QuestionAnsweringOptions {
                max_answer_len: 0,
                ..Default::default()
            },
        ),
        (
            "batch_size 0",
            QuestionAnsweringOptions {
                batch_size: 0,
                ..Default::default()
            },
        ),
        (
            "doc_stride > max_seq_len",
            QuestionAnsweringOptions {
                doc_stride: Some(40),
                max_seq_len: Some(32),
                ..Default::default()
            },
        ),
        (
            "doc_stride as large as a window's context",
            QuestionAnsweringOptions {
                doc_stride: Some(20),
                max_seq_len: Some(24),
                ..Default::default()
            },
        ),
        (
            "max_seq_len 1",
            QuestionAnsweringOptions {
                doc_stride: Some(0),
                max_seq_len: Some(1),
                ..Default::default()
            },
        ),
    ];
    for (what, options) in cases {
        match pipe.answer(&input, &options) {
            Err(TaskError::InvalidOption { .. }) => {}
            other => panic!("{what}: expected TaskError::InvalidOption, got {other:?}"),
        }
    }
    // A question that leaves no room for the context is the input's fault.
    let options = QuestionAnsweringOptions {
        max_seq_len: Some(8),
        doc_stride: Some(2),
        ..Default::default()
    };
    assert_invalid_input(
        pipe.answer(&input, &options),
        "question longer than the window",
        "question",
    );
}

/// More `transformers` 4.57.6 outputs on the same fixtures, for options the fixture goldens do not
/// cover: `align_to_words=False`, a one-element list input (a bare dict), a tiny context, `top_k=40` (answers merged by text), several windows with `handle_impossible_answer`, and a list input. Made with
/// `pipeline(task, model=dir, tokenizer=dir, device="cpu", dtype=torch.float32)(inputs, **kwargs)`,
/// scores written as the shortest decimal of their float32, one case per line.
const HF_REFERENCES: &str = r###"{"fixture": "bert-qa", "inputs": {"question": "where does john live?", "context": "John Smith lives in London with his family. He works for Google as a software engineer."}, "kwargs": {"align_to_words": false, "top_k": 5}, "output": [{"score": 0.15294856, "start": 79, "end": 81, "answer": "ng"}, {"score": 0.026481401, "start": 64, "end": 81, "answer": "as a software eng"}, {"score": 0.011665881, "start": 57, "end": 81, "answer": "Google as a software eng"}, {"score": 0.006791721, "start": 53, "end": 81, "answer": "for Google as a software eng"}, {"score": 0.0050647766, "start": 5, "end": 46, "answer": "Smith lives in London with his family. He"}]}
{"fixture": "bert-qa", "inputs": [{"question": "where does john live?", "context": "John Smith lives in London with his family. He works for Google as a software engineer."}], "kwargs": {}, "output": {"score": 0.15626405, "start": 78, "end": 86, "answer": "engineer"}}
{"fixture": "bert-qa", "inputs": {"question": "who?", "context": "John  Smith-Jones, café"}, "kwargs": {"top_k": 4}, "output": [{"score": 0.11142738, "start": 12, "end": 17, "answer": "Jones"}, {"score": 0.03423303, "start": 0, "end": 17, "answer": "John  Smith-Jones"}, {"score": 0.01856928, "start": 12, "end": 23, "answer": "Jones, café"}, {"score": 0.015218303, "start": 6, "end": 17, "answer": "Smith-Jones"}]}
{"fixture": "bert-qa", "inputs": {"question": "where does john live?", "context": "John Smith lives in London with his family. He works for Google as a software engineer."}, "kwargs": {"top_k": 40, "max_answer_len": 3}, "output": [{"score": 0.1595648, "start": 78, "end": 86, "answer": "engineer"}, {"score": 0.0032806657, "start": 5, "end": 19, "answer": "Smith lives in"}, {"score": 0.0007290829, "start": 11, "end": 19, "answer": "lives in"}, {"score": 0.00022721778, "start": 17, "end": 19, "answer": "in"}, {"score": 0.00010291059, "start": 57, "end": 63, "answer": "Google"}, {"score": 5.991318e-05, "start": 53, "end": 63, "answer": "for Google"}, {"score": 3.776293e-05, "start": 69, "end": 86, "answer": "software engineer"}, {"score": 3.391329e-05, "start": 78, "end": 87, "answer": "engineer."}, {"score": 2.8405808e-05, "start": 5, "end": 10, "answer": "Smith"}, {"score": 2.6547352e-05, "start": 47, "end": 52, "answer": "works"}, {"score": 2.4704987e-05, "start": 36, "end": 46, "answer": "family. He"}, {"score": 2.2087721e-05, "start": 36, "end": 43, "answer": "family."}, {"score": 1.8390556e-05, "start": 11, "end": 26, "answer": "lives in London"}, {"score": 1.3012078e-05, "start": 64, "end": 66, "answer": "as"}, {"score": 9.160978e-06, "start": 47, "end": 63, "answer": "works for Google"}, {"score": 8.783374e-06, "start": 27, "end": 42, "answer": "with his family"}, {"score": 7.7117065e-06, "start": 64, "end": 77, "answer": "as a software"}, {"score": 7.377625e-06, "start": 64, "end": 68, "answer": "as a"}, {"score": 7.277161e-06, "start": 42, "end": 43, "answer": "."}, {"score": 5.732225e-06, "start": 57, "end": 66, "answer": "Google as"}, {"score": 5.7313937e-06, "start": 17, "end": 26, "answer": "in London"}, {"score": 4.471893e-06, "start": 42, "end": 46, "answer": ". He"}, {"score": 3.3372255e-06, "start": 53, "end": 66, "answer": "for Google as"}, {"score": 3.2500734e-06, "start": 57, "end": 68, "answer": "Google as a"}, {"score": 1.9685274e-06, "start": 36, "end": 42, "answer": "family"}, {"score": 1.8080203e-06, "start": 5, "end": 16, "answer": "Smith lives"}, {"score": 1.4712633e-06, "start": 32, "end": 43, "answer": "his family."}, {"score": 1.3165611e-06, "start": 69, "end": 77, "answer": "software"}, {"score": 1.1945257e-06, "start": 0, "end": 4, "answer": "John"}, {"score": 1.0517432e-06, "start": 67, "end": 86, "answer": "a software engineer"}, {"score": 1.0473382e-06, "start": 44, "end": 46, "answer": "He"}, {"score": 8.878619e-07, "start": 17, "end": 31, "answer": "in London with"}, {"score": 6.89193e-07, "start": 27, "end": 35, "answer": "with his"}, {"score": 5.9396973e-07, "start": 0, "end": 10, "answer": "John Smith"}, {"score": 5.331452e-07, "start": 67, "end": 77, "answer": "a software"}, {"score": 5.100487e-07, "start": 67, "end": 68, "answer": "a"}, {"score": 4.9881385e-07, "start": 53, "end": 56, "answer": "for"}, {"score": 4.0314535e-07, "start": 20, "end": 26, "answer": "London"}, {"score": 4.018077e-07, "start": 11, "end": 16, "answer": "lives"}, {"score": 3.957179e-07, "start": 47, "end": 56, "answer": "works for"}]}
{"fixture": "bert-qa", "inputs": {"question": "what is famous?", "context": "Paris is the capital of France and one of the most visited cities in the world. Many people come to the city every year to visit its museums, eat its food and walk along the river. London is the capital of England and is known for its long history, its music and its football teams."}, "kwargs": {"max_seq_len": 40, "doc_stride": 10, "top_k": 4, "handle_impossible_answer": true}, "output": [{"score": 0.101100124, "start": 203, "end": 247, "answer": "of England and is known for its long history"}, {"score": 0.07266542, "start": 259, "end": 282, "answer": "and its football teams."}, {"score": 0.05691821, "start": 164, "end": 169, "answer": "along"}, {"score": 0.043424476, "start": 150, "end": 169, "answer": "food and walk along"}]}
{"fixture": "bert-qa", "inputs": {"question": "what is famous?", "context": "Paris is the capital of France and one of the most visited cities in the world. Many people come to the city every year to visit its museums, eat its food and walk along the river. London is the capital of England and is known for its long history, its music and its football teams."}, "kwargs": {"max_seq_len": 32, "doc_stride": 12, "align_to_words": false}, "output": {"score": 0.29618442, "start": 155, "end": 169, "answer": "and walk along"}}
{"fixture": "bert-qa", "inputs": [{"question": "where does john live?", "context": "John Smith lives in London with his family. He works for Google as a software engineer."}, {"question": "what is famous?", "context": "Paris is the capital of France and one of the most visited cities in the world. Many people come to the city every year to visit its museums, eat its food and walk along the river. London is the capital of England and is known for its long history, its music and its football teams."}], "kwargs": {"top_k": 2, "max_seq_len": 40, "doc_stride": 8}, "output": [[{"score": 0.15787986, "start": 78, "end": 86, "answer": "engineer"}, {"score": 0.026481401, "start": 64, "end": 86, "answer": "as a software engineer"}], [{"score": 0.27005804, "start": 155, "end": 169, "answer": "and walk along"}, {"score": 0.16996723, "start": 164, "end": 169, "answer": "along"}]]}
{"fixture": "distilbert-qa", "inputs": {"question": "where does john live?", "context": "John Smith lives in London with his family. He works for Google as a software engineer."}, "kwargs": {"align_to_words": false, "top_k": 5}, "output": [{"score": 0.03571024, "start": 5, "end": 16, "answer": "Smith lives"}, {"score": 0.03404329, "start": 5, "end": 63, "answer": "Smith lives in London with his family. He works for Google"}, {"score": 0.019229412, "start": 80, "end": 84, "answer": "gine"}, {"score": 0.014658662, "start": 82, "end": 84, "answer": "ne"}, {"score": 0.0072537838, "start": 5, "end": 42, "answer": "Smith lives in London with his family"}]}
{"fixture": "distilbert-qa", "inputs": [{"question": "where does john live?", "context": "John Smith lives in London with his family. He works for Google as a software engineer."}], "kwargs": {}, "output": {"score": 0.03571024, "start": 5, "end": 16, "answer": "Smith lives"}}
{"fixture": "distilbert-qa", "inputs": {"question": "who?", "context": "John  Smith-Jones, café"}, "kwargs": {"top_k": 4}, "output": [{"score": 0.32581154, "start": 11, "end": 23, "answer": "-Jones, café"}, {"score": 0.120161004, "start": 19, "end": 23, "answer": "café"}, {"score": 0.09436724, "start": 11, "end": 17, "answer": "-Jones"}, {"score": 0.050621357, "start": 12, "end": 23, "answer": "Jones, café"}]}
{"fixture": "distilbert-qa", "inputs": {"question": "where does john live?", "context": "John Smith lives in London with his family. He works for Google as a software engineer."}, "kwargs": {"top_k": 40, "max_answer_len": 3}, "output": [{"score": 0.03571024, "start": 5, "end": 16, "answer": "Smith lives"}, {"score": 0.017234307, "start": 78, "end": 86, "answer": "engineer"}, {"score": 0.0022437675, "start": 0, "end": 16, "answer": "John Smith lives"}, {"score": 0.00023598343, "start": 5, "end": 10, "answer": "Smith"}, {"score": 0.00021200371, "start": 47, "end": 63, "answer": "works for Google"}, {"score": 0.00019643937, "start": 5, "end": 19, "answer": "Smith lives in"}, {"score": 9.6508425e-05, "start": 57, "end": 63, "answer": "Google"}, {"score": 9.241933e-05, "start": 44, "end": 52, "answer": "He works"}, {"score": 8.728745e-05, "start": 44, "end": 46, "answer": "He"}, {"score": 8.155167e-05, "start": 67, "end": 86, "answer": "a software engineer"}, {"score": 7.6144344e-05, "start": 17, "end": 26, "answer": "in London"}, {"score": 6.9377005e-05, "start": 67, "end": 68, "answer": "a"}, {"score": 6.0560575e-05, "start": 11, "end": 16, "answer": "lives"}, {"score": 6.0071055e-05, "start": 32, "end": 42, "answer": "his family"}, {"score": 3.5184887e-05, "start": 20, "end": 35, "answer": "London with his"}, {"score": 2.8999179e-05, "start": 20, "end": 26, "answer": "London"}, {"score": 2.7829541e-05, "start": 27, "end": 42, "answer": "with his family"}, {"score": 2.7373915e-05, "start": 67, "end": 77, "answer": "a software"}, {"score": 2.2189422e-05, "start": 36, "end": 42, "answer": "family"}, {"score": 1.7202548e-05, "start": 17, "end": 19, "answer": "in"}, {"score": 1.4827454e-05, "start": 0, "end": 10, "answer": "John Smith"}, {"score": 1.3623121e-05, "start": 69, "end": 86, "answer": "software engineer"}, {"score": 1.2823674e-05, "start": 53, "end": 63, "answer": "for Google"}, {"score": 1.0497509e-05, "start": 32, "end": 43, "answer": "his family."}, {"score": 8.7366425e-06, "start": 32, "end": 35, "answer": "his"}, {"score": 7.5882454e-06, "start": 47, "end": 52, "answer": "works"}, {"score": 7.536656e-06, "start": 78, "end": 87, "answer": "engineer."}, {"score": 7.035456e-06, "start": 17, "end": 31, "answer": "in London with"}, {"score": 4.0474856e-06, "start": 27, "end": 35, "answer": "with his"}, {"score": 3.8776357e-06, "start": 36, "end": 43, "answer": "family."}, {"score": 3.199612e-06, "start": 47, "end": 56, "answer": "works for"}, {"score": 2.6794166e-06, "start": 20, "end": 31, "answer": "London with"}, {"score": 2.1630808e-06, "start": 42, "end": 43, "answer": "."}, {"score": 1.7593762e-06, "start": 36, "end": 46, "answer": "family. He"}, {"score": 1.4745877e-06, "start": 11, "end": 26, "answer": "lives in London"}, {"score": 9.138258e-07, "start": 42, "end": 46, "answer": ". He"}, {"score": 3.7520522e-07, "start": 0, "end": 4, "answer": "John"}, {"score": 3.331392e-07, "start": 11, "end": 19, "answer": "lives in"}, {"score": 3.082261e-07, "start": 27, "end": 31, "answer": "with"}, {"score": 2.5304345e-07, "start": 57, "end": 68, "answer": "Google as a"}]}
{"fixture": "distilbert-qa", "inputs": {"question": "what is famous?", "context": "Paris is the capital of France and one of the most visited cities in the world. Many people come to the city every year to visit its museums, eat its food and walk along the river. London is the capital of England and is known for its long history, its music and its football teams."}, "kwargs": {"max_seq_len": 40, "doc_stride": 10, "top_k": 4, "handle_impossible_answer": true}, "output": [{"score": 0.13786657, "start": 170, "end": 205, "answer": "the river. London is the capital of"}, {"score": 0.08164956, "start": 243, "end": 247, "answer": "tory"}, {"score": 0.050939534, "start": 73, "end": 79, "answer": "world."}, {"score": 0.048916414, "start": 243, "end": 275, "answer": "tory, its music and its football"}]}
{"fixture": "distilbert-qa", "inputs": {"question": "what is famous?", "context": "Paris is the capital of France and one of the most visited cities in the world. Many people come to the city every year to visit its museums, eat its food and walk along the river. London is the capital of England and is known for its long history, its music and its football teams."}, "kwargs": {"max_seq_len": 32, "doc_stride": 12, "align_to_words": false}, "output": {"score": 0.131877, "start": 100, "end": 122, "answer": "the city every year to"}}
{"fixture": "distilbert-qa", "inputs": [{"question": "where does john live?", "context": "John Smith lives in London with his family. He works for Google as a software engineer."}, {"question": "what is famous?", "context": "Paris is the capital of France and one of the most visited cities in the world. Many people come to the city every year to visit its museums, eat its food and walk along the river. London is the capital of England and is known for its long history, its music and its football teams."}], "kwargs": {"top_k": 2, "max_seq_len": 40, "doc_stride": 8}, "output": [[{"score": 0.03571024, "start": 5, "end": 16, "answer": "Smith lives"}, {"score": 0.03548729, "start": 78, "end": 86, "answer": "engineer"}], [{"score": 0.116540395, "start": 195, "end": 205, "answer": "capital of"}, {"score": 0.032746863, "start": 164, "end": 205, "answer": "along the river. London is the capital of"}]]}
"###;

#[test]
fn more_hf_reference_outputs() {
    check_hf_references(HF_REFERENCES, pipeline, run_case);
}
