use std::path::{Path, PathBuf};

use burn_models::ModelError;

/// What can go wrong configuring, loading or saving adapters. Messages name the file,
/// tensor or option at fault.
#[derive(Debug, thiserror::Error)]
pub enum PeftError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid LoRA config: {0}")]
    Config(String),
    #[error("unsupported by burn-peft: {0}")]
    Unsupported(String),
    #[error("adapter file {path}: {message}")]
    AdapterFile { path: PathBuf, message: String },
    #[error("{0}")]
    Adapter(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}

pub type Result<T, E = PeftError> = std::result::Result<T, E>;

impl PeftError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
