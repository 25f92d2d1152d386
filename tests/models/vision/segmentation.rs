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

/// `DetrForSegmentation` of fixture `name` on the model cases of `golden_name`'s goldens.
fn check_model(name: &str, golden_name: &str) {
    let model = burn_models::vision::load_detr_segmentation(&model_dir(name), &device()).unwrap();
    let processor =
        ImageProcessor::from_file(&fixture(name).join("preprocessor_config.json")).unwrap();
    let golden = golden(golden_name);
    let cases = golden["model"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let what = format!("{name}/{}", case["name"]);
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
        let (_, expected) = golden_tensor(&case["pred_masks"]);
        let worst = test_support::max_abs_diff(&values, &expected).0;
        // generate_seg.py's knife-edge margins assume mask logits within 5e-5.
        eprintln!("{what} pred_masks: max abs diff {worst:e}");
        assert_close(
            &format!("{what} pred_masks"),
            &shape,
            &values,
            &case["pred_masks"],
        );
    }
}

#[test]
fn detr_segmentation_outputs_match_transformers() {
    assert!(golden(FIXTURE)["model"].as_array().unwrap().len() >= 2);
    check_model(FIXTURE, FIXTURE);
}

#[test]
fn detr_segmentation_loads_timm_backbone_names() {
    // Same weights under timm's ResNet names (`use_timm_backbone: true`, default out_indices),
    // as facebook/detr-resnet-50-panoptic stores them.
    let timm = golden("detr-panoptic-timm");
    assert_eq!(timm["same_as"], FIXTURE);
    check_model("detr-panoptic-timm", "detr-panoptic-timm");
}

fn load_pipeline(name: &str) -> burn_tasks::Pipeline {
    burn_tasks::pipeline("image-segmentation")
        .unwrap()
        .model(fixture(name).display().to_string())
        .device(device())
        .build()
        .unwrap()
}

fn absolute_inputs(inputs: &Value) -> Value {
    let absolute = |v: &Value| Value::String(image_path(v.as_str().unwrap()).display().to_string());
    match inputs {
        Value::Array(items) => Value::Array(items.iter().map(absolute).collect()),
        single => absolute(single),
    }
}

/// Runs a golden case through `pipeline("image-segmentation")`, masks written as PNGs into a
/// temp dir and read back.
fn run_dynamic(pipe: &burn_tasks::Pipeline, case: &Value) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut kwargs = case["kwargs"].clone();
    kwargs["masks_dir"] = dir.path().display().to_string().into();
    let mut output = pipe
        .call(&absolute_inputs(&case["inputs"]), &kwargs)
        .map_err(|e| e.to_string())?;
    masks_to_json(&mut output);
    Ok(output)
}

#[test]
fn image_segmentation_pipeline_matches_transformers() {
    let cases = golden_cases(FIXTURE, &["image-segmentation"]);
    // The goldens cover every subtask, the default one, the default thresholds and batches of
    // images of different sizes, with some segments.
    for subtask in ["panoptic", "instance", "semantic"] {
        assert!(
            cases.iter().any(|c| c["kwargs"]["subtask"] == subtask),
            "{subtask}"
        );
    }
    assert!(cases.iter().any(|c| c["kwargs"] == json!({})));
    assert!(cases.iter().any(|c| c["inputs"].is_array()));
    let segments = |c: &Value| c["output"].to_string().matches("\"rle\"").count();
    assert!(cases.iter().map(segments).sum::<usize>() >= 10);
    check_pipeline_goldens(
        &[FIXTURE],
        &["image-segmentation"],
        load_pipeline,
        run_dynamic,
    );
}

#[test]
fn image_segmentation_library_api_keeps_masks_in_memory() {
    use burn_tasks::input::ImageInput;
    use burn_tasks::pipelines::ImageSegmentationPipeline;
    use burn_tasks::pipelines::image_segmentation::{ImageSegmentationOptions, Subtask};
    let pipeline: ImageSegmentationPipeline = typed_pipeline(FIXTURE);
    let defaults = ImageSegmentationOptions::default();
    assert_eq!(defaults.subtask, None);
    assert_eq!(
        (
            defaults.threshold,
            defaults.mask_threshold,
            defaults.overlap_mask_area_threshold
        ),
        (0.9, 0.5, 0.5)
    );
    assert_eq!(pipeline.supported_subtasks()[0], Subtask::Panoptic);
    for case in golden_cases(FIXTURE, &["image-segmentation"]) {
        let kwargs = &case["kwargs"];
        let options = ImageSegmentationOptions {
            subtask: kwargs["subtask"].as_str().map(|s| s.parse().unwrap()),
            threshold: kwargs["threshold"].as_f64().unwrap_or(0.9) as f32,
            mask_threshold: kwargs["mask_threshold"].as_f64().unwrap_or(0.5) as f32,
            overlap_mask_area_threshold: kwargs["overlap_mask_area_threshold"]
                .as_f64()
                .unwrap_or(0.5),
            ..Default::default()
        };
        let (names, expected): (Vec<&str>, Vec<&Value>) = match &case["inputs"] {
            Value::Array(items) => (
                items.iter().map(|v| v.as_str().unwrap()).collect(),
                case["output"].as_array().unwrap().iter().collect(),
            ),
            single => (vec![single.as_str().unwrap()], vec![&case["output"]]),
        };
        let images: Vec<ImageInput> = names
            .iter()
            .map(|n| ImageInput::Path(image_path(n)))
            .collect();
        let results = pipeline.segment(&images, &options).unwrap();
        assert_eq!(results.len(), expected.len());
        for ((name, segments), expected) in names.iter().zip(&results).zip(expected) {
            let ours: Vec<Value> = segments
                .iter()
                .map(|s| {
                    let (w, h) = s.mask.dimensions();
                    json!({
                        "score": s.score,
                        "label": s.label,
                        "mask": mask_json(w as usize, h as usize, s.mask.as_raw()),
                    })
                })
                .collect();
            assert_json_close(&format!("{name} {kwargs}"), &Value::Array(ours), expected);
        }
    }
}

#[test]
fn image_segmentation_errors_are_clear() {
    // A detection checkpoint has no mask head.
    let error = burn_tasks::pipeline("image-segmentation")
        .unwrap()
        .model(fixture("detr-objdet").display().to_string())
        .device(device())
        .build()
        .err()
        .expect("detr-objdet has no mask head")
        .to_string();
    assert!(error.contains("mask head"), "{error}");
    assert!(error.contains("DetrForObjectDetection"), "{error}");
    // A classifier is no segmenter.
    let error = burn_tasks::pipeline("image-segmentation")
        .unwrap()
        .model(fixture("vit-imgcls").display().to_string())
        .device(device())
        .build()
        .err()
        .expect("ViT has no segmentation head")
        .to_string();
    assert!(error.contains("DetrImageProcessor"), "{error}");

    let pipe = load_pipeline(FIXTURE);
    let path = image_path("rgb.png").display().to_string();
    for (inputs, kwargs, mentions) in [
        (json!(path), json!({"subtask": "depth"}), "subtask"),
        (json!(path), json!({"subtask": 3}), "subtask"),
        (json!(path), json!({"threshold": "high"}), "threshold"),
        (
            json!(path),
            json!({"mask_threshold": null}),
            "mask_threshold",
        ),
        (json!(path), json!({"top_k": 3}), "no option `top_k`"),
        (json!(path), json!({"batch_size": 0}), "batch_size"),
        (json!([path, 7]), json!({}), "file path"),
        (json!([]), json!({}), "empty list"),
        (
            json!(fixture("images.json").display().to_string()),
            json!({}),
            "cannot decode image",
        ),
    ] {
        let error = pipe.call(&inputs, &kwargs).unwrap_err().to_string();
        assert!(
            error.contains(mentions),
            "{inputs} {kwargs}: `{error}` does not mention {mentions}"
        );
    }
    // So does the model loader, with its own error.
    let objdet = burn_models::vision::load_detr_segmentation(&model_dir("detr-objdet"), &device());
    assert!(matches!(
        objdet,
        Err(burn_models::ModelError::Unsupported(_))
    ));
}
