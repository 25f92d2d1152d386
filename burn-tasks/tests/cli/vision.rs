//! The vision subcommands of the `burn-tasks` command line against the pipeline goldens.

use super::common::*;

#[test]
fn image_classification_command() {
    let model = fixtures().join("vit-imgcls").display().to_string();
    let out = json(&run(&[
        "image-classification",
        "--model",
        &model,
        "--top-k",
        "2",
        &image("gray.png"),
    ]));
    let hf = golden_output(
        "vit-imgcls",
        &"gray.png".into(),
        &serde_json::json!({"top_k": 2}),
    );
    assert_json_close("output", &out, &hf);
}

#[test]
fn object_detection_command() {
    let model = fixtures().join("detr-objdet").display().to_string();
    let out = json(&run(&[
        "object-detection",
        "--model",
        &model,
        "--threshold",
        "0.3",
        &image("image.bmp"),
        &image("rgb.png"),
    ]));
    let hf = golden_output(
        "detr-objdet",
        &serde_json::json!(["image.bmp", "rgb.png"]),
        &serde_json::json!({"threshold": 0.3}),
    );
    assert_json_close("output", &out, &hf);
}

#[test]
fn unreadable_image_fails_cleanly() {
    let model = fixtures().join("vit-imgcls").display().to_string();
    let not_an_image = fixtures().join("images.json").display().to_string();
    let output = run(&["image-classification", "--model", &model, &not_an_image]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot decode image"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
