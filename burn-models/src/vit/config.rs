use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `ViTConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ViTConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: Activation,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub layer_norm_eps: f64,
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
    pub qkv_bias: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `ViTConfig`'s defaults (vit-base-patch16-224's architecture).
impl Default for ViTConfig {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            layer_norm_eps: 1e-12,
            image_size: 224,
            patch_size: 16,
            num_channels: 3,
            qkv_bias: true,
            common: CommonConfig::default(),
        }
    }
}

impl ViTConfig {
    /// Patches per side at the configured image size.
    pub fn patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }
}
