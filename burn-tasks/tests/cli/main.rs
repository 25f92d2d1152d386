//! The `burn-tasks` command line against transformers' pipeline goldens: HF task names and
//! aliases, options, JSON on stdout, and clean errors.

mod common;
mod segmentation;
mod speech;
mod text;
mod vision;
mod word_timestamps;
