//! `AutoModelForSeq2SeqLM` for text: the encoder-decoder models that turn token ids into
//! token ids (BART, Marian, T5), loaded by `model_type` behind one object-safe trait.

use burn::tensor::{Device, Int, Tensor};

use crate::auto::model_type;
use crate::error::{ModelError, Result};
use crate::generation::Seq2SeqLm;
use crate::hub::{ModelDir, Weights};
use crate::nn::Linears;

/// A text encoder-decoder: encode token ids once, then decode step by step ([`Seq2SeqLm`]).
pub trait TextSeq2SeqLm: Seq2SeqLm + Linears {
    /// Encoder output `[batch, src, dim]` of `input_ids` `[batch, src]` (1/0 padding mask).
    fn encode(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<&Tensor<2, Int>>,
    ) -> Result<Tensor<3>>;

    /// Longest input the encoder takes, if bounded (learned or fixed position tables).
    fn max_source_positions(&self) -> Option<usize>;
}

impl TextSeq2SeqLm for crate::bart::BartForConditionalGeneration {
    fn encode(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<&Tensor<2, Int>>,
    ) -> Result<Tensor<3>> {
        crate::bart::BartForConditionalGeneration::encode(self, input_ids, attention_mask)
    }

    fn max_source_positions(&self) -> Option<usize> {
        Some(self.encoder_positions.capacity())
    }
}

impl TextSeq2SeqLm for crate::t5::T5ForConditionalGeneration {
    fn encode(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<&Tensor<2, Int>>,
    ) -> Result<Tensor<3>> {
        crate::t5::T5ForConditionalGeneration::encode(self, input_ids, attention_mask)
    }

    /// Relative positions have no table to run out of.
    fn max_source_positions(&self) -> Option<usize> {
        None
    }
}

/// Architectures with a seq2seq LM head.
const SEQ2SEQ_TYPES: &str = "bart, marian, t5";

/// Loads the seq2seq LM of a model directory by its `model_type`.
pub fn load_seq2seq_lm(dir: &ModelDir, device: &Device) -> Result<Box<dyn TextSeq2SeqLm>> {
    let kind = model_type(dir)?;
    let weights = Weights::from_dir(dir)?;
    let root = weights.root(device);
    let model: Box<dyn TextSeq2SeqLm> = match kind.as_str() {
        "bart" => {
            let config = dir.config()?;
            Box::new(crate::bart::BartForConditionalGeneration::load(
                &root, &config,
            )?)
        }
        "t5" => {
            let config = dir.config()?;
            Box::new(crate::t5::T5ForConditionalGeneration::load(&root, &config)?)
        }
        "marian" => {
            let config = dir.config()?;
            Box::new(crate::marian::load(&root, &config)?)
        }
        other => {
            return Err(ModelError::Unsupported(format!(
                "{}: model_type `{other}` has no seq2seq LM here (supported: {SEQ2SEQ_TYPES})",
                dir.path().display()
            )));
        }
    };
    // Tied copies of the token embeddings are stored by some checkpoints and read by none.
    let tied = [
        "lm_head.weight",
        "model.encoder.embed_tokens.weight",
        "model.decoder.embed_tokens.weight",
        "encoder.embed_tokens.weight",
        "decoder.embed_tokens.weight",
    ];
    let unused: Vec<String> = weights
        .unused()
        .into_iter()
        .filter(|n| !tied.contains(&n.as_str()) && !n.ends_with("position_ids"))
        .collect();
    if !unused.is_empty() {
        log::warn!(
            "{} tensors of {} were not used: {}",
            unused.len(),
            dir.path().display(),
            unused.join(", ")
        );
    }
    Ok(model)
}
