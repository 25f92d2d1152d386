//! Image segmentation: `DetrForSegmentation` parity (logits, boxes, mask logits) and the
//! `image-segmentation` pipeline (panoptic, instance, semantic) against the goldens of
//! tests/fixtures/generate_seg.py.

use burn_tasks::input::{RgbImage, load_image};
use burn_tasks::processors::ImageProcessor;
use integration_tests::*;
use serde_json::{Value, json};

const FIXTURE: &str = "detr-panoptic";

fn image_path(name: &str) -> std::path::PathBuf {
    fixture("images").join(name)
}

fn model_dir(name: &str) -> burn_models::hub::ModelDir {
    burn_models::hub::ModelDir::local(&fixture(name)).expect("fixture dir")
}

#[test]
fn detr_segmentation_outputs_match_transformers() {
    let model =
        burn_models::vision::load_detr_segmentation(&model_dir(FIXTURE), &device()).unwrap();
    let processor =
        ImageProcessor::from_file(&fixture(FIXTURE).join("preprocessor_config.json")).unwrap();
    let golden = golden(FIXTURE);
    let cases = golden["model"].as_array().unwrap();
    assert!(cases.len() >= 2);
    for case in cases {
        let what = format!("{FIXTURE}/{}", case["name"]);
        let images: Vec<RgbImage> = case["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| load_image(&image_path(f.as_str().unwrap())).unwrap())
            .collect();
        let batch = processor.process(&images).unwrap();
        let shape: Vec<u64> = case["pixel_values_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(
            [batch.batch, 3, batch.height, batch.width]
                .map(|v| v as u64)
                .as_slice(),
            shape
        );
        let out = model
            .forward(batch.pixel_values(&device()), batch.pixel_mask(&device()))
            .unwrap();
        let (shape, values) = to_vec(out.logits);
        assert_close(&format!("{what} logits"), &shape, &values, &case["logits"]);
        let (shape, values) = to_vec(out.pred_boxes);
        assert_close(
            &format!("{what} pred_boxes"),
            &shape,
            &values,
            &case["pred_boxes"],
        );
        let (shape, values) = to_vec(out.pred_masks);
        assert_close(
            &format!("{what} pred_masks"),
            &shape,
            &values,
            &case["pred_masks"],
        );
    }
}
