use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;
use crate::vit::ViTConfig;

/// `ViltConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct ViltConfig {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "defaults::two")]
    pub type_vocab_size: usize,
    /// Text (0) and image (1) token types.
    #[serde(default = "defaults::two")]
    pub modality_type_vocab_size: usize,
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "defaults::hidden_size")]
    pub hidden_size: usize,
    #[serde(default = "defaults::num_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "defaults::num_layers")]
    pub num_attention_heads: usize,
    #[serde(default = "defaults::intermediate_size")]
    pub intermediate_size: usize,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default)]
    pub hidden_dropout_prob: f64,
    #[serde(default)]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "defaults::image_size")]
    pub image_size: usize,
    #[serde(default = "defaults::patch_size")]
    pub patch_size: usize,
    #[serde(default = "defaults::num_channels")]
    pub num_channels: usize,
    #[serde(default = "defaults::qkv_bias")]
    pub qkv_bias: bool,
    /// Patches sampled per image while training (-1: all). Inference here always uses all
    /// patches, so results do not depend on a random draw.
    #[serde(default = "defaults::max_image_length")]
    pub max_image_length: i64,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl ViltConfig {
    /// Patches per side of the position-embedding grid.
    pub fn patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// The same encoder as a ViT configuration (ViLT's layers are ViT's).
    pub(crate) fn as_vit(&self) -> ViTConfig {
        ViTConfig {
            hidden_size: self.hidden_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            hidden_act: self.hidden_act,
            hidden_dropout_prob: self.hidden_dropout_prob,
            attention_probs_dropout_prob: self.attention_probs_dropout_prob,
            layer_norm_eps: self.layer_norm_eps,
            image_size: self.image_size,
            patch_size: self.patch_size,
            num_channels: self.num_channels,
            qkv_bias: self.qkv_bias,
            common: CommonConfig::default(),
        }
    }
}

mod defaults {
    pub fn vocab_size() -> usize {
        30522
    }
    pub fn two() -> usize {
        2
    }
    pub fn max_position_embeddings() -> usize {
        40
    }
    pub fn hidden_size() -> usize {
        768
    }
    pub fn num_layers() -> usize {
        12
    }
    pub fn intermediate_size() -> usize {
        3072
    }
    pub fn layer_norm_eps() -> f64 {
        1e-12
    }
    pub fn image_size() -> usize {
        384
    }
    pub fn patch_size() -> usize {
        32
    }
    pub fn num_channels() -> usize {
        3
    }
    pub fn qkv_bias() -> bool {
        true
    }
    pub fn max_image_length() -> i64 {
        -1
    }
}
