use std::path::PathBuf;

/// Everything that can go wrong while resolving, reading or running a model.
///
/// Each variant names the file, tensor or option at fault so that the message alone tells a
/// user what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("model directory {dir} has no weights (looked for {looked_for})")]
    NoWeights { dir: PathBuf, looked_for: String },
    #[error("corrupt or unreadable weights file {path}: {message}")]
    CorruptWeights { path: PathBuf, message: String },
    #[error("missing tensor `{name}` in {source_desc}")]
    MissingTensor { name: String, source_desc: String },
    #[error("tensor `{name}` has shape {found:?} but the config expects {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor `{name}` has dtype {dtype}, which cannot be loaded as a float weight")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("hub: {0}")]
    Hub(String),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
