use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `WhisperConfig`, with transformers' field names and defaults (those of whisper-tiny's
/// architecture where HF's class defaults are tiny's).
#[derive(Debug, Clone, Deserialize)]
pub struct WhisperConfig {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "defaults::num_mel_bins")]
    pub num_mel_bins: usize,
    #[serde(default = "defaults::layers")]
    pub encoder_layers: usize,
    #[serde(default = "defaults::heads")]
    pub encoder_attention_heads: usize,
    #[serde(default = "defaults::layers")]
    pub decoder_layers: usize,
    #[serde(default = "defaults::heads")]
    pub decoder_attention_heads: usize,
    #[serde(default = "defaults::ffn_dim")]
    pub encoder_ffn_dim: usize,
    #[serde(default = "defaults::ffn_dim")]
    pub decoder_ffn_dim: usize,
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    #[serde(default)]
    pub activation_function: Activation,
    #[serde(default = "defaults::max_source_positions")]
    pub max_source_positions: usize,
    #[serde(default = "defaults::max_target_positions")]
    pub max_target_positions: usize,
    #[serde(default)]
    pub scale_embedding: bool,
    #[serde(default = "defaults::decoder_start_token_id")]
    pub decoder_start_token_id: usize,
    #[serde(default = "defaults::special_token")]
    pub pad_token_id: usize,
    #[serde(default = "defaults::special_token")]
    pub eos_token_id: usize,
    #[serde(default = "defaults::classifier_proj_size")]
    pub classifier_proj_size: usize,
    #[serde(default)]
    pub use_weighted_layer_sum: bool,
    /// Width of the median filter smoothing the alignment heads' weights (word timestamps).
    #[serde(default = "defaults::median_filter_width")]
    pub median_filter_width: usize,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl WhisperConfig {
    /// Mel frames the encoder takes: two per position (conv2 has stride 2).
    pub fn input_frames(&self) -> usize {
        self.max_source_positions * 2
    }
}

mod defaults {
    pub fn vocab_size() -> usize {
        51865
    }
    pub fn num_mel_bins() -> usize {
        80
    }
    pub fn layers() -> usize {
        4
    }
    pub fn heads() -> usize {
        6
    }
    pub fn ffn_dim() -> usize {
        1536
    }
    pub fn d_model() -> usize {
        384
    }
    pub fn max_source_positions() -> usize {
        1500
    }
    pub fn max_target_positions() -> usize {
        448
    }
    pub fn decoder_start_token_id() -> usize {
        50257
    }
    pub fn special_token() -> usize {
        50256
    }
    pub fn classifier_proj_size() -> usize {
        256
    }
    pub fn median_filter_width() -> usize {
        7
    }
}
