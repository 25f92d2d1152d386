//! Fine-tuning: datasets, the trainer and its recipes, metrics, Whisper LoRA training, and
//! the trainer step by step against transformers' `Trainer`.

mod parity;
mod recipes;
mod whisper_lora;
