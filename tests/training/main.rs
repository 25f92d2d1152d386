//! Fine-tuning: datasets, the trainer and its recipes, metrics, and Whisper LoRA training.

mod recipes;
mod whisper_lora;
