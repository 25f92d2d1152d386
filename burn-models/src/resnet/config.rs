use serde::Deserialize;

use crate::nn::Activation;

/// `ResNetConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct ResNetConfig {
    #[serde(default = "defaults::num_channels")]
    pub num_channels: usize,
    #[serde(default = "defaults::embedding_size")]
    pub embedding_size: usize,
    #[serde(default = "defaults::hidden_sizes")]
    pub hidden_sizes: Vec<usize>,
    #[serde(default = "defaults::depths")]
    pub depths: Vec<usize>,
    /// `"basic"` or `"bottleneck"`.
    #[serde(default = "defaults::layer_type")]
    pub layer_type: String,
    #[serde(default = "defaults::hidden_act")]
    pub hidden_act: Activation,
    #[serde(default)]
    pub downsample_in_first_stage: bool,
    #[serde(default)]
    pub downsample_in_bottleneck: bool,
    /// Backbone outputs (`"stem"`, `"stage1"`, ...); DETR reads the last one.
    #[serde(default)]
    pub out_features: Option<Vec<String>>,
}

impl ResNetConfig {
    pub fn is_bottleneck(&self) -> bool {
        self.layer_type == "bottleneck"
    }
}

mod defaults {
    use crate::nn::Activation;

    pub fn num_channels() -> usize {
        3
    }
    pub fn embedding_size() -> usize {
        64
    }
    pub fn hidden_sizes() -> Vec<usize> {
        vec![256, 512, 1024, 2048]
    }
    pub fn depths() -> Vec<usize> {
        vec![3, 4, 6, 3]
    }
    pub fn layer_type() -> String {
        "bottleneck".into()
    }
    pub fn hidden_act() -> Activation {
        Activation::Relu
    }
}
