use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `WhisperConfig`, with transformers' field names and defaults (those of whisper-tiny's
/// architecture where HF's class defaults are tiny's).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct WhisperConfig {
    pub vocab_size: usize,
    pub num_mel_bins: usize,
    pub encoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_layers: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    pub d_model: usize,
    pub activation_function: Activation,
    pub max_source_positions: usize,
    pub max_target_positions: usize,
    pub scale_embedding: bool,
    pub decoder_start_token_id: usize,
    pub pad_token_id: usize,
    pub eos_token_id: usize,
    pub classifier_proj_size: usize,
    pub use_weighted_layer_sum: bool,
    /// Width of the median filter smoothing the alignment heads' weights (word timestamps).
    pub median_filter_width: usize,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `WhisperConfig`'s defaults (whisper-tiny's architecture).
impl Default for WhisperConfig {
    fn default() -> Self {
        Self {
            vocab_size: 51865,
            num_mel_bins: 80,
            encoder_layers: 4,
            encoder_attention_heads: 6,
            decoder_layers: 4,
            decoder_attention_heads: 6,
            encoder_ffn_dim: 1536,
            decoder_ffn_dim: 1536,
            d_model: 384,
            activation_function: Activation::Gelu,
            max_source_positions: 1500,
            max_target_positions: 448,
            scale_embedding: false,
            decoder_start_token_id: 50257,
            pad_token_id: 50256,
            eos_token_id: 50256,
            classifier_proj_size: 256,
            use_weighted_layer_sum: false,
            median_filter_width: 7,
            common: CommonConfig::default(),
        }
    }
}

impl WhisperConfig {
    /// Mel frames the encoder takes: two per position (conv2 has stride 2).
    pub fn input_frames(&self) -> usize {
        self.max_source_positions * 2
    }
}
