//! Sample-rate conversion as ffmpeg's `libswresample` does it with its defaults, which is what
//! transformers' pipelines get when they read a file (`ffmpeg -ar 16000`).
//!
//! The filter is a Kaiser-windowed sinc (beta 9) of `ceil(32 / factor)` taps rounded up to an
//! even count, cut off at 0.97 of the lower Nyquist frequency (`factor = min(to * 0.97 / from,
//! 1)`). When `to / gcd(from, to)` is at most 1024 there is one filter phase per distinct output
//! position (exact rational resampling); otherwise there are 1024 phases and each output
//! interpolates linearly between the two phases around its position (`linear_interp`). Every
//! phase is normalised by the sum of phase 0, and the phases past the middle are the mirror
//! images of those before it, as `build_filter` makes them. The signal is
//! reflected at both ends (without repeating the first sample, repeating the last), and the
//! output length follows from how much of that reflection the final flush uses.
//!
//! Each output is the dot product of a phase with the input window, accumulated in f32 in 8
//! lanes with fused multiply-adds and reduced as `ff_resample_{common,linear}_float_fma3` do: on
//! an x86 CPU with FMA3 (where ffmpeg picks those routines) the samples are bit for bit ffmpeg's.
//! Elsewhere ffmpeg sums in another order and the two differ by float rounding (about 1e-7).
//! Inputs shorter than the filter (a few milliseconds) are the one case whose length can
//! differ from ffmpeg's.

use crate::error::{Result, TaskError};

const FILTER_SIZE: f64 = 32.0;
const CUTOFF: f64 = 0.97;
const KAISER_BETA: f64 = 9.0;
const MAX_PHASES: u64 = 1 << 10;
const LANES: usize = 8;

/// The polyphase filter bank for one rate pair.
struct FilterBank {
    /// Taps of one phase (even, or 1).
    taps: usize,
    /// `taps` rounded up to the lane width, zero-padded.
    stride: usize,
    phases: usize,
    /// `(phases + 1) * stride` coefficients; the extra phase is phase 0 one sample later (the
    /// upper neighbour of the last phase when interpolating).
    coefficients: Vec<f32>,
    /// Whether the phases are exact (no interpolation between them).
    exact: bool,
}

impl FilterBank {
    fn new(from: u64, to: u64) -> Self {
        let factor = (to as f64 * CUTOFF / from as f64).min(1.0);
        let mut taps = ((FILTER_SIZE / factor).ceil() as usize).max(1);
        if taps > 1 {
            taps += taps % 2;
        }
        let reduced = to / gcd(from, to);
        let exact = reduced <= MAX_PHASES;
        let phases = if exact { reduced } else { MAX_PHASES } as usize;
        let stride = taps.div_ceil(LANES) * LANES;
        let mut coefficients = vec![0f32; (phases + 1) * stride];
        let center = (taps - 1) / 2;
        // Phases past the middle mirror earlier ones (even phase counts).
        let computed = if phases.is_multiple_of(2) {
            phases / 2 + 1
        } else {
            phases
        };
        let mut norm = 0.0f64;
        let mut tab = vec![0f64; taps];
        for phase in 0..computed {
            // With no low-pass (upsampling), sin(x) comes from one sine per phase, its sign
            // alternating tap by tap.
            let mut sine = if factor == 1.0 {
                let s = (std::f64::consts::PI * phase as f64 / phases as f64).sin();
                if center & 1 == 1 { s } else { -s }
            } else {
                0.0
            };
            for (i, t) in tab.iter_mut().enumerate() {
                let x = std::f64::consts::PI
                    * ((i as f64 - center as f64) - phase as f64 / phases as f64)
                    * factor;
                let mut y = if x == 0.0 {
                    1.0
                } else if factor == 1.0 {
                    sine / x
                } else {
                    x.sin() / x
                };
                let w = 2.0 * x / (factor * taps as f64 * std::f64::consts::PI);
                y *= bessel_i0(KAISER_BETA * (1.0 - w * w).max(0.0).sqrt());
                *t = y;
                sine = -sine;
                if phase == 0 {
                    norm += y;
                }
            }
            for (i, &t) in tab.iter().enumerate() {
                coefficients[phase * stride + i] = (t / norm) as f32;
            }
            if phases.is_multiple_of(2) && phase > 0 {
                let mirror = phases - phase;
                for i in 0..taps {
                    coefficients[mirror * stride + taps - 1 - i] = coefficients[phase * stride + i];
                }
            }
        }
        // Phase `phases`: phase 0 shifted by one tap.
        coefficients[phases * stride] = coefficients[stride - 1];
        for i in 1..stride {
            coefficients[phases * stride + i] = coefficients[i - 1];
        }
        Self {
            taps,
            stride,
            phases,
            coefficients,
            exact,
        }
    }

    fn phase(&self, phase: usize) -> &[f32] {
        &self.coefficients[phase * self.stride..(phase + 1) * self.stride]
    }
}

/// The modified Bessel function of order 0, by its power series summed until it stops changing.
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut sum, mut last, mut term) = (1.0f64, 0.0f64, 1.0f64);
    let mut k = 1.0f64;
    while sum != last {
        last = sum;
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples one channel from `from` Hz to `to` Hz as `ffmpeg -ar <to>` does (see the module
/// documentation for what is exact).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == 0 || to == 0 {
        return Err(TaskError::InvalidInput(format!(
            "cannot resample {from} Hz -> {to} Hz: rates must be positive"
        )));
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let (from, to) = (from as u64, to as u64);
    let bank = FilterBank::new(from, to);
    let n = samples.len() as i64;
    let center = ((bank.taps - 1) / 2) as i64;
    let taps = bank.taps as i64;
    let phases = bank.phases as u64;
    // Output k is at k * from / to input samples: `index(k)` in units of 1 / phases, and the
    // remainder `frac(k)` in units of 1 / src_incr of a phase. ffmpeg's increments are the
    // reduced ratio scaled up by powers of two until one reaches 2^20.
    let g = gcd(to, from * phases);
    let (mut src_incr, mut dst_incr) = (to / g, from * phases / g);
    while dst_incr < 1 << 20 && src_incr < 1 << 20 {
        dst_incr *= 2;
        src_incr *= 2;
    }
    let index = |k: u64| (k as u128 * dst_incr as u128 / src_incr as u128) as u64;
    let frac = |k: u64| (k as u128 * dst_incr as u128 % src_incr as u128) as u64;
    let inverse = 1.0f32 / src_incr as f32;
    let first = |k: u64| (index(k) / phases) as i64 - center;
    // While input keeps coming, an output needs its whole window inside the signal; at the
    // end, the flush reflects half of the samples still buffered (those from the first window
    // not yet used) and the outputs whose windows fit in that are produced too.
    let mut count = 0u64;
    while first(count) + taps <= n {
        count += 1;
    }
    let buffered = n - first(count);
    let reflected = (buffered + 1) / 2;
    while first(count) + taps <= n + reflected {
        count += 1;
    }
    let at = |j: i64| -> f32 {
        // Reflection at the start leaves out sample 0, at the end it repeats the last sample.
        let j = if j < 0 { -j } else { j };
        let j = if j >= n { 2 * n - 1 - j } else { j };
        samples[j.clamp(0, n - 1) as usize]
    };
    let mut out = Vec::with_capacity(count as usize);
    let mut window = vec![0f32; bank.stride];
    for k in 0..count {
        let start = first(k);
        let phase = (index(k) % phases) as usize;
        if start >= 0 && start + bank.stride as i64 <= n {
            window.copy_from_slice(&samples[start as usize..start as usize + bank.stride]);
        } else {
            // The extra phase reaches one tap further than the others; past that the
            // coefficients are zero.
            for (i, w) in window.iter_mut().enumerate() {
                *w = at(start + i as i64);
            }
        }
        let (fraction, interpolate) = (frac(k), !bank.exact);
        out.push(if interpolate && fraction != 0 {
            let weight = fraction as f32 * inverse;
            dot_fma8_interpolated(bank.phase(phase), bank.phase(phase + 1), &window, weight)
        } else {
            dot_fma8(bank.phase(phase), &window)
        });
    }
    Ok(out)
}

/// 8 running sums of `filter[i] * window[i]` (lane `i % 8`), each updated with a fused
/// multiply-add, folded to 4 (lane k plus lane k + 4).
fn lanes_fma8(filter: &[f32], window: &[f32]) -> [f32; 4] {
    let mut lanes = [0f32; LANES];
    for (f, w) in filter.chunks_exact(LANES).zip(window.chunks_exact(LANES)) {
        for j in 0..LANES {
            lanes[j] = f[j].mul_add(w[j], lanes[j]);
        }
    }
    std::array::from_fn(|k| lanes[k] + lanes[k + 4])
}

/// The final horizontal sum: `(q0 + q2) + (q1 + q3)`.
fn fold4(quad: [f32; 4]) -> f32 {
    (quad[0] + quad[2]) + (quad[1] + quad[3])
}

/// `sum(filter[i] * window[i])` as ffmpeg's FMA3 float routine computes it.
fn dot_fma8(filter: &[f32], window: &[f32]) -> f32 {
    fold4(lanes_fma8(filter, window))
}

/// Between two neighbouring phases, `val + (next - val) * weight`, applied to the 4 partial
/// sums before the horizontal sum, as the FMA3 `resample_linear` routine does.
fn dot_fma8_interpolated(filter: &[f32], next: &[f32], window: &[f32], weight: f32) -> f32 {
    let low = lanes_fma8(filter, window);
    let high = lanes_fma8(next, window);
    fold4(std::array::from_fn(|k| {
        (high[k] - low[k]).mul_add(weight, low[k])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_sizes_and_phases_follow_swresample() {
        // 48 kHz -> 16 kHz: one phase (ratio 1/3), ceil(32 / (0.97 / 3)) = 99 -> 100 taps.
        let bank = FilterBank::new(48_000, 16_000);
        assert_eq!((bank.taps, bank.phases, bank.stride), (100, 1, 104));
        // 44.1 kHz -> 16 kHz: 160 phases (16000 / 44100 = 160 / 441).
        let bank = FilterBank::new(44_100, 16_000);
        assert_eq!(bank.phases, 160);
        // Upsampling: no low-pass, 32 taps.
        let bank = FilterBank::new(8_000, 16_000);
        assert_eq!((bank.taps, bank.phases), (32, 2));
        // Phase 0 sums to one; the others are normalised by phase 0's sum.
        let sum: f32 = bank.phase(0).iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "{sum}");
        // 16000 / 44056 reduces to 2000 / 5507: more than 1024 phases, so 1024.
        assert_eq!(FilterBank::new(44_056, 16_000).phases, 1024);
    }

    #[test]
    fn bessel_i0_matches_known_values() {
        assert_eq!(bessel_i0(0.0), 1.0);
        // I0(1) = 1.2660658777520082, I0(9) = 1093.5883545113745.
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_2).abs() < 1e-15);
        assert!((bessel_i0(9.0) / 1_093.588_354_511_374_5 - 1.0).abs() < 1e-14);
    }

    #[test]
    fn lengths_follow_ffmpeg() {
        // Output lengths ffmpeg 5.1 gives (`ffmpeg -ar 16000`) for these input lengths.
        for (rate, n, expected) in [
            (48_000, 3_000, 1_000),
            (48_000, 3_001, 1_000),
            (48_000, 3_002, 1_001),
            (44_100, 3_000, 1_089),
            (44_100, 3_002, 1_089),
            (44_100, 3_003, 1_090),
            (22_050, 3_003, 2_180),
            (8_000, 3_001, 6_002),
            (32_000, 3_001, 1_501),
        ] {
            let out = resample(&vec![0.25; n], rate, 16_000).unwrap();
            assert_eq!(out.len(), expected, "{rate} Hz, {n} samples");
        }
    }

    #[test]
    fn a_constant_stays_constant_and_a_tone_stays_in_place() {
        let out = resample(&vec![0.5; 4_800], 48_000, 16_000).unwrap();
        assert!(out.iter().all(|&v| (v - 0.5).abs() < 1e-6));
        let tone: Vec<f32> = (0..44_100)
            .map(|i| (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 44_100.0).sin() as f32)
            .collect();
        let out = resample(&tone, 44_100, 16_000).unwrap();
        assert_eq!(out.len(), 16_000);
        let worst = (200..15_800)
            .map(|i| {
                let ideal = (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 16_000.0).sin();
                (out[i] as f64 - ideal).abs()
            })
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "max error {worst}");
    }

    #[test]
    fn content_above_the_new_nyquist_is_removed() {
        let tone = |f: f64| -> Vec<f32> {
            (0..22_050)
                .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / 22_050.0).sin() as f32)
                .collect()
        };
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        let out = resample(&tone(10_000.0), 22_050, 16_000).unwrap();
        assert!(rms(&out[400..15_600]) < 0.01);
        // Below the new Nyquist (8 kHz) a tone keeps its level (1/sqrt 2) up to where
        // libswresample's filter starts to roll off; ffmpeg gives 0.70710 at 6 kHz and 0.67611
        // at 7 kHz on these very tones (`ffmpeg -f f32le -ar 22050 -i - -ar 16000`).
        let out = resample(&tone(6_000.0), 22_050, 16_000).unwrap();
        assert!((rms(&out[400..15_600]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-3);
        let out = resample(&tone(7_000.0), 22_050, 16_000).unwrap();
        assert!((rms(&out[400..15_600]) - 0.67611).abs() < 1e-3);
    }

    #[test]
    fn bad_rates_are_errors() {
        assert!(resample(&[0.0; 10], 0, 16_000).is_err());
        assert!(resample(&[0.0; 10], 16_000, 0).is_err());
        assert_eq!(resample(&[0.5; 3], 16_000, 16_000).unwrap(), vec![0.5; 3]);
    }
}
