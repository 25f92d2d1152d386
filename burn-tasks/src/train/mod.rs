//! Fine-tuning: datasets as the hub serves them, tokenization as the Hugging Face recipes do
//! it, a `Trainer`-like loop (AdamW, linear schedule, accumulation, clipping, checkpoints,
//! resume) that runs on any device, the recipes' metrics, and models saved in the Hugging Face
//! layout.
//!
//! ```no_run
//! use burn_tasks::train::{TextClassificationRecipe, run_text_classification};
//!
//! let device = burn_models::device::parse_device(None)?;
//! // google-bert/bert-base-cased on 1,000 Yelp reviews, 3 epochs, as the course does.
//! let out = run_text_classification(&TextClassificationRecipe::default(), &device)?;
//! println!("accuracy {}", out.metrics["accuracy"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod data;
pub mod features;
pub mod metrics;
pub mod models;
pub mod recipes;
pub mod speech;
pub mod trainer;

pub use recipes::{
    QuestionAnsweringRecipe, RecipeOutput, TextClassificationRecipe, run_question_answering,
    run_text_classification,
};
pub use speech::{WhisperLoraOutput, WhisperLoraRecipe, run_whisper_lora};
pub use trainer::{SamplingStrategy, TrainTask, TrainerState, TrainingArguments, train};
