use burn::module::Module;
use burn::nn::Dropout;
use burn::tensor::{Tensor, activation};

use super::BertConfig;
use crate::config::CommonConfig;
use crate::error::Result;
use crate::heads::{EncoderInput, QuestionAnswerer, SequenceClassifier, TokenClassifier};
use crate::nn::{AttentionMask, Linear, PostNormEncoder, TextEmbeddings};

/// `tanh(dense(hidden[:, 0]))`: the `[CLS]` summary used by sequence classification.
#[derive(Module, Debug)]
pub struct BertPooler {
    /// The pooler's dense layer (`pooler.dense`).
    pub dense: Linear,
}

impl BertPooler {
    /// `tanh(dense(hidden[:, 0]))` of hidden states `[batch, seq, hidden]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, dim] = hidden.dims();
        let cls = hidden.slice([0..batch, 0..1]).reshape([batch, dim]);
        activation::tanh(self.dense.forward(cls))
    }
}

/// `BertModel`: embeddings, encoder and (optionally) the pooler.
#[derive(Module, Debug)]
pub struct BertModel {
    /// The embeddings (`embeddings`).
    pub embeddings: TextEmbeddings,
    /// The encoder.
    pub encoder: PostNormEncoder,
    /// The pooler: dense + tanh on the first token (`pooler`).
    pub pooler: Option<BertPooler>,
    /// The config the model was built from.
    #[module(skip)]
    pub config: BertConfig,
}

/// Outputs of [`BertModel::forward`].
#[derive(Debug, Clone)]
pub struct BertOutput {
    /// `[batch, seq, hidden]`
    pub last_hidden_state: Tensor<3>,
    /// `[batch, hidden]`, when the model has a pooler.
    pub pooler_output: Option<Tensor<2>>,
}

impl BertModel {
    /// Hidden states (and the pooled `[CLS]` output, if any) of token ids with their mask.
    pub fn forward(&self, input: &EncoderInput) -> Result<BertOutput> {
        let c = &self.config;
        input.check_fits(c.vocab_size, c.max_position_embeddings, c.type_vocab_size)?;
        let mask = AttentionMask::from_padding(&input.attention_mask);
        let embedded =
            self.embeddings
                .forward(input.input_ids.clone(), input.token_type_ids.clone(), None);
        let last_hidden_state = self.encoder.forward(embedded, Some(&mask));
        let pooler_output = self
            .pooler
            .as_ref()
            .map(|p| p.forward(last_hidden_state.clone()));
        Ok(BertOutput {
            last_hidden_state,
            pooler_output,
        })
    }
}

/// `BertForSequenceClassification`: a linear classifier on the pooled `[CLS]` output.
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    /// The BERT encoder (`bert`).
    pub bert: BertModel,
    /// Dropout (active only in training).
    pub dropout: Dropout,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
}

impl SequenceClassifier for BertForSequenceClassification {
    fn logits(&self, input: &EncoderInput) -> Result<Tensor<2>> {
        let output = self.bert.forward(input)?;
        let pooled = output
            .pooler_output
            .expect("BertForSequenceClassification is always built with a pooler");
        Ok(self
            .classifier
            .forward(crate::nn::dropout(&self.dropout, pooled)))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.bert.config.common
    }
}

/// `BertForTokenClassification`: a linear classifier on every token.
#[derive(Module, Debug)]
pub struct BertForTokenClassification {
    /// The BERT encoder (`bert`).
    pub bert: BertModel,
    /// Dropout (active only in training).
    pub dropout: Dropout,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
}

impl TokenClassifier for BertForTokenClassification {
    fn logits(&self, input: &EncoderInput) -> Result<Tensor<3>> {
        let hidden = self.bert.forward(input)?.last_hidden_state;
        Ok(self
            .classifier
            .forward(crate::nn::dropout(&self.dropout, hidden)))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.bert.config.common
    }
}

/// `BertForQuestionAnswering`: start/end logits from one linear layer of width 2.
#[derive(Module, Debug)]
pub struct BertForQuestionAnswering {
    /// The BERT encoder (`bert`).
    pub bert: BertModel,
    /// The span head (`qa_outputs`): start and end logits per token.
    pub qa_outputs: Linear,
}

impl QuestionAnswerer for BertForQuestionAnswering {
    fn span_logits(&self, input: &EncoderInput) -> Result<(Tensor<2>, Tensor<2>)> {
        let hidden = self.bert.forward(input)?.last_hidden_state;
        Ok(split_span_logits(self.qa_outputs.forward(hidden)))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.bert.config.common
    }
}

/// Splits `[batch, seq, 2]` QA logits into start and end logits `[batch, seq]`.
pub(crate) fn split_span_logits(logits: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
    let [batch, seq, _] = logits.dims();
    let start = logits
        .clone()
        .slice([0..batch, 0..seq, 0..1])
        .reshape([batch, seq]);
    let end = logits.slice([0..batch, 0..seq, 1..2]).reshape([batch, seq]);
    (start, end)
}

crate::impl_linears!(BertPooler { dense });
crate::impl_linears!(BertModel { encoder, pooler });
crate::impl_linears!(BertForSequenceClassification { bert, classifier });
crate::impl_linears!(BertForTokenClassification { bert, classifier });
crate::impl_linears!(BertForQuestionAnswering { bert, qa_outputs });
