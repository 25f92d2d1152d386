//! ResNet checkpoint names, in HF's layout and in timm's (used by `facebook/detr-resnet-*`,
//! whose configs say `use_timm_backbone: true`).
//!
//! | HF (`ResNetBackbone`)                                   | timm                          |
//! |---------------------------------------------------------|-------------------------------|
//! | `embedder.embedder.{convolution,normalization}`         | `conv1`, `bn1`                |
//! | `encoder.stages.{s}.layers.{l}.layer.{k}.convolution`   | `layer{s+1}.{l}.conv{k+1}`    |
//! | `encoder.stages.{s}.layers.{l}.layer.{k}.normalization` | `layer{s+1}.{l}.bn{k+1}`      |
//! | `encoder.stages.{s}.layers.{l}.shortcut.convolution`    | `layer{s+1}.{l}.downsample.0` |
//! | `encoder.stages.{s}.layers.{l}.shortcut.normalization`  | `layer{s+1}.{l}.downsample.1` |
//!
//! Both put the stride of a bottleneck block on its 3x3 conv (HF's default
//! `downsample_in_bottleneck=False`), so the two layouts compute the same network.

use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2dConfig;

use super::*;
use crate::error::{ModelError, Result};
use crate::hub::WeightScope;
use crate::nn::Activation;

/// Which names the checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResNetNaming {
    /// transformers' `ResNetBackbone` names (`embedder.embedder.convolution`, `encoder.stages`).
    Hf,
    /// timm's names (`conv1`, `bn1`, `layer1`...), as DETR checkpoints with a timm backbone have.
    Timm,
}

impl ResNetNaming {
    fn stem(self, part: &str) -> String {
        match (self, part) {
            (Self::Hf, _) => format!("embedder.embedder.{part}"),
            (Self::Timm, "convolution") => "conv1".into(),
            (Self::Timm, _) => "bn1".into(),
        }
    }

    fn layer(self, stage: usize, block: usize, k: usize, part: &str) -> String {
        match (self, part) {
            (Self::Hf, _) => format!("encoder.stages.{stage}.layers.{block}.layer.{k}.{part}"),
            (Self::Timm, "convolution") => format!("layer{}.{block}.conv{}", stage + 1, k + 1),
            (Self::Timm, _) => format!("layer{}.{block}.bn{}", stage + 1, k + 1),
        }
    }

    fn shortcut(self, stage: usize, block: usize, part: &str) -> String {
        match (self, part) {
            (Self::Hf, _) => format!("encoder.stages.{stage}.layers.{block}.shortcut.{part}"),
            (Self::Timm, "convolution") => format!("layer{}.{block}.downsample.0", stage + 1),
            (Self::Timm, _) => format!("layer{}.{block}.downsample.1", stage + 1),
        }
    }
}

/// A timm ResNet's shape read off its weights: stem width, blocks per stage, block type and
/// stage widths (timm configs only name the architecture, e.g. `"resnet50"`).
pub fn timm_config(scope: &WeightScope, num_channels: usize) -> Result<ResNetConfig> {
    let weights = scope.weights();
    let out_channels = |name: &str| weights.shape(&scope.name(name)).map(|s| s[0]);
    let embedding_size = out_channels("conv1.weight").ok_or_else(|| ModelError::MissingTensor {
        name: scope.name("conv1.weight"),
        source_desc: "the timm ResNet backbone".into(),
    })?;
    let bottleneck = scope.contains("layer1.0.conv3.weight");
    let last_conv = if bottleneck { "conv3" } else { "conv2" };
    let mut depths = Vec::new();
    let mut hidden_sizes = Vec::new();
    for stage in 1.. {
        let blocks = (0..)
            .take_while(|b| scope.contains(&format!("layer{stage}.{b}.conv1.weight")))
            .count();
        if blocks == 0 {
            break;
        }
        depths.push(blocks);
        hidden_sizes
            .push(out_channels(&format!("layer{stage}.0.{last_conv}.weight")).unwrap_or_default());
    }
    if depths.is_empty() {
        return Err(ModelError::MissingTensor {
            name: scope.name("layer1.0.conv1.weight"),
            source_desc: "the timm ResNet backbone".into(),
        });
    }
    Ok(ResNetConfig {
        num_channels,
        embedding_size,
        hidden_sizes,
        depths,
        layer_type: if bottleneck { "bottleneck" } else { "basic" }.into(),
        hidden_act: Activation::Relu,
        downsample_in_first_stage: false,
        downsample_in_bottleneck: false,
        out_features: None,
    })
}

impl ResNetBackbone {
    /// Loads the backbone under `scope`, up to the last stage named in `out_features`.
    pub fn load(scope: &WeightScope, config: &ResNetConfig, naming: ResNetNaming) -> Result<Self> {
        let c = config;
        if c.hidden_sizes.len() != c.depths.len() || c.depths.is_empty() {
            return Err(ModelError::Unsupported(format!(
                "ResNet with hidden_sizes {:?} and depths {:?} (one width per stage)",
                c.hidden_sizes, c.depths
            )));
        }
        if !matches!(c.layer_type.as_str(), "basic" | "bottleneck") {
            return Err(ModelError::Unsupported(format!(
                "ResNet layer_type `{}` (basic or bottleneck)",
                c.layer_type
            )));
        }
        let out_indices = match c.out_features.as_deref() {
            None | Some([]) => vec![c.depths.len()],
            Some(names) => names
                .iter()
                .map(|name| {
                    match name.as_str() {
                        "stem" => Some(0),
                        _ => name
                            .strip_prefix("stage")
                            .and_then(|n| n.parse::<usize>().ok())
                            .filter(|n| (1..=c.depths.len()).contains(n)),
                    }
                    .ok_or_else(|| {
                        ModelError::Unsupported(format!("ResNet backbone output `{name}`"))
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        if out_indices.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ModelError::Unsupported(format!(
                "ResNet out_features {:?} (they must follow the stage order)",
                c.out_features.as_deref().unwrap_or_default()
            )));
        }
        let stages_used = *out_indices.last().unwrap_or(&0);
        let act = c.hidden_act;
        let conv_layer = |name: String,
                          norm: String,
                          channels: [usize; 2],
                          kernel: usize,
                          stride: usize,
                          activation: Option<Activation>|
         -> Result<ResNetConvLayer> {
            Ok(ResNetConvLayer {
                convolution: scope.conv2d(&name, channels, kernel, stride, kernel / 2, false)?,
                normalization: scope.frozen_batch_norm(&norm, channels[1])?,
                activation,
            })
        };
        let embedder = conv_layer(
            naming.stem("convolution"),
            naming.stem("normalization"),
            [c.num_channels, c.embedding_size],
            7,
            2,
            Some(act),
        )?;
        let mut stages = Vec::new();
        let mut in_channels = c.embedding_size;
        for stage in 0..stages_used {
            let out = c.hidden_sizes[stage];
            let first_stride = if stage > 0 || c.downsample_in_first_stage {
                2
            } else {
                1
            };
            let mut blocks = Vec::new();
            for block in 0..c.depths[stage] {
                let (d_in, stride) = if block == 0 {
                    (in_channels, first_stride)
                } else {
                    (out, 1)
                };
                let layer = |k: usize, channels, kernel, stride, activation| {
                    conv_layer(
                        naming.layer(stage, block, k, "convolution"),
                        naming.layer(stage, block, k, "normalization"),
                        channels,
                        kernel,
                        stride,
                        activation,
                    )
                };
                let layers = if c.is_bottleneck() {
                    let reduced = out / 4;
                    let (s1, s2) = if c.downsample_in_bottleneck {
                        (stride, 1)
                    } else {
                        (1, stride)
                    };
                    vec![
                        layer(0, [d_in, reduced], 1, s1, Some(act))?,
                        layer(1, [reduced, reduced], 3, s2, Some(act))?,
                        layer(2, [reduced, out], 1, 1, None)?,
                    ]
                } else {
                    vec![
                        layer(0, [d_in, out], 3, stride, Some(act))?,
                        layer(1, [out, out], 3, 1, None)?,
                    ]
                };
                let shortcut = if d_in != out || stride != 1 {
                    Some(conv_layer(
                        naming.shortcut(stage, block, "convolution"),
                        naming.shortcut(stage, block, "normalization"),
                        [d_in, out],
                        1,
                        stride,
                        None,
                    )?)
                } else {
                    None
                };
                blocks.push(ResNetBlock {
                    shortcut,
                    layers,
                    activation: act,
                });
            }
            stages.push(blocks);
            in_channels = out;
        }
        Ok(Self {
            embedder,
            pooler: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            stages,
            out_channels: in_channels,
            channels: out_indices
                .iter()
                .map(|&i| {
                    if i == 0 {
                        c.embedding_size
                    } else {
                        c.hidden_sizes[i - 1]
                    }
                })
                .collect(),
            out_indices,
        })
    }
}
