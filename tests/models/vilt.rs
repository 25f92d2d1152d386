//! ViLT against transformers: the ViltImageProcessor's pixels and mask, the VQA logits on a
//! padded batch of images of different sizes, and the visual-question-answering pipeline.

use burn::tensor::{Int, Tensor, TensorData};
use burn_models::auto::load_visual_question_answerer;
use burn_models::heads::EncoderInput;
use burn_models::hub::ModelDir;
use burn_tasks::input::load_image;
use burn_tasks::pipeline;
use burn_tasks::pipelines::visual_question_answering::{
    VisualQuestionAnsweringOptions, VisualQuestionAnsweringPipeline, VqaInput,
};
use burn_tasks::processors::ImageProcessor;
use integration_tests::*;
use serde_json::Value;

const FIXTURE: &str = "vilt-vqa";

fn image_path(name: &str) -> String {
    fixture("images").join(name).to_string_lossy().into_owned()
}

fn processor() -> ImageProcessor {
    ImageProcessor::from_file(&fixture(FIXTURE).join("preprocessor_config.json")).unwrap()
}

fn pixels(files: &Value) -> burn_tasks::processors::PixelBatch {
    let images: Vec<_> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| load_image(image_path(f.as_str().unwrap()).as_ref()).unwrap())
        .collect();
    processor().process(&images).unwrap()
}

#[test]
fn processor_resizes_pads_and_masks_as_transformers() {
    for case in golden(FIXTURE)["processor"].as_array().unwrap() {
        let batch = pixels(&case["images"]);
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(
            shape,
            [batch.batch, 3, batch.height, batch.width],
            "{}",
            case["images"]
        );
        let mask: Vec<i64> = case["pixel_mask"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(
            batch.pixel_mask.as_ref().unwrap(),
            &mask,
            "pixel_mask of {}",
            case["images"]
        );
        let plane = batch.height * batch.width;
        for (i, (ours, byte)) in batch
            .pixel_values
            .iter()
            .zip(case["pixel_bytes"].as_array().unwrap())
            .enumerate()
        {
            let expected = if mask[(i / (3 * plane)) * plane + i % plane] == 1 {
                (byte.as_f64().unwrap() as f32 / 255.0 - 0.5) / 0.5
            } else {
                0.0
            };
            assert!(
                (ours - expected).abs() < 1e-5,
                "pixel {i}: {ours} vs {expected}"
            );
        }
    }
}

#[test]
fn vqa_logits_match_transformers_on_padded_batches() {
    let dir = ModelDir::local(&fixture(FIXTURE)).unwrap();
    let model = load_visual_question_answerer(&dir, &device()).unwrap();
    let device = device();
    for case in golden(FIXTURE)["model"].as_array().unwrap() {
        let types = int_rows(&case["token_type_ids"]);
        let text = EncoderInput::new(
            &int_rows(&case["input_ids"]),
            &int_rows(&case["attention_mask"]),
            Some(&types),
            &device,
        )
        .unwrap();
        let batch = pixels(&case["images"]);
        let logits = model
            .logits(
                &text,
                batch.pixel_values(&device),
                batch.pixel_mask(&device),
            )
            .unwrap();
        let (shape, data) = to_vec(logits);
        assert_close(
            &format!("vilt-vqa/{} logits", case["name"]),
            &shape,
            &data,
            &case["logits"],
        );
    }
}

/// The goldens name images relative to tests/fixtures/images.
fn with_paths(inputs: &Value) -> Value {
    match inputs {
        Value::Array(items) => Value::Array(items.iter().map(with_paths).collect()),
        Value::Object(map) => {
            let mut map = map.clone();
            if let Some(Value::String(name)) = map.get("image") {
                map.insert("image".into(), image_path(name).into());
            }
            Value::Object(map)
        }
        other => other.clone(),
    }
}

#[test]
fn visual_question_answering_matches_the_hf_pipeline() {
    check_pipeline_goldens(
        &[FIXTURE],
        &["visual-question-answering"],
        |name| {
            pipeline("visual-question-answering")
                .unwrap()
                .model(fixture(name).to_string_lossy())
                .device(device())
                .build()
                .unwrap()
        },
        |pipe, case| {
            pipe.call(&with_paths(&case["inputs"]), &case["kwargs"])
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn bad_vqa_inputs_are_clear_errors() {
    let pipe = typed_pipeline::<VisualQuestionAnsweringPipeline>(FIXTURE);
    let options = VisualQuestionAnsweringOptions::default();
    let image = image_path("rgb.png");
    assert_invalid_input(
        pipe.answer(&[VqaInput::new(image.as_str(), " ")], &options),
        "empty question",
        "question",
    );
    let long = "what ".repeat(60);
    let err = pipe
        .answer(&[VqaInput::new(image.as_str(), long)], &options)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("longer than the model's maximum of 40"),
        "{err}"
    );
    let corrupt = std::env::temp_dir().join("burn-tasks-vilt-corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    assert_invalid_input(
        pipe.answer(&[VqaInput::new(corrupt.clone(), "what?")], &options),
        "corrupt image",
        "cannot decode",
    );
    // A mask without any image patch cannot be answered.
    let dir = ModelDir::local(&fixture(FIXTURE)).unwrap();
    let model = load_visual_question_answerer(&dir, &device()).unwrap();
    let text = EncoderInput::new(&[vec![2, 3]], &[vec![1, 1]], None, &device()).unwrap();
    let empty_mask: Tensor<3, Int> =
        Tensor::from_data(TensorData::new(vec![0i64; 64 * 64], [1, 64, 64]), &device());
    let err = model
        .logits(&text, Tensor::zeros([1, 3, 64, 64], &device()), empty_mask)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no unmasked patch"), "{err}");
}
