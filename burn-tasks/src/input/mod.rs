//! Reading user inputs into plain in-memory values: images, audio, and documents by OCR.

pub mod audio;
pub mod audio_resample;
pub mod image;
pub mod ocr;

pub use image::{ImageInput, RgbImage, load_image, load_image_bytes};
