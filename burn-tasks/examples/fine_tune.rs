//! Fine-tuning a text classifier with the Trainer's loop (AdamW, linear schedule, clipping,
//! checkpoints), then serving the saved model with the pipeline.
//!
//! ```sh
//! cargo run -p burn-tasks --example fine_tune -- [OUTPUT_DIR]
//! ```
//!
//! It trains the committed tiny BERT on the committed Yelp-shaped sample in seconds; point
//! `model` and `data` at `google-bert/bert-base-cased` and `Yelp/yelp_review_full` for the real
//! recipe (`cargo xtask train-yelp` does exactly that).

use burn_tasks::TaskPipeline;
use burn_tasks::pipelines::text_classification::{
    TextClassificationOptions, TextClassificationPipeline, TextInput,
};
use burn_tasks::train::{TextClassificationRecipe, TrainingArguments, run_text_classification};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
    let output = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("burn-tasks-fine-tune"));
    let recipe = TextClassificationRecipe {
        model: format!("{fixtures}/bert-base"),
        data: format!("{fixtures}/train-data/yelp"),
        train_samples: None,
        eval_samples: None,
        max_length: Some(24),
        args: TrainingArguments {
            output_dir: output.clone(),
            num_train_epochs: 3,
            learning_rate: 5e-3,
            per_device_train_batch_size: 8,
            progress: true,
            ..TrainingArguments::default()
        },
        ..TextClassificationRecipe::default()
    };
    let device = burn_models::device::parse_device(None)?;
    let trained = run_text_classification(&recipe, &device)?;
    println!("metrics: {:?}", trained.metrics);
    println!("saved to {}", trained.model_dir.display());

    // The saved directory is a Hugging Face model: our pipelines (and transformers) load it.
    let classifier =
        TextClassificationPipeline::from_pretrained(&trained.model_dir.to_string_lossy())?;
    let scores = classifier.classify(
        &[TextInput::from("five stars, would come back")],
        &TextClassificationOptions::default(),
    )?;
    println!("{scores:?}");
    Ok(())
}
