//! `burn-tasks image-segmentation` against the pipeline goldens of detr-panoptic: JSON on
//! stdout with mask PNG paths, the PNGs 0/255 at the original size with HF's pixels.

use serde_json::{Value, json};

use super::common::*;

/// Our segments (mask = PNG path) against HF's (mask = its encoding).
fn assert_segments(ours: &Value, hf: &Value, dir: &std::path::Path) {
    let (ours, hf) = (ours.as_array().unwrap(), hf.as_array().unwrap());
    assert_eq!(ours.len(), hf.len(), "{ours:?} vs {hf:?}");
    for (o, h) in ours.iter().zip(hf) {
        assert_eq!(o["label"], h["label"]);
        match (o["score"].as_f64(), h["score"].as_f64()) {
            (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-4, "{a} vs {b}"),
            (a, b) => assert_eq!(a, b),
        }
        let path = o["mask"].as_str().unwrap();
        assert!(path.starts_with(&dir.display().to_string()), "{path}");
        assert_eq!(png_json(path), h["mask"], "{path}");
    }
}

#[test]
fn image_segmentation_command_writes_hf_masks() {
    let model = fixtures().join("detr-panoptic").display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let masks = dir.path().join("masks");
    let out = json(&run(&[
        "image-segmentation",
        "--model",
        &model,
        "--threshold",
        "0.3",
        "--mask-threshold",
        "0.3",
        "--masks-dir",
        &masks.display().to_string(),
        &image("rgb.png"),
        &image("image.bmp"),
    ]));
    let hf = golden_output(
        "detr-panoptic",
        &json!(["rgb.png", "image.bmp"]),
        &json!({"threshold": 0.3, "mask_threshold": 0.3}),
    );
    let (ours, hf) = (out.as_array().unwrap(), hf.as_array().unwrap());
    assert_eq!(ours.len(), 2);
    for (o, h) in ours.iter().zip(hf) {
        assert_segments(o, h, &masks);
    }

    // One image: a flat list; semantic: null scores; masks in a fresh temp dir by default.
    let out = json(&run(&[
        "image-segmentation",
        "--model",
        &model,
        "--subtask",
        "semantic",
        &image("image.bmp"),
    ]));
    let hf = golden_output(
        "detr-panoptic",
        &json!("image.bmp"),
        &json!({"subtask": "semantic"}),
    );
    let first = out[0]["mask"].as_str().expect("a mask path");
    let default_dir = std::path::Path::new(first).parent().unwrap().to_path_buf();
    assert_segments(&out, &hf, &default_dir);
    std::fs::remove_dir_all(default_dir).unwrap();
}

#[test]
fn image_segmentation_command_rejects_bad_options() {
    let model = fixtures().join("detr-panoptic").display().to_string();
    let output = run(&[
        "image-segmentation",
        "--model",
        &model,
        "--subtask",
        "depth",
        &image("rgb.png"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("subtask"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let objdet = fixtures().join("detr-objdet").display().to_string();
    let output = run(&["image-segmentation", "--model", &objdet, &image("rgb.png")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mask head"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
