//! Pipelines in the image of `transformers.pipeline`, on models from `burn-models`.
//!
//! ```no_run
//! use burn_tasks::{Task, pipeline};
//! use serde_json::json;
//!
//! // Like `transformers.pipeline("sentiment-analysis", model=...)(text, top_k=None)`:
//! let classifier = pipeline(Task::TextClassification).model("path/to/model").build()?;
//! let json = classifier.call(&json!("I love this!"), &json!({"top_k": null}))?;
//! # Ok::<(), burn_tasks::TaskError>(())
//! ```
//!
//! Each task also has a typed API:
//!
//! ```no_run
//! use burn_tasks::pipelines::{PipelineSource, TextClassificationPipeline};
//! use burn_tasks::pipelines::text_classification::{TextClassificationOptions, TextInput};
//!
//! let device = burn_models::device::parse_device(None)?;
//! let classifier = TextClassificationPipeline::new(&PipelineSource::new("path/to/model", device))?;
//! let scores = classifier.classify(&[TextInput::from("I love this!")], &TextClassificationOptions::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod input;
pub mod pipelines;
pub mod processors;
pub mod train;

pub use error::{Result, TaskError};
pub use pipelines::{Pipeline, Task, pipeline};
