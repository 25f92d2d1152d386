//! CPU kernels for the ops where the `flex` backend runs scalar or single-threaded code:
//!
//! * exact GELU: flex evaluates `erf` with libm per element on one core (~7% of a BERT-base
//!   forward); here it is one vectorized pass split over the thread pool;
//! * attention: flex's fused op copies strided `q`/`k`/`v` to contiguous buffers and takes the
//!   softmax's `exp` from libm per score (a quarter of Whisper's run time on 30 s of audio);
//!   here each (example, head) is two `gemm` calls on the strided views and a vectorized
//!   softmax, heads in parallel, written straight into the `[batch, seq, heads, dim]` layout
//!   the output projection reads;
//! * a linear layer on a few rows (a decoder step): gemm runs a matrix-vector product on one
//!   thread whatever the parallelism asked; here the weight's columns are split over the pool.
//!
//! Tensors on other backends, with autodiff, or in half precision take Burn's ops unchanged.
//! The hot loops use explicit intrinsics (AVX-512 or AVX2 + FMA, picked at run time) rather than
//! loops left to the auto-vectorizer: the workspace crates build at opt-level 1 in the dev
//! profile, where LLVM does not vectorize loops.

#[cfg(feature = "flex")]
use burn::tensor::DType;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor, activation, module};

/// Exact (erf) GELU, `x/2 (1 + erf(x/√2))`, as `burn::tensor::activation::gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if x.dtype() == DType::F32 {
        use burn_dispatch::backends::Flex;
        // A cheap probe (the clone shares the buffer) so a failed conversion keeps `x`.
        if x.clone().try_into_primitive::<Flex>().is_ok() {
            let mut t = x.try_into_primitive::<Flex>().expect("probed above");
            if !t.is_contiguous() || t.layout().start_offset() != 0 {
                t = t.to_contiguous();
            }
            let n = t.layout().shape().num_elements();
            // Copy-on-write: a buffer shared with another tensor is copied first.
            let values = &mut t.storage_mut::<f32>()[..n];
            for_each_chunk(values, gelu_in_place);
            return Tensor::from_primitive::<Flex>(t);
        }
        // Training on flex: the same kernel forward, and a fused kernel for the backward pass
        // (flex's evaluates `erf` and `exp` per element on one core).
        let input = x.clone().inner();
        if super::lean::applies(&x) && input.clone().try_into_primitive::<Flex>().is_ok() {
            use std::sync::Arc;
            let output = gelu(input.clone());
            let backward: super::lean::GradFn<1, D, D> = Arc::new(move |grad: Tensor<D>, _| {
                [Some(gelu_backward(input.clone(), grad))].into()
            });
            return super::lean::record(&[x], output, backward);
        }
    }
    activation::gelu(x)
}

/// `grad · GELU'(x)` for tensors without autodiff, `GELU'(x) = Φ(x) + x φ(x)`.
#[cfg(feature = "flex")]
fn gelu_backward<const D: usize>(x: Tensor<D>, grad: Tensor<D>) -> Tensor<D> {
    use burn_dispatch::backends::Flex;
    let contiguous = |t: Tensor<D>| {
        let t = t.try_into_primitive::<Flex>().ok()?;
        Some(if t.is_contiguous() && t.layout().start_offset() == 0 {
            t
        } else {
            t.to_contiguous()
        })
    };
    let fast = x.dtype() == DType::F32 && grad.dtype() == DType::F32 && x.dims() == grad.dims();
    if fast && let (Some(xs), Some(mut gs)) = (contiguous(x.clone()), contiguous(grad.clone())) {
        let n = xs.layout().shape().num_elements();
        let xv = &xs.storage::<f32>()[..n];
        let gv = &mut gs.storage_mut::<f32>()[..n];
        use rayon::prelude::*;
        gv.par_chunks_mut(16 * 1024)
            .zip(xv.par_chunks(16 * 1024))
            .for_each(|(g, x)| gelu_backward_in_place(x, g));
        return Tensor::from_primitive::<Flex>(gs);
    }
    let cdf = (x.clone() * std::f32::consts::FRAC_1_SQRT_2)
        .erf()
        .add_scalar(1.0)
        * 0.5;
    let pdf = (x.clone().powi_scalar(2) * -0.5).exp()
        * (0.5 * std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2);
    grad * (cdf + x * pdf)
}

/// `grad[i] *= GELU'(x[i])`.
#[cfg(feature = "flex")]
fn gelu_backward_in_place(x: &[f32], grad: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { gelu_backward_avx2(x, grad) };
    }
    for (g, &x) in grad.iter_mut().zip(x) {
        *g *= gelu_derivative(x);
    }
}

/// `Φ(x) + x φ(x)` with [`gelu_scalar`]'s `erf`.
#[cfg(feature = "flex")]
fn gelu_derivative(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf_scalar(x * std::f32::consts::FRAC_1_SQRT_2));
    let pdf = (-0.5 * x * x).exp() * INV_SQRT_2PI;
    cdf + x * pdf
}

#[cfg(feature = "flex")]
const INV_SQRT_2PI: f32 = 0.398_942_3;

#[cfg(all(feature = "flex", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
fn gelu_backward_avx2(x: &[f32], grad: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = x.len().min(grad.len());
    let set = _mm256_set1_ps;
    let mut j = 0;
    while j + 8 <= n {
        // SAFETY: j + 8 <= n for both slices.
        unsafe {
            let xv = _mm256_loadu_ps(x.as_ptr().add(j));
            let cdf = _mm256_mul_ps(
                set(0.5),
                _mm256_add_ps(
                    set(1.0),
                    erf_avx2(_mm256_mul_ps(xv, set(std::f32::consts::FRAC_1_SQRT_2))),
                ),
            );
            let pdf = _mm256_mul_ps(
                row_ops::exp_avx2(_mm256_mul_ps(set(-0.5), _mm256_mul_ps(xv, xv))),
                set(INV_SQRT_2PI),
            );
            let d = _mm256_fmadd_ps(xv, pdf, cdf);
            let g = _mm256_loadu_ps(grad.as_ptr().add(j));
            _mm256_storeu_ps(grad.as_mut_ptr().add(j), _mm256_mul_ps(g, d));
        }
        j += 8;
    }
    for k in j..n {
        grad[k] *= gelu_derivative(x[k]);
    }
}

/// `x W + b` for `x` `[rows, d_input]` and `W` `[d_input, d_output]`, as `module::linear`.
pub fn linear(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if let Some(out) = flex_linear::run(&x, &weight, bias.as_ref()) {
        return out;
    }
    module::linear(x, weight, bias)
}

/// What the flex kernels share.
#[cfg(feature = "flex")]
mod flex_common {
    use burn::tensor::{DType, Tensor};
    use burn_dispatch::backends::Flex;
    use burn_dispatch::backends::flex::FlexTensor;

    /// The flex primitive of an f32 tensor without autodiff (shares its buffer).
    pub(super) fn flex_f32<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
        if t.dtype() != DType::F32 {
            return None;
        }
        t.clone().try_into_primitive::<Flex>().ok()
    }

    /// An output pointer handed to the pool's tasks.
    #[derive(Clone, Copy)]
    pub(super) struct SendPtr(pub(super) *mut f32);
    // SAFETY: every kernel gives each task its own disjoint part of the output.
    unsafe impl Send for SendPtr {}
    unsafe impl Sync for SendPtr {}

    impl SendPtr {
        /// The pointer; a method, so closures capture the whole (`Send`) wrapper.
        pub(super) fn get(self) -> *mut f32 {
            self.0
        }
    }
}

#[cfg(feature = "flex")]
mod flex_linear {
    use super::flex_common::{SendPtr, flex_f32};
    use super::{DType, Tensor};
    use burn::tensor::Shape;
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
        let strides =
            |t: &FlexTensor| -> Option<[isize; 2]> { t.layout().strides().try_into().ok() };
        let (xs, ws) = (strides(&x)?, strides(&w)?);
        if xs.iter().chain(&ws).any(|s| *s < 0) || !bias.as_ref().is_none_or(|b| b.is_contiguous())
        {
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
}

/// Burn's `module::attention` (same arguments, result and fully-masked-row convention: zeros).
pub fn attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
    bias: Option<Tensor<4>>,
    options: AttentionModuleOptions,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(out) =
        flex_attention::run(&query, &key, &value, mask.as_ref(), bias.as_ref(), options)
    {
        return out;
    }
    module::attention(query, key, value, mask, bias, options)
}

#[cfg(feature = "flex")]
mod flex_attention {
    use super::flex_common::{SendPtr, flex_f32};
    use super::{AttentionModuleOptions, Bool, DType, Tensor, row_ops};
    use burn::tensor::Shape;
    use burn_dispatch::backends::Flex;
    use burn_dispatch::backends::flex::FlexTensor;
    use rayon::prelude::*;

    /// Scores above this many floats per (example, head) go to Burn's tiled op instead.
    const MAX_SCORES: usize = 16 << 20;

    /// A strided 4-d view: element `[a, b, c, d]` at `offset + a*s0 + b*s1 + c*s2 + d*s3`,
    /// with stride 0 along broadcast dims.
    struct View {
        offset: isize,
        dims: [usize; 4],
        strides: [isize; 4],
    }

    impl View {
        fn of(t: &FlexTensor) -> Option<Self> {
            let layout = t.layout();
            if layout.num_dims() != 4 || layout.strides().iter().any(|s| *s < 0) {
                return None;
            }
            let shape = layout.shape();
            let dims = [shape[0], shape[1], shape[2], shape[3]];
            let mut strides: [isize; 4] = layout.strides().try_into().ok()?;
            for (s, d) in strides.iter_mut().zip(dims) {
                if d == 1 {
                    *s = 0;
                }
            }
            Some(Self {
                offset: layout.start_offset() as isize,
                dims,
                strides,
            })
        }

        /// Offset of `[a, b, c, 0]`, broadcasting dims of size 1.
        fn at(&self, a: usize, b: usize, c: usize) -> isize {
            self.offset
                + a as isize * self.strides[0]
                + b as isize * self.strides[1]
                + c as isize * self.strides[2]
        }

        fn broadcasts_to(&self, dims: [usize; 4]) -> bool {
            self.dims
                .iter()
                .zip(dims)
                .all(|(&d, want)| d == want || d == 1)
        }
    }

    pub(super) fn run(
        query: &Tensor<4>,
        key: &Tensor<4>,
        value: &Tensor<4>,
        mask: Option<&Tensor<4, Bool>>,
        bias: Option<&Tensor<4>>,
        options: AttentionModuleOptions,
    ) -> Option<Tensor<4>> {
        if options.softcap.is_some() || options.is_causal {
            return None;
        }
        let (q, k, v) = (flex_f32(query)?, flex_f32(key)?, flex_f32(value)?);
        let (qv, kv, vv) = (View::of(&q)?, View::of(&k)?, View::of(&v)?);
        let [batch, heads, seq_q, head_dim] = qv.dims;
        let seq_kv = kv.dims[2];
        let val_dim = vv.dims[3];
        if kv.dims != [batch, heads, seq_kv, head_dim]
            || vv.dims != [batch, heads, seq_kv, val_dim]
            || seq_q * seq_kv > MAX_SCORES
            || seq_kv == 0
        {
            return None;
        }
        let scores_dims = [batch, heads, seq_q, seq_kv];
        let mask = match mask {
            Some(m) => Some(m.clone().try_into_primitive::<Flex>().ok()?),
            None => None,
        };
        let mask_view = match &mask {
            Some(m) => Some(View::of(m)?).filter(|v| v.broadcasts_to(scores_dims)),
            None => None,
        };
        if mask.is_some() && mask_view.is_none() {
            return None;
        }
        let bias = match bias {
            Some(b) => Some(flex_f32(b)?),
            None => None,
        };
        let bias_view = match &bias {
            Some(b) => Some(View::of(b)?).filter(|v| v.broadcasts_to(scores_dims)),
            None => None,
        };
        if bias.is_some() && bias_view.is_none() {
            return None;
        }
        let scale = options
            .scale
            .unwrap_or_else(|| 1.0 / (head_dim as f64).sqrt()) as f32;

        // The output in `[batch, seq_q, heads, val_dim]`, returned as a `[batch, heads, ...]`
        // view: merging the heads back is then free.
        let mut out = FlexTensor::empty(Shape::new([batch, seq_q, heads, val_dim]), DType::F32);
        let out_ptr = SendPtr(out.storage_mut::<f32>().as_mut_ptr());
        let (q_data, k_data, v_data) = (q.storage::<f32>(), k.storage::<f32>(), v.storage::<f32>());
        let mask_data: Option<&[u8]> = mask.as_ref().map(|m| m.storage::<u8>());
        let bias_data: Option<&[f32]> = bias.as_ref().map(|b| b.storage::<f32>());

        let head = |scratch: &mut Scratch, index: usize| {
            let (b, h) = (index / heads, index % heads);
            let scores = scratch.scores(seq_q * seq_kv);
            // SAFETY: the views' offsets and strides come from the tensors' own layouts, so
            // every element gemm reads lies in its buffer; `scores` holds seq_q × seq_kv.
            unsafe {
                gemm::gemm(
                    seq_q,
                    seq_kv,
                    head_dim,
                    scores.as_mut_ptr(),
                    1,
                    seq_kv as isize,
                    false,
                    q_data.as_ptr().offset(qv.at(b, h, 0)),
                    qv.strides[3],
                    qv.strides[2],
                    k_data.as_ptr().offset(kv.at(b, h, 0)),
                    kv.strides[2],
                    kv.strides[3],
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for i in 0..seq_q {
                let row = &mut scores[i * seq_kv..(i + 1) * seq_kv];
                if let (Some(view), Some(data)) = (&mask_view, mask_data) {
                    let start = view.at(b, h, i) as usize;
                    let step = view.strides[3] as usize;
                    for (j, s) in row.iter_mut().enumerate() {
                        if data[start + j * step] != 0 {
                            *s = f32::NEG_INFINITY;
                        }
                    }
                }
                if let (Some(view), Some(data)) = (&bias_view, bias_data) {
                    let start = view.at(b, h, i) as usize;
                    if view.strides[3] == 1 {
                        row_ops::add(row, &data[start..start + seq_kv]);
                    } else {
                        let step = view.strides[3] as usize;
                        for (j, s) in row.iter_mut().enumerate() {
                            *s += data[start + j * step];
                        }
                    }
                }
                row_ops::softmax(row);
            }
            // SAFETY: rows `[b, 0..seq_q, h, ..]` of the output belong to this (b, h) alone.
            unsafe {
                gemm::gemm(
                    seq_q,
                    val_dim,
                    seq_kv,
                    out_ptr.get().add(((b * seq_q) * heads + h) * val_dim),
                    1,
                    (heads * val_dim) as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    seq_kv as isize,
                    v_data.as_ptr().offset(vv.at(b, h, 0)),
                    vv.strides[3],
                    vv.strides[2],
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        };
        let work = batch * heads * seq_q * seq_kv * (head_dim + val_dim);
        if batch * heads > 1 && work >= 1 << 20 {
            (0..batch * heads)
                .into_par_iter()
                .for_each_init(Scratch::default, |scratch, index| head(scratch, index));
        } else {
            let mut scratch = Scratch::default();
            (0..batch * heads).for_each(|index| head(&mut scratch, index));
        }
        Some(Tensor::<4>::from_primitive::<Flex>(out).swap_dims(1, 2))
    }

    #[derive(Default)]
    struct Scratch(Vec<f32>);

    impl Scratch {
        fn scores(&mut self, len: usize) -> &mut [f32] {
            if self.0.len() < len {
                self.0.resize(len, 0.0);
            }
            &mut self.0[..len]
        }
    }
}

/// Row operations of the softmax, vectorized.
#[cfg(feature = "flex")]
mod row_ops {
    /// `row += other`.
    pub fn add(row: &mut [f32], other: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { add_avx2(row, other) };
        }
        for (r, o) in row.iter_mut().zip(other) {
            *r += o;
        }
    }

    /// Softmax in place; a row of `-inf` only becomes zeros (Burn's attention convention).
    pub fn softmax(row: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { softmax_avx2(row) };
        }
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            row.fill(0.0);
            return;
        }
        let mut sum = 0.0;
        for s in row.iter_mut() {
            *s = (*s - max).exp();
            sum += *s;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|s| *s *= inv);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn add_avx2(row: &mut [f32], other: &[f32]) {
        use std::arch::x86_64::*;
        let n = row.len().min(other.len());
        let mut j = 0;
        while j + 8 <= n {
            // SAFETY: j + 8 <= n for both slices.
            unsafe {
                let a = _mm256_loadu_ps(row.as_ptr().add(j));
                let b = _mm256_loadu_ps(other.as_ptr().add(j));
                _mm256_storeu_ps(row.as_mut_ptr().add(j), _mm256_add_ps(a, b));
            }
            j += 8;
        }
        for k in j..n {
            row[k] += other[k];
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn softmax_avx2(row: &mut [f32]) {
        use std::arch::x86_64::*;
        let n = row.len();
        let ptr = row.as_mut_ptr();
        let mut j = 0;
        let mut max8 = _mm256_set1_ps(f32::NEG_INFINITY);
        while j + 8 <= n {
            // SAFETY: j + 8 <= n.
            max8 = _mm256_max_ps(max8, unsafe { _mm256_loadu_ps(ptr.add(j)) });
            j += 8;
        }
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), max8) };
        let mut max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for &v in &row[j..] {
            max = max.max(v);
        }
        if max == f32::NEG_INFINITY {
            row.fill(0.0);
            return;
        }
        let max8 = _mm256_set1_ps(max);
        let mut sum8 = _mm256_setzero_ps();
        j = 0;
        while j + 8 <= n {
            // SAFETY: j + 8 <= n.
            unsafe {
                let e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(ptr.add(j)), max8));
                _mm256_storeu_ps(ptr.add(j), e);
                sum8 = _mm256_add_ps(sum8, e);
            }
            j += 8;
        }
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum8) };
        let mut sum: f32 = lanes.iter().sum();
        for s in &mut row[j..] {
            *s = (*s - max).exp();
            sum += *s;
        }
        let inv = _mm256_set1_ps(1.0 / sum);
        j = 0;
        while j + 8 <= n {
            // SAFETY: j + 8 <= n.
            unsafe {
                let p = _mm256_mul_ps(_mm256_loadu_ps(ptr.add(j)), inv);
                _mm256_storeu_ps(ptr.add(j), p);
            }
            j += 8;
        }
        for s in &mut row[j..] {
            *s /= sum;
        }
    }

    /// `exp(x)` for `x <= 0` (scores minus their maximum), Cephes' `expf` polynomial: within
    /// 2 ulp of libm on [-87, 0]; exactly 0 below (where `exp` is under f32's normal range).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn exp_avx2(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        let set = _mm256_set1_ps;
        let keep = _mm256_cmp_ps::<_CMP_GE_OQ>(x, set(-87.0));
        let xc = _mm256_max_ps(x, set(-87.0));
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(xc, set(std::f32::consts::LOG2_E)),
        );
        // x - n ln2, with ln2 split in two for precision.
        let r = _mm256_fnmadd_ps(n, set(0.693_359_4), xc);
        let r = _mm256_fnmadd_ps(n, set(-2.121_944_4e-4), r);
        let mut p = set(1.987_569_1e-4);
        for c in [1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
            p = _mm256_fmadd_ps(p, r, set(c));
        }
        let r2 = _mm256_mul_ps(r, r);
        let y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), set(1.0));
        let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        )));
        _mm256_and_ps(_mm256_mul_ps(y, pow2n), keep)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn softmax_matches_the_definition() {
            for len in [1usize, 7, 8, 9, 33, 1500] {
                let row: Vec<f32> = (0..len)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.37)
                    .collect();
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let exps: Vec<f64> = row.iter().map(|&x| (x as f64 - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                let mut got = row.clone();
                super::softmax(&mut got);
                for (e, g) in exps.iter().zip(&got) {
                    assert!(
                        (e / sum - *g as f64).abs() < 1e-6,
                        "len {len}: {} vs {g}",
                        e / sum
                    );
                }
            }
            let mut masked = vec![f32::NEG_INFINITY; 11];
            super::softmax(&mut masked);
            assert!(masked.iter().all(|&p| p == 0.0));
            let mut partly = vec![0.0, f32::NEG_INFINITY, 0.0];
            super::softmax(&mut partly);
            assert_eq!(partly, vec![0.5, 0.0, 0.5]);
        }
    }
}

/// Runs `f` over chunks of `values` on the global thread pool (the one flex's matmul uses).
#[cfg(feature = "flex")]
fn for_each_chunk(values: &mut [f32], f: fn(&mut [f32])) {
    use rayon::prelude::*;
    const CHUNK: usize = 16 * 1024;
    if values.len() <= CHUNK {
        f(values);
    } else {
        values.par_chunks_mut(CHUNK).for_each(f);
    }
}

fn gelu_in_place(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { gelu_avx512(values) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { gelu_avx2(values) };
        }
    }
    gelu_loop(values)
}

/// [`erf_scalar`], 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn erf_avx2(v: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let set = _mm256_set1_ps;
    // Operand order keeps NaN (max/min return their second operand when one is NaN).
    let x = _mm256_min_ps(set(ERF_ONE), _mm256_max_ps(set(-ERF_ONE), v));
    let x2 = _mm256_mul_ps(x, x);
    let mut p = set(ERF_P[6]);
    for c in ERF_P[..6].iter().rev() {
        p = _mm256_fmadd_ps(p, x2, set(*c));
    }
    let mut q = set(ERF_Q[4]);
    for c in ERF_Q[..4].iter().rev() {
        q = _mm256_fmadd_ps(q, x2, set(*c));
    }
    // ±1 beyond the clamp: the sign of `v` on 1.0.
    let erf = _mm256_div_ps(_mm256_mul_ps(x, p), q);
    let saturated = _mm256_or_ps(set(1.0), _mm256_and_ps(v, set(-0.0)));
    let beyond = _mm256_cmp_ps::<_CMP_GE_OQ>(_mm256_andnot_ps(set(-0.0), v), set(ERF_ONE));
    _mm256_blendv_ps(erf, saturated, beyond)
}

/// [`erf_scalar`], 16 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn erf_avx512(v: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let set = _mm512_set1_ps;
    // Operand order keeps NaN (max/min return their second operand when one is NaN).
    let x = _mm512_min_ps(set(ERF_ONE), _mm512_max_ps(set(-ERF_ONE), v));
    let x2 = _mm512_mul_ps(x, x);
    let mut p = set(ERF_P[6]);
    for c in ERF_P[..6].iter().rev() {
        p = _mm512_fmadd_ps(p, x2, set(*c));
    }
    let mut q = set(ERF_Q[4]);
    for c in ERF_Q[..4].iter().rev() {
        q = _mm512_fmadd_ps(q, x2, set(*c));
    }
    // ±1 beyond the clamp: the sign of `v` on 1.0.
    let erf = _mm512_div_ps(_mm512_mul_ps(x, p), q);
    let sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(i32::MIN));
    let saturated = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(set(1.0)), sign));
    let beyond = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_abs_ps(v), set(ERF_ONE));
    _mm512_mask_blend_ps(beyond, erf, saturated)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn gelu_avx512(values: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut chunks = values.chunks_exact_mut(16);
    for chunk in &mut chunks {
        let set = _mm512_set1_ps;
        // SAFETY: `chunk` holds exactly 16 f32 (unaligned loads and stores).
        let x = unsafe { _mm512_loadu_ps(chunk.as_ptr()) };
        let erf = erf_avx512(_mm512_mul_ps(x, set(std::f32::consts::FRAC_1_SQRT_2)));
        let y = _mm512_mul_ps(_mm512_mul_ps(set(0.5), x), _mm512_add_ps(set(1.0), erf));
        // SAFETY: as the load.
        unsafe { _mm512_storeu_ps(chunk.as_mut_ptr(), y) };
    }
    gelu_loop(chunks.into_remainder());
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gelu_avx2(values: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut chunks = values.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let set = _mm256_set1_ps;
        // SAFETY: `chunk` holds exactly 8 f32 (unaligned loads and stores).
        let x = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
        let erf = erf_avx2(_mm256_mul_ps(x, set(std::f32::consts::FRAC_1_SQRT_2)));
        let y = _mm256_mul_ps(_mm256_mul_ps(set(0.5), x), _mm256_add_ps(set(1.0), erf));
        // SAFETY: as the load.
        unsafe { _mm256_storeu_ps(chunk.as_mut_ptr(), y) };
    }
    gelu_loop(chunks.into_remainder());
}

#[inline(always)]
fn gelu_loop(values: &mut [f32]) {
    for v in values {
        *v = gelu_scalar(*v);
    }
}

/// `erf(x) = x P(x²) / Q(x²)` for |x| < 3.9 (beyond, erf is ±1 to f32 precision):
/// the rational minimax approximation Eigen and XLA use for f32, within 4.3e-7 of the exact
/// function (libm's `erff`: 3e-8), with no `exp` or branches. Odd numerator coefficients
/// `x¹..x¹³`, then even denominator coefficients `x⁰..x⁸`.
const ERF_P: [f32; 7] = [
    -1.609_603_3e-2,
    -2.954_6e-3,
    -7.349_906_3e-4,
    -5.692_506_4e-5,
    -2.101_024e-6,
    2.770_681_4e-8,
    -2.726_142_3e-10,
];
/// From here on erf rounds to ±1 in f32 (erfc(3.9) = 3.5e-8 < half an ulp of 1).
const ERF_ONE: f32 = 3.9;
const ERF_Q: [f32; 5] = [
    -1.426_473_9e-2,
    -7.373_329e-3,
    -1.682_827e-3,
    -2.133_740_6e-4,
    -1.456_607_2e-5,
];

/// GELU through [`erf_scalar`]: within 1.4e-6 of the exact function on [-12, 12] (PyTorch's own
/// f32 GELU: 1.2e-6; both limited by f32 rounding of `x` at the ends). Keeps NaN.
#[inline(always)]
fn gelu_scalar(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_scalar(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn erf_scalar(v: f32) -> f32 {
    if v.abs() >= ERF_ONE {
        return 1f32.copysign(v);
    }
    let x2 = v * v;
    let mut p = ERF_P[6];
    for c in ERF_P[..6].iter().rev() {
        p = p * x2 + c;
    }
    let mut q = ERF_Q[4];
    for c in ERF_Q[..4].iter().rev() {
        q = q * x2 + c;
    }
    v * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_erf_gelu() {
        let mut worst = 0f64;
        for i in -120_000..=120_000 {
            let x = i as f32 * 1e-4;
            let exact = 0.5 * x as f64 * (1.0 + libm_erf(x as f64 / std::f64::consts::SQRT_2));
            worst = worst.max((gelu_scalar(x) as f64 - exact).abs());
        }
        assert!(worst < 2e-6, "max error {worst}");
        assert_eq!(gelu_scalar(100.0), 100.0);
        assert_eq!(gelu_scalar(-100.0), 0.0);
        assert!(gelu_scalar(f32::NAN).is_nan());
    }

    #[test]
    fn vector_paths_match_the_scalar_one() {
        let xs: Vec<f32> = (-20_003..20_003).map(|i| i as f32 * 7e-4).collect();
        let expected: Vec<f32> = xs.iter().map(|&x| gelu_scalar(x)).collect();
        let mut got = xs.clone();
        gelu_in_place(&mut got);
        for ((x, e), g) in xs.iter().zip(&expected).zip(&got) {
            assert!((e - g).abs() <= 1e-6 * (1.0 + e.abs()), "x={x}: {e} vs {g}");
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let mut got = xs.clone();
            // SAFETY: checked just above.
            unsafe { gelu_avx2(&mut got) };
            for (e, g) in expected.iter().zip(&got) {
                assert!((e - g).abs() <= 1e-6 * (1.0 + e.abs()));
            }
        }
    }

    /// erf by its Taylor series (|x| < 3) or continued fraction, in f64: a reference
    /// independent of the approximation under test.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let r = if a < 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = exp(-a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            1.0 - (-a * a).exp() / (std::f64::consts::PI.sqrt() * f)
        };
        r.copysign(x)
    }

    #[cfg(feature = "flex")]
    mod against_burn {
        use burn::tensor::ops::AttentionModuleOptions;
        use burn::tensor::{Bool, Device, Distribution, Tensor, TensorData, module};

        fn rand<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
            Tensor::random(dims, Distribution::Normal(0.0, 1.0), device)
        }

        fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, tol: f32, what: &str) {
            assert_eq!(a.dims(), b.dims(), "{what}");
            let a = a.into_data().try_to_vec::<f32>().unwrap();
            let b = b.into_data().try_to_vec::<f32>().unwrap();
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(worst <= tol, "{what}: max difference {worst}");
        }

        #[test]
        fn attention_matches_burns_op() {
            let device = Device::flex();
            let (batch, heads, seq, dim) = (2, 3, 37, 16);
            // Heads split from `[batch, seq, heads * dim]` as the models do: strided views.
            let split = |t: Tensor<3>| t.reshape([batch, seq, heads, dim]).swap_dims(1, 2);
            let q = split(rand([batch, seq, heads * dim], &device));
            let k = split(rand([batch, seq, heads * dim], &device));
            let v = split(rand([batch, seq, heads * dim], &device));
            // Padding: the second example's last 5 keys, broadcast over heads and queries.
            let pad: Vec<bool> = (0..batch * seq).map(|i| i >= seq + seq - 5).collect();
            let pad =
                Tensor::<4, Bool>::from_data(TensorData::new(pad, [batch, 1, 1, seq]), &device)
                    .expand([batch, heads, seq, seq]);
            // One fully masked query row (zeros, as Burn's op gives).
            let mut full = vec![false; seq * seq];
            full[3 * seq..4 * seq].iter_mut().for_each(|m| *m = true);
            let full =
                Tensor::<4, Bool>::from_data(TensorData::new(full, [1, 1, seq, seq]), &device)
                    .expand([batch, heads, seq, seq]);
            let bias = rand([1, heads, seq, seq], &device).expand([batch, heads, seq, seq]);
            let options = AttentionModuleOptions {
                scale: Some(0.3),
                ..Default::default()
            };
            type Case<'a> = (
                &'a str,
                Option<Tensor<4, Bool>>,
                Option<Tensor<4>>,
                AttentionModuleOptions,
            );
            let cases: Vec<Case> = vec![
                ("plain", None, None, AttentionModuleOptions::default()),
                (
                    "padding mask",
                    Some(pad.clone()),
                    None,
                    AttentionModuleOptions::default(),
                ),
                (
                    "masked row",
                    Some(full),
                    None,
                    AttentionModuleOptions::default(),
                ),
                ("bias and scale", Some(pad), Some(bias), options),
            ];
            for (what, mask, bias, options) in cases {
                let ours = super::super::attention(
                    q.clone(),
                    k.clone(),
                    v.clone(),
                    mask.clone(),
                    bias.clone(),
                    options,
                );
                let burn = module::attention(q.clone(), k.clone(), v.clone(), mask, bias, options);
                assert_close(ours, burn, 1e-5, what);
            }
            // A decoder step: one query over cached keys.
            let q1 = rand([batch, heads, 1, dim], &device);
            let ours = super::super::attention(
                q1.clone(),
                k.clone(),
                v.clone(),
                None,
                None,
                Default::default(),
            );
            let burn = module::attention(q1, k, v, None, None, Default::default());
            assert_close(ours, burn, 1e-5, "one query");
        }

        #[test]
        fn kernels_are_deterministic() {
            let device = Device::flex();
            let (batch, heads, seq, dim) = (2, 4, 11, 8);
            let split = |t: Tensor<3>| t.reshape([batch, seq, heads, dim]).swap_dims(1, 2);
            let q = split(rand([batch, seq, heads * dim], &device));
            let k = split(rand([batch, seq, heads * dim], &device));
            let v = split(rand([batch, seq, heads * dim], &device));
            let pad: Vec<bool> = (0..batch * seq).map(|i| i >= seq + seq - 3).collect();
            let pad =
                Tensor::<4, Bool>::from_data(TensorData::new(pad, [batch, 1, 1, seq]), &device)
                    .expand([batch, heads, seq, seq]);
            let first = super::super::attention(
                q.clone(),
                k.clone(),
                v.clone(),
                Some(pad.clone()),
                None,
                Default::default(),
            )
            .into_data();
            for _ in 0..50 {
                let again = super::super::attention(
                    q.clone(),
                    k.clone(),
                    v.clone(),
                    Some(pad.clone()),
                    None,
                    Default::default(),
                )
                .into_data();
                assert_eq!(first, again);
            }
            let w = rand([512, 1024], &device);
            let x = rand([3, 512], &device);
            let first = super::super::linear(x.clone(), w.clone(), None).into_data();
            for _ in 0..50 {
                assert_eq!(
                    first,
                    super::super::linear(x.clone(), w.clone(), None).into_data()
                );
            }
        }

        #[test]
        fn gelu_gradient_matches_burns() {
            let device = Device::flex().autodiff();
            let data = rand([3, 7, 50], &Device::flex()).into_data();
            let weights = rand([3, 7, 50], &device);
            let grad_of = |ours: bool| {
                let x = Tensor::<3>::from_data(data.clone(), &device).require_grad();
                // The hand-written backward pass is the one under test.
                assert!(crate::nn::lean::applies(&x));
                let y = if ours {
                    super::super::gelu(x.clone())
                } else {
                    burn::tensor::activation::gelu(x.clone())
                };
                let grads = (y.clone() * weights.clone()).sum().backward();
                (y.inner(), x.grad(&grads).expect("gradient"))
            };
            let (y_ours, g_ours) = grad_of(true);
            let (y_burn, g_burn) = grad_of(false);
            assert_close(y_ours, y_burn, 1e-5, "forward");
            assert_close(g_ours, g_burn, 1e-5, "gradient");
        }

        #[test]
        fn small_row_linear_matches_burns_op() {
            let device = Device::flex();
            let (d_input, d_output) = (96, 5000);
            let w = rand([d_input, d_output], &device);
            let b = rand([d_output], &device);
            for rows in [1, 3, 4, 5, 8, 9] {
                let x = rand([rows, d_input], &device);
                let ours = super::super::linear(x.clone(), w.clone(), Some(b.clone()));
                let burn = module::linear(x.clone(), w.clone(), Some(b.clone()));
                assert_close(ours, burn, 1e-4, "with bias");
                let ours = super::super::linear(x.clone(), w.clone(), None);
                assert_close(
                    ours,
                    module::linear(x, w.clone(), None),
                    1e-4,
                    "without bias",
                );
            }
            // A transposed (strided) weight.
            let wt = rand([d_output, d_input], &device).transpose();
            let x = rand([2, d_input], &device);
            let ours = super::super::linear(x.clone(), wt.clone(), None);
            assert_close(ours, module::linear(x, wt, None), 1e-4, "strided weight");
        }
    }
}
