use serde::Deserialize;

use crate::config::CommonConfig;
use crate::nn::Activation;
use crate::resnet::ResNetConfig;

/// `DetrConfig`, with transformers' field names and defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct DetrConfig {
    /// timm's ResNet (`backbone`, e.g. `"resnet50"`, weights under timm names) or HF's
    /// `ResNetBackbone` (`backbone_config`).
    #[serde(default = "defaults::yes")]
    pub use_timm_backbone: bool,
    #[serde(default)]
    pub backbone_config: Option<serde_json::Value>,
    #[serde(default)]
    pub backbone: Option<String>,
    /// timm's `create_model` arguments; `out_indices` picks the returned feature maps.
    #[serde(default)]
    pub backbone_kwargs: Option<serde_json::Value>,
    #[serde(default = "defaults::num_channels")]
    pub num_channels: usize,
    #[serde(default = "defaults::num_queries")]
    pub num_queries: usize,
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    #[serde(default = "defaults::layers")]
    pub encoder_layers: usize,
    #[serde(default = "defaults::layers")]
    pub decoder_layers: usize,
    #[serde(default = "defaults::heads")]
    pub encoder_attention_heads: usize,
    #[serde(default = "defaults::heads")]
    pub decoder_attention_heads: usize,
    #[serde(default = "defaults::ffn_dim")]
    pub encoder_ffn_dim: usize,
    #[serde(default = "defaults::ffn_dim")]
    pub decoder_ffn_dim: usize,
    #[serde(default = "defaults::activation_function")]
    pub activation_function: Activation,
    #[serde(default = "defaults::position_embedding_type")]
    pub position_embedding_type: String,
    #[serde(default)]
    pub dilation: Option<bool>,
    #[serde(flatten)]
    pub common: CommonConfig,
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

mod defaults {
    use crate::nn::Activation;

    pub fn yes() -> bool {
        true
    }
    pub fn num_channels() -> usize {
        3
    }
    pub fn num_queries() -> usize {
        100
    }
    pub fn d_model() -> usize {
        256
    }
    pub fn layers() -> usize {
        6
    }
    pub fn heads() -> usize {
        8
    }
    pub fn ffn_dim() -> usize {
        2048
    }
    pub fn activation_function() -> Activation {
        Activation::Relu
    }
    pub fn position_embedding_type() -> String {
        "sine".into()
    }
}
