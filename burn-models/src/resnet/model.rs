use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;

use crate::nn::{Activation, FrozenBatchNorm2d};

/// `ResNetConvLayer`: convolution, frozen BatchNorm, then the activation (if any).
#[derive(Module, Debug)]
pub struct ResNetConvLayer {
    pub convolution: Conv2d,
    pub normalization: FrozenBatchNorm2d,
    #[module(skip)]
    pub activation: Option<Activation>,
}

impl ResNetConvLayer {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.normalization.forward(self.convolution.forward(x));
        match self.activation {
            Some(activation) => activation.forward(x),
            None => x,
        }
    }
}

/// A basic (two 3x3 convs) or bottleneck (1x1, 3x3, 1x1) residual block; the shortcut is a
/// strided 1x1 conv when the shape changes. The activation follows the residual sum.
#[derive(Module, Debug)]
pub struct ResNetBlock {
    pub shortcut: Option<ResNetConvLayer>,
    pub layers: Vec<ResNetConvLayer>,
    #[module(skip)]
    pub activation: Activation,
}

impl ResNetBlock {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = match &self.shortcut {
            Some(shortcut) => shortcut.forward(x.clone()),
            None => x.clone(),
        };
        let mut h = x;
        for layer in &self.layers {
            h = layer.forward(h);
        }
        self.activation.forward(h + residual)
    }
}

/// `ResNetBackbone`: the stem (7x7/2 conv + 3x3/2 max pool) and the stages, returning the
/// feature map of the last requested stage.
#[derive(Module, Debug)]
pub struct ResNetBackbone {
    pub embedder: ResNetConvLayer,
    pub pooler: MaxPool2d,
    pub stages: Vec<Vec<ResNetBlock>>,
    /// Channels of the returned feature map.
    pub out_channels: usize,
}

impl ResNetBackbone {
    /// `[batch, C, H, W]` -> `[batch, out_channels, ~H/32, ~W/32]` (for four stages).
    pub fn forward(&self, pixel_values: Tensor<4>) -> Tensor<4> {
        let mut x = self.pooler.forward(self.embedder.forward(pixel_values));
        for stage in &self.stages {
            for block in stage {
                x = block.forward(x);
            }
        }
        x
    }
}
