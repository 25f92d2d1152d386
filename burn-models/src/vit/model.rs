use crate::host::HostRead;
use crate::nn::Linear;
use burn::module::{Module, Param};
use burn::nn::{Dropout, LayerNorm};
use burn::tensor::{Tensor, TensorData};

use super::ViTConfig;
use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::PreNormEncoder;
use crate::vision::ImageClassifier;

/// `ViTPatchEmbeddings`: a `patch x patch` Conv2d with stride `patch`. Non-overlapping, so it
/// is computed as what it is, one matmul over the flattened patches (the conv weight
/// `[hidden, C, p, p]` reshaped to a `[C*p*p, hidden]` linear layer), which is much faster
/// than a general convolution.
#[derive(Module, Debug)]
pub struct PatchEmbeddings {
    /// The patch convolution as a linear map from a flattened patch to `hidden_size`.
    pub projection: Linear,
    /// Side of the square patches, in pixels.
    pub patch_size: usize,
    /// Channels of the input images.
    pub num_channels: usize,
}

impl PatchEmbeddings {
    /// `[batch, C, H, W]` -> `[batch, (H/p) * (W/p), hidden]`, patches in row-major order.
    /// Trailing rows/columns that do not fill a patch are dropped, as the strided conv does.
    pub fn forward(&self, pixel_values: Tensor<4>) -> Tensor<3> {
        let [batch, channels, height, width] = pixel_values.dims();
        let p = self.patch_size;
        let (rows, cols) = (height / p, width / p);
        let patches = pixel_values
            .slice([0..batch, 0..channels, 0..rows * p, 0..cols * p])
            .reshape([batch, channels, rows, p, cols, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([batch, rows * cols, channels * p * p]);
        self.projection.forward(patches)
    }
}

/// `ViTEmbeddings`: patch embeddings, the `[CLS]` token, learned position embeddings.
#[derive(Module, Debug)]
pub struct ViTEmbeddings {
    /// `[1, 1, hidden]`
    pub cls_token: Param<Tensor<3>>,
    /// `[1, 1 + patches, hidden]`
    pub position_embeddings: Param<Tensor<3>>,
    /// The patch embedding: a convolution with stride `patch_size` (`patch_embeddings`).
    pub patch_embeddings: PatchEmbeddings,
    /// Dropout (active only in training).
    pub dropout: Dropout,
}

impl ViTEmbeddings {
    /// Patch embeddings with the `[CLS]` token and positions: `[batch, 1 + patches, hidden]`.
    /// `interpolate_pos_encoding` resizes the position embeddings for other image sizes.
    pub fn forward(
        &self,
        pixel_values: Tensor<4>,
        interpolate_pos_encoding: bool,
    ) -> Result<Tensor<3>> {
        let [batch, _, height, width] = pixel_values.dims();
        let patches = self.patch_embeddings.forward(pixel_values);
        let [_, _, hidden] = patches.dims();
        let cls = self.cls_token.val().expand([batch, 1, hidden]);
        let x = Tensor::cat(vec![cls, patches], 1);
        let positions = if interpolate_pos_encoding {
            self.interpolate_pos_encoding(x.dims()[1] - 1, height, width)?
        } else {
            self.position_embeddings.val()
        };
        Ok(crate::nn::dropout(&self.dropout, x + positions))
    }

    /// HF's `interpolate_pos_encoding`: the patch position grid resized bicubically
    /// (PyTorch's `interpolate(mode="bicubic", align_corners=False)`) to the new patch grid;
    /// unchanged when the patch count matches and the image is square.
    pub fn interpolate_pos_encoding(
        &self,
        num_patches: usize,
        height: usize,
        width: usize,
    ) -> Result<Tensor<3>> {
        let table = self.position_embeddings.val();
        let [_, positions, dim] = table.dims();
        let num_positions = positions - 1;
        if num_patches == num_positions && height == width {
            return Ok(table);
        }
        let side = (num_positions as f64).sqrt() as usize;
        let p = self.patch_embeddings.patch_size;
        let (new_h, new_w) = (height / p, width / p);
        let device = table.device();
        let values = table
            .clone()
            .into_host_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| ModelError::InvalidInput(format!("reading position embeddings: {e:?}")))?;
        // Grid [side, side, dim] (row-major, position 1 + y * side + x).
        let grid = &values[dim..];
        let wx = bicubic_weights(side, new_w);
        let wy = bicubic_weights(side, new_h);
        let mut out = vec![0f32; (1 + new_h * new_w) * dim];
        out[..dim].copy_from_slice(&values[..dim]);
        for (oy, (iy, ky)) in wy.iter().enumerate() {
            for (ox, (ix, kx)) in wx.iter().enumerate() {
                let dst = (1 + oy * new_w + ox) * dim;
                for (j, &wyj) in ky.iter().enumerate() {
                    let y = iy[j];
                    for (i, &wxi) in kx.iter().enumerate() {
                        let w = wyj * wxi;
                        let src = (y * side + ix[i]) * dim;
                        for d in 0..dim {
                            out[dst + d] += w * grid[src + d];
                        }
                    }
                }
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(out, [1, 1 + new_h * new_w, dim]),
            &device,
        ))
    }
}

/// Source indices (clamped to the border) and weights of PyTorch's bicubic upsampling
/// (`A = -0.75`, `align_corners=False`) for every output index.
fn bicubic_weights(in_size: usize, out_size: usize) -> Vec<([usize; 4], [f32; 4])> {
    const A: f32 = -0.75;
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|o| {
            let real = scale * (o as f32 + 0.5) - 0.5;
            let index = real.floor();
            let t = (real - index).clamp(0.0, 1.0);
            let index = index as i64;
            let clamp = |i: i64| i.clamp(0, in_size as i64 - 1) as usize;
            (
                [
                    clamp(index - 1),
                    clamp(index),
                    clamp(index + 1),
                    clamp(index + 2),
                ],
                [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)],
            )
        })
        .collect()
}

/// `ViTModel` without the pooler: embeddings, pre-norm encoder, final LayerNorm.
#[derive(Module, Debug)]
pub struct ViTModel {
    /// The embeddings (`embeddings`).
    pub embeddings: ViTEmbeddings,
    /// The encoder.
    pub encoder: PreNormEncoder,
    /// Layer norm after the encoder (`layernorm`).
    pub layernorm: LayerNorm,
    /// The config the model was built from.
    #[module(skip)]
    pub config: ViTConfig,
}

impl ViTModel {
    /// `last_hidden_state` `[batch, 1 + patches, hidden]` of `pixel_values` `[batch, C, H, W]`.
    /// Other image sizes than the config's need `interpolate_pos_encoding`, as in HF.
    pub fn forward(
        &self,
        pixel_values: Tensor<4>,
        interpolate_pos_encoding: bool,
    ) -> Result<Tensor<3>> {
        let [_, channels, height, width] = pixel_values.dims();
        let c = &self.config;
        if channels != c.num_channels {
            return Err(ModelError::InvalidInput(format!(
                "pixel values have {channels} channels, the model takes {}",
                c.num_channels
            )));
        }
        if height < c.patch_size || width < c.patch_size {
            return Err(ModelError::InvalidInput(format!(
                "a {height}x{width} image is smaller than one {0}x{0} patch",
                c.patch_size
            )));
        }
        if !interpolate_pos_encoding && (height != c.image_size || width != c.image_size) {
            return Err(ModelError::InvalidInput(format!(
                "input image size ({height}*{width}) doesn't match model ({0}*{0}); resize it or \
                 use interpolate_pos_encoding",
                c.image_size
            )));
        }
        let embedded = self
            .embeddings
            .forward(pixel_values, interpolate_pos_encoding)?;
        Ok(self.layernorm.forward(self.encoder.forward(embedded, None)))
    }
}

/// `ViTForImageClassification`: a linear classifier on the final `[CLS]` state.
#[derive(Module, Debug)]
pub struct ViTForImageClassification {
    /// The ViT encoder (`vit`).
    pub vit: ViTModel,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
}

impl ViTForImageClassification {
    /// Logits `[batch, num_labels]` of images `[batch, channels, height, width]`, from the
    /// `[CLS]` token.
    pub fn forward(
        &self,
        pixel_values: Tensor<4>,
        interpolate_pos_encoding: bool,
    ) -> Result<Tensor<2>> {
        let hidden = self.vit.forward(pixel_values, interpolate_pos_encoding)?;
        let [batch, _, dim] = hidden.dims();
        let cls = hidden.slice([0..batch, 0..1]).reshape([batch, dim]);
        Ok(self.classifier.forward(cls))
    }
}

impl ImageClassifier for ViTForImageClassification {
    fn logits(&self, pixel_values: Tensor<4>) -> Result<Tensor<2>> {
        self.forward(pixel_values, false)
    }

    fn common_config(&self) -> &CommonConfig {
        &self.vit.config.common
    }
}

// Every linear layer with its HF module path, for LoRA adapters and quantization (burn-peft).
// (HF's patch projection is a Conv2d held here as a linear over flattened patches.)
crate::impl_linears!(PatchEmbeddings { projection });
crate::impl_linears!(ViTEmbeddings { patch_embeddings });
crate::impl_linears!(ViTModel {
    embeddings,
    encoder
});
crate::impl_linears!(ViTForImageClassification { vit, classifier });
