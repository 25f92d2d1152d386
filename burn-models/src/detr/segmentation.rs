//! `DetrForSegmentation`: DETR's detections plus a mask per query, from the attention of each
//! decoded query over the encoder's feature map (`DetrMHAttentionMap`) refined by a small
//! FPN over the backbone's earlier feature maps (`DetrMaskHeadSmallConv`).

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Int, Tensor, TensorData, activation};

use super::{DetrDetections, DetrForObjectDetection};
use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::Linear;
use crate::vision::ImageSegmenter;

/// `DetrMHAttentionMap`: multi-head attention weights of the queries over the feature map
/// (no values), with one softmax over all heads and positions together, as DETR has it.
#[derive(Module, Debug)]
pub struct DetrMHAttentionMap {
    /// Projects the queries (`q_linear`).
    pub q_linear: Linear,
    /// A 1x1 convolution over the feature map in HF; a linear map over `[batch, h*w, d]` here.
    pub k_linear: Linear,
    /// Attention heads.
    #[module(skip)]
    pub num_heads: usize,
}

impl DetrMHAttentionMap {
    /// `queries` `[batch, num_queries, d]`, `memory` `[batch, h * w, d]`, `padding`
    /// `[batch, h * w]` (true = padded). Returns `[batch * num_queries, heads, h, w]`.
    pub fn forward(
        &self,
        queries: Tensor<3>,
        memory: Tensor<3>,
        padding: Tensor<2, burn::tensor::Bool>,
        [h, w]: [usize; 2],
    ) -> Tensor<4> {
        let [batch, num_queries, d] = queries.dims();
        let heads = self.num_heads;
        let head_dim = d / heads;
        let normalize = (head_dim as f32).powf(-0.5);
        // [batch, heads, queries, head_dim] x [batch, heads, head_dim, h*w]
        let q = (self.q_linear.forward(queries) * normalize)
            .reshape([batch, num_queries, heads, head_dim])
            .swap_dims(1, 2);
        let k = self
            .k_linear
            .forward(memory)
            .reshape([batch, h * w, heads, head_dim])
            .permute([0, 2, 3, 1]);
        let weights = q.matmul(k).swap_dims(1, 2); // [batch, queries, heads, h*w]
        let hidden =
            padding
                .reshape([batch, 1, 1, h * w])
                .expand([batch, num_queries, heads, h * w]);
        let weights = weights.mask_fill(hidden, f32::MIN);
        activation::softmax(weights.reshape([batch, num_queries, heads * h * w]), 2).reshape([
            batch * num_queries,
            heads,
            h,
            w,
        ])
    }
}

/// `DetrMaskHeadSmallConv`: 3x3 convs with GroupNorm and ReLU, upsampled (nearest) three times
/// and added to 1x1-adapted backbone features (an FPN), ending in one mask logit per pixel.
#[derive(Module, Debug)]
pub struct DetrMaskHeadSmallConv {
    /// First 3x3 convolution (`lay1`).
    pub lay1: Conv2d,
    /// Its group norm (`gn1`).
    pub gn1: GroupNorm,
    /// Second 3x3 convolution (`lay2`).
    pub lay2: Conv2d,
    /// Its group norm (`gn2`).
    pub gn2: GroupNorm,
    /// Third 3x3 convolution, after the first upsampling (`lay3`).
    pub lay3: Conv2d,
    /// Its group norm (`gn3`).
    pub gn3: GroupNorm,
    /// Fourth 3x3 convolution (`lay4`).
    pub lay4: Conv2d,
    /// Its group norm (`gn4`).
    pub gn4: GroupNorm,
    /// Fifth 3x3 convolution (`lay5`).
    pub lay5: Conv2d,
    /// Its group norm (`gn5`).
    pub gn5: GroupNorm,
    /// The final 3x3 convolution to one mask logit per pixel (`out_lay`).
    pub out_lay: Conv2d,
    /// 1x1 convolution adapting the third backbone stage's features (`adapter1`).
    pub adapter1: Conv2d,
    /// 1x1 convolution adapting the second stage's features (`adapter2`).
    pub adapter2: Conv2d,
    /// 1x1 convolution adapting the first stage's features (`adapter3`).
    pub adapter3: Conv2d,
}

/// `_expand`: `[batch, ...]` -> `[batch * length, ...]`, each item repeated `length` times.
fn expand(x: Tensor<4>, length: usize) -> Tensor<4> {
    let [batch, c, h, w] = x.dims();
    x.unsqueeze_dim::<5>(1)
        .expand([batch, length, c, h, w])
        .reshape([batch * length, c, h, w])
}

/// `F.interpolate(x, size, mode="nearest")` with PyTorch's source index rule (identity for
/// equal sizes, `i >> 1` for exact doubling, else `floor(i * (in / out))` in f32), as a gather.
fn upsample_nearest(x: Tensor<4>, [out_h, out_w]: [usize; 2]) -> Tensor<4> {
    let [_, _, in_h, in_w] = x.dims();
    let device = x.device();
    let indices = |input: usize, output: usize| -> Tensor<1, Int> {
        let scale = input as f32 / output as f32;
        let index: Vec<i64> = (0..output)
            .map(|o| {
                if output == input {
                    o
                } else if output == 2 * input {
                    o >> 1
                } else {
                    ((o as f32 * scale).floor() as usize).min(input - 1)
                }
            })
            .map(|i| i as i64)
            .collect();
        Tensor::from_data(TensorData::new(index, [output]), &device)
    };
    x.select(2, indices(in_h, out_h))
        .select(3, indices(in_w, out_w))
}

impl DetrMaskHeadSmallConv {
    /// `x`: the projected feature map `[batch, d, h, w]`; `bbox_mask`: the attention maps
    /// `[batch * queries, heads, h, w]`; `fpns`: backbone features, deepest first (stage 3,
    /// 2, 1 of a ResNet). Returns mask logits `[batch * queries, 1, H, W]` at `fpns[2]`'s size.
    pub fn forward(&self, x: Tensor<4>, bbox_mask: Tensor<4>, fpns: [Tensor<4>; 3]) -> Tensor<4> {
        let [batch, ..] = x.dims();
        let [rows, ..] = bbox_mask.dims();
        let queries = rows / batch.max(1);
        let block = |x: Tensor<4>, conv: &Conv2d, norm: &GroupNorm| {
            activation::relu(norm.forward(conv.forward(x)))
        };
        let mut x = Tensor::cat(vec![expand(x, queries), bbox_mask], 1);
        x = block(x, &self.lay1, &self.gn1);
        x = block(x, &self.lay2, &self.gn2);
        let [fpn1, fpn2, fpn3] = fpns;
        for (fpn, adapter, conv, norm) in [
            (fpn1, &self.adapter1, &self.lay3, &self.gn3),
            (fpn2, &self.adapter2, &self.lay4, &self.gn4),
            (fpn3, &self.adapter3, &self.lay5, &self.gn5),
        ] {
            let fpn = expand(adapter.forward(fpn), queries);
            let [_, _, fh, fw] = fpn.dims();
            x = block(fpn + upsample_nearest(x, [fh, fw]), conv, norm);
        }
        self.out_lay.forward(x)
    }
}

/// Outputs of [`DetrForSegmentation::forward`].
#[derive(Debug, Clone)]
pub struct DetrSegmentationOutput {
    /// `[batch, num_queries, num_labels + 1]`; the last class is "no object".
    pub logits: Tensor<3>,
    /// `[batch, num_queries, 4]`, relative `(center_x, center_y, width, height)`.
    pub pred_boxes: Tensor<3>,
    /// Mask logits `[batch, num_queries, H/4, W/4]` (the first backbone stage's size).
    pub pred_masks: Tensor<4>,
    /// The decoder's output, for post-processing.
    pub detections: DetrDetections,
}

/// `DetrForSegmentation`: `DetrForObjectDetection` (under `detr.`) plus the mask head.
#[derive(Module, Debug)]
pub struct DetrForSegmentation {
    /// The DETR detector (`detr`).
    pub detr: DetrForObjectDetection,
    /// Attention of the decoder's output over the encoder's feature map (`bbox_attention`).
    pub bbox_attention: DetrMHAttentionMap,
    /// The mask head (`mask_head`).
    pub mask_head: DetrMaskHeadSmallConv,
}

impl DetrForSegmentation {
    /// `pixel_values` `[batch, C, H, W]`, `pixel_mask` `[batch, H, W]` (1 = image).
    pub fn forward(
        &self,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<DetrSegmentationOutput> {
        let detections = self.detr.forward(pixel_values, pixel_mask)?;
        let model = &detections.model;
        let [batch, _, h, w] = model.feature_map.dims();
        let features = &model.backbone_features;
        if features.len() < 3 {
            return Err(ModelError::Unsupported(format!(
                "the mask head needs 3 backbone feature maps besides the last, got {}",
                features.len()
            )));
        }
        let padding = model
            .feature_mask
            .clone()
            .equal_elem(0)
            .reshape([batch, h * w]);
        let bbox_mask = self.bbox_attention.forward(
            model.last_hidden_state.clone(),
            model.encoder_last_hidden_state.clone(),
            padding,
            [h, w],
        );
        let seg_masks = self.mask_head.forward(
            model.projected_feature_map.clone(),
            bbox_mask,
            [
                features[2].clone(),
                features[1].clone(),
                features[0].clone(),
            ],
        );
        let [_, _, mh, mw] = seg_masks.dims();
        let queries = self.detr.model.config.num_queries;
        Ok(DetrSegmentationOutput {
            logits: detections.logits.clone(),
            pred_boxes: detections.pred_boxes.clone(),
            pred_masks: seg_masks.reshape([batch, queries, mh, mw]),
            detections,
        })
    }
}

impl ImageSegmenter for DetrForSegmentation {
    fn segment(
        &self,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<(Tensor<3>, Tensor<4>)> {
        let out = self.forward(pixel_values, pixel_mask)?;
        Ok((out.logits, out.pred_masks))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.detr.model.config.common
    }
}

// Every linear layer with its HF module path (the mask head is convolutions only).
crate::impl_linears!(DetrMHAttentionMap { q_linear, k_linear });
crate::impl_linears!(DetrForSegmentation {
    detr,
    bbox_attention
});
