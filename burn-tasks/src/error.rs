use std::path::PathBuf;

use burn_models::ModelError;

/// Errors of pipelines and processors. Each names the input, option or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Peft(#[from] burn_peft::PeftError),
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("invalid option `{name}`: {message}")]
    InvalidOption { name: &'static str, message: String },
    #[error("unknown task `{0}`")]
    UnknownTask(String),
}

pub type Result<T, E = TaskError> = std::result::Result<T, E>;

impl TaskError {
    pub(crate) fn option(name: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidOption {
            name,
            message: message.into(),
        }
    }
}
