//! Reading user inputs (images, and later audio) into plain in-memory values.

pub mod image;

pub use image::{ImageInput, RgbImage, load_image, load_image_bytes};
