//! Building blocks written once and shared by every model.

mod activation;
mod attention;
mod cache;
mod embeddings;
mod encoder;
mod feed_forward;

pub use activation::Activation;
pub use attention::{AttentionMask, MultiHeadAttention};
pub use cache::{DecoderCache, KeyValue};
pub use embeddings::TextEmbeddings;
pub use encoder::{PostNormEncoder, PostNormEncoderLayer};
pub use feed_forward::{FeedForward, GatedFeedForward};
