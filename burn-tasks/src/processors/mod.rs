//! Turning user inputs into model inputs: tokenizers, image processors and audio feature
//! extractors.

pub mod audio_features;
pub mod ctc_tokenizer;
pub mod image;
pub mod resample;
pub mod sentencepiece;
mod tokenizer;
pub mod wav2vec2_features;

pub use audio_features::WhisperFeatureExtractor;
pub use image::{ImageProcessor, PixelBatch};
pub use sentencepiece::{MarianTokenizer, SpmModel};
pub use tokenizer::{TextTokenizer, clean_up_tokenization};
pub use wav2vec2_features::Wav2Vec2FeatureExtractor;

use std::borrow::Cow;

use burn_models::ModelError;
use burn_models::hub::ModelDir;
use serde_json::Value;

use crate::error::{Result, TaskError};

/// The bytes of the model's file `name` (on disk or in memory), `None` if it has none.
pub(crate) fn model_file<'a>(dir: &'a ModelDir, name: &str) -> Result<Option<Cow<'a, [u8]>>> {
    dir.read_file(name).map_err(|e| match e {
        ModelError::Io { path, source } => TaskError::Io { path, source },
        other => other.into(),
    })
}

/// The model's `preprocessor_config.json`: the settings of its image processor or audio
/// feature extractor.
pub fn preprocessor_config(dir: &ModelDir) -> Result<Value> {
    let name = "preprocessor_config.json";
    let bytes = model_file(dir, name)?.ok_or_else(|| {
        TaskError::InvalidModel(format!(
            "{}: no preprocessor_config.json (the settings of the image processor or feature \
             extractor)",
            dir.path().display()
        ))
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| TaskError::InvalidModel(format!("{}: {e}", dir.location(name).display())))
}

/// `preprocessor_config.json` read into a feature extractor's settings.
pub(crate) fn preprocessor_settings<T: serde::de::DeserializeOwned>(dir: &ModelDir) -> Result<T> {
    serde_json::from_value(preprocessor_config(dir)?).map_err(|e| {
        TaskError::InvalidModel(format!(
            "{}: preprocessor_config.json: {e}",
            dir.path().display()
        ))
    })
}
