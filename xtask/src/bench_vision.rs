//! DETR workload of `cargo xtask bench`: facebook/detr-resnet-50's architecture (HF's own
//! ResNet-50 backbone, `use_timm_backbone: false`) on one 800x1066 image with a pixel mask of
//! ones; the model forward (class logits and boxes), not the post-processing.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::{Device, Int, Tensor};
use burn_models::hub::ModelDir;
use serde_json::{Value, json};

/// Image height and width of the DETR workload (DetrImageProcessor's 800 shortest edge).
pub const DETR_HEIGHT: usize = 800;
pub const DETR_WIDTH: usize = 1066;

/// facebook/detr-resnet-50's config, its backbone as transformers' `ResNetBackbone`
/// (microsoft/resnet-50's shape) so that both sides load the same HF weight names.
pub fn detr_resnet50() -> Value {
    json!({
        "model_type": "detr", "architectures": ["DetrForObjectDetection"],
        "use_timm_backbone": false, "use_pretrained_backbone": false, "backbone": null,
        "backbone_config": {
            "model_type": "resnet", "num_channels": 3, "embedding_size": 64,
            "hidden_sizes": [256, 512, 1024, 2048], "depths": [3, 4, 6, 3],
            "layer_type": "bottleneck", "hidden_act": "relu",
            "downsample_in_first_stage": false, "downsample_in_bottleneck": false,
            "out_features": ["stage4"]
        },
        "num_channels": 3, "num_queries": 100, "d_model": 256,
        "encoder_layers": 6, "decoder_layers": 6,
        "encoder_attention_heads": 8, "decoder_attention_heads": 8,
        "encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048,
        "activation_function": "relu", "position_embedding_type": "sine",
        "dilation": false, "auxiliary_loss": false, "num_labels": 91
    })
}

use crate::workload::{Shapes, transformer_layer_shapes};

/// HF names and shapes of `DetrForObjectDetection` with an HF ResNet backbone (its batch
/// norms frozen: weight, bias, running mean and variance).
pub fn detr_shapes(config: &Value) -> Result<Shapes> {
    let get = |k: &str| {
        config[k]
            .as_u64()
            .map(|v| v as usize)
            .with_context(|| format!("config.{k}"))
    };
    let resnet = &config["backbone_config"];
    let list = |k: &str| -> Result<Vec<usize>> {
        resnet[k]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_u64().map(|v| v as usize)).collect())
            .with_context(|| format!("config.backbone_config.{k}"))
    };
    let (widths, depths) = (list("hidden_sizes")?, list("depths")?);
    let stem = resnet["embedding_size"]
        .as_u64()
        .context("config.backbone_config.embedding_size")? as usize;
    let mut shapes: Shapes = Vec::new();
    let b = "model.backbone.conv_encoder.model";
    // A bias-free convolution followed by a frozen batch norm.
    let conv_bn = |shapes: &mut Shapes, p: String, i: usize, o: usize, k: usize| {
        shapes.push((format!("{p}.convolution.weight"), vec![o, i, k, k]));
        for n in ["weight", "bias", "running_mean", "running_var"] {
            shapes.push((format!("{p}.normalization.{n}"), vec![o]));
        }
    };
    conv_bn(&mut shapes, format!("{b}.embedder.embedder"), 3, stem, 7);
    let mut d_in = stem;
    for (stage, (&out, &blocks)) in widths.iter().zip(&depths).enumerate() {
        for block in 0..blocks {
            let p = format!("{b}.encoder.stages.{stage}.layers.{block}");
            let reduced = out / 4;
            conv_bn(&mut shapes, format!("{p}.layer.0"), d_in, reduced, 1);
            conv_bn(&mut shapes, format!("{p}.layer.1"), reduced, reduced, 3);
            conv_bn(&mut shapes, format!("{p}.layer.2"), reduced, out, 1);
            // The first block of each stage changes width or stride: a projection shortcut.
            if block == 0 {
                conv_bn(&mut shapes, format!("{p}.shortcut"), d_in, out, 1);
            }
            d_in = out;
        }
    }
    let d = get("d_model")?;
    let linear = |shapes: &mut Shapes, name: String, i: usize, o: usize| {
        shapes.push((format!("{name}.weight"), vec![o, i]));
        shapes.push((format!("{name}.bias"), vec![o]));
    };
    let norm = |shapes: &mut Shapes, name: String| {
        shapes.push((format!("{name}.weight"), vec![d]));
        shapes.push((format!("{name}.bias"), vec![d]));
    };
    shapes.push(("model.input_projection.weight".into(), vec![d, d_in, 1, 1]));
    shapes.push(("model.input_projection.bias".into(), vec![d]));
    shapes.push((
        "model.query_position_embeddings.weight".into(),
        vec![get("num_queries")?, d],
    ));
    for (side, layers, ffn) in [
        ("encoder", get("encoder_layers")?, get("encoder_ffn_dim")?),
        ("decoder", get("decoder_layers")?, get("decoder_ffn_dim")?),
    ] {
        for i in 0..layers {
            let p = format!("model.{side}.layers.{i}");
            transformer_layer_shapes(&mut shapes, &p, side == "decoder", d, ffn, true);
        }
    }
    norm(&mut shapes, "model.decoder.layernorm".into());
    // `num_labels` classes plus "no object".
    linear(
        &mut shapes,
        "class_labels_classifier".into(),
        d,
        get("num_labels")? + 1,
    );
    for (i, o) in [d, d, 4].into_iter().enumerate() {
        linear(&mut shapes, format!("bbox_predictor.layers.{i}"), d, o);
    }
    Ok(shapes)
}

/// One run: `DetrForObjectDetection` forward on one image, reading back logits and boxes.
pub fn detector(dir: &Path, device: &Device) -> Result<Box<dyn Fn() -> Result<()>>> {
    let model = burn_models::vision::load_detr(&ModelDir::local(dir)?, device)?;
    let pixels = crate::workload::bench_pixels(1, DETR_HEIGHT, DETR_WIDTH, device);
    let mask = Tensor::<3, Int>::ones([1, DETR_HEIGHT, DETR_WIDTH], device);
    Ok(Box::new(move || {
        let out = model.forward(pixels.clone(), mask.clone())?;
        let _ = out.logits.into_data();
        let _ = out.pred_boxes.into_data();
        Ok(())
    }))
}
