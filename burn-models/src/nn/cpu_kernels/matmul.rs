//! `x W + b` for the linear layers of a forward pass over many rows (an encoder's `[batch *
//! seq, d]`): a blocked f32 product with an AVX-512 microkernel of 6 rows x 64 columns, the
//! weight packed per block into 64-column panels, the threads splitting the columns, and the
//! bias added as the first block is stored (Burn adds it in a second pass over the output).

use super::flex::{SendPtr, flex_f32};
use burn::tensor::{DType, Shape, Tensor};
use burn_dispatch::backends::Flex;
use burn_dispatch::backends::flex::FlexTensor;
use rayon::prelude::*;

/// Columns per panel: four 16-lane registers.
const NR: usize = 64;
/// Rows per microkernel call: 6 x 4 accumulators, 4 weight registers and a broadcast.
const MR: usize = 6;
/// Inputs per block: a 6-row slice of `x` (6 x 384 floats) stays in L1.
const KC: usize = 384;
/// Panels per block: the packed block (384 x 320 floats, 480 KiB) stays in L2.
const NC_PANELS: usize = 5;

/// `x W + b` for `x` `[rows, d_input]` and `W` `[d_input, d_output]` stored row-major (Burn's
/// layout for a linear layer's weight); `None` where it does not apply (other layouts, other
/// backends, autodiff, no AVX-512).
pub(super) fn run(
    x: &Tensor<2>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
) -> Option<Tensor<2>> {
    let [rows, d_input] = x.dims();
    let [w_input, d_output] = weight.dims();
    if rows == 0 || d_input == 0 || w_input != d_input || !has_avx512() {
        return None;
    }
    let (x, w) = (flex_f32(x)?, flex_f32(weight)?);
    let bias = match bias {
        Some(b) => Some(flex_f32(b)?),
        None => None,
    };
    let strides = |t: &FlexTensor| -> Option<[isize; 2]> { t.layout().strides().try_into().ok() };
    let (xs, ws) = (strides(&x)?, strides(&w)?);
    let row_major = |s: [isize; 2], cols: usize| s[1] == 1 && s[0] == cols as isize;
    if !row_major(xs, d_input)
        || !row_major(ws, d_output)
        || !bias.as_ref().is_none_or(|b| b.is_contiguous())
    {
        return None;
    }
    let mut out = FlexTensor::empty(Shape::new([rows, d_output]), DType::F32);
    let product = Product {
        rows,
        d_input,
        d_output,
        x: &x.storage::<f32>()[x.layout().start_offset()..][..rows * d_input],
        w: &w.storage::<f32>()[w.layout().start_offset()..][..d_input * d_output],
        bias: bias
            .as_ref()
            .map(|b| &b.storage::<f32>()[b.layout().start_offset()..][..d_output]),
    };
    product.run(out.storage_mut::<f32>());
    Some(Tensor::from_primitive::<Flex>(out))
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// One product's operands, row-major.
struct Product<'a> {
    rows: usize,
    d_input: usize,
    d_output: usize,
    x: &'a [f32],
    w: &'a [f32],
    bias: Option<&'a [f32]>,
}

impl Product<'_> {
    /// Writes `rows x d_output` into `out` (needs AVX-512F: see [`run`]).
    fn run(&self, out: &mut [f32]) {
        let panels = self.d_output.div_ceil(NR);
        let tasks = rayon::current_num_threads().min(panels).max(1);
        let per_task = panels.div_ceil(tasks);
        let out = SendPtr(out.as_mut_ptr());
        let task = |t: usize| {
            let first = t * per_task;
            let last = (first + per_task).min(panels);
            if first < last {
                PACKED.with_borrow_mut(|buffer| self.columns(first..last, buffer, out));
            }
        };
        if tasks > 1 && self.rows * self.d_input * self.d_output >= 1 << 20 {
            (0..tasks).into_par_iter().for_each(task);
        } else {
            (0..tasks).for_each(task);
        }
    }

    /// The output columns of `panels`, block by block.
    fn columns(&self, panels: std::ops::Range<usize>, packed: &mut Vec<f32>, out: SendPtr) {
        let (k, n) = (self.d_input, self.d_output);
        let mut block = panels.start;
        while block < panels.end {
            let block_end = (block + NC_PANELS).min(panels.end);
            let mut start = 0;
            while start < k {
                let kc = KC.min(k - start);
                self.pack(block..block_end, start, kc, packed);
                let mut row = 0;
                while row < self.rows {
                    let mr = MR.min(self.rows - row);
                    for (i, panel) in (block..block_end).enumerate() {
                        let column = panel * NR;
                        let tile = Tile {
                            rows: mr,
                            depth: kc,
                            // SAFETY: row `row + mr - 1` and input `start + kc - 1` exist.
                            x: unsafe { self.x.as_ptr().add(row * k + start) },
                            x_stride: k,
                            w: &packed[i * kc * NR..(i + 1) * kc * NR],
                            bias: if start == 0 {
                                self.bias.map(|b| &b[column..(column + NR).min(n)])
                            } else {
                                None
                            },
                            accumulate: start > 0,
                            columns: NR.min(n - column),
                        };
                        // SAFETY: rows `row..row + mr` of this task's columns; the CPU has
                        // AVX-512F (checked by `run`).
                        unsafe { tile.run(out.get().add(row * n + column), n) };
                    }
                    row += mr;
                }
                start += kc;
            }
            block = block_end;
        }
    }

    /// Packs `W[start..start + kc, panels]` into `packed`: panel after panel, each `kc` rows of
    /// 64 columns (zeros past the last column).
    fn pack(&self, panels: std::ops::Range<usize>, start: usize, kc: usize, packed: &mut Vec<f32>) {
        let n = self.d_output;
        packed.clear();
        packed.resize(panels.len() * kc * NR, 0.0);
        for (i, panel) in panels.enumerate() {
            let column = panel * NR;
            let width = NR.min(n - column);
            let dst = &mut packed[i * kc * NR..(i + 1) * kc * NR];
            for (p, dst) in dst.chunks_exact_mut(NR).enumerate() {
                let src = (start + p) * n + column;
                dst[..width].copy_from_slice(&self.w[src..src + width]);
            }
        }
    }
}

thread_local! {
    /// Each worker's packed weight block, kept between calls.
    static PACKED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One microkernel call: up to [`MR`] rows of `x` times one packed panel.
struct Tile<'a> {
    rows: usize,
    depth: usize,
    x: *const f32,
    x_stride: usize,
    /// `depth x NR`, packed.
    w: &'a [f32],
    /// Added as the block is stored (the first block only).
    bias: Option<&'a [f32]>,
    /// Adds to the output (later blocks) rather than overwriting it.
    accumulate: bool,
    /// Valid columns (≤ [`NR`]).
    columns: usize,
}

impl Tile<'_> {
    /// # Safety
    /// The CPU must have AVX-512F; `x` must hold `rows` rows of `depth` floats at `x_stride`,
    /// `out` `rows` rows of `columns` floats at `ldc`.
    unsafe fn run(&self, out: *mut f32, ldc: usize) {
        // SAFETY: as this function's contract.
        unsafe {
            match self.rows {
                6 => self.kernel::<6>(out, ldc),
                5 => self.kernel::<5>(out, ldc),
                4 => self.kernel::<4>(out, ldc),
                3 => self.kernel::<3>(out, ldc),
                2 => self.kernel::<2>(out, ldc),
                _ => self.kernel::<1>(out, ldc),
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const ROWS: usize>(&self, out: *mut f32, ldc: usize) {
        use std::arch::x86_64::*;
        let mut acc = [[_mm512_setzero_ps(); 4]; ROWS];
        let mut w = self.w.as_ptr();
        for p in 0..self.depth {
            // SAFETY: `w` holds `depth * NR` floats; `x` rows hold `depth` floats.
            unsafe {
                let w0 = _mm512_loadu_ps(w);
                let w1 = _mm512_loadu_ps(w.add(16));
                let w2 = _mm512_loadu_ps(w.add(32));
                let w3 = _mm512_loadu_ps(w.add(48));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*self.x.add(r * self.x_stride + p));
                    acc[0] = _mm512_fmadd_ps(x, w0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(x, w1, acc[1]);
                    acc[2] = _mm512_fmadd_ps(x, w2, acc[2]);
                    acc[3] = _mm512_fmadd_ps(x, w3, acc[3]);
                }
                w = w.add(NR);
            }
        }
        for j in 0..4 {
            let valid = self.columns.saturating_sub(16 * j).min(16);
            let mask: __mmask16 = if valid == 16 {
                0xffff
            } else {
                (1u16 << valid) - 1
            };
            // SAFETY: masked to the valid columns of the caller's tile.
            unsafe {
                let base = match self.bias {
                    Some(b) => _mm512_maskz_loadu_ps(mask, b.as_ptr().add(16 * j)),
                    None => _mm512_setzero_ps(),
                };
                for (r, acc) in acc.iter().enumerate() {
                    let dst = out.add(r * ldc + 16 * j);
                    let add = if self.accumulate {
                        _mm512_maskz_loadu_ps(mask, dst)
                    } else {
                        base
                    };
                    _mm512_mask_storeu_ps(dst, mask, _mm512_add_ps(acc[j], add));
                }
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn kernel<const ROWS: usize>(&self, _out: *mut f32, _ldc: usize) {
        unreachable!("only called where the CPU has AVX-512")
    }
}
