//! [`TaskError`], the error of pipelines, processors and training, and the crate's [`Result`].

use std::path::PathBuf;

use burn_models::ModelError;

/// Errors of pipelines, processors and training. Each names the input, option or file at
/// fault; `InvalidInput` and `InvalidOption` are always about what the caller passed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Loading or running a model failed (config, weights, shapes).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Attaching, loading or saving a LoRA adapter failed.
    #[error(transparent)]
    Peft(#[from] burn_peft::PeftError),
    /// A tokenizer file that could not be read or parsed, or a text it could not encode.
    #[error("tokenizer {path}: {message}")]
    Tokenizer {
        /// The tokenizer file (or model folder) at fault.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The model cannot serve the task: another architecture, no labels, a processor file
    /// missing or malformed.
    #[error("model {0}")]
    InvalidModel(String),
    /// The inputs of a call (texts, images, audio, questions).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A keyword argument or command-line option.
    #[error("invalid option `{name}`: {message}")]
    InvalidOption {
        /// The option's name, as the keyword argument spells it.
        name: &'static str,
        /// Why the value is refused.
        message: String,
    },
    /// A task name or alias that no pipeline serves.
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A training or evaluation dataset: missing columns, bad rows, unreadable files.
    #[error("dataset {0}")]
    Dataset(String),
    /// A training checkpoint or a saved model that cannot be written or resumed from.
    #[error("checkpoint {0}")]
    Checkpoint(String),
    /// Something that should not happen whatever the input: a bug to report.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The crate's result, with [`TaskError`] by default.
pub type Result<T, E = TaskError> = std::result::Result<T, E>;

impl TaskError {
    pub(crate) fn option(name: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidOption {
            name,
            message: message.into(),
        }
    }

    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
