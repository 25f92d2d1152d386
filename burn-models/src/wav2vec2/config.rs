use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;

/// How the convolutional feature encoder normalises (`feat_extract_norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FeatExtractNorm {
    /// GroupNorm with one group per channel on the first conv layer only (wav2vec2-base);
    /// these models were trained without an attention mask.
    #[default]
    Group,
    /// LayerNorm over channels after every conv layer (wav2vec2-large-lv60, XLS-R); these
    /// models take an attention mask for padded batches.
    Layer,
}

/// `Wav2Vec2Config`, with transformers' field names and defaults (wav2vec2-base's).
#[derive(Debug, Clone, Deserialize)]
pub struct Wav2Vec2Config {
    /// CTC vocabulary; `null` only for checkpoints without an `lm_head`.
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: Option<usize>,
    #[serde(default = "defaults::hidden_size")]
    pub hidden_size: usize,
    #[serde(default = "defaults::num_hidden_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "defaults::num_attention_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "defaults::intermediate_size")]
    pub intermediate_size: usize,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default = "defaults::dropout")]
    pub hidden_dropout: f64,
    #[serde(default)]
    pub feat_proj_dropout: f64,
    #[serde(default = "defaults::dropout")]
    pub final_dropout: f64,
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub feat_extract_norm: FeatExtractNorm,
    #[serde(default)]
    pub feat_extract_activation: Activation,
    #[serde(default = "defaults::conv_dim")]
    pub conv_dim: Vec<usize>,
    #[serde(default = "defaults::conv_stride")]
    pub conv_stride: Vec<usize>,
    #[serde(default = "defaults::conv_kernel")]
    pub conv_kernel: Vec<usize>,
    #[serde(default)]
    pub conv_bias: bool,
    #[serde(default = "defaults::num_conv_pos_embeddings")]
    pub num_conv_pos_embeddings: usize,
    #[serde(default = "defaults::num_conv_pos_embedding_groups")]
    pub num_conv_pos_embedding_groups: usize,
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    #[serde(default)]
    pub use_weighted_layer_sum: bool,
    #[serde(default = "defaults::classifier_proj_size")]
    pub classifier_proj_size: usize,
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// The adapter after the encoder (`add_adapter`) and the attention adapters of MMS
    /// (`adapter_attn_dim`) are not implemented: such configs are refused at load time.
    #[serde(default)]
    pub add_adapter: bool,
    #[serde(default)]
    pub adapter_attn_dim: Option<usize>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Wav2Vec2Config {
    /// Audio samples per output frame: the product of the conv strides (320 for base).
    pub fn inputs_to_logits_ratio(&self) -> usize {
        self.conv_stride.iter().product()
    }

    /// `_get_feat_extract_output_lengths`: frames the conv stack makes of `samples` samples
    /// (0 when the audio is shorter than its receptive field).
    pub fn feat_extract_output_length(&self, samples: usize) -> usize {
        self.conv_kernel
            .iter()
            .zip(&self.conv_stride)
            .fold(samples, |len, (&kernel, &stride)| {
                if len < kernel {
                    0
                } else {
                    (len - kernel) / stride + 1
                }
            })
    }

    /// The fewest samples that give one output frame.
    pub fn receptive_field(&self) -> usize {
        self.conv_kernel
            .iter()
            .zip(&self.conv_stride)
            .rev()
            .fold(1, |frames, (&kernel, &stride)| {
                (frames - 1) * stride + kernel
            })
    }
}

mod defaults {
    pub fn vocab_size() -> Option<usize> {
        Some(32)
    }
    pub fn hidden_size() -> usize {
        768
    }
    pub fn num_hidden_layers() -> usize {
        12
    }
    pub fn num_attention_heads() -> usize {
        12
    }
    pub fn intermediate_size() -> usize {
        3072
    }
    pub fn dropout() -> f64 {
        0.1
    }
    pub fn layer_norm_eps() -> f64 {
        1e-5
    }
    pub fn conv_dim() -> Vec<usize> {
        vec![512; 7]
    }
    pub fn conv_stride() -> Vec<usize> {
        vec![5, 2, 2, 2, 2, 2, 2]
    }
    pub fn conv_kernel() -> Vec<usize> {
        vec![10, 3, 3, 3, 3, 2, 2]
    }
    pub fn num_conv_pos_embeddings() -> usize {
        128
    }
    pub fn num_conv_pos_embedding_groups() -> usize {
        16
    }
    pub fn classifier_proj_size() -> usize {
        256
    }
}
