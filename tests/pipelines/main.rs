//! The task layer across models: `pipeline(task)` with HF's JSON inputs and keyword arguments
//! on every golden case, and PEFT adapters applied by every task.

mod adapters;
mod json_api;
