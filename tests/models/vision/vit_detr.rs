//! Vision: image decoding, PIL-exact resizing, image processors, ViT / DETR parity and the
//! image pipelines, against the goldens of tests/fixtures/generate_vision.py.

use burn_tasks::TaskError;
use burn_tasks::input::{RgbImage, load_image, load_image_bytes};
use burn_tasks::processors::ImageProcessor;
use burn_tasks::processors::resample::{Resample, resize};
use integration_tests::*;
use serde_json::Value;

fn images_golden() -> Value {
    let path = fixture("images.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn image_path(name: &str) -> std::path::PathBuf {
    fixture("images").join(name)
}

fn golden_rgb(case: &Value) -> Vec<u8> {
    case["rgb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect()
}

fn ints(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn images_decode_upright_in_rgb_as_pil() {
    let golden = images_golden();
    for case in golden["images"].as_array().unwrap() {
        let name = case["file"].as_str().unwrap();
        let image = load_image(&image_path(name)).unwrap();
        let shape = ints(&case["shape"]);
        assert_eq!(
            [image.height, image.width, 3],
            shape.as_slice(),
            "{name}: shape (EXIF orientation applied?)"
        );
        let expected = golden_rgb(case);
        let diffs: Vec<u8> = image
            .data
            .iter()
            .zip(&expected)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let worst = diffs.iter().copied().max().unwrap();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        if name.ends_with(".jpg") {
            // libjpeg (PIL) and the Rust decoder upsample chroma and round differently: a
            // level or so on average, more at sharp colour edges of this noisy test image.
            assert!(
                mean <= 1.5 && worst <= 16,
                "{name}: mean diff {mean}, max {worst}"
            );
        } else {
            assert_eq!(worst, 0, "{name}: lossless formats decode exactly as PIL");
        }
        // Bytes decode the same as the path.
        let bytes = std::fs::read(image_path(name)).unwrap();
        assert_eq!(
            load_image_bytes(&bytes).unwrap(),
            image,
            "{name} from bytes"
        );
    }
}

#[test]
fn resize_matches_pil_with_every_filter() {
    let golden = images_golden();
    for case in golden["resize"].as_array().unwrap() {
        let name = case["file"].as_str().unwrap();
        let (width, height) = (
            case["width"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
        );
        let filter = Resample::from_pil(case["resample"].as_u64().unwrap()).unwrap();
        let image = load_image(&image_path(name)).unwrap();
        let resized = resize(&image, width, height, filter).unwrap();
        let expected = golden_rgb(case);
        let differing = resized
            .data
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing, 0,
            "{name} -> {width}x{height} with {filter:?}: {differing} values differ from PIL"
        );
    }
}

#[test]
fn corrupt_truncated_and_missing_images_are_clear_errors() {
    let png = std::fs::read(image_path("rgb.png")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated PNG",
            png[..png.len() / 2].to_vec(),
            "cannot decode image",
        ),
        ("empty file", Vec::new(), "empty"),
        (
            "not an image",
            b"hello, this is text".to_vec(),
            "not a PNG, JPEG, WebP or BMP",
        ),
        (
            "corrupt PNG body",
            {
                let mut bytes = png.clone();
                for b in &mut bytes[60..200] {
                    *b ^= 0x5a;
                }
                bytes
            },
            "cannot decode image",
        ),
    ];
    for (what, bytes, mentions) in cases {
        assert_invalid_input(load_image_bytes(&bytes), what, mentions);
    }
    let jpeg = std::fs::read(image_path("photo.jpg")).unwrap();
    // Bytes appended after the end-of-image marker (as some cameras write) are fine.
    let mut padded = jpeg.clone();
    padded.extend(std::iter::repeat_n(0x42u8, 200));
    assert_eq!(
        load_image_bytes(&padded).unwrap(),
        load_image_bytes(&jpeg).unwrap()
    );
    assert_invalid_input(
        load_image_bytes(&jpeg[..jpeg.len() / 3]),
        "truncated JPEG",
        "cannot decode image",
    );
    assert_invalid_input(
        load_image(&image_path("missing.png")),
        "missing file",
        "missing.png",
    );
}

#[test]
fn raw_rgb_images_are_checked() {
    assert!(matches!(
        RgbImage::new(2, 2, vec![0; 11]),
        Err(TaskError::InvalidInput(_))
    ));
    assert!(matches!(
        RgbImage::new(0, 2, vec![]),
        Err(TaskError::InvalidInput(_))
    ));
}

/// Processor goldens of a fixture: `pixel_values` (and `pixel_mask`) for each case.
fn check_processor(name: &str) {
    let processor =
        ImageProcessor::from_file(&fixture(name).join("preprocessor_config.json")).unwrap();
    let golden = golden(name);
    let cases = golden["processor"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let files: Vec<&str> = case["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let images: Vec<RgbImage> = files
            .iter()
            .map(|f| load_image(&image_path(f)).unwrap())
            .collect();
        let batch = processor.process(&images).unwrap();
        let shape = [batch.batch, 3, batch.height, batch.width];
        if let Some(expected) = case.get("pixel_values_shape") {
            assert_eq!(shape.as_slice(), ints(expected), "{name} {files:?} shape");
        }
        if let Some(expected) = case.get("pixel_values") {
            assert_close(
                &format!("{name} {files:?} pixel_values"),
                &shape,
                &batch.pixel_values,
                expected,
            );
        }
        if case.get("pixel_mask").is_some() {
            let mask: Vec<f32> = batch
                .pixel_mask
                .unwrap()
                .iter()
                .map(|&v| v as f32)
                .collect();
            assert_close(
                &format!("{name} {files:?} pixel_mask"),
                &[batch.batch, batch.height, batch.width],
                &mask,
                &case["pixel_mask"],
            );
        }
    }
}

#[test]
fn vit_processor_matches_transformers() {
    check_processor("vit-imgcls");
}

fn model_dir(name: &str) -> burn_models::hub::ModelDir {
    burn_models::hub::ModelDir::local(&fixture(name)).expect("fixture dir")
}

fn golden_pixels(value: &Value) -> burn::tensor::Tensor<4> {
    let (shape, data) = golden_tensor(value);
    let shape: [usize; 4] = shape.try_into().expect("4-d pixel values");
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(data, shape), &device())
}

#[test]
fn vit_logits_match_transformers() {
    let name = "vit-imgcls";
    let model = burn_models::vision::load_vit_classifier(&model_dir(name), &device()).unwrap();
    let golden = golden(name);
    for case in golden["model"].as_array().unwrap() {
        let what = format!("{name}/{}", case["name"]);
        let pixels = golden_pixels(&case["pixel_values"]);
        let interpolate = case["interpolate_pos_encoding"].as_bool().unwrap();
        let (shape, logits) = to_vec(model.forward(pixels.clone(), interpolate).unwrap());
        assert_close(&format!("{what} logits"), &shape, &logits, &case["logits"]);
        if let Some(expected) = case.get("last_hidden_state") {
            let (shape, hidden) = to_vec(model.vit.forward(pixels, interpolate).unwrap());
            assert_close(
                &format!("{what} last_hidden_state"),
                &shape,
                &hidden,
                expected,
            );
        }
    }
    // The bare ViTModel loads from the same checkpoint through the `vit.` prefix.
    let bare = burn_models::vision::load_vit(&model_dir(name), &device()).unwrap();
    let case = &golden["model"][0];
    let (shape, hidden) = to_vec(
        bare.forward(golden_pixels(&case["pixel_values"]), false)
            .unwrap(),
    );
    assert_close("bare ViTModel", &shape, &hidden, &case["last_hidden_state"]);
}

#[test]
fn vit_rejects_wrong_image_sizes_and_channels() {
    let model =
        burn_models::vision::load_vit_classifier(&model_dir("vit-imgcls"), &device()).unwrap();
    let zeros = |shape: [usize; 4]| burn::tensor::Tensor::<4>::zeros(shape, &device());
    for (shape, interpolate, mentions) in [
        ([1, 3, 48, 40], false, "doesn't match model"),
        ([1, 1, 32, 32], false, "channels"),
        ([1, 3, 4, 40], true, "smaller than one"),
    ] {
        match model.forward(zeros(shape), interpolate) {
            Err(burn_models::ModelError::InvalidInput(message)) => {
                assert!(message.contains(mentions), "{shape:?}: {message}")
            }
            other => panic!("{shape:?}: expected an InvalidInput error, got {other:?}"),
        }
    }
}

/// Runs a golden pipeline case through `pipeline(task)`, with image paths made absolute.
fn run_dynamic(pipe: &burn_tasks::Pipeline, case: &Value) -> Result<Value, String> {
    let absolute = |v: &Value| Value::String(image_path(v.as_str().unwrap()).display().to_string());
    let inputs = match &case["inputs"] {
        Value::Array(items) => Value::Array(items.iter().map(absolute).collect()),
        single => absolute(single),
    };
    pipe.call(&inputs, &case["kwargs"])
        .map_err(|e| e.to_string())
}

fn load_pipeline(task: &'static str) -> impl Fn(&str) -> burn_tasks::Pipeline {
    move |name| json_pipeline(task, name)
}

#[test]
fn image_classification_pipeline_matches_transformers() {
    check_pipeline_goldens(
        &["vit-imgcls"],
        &["image-classification"],
        load_pipeline("image-classification"),
        run_dynamic,
    );
}

#[test]
fn image_classification_errors_are_clear() {
    let pipe = load_pipeline("image-classification")("vit-imgcls");
    let path = image_path("rgb.png").display().to_string();
    for (inputs, kwargs, mentions) in [
        (
            serde_json::json!(path),
            serde_json::json!({"top_k": "x"}),
            "top_k",
        ),
        (
            serde_json::json!(path),
            serde_json::json!({"function_to_apply": "max"}),
            "function_to_apply",
        ),
        (
            serde_json::json!(path),
            serde_json::json!({"threshold": 0.5}),
            "no option `threshold`",
        ),
        (serde_json::json!(42), serde_json::json!({}), "file path"),
        (serde_json::json!([]), serde_json::json!({}), "empty list"),
        (
            serde_json::json!("https://example.com/cat.png"),
            serde_json::json!({}),
            "not downloaded",
        ),
        (
            serde_json::json!(fixture("images.json").display().to_string()),
            serde_json::json!({}),
            "cannot decode image",
        ),
    ] {
        let error = pipe.call(&inputs, &kwargs).unwrap_err().to_string();
        assert!(
            error.contains(mentions),
            "{inputs} {kwargs}: `{error}` does not mention {mentions}"
        );
    }
}

#[test]
fn detr_processor_matches_transformers() {
    check_processor("detr-objdet");
}

/// DETR's outputs on the golden images, processed by our processor (checked above).
fn check_detr(name: &str, golden_name: &str) {
    let model = burn_models::vision::load_detr(&model_dir(name), &device()).unwrap();
    let processor =
        ImageProcessor::from_file(&fixture(name).join("preprocessor_config.json")).unwrap();
    let golden = golden(golden_name);
    let cases = golden["model"].as_array().unwrap();
    let cases = if name == golden_name {
        &cases[..]
    } else {
        &cases[..1]
    };
    for case in cases {
        let what = format!("{name}/{}", case["name"]);
        let images: Vec<RgbImage> = case["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| load_image(&image_path(f.as_str().unwrap())).unwrap())
            .collect();
        let batch = processor.process(&images).unwrap();
        assert_eq!(
            [batch.batch, 3, batch.height, batch.width].as_slice(),
            ints(&case["pixel_values_shape"])
        );
        let out = model
            .forward(batch.pixel_values(&device()), batch.pixel_mask(&device()))
            .unwrap();
        for (key, tensor) in [
            (
                "encoder_last_hidden_state",
                out.model.encoder_last_hidden_state,
            ),
            ("last_hidden_state", out.model.last_hidden_state),
            ("logits", out.logits),
            ("pred_boxes", out.pred_boxes),
        ] {
            let (shape, values) = to_vec(tensor);
            assert_close(&format!("{what} {key}"), &shape, &values, &case[key]);
        }
    }
}

#[test]
fn detr_outputs_match_transformers() {
    check_detr("detr-objdet", "detr-objdet");
}

#[test]
fn detr_loads_timm_backbone_names() {
    // Same weights as detr-objdet under timm's ResNet names (`use_timm_backbone: true`).
    check_detr("detr-timm", "detr-objdet");
}

#[test]
fn object_detection_pipeline_matches_transformers() {
    check_pipeline_goldens(
        &["detr-objdet"],
        &["object-detection"],
        load_pipeline("object-detection"),
        run_dynamic,
    );
}

#[test]
fn object_detection_errors_are_clear() {
    let pipe = load_pipeline("object-detection")("detr-objdet");
    let path = image_path("rgb.png").display().to_string();
    for (inputs, kwargs, mentions) in [
        (
            serde_json::json!(path),
            serde_json::json!({"threshold": "high"}),
            "threshold",
        ),
        (
            serde_json::json!(path),
            serde_json::json!({"top_k": 3}),
            "no option `top_k`",
        ),
        (
            serde_json::json!([path, 7]),
            serde_json::json!({}),
            "file path",
        ),
    ] {
        let error = pipe.call(&inputs, &kwargs).unwrap_err().to_string();
        assert!(
            error.contains(mentions),
            "{inputs} {kwargs}: `{error}` does not mention {mentions}"
        );
    }
    // Smaller than the backbone's total stride after resizing is impossible with this
    // processor, but a model given raw tiny pixels says so.
    let model = burn_models::vision::load_detr(&model_dir("detr-objdet"), &device()).unwrap();
    let tiny = burn::tensor::Tensor::<4>::zeros([1, 3, 8, 8], &device());
    let mask = burn::tensor::Tensor::<3, burn::tensor::Int>::ones([1, 8, 8], &device());
    assert!(matches!(
        model.forward(tiny, mask),
        Err(burn_models::ModelError::InvalidInput(_))
    ));
}

#[test]
fn image_classification_takes_paths_bytes_and_decoded_images_alike() {
    use burn_tasks::input::ImageInput;
    use burn_tasks::pipelines::ImageClassificationPipeline;
    use burn_tasks::pipelines::image_classification::ImageClassificationOptions;
    let pipeline: ImageClassificationPipeline = typed_pipeline("vit-imgcls");
    let path = image_path("rotated.png");
    let inputs = [
        ImageInput::Path(path.clone()),
        ImageInput::Bytes(std::fs::read(&path).unwrap()),
        ImageInput::Decoded(load_image(&path).unwrap()),
    ];
    let options = ImageClassificationOptions {
        top_k: 7,
        ..Default::default()
    };
    let results = pipeline.classify(&inputs, &options).unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].len(), 7);
    // The same pixels: the same labels, and scores equal up to rounding (rows at different
    // places of one batched product may be summed in another order).
    for other in &results[1..] {
        for (a, b) in results[0].iter().zip(other) {
            assert_eq!(a.label, b.label);
            assert!((a.score - b.score).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }
}
