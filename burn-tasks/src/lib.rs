//! Pipelines in the image of `transformers.pipeline`, on models from `burn-models`, and the
//! fine-tuning that trains them.
//!
//! ```no_run
//! use burn_tasks::pipeline;
//! use serde_json::json;
//!
//! // Like `transformers.pipeline("sentiment-analysis", model=...)(text, top_k=None)`:
//! let classifier = pipeline("sentiment-analysis")?.model("path/to/model").build()?;
//! let json = classifier.call(&json!("I love this!"), &json!({"top_k": null}))?;
//! # Ok::<(), burn_tasks::TaskError>(())
//! ```
//!
//! Each task also has a typed API:
//!
//! ```no_run
//! use burn_tasks::TaskPipeline;
//! use burn_tasks::pipelines::text_classification::{TextClassificationPipeline, TextInput};
//!
//! let classifier = TextClassificationPipeline::from_pretrained("path/to/model")?;
//! let scores = classifier.classify(&[TextInput::from("I love this!")], &Default::default())?;
//! # Ok::<(), burn_tasks::TaskError>(())
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod input;
pub mod pipelines;
pub mod processors;
#[cfg(feature = "train")]
pub mod train;

pub use error::{Result, TaskError};
pub use pipelines::{
    Pipeline, PipelineBuilder, Quantization, TASKS, TaskPipeline, TaskSpec, pipeline,
};
