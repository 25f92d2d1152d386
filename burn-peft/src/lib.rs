//! LoRA adapters in PEFT's file format and quantized frozen bases.
//!
//! Not implemented yet: see the burn-peft issue. This crate only reserves its place in the workspace.
