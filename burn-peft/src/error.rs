use std::path::{Path, PathBuf};

use burn_models::ModelError;

/// What can go wrong configuring, loading or saving adapters. Messages name the file,
/// tensor or option at fault.
#[derive(Debug, thiserror::Error)]
pub enum PeftError {
    /// A file or folder that could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A `LoraConfig` with invalid values (`r` of 0, a bad regex, ...).
    #[error("invalid LoRA config: {0}")]
    Config(String),
    /// A PEFT feature this crate does not implement (DoRA, `layers_to_transform`, ...).
    #[error("unsupported by burn-peft: {0}")]
    Unsupported(String),
    /// An adapter file (`adapter_config.json`, `adapter_model.safetensors`) that cannot be
    /// read or does not fit the model.
    #[error("adapter file {path}: {message}")]
    AdapterFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Misuse of named adapters: an unknown or duplicate name, nothing to save.
    #[error("{0}")]
    Adapter(String),
    /// Loading or running the base model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The crate's result, with [`PeftError`] by default.
pub type Result<T, E = PeftError> = std::result::Result<T, E>;

impl PeftError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
