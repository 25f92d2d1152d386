use crate::host::HostRead;
use crate::nn::Linear;
use burn::module::{Module, Param};
use burn::nn::{Dropout, Embedding, LayerNorm};
use burn::tensor::{Int, Tensor, TensorData, activation};

use super::ViltConfig;
use crate::bert::BertPooler;
use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::heads::{EncoderInput, VisualQuestionAnswerer};
use crate::nn::{AttentionMask, PreNormEncoder, TextEmbeddings};
use crate::vit::PatchEmbeddings;

/// ViLT's image side: patch embeddings, `[CLS]`, and position embeddings resized (bilinear,
/// corners aligned) to each image's own patch grid; padding patches are masked out.
#[derive(Module, Debug)]
pub struct ViltPatchEmbeddings {
    /// `[1, 1, hidden]`
    pub cls_token: Param<Tensor<3>>,
    /// `[1, 1 + side * side, hidden]`
    pub position_embeddings: Param<Tensor<3>>,
    /// The patch embedding: a convolution with stride `patch_size` (`patch_embeddings`).
    pub patch_embeddings: PatchEmbeddings,
    /// Dropout (active only in training).
    pub dropout: Dropout,
}

impl ViltPatchEmbeddings {
    /// `visual_embed` with every patch kept: `[batch, 1 + rows * cols, hidden]` and the mask
    /// `[batch, 1 + rows * cols]` (1 = image patch or CLS, 0 = padding).
    pub fn forward(
        &self,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<(Tensor<3>, Tensor<2, Int>)> {
        let [batch, _, height, width] = pixel_values.dims();
        let p = self.patch_embeddings.patch_size;
        let (rows, cols) = (height / p, width / p);
        let device = pixel_values.device();
        let patches = self.patch_embeddings.forward(pixel_values);
        let [_, _, hidden] = patches.dims();

        // transformers resizes the pixel mask to the patch grid (nearest), then counts valid
        // rows and columns along the first column and row.
        let mask_values = pixel_mask
            .into_host_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| ModelError::InvalidInput(format!("reading pixel_mask: {e:?}")))?;
        let nearest = |i: usize, out: usize, size: usize| {
            (((i as f32) * (size as f32 / out as f32)).floor() as usize).min(size - 1)
        };
        let mut patch_mask = vec![0i64; batch * rows * cols];
        let mut valid = Vec::with_capacity(batch);
        for b in 0..batch {
            for r in 0..rows {
                for c in 0..cols {
                    let (y, x) = (nearest(r, rows, height), nearest(c, cols, width));
                    patch_mask[(b * rows + r) * cols + c] =
                        i64::from(mask_values[(b * height + y) * width + x] != 0);
                }
            }
            let grid = &patch_mask[b * rows * cols..(b + 1) * rows * cols];
            let valid_rows = (0..rows).filter(|r| grid[r * cols] != 0).count();
            let valid_cols = (0..cols).filter(|c| grid[*c] != 0).count();
            if valid_rows == 0 || valid_cols == 0 {
                return Err(ModelError::InvalidInput(format!(
                    "image {b} of the batch has no unmasked patch (pixel_mask is empty)"
                )));
            }
            valid.push((valid_rows, valid_cols));
        }

        let positions = self.grid_positions(&valid, rows, cols)?;
        let cls = self.cls_token.val().expand([batch, 1, hidden]);
        let table = self.position_embeddings.val();
        let cls_position = table.slice([0..1, 0..1]).expand([batch, 1, hidden]);
        let x = Tensor::cat(vec![cls + cls_position, patches + positions], 1);
        let mask = Tensor::cat(
            vec![
                Tensor::ones([batch, 1], &device),
                Tensor::from_data(TensorData::new(patch_mask, [batch, rows * cols]), &device),
            ],
            1,
        );
        Ok((crate::nn::dropout(&self.dropout, x), mask))
    }

    /// Position embeddings of every patch `[batch, rows * cols, hidden]`: the learned grid
    /// resized to each image's valid `(rows, cols)` (PyTorch's bilinear interpolation with
    /// `align_corners=True`), zero on padding patches.
    fn grid_positions(
        &self,
        valid: &[(usize, usize)],
        rows: usize,
        cols: usize,
    ) -> Result<Tensor<3>> {
        let table = self.position_embeddings.val();
        let [_, positions, dim] = table.dims();
        let side = ((positions - 1) as f64).sqrt() as usize;
        let device = table.device();
        let values = table
            .into_host_data()
            .try_to_vec::<f32>()
            .map_err(|e| ModelError::InvalidInput(format!("reading position embeddings: {e:?}")))?;
        let grid = &values[dim..];
        let mut out = vec![0f32; valid.len() * rows * cols * dim];
        for (b, &(h, w)) in valid.iter().enumerate() {
            let ys = bilinear_align_corners(side, h);
            let xs = bilinear_align_corners(side, w);
            for (oy, &(y0, y1, ty)) in ys.iter().enumerate() {
                for (ox, &(x0, x1, tx)) in xs.iter().enumerate() {
                    let dst = ((b * rows + oy) * cols + ox) * dim;
                    let corners = [
                        (y0, x0, (1.0 - ty) * (1.0 - tx)),
                        (y0, x1, (1.0 - ty) * tx),
                        (y1, x0, ty * (1.0 - tx)),
                        (y1, x1, ty * tx),
                    ];
                    for (y, x, weight) in corners {
                        let src = (y * side + x) * dim;
                        for d in 0..dim {
                            out[dst + d] += weight * grid[src + d];
                        }
                    }
                }
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(out, [valid.len(), rows * cols, dim]),
            &device,
        ))
    }
}

/// For each output index: the two source indices and the weight of the second, as
/// PyTorch's `interpolate(mode="bilinear", align_corners=True)`.
fn bilinear_align_corners(in_size: usize, out_size: usize) -> Vec<(usize, usize, f32)> {
    let scale = if out_size > 1 {
        (in_size - 1) as f32 / (out_size - 1) as f32
    } else {
        0.0
    };
    (0..out_size)
        .map(|o| {
            let real = scale * o as f32;
            let i0 = (real.floor() as usize).min(in_size - 1);
            let i1 = (i0 + 1).min(in_size - 1);
            (i0, i1, real - i0 as f32)
        })
        .collect()
}

/// `ViltModel`: text and image embeddings (plus modality type embeddings) in one pre-norm
/// encoder, a final LayerNorm, and the `[CLS]` pooler.
#[derive(Module, Debug)]
pub struct ViltModel {
    /// Text embeddings: tokens, positions, token types (`embeddings.text_embeddings`).
    pub text_embeddings: TextEmbeddings,
    /// Patch embeddings of the image, with their positions.
    pub image_embeddings: ViltPatchEmbeddings,
    /// Modality types: 0 for text tokens, 1 for image patches.
    pub token_type_embeddings: Embedding,
    /// The encoder.
    pub encoder: PreNormEncoder,
    /// Layer norm after the encoder (`layernorm`).
    pub layernorm: LayerNorm,
    /// The pooler: dense + tanh on the first token (`pooler`).
    pub pooler: BertPooler,
    /// The config the model was built from.
    #[module(skip)]
    pub config: ViltConfig,
}

/// Outputs of [`ViltModel::forward`].
#[derive(Debug, Clone)]
pub struct ViltOutput {
    /// `[batch, text + 1 + patches, hidden]`
    pub last_hidden_state: Tensor<3>,
    /// `[batch, hidden]`
    pub pooler_output: Tensor<2>,
}

impl ViltModel {
    /// `text`: the question's tokens; `pixel_values` `[batch, C, H, W]` with `pixel_mask`
    /// `[batch, H, W]` (1 = image, 0 = padding).
    pub fn forward(
        &self,
        text: &EncoderInput,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<ViltOutput> {
        let c = &self.config;
        text.check_fits(c.vocab_size, c.max_position_embeddings, c.type_vocab_size)?;
        let [batch, channels, height, width] = pixel_values.dims();
        if batch != text.batch_size() {
            return Err(ModelError::InvalidInput(format!(
                "{} questions but {batch} images",
                text.batch_size()
            )));
        }
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
        if pixel_mask.dims() != [batch, height, width] {
            return Err(ModelError::InvalidInput(format!(
                "pixel_mask is {:?}, the images {:?}",
                pixel_mask.dims(),
                [batch, height, width]
            )));
        }
        let modality = |index: usize, len: usize| {
            self.token_type_embeddings
                .weight
                .val()
                .slice(index..index + 1)
                .reshape([1, 1, c.hidden_size])
                .expand([batch, len, c.hidden_size])
        };
        let words =
            self.text_embeddings
                .forward(text.input_ids.clone(), text.token_type_ids.clone(), None);
        let words = words + modality(0, text.seq_len());
        let (patches, patch_mask) = self.image_embeddings.forward(pixel_values, pixel_mask)?;
        let patches_len = patches.dims()[1];
        let patches = patches + modality(1, patches_len);
        let embedded = Tensor::cat(vec![words, patches], 1);
        let mask = Tensor::cat(vec![text.attention_mask.clone(), patch_mask], 1);
        let hidden = self
            .encoder
            .forward(embedded, Some(&AttentionMask::from_padding(&mask)));
        let last_hidden_state = self.layernorm.forward(hidden);
        let pooler_output = self.pooler.forward(last_hidden_state.clone());
        Ok(ViltOutput {
            last_hidden_state,
            pooler_output,
        })
    }
}

/// `ViltForQuestionAnswering`: an MLP (linear, LayerNorm, GELU, linear) on the pooled output,
/// one logit per answer of the answer vocabulary (scored with a sigmoid).
#[derive(Module, Debug)]
pub struct ViltForQuestionAnswering {
    /// The ViLT encoder (`vilt`).
    pub vilt: ViltModel,
    /// First linear layer of the answer head (`classifier.0`).
    pub dense: Linear,
    /// Its layer norm (`classifier.1`).
    pub norm: LayerNorm,
    /// Last linear layer: one logit per answer (`classifier.3`).
    pub output: Linear,
}

impl VisualQuestionAnswerer for ViltForQuestionAnswering {
    fn logits(
        &self,
        text: &EncoderInput,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<Tensor<2>> {
        let pooled = self
            .vilt
            .forward(text, pixel_values, pixel_mask)?
            .pooler_output;
        let hidden = activation::gelu(self.norm.forward(self.dense.forward(pooled)));
        Ok(self.output.forward(hidden))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.vilt.config.common
    }
}

// Every linear layer with its HF module path, for LoRA adapters and quantization (burn-peft).
crate::impl_linears!(ViltPatchEmbeddings { patch_embeddings });
crate::impl_linears!(ViltModel {
    image_embeddings,
    encoder,
    pooler
});
crate::impl_linears!(ViltForQuestionAnswering {
    vilt,
    dense,
    output
});
