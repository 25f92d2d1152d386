//! A linear layer on a few rows (a decoder step): gemm runs a matrix-vector product on one
//! thread whatever the parallelism asked; here the weight's columns are split over the pool.

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
