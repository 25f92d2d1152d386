use crate::host::HostRead;
use crate::nn::Linear;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData, activation};

use super::DetrConfig;
use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::{AttentionMask, FeedForward, MultiHeadAttention};
use crate::resnet::ResNetBackbone;
use crate::vision::ObjectDetector;

/// `DetrEncoderLayer`: post-norm self-attention whose queries and keys carry the position
/// embeddings (the values do not), then the feed-forward block.
#[derive(Module, Debug)]
pub struct DetrEncoderLayer {
    /// Self-attention (`self_attn`).
    pub self_attn: MultiHeadAttention,
    /// Layer norm of the self-attention block (`self_attn_layer_norm`).
    pub self_attn_layer_norm: LayerNorm,
    /// The feed-forward block.
    pub feed_forward: FeedForward,
    /// Layer norm before (pre-norm) or after (post-norm) the feed-forward block
    /// (`final_layer_norm`).
    pub final_layer_norm: LayerNorm,
}

impl DetrEncoderLayer {
    /// One post-norm encoder layer: `pos` (sine position embeddings) is added to queries and keys.
    pub fn forward(&self, x: Tensor<3>, pos: &Tensor<3>, mask: &AttentionMask) -> Tensor<3> {
        let with_pos = x.clone() + pos.clone();
        let attended = self
            .self_attn
            .attend(with_pos.clone(), with_pos, x.clone(), Some(mask));
        let h = self.self_attn_layer_norm.forward(x + attended);
        self.final_layer_norm
            .forward(h.clone() + self.feed_forward.forward(h))
    }
}

/// `DetrDecoderLayer`: self-attention among the queries (with their position embeddings),
/// cross-attention into the encoder output (with the spatial ones), feed-forward; post-norm.
#[derive(Module, Debug)]
pub struct DetrDecoderLayer {
    /// Self-attention (`self_attn`).
    pub self_attn: MultiHeadAttention,
    /// Layer norm of the self-attention block (`self_attn_layer_norm`).
    pub self_attn_layer_norm: LayerNorm,
    /// Cross-attention over the encoder output (`encoder_attn`).
    pub encoder_attn: MultiHeadAttention,
    /// Layer norm of the cross-attention block (`encoder_attn_layer_norm`).
    pub encoder_attn_layer_norm: LayerNorm,
    /// The feed-forward block.
    pub feed_forward: FeedForward,
    /// Layer norm before (pre-norm) or after (post-norm) the feed-forward block
    /// (`final_layer_norm`).
    pub final_layer_norm: LayerNorm,
}

impl DetrDecoderLayer {
    /// One post-norm decoder layer over the object queries and the encoder's memory.
    pub fn forward(
        &self,
        x: Tensor<3>,
        query_pos: &Tensor<3>,
        memory: &Tensor<3>,
        memory_pos: &Tensor<3>,
        memory_mask: &AttentionMask,
    ) -> Tensor<3> {
        let q = x.clone() + query_pos.clone();
        let attended = self.self_attn.attend(q.clone(), q, x.clone(), None);
        let h = self.self_attn_layer_norm.forward(x + attended);
        let crossed = self.encoder_attn.attend(
            h.clone() + query_pos.clone(),
            memory.clone() + memory_pos.clone(),
            memory.clone(),
            Some(memory_mask),
        );
        let h = self.encoder_attn_layer_norm.forward(h + crossed);
        self.final_layer_norm
            .forward(h.clone() + self.feed_forward.forward(h))
    }
}

/// Outputs of [`DetrModel::forward`].
#[derive(Debug, Clone)]
pub struct DetrOutput {
    /// Decoder output, `[batch, num_queries, d_model]`.
    pub last_hidden_state: Tensor<3>,
    /// `[batch, feature_h * feature_w, d_model]`
    pub encoder_last_hidden_state: Tensor<3>,
    /// The backbone's (last) feature map, `[batch, channels, feature_h, feature_w]`.
    pub feature_map: Tensor<4>,
    /// Every feature map the backbone returns (its `out_features`), shallowest first; the
    /// last is `feature_map`. The segmentation head reads the earlier ones.
    pub backbone_features: Vec<Tensor<4>>,
    /// `feature_map` through the 1x1 input projection, `[batch, d_model, feature_h, feature_w]`.
    pub projected_feature_map: Tensor<4>,
    /// The pixel mask at the feature map's size, `[batch, feature_h, feature_w]` (1 = image).
    pub feature_mask: Tensor<3, Int>,
}

/// `DetrModel`: backbone, 1x1 input projection, encoder, decoder over learned queries.
#[derive(Module, Debug)]
pub struct DetrModel {
    /// The ResNet backbone (`backbone`).
    pub backbone: ResNetBackbone,
    /// 1x1 convolution from the backbone's channels to `d_model` (`input_projection`).
    pub input_projection: Conv2d,
    /// The learned object queries' position embeddings (`query_position_embeddings`).
    pub query_position_embeddings: Embedding,
    /// The encoder layers.
    pub encoder: Vec<DetrEncoderLayer>,
    /// The decoder.
    pub decoder: Vec<DetrDecoderLayer>,
    /// Layer norm after the last decoder layer (`decoder.layernorm`).
    pub decoder_layernorm: LayerNorm,
    /// The config the model was built from.
    #[module(skip)]
    pub config: DetrConfig,
}

impl DetrModel {
    /// `pixel_values` `[batch, C, H, W]`, `pixel_mask` `[batch, H, W]` (1 = image,
    /// 0 = padding; all ones for unpadded batches).
    pub fn forward(
        &self,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<DetrOutput> {
        let [batch, channels, height, width] = pixel_values.dims();
        if channels != self.config.num_channels {
            return Err(ModelError::InvalidInput(format!(
                "pixel values have {channels} channels, the model takes {}",
                self.config.num_channels
            )));
        }
        if pixel_mask.dims() != [batch, height, width] {
            return Err(ModelError::InvalidInput(format!(
                "pixel_mask has shape {:?}, expected {:?}",
                pixel_mask.dims(),
                [batch, height, width]
            )));
        }
        if height < 32 || width < 32 {
            return Err(ModelError::InvalidInput(format!(
                "a {height}x{width} image is too small for DETR's backbone (32x32 at least)"
            )));
        }
        let device = pixel_values.device();
        let backbone_features = self.backbone.forward_features(pixel_values);
        let feature_map = backbone_features
            .last()
            .cloned()
            .ok_or_else(|| ModelError::Unsupported("a backbone without feature maps".into()))?;
        let [_, _, fh, fw] = feature_map.dims();
        let mask = downsample_mask(&pixel_mask, fh, fw)?;
        let pos = sine_position_embeddings(&mask, batch, fh, fw, self.config.d_model, &device);
        let keep: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
        let feature_mask = Tensor::<3, Int>::from_data(
            TensorData::new(
                mask.iter().map(|&m| m as i64).collect::<Vec<_>>(),
                [batch, fh, fw],
            ),
            &device,
        );
        // Keys at padded positions are hidden from every query.
        let hidden_keys = AttentionMask(
            Tensor::<1, Bool>::from_data(
                TensorData::new(
                    keep.iter().map(|k| !k).collect::<Vec<_>>(),
                    [batch * fh * fw],
                ),
                &device,
            )
            .reshape([batch, 1, 1, fh * fw]),
        );

        let projected = self.input_projection.forward(feature_map.clone());
        let d = self.config.d_model;
        let mut x = projected
            .clone()
            .reshape([batch, d, fh * fw])
            .swap_dims(1, 2);
        let encoder_mask = hidden_keys.for_heads(self.config.encoder_attention_heads, fh * fw);
        for layer in &self.encoder {
            x = layer.forward(x, &pos, &encoder_mask);
        }
        let memory = x;

        let queries = self.config.num_queries;
        let query_pos = self
            .query_position_embeddings
            .weight
            .val()
            .unsqueeze::<3>()
            .expand([batch, queries, d]);
        let cross_mask = hidden_keys.for_heads(self.config.decoder_attention_heads, queries);
        let mut h = Tensor::zeros([batch, queries, d], &device);
        for layer in &self.decoder {
            h = layer.forward(h, &query_pos, &memory, &pos, &cross_mask);
        }
        Ok(DetrOutput {
            last_hidden_state: self.decoder_layernorm.forward(h),
            encoder_last_hidden_state: memory,
            feature_map,
            backbone_features,
            projected_feature_map: projected,
            feature_mask,
        })
    }
}

/// `interpolate(pixel_mask, size=(h, w))` (nearest, PyTorch's index rule
/// `floor(out_index * in / out)` in f32), on the host.
fn downsample_mask(pixel_mask: &Tensor<3, Int>, fh: usize, fw: usize) -> Result<Vec<u8>> {
    let [batch, height, width] = pixel_mask.dims();
    let values = pixel_mask
        .clone()
        .into_host_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| ModelError::InvalidInput(format!("reading pixel_mask: {e:?}")))?;
    let index = |o: usize, input: usize, output: usize| {
        let scale = input as f32 / output as f32;
        ((o as f32 * scale).floor() as usize).min(input - 1)
    };
    let mut out = Vec::with_capacity(batch * fh * fw);
    for b in 0..batch {
        for y in 0..fh {
            let sy = index(y, height, fh);
            for x in 0..fw {
                let sx = index(x, width, fw);
                out.push(u8::from(values[(b * height + sy) * width + sx] != 0));
            }
        }
    }
    Ok(out)
}

/// `DetrSinePositionEmbedding(d_model / 2, normalize=True)` as `[batch, h * w, d_model]`:
/// cumulative counts of unpadded rows/columns, normalized to `2 pi`, through interleaved
/// sin/cos at geometric frequencies; y features first, then x.
fn sine_position_embeddings(
    mask: &[u8],
    batch: usize,
    h: usize,
    w: usize,
    d_model: usize,
    device: &Device,
) -> Tensor<3> {
    let half = d_model / 2;
    let scale = 2.0 * std::f32::consts::PI;
    let dim_t: Vec<f32> = (0..half)
        .map(|i| 10000f32.powf((2 * (i / 2)) as f32 / half as f32))
        .collect();
    let mut out = vec![0f32; batch * h * w * d_model];
    for b in 0..batch {
        let m = |y: usize, x: usize| f32::from(mask[(b * h + y) * w + x]);
        let mut y_embed = vec![0f32; h * w];
        let mut x_embed = vec![0f32; h * w];
        for x in 0..w {
            let mut acc = 0.0;
            for y in 0..h {
                acc += m(y, x);
                y_embed[y * w + x] = acc;
            }
        }
        for y in 0..h {
            let mut acc = 0.0;
            for x in 0..w {
                acc += m(y, x);
                x_embed[y * w + x] = acc;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let ye = y_embed[y * w + x] / (y_embed[(h - 1) * w + x] + 1e-6) * scale;
                let xe = x_embed[y * w + x] / (x_embed[y * w + w - 1] + 1e-6) * scale;
                let base = ((b * h + y) * w + x) * d_model;
                for (i, t) in dim_t.iter().enumerate() {
                    let (py, px) = (ye / t, xe / t);
                    let (vy, vx) = if i % 2 == 0 {
                        (py.sin(), px.sin())
                    } else {
                        (py.cos(), px.cos())
                    };
                    out[base + i] = vy;
                    out[base + half + i] = vx;
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [batch, h * w, d_model]), device)
}

/// `DetrMLPPredictionHead`: linear layers with ReLU between them.
#[derive(Module, Debug)]
pub struct DetrMlp {
    /// The layers, in order.
    pub layers: Vec<Linear>,
}

impl DetrMlp {
    /// The layers with ReLU between them (none after the last).
    pub fn forward(&self, mut x: Tensor<3>) -> Tensor<3> {
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = activation::relu(x);
            }
        }
        x
    }
}

/// Class logits and boxes of [`DetrForObjectDetection::forward`].
#[derive(Debug, Clone)]
pub struct DetrDetections {
    /// `[batch, num_queries, num_labels + 1]`; the last class is "no object".
    pub logits: Tensor<3>,
    /// `[batch, num_queries, 4]`: `(center_x, center_y, width, height)` relative to the
    /// unpadded image, in `[0, 1]`.
    pub pred_boxes: Tensor<3>,
    /// The base model's outputs.
    pub model: DetrOutput,
}

/// `DetrForObjectDetection`: class and box heads on every decoded query.
#[derive(Module, Debug)]
pub struct DetrForObjectDetection {
    /// The DETR base model (`model`).
    pub model: DetrModel,
    /// Class logits of each query, "no object" last (`class_labels_classifier`).
    pub class_labels_classifier: Linear,
    /// Box regression of each query (`bbox_predictor`); a sigmoid then makes the boxes relative.
    pub bbox_predictor: DetrMlp,
}

impl DetrForObjectDetection {
    /// Class logits and boxes of images `[batch, 3, height, width]` with their `pixel_mask`
    /// `[batch, height, width]` (1 = image, 0 = padding).
    pub fn forward(
        &self,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<DetrDetections> {
        let model = self.model.forward(pixel_values, pixel_mask)?;
        let hidden = model.last_hidden_state.clone();
        Ok(DetrDetections {
            logits: self.class_labels_classifier.forward(hidden.clone()),
            pred_boxes: activation::sigmoid(self.bbox_predictor.forward(hidden)),
            model,
        })
    }
}

impl ObjectDetector for DetrForObjectDetection {
    fn detect(
        &self,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<(Tensor<3>, Tensor<3>)> {
        let out = self.forward(pixel_values, pixel_mask)?;
        Ok((out.logits, out.pred_boxes))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.model.config.common
    }
}

// Every linear layer with its HF module path, for LoRA adapters and quantization (burn-peft).
crate::impl_linears!(DetrEncoderLayer {
    self_attn,
    feed_forward
});
crate::impl_linears!(DetrDecoderLayer {
    self_attn,
    encoder_attn,
    feed_forward
});
crate::impl_linears!(DetrModel { encoder, decoder });
crate::impl_linears!(DetrMlp { layers });
crate::impl_linears!(DetrForObjectDetection {
    model,
    class_labels_classifier,
    bbox_predictor
});
