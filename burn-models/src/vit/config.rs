use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `ViTConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ViTConfig {
    /// `hidden_size`: width of the hidden states.
    pub hidden_size: usize,
    /// `num_hidden_layers`: encoder layers.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`: attention heads per layer.
    pub num_attention_heads: usize,
    /// `intermediate_size`: width of the feed-forward inner layer.
    pub intermediate_size: usize,
    /// `hidden_act`: the feed-forward activation.
    pub hidden_act: Activation,
    /// `hidden_dropout_prob`: dropout on hidden states (training only).
    pub hidden_dropout_prob: f64,
    /// `attention_probs_dropout_prob`: dropout on attention weights (training only).
    pub attention_probs_dropout_prob: f64,
    /// `layer_norm_eps`: epsilon of the layer norms.
    pub layer_norm_eps: f64,
    /// `image_size`: side of the (square) input images, in pixels.
    pub image_size: usize,
    /// `patch_size`: side of the square patches, in pixels.
    pub patch_size: usize,
    /// `num_channels`: channels of the input images (3).
    pub num_channels: usize,
    /// `qkv_bias`: the query, key and value projections have biases.
    pub qkv_bias: bool,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
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
