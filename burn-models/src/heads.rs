//! What pipelines and training see of a model: batched encoder inputs and the task heads,
//! as traits so that one pipeline serves every architecture with that head.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::nn::Linears;

/// A batch of token ids with its attention mask (1 = token, 0 = padding) and, for models that
/// use them, token type (segment) ids. All `[batch, seq]`.
#[derive(Debug, Clone)]
pub struct EncoderInput {
    /// Token ids `[batch, seq]`.
    pub input_ids: Tensor<2, Int>,
    /// 1 for tokens, 0 for padding, `[batch, seq]`.
    pub attention_mask: Tensor<2, Int>,
    /// Segment ids `[batch, seq]`, for models that take them.
    pub token_type_ids: Option<Tensor<2, Int>>,
    /// Each token's box on the page `[batch, seq, 4]` as (x0, y0, x1, y1) in 0-1000 units, for
    /// layout models (LayoutLM); text-only models ignore it.
    pub bbox: Option<Tensor<3, Int>>,
    /// The largest id in `input_ids` and in `token_type_ids`, checked against the embedding
    /// tables before a lookup could read out of bounds.
    max_input_id: i64,
    max_type_id: i64,
    /// The largest box coordinate (and whether every box has x0 <= x1 and y0 <= y1).
    max_box_coordinate: i64,
    boxes_ordered: bool,
}

impl EncoderInput {
    /// Builds a batch from rows of equal length (pad them first).
    pub fn new(
        input_ids: &[Vec<i64>],
        attention_mask: &[Vec<i64>],
        token_type_ids: Option<&[Vec<i64>]>,
        device: &Device,
    ) -> Result<Self> {
        let batch = input_ids.len();
        let seq = input_ids.first().map_or(0, Vec::len);
        if batch == 0 || seq == 0 {
            return Err(ModelError::InvalidInput(
                "empty batch: no tokens to encode".into(),
            ));
        }
        let to_tensor = |rows: &[Vec<i64>], what: &str| -> Result<Tensor<2, Int>> {
            if rows.len() != batch || rows.iter().any(|r| r.len() != seq) {
                return Err(ModelError::InvalidInput(format!(
                    "{what} must be {batch} rows of {seq} ids (pad the batch to one length)"
                )));
            }
            let flat: Vec<i64> = rows.iter().flatten().copied().collect();
            Ok(Tensor::from_data(
                TensorData::new(flat, [batch, seq]),
                device,
            ))
        };
        let max_of = |rows: &[Vec<i64>]| rows.iter().flatten().copied().max().unwrap_or(0);
        let min_of = |rows: &[Vec<i64>]| rows.iter().flatten().copied().min().unwrap_or(0);
        if min_of(input_ids) < 0 || token_type_ids.is_some_and(|t| min_of(t) < 0) {
            return Err(ModelError::InvalidInput("negative token id".into()));
        }
        Ok(Self {
            input_ids: to_tensor(input_ids, "input_ids")?,
            attention_mask: to_tensor(attention_mask, "attention_mask")?,
            token_type_ids: token_type_ids
                .map(|t| to_tensor(t, "token_type_ids"))
                .transpose()?,
            max_input_id: max_of(input_ids),
            max_type_id: token_type_ids.map_or(0, max_of),
            bbox: None,
            max_box_coordinate: 0,
            boxes_ordered: true,
        })
    }

    /// Adds a box per token (`[batch][seq]` rows of (x0, y0, x1, y1)), for layout models.
    pub fn with_bbox(mut self, boxes: &[Vec<[i64; 4]>], device: &Device) -> Result<Self> {
        let [batch, seq] = self.input_ids.dims();
        if boxes.len() != batch || boxes.iter().any(|r| r.len() != seq) {
            return Err(ModelError::InvalidInput(format!(
                "bbox must be {batch} rows of {seq} boxes, one per token"
            )));
        }
        let flat: Vec<i64> = boxes.iter().flatten().flatten().copied().collect();
        if flat.iter().any(|&v| v < 0) {
            return Err(ModelError::InvalidInput("negative box coordinate".into()));
        }
        self.max_box_coordinate = flat.iter().copied().max().unwrap_or(0);
        self.boxes_ordered = boxes
            .iter()
            .flatten()
            .all(|[x0, y0, x1, y1]| x0 <= x1 && y0 <= y1);
        self.bbox = Some(Tensor::from_data(
            TensorData::new(flat, [batch, seq, 4]),
            device,
        ));
        Ok(self)
    }

    /// Checks the boxes against a layout model's 2-D position tables.
    pub fn check_boxes(&self, max_2d_positions: usize) -> Result<()> {
        if self.max_box_coordinate as usize >= max_2d_positions {
            return Err(ModelError::InvalidInput(format!(
                "box coordinate {} is outside the model's 0..{max_2d_positions} range \
                 (boxes are normalised to 0-1000)",
                self.max_box_coordinate
            )));
        }
        if !self.boxes_ordered {
            return Err(ModelError::InvalidInput(
                "a box has x0 > x1 or y0 > y1 (boxes are (x0, y0, x1, y1))".into(),
            ));
        }
        Ok(())
    }

    /// Rows in the batch.
    pub fn batch_size(&self) -> usize {
        self.input_ids.dims()[0]
    }

    /// Tokens per row.
    pub fn seq_len(&self) -> usize {
        self.input_ids.dims()[1]
    }

    /// Checks the batch against a model's embedding tables.
    pub fn check_fits(
        &self,
        vocab_size: usize,
        max_positions: usize,
        type_vocab_size: usize,
    ) -> Result<()> {
        if self.seq_len() > max_positions {
            return Err(ModelError::InvalidInput(format!(
                "sequence of {} tokens is longer than the model's maximum of {max_positions} \
                 (max_position_embeddings); truncate the input",
                self.seq_len()
            )));
        }
        if self.max_input_id as usize >= vocab_size {
            return Err(ModelError::InvalidInput(format!(
                "token id {} is outside the vocabulary of {vocab_size}",
                self.max_input_id
            )));
        }
        if self.token_type_ids.is_some() && self.max_type_id as usize >= type_vocab_size.max(1) {
            return Err(ModelError::InvalidInput(format!(
                "token type id {} is outside the model's {type_vocab_size} token types",
                self.max_type_id
            )));
        }
        Ok(())
    }
}

/// Models with a sequence classification head (`*ForSequenceClassification`).
pub trait SequenceClassifier: Send + Linears {
    /// Logits `[batch, num_labels]`.
    fn logits(&self, input: &EncoderInput) -> Result<Tensor<2>>;
    /// The `PretrainedConfig` part of the config (labels, problem type).
    fn common_config(&self) -> &CommonConfig;
}

/// Models with a token classification head (`*ForTokenClassification`).
pub trait TokenClassifier: Send + Linears {
    /// Logits `[batch, seq, num_labels]`.
    fn logits(&self, input: &EncoderInput) -> Result<Tensor<3>>;
    /// The `PretrainedConfig` part of the config (labels).
    fn common_config(&self) -> &CommonConfig;
}

/// Models that answer questions about images by scoring an answer vocabulary
/// (`*ForQuestionAnswering` of ViLT).
pub trait VisualQuestionAnswerer: Send + Linears {
    /// Logits `[batch, num_answers]` for the question tokens `text` and the images
    /// `pixel_values` `[batch, C, H, W]` with `pixel_mask` `[batch, H, W]` (0 = padding).
    fn logits(
        &self,
        text: &EncoderInput,
        pixel_values: Tensor<4>,
        pixel_mask: Tensor<3, Int>,
    ) -> Result<Tensor<2>>;
    /// The `PretrainedConfig` part of the config (labels).
    fn common_config(&self) -> &CommonConfig;
}

/// Models with an extractive question answering head (`*ForQuestionAnswering`).
pub trait QuestionAnswerer: Send + Linears {
    /// Start and end logits, each `[batch, seq]`.
    fn span_logits(&self, input: &EncoderInput) -> Result<(Tensor<2>, Tensor<2>)>;
    /// The `PretrainedConfig` part of the config.
    fn common_config(&self) -> &CommonConfig;
    /// Whether the model reads token boxes (document question answering needs them).
    fn uses_boxes(&self) -> bool {
        false
    }
}
