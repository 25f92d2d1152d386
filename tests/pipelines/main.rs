//! The task layer across models: `pipeline(task)` with HF's JSON inputs and keyword arguments
//! on every golden case, PEFT adapters applied by every task, and every task in int8.

mod adapters;
mod json_api;
mod quantize;
