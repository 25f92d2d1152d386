use burn::module::Module;
use burn::nn::{Dropout, Embedding, LayerNorm};
use burn::tensor::{Int, Tensor};

/// `nn.Embedding(..., padding_idx=pad)`'s lookup of `ids` `[batch, seq]`: positions holding
/// `pad` pass no gradient to the table, so PyTorch never updates the padding row from a
/// lookup (a tied output projection still does). The values are the plain lookup's.
pub fn embed_with_padding(
    embedding: &Embedding,
    ids: Tensor<2, Int>,
    padding_idx: Option<usize>,
) -> Tensor<3> {
    let embedded = embedding.forward(ids.clone());
    match padding_idx {
        Some(pad) if embedded.is_autodiff() => {
            let padding = ids.equal_elem(pad as i64).unsqueeze_dim::<3>(2);
            let frozen = embedded.clone().detach();
            embedded.mask_where(padding, frozen)
        }
        _ => embedded,
    }
}

/// Word + learned absolute position (+ optional token type) embeddings, then LayerNorm:
/// the input layer of BERT, DistilBERT, LayoutLM and their relatives.
#[derive(Module, Debug)]
pub struct TextEmbeddings {
    /// Token embeddings (`word_embeddings`).
    pub word_embeddings: Embedding,
    /// Learned absolute position embeddings (`position_embeddings`).
    pub position_embeddings: Embedding,
    /// Token type (segment) embeddings, for models that have them (`token_type_embeddings`).
    pub token_type_embeddings: Option<Embedding>,
    /// Layer norm of the summed embeddings (`LayerNorm`).
    pub layer_norm: LayerNorm,
    /// Dropout (active only in training).
    pub dropout: Dropout,
    /// `pad_token_id`: the word embedding row lookups never train ([`embed_with_padding`]).
    #[module(skip)]
    pub padding_idx: Option<usize>,
}

impl TextEmbeddings {
    /// Embeds `input_ids` `[batch, seq]` at positions `0..seq`. Missing token types are
    /// all type 0; `extra` (e.g. LayoutLM's 2-D positions) is added before the norm.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Option<Tensor<2, Int>>,
        extra: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        let mut x = embed_with_padding(&self.word_embeddings, input_ids, self.padding_idx)
            + self
                .position_embeddings
                .weight
                .val()
                .slice(0..seq)
                .unsqueeze::<3>();
        if let Some(types) = &self.token_type_embeddings {
            x = x + match token_type_ids {
                Some(ids) => types.forward(ids),
                // Row 0 broadcast over the batch, without a lookup.
                None => types.weight.val().slice(0..1).unsqueeze::<3>(),
            };
        }
        if let Some(extra) = extra {
            x = x + extra;
        }
        crate::nn::dropout(&self.dropout, self.layer_norm.forward(x))
    }
}
