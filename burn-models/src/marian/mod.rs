//! Marian (`MarianMTModel`, the Helsinki-NLP opus-mt family): BART's post-norm
//! encoder-decoder with sinusoidal positions, no embedding LayerNorm, and the pad token as
//! decoder start. The modules are BART's ([`crate::bart`]); this folder holds the config and
//! the loader.

mod config;

pub use config::MarianConfig;

use crate::bart::BartForConditionalGeneration;
use crate::bart::weights::{Layout, load_layout};
use crate::error::Result;
use crate::hub::WeightScope;

/// `MarianMTModel`: BART's modules, Marian's positions.
pub type MarianMTModel = BartForConditionalGeneration;

/// Loads a `MarianMTModel` checkpoint.
pub fn load(root: &WeightScope, config: &MarianConfig) -> Result<MarianMTModel> {
    let layout = Layout {
        d_model: config.d_model,
        vocab_size: config.vocab_size,
        decoder_vocab_size: config.decoder_vocab_size.unwrap_or(config.vocab_size),
        encoder_layers: config.encoder_layers,
        decoder_layers: config.decoder_layers,
        encoder_heads: config.encoder_attention_heads,
        decoder_heads: config.decoder_attention_heads,
        encoder_ffn: config.encoder_ffn_dim,
        decoder_ffn: config.decoder_ffn_dim,
        activation: config.activation_function,
        max_positions: config.max_position_embeddings,
        scale_embedding: config.scale_embedding,
        tie_word_embeddings: config.tie_word_embeddings,
        learned_positions: false,
    };
    let mut model = load_layout(root, &layout, Some(&sinusoidal_positions))?;
    model.config = config.as_bart();
    Ok(model)
}

/// `MarianSinusoidalPositionalEmbedding._init_weight`: `sin` features in the first half of
/// each row, `cos` in the second (not interleaved), computed in f64 as numpy does.
pub fn sinusoidal_positions(rows: usize, dim: usize) -> Vec<f32> {
    let sentinel = dim.div_ceil(2);
    let mut out = vec![0.0f32; rows * dim];
    for pos in 0..rows {
        let angle = |j: usize| pos as f64 / 10000f64.powf(2.0 * (j / 2) as f64 / dim as f64);
        for (k, j) in (0..dim).step_by(2).enumerate() {
            out[pos * dim + k] = angle(j).sin() as f32;
        }
        for (k, j) in (1..dim).step_by(2).enumerate() {
            out[pos * dim + sentinel + k] = angle(j).cos() as f32;
        }
    }
    out
}
