use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;
use crate::resnet::ResNetConfig;

/// `DetrConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DetrConfig {
    /// timm's ResNet (`backbone`, e.g. `"resnet50"`, weights under timm names) or HF's
    /// `ResNetBackbone` (`backbone_config`).
    pub use_timm_backbone: bool,
    /// `backbone_config`: the HF ResNet backbone's config, when not using timm.
    pub backbone_config: Option<serde_json::Value>,
    /// `backbone`: the timm model name (`"resnet50"`), with `use_timm_backbone`.
    pub backbone: Option<String>,
    /// timm's `create_model` arguments; `out_indices` picks the returned feature maps.
    pub backbone_kwargs: Option<serde_json::Value>,
    /// `num_channels`: channels of the input images (3).
    pub num_channels: usize,
    /// `num_queries`: object queries, the most objects detected per image (100).
    pub num_queries: usize,
    /// `d_model`: width of the hidden states.
    pub d_model: usize,
    /// `encoder_layers`: encoder layers.
    pub encoder_layers: usize,
    /// `decoder_layers`: decoder layers.
    pub decoder_layers: usize,
    /// `encoder_attention_heads`: attention heads per encoder layer.
    pub encoder_attention_heads: usize,
    /// `decoder_attention_heads`: attention heads per decoder layer.
    pub decoder_attention_heads: usize,
    /// `encoder_ffn_dim`: width of the encoder feed-forward inner layer.
    pub encoder_ffn_dim: usize,
    /// `decoder_ffn_dim`: width of the decoder feed-forward inner layer.
    pub decoder_ffn_dim: usize,
    /// `activation_function`: the feed-forward activation.
    pub activation_function: Activation,
    /// `position_embedding_type`: `"sine"` (the one implemented) or `"learned"`.
    pub position_embedding_type: String,
    /// `dilation`: a dilated last backbone stage (DETR-DC5; refused at load).
    pub dilation: Option<bool>,
    /// The fields every config shares (`model_type`, labels, `problem_type`).
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// `DetrConfig`'s defaults: detr-resnet-50's architecture on timm's `resnet50`.
impl Default for DetrConfig {
    fn default() -> Self {
        Self {
            use_timm_backbone: true,
            backbone_config: None,
            backbone: Some("resnet50".into()),
            backbone_kwargs: None,
            num_channels: 3,
            num_queries: 100,
            d_model: 256,
            encoder_layers: 6,
            decoder_layers: 6,
            encoder_attention_heads: 8,
            decoder_attention_heads: 8,
            encoder_ffn_dim: 2048,
            decoder_ffn_dim: 2048,
            activation_function: Activation::Relu,
            position_embedding_type: "sine".into(),
            dilation: None,
            common: CommonConfig::default(),
        }
    }
}

impl DetrConfig {
    /// The HF backbone's config (`backbone_config`), when not using timm's names.
    pub fn resnet_config(&self) -> Result<ResNetConfig, String> {
        let json = self.backbone_config.clone().unwrap_or_else(
            || serde_json::json!({"model_type": "resnet", "out_features": ["stage4"]}),
        );
        match json.get("model_type").and_then(|v| v.as_str()) {
            Some("resnet") | None => {}
            Some(other) => return Err(format!("backbone `{other}` (only ResNet is implemented)")),
        }
        serde_json::from_value(json).map_err(|e| format!("backbone_config: {e}"))
    }
}

impl DetrConfig {
    /// The timm backbone's feature maps as HF stage names: `out_indices` of `backbone_kwargs`
    /// (timm's default `(1, 2, 3, 4)`: the four stages).
    pub fn timm_out_features(&self) -> Result<Vec<String>, String> {
        let indices = match self
            .backbone_kwargs
            .as_ref()
            .and_then(|k| k.get("out_indices"))
        {
            None | Some(serde_json::Value::Null) => vec![1, 2, 3, 4],
            Some(value) => value
                .as_array()
                .and_then(|items| items.iter().map(|v| v.as_u64()).collect::<Option<Vec<_>>>())
                .ok_or_else(|| {
                    format!("backbone_kwargs.out_indices: expected integers, got {value}")
                })?,
        };
        indices
            .into_iter()
            .map(|i| match i {
                // timm's feature 0 is the stem before max pooling, which DETR never reads.
                0 => Err("timm backbone feature 0 (the stem before pooling)".to_string()),
                i => Ok(format!("stage{i}")),
            })
            .collect()
    }
}
