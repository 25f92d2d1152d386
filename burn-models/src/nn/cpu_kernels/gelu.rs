//! Exact (erf) GELU and its derivative: one vectorized pass (AVX-512, or AVX2 + FMA) with a
//! rational `erf`, where flex evaluates libm's `erff` per element on one core.

#[cfg(feature = "flex")]
use burn::tensor::{DType, Tensor};

/// `grad · GELU'(x)` for tensors without autodiff, `GELU'(x) = Φ(x) + x φ(x)`.
#[cfg(feature = "flex")]
pub(crate) fn gelu_backward<const D: usize>(x: Tensor<D>, grad: Tensor<D>) -> Tensor<D> {
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
                super::softmax::exp_avx2(_mm256_mul_ps(set(-0.5), _mm256_mul_ps(xv, xv))),
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

pub(super) fn gelu_in_place(values: &mut [f32]) {
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
}
