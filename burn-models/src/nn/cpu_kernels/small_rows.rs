//! A linear layer on a few rows (a decoder step): gemm runs a matrix-vector product on one
//! thread whatever the parallelism asked; here the weight's columns are split over the pool.
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

pub(super) fn run(
    x: &Tensor<2>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
) -> Option<Tensor<2>> {
    let [rows, d_input] = x.dims();
    let [w_input, d_output] = weight.dims();
    if rows > MAX_ROWS
        || rows == 0
        || w_input != d_input
        || d_input * d_output < MIN_WEIGHTS
        || d_output < 64
        || rayon::current_num_threads() < 2
    {
        return None;
    }
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
    if rows > 1
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

/// `out[r, j] (+)= x[r, :] · table[j, :]` for the rows of one product.
struct Product<'a> {
    rows: usize,
    d_input: usize,
    d_output: usize,
    x: &'a [f32],
    x_stride: usize,
    table: &'a [f32],
    table_stride: usize,
}

/// A dot-product kernel for up to [`MAX_ROWS`] rows: `(product, first column, columns, out,
/// add)`; `out` points at the whole `[rows, d_output]` output.
type DotKernel = unsafe fn(&Product<'_>, usize, usize, *mut f32, bool);

fn dot_kernel() -> Option<DotKernel> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return Some(dots_avx512);
    }
    None
}

/// Splits the table's rows (the output columns) over the pool.
fn tied_rows(kernel: DotKernel, product: Product<'_>, out: SendPtr, add: bool) {
    // ~1,000 output columns a task, at least two per thread for balance.
    let tasks = (product.d_output / 1024).clamp(2 * rayon::current_num_threads(), 512);
    let per_task = product.d_output.div_ceil(tasks).next_multiple_of(4);
    (0..product.d_output.div_ceil(per_task))
        .into_par_iter()
        .for_each(|task| {
            let start = task * per_task;
            let columns = per_task.min(product.d_output - start);
            // SAFETY: columns `start..start + columns` of the output are this task's alone; the
            // kernel's reads stay inside the product's slices (checked by its caller's layouts).
            unsafe { kernel(&product, start, columns, out.get(), add) };
        });
}

/// [`DotKernel`] with AVX-512: four table rows at a time against every input row (up to 8 rows
/// x 4 columns of 16-lane accumulators), each table row read once.
///
/// # Safety
/// The CPU must have AVX-512F; `out` must hold `rows * d_output` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_avx512(p: &Product<'_>, start: usize, columns: usize, out: *mut f32, add: bool) {
    // SAFETY: as this function's contract.
    unsafe {
        match p.rows {
            1 => dots_rows::<1>(p, start, columns, out, add),
            2 => dots_rows::<2>(p, start, columns, out, add),
            3 => dots_rows::<3>(p, start, columns, out, add),
            4 => dots_rows::<4>(p, start, columns, out, add),
            5 => dots_rows::<5>(p, start, columns, out, add),
            6 => dots_rows::<6>(p, start, columns, out, add),
            7 => dots_rows::<7>(p, start, columns, out, add),
            _ => dots_rows::<8>(p, start, columns, out, add),
        }
    }
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
