//! Building blocks written once and shared by every model.

mod activation;
mod attention;
mod embeddings;
mod encoder;
mod feed_forward;
mod linear;

pub use activation::Activation;
pub use attention::{AttentionMask, MultiHeadAttention};
pub use embeddings::TextEmbeddings;
pub use encoder::{PostNormEncoder, PostNormEncoderLayer};
pub use feed_forward::FeedForward;
pub use linear::{
    Int8Weight, Linear, LinearWeight, Linears, LoraAdapter, NF4_CODE, Nf4Weight, SavedLinear,
    dynamic_map,
};
