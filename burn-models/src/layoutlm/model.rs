use crate::nn::Linear;
use burn::module::Module;
use burn::nn::{Dropout, Embedding};
use burn::tensor::{Int, Tensor};

use super::LayoutLMConfig;
use crate::bert::{BertPooler, split_span_logits};
use crate::config::CommonConfig;
use crate::error::{ModelError, Result};
use crate::heads::{EncoderInput, QuestionAnswerer, SequenceClassifier, TokenClassifier};
use crate::nn::{AttentionMask, PostNormEncoder, TextEmbeddings};

/// The 2-D layout embeddings: left/right edges share the x table, top/bottom the y table,
/// and box height and width have tables of their own.
#[derive(Module, Debug)]
pub struct SpatialEmbeddings {
    /// Embeddings of the boxes' left and right edges (`x_position_embeddings`).
    pub x_position_embeddings: Embedding,
    /// Embeddings of the boxes' top and bottom edges (`y_position_embeddings`).
    pub y_position_embeddings: Embedding,
    /// Embeddings of the boxes' heights (`h_position_embeddings`).
    pub h_position_embeddings: Embedding,
    /// Embeddings of the boxes' widths (`w_position_embeddings`).
    pub w_position_embeddings: Embedding,
}

impl SpatialEmbeddings {
    /// `bbox` `[batch, seq, 4]` as (x0, y0, x1, y1) -> `[batch, seq, hidden]`.
    pub fn forward(&self, bbox: Tensor<3, Int>) -> Tensor<3> {
        let [batch, seq, _] = bbox.dims();
        let coord = |i: usize| {
            bbox.clone()
                .slice([0..batch, 0..seq, i..i + 1])
                .reshape([batch, seq])
        };
        let (x0, y0, x1, y1) = (coord(0), coord(1), coord(2), coord(3));
        self.x_position_embeddings.forward(x0.clone())
            + self.y_position_embeddings.forward(y0.clone())
            + self.x_position_embeddings.forward(x1.clone())
            + self.y_position_embeddings.forward(y1.clone())
            + self.h_position_embeddings.forward(y1 - y0)
            + self.w_position_embeddings.forward(x1 - x0)
    }
}

/// `LayoutLMModel`: BERT whose embeddings also add each token's box.
#[derive(Module, Debug)]
pub struct LayoutLMModel {
    /// The embeddings (`embeddings`).
    pub embeddings: TextEmbeddings,
    /// The 2-D position embeddings of the words' boxes.
    pub spatial: SpatialEmbeddings,
    /// The encoder.
    pub encoder: PostNormEncoder,
    /// The pooler: dense + tanh on the first token (`pooler`).
    pub pooler: Option<BertPooler>,
    /// The config the model was built from.
    #[module(skip)]
    pub config: LayoutLMConfig,
}

/// Outputs of [`LayoutLMModel::forward`].
#[derive(Debug, Clone)]
pub struct LayoutLMOutput {
    /// `[batch, seq, hidden]`
    pub last_hidden_state: Tensor<3>,
    /// `[batch, hidden]`, when the model has a pooler.
    pub pooler_output: Option<Tensor<2>>,
}

impl LayoutLMModel {
    /// Without boxes every token sits at box (0, 0, 0, 0), as transformers does.
    pub fn forward(&self, input: &EncoderInput) -> Result<LayoutLMOutput> {
        let c = &self.config.bert;
        input.check_fits(c.vocab_size, c.max_position_embeddings, c.type_vocab_size)?;
        let layout = match &input.bbox {
            Some(bbox) => {
                input.check_boxes(self.config.max_2d_position_embeddings)?;
                self.spatial.forward(bbox.clone())
            }
            None => {
                let [batch, seq] = input.input_ids.dims();
                let device = input.input_ids.device();
                self.spatial
                    .forward(Tensor::zeros([batch, seq, 4], &device))
            }
        };
        let mask = AttentionMask::from_padding(&input.attention_mask);
        let embedded = self.embeddings.forward(
            input.input_ids.clone(),
            input.token_type_ids.clone(),
            Some(layout),
        );
        let last_hidden_state = self.encoder.forward(embedded, Some(&mask));
        let pooler_output = self
            .pooler
            .as_ref()
            .map(|p| p.forward(last_hidden_state.clone()));
        Ok(LayoutLMOutput {
            last_hidden_state,
            pooler_output,
        })
    }
}

/// `LayoutLMForSequenceClassification`: a linear classifier on the pooled `[CLS]` output.
#[derive(Module, Debug)]
pub struct LayoutLMForSequenceClassification {
    /// The LayoutLM encoder (`layoutlm`).
    pub layoutlm: LayoutLMModel,
    /// Dropout (active only in training).
    pub dropout: Dropout,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
}

impl SequenceClassifier for LayoutLMForSequenceClassification {
    fn logits(&self, input: &EncoderInput) -> Result<Tensor<2>> {
        let pooled = self.layoutlm.forward(input)?.pooler_output.ok_or_else(|| {
            ModelError::Unsupported("sequence classification needs the pooler".into())
        })?;
        Ok(self
            .classifier
            .forward(crate::nn::dropout(&self.dropout, pooled)))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.layoutlm.config.bert.common
    }
}

/// `LayoutLMForTokenClassification`: a linear classifier on every token.
#[derive(Module, Debug)]
pub struct LayoutLMForTokenClassification {
    /// The LayoutLM encoder (`layoutlm`).
    pub layoutlm: LayoutLMModel,
    /// Dropout (active only in training).
    pub dropout: Dropout,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
}

impl TokenClassifier for LayoutLMForTokenClassification {
    fn logits(&self, input: &EncoderInput) -> Result<Tensor<3>> {
        let hidden = self.layoutlm.forward(input)?.last_hidden_state;
        Ok(self
            .classifier
            .forward(crate::nn::dropout(&self.dropout, hidden)))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.layoutlm.config.bert.common
    }
}

/// `LayoutLMForQuestionAnswering` (the model of document question answering): start/end
/// logits over the document's tokens.
#[derive(Module, Debug)]
pub struct LayoutLMForQuestionAnswering {
    /// The LayoutLM encoder (`layoutlm`).
    pub layoutlm: LayoutLMModel,
    /// The span head (`qa_outputs`): start and end logits per token.
    pub qa_outputs: Linear,
}

impl QuestionAnswerer for LayoutLMForQuestionAnswering {
    fn span_logits(&self, input: &EncoderInput) -> Result<(Tensor<2>, Tensor<2>)> {
        let hidden = self.layoutlm.forward(input)?.last_hidden_state;
        Ok(split_span_logits(self.qa_outputs.forward(hidden)))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.layoutlm.config.bert.common
    }

    fn uses_boxes(&self) -> bool {
        true
    }
}

crate::impl_linears!(LayoutLMModel { encoder, pooler });
crate::impl_linears!(LayoutLMForSequenceClassification {
    layoutlm,
    classifier
});
crate::impl_linears!(LayoutLMForTokenClassification {
    layoutlm,
    classifier
});
crate::impl_linears!(LayoutLMForQuestionAnswering {
    layoutlm,
    qa_outputs
});
