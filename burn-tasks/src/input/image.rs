//! Images as transformers' `load_image` returns them: decoded, turned upright by the EXIF
//! orientation (`ImageOps.exif_transpose`) and converted to 8-bit RGB (`convert("RGB")`:
//! grayscale is replicated, alpha is dropped, not composited).
//!
//! PNG, JPEG, WebP and BMP are read, from a path or from bytes. Lossless formats decode to
//! exactly PIL's pixels; JPEG decoders may differ from libjpeg by a level or two.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::error::{Result, TaskError};

/// An 8-bit RGB image, rows top to bottom, `[height, width, 3]` row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// The pixels, `height * width * 3` bytes (R, G, B).
    pub data: Vec<u8>,
}

impl RgbImage {
    /// An image from raw RGB bytes (`width * height * 3` of them).
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(TaskError::InvalidInput(format!(
                "image of {width}x{height} pixels: an image needs at least one pixel"
            )));
        }
        if data.len() != width * height * 3 {
            return Err(TaskError::InvalidInput(format!(
                "{} bytes for a {width}x{height} RGB image (expected {})",
                data.len(),
                width * height * 3
            )));
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// The pixel at row `y`, column `x`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Where an image comes from.
#[derive(Debug, Clone)]
pub enum ImageInput {
    /// An image file (PNG, JPEG, WebP, BMP).
    Path(PathBuf),
    /// The bytes of an encoded file (PNG, JPEG, WebP, BMP).
    Bytes(Vec<u8>),
    /// An already decoded image.
    Decoded(RgbImage),
}

impl ImageInput {
    /// Decodes the image as transformers' `load_image` does (EXIF orientation, then RGB).
    pub fn load(&self) -> Result<RgbImage> {
        match self {
            Self::Path(path) => load_image(path),
            Self::Bytes(bytes) => load_image_bytes(bytes),
            Self::Decoded(image) => Ok(image.clone()),
        }
    }
}

impl From<&str> for ImageInput {
    fn from(path: &str) -> Self {
        Self::Path(path.into())
    }
}

impl From<PathBuf> for ImageInput {
    fn from(path: PathBuf) -> Self {
        Self::Path(path)
    }
}

impl From<RgbImage> for ImageInput {
    fn from(image: RgbImage) -> Self {
        Self::Decoded(image)
    }
}

/// Reads an image file, upright and in RGB.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| {
        TaskError::InvalidInput(format!("cannot read image {}: {e}", path.display()))
    })?;
    decode(&bytes).map_err(|message| {
        TaskError::InvalidInput(format!("cannot decode image {}: {message}", path.display()))
    })
}

/// Decodes an encoded image (PNG, JPEG, WebP, BMP), upright and in RGB.
pub fn load_image_bytes(bytes: &[u8]) -> Result<RgbImage> {
    decode(bytes)
        .map_err(|message| TaskError::InvalidInput(format!("cannot decode image: {message}")))
}

fn decode(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("not a PNG, JPEG, WebP or BMP file (unrecognised header)".into());
    }
    // The JPEG decoder fills a cut-off scan with gray instead of failing; PIL refuses such a
    // file ("image file is truncated"), and so do we: a JPEG ends with its EOI marker.
    if reader.format() == Some(image::ImageFormat::Jpeg) && !has_jpeg_end(bytes) {
        return Err("the file is truncated (JPEG without its end-of-image marker)".into());
    }
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    // A broken EXIF block is ignored, as PIL's exif_transpose ignores it.
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file is truncated".to_string()
        }
        other => other.to_string(),
    })?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    let rgb = image.into_rgb8();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    RgbImage::new(width, height, rgb.into_raw()).map_err(|e| e.to_string())
}

/// Whether a JPEG stream's last scan is followed by its EOI marker (`FF D9`). Inside
/// entropy-coded data `FF` is only followed by `00` or a restart marker, so an `FF D9` after
/// the last start-of-scan (`FF DA`) is the real end; data appended after it is allowed.
fn has_jpeg_end(bytes: &[u8]) -> bool {
    let last_scan = bytes
        .windows(2)
        .rposition(|w| w == [0xFF, 0xDA])
        .unwrap_or(0);
    bytes[last_scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}
