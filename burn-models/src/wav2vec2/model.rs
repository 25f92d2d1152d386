use crate::host::HostRead;
use burn::module::{Module, Param};
use burn::nn::conv::Conv1d;
use burn::nn::{Dropout, GroupNorm, LayerNorm};
use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor, TensorData};

use super::Wav2Vec2Config;
use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::{
    Activation, AttentionMask, Linear, Linears, PostNormEncoderLayer, PreNormEncoderLayer,
};

/// One layer of the convolutional feature encoder: conv, then (depending on
/// `feat_extract_norm`) a per-channel GroupNorm (first layer of "group" models) or a LayerNorm
/// over channels (every layer of "layer" models), then the activation.
#[derive(Module, Debug)]
pub struct Wav2Vec2ConvLayer {
    /// The 1-D convolution (`conv`).
    pub conv: Conv1d,
    /// Group norm (`feat_extract_norm="group"`, first layer only).
    pub group_norm: Option<GroupNorm>,
    /// Layer norm over channels (`feat_extract_norm="layer"`).
    pub layer_norm: Option<LayerNorm>,
    /// The activation function.
    #[module(skip)]
    pub activation: Activation,
}

impl Wav2Vec2ConvLayer {
    /// `[batch, channels_in, time]` -> `[batch, channels_out, time']`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mut x = self.conv.forward(x);
        if let Some(norm) = &self.group_norm {
            x = norm.forward(x);
        }
        if let Some(norm) = &self.layer_norm {
            x = norm.forward(x.swap_dims(1, 2)).swap_dims(1, 2);
        }
        self.activation.forward(x)
    }
}

/// `Wav2Vec2FeatureEncoder`: raw audio `[batch, samples]` -> `[batch, conv_dim[-1], frames]`.
#[derive(Module, Debug)]
pub struct Wav2Vec2FeatureEncoder {
    /// The convolutions, in order (`conv_layers`).
    pub conv_layers: Vec<Wav2Vec2ConvLayer>,
}

impl Wav2Vec2FeatureEncoder {
    /// Features `[batch, conv_dim[-1], frames]` of raw audio `[batch, samples]`.
    pub fn forward(&self, input_values: Tensor<2>) -> Tensor<3> {
        self.conv_layers
            .iter()
            .fold(input_values.unsqueeze_dim(1), |x, layer| layer.forward(x))
    }
}

/// `Wav2Vec2FeatureProjection`: LayerNorm over the conv channels, then a linear map to
/// `hidden_size`.
#[derive(Module, Debug)]
pub struct Wav2Vec2FeatureProjection {
    /// Layer norm of the convolutional features (`layer_norm`).
    pub layer_norm: LayerNorm,
    /// Projection to the encoder's width (`projection`).
    pub projection: Linear,
    /// Dropout (active only in training).
    pub dropout: Dropout,
}

impl Wav2Vec2FeatureProjection {
    /// `[batch, frames, conv_dim[-1]]` -> `[batch, frames, hidden_size]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.dropout
            .forward(self.projection.forward(self.layer_norm.forward(x)))
    }
}

/// `Wav2Vec2PositionalConvEmbedding`: a wide grouped convolution over time (its weight-norm
/// parametrisation folded into the weight at load time), trimmed to the input length when the
/// kernel is even (`Wav2Vec2SamePadLayer`), then the activation.
#[derive(Module, Debug)]
pub struct Wav2Vec2PositionalConvEmbedding {
    /// The grouped convolution (`conv`).
    pub conv: Conv1d,
    /// The activation function.
    #[module(skip)]
    pub activation: Activation,
}

impl Wav2Vec2PositionalConvEmbedding {
    /// `[batch, time, hidden]` -> the same shape.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [_, time, _] = x.dims();
        let y = self.conv.forward(x.swap_dims(1, 2));
        // Padding k/2 on both sides gives time + 1 outputs for an even kernel.
        let y = y.narrow(2, 0, time);
        self.activation.forward(y).swap_dims(1, 2)
    }
}

/// The transformer layers: post-norm (`Wav2Vec2EncoderLayer`, base models) or pre-norm
/// (`Wav2Vec2EncoderLayerStableLayerNorm`, `do_stable_layer_norm`), both the shared blocks.
#[derive(Module, Debug)]
pub enum Wav2Vec2Layers {
    /// Post-norm layers (`Wav2Vec2EncoderLayer`).
    PostNorm(Vec<PostNormEncoderLayer>),
    /// Pre-norm layers (`Wav2Vec2EncoderLayerStableLayerNorm`).
    Stable(Vec<PreNormEncoderLayer>),
}

impl Wav2Vec2Layers {
    fn len(&self) -> usize {
        match self {
            Self::PostNorm(layers) => layers.len(),
            Self::Stable(layers) => layers.len(),
        }
    }

    fn heads(&self) -> usize {
        match self {
            Self::PostNorm(layers) => layers.first().map_or(1, |l| l.attention.num_heads),
            Self::Stable(layers) => layers.first().map_or(1, |l| l.attention.num_heads),
        }
    }

    fn forward(&self, i: usize, x: Tensor<3>, mask: Option<&AttentionMask>) -> Tensor<3> {
        match self {
            Self::PostNorm(layers) => layers[i].forward(x, mask),
            Self::Stable(layers) => layers[i].forward(x, mask),
        }
    }
}

impl Linears for Wav2Vec2Layers {
    fn visit_linears(&self, f: &mut dyn FnMut(&Linear)) {
        match self {
            Self::PostNorm(layers) => layers.visit_linears(f),
            Self::Stable(layers) => layers.visit_linears(f),
        }
    }
    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&mut Linear)) {
        match self {
            Self::PostNorm(layers) => layers.visit_linears_mut(f),
            Self::Stable(layers) => layers.visit_linears_mut(f),
        }
    }
}

/// `Wav2Vec2Encoder` / `Wav2Vec2EncoderStableLayerNorm`.
#[derive(Module, Debug)]
pub struct Wav2Vec2Encoder {
    /// The convolutional position embedding, added to the features (`pos_conv_embed`).
    pub pos_conv_embed: Wav2Vec2PositionalConvEmbedding,
    /// Applied before the layers (post-norm) or after them (stable).
    pub layer_norm: LayerNorm,
    /// The layers, in order.
    pub layers: Wav2Vec2Layers,
    /// Dropout (active only in training).
    pub dropout: Dropout,
}

impl Wav2Vec2Encoder {
    /// The encoder output and, with `keep_all`, every hidden state as `output_hidden_states=True`
    /// returns them (`num_hidden_layers + 1`: each layer's input, then the last layer's output).
    /// `mask` is the frame mask `[batch, frames]` (1 = audio, 0 = padding).
    ///
    /// transformers 5 records the last layer's output before the stable encoder's final
    /// LayerNorm (4.x recorded the normalised output), so there the last hidden state is not
    /// the encoder output.
    pub fn run(
        &self,
        x: Tensor<3>,
        mask: Option<&Tensor<2, Int>>,
        keep_all: bool,
    ) -> (Tensor<3>, Vec<Tensor<3>>) {
        let [_, frames, _] = x.dims();
        // Padded frames enter the positional convolution as zeros.
        let mut x = match mask {
            Some(m) => x * m.clone().float().unsqueeze_dim::<3>(2),
            None => x,
        };
        let attention =
            mask.map(|m| AttentionMask::from_padding(m).for_heads(self.layers.heads(), frames));
        x = x.clone() + self.pos_conv_embed.forward(x);
        let stable = matches!(self.layers, Wav2Vec2Layers::Stable(_));
        if !stable {
            x = self.layer_norm.forward(x);
        }
        x = crate::nn::dropout(&self.dropout, x);
        let mut states = Vec::new();
        for i in 0..self.layers.len() {
            if keep_all {
                states.push(x.clone());
            }
            x = self.layers.forward(i, x, attention.as_ref());
        }
        if keep_all {
            states.push(x.clone());
        }
        if stable {
            x = self.layer_norm.forward(x);
        }
        (x, states)
    }
}

/// What [`Wav2Vec2Model::run`] returns.
#[derive(Debug, Clone)]
pub struct Wav2Vec2Output {
    /// `[batch, frames, hidden_size]`.
    pub last_hidden_state: Tensor<3>,
    /// With `output_hidden_states`: the `num_hidden_layers + 1` states (see
    /// [`Wav2Vec2Encoder::run`]), otherwise empty.
    pub hidden_states: Vec<Tensor<3>>,
    /// The frame mask `[batch, frames]` derived from the sample-level attention mask
    /// (`_get_feature_vector_attention_mask`), when one was given.
    pub frame_mask: Option<Tensor<2, Int>>,
}

/// `Wav2Vec2Model`: conv feature encoder, feature projection, transformer encoder.
#[derive(Module, Debug)]
pub struct Wav2Vec2Model {
    /// The convolutional feature encoder (`feature_extractor`).
    pub feature_extractor: Wav2Vec2FeatureEncoder,
    /// The feature projection (`feature_projection`).
    pub feature_projection: Wav2Vec2FeatureProjection,
    /// The encoder.
    pub encoder: Wav2Vec2Encoder,
    /// The config the model was built from.
    #[module(skip)]
    pub config: Wav2Vec2Config,
}

impl Wav2Vec2Model {
    /// The model's config.
    pub fn config(&self) -> &Wav2Vec2Config {
        &self.config
    }

    /// `input_values` `[batch, samples]` (normalised by the feature extractor) with an optional
    /// `attention_mask` `[batch, samples]` (1 = audio, 0 = padding).
    pub fn run(
        &self,
        input_values: Tensor<2>,
        attention_mask: Option<&Tensor<2, Int>>,
        output_hidden_states: bool,
    ) -> Result<Wav2Vec2Output> {
        let [batch, samples] = input_values.dims();
        let frames = self.config.feat_extract_output_length(samples);
        if batch == 0 || frames == 0 {
            return Err(ModelError::InvalidInput(format!(
                "audio of {samples} samples is shorter than the model's receptive field of {} \
                 samples ({:.1} ms at 16 kHz)",
                self.config.receptive_field(),
                self.config.receptive_field() as f64 / 16.0
            )));
        }
        let frame_mask = attention_mask
            .map(|mask| self.frame_mask(mask, batch, samples, frames))
            .transpose()?;
        let features = self.feature_extractor.forward(input_values).swap_dims(1, 2);
        let hidden = self.feature_projection.forward(features);
        let (last_hidden_state, hidden_states) =
            self.encoder
                .run(hidden, frame_mask.as_ref(), output_hidden_states);
        Ok(Wav2Vec2Output {
            last_hidden_state,
            hidden_states,
            frame_mask,
        })
    }

    /// `_get_feature_vector_attention_mask`: frame `t` of row `b` is audio when `t` is below the
    /// conv output length of the row's unpadded sample count.
    fn frame_mask(
        &self,
        attention_mask: &Tensor<2, Int>,
        batch: usize,
        samples: usize,
        frames: usize,
    ) -> Result<Tensor<2, Int>> {
        if attention_mask.dims() != [batch, samples] {
            return Err(ModelError::InvalidInput(format!(
                "attention_mask has shape {:?}, input_values {:?}",
                attention_mask.dims(),
                [batch, samples]
            )));
        }
        let lengths: Vec<i64> = attention_mask
            .clone()
            .sum_dim(1)
            .into_host_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(|e| ModelError::InvalidInput(format!("attention_mask: {e:?}")))?;
        let mut data = Vec::with_capacity(batch * frames);
        for (row, &length) in lengths.iter().enumerate() {
            let valid = self
                .config
                .feat_extract_output_length(length.max(0) as usize);
            if valid == 0 {
                return Err(ModelError::InvalidInput(format!(
                    "batch row {row} has {length} unmasked samples, fewer than the model's \
                     receptive field of {}",
                    self.config.receptive_field()
                )));
            }
            data.extend((0..frames).map(|t| i64::from(t < valid)));
        }
        Ok(Tensor::from_data(
            TensorData::new(data, [batch, frames]),
            &attention_mask.device(),
        ))
    }
}

/// `Wav2Vec2ForCTC`: the model and a linear head over the CTC vocabulary (blank = `pad_token_id`).
#[derive(Module, Debug)]
pub struct Wav2Vec2ForCTC {
    /// The Wav2Vec2 encoder (`wav2vec2`).
    pub wav2vec2: Wav2Vec2Model,
    /// Dropout (active only in training).
    pub dropout: Dropout,
    /// The output projection to vocabulary logits (`lm_head`).
    pub lm_head: Linear,
}

impl Wav2Vec2ForCTC {
    /// The model's config.
    pub fn config(&self) -> &Wav2Vec2Config {
        &self.wav2vec2.config
    }

    /// Logits `[batch, frames, vocab_size]`.
    pub fn forward(
        &self,
        input_values: Tensor<2>,
        attention_mask: Option<&Tensor<2, Int>>,
    ) -> Result<Tensor<3>> {
        Ok(self.forward_hidden(input_values, attention_mask, false)?.0)
    }

    /// Logits and (with `output_hidden_states`) every hidden state.
    pub fn forward_hidden(
        &self,
        input_values: Tensor<2>,
        attention_mask: Option<&Tensor<2, Int>>,
        output_hidden_states: bool,
    ) -> Result<(Tensor<3>, Vec<Tensor<3>>)> {
        let out = self
            .wav2vec2
            .run(input_values, attention_mask, output_hidden_states)?;
        let logits = self
            .lm_head
            .forward(crate::nn::dropout(&self.dropout, out.last_hidden_state));
        Ok((logits, out.hidden_states))
    }
}

/// `Wav2Vec2ForSequenceClassification`: the encoder output (or a learned softmax-weighted sum
/// of every hidden state, as transformers 5 records them: see [`Wav2Vec2Encoder::run`]), a
/// projection, mean pooling over the audio frames, a classifier.
#[derive(Module, Debug)]
pub struct Wav2Vec2ForSequenceClassification {
    /// The Wav2Vec2 encoder (`wav2vec2`).
    pub wav2vec2: Wav2Vec2Model,
    /// With `use_weighted_layer_sum`, the learned weight of each layer's hidden states
    /// (`layer_weights`).
    pub layer_weights: Option<Param<Tensor<1>>>,
    /// Projection of the pooled hidden states before the classifier (`projector`).
    pub projector: Linear,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
}

impl Wav2Vec2ForSequenceClassification {
    /// The model's config.
    pub fn config(&self) -> &Wav2Vec2Config {
        &self.wav2vec2.config
    }

    /// The `PretrainedConfig` part of the config (labels).
    pub fn common_config(&self) -> &CommonConfig {
        &self.wav2vec2.config.common
    }

    /// Logits `[batch, num_labels]`. With an attention mask, padded frames are left out of the
    /// mean; without one every frame counts (as in transformers).
    pub fn forward(
        &self,
        input_values: Tensor<2>,
        attention_mask: Option<&Tensor<2, Int>>,
    ) -> Result<Tensor<2>> {
        let weighted = self.layer_weights.is_some();
        let out = self.wav2vec2.run(input_values, attention_mask, weighted)?;
        let hidden = match &self.layer_weights {
            Some(weights) => {
                let weights = softmax(weights.val(), 0);
                let stacked = Tensor::stack::<4>(out.hidden_states, 0);
                let [layers, _, _, _] = stacked.dims();
                (stacked * weights.reshape([layers, 1, 1, 1]))
                    .sum_dim(0)
                    .squeeze_dim::<3>(0)
            }
            None => out.last_hidden_state,
        };
        let projected = self.projector.forward(hidden);
        let pooled = match &out.frame_mask {
            None => projected.mean_dim(1).squeeze_dim::<2>(1),
            Some(mask) => {
                let mask = mask.clone().float();
                let counts = mask.clone().sum_dim(1);
                (projected * mask.unsqueeze_dim::<3>(2))
                    .sum_dim(1)
                    .squeeze_dim::<2>(1)
                    / counts
            }
        };
        Ok(self.classifier.forward(pooled))
    }
}

// Every linear layer with its HF module path, for LoRA adapters and quantization (burn-peft).
crate::impl_linears!(Wav2Vec2FeatureProjection { projection });
crate::impl_linears!(Wav2Vec2Encoder { layers });
crate::impl_linears!(Wav2Vec2Model {
    feature_projection,
    encoder
});
crate::impl_linears!(Wav2Vec2ForCTC { wav2vec2, lm_head });
crate::impl_linears!(Wav2Vec2ForSequenceClassification {
    wav2vec2,
    projector,
    classifier
});
