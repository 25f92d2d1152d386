use burn::module::Module;
use burn::nn::Dropout;
use burn::tensor::{Tensor, activation};

use super::DistilBertConfig;
use crate::bert::split_span_logits;
use crate::config::CommonConfig;
use crate::error::Result;
use crate::heads::{EncoderInput, QuestionAnswerer, SequenceClassifier, TokenClassifier};
use crate::nn::{AttentionMask, Linear, PostNormEncoder, TextEmbeddings};

/// `DistilBertModel`: BERT's blocks without token types or pooler.
#[derive(Module, Debug)]
pub struct DistilBertModel {
    /// The embeddings (`embeddings`).
    pub embeddings: TextEmbeddings,
    /// The encoder layers (`transformer`).
    pub transformer: PostNormEncoder,
    /// The config the model was built from.
    #[module(skip)]
    pub config: DistilBertConfig,
}

impl DistilBertModel {
    /// The last hidden state `[batch, seq, dim]`. Token type ids, if given, are ignored, as
    /// DistilBERT has none.
    pub fn forward(&self, input: &EncoderInput) -> Result<Tensor<3>> {
        let c = &self.config;
        input.check_fits(c.vocab_size, c.max_position_embeddings, usize::MAX)?;
        let mask = AttentionMask::from_padding(&input.attention_mask);
        let embedded = self.embeddings.forward(input.input_ids.clone(), None, None);
        Ok(self.transformer.forward(embedded, Some(&mask)))
    }
}

/// `DistilBertForSequenceClassification`: `classifier(dropout(relu(pre_classifier(h[:, 0]))))`.
#[derive(Module, Debug)]
pub struct DistilBertForSequenceClassification {
    /// The DistilBERT encoder (`distilbert`).
    pub distilbert: DistilBertModel,
    /// Dense + ReLU before the classifier (`pre_classifier`).
    pub pre_classifier: Linear,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
    /// Dropout (active only in training).
    pub dropout: Dropout,
}

impl SequenceClassifier for DistilBertForSequenceClassification {
    fn logits(&self, input: &EncoderInput) -> Result<Tensor<2>> {
        let hidden = self.distilbert.forward(input)?;
        let [batch, _, dim] = hidden.dims();
        let cls = hidden.slice([0..batch, 0..1]).reshape([batch, dim]);
        let pooled = activation::relu(self.pre_classifier.forward(cls));
        Ok(self
            .classifier
            .forward(crate::nn::dropout(&self.dropout, pooled)))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.distilbert.config.common
    }
}

/// `DistilBertForTokenClassification`.
#[derive(Module, Debug)]
pub struct DistilBertForTokenClassification {
    /// The DistilBERT encoder (`distilbert`).
    pub distilbert: DistilBertModel,
    /// Dropout (active only in training).
    pub dropout: Dropout,
    /// The classification head (`classifier`), one logit per label.
    pub classifier: Linear,
}

impl TokenClassifier for DistilBertForTokenClassification {
    fn logits(&self, input: &EncoderInput) -> Result<Tensor<3>> {
        let hidden = self.distilbert.forward(input)?;
        Ok(self
            .classifier
            .forward(crate::nn::dropout(&self.dropout, hidden)))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.distilbert.config.common
    }
}

/// `DistilBertForQuestionAnswering`.
#[derive(Module, Debug)]
pub struct DistilBertForQuestionAnswering {
    /// The DistilBERT encoder (`distilbert`).
    pub distilbert: DistilBertModel,
    /// Dropout (active only in training).
    pub dropout: Dropout,
    /// The span head (`qa_outputs`): start and end logits per token.
    pub qa_outputs: Linear,
}

impl QuestionAnswerer for DistilBertForQuestionAnswering {
    fn span_logits(&self, input: &EncoderInput) -> Result<(Tensor<2>, Tensor<2>)> {
        let hidden = self.distilbert.forward(input)?;
        Ok(split_span_logits(
            self.qa_outputs
                .forward(crate::nn::dropout(&self.dropout, hidden)),
        ))
    }

    fn common_config(&self) -> &CommonConfig {
        &self.distilbert.config.common
    }
}

crate::impl_linears!(DistilBertModel { transformer });
crate::impl_linears!(DistilBertForSequenceClassification {
    distilbert,
    pre_classifier,
    classifier
});
crate::impl_linears!(DistilBertForTokenClassification {
    distilbert,
    classifier
});
crate::impl_linears!(DistilBertForQuestionAnswering {
    distilbert,
    qa_outputs
});
