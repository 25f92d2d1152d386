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

use burn_models::hub::ModelDir;
use serde_json::Value;

use crate::error::{Result, TaskError};

/// The model's `preprocessor_config.json`: the settings of its image processor or audio
/// feature extractor.
pub fn preprocessor_config(dir: &ModelDir) -> Result<Value> {
    let path = dir.file("preprocessor_config.json").ok_or_else(|| {
        TaskError::InvalidModel(format!(
            "{}: no preprocessor_config.json (the settings of the image processor or feature \
             extractor)",
            dir.path().display()
        ))
    })?;
    let text = std::fs::read_to_string(&path).map_err(|e| TaskError::io(&path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| TaskError::InvalidModel(format!("{}: {e}", path.display())))
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
