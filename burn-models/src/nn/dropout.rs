//! Dropout as Burn's `nn::Dropout` computes it (zero each element with probability `prob`, scale
//! the rest by `1 / (1 - prob)`, only while training on an autodiff device), with a faster mask
//! on the CPU: Burn draws each element's Bernoulli sample from its ChaCha generator on one
//! thread (6% of a BERT-base training step); here the mask comes from a counter-based hash of
//! a seed drawn from the device's random stream, over all threads, already scaled. A seeded
//! device still gives the same masks run after run, which gradient checkpointing relies on.

use burn::nn::Dropout;
use burn::tensor::{Tensor, TensorData};

/// `layer.forward(x)`, with the CPU mask described in the module doc.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    if !super::lean::on_host(&x) {
        return layer.forward(x);
    }
    let seed = super::lean::dropout_seed(&x);
    let shape = x.shape();
    let mask = keep_mask(seed, shape.num_elements(), 1.0 - layer.prob);
    let device = x.device();
    x * Tensor::from_data(TensorData::new(mask, shape), &device)
}

/// `len` values, each `1 / keep` with probability `keep` and 0 otherwise, from `seed`.
fn keep_mask(seed: u64, len: usize, keep: f64) -> Vec<f32> {
    // Keep an element when its 24 random bits fall below this.
    let threshold = (keep * f64::from(1u32 << 24)).round() as u32;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0f32; len];
    let fill = |first: usize, chunk: &mut [f32]| {
        for (pair, out) in chunk.chunks_mut(2).enumerate() {
            let bits = split_mix(seed ^ ((first / 2 + pair) as u64).wrapping_mul(GOLDEN));
            for (half, value) in out.iter_mut().enumerate() {
                let sample = (bits >> (32 * half + 8)) as u32 & 0xFF_FFFF;
                *value = if sample < threshold { scale } else { 0.0 };
            }
        }
    };
    const CHUNK: usize = 1 << 16;
    #[cfg(feature = "flex")]
    {
        use rayon::prelude::*;
        mask.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| fill(i * CHUNK, chunk));
    }
    #[cfg(not(feature = "flex"))]
    mask.chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| fill(i * CHUNK, chunk));
    mask
}

/// SplitMix64's increment (2^64 / φ).
pub(crate) const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective mix of a 64-bit counter.
pub(crate) fn split_mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::keep_mask;

    #[test]
    fn mask_keeps_the_asked_share_scaled() {
        for keep in [0.9, 0.5, 0.1] {
            let len = 1_000_001;
            let mask = keep_mask(7, len, keep);
            let kept = mask.iter().filter(|&&v| v != 0.0).count();
            // A binomial count: 5 standard deviations (at most 2,500 here) bound it.
            let sd = (len as f64 * keep * (1.0 - keep)).sqrt();
            assert!(
                (kept as f64 - len as f64 * keep).abs() < 5.0 * sd,
                "{keep}: {kept}"
            );
            assert!(mask.iter().all(|&v| v == 0.0 || v == (1.0 / keep) as f32));
            // The same seed gives the same mask; another seed another one.
            assert_eq!(mask, keep_mask(7, len, keep));
            assert_ne!(mask, keep_mask(8, len, keep));
        }
    }

    #[test]
    fn neighbouring_elements_are_independent() {
        // Pairs of adjacent elements (sharing one hash, or not) kept together at keep².
        let (len, keep) = (2_000_000, 0.5);
        let mask = keep_mask(3, len, keep);
        let both = mask
            .windows(2)
            .filter(|w| w[0] != 0.0 && w[1] != 0.0)
            .count();
        let expected = (len - 1) as f64 * keep * keep;
        let sd = ((len - 1) as f64 * keep * keep * (1.0 - keep * keep)).sqrt();
        // Overlapping windows are weakly dependent: 8 standard deviations.
        assert!(
            (both as f64 - expected).abs() < 8.0 * sd,
            "{both} against {expected}"
        );
    }
}
