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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Wav2Vec2Config {
    /// CTC vocabulary; `null` only for checkpoints without an `lm_head`.
    pub vocab_size: Option<usize>,
    /// `hidden_size`: width of the hidden states.
    pub hidden_size: usize,
    /// `num_hidden_layers`: transformer encoder layers.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`: attention heads per layer.
    pub num_attention_heads: usize,
    /// `intermediate_size`: width of the feed-forward inner layer.
    pub intermediate_size: usize,
    /// `hidden_act`: the feed-forward activation.
    pub hidden_act: Activation,
    /// `hidden_dropout`: dropout on hidden states (training only).
    pub hidden_dropout: f64,
    /// `feat_proj_dropout`: dropout after the feature projection (training only).
    pub feat_proj_dropout: f64,
    /// `final_dropout`: dropout before the CTC head (training only).
    pub final_dropout: f64,
    /// `layer_norm_eps`: epsilon of the layer norms.
    pub layer_norm_eps: f64,
    /// `feat_extract_norm`: the convolutional feature encoder's normalization.
    pub feat_extract_norm: FeatExtractNorm,
    /// `feat_extract_activation`: the feature encoder's activation.
    pub feat_extract_activation: Activation,
    /// `conv_dim`: output channels of each feature-encoder convolution.
    pub conv_dim: Vec<usize>,
    /// `conv_stride`: stride of each feature-encoder convolution.
    pub conv_stride: Vec<usize>,
    /// `conv_kernel`: kernel size of each feature-encoder convolution.
    pub conv_kernel: Vec<usize>,
    /// `conv_bias`: the feature-encoder convolutions have biases.
    pub conv_bias: bool,
    /// `num_conv_pos_embeddings`: kernel size of the convolutional position embedding.
    pub num_conv_pos_embeddings: usize,
    /// `num_conv_pos_embedding_groups`: groups of that convolution.
    pub num_conv_pos_embedding_groups: usize,
    /// `do_stable_layer_norm`: pre-norm encoder layers ("large" checkpoints) instead of post-norm.
    pub do_stable_layer_norm: bool,
    /// `use_weighted_layer_sum`: the classifier reads a learned weighted sum of every layer's
    /// hidden states instead of the last.
    pub use_weighted_layer_sum: bool,
    /// `classifier_proj_size`: width of the projection before the classifier.
    pub classifier_proj_size: usize,
    /// `pad_token_id`: id of the CTC blank (the pad token).
    pub pad_token_id: Option<usize>,
    /// The adapter after the encoder (`add_adapter`) and the attention adapters of MMS
    /// (`adapter_attn_dim`) are not implemented: such configs are refused at load time.
    pub add_adapter: bool,
    /// `adapter_attn_dim`: MMS attention adapters (refused when set).
    pub adapter_attn_dim: Option<usize>,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `Wav2Vec2Config`'s defaults (wav2vec2-base's architecture).
impl Default for Wav2Vec2Config {
    fn default() -> Self {
        Self {
            vocab_size: Some(32),
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            hidden_dropout: 0.1,
            feat_proj_dropout: 0.0,
            final_dropout: 0.1,
            layer_norm_eps: 1e-5,
            feat_extract_norm: FeatExtractNorm::Group,
            feat_extract_activation: Activation::Gelu,
            conv_dim: vec![512; 7],
            conv_stride: vec![5, 2, 2, 2, 2, 2, 2],
            conv_kernel: vec![10, 3, 3, 3, 3, 2, 2],
            conv_bias: false,
            num_conv_pos_embeddings: 128,
            num_conv_pos_embedding_groups: 16,
            do_stable_layer_norm: false,
            use_weighted_layer_sum: false,
            classifier_proj_size: 256,
            pad_token_id: Some(0),
            add_adapter: false,
            adapter_attn_dim: None,
            common: CommonConfig::default(),
        }
    }
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
