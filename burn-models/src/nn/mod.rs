//! Building blocks written once and shared by every model.

mod activation;
mod attention;
mod attention_weights;
mod cache;
mod conv;
pub mod cpu_kernels;
mod cross_attention;
mod dropout;
mod dynamic_int8;
mod embeddings;
mod encoder;
mod feed_forward;
pub mod lean;
mod linear;
mod pre_norm;

pub use activation::Activation;
pub use attention::{AttentionMask, MultiHeadAttention};
pub use cache::{DecoderCache, KeyValue};
pub use conv::FrozenBatchNorm2d;
pub use dropout::dropout;
pub use dynamic_int8::{DynamicInt8Weight, quantize_dynamic, quantize_dynamic_where};
pub use embeddings::{TextEmbeddings, embed_with_padding};
pub use encoder::{PostNormEncoder, PostNormEncoderLayer};
pub use feed_forward::{FeedForward, GatedFeedForward};
pub use linear::{
    Int8Weight, Linear, LinearWeight, Linears, LoraAdapter, NF4_CODE, Nf4Weight, SavedLinear,
    dynamic_map, map_module_vectors, pack_bytes, set_compute_dtype, visit_module_vectors,
};
pub use pre_norm::{PreNormEncoder, PreNormEncoderLayer};
