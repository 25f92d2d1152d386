use serde::Deserialize;

use crate::nn::Activation;

/// `ResNetConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ResNetConfig {
    /// `num_channels`: channels of the input images (3).
    pub num_channels: usize,
    /// `embedding_size`: channels of the stem convolution.
    pub embedding_size: usize,
    /// `hidden_sizes`: output channels of each stage.
    pub hidden_sizes: Vec<usize>,
    /// `depths`: residual blocks in each stage.
    pub depths: Vec<usize>,
    /// `"basic"` or `"bottleneck"`.
    pub layer_type: String,
    /// `hidden_act`: the activation after each convolution and norm.
    pub hidden_act: Activation,
    /// `downsample_in_first_stage`: the first stage downsamples (stride 2).
    pub downsample_in_first_stage: bool,
    /// `downsample_in_bottleneck`: a bottleneck block strides in its first 1x1 convolution rather
    /// than its 3x3.
    pub downsample_in_bottleneck: bool,
    /// Backbone outputs (`"stem"`, `"stage1"`, ...); DETR reads the last one.
    pub out_features: Option<Vec<String>>,
}

/// `ResNetConfig`'s defaults (resnet-50's architecture); no `out_features` means the last stage.
impl Default for ResNetConfig {
    fn default() -> Self {
        Self {
            num_channels: 3,
            embedding_size: 64,
            hidden_sizes: vec![256, 512, 1024, 2048],
            depths: vec![3, 4, 6, 3],
            layer_type: "bottleneck".into(),
            hidden_act: Activation::Relu,
            downsample_in_first_stage: false,
            downsample_in_bottleneck: false,
            out_features: None,
        }
    }
}

impl ResNetConfig {
    /// Whether the blocks are bottlenecks (`layer_type == "bottleneck"`) rather than basic.
    pub fn is_bottleneck(&self) -> bool {
        self.layer_type == "bottleneck"
    }
}
