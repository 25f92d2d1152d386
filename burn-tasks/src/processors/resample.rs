//! `PIL.Image.resize` for 8-bit RGB images, reproduced bit for bit: transformers' slow image
//! processors resize through PIL (`image_transforms.resize`), so matching their
//! `pixel_values` means matching Pillow's `libImaging/Resample.c`: separable convolution with
//! the filter stretched by the downscale factor (antialiasing), coefficients in 22-bit fixed
//! point, a horizontal pass first, and each pass rounded and clipped to 8 bits.

use crate::error::{Result, TaskError};
use crate::input::RgbImage;

/// PIL's resampling filters, by their numbers in `preprocessor_config.json` (`resample`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// `NEAREST` (0).
    Nearest,
    /// `LANCZOS` (1).
    Lanczos,
    /// `BILINEAR` (2).
    Bilinear,
    /// `BICUBIC` (3).
    Bicubic,
    /// `BOX` (4).
    Box,
    /// `HAMMING` (5).
    Hamming,
}

impl Resample {
    /// `PILImageResampling(n)`.
    pub fn from_pil(n: u64) -> Result<Self> {
        Ok(match n {
            0 => Self::Nearest,
            1 => Self::Lanczos,
            2 => Self::Bilinear,
            3 => Self::Bicubic,
            4 => Self::Box,
            5 => Self::Hamming,
            other => {
                return Err(TaskError::option(
                    "resample",
                    format!("{other} is not a PIL resampling filter (0-5)"),
                ));
            }
        })
    }

    fn support(self) -> f64 {
        match self {
            Self::Nearest | Self::Box => 0.5,
            Self::Bilinear | Self::Hamming => 1.0,
            Self::Bicubic => 2.0,
            Self::Lanczos => 3.0,
        }
    }

    fn filter(self, x: f64) -> f64 {
        match self {
            // (-0.5, 0.5], as Pillow's box_filter.
            Self::Nearest | Self::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Self::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            Self::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    x.sin() / x * (0.54 + 0.46 * x.cos())
                }
            }
            Self::Bicubic => {
                // Keys' cubic with a = -0.5, as PIL.
                let a = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * a
                } else {
                    0.0
                }
            }
            Self::Lanczos => {
                let sinc = |x: f64| {
                    if x == 0.0 {
                        1.0
                    } else {
                        let x = x * std::f64::consts::PI;
                        x.sin() / x
                    }
                };
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: the first input index, and fixed-point weights of the inputs from there.
struct Coefficients {
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    ksize: usize,
}

/// `precompute_coeffs` + `normalize_coeffs_8bpc` of Resample.c.
fn coefficients(in_size: usize, out_size: usize, filter: Resample) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's `(int)` truncates toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let count = xmax.saturating_sub(xmin);
        let mut total = 0.0;
        for (x, slot) in k.iter_mut().enumerate().take(count) {
            let w = filter.filter((x as f64 + xmin as f64 - center + 0.5) * ss);
            *slot = w;
            total += w;
        }
        for x in 0..count {
            let w = if total != 0.0 { k[x] / total } else { k[x] };
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            weights[xx * ksize + x] = if w < 0.0 {
                (-0.5 + fixed) as i32
            } else {
                (0.5 + fixed) as i32
            };
        }
        bounds.push((xmin, count));
    }
    Coefficients {
        bounds,
        weights,
        ksize,
    }
}

fn clip8(value: i64) -> u8 {
    if value >= (1i64 << PRECISION_BITS) << 8 {
        255
    } else if value <= 0 {
        0
    } else {
        (value >> PRECISION_BITS) as u8
    }
}

/// `image.resize((width, height), resample)` as Pillow computes it for an RGB image.
pub fn resize(image: &RgbImage, width: usize, height: usize, filter: Resample) -> Result<RgbImage> {
    if width == 0 || height == 0 {
        return Err(TaskError::InvalidInput(format!(
            "cannot resize a {}x{} image to {width}x{height}",
            image.width, image.height
        )));
    }
    if width == image.width && height == image.height {
        return Ok(image.clone());
    }
    if filter == Resample::Nearest {
        return Ok(resize_nearest(image, width, height));
    }
    let horizontal = coefficients(image.width, width, filter);
    let vertical = coefficients(image.height, height, filter);
    // Horizontal pass over the rows the vertical pass reads.
    let first_row = vertical.bounds[0].0;
    let last_row = vertical.bounds[height - 1].0 + vertical.bounds[height - 1].1;
    let (temp, temp_width, row_offset) = if width != image.width {
        let rows = last_row - first_row;
        let mut temp = vec![0u8; rows * width * 3];
        for y in 0..rows {
            let src = &image.data[(y + first_row) * image.width * 3..][..image.width * 3];
            for (xx, &(xmin, count)) in horizontal.bounds.iter().enumerate() {
                let k = &horizontal.weights[xx * horizontal.ksize..][..count];
                for c in 0..3 {
                    let mut ss = 1i64 << (PRECISION_BITS - 1);
                    for (x, &w) in k.iter().enumerate() {
                        ss += i64::from(src[(x + xmin) * 3 + c]) * i64::from(w);
                    }
                    temp[(y * width + xx) * 3 + c] = clip8(ss);
                }
            }
        }
        (temp, width, first_row)
    } else {
        (image.data.clone(), image.width, 0)
    };
    if height == image.height {
        return RgbImage::new(width, height, temp);
    }
    let mut out = vec![0u8; width * height * 3];
    for (yy, &(ymin, count)) in vertical.bounds.iter().enumerate() {
        let k = &vertical.weights[yy * vertical.ksize..][..count];
        let ymin = ymin - row_offset;
        for xx in 0..width {
            for c in 0..3 {
                let mut ss = 1i64 << (PRECISION_BITS - 1);
                for (y, &w) in k.iter().enumerate() {
                    ss += i64::from(temp[((y + ymin) * temp_width + xx) * 3 + c]) * i64::from(w);
                }
                out[(yy * width + xx) * 3 + c] = clip8(ss);
            }
        }
    }
    RgbImage::new(width, height, out)
}

/// PIL's NEAREST resize (`ImagingScaleAffine`): source coordinates stepped by repeated
/// addition from the first pixel centre, as Pillow does, so boundaries round alike.
fn resize_nearest(image: &RgbImage, width: usize, height: usize) -> RgbImage {
    let steps = |in_size: usize, out_size: usize| -> Vec<usize> {
        let step = in_size as f64 / out_size as f64;
        let mut pos = step * 0.5;
        (0..out_size)
            .map(|_| {
                let index = (pos as usize).min(in_size - 1);
                pos += step;
                index
            })
            .collect()
    };
    let (xs, ys) = (steps(image.width, width), steps(image.height, height));
    let mut out = Vec::with_capacity(width * height * 3);
    for &y in &ys {
        for &x in &xs {
            out.extend_from_slice(&image.pixel(x, y));
        }
    }
    RgbImage {
        width,
        height,
        data: out,
    }
}
