//! A linear layer on a few rows (a decoder step): gemm runs a matrix-vector product on one
//! thread whatever the parallelism asked, and on a few rows packs the whole weight for every
//! call; here the weight's columns are split over the pool, and on two or more rows (beams)
//! a kernel reads the row-major weight in place, once, for every row.
//!
//! A weight stored by output column (an output projection tied to the embedding table, whose
//! rows are the columns here) on more than one row (beams): gemm packs the whole table for every
//! call there, several times the cost of reading it once; here each task takes a range of table
//! rows and computes their dot products with every input row.

use super::flex::{SendPtr, flex_f32};
use burn::tensor::Shape;
use burn::tensor::{DType, Tensor};
use burn_dispatch::backends::Flex;
use burn_dispatch::backends::flex::FlexTensor;
use rayon::prelude::*;

/// Up to this many rows, the product is a few matrix-vector products.
const MAX_ROWS: usize = 8;
/// Below this many weights a task's start-up outweighs the split.
const MIN_WEIGHTS: usize = 1 << 18;
/// The same for the panel kernel on several rows, which does several times the work per weight.
const MIN_PANEL_WEIGHTS: usize = 1 << 16;

pub(super) fn run(
    x: &Tensor<2>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
) -> Option<Tensor<2>> {
    let [rows, d_input] = x.dims();
    let [w_input, d_output] = weight.dims();
    if rows > MAX_ROWS || rows == 0 || w_input != d_input || d_input == 0 || d_output == 0 {
        return None;
    }
    // Worth splitting over the threads.
    let large =
        d_input * d_output >= MIN_WEIGHTS && d_output >= 64 && rayon::current_num_threads() >= 2;
    let (x, w) = (flex_f32(x)?, flex_f32(weight)?);
    let bias = match bias {
        Some(b) => Some(flex_f32(b)?),
        None => None,
    };
    let strides = |t: &FlexTensor| -> Option<[isize; 2]> { t.layout().strides().try_into().ok() };
    let (xs, ws) = (strides(&x)?, strides(&w)?);
    if xs.iter().chain(&ws).any(|s| *s < 0) || !bias.as_ref().is_none_or(|b| b.is_contiguous()) {
        return None;
    }
    // A row-major weight on beams: read in place, on one thread when small (gemm would pack it).
    let in_place = panel_kernel().filter(|_| rows > 1 && ws[1] == 1 && xs[1] == 1);
    if !large && in_place.is_none() {
        return None;
    }
    let mut out = FlexTensor::empty(Shape::new([rows, d_output]), DType::F32);
    let out_values = out.storage_mut::<f32>();
    if let Some(b) = &bias {
        let b = &b.storage::<f32>()[b.layout().start_offset()..][..d_output];
        for row in out_values.chunks_exact_mut(d_output) {
            row.copy_from_slice(b);
        }
    }
    let out_ptr = SendPtr(out_values.as_mut_ptr());
    let x_values = &x.storage::<f32>()[x.layout().start_offset()..];
    let w_values = &w.storage::<f32>()[w.layout().start_offset()..];
    if let Some(kernel) = in_place {
        column_panels(
            kernel,
            Product {
                rows,
                d_input,
                d_output,
                x: x_values,
                x_stride: xs[0] as usize,
                table: w_values,
                table_stride: ws[0] as usize,
            },
            out_ptr,
            bias.is_some(),
            d_input * d_output >= MIN_PANEL_WEIGHTS && rayon::current_num_threads() >= 2,
        );
        return Some(Tensor::from_primitive::<Flex>(out));
    }
    if large
        && rows > 1
        && ws[0] == 1
        && xs[1] == 1
        && let Some(kernel) = dot_kernel()
    {
        tied_rows(
            kernel,
            Product {
                rows,
                d_input,
                d_output,
                x: x_values,
                x_stride: xs[0] as usize,
                table: w_values,
                table_stride: ws[1] as usize,
            },
            out_ptr,
            bias.is_some(),
        );
        return Some(Tensor::from_primitive::<Flex>(out));
    }
    // With a bias, gemm adds the product to it; without, it overwrites the empty buffer.
    let read_dst = bias.is_some();
    let x_ptr = x.storage::<f32>()[x.layout().start_offset()..].as_ptr() as usize;
    let w_data = &w.storage::<f32>()[w.layout().start_offset()..];
    // ~1,000 columns a task, at least one per thread, in multiples of 16 (a SIMD register).
    let tasks = (d_output / 1024).clamp(rayon::current_num_threads(), 256);
    let per_task = d_output.div_ceil(tasks).next_multiple_of(16);
    (0..d_output.div_ceil(per_task))
        .into_par_iter()
        .for_each(|task| {
            let start = task * per_task;
            let cols = per_task.min(d_output - start);
            // SAFETY: layouts come from the tensors; columns `start..start + cols` of the
            // output are this task's alone.
            unsafe {
                gemm::gemm(
                    rows,
                    cols,
                    d_input,
                    out_ptr.get().add(start),
                    1,
                    d_output as isize,
                    read_dst,
                    x_ptr as *const f32,
                    xs[1],
                    xs[0],
                    w_data.as_ptr().offset(start as isize * ws[1]),
                    ws[1],
                    ws[0],
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
    Some(Tensor::from_primitive::<Flex>(out))
}

/// `out[r, j] (+)= x[r, :] · table[j, :]` for the rows of one product (the dot kernel), or
/// `out[r, :] (+)= Σ_k x[r, k] table[k, :]` (the panel kernel, `table` the row-major weight
/// whose input `k` starts at `k * table_stride`).
struct Product<'a> {
    rows: usize,
    d_input: usize,
    d_output: usize,
    x: &'a [f32],
    x_stride: usize,
    table: &'a [f32],
    table_stride: usize,
}

/// A kernel for up to [`MAX_ROWS`] rows: `(product, first column, columns, out, add)` computes
/// those output columns of every row; `out` points at the whole `[rows, d_output]` output.
type ColumnKernel = unsafe fn(&Product<'_>, usize, usize, *mut f32, bool);

/// Runs `kernel` on ranges of `per_task` output columns, over the pool when `parallel`.
fn split_columns(
    kernel: ColumnKernel,
    p: &Product<'_>,
    out: SendPtr,
    add: bool,
    per_task: usize,
    parallel: bool,
) {
    let tasks = p.d_output.div_ceil(per_task);
    let task = |t: usize| {
        let start = t * per_task;
        let columns = per_task.min(p.d_output - start);
        // SAFETY: columns `start..start + columns` of the output are this task's alone; the
        // kernel's reads stay inside the product's slices (checked by its caller's layouts).
        unsafe { kernel(p, start, columns, out.get(), add) };
    };
    if parallel && tasks > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// `$kernel::<R>($p, args)` with `R` the product's row count, 1 to [`MAX_ROWS`].
#[cfg(target_arch = "x86_64")]
macro_rules! by_rows {
    ($kernel:ident, $p:expr, $($arg:expr),*) => {
        match $p.rows {
            1 => $kernel::<1>($p, $($arg),*),
            2 => $kernel::<2>($p, $($arg),*),
            3 => $kernel::<3>($p, $($arg),*),
            4 => $kernel::<4>($p, $($arg),*),
            5 => $kernel::<5>($p, $($arg),*),
            6 => $kernel::<6>($p, $($arg),*),
            7 => $kernel::<7>($p, $($arg),*),
            _ => $kernel::<8>($p, $($arg),*),
        }
    };
}

fn dot_kernel() -> Option<ColumnKernel> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return Some(dots_avx512);
    }
    None
}

/// Splits the table's rows (the output columns) over the pool.
fn tied_rows(kernel: ColumnKernel, product: Product<'_>, out: SendPtr, add: bool) {
    // ~1,000 output columns a task, at least two per thread for balance.
    let tasks = (product.d_output / 1024).clamp(2 * rayon::current_num_threads(), 512);
    let per_task = product.d_output.div_ceil(tasks).next_multiple_of(4);
    split_columns(kernel, &product, out, add, per_task, true);
}

/// A [`ColumnKernel`] for a weight stored by output column, with AVX-512: four table rows at a
/// time against every input row (up to 8 rows x 4 columns of 16-lane accumulators), each
/// table row read once.
///
/// # Safety
/// The CPU must have AVX-512F; `out` must hold `rows * d_output` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_avx512(p: &Product<'_>, start: usize, columns: usize, out: *mut f32, add: bool) {
    // SAFETY: as this function's contract.
    unsafe { by_rows!(dots_rows, p, start, columns, out, add) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_rows<const R: usize>(
    p: &Product<'_>,
    start: usize,
    columns: usize,
    out: *mut f32,
    add: bool,
) {
    use std::arch::x86_64::*;
    let k = p.d_input;
    let full = k / 16 * 16;
    let x = |r: usize, i: usize| p.x[r * p.x_stride + i];
    let w = |j: usize, i: usize| p.table[j * p.table_stride + i];
    let mut j = start;
    while j < start + columns {
        let width = 4.min(start + columns - j);
        let mut acc = [[_mm512_setzero_ps(); 4]; R];
        for i in (0..full).step_by(16) {
            // SAFETY: `i + 16 <= d_input` for every row read; table rows `j + c < d_output`
            // (a missing column reads row `j` again and is not stored).
            unsafe {
                let t: [__m512; 4] = std::array::from_fn(|c| {
                    let row = if c < width { j + c } else { j };
                    _mm512_loadu_ps(p.table.as_ptr().add(row * p.table_stride + i))
                });
                // The next four table rows, a line each: the four interleaved streams leave
                // the hardware prefetcher behind (loads were 86% of this kernel's samples).
                for c in 0..4 {
                    let ahead = p
                        .table
                        .as_ptr()
                        .wrapping_add((j + 4 + c) * p.table_stride + i);
                    _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let v = _mm512_loadu_ps(p.x.as_ptr().add(r * p.x_stride + i));
                    for c in 0..4 {
                        acc[c] = _mm512_fmadd_ps(v, t[c], acc[c]);
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (c, acc) in acc.iter().enumerate().take(width) {
                let mut sum = _mm512_reduce_add_ps(*acc);
                for i in full..k {
                    sum += x(r, i) * w(j + c, i);
                }
                // SAFETY: row `r`, column `j + c` of the output.
                unsafe {
                    let o = out.add(r * p.d_output + j + c);
                    *o = if add { *o + sum } else { sum };
                }
            }
        }
        j += 4;
    }
}

/// Output columns per panel of the row-major kernel: two 16-lane registers, so 8 rows of
/// accumulators, the two weight registers and a broadcast fit in 32.
const PANEL: usize = 32;

fn panel_kernel() -> Option<ColumnKernel> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return Some(panels_avx512);
    }
    None
}

/// Splits the output columns, in whole panels, over the pool (`parallel`) or runs them here.
fn column_panels(kernel: ColumnKernel, p: Product<'_>, out: SendPtr, add: bool, parallel: bool) {
    let panels = p.d_output.div_ceil(PANEL);
    let tasks = if parallel {
        (2 * rayon::current_num_threads()).min(panels)
    } else {
        1
    };
    split_columns(
        kernel,
        &p,
        out,
        add,
        panels.div_ceil(tasks) * PANEL,
        parallel,
    );
}

/// A [`ColumnKernel`] for a row-major weight, with AVX-512: for each input, the weight's 32
/// columns of a panel are two loads, multiplied into every row's accumulators; the weight is
/// read once.
///
/// # Safety
/// The CPU must have AVX-512F; `out` must hold `rows * d_output` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panels_avx512(p: &Product<'_>, start: usize, columns: usize, out: *mut f32, add: bool) {
    // SAFETY: as this function's contract.
    unsafe { by_rows!(panel_rows, p, start, columns, out, add) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panel_rows<const R: usize>(
    p: &Product<'_>,
    start: usize,
    columns: usize,
    out: *mut f32,
    add: bool,
) {
    use std::arch::x86_64::*;
    let lanes = |n: usize| -> __mmask16 { if n >= 16 { 0xffff } else { (1u16 << n) - 1 } };
    let end = start + columns;
    let mut j = start;
    while j < end {
        let width = (end - j).min(PANEL);
        let masks = [lanes(width), lanes(width.saturating_sub(16))];
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let mut w = p.table.as_ptr().wrapping_add(j);
        for k in 0..p.d_input {
            // SAFETY: input `k`'s columns `j..j + width` lie in the weight; the masked-off
            // lanes are not read.
            unsafe {
                let w0 = _mm512_maskz_loadu_ps(masks[0], w);
                let w1 = _mm512_maskz_loadu_ps(masks[1], w.wrapping_add(16));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*p.x.as_ptr().add(r * p.x_stride + k));
                    acc[0] = _mm512_fmadd_ps(x, w0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(x, w1, acc[1]);
                }
            }
            w = w.wrapping_add(p.table_stride);
        }
        for (r, acc) in acc.iter().enumerate() {
            for (c, acc) in acc.iter().enumerate() {
                // SAFETY: row `r`, columns `j + 16 c..` of the output, masked to the panel.
                unsafe {
                    let dst = out.wrapping_add(r * p.d_output + j + 16 * c);
                    let value = if add {
                        _mm512_add_ps(*acc, _mm512_maskz_loadu_ps(masks[c], dst))
                    } else {
                        *acc
                    };
                    _mm512_mask_storeu_ps(dst, masks[c], value);
                }
            }
        }
        j += PANEL;
    }
}
