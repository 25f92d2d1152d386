use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;

use crate::nn::{Activation, FrozenBatchNorm2d};

/// `ResNetConvLayer`: convolution, frozen BatchNorm, then the activation (if any).
#[derive(Module, Debug)]
pub struct ResNetConvLayer {
    /// The convolution (no bias).
    pub convolution: Conv2d,
    /// Batch norm with frozen statistics.
    pub normalization: FrozenBatchNorm2d,
    /// The activation, after the norm (`None`: none).
    #[module(skip)]
    pub activation: Option<Activation>,
}

impl ResNetConvLayer {
    /// Convolution, norm, activation; `[batch, channels, height, width]`.
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
    /// A strided 1x1 convolution when the block changes shape; identity otherwise.
    pub shortcut: Option<ResNetConvLayer>,
    /// The block's convolutions, in order.
    pub layers: Vec<ResNetConvLayer>,
    /// The activation applied after the residual sum.
    #[module(skip)]
    pub activation: Activation,
}

impl ResNetBlock {
    /// The block's output: the activation of its layers' output plus the shortcut.
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
/// feature maps named by `out_features` (DETR reads the last; its mask head the others too).
#[derive(Module, Debug)]
pub struct ResNetBackbone {
    /// The stem: a 7x7 convolution, stride 2.
    pub embedder: ResNetConvLayer,
    /// The stem's 3x3 max pool, stride 2 (`pooler`).
    pub pooler: MaxPool2d,
    /// The residual blocks of each stage.
    pub stages: Vec<Vec<ResNetBlock>>,
    /// Channels of the last returned feature map.
    pub out_channels: usize,
    /// The returned feature maps, ascending: 0 is the stem's output (after pooling), `s` the
    /// output of stage `s` (HF's `"stem"`, `"stage1"`, ...).
    #[module(skip)]
    pub out_indices: Vec<usize>,
    /// Channels of each returned feature map.
    #[module(skip)]
    pub channels: Vec<usize>,
}

impl ResNetBackbone {
    /// `[batch, C, H, W]` -> the last feature map, `[batch, out_channels, ~H/32, ~W/32]`
    /// (for four stages).
    pub fn forward(&self, pixel_values: Tensor<4>) -> Tensor<4> {
        self.forward_features(pixel_values)
            .pop()
            .expect("a backbone returns at least one feature map")
    }

    /// Every feature map of `out_indices`, shallowest first (`BackboneOutput.feature_maps`).
    pub fn forward_features(&self, pixel_values: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = self.pooler.forward(self.embedder.forward(pixel_values));
        let mut features = Vec::with_capacity(self.out_indices.len());
        if self.out_indices.contains(&0) {
            features.push(x.clone());
        }
        for (index, stage) in self.stages.iter().enumerate() {
            for block in stage {
                x = block.forward(x);
            }
            if self.out_indices.contains(&(index + 1)) {
                features.push(x.clone());
            }
        }
        features
    }
}
