//! Reading pipeline inputs from files and raw buffers.

pub mod audio;
