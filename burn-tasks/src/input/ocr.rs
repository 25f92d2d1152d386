//! Words and boxes of a document image by Tesseract OCR, as transformers' `apply_tesseract`
//! gets them through pytesseract: the image is decoded (EXIF orientation applied), converted
//! to RGB and written as PNG, the
//! `tesseract` program reads it (`-c tessedit_create_tsv=1`, optional `-l LANG` and extra
//! arguments), empty words are dropped and each box `(left, top, left + width, top + height)`
//! is normalised to 0-1000 of the image size with truncation.
//!
//! Behind the cargo feature `ocr`: it needs the `tesseract` program at run time (Debian:
//! `apt-get install tesseract-ocr`; `TESSERACT_CMD` overrides its path).

use std::path::Path;

use crate::error::{Result, TaskError};

/// A word of a document and its box (x0, y0, x1, y1), normalised to 0-1000.
pub type WordBox = (String, [i64; 4]);

/// The words of `image` and their boxes, as transformers' `apply_tesseract`. Built without
/// the `ocr` feature this is an error that says so.
#[cfg(not(feature = "ocr"))]
pub fn apply_tesseract(image: &Path, _lang: Option<&str>, _config: &str) -> Result<Vec<WordBox>> {
    Err(TaskError::InvalidInput(format!(
        "{}: without word_boxes the document is read by OCR, which needs burn-tasks built with the \
         `ocr` cargo feature (and Tesseract installed); or give the words and boxes (--word-boxes)",
        image.display()
    )))
}

/// The words of `image` and their boxes, as transformers' `apply_tesseract`: `lang` is
/// Tesseract's `-l`, `config` extra command-line arguments.
#[cfg(feature = "ocr")]
pub fn apply_tesseract(image: &Path, lang: Option<&str>, config: &str) -> Result<Vec<WordBox>> {
    use std::process::Command;

    let page = super::load_image(image)?;
    let (width, height) = (page.width as u32, page.height as u32);
    let dir = tempfile::tempdir().map_err(|e| TaskError::InvalidInput(format!("temp dir: {e}")))?;
    let png = dir.path().join("page.png");
    image::RgbImage::from_raw(width, height, page.data)
        .expect("an RgbImage holds width * height * 3 bytes")
        .save(&png)
        .map_err(|e| TaskError::InvalidInput(format!("writing the page for OCR: {e}")))?;
    let out_base = dir.path().join("page");

    let program = std::env::var("TESSERACT_CMD").unwrap_or_else(|_| "tesseract".into());
    let mut command = Command::new(&program);
    command.arg(&png).arg(&out_base);
    if let Some(lang) = lang {
        command.args(["-l", lang]);
    }
    command.args(["-c", "tessedit_create_tsv=1"]);
    command.args(config.split_whitespace());
    let output = command.output().map_err(|e| {
        TaskError::InvalidInput(format!(
            "cannot run `{program}` for OCR ({e}); install Tesseract (Debian: apt-get install \
             tesseract-ocr) or give word_boxes"
        ))
    })?;
    if !output.status.success() {
        return Err(TaskError::InvalidInput(format!(
            "tesseract failed on {}: {}",
            image.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let tsv_path = out_base.with_extension("tsv");
    let tsv = std::fs::read_to_string(&tsv_path)
        .map_err(|e| TaskError::InvalidInput(format!("reading tesseract's output: {e}")))?;
    parse_tsv(&tsv, width, height)
}

/// Tesseract's TSV (`level page_num block_num par_num line_num word_num left top width height
/// conf text`) to words with normalised boxes.
#[cfg_attr(not(feature = "ocr"), allow(dead_code))]
fn parse_tsv(tsv: &str, image_width: u32, image_height: u32) -> Result<Vec<WordBox>> {
    let bad =
        |line: &str| TaskError::InvalidInput(format!("unexpected tesseract output line {line:?}"));
    let normalize = |v: i64, size: u32| (1000.0 * (v as f64 / size as f64)) as i64;
    let mut words = Vec::new();
    for line in tsv.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 11 {
            continue;
        }
        let text = fields.get(11).copied().unwrap_or("");
        if text.trim().is_empty() {
            continue;
        }
        let number = |i: usize| fields[i].trim().parse::<i64>().map_err(|_| bad(line));
        let (left, top, width, height) = (number(6)?, number(7)?, number(8)?, number(9)?);
        words.push((
            text.to_string(),
            [
                normalize(left, image_width),
                normalize(top, image_height),
                normalize(left + width, image_width),
                normalize(top + height, image_height),
            ],
        ));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_words_and_boxes_as_apply_tesseract() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   1\t1\t0\t0\t0\t0\t0\t0\t200\t100\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t10\t20\t30\t15\t96.5\tHello\n\
                   5\t1\t1\t1\t1\t2\t50\t20\t45\t15\t95\t \n\
                   5\t1\t1\t1\t1\t3\t99\t33\t101\t67\t91\tworld!\n";
        let words = parse_tsv(tsv, 200, 100).unwrap();
        assert_eq!(
            words,
            vec![
                ("Hello".to_string(), [50, 200, 200, 350]),
                ("world!".to_string(), [495, 330, 1000, 1000]),
            ]
        );
        assert!(parse_tsv("h\n5\t1\t1\t1\t1\t1\tx\t0\t1\t1\t9\tw\n", 10, 10).is_err());
    }
}
