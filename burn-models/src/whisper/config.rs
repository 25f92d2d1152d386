use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// `WhisperConfig`, with transformers' field names and defaults (those of whisper-tiny's
/// architecture where HF's class defaults are tiny's).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct WhisperConfig {
    /// `vocab_size`: tokens in the vocabulary (51865; 51866 for large-v3).
    pub vocab_size: usize,
    /// `num_mel_bins`: mel bins of the input features (80; 128 for large-v3).
    pub num_mel_bins: usize,
    /// `encoder_layers`: encoder layers.
    pub encoder_layers: usize,
    /// `encoder_attention_heads`: attention heads per encoder layer.
    pub encoder_attention_heads: usize,
    /// `decoder_layers`: decoder layers.
    pub decoder_layers: usize,
    /// `decoder_attention_heads`: attention heads per decoder layer.
    pub decoder_attention_heads: usize,
    /// `encoder_ffn_dim`: width of the encoder feed-forward inner layer.
    pub encoder_ffn_dim: usize,
    /// `decoder_ffn_dim`: width of the decoder feed-forward inner layer.
    pub decoder_ffn_dim: usize,
    /// `d_model`: width of the hidden states.
    pub d_model: usize,
    /// `activation_function`: the feed-forward activation.
    pub activation_function: Activation,
    /// `max_source_positions`: encoder positions (1500 frames = 30 s).
    pub max_source_positions: usize,
    /// `max_target_positions`: decoder positions, the longest token sequence.
    pub max_target_positions: usize,
    /// `scale_embedding`: token embeddings are multiplied by `sqrt(d_model)`.
    pub scale_embedding: bool,
    /// `decoder_start_token_id`: id of `<|startoftranscript|>`.
    pub decoder_start_token_id: usize,
    /// `pad_token_id`: id of the padding token.
    pub pad_token_id: usize,
    /// `eos_token_id`: id of `<|endoftext|>`.
    pub eos_token_id: usize,
    /// `classifier_proj_size`: width of the projection before the classifier.
    pub classifier_proj_size: usize,
    /// `use_weighted_layer_sum`: the classifier reads a learned weighted sum of every layer's
    /// hidden states instead of the last.
    pub use_weighted_layer_sum: bool,
    /// Width of the median filter smoothing the alignment heads' weights (word timestamps).
    pub median_filter_width: usize,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
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
