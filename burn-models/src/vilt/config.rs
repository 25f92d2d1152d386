use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;
use crate::vit::ViTConfig;

/// `ViltConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ViltConfig {
    /// `vocab_size`: tokens in the vocabulary.
    pub vocab_size: usize,
    /// `type_vocab_size`: token types (segments) the embeddings know.
    pub type_vocab_size: usize,
    /// Text (0) and image (1) token types.
    pub modality_type_vocab_size: usize,
    /// `max_position_embeddings`: the longest text, in tokens.
    pub max_position_embeddings: usize,
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
    /// Patches sampled per image while training (-1: all). Inference here always uses all
    /// patches, so results do not depend on a random draw.
    pub max_image_length: i64,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `ViltConfig`'s defaults (vilt-b32's architecture).
impl Default for ViltConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            type_vocab_size: 2,
            modality_type_vocab_size: 2,
            max_position_embeddings: 40,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            layer_norm_eps: 1e-12,
            image_size: 384,
            patch_size: 32,
            num_channels: 3,
            qkv_bias: true,
            max_image_length: -1,
            common: CommonConfig::default(),
        }
    }
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
