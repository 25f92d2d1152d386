//! Loading checkpoints: formats, clear errors on broken files, the hub cache, and real
//! released weights.

mod checkpoints;
mod real_weights;
