//! Decoding what users give pipelines: documents by OCR (images and audio live beside it).

pub mod ocr;
