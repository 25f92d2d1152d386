use serde::Deserialize;

use crate::nn::Activation;

/// `ResNetConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ResNetConfig {
    pub num_channels: usize,
    pub embedding_size: usize,
    pub hidden_sizes: Vec<usize>,
    pub depths: Vec<usize>,
    /// `"basic"` or `"bottleneck"`.
    pub layer_type: String,
    pub hidden_act: Activation,
    pub downsample_in_first_stage: bool,
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
    pub fn is_bottleneck(&self) -> bool {
        self.layer_type == "bottleneck"
    }
}
