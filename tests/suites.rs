//! Every integration suite in one test binary, so that one executable runs them all where
//! there is no cargo (`.ci/gpu-build` builds it, `.ci/gpu-check` runs it on a GPU). Its tests
//! are named by suite: `models::…`, `pipelines::…`, `loading::…`, `training::…`, `peft::…`.
//! `cargo test` builds it only when asked (`--test suites`): the per-suite binaries are the
//! ones to run here.

#[path = "models/main.rs"]
mod models;

#[path = "pipelines/main.rs"]
mod pipelines;

#[path = "loading/main.rs"]
mod loading;

#[path = "training/main.rs"]
mod training;

#[path = "peft/main.rs"]
mod peft;
