//! burn-peft against Python PEFT and bitsandbytes: adapters (loading, merging, saving,
//! parameter counts), `bias="all"`, gradients, the hand-written backward passes, and the
//! quantized frozen bases.

mod adapters;
mod bias;
mod common;
mod grad;
mod lean;
mod quant;
