//! [`ModelError`], the error of loading and running models, and the crate's [`Result`].

use std::path::PathBuf;

/// Everything that can go wrong while resolving, reading or running a model.
///
/// Each variant names the file, tensor or option at fault so that the message alone tells a
/// user what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file or folder that could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A `config.json` (or other settings file) that does not parse or has invalid values.
    #[error("invalid config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A model folder without a weights file.
    #[error("model directory {dir} has no weights (looked for {looked_for})")]
    NoWeights {
        /// The folder.
        dir: PathBuf,
        /// The file names looked for.
        looked_for: String,
    },
    /// A weights file that cannot be parsed.
    #[error("corrupt or unreadable weights file {path}: {message}")]
    CorruptWeights {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor the model needs that the checkpoint lacks.
    #[error("missing tensor `{name}` in {source_desc}")]
    MissingTensor {
        /// The tensor's name in the checkpoint.
        name: String,
        /// The checkpoint it was looked for in.
        source_desc: String,
    },
    /// A tensor whose shape does not fit the config.
    #[error("tensor `{name}` has shape {found:?} but the config expects {expected:?}")]
    ShapeMismatch {
        /// The tensor's name in the checkpoint.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the checkpoint.
        found: Vec<usize>,
    },
    /// A tensor stored in a dtype that cannot become a float weight.
    #[error("tensor `{name}` has dtype {dtype}, which cannot be loaded as a float weight")]
    UnsupportedDtype {
        /// The tensor's name in the checkpoint.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// An architecture, option or checkpoint layout this crate does not implement.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// Inputs the model cannot take (shapes, lengths, ids out of range).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Resolving a hub id to a local folder failed.
    #[error("hub: {0}")]
    Hub(String),
}

/// The crate's result, with [`ModelError`] by default.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
