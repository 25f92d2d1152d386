//! Parameter counts from a config alone, as PEFT's `print_trainable_parameters` reports them
//! for a model it never has to load (e.g. whisper-large-v2, 1.5 B parameters).

use serde::Deserialize;

use crate::config::{Bias, LoraConfig};
use crate::error::Result;
use crate::model::format_trainable;

/// One `nn.Linear` of a model: its Hugging Face module path and size.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerShape {
    /// The module path, as in `model.encoder.layers.0.self_attn.q_proj`.
    pub path: String,
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Whether it has a bias.
    pub bias: bool,
}

/// A model's parameters as PEFT sees them: its linear layers (which adapters may target)
/// and the count of every other parameter (embeddings, norms, convolutions).
#[derive(Debug, Clone, Default)]
pub struct ModelShape {
    /// Every linear layer.
    pub linears: Vec<LayerShape>,
    /// The count of every parameter outside the linear layers.
    pub other_params: usize,
    /// How many of `other_params` are named `*.bias` (norms, convolutions): `bias="all"`
    /// trains them too.
    pub other_biases: usize,
}

impl ModelShape {
    fn linear(&mut self, path: String, d_input: usize, d_output: usize, bias: bool) {
        self.linears.push(LayerShape {
            path,
            d_input,
            d_output,
            bias,
        });
    }

    /// Parameters of the model without adapters.
    pub fn num_params(&self) -> usize {
        self.other_params
            + self
                .linears
                .iter()
                .map(|l| l.d_input * l.d_output + if l.bias { l.d_output } else { 0 })
                .sum::<usize>()
    }

    /// `get_nb_trainable_parameters()` after `get_peft_model(model, config)`:
    /// `(trainable, all)`. `modules_to_save` are counted among the linear layers only.
    pub fn trainable_with(&self, config: &LoraConfig) -> Result<(usize, usize)> {
        let mut trainable = 0;
        let mut added = 0;
        for layer in &self.linears {
            let full = layer.d_input * layer.d_output + if layer.bias { layer.d_output } else { 0 };
            if config.saves(&layer.path) {
                // The trainable copy sits next to the frozen original.
                trainable += full;
                added += full;
                continue;
            }
            let targeted = config.targets(&layer.path)?;
            if targeted {
                let (r, _) = config.rank_and_alpha(&layer.path)?;
                let lora = r * (layer.d_input + layer.d_output);
                trainable += lora;
                added += lora;
            }
            let bias_trains = match config.bias {
                Bias::All => true,
                Bias::LoraOnly => targeted,
                Bias::None => false,
            };
            if bias_trains && layer.bias {
                trainable += layer.d_output;
            }
        }
        if config.bias == Bias::All {
            trainable += self.other_biases;
        }
        Ok((trainable, self.num_params() + added))
    }

    /// `print_trainable_parameters()`'s line.
    pub fn trainable_parameters_line(&self, config: &LoraConfig) -> Result<String> {
        let (trainable, all) = self.trainable_with(config)?;
        Ok(format_trainable(trainable, all))
    }
}

/// The `WhisperConfig` fields that shape parameters, with transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct WhisperDims {
    /// `vocab_size` (51865).
    #[serde(default = "d::vocab_size")]
    pub vocab_size: usize,
    /// `num_mel_bins` (80).
    #[serde(default = "d::num_mel_bins")]
    pub num_mel_bins: usize,
    /// `encoder_layers` (4).
    #[serde(default = "d::layers")]
    pub encoder_layers: usize,
    /// `decoder_layers` (4).
    #[serde(default = "d::layers")]
    pub decoder_layers: usize,
    /// `encoder_ffn_dim` (1536).
    #[serde(default = "d::ffn")]
    pub encoder_ffn_dim: usize,
    /// `decoder_ffn_dim` (1536).
    #[serde(default = "d::ffn")]
    pub decoder_ffn_dim: usize,
    /// `d_model` (384).
    #[serde(default = "d::d_model")]
    pub d_model: usize,
    /// `max_source_positions`: encoder positions (1500).
    #[serde(default = "d::max_source_positions")]
    pub max_source_positions: usize,
    /// `max_target_positions`: decoder positions (448).
    #[serde(default = "d::max_target_positions")]
    pub max_target_positions: usize,
    /// `tie_word_embeddings`: the output projection shares the token embedding (true).
    #[serde(default = "d::tie")]
    pub tie_word_embeddings: bool,
}

mod d {
    pub fn vocab_size() -> usize {
        51865
    }
    pub fn num_mel_bins() -> usize {
        80
    }
    pub fn layers() -> usize {
        4
    }
    pub fn ffn() -> usize {
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
    pub fn tie() -> bool {
        true
    }
}

/// `WhisperForConditionalGeneration`'s parameters from its `config.json`, with HF module paths.
pub fn whisper_shape(config: &WhisperDims) -> ModelShape {
    let c = config;
    let d = c.d_model;
    let mut shape = ModelShape::default();
    let layer_norm = 2 * d;
    // conv1 (mel -> d, kernel 3), conv2 (d -> d, kernel 3), both with bias; learned positions.
    shape.other_params += c.num_mel_bins * d * 3 + d + d * d * 3 + d;
    shape.other_biases += 2 * d;
    shape.other_params += c.max_source_positions * d;
    let attention = |shape: &mut ModelShape, prefix: &str| {
        for (name, bias) in [
            ("k_proj", false),
            ("v_proj", true),
            ("q_proj", true),
            ("out_proj", true),
        ] {
            shape.linear(format!("{prefix}.{name}"), d, d, bias);
        }
    };
    for i in 0..c.encoder_layers {
        let p = format!("model.encoder.layers.{i}");
        attention(&mut shape, &format!("{p}.self_attn"));
        shape.linear(format!("{p}.fc1"), d, c.encoder_ffn_dim, true);
        shape.linear(format!("{p}.fc2"), c.encoder_ffn_dim, d, true);
        shape.other_params += 2 * layer_norm;
        shape.other_biases += 2 * d;
    }
    shape.other_params += layer_norm;
    shape.other_biases += d;
    shape.other_params += c.vocab_size * d + c.max_target_positions * d;
    for i in 0..c.decoder_layers {
        let p = format!("model.decoder.layers.{i}");
        attention(&mut shape, &format!("{p}.self_attn"));
        attention(&mut shape, &format!("{p}.encoder_attn"));
        shape.linear(format!("{p}.fc1"), d, c.decoder_ffn_dim, true);
        shape.linear(format!("{p}.fc2"), c.decoder_ffn_dim, d, true);
        shape.other_params += 3 * layer_norm;
        shape.other_biases += 3 * d;
    }
    shape.other_params += layer_norm;
    shape.other_biases += d;
    // proj_out shares the token embedding when tied (counted once, as named_parameters does).
    if !c.tie_word_embeddings {
        shape.linear("proj_out".into(), d, c.vocab_size, false);
    }
    shape
}
