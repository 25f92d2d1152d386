//! Row operations of the softmax, vectorized (AVX2 + FMA where the CPU has them).

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
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
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
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        xc,
        set(std::f32::consts::LOG2_E),
    ));
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
