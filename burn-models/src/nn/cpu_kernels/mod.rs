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
//! Tensors on other backends, with autodiff, or in half precision take Burn's ops unchanged
//! (`nn::lean` records these kernels with hand-written backward passes for training).
//! The hot loops use explicit intrinsics (AVX-512 or AVX2 + FMA, picked at run time) rather than
//! loops left to the auto-vectorizer: the workspace crates build at opt-level 1 in the dev
//! profile, where LLVM does not vectorize loops.

#[cfg(feature = "flex")]
use burn::tensor::DType;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor, activation, module};

#[cfg(feature = "flex")]
mod attention;
#[cfg(feature = "flex")]
mod flex;
mod gelu;
pub(crate) mod int8;
#[cfg(feature = "flex")]
mod matmul;
#[cfg(feature = "flex")]
mod small_rows;
#[cfg(feature = "flex")]
mod softmax;

/// Exact (erf) GELU, `x/2 (1 + erf(x/√2))`, as `burn::tensor::activation::gelu`. Tensors with
/// autodiff take Burn's op ([`crate::nn::lean::gelu`] records this kernel with its backward pass).
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
            flex::for_each_chunk(values, gelu::gelu_in_place);
            return Tensor::from_primitive::<Flex>(t);
        }
    }
    activation::gelu(x)
}

/// `grad · GELU'(x)` for tensors without autodiff (the backward pass of [`gelu`]).
#[cfg(feature = "flex")]
pub(crate) use gelu::gelu_backward;

/// `x W + b` for `x` `[rows, d_input]` and `W` `[d_input, d_output]`, as `module::linear`.
pub fn linear(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    {
        if let Some(out) = small_rows::run(&x, &weight, bias.as_ref()) {
            return out;
        }
        if own_matmul()
            && let Some(out) = matmul::run(&x, &weight, bias.as_ref())
        {
            return out;
        }
    }
    module::linear(x, weight, bias)
}

/// Whether [`linear`] runs its own blocked product on many rows: on CPUs with AVX-512 other
/// than AMD's, for which its full-width microkernel was written; on AMD's (Zen 4 runs AVX-512
/// as two 256-bit halves) the two products are level (BERT-base 8x128 on an AMD EPYC: 0.92-0.98
/// s each, both near the core's peak), so the `gemm` crate's, which flex uses anyway, stays.
/// `BURN_MODELS_MATMUL=own` or `gemm` chooses either, to compare the two.
#[cfg(feature = "flex")]
fn own_matmul() -> bool {
    static OWN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OWN.get_or_init(|| match std::env::var("BURN_MODELS_MATMUL").as_deref() {
        Ok("gemm") => false,
        Ok("own") => true,
        _ => !amd_cpu(),
    })
}

/// Whether the CPU's vendor is AMD (CPUID leaf 0).
#[cfg(feature = "flex")]
fn amd_cpu() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let id = std::arch::x86_64::__cpuid(0);
        let vendor: Vec<u8> = [id.ebx, id.edx, id.ecx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect();
        vendor == b"AuthenticAMD"
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
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
    if let Some(out) = attention::run(&query, &key, &value, mask.as_ref(), bias.as_ref(), options) {
        return out;
    }
    module::attention(query, key, value, mask, bias, options)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use crate::testing::{assert_close, rand};
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Bool, Device, Tensor, TensorData, module};

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
        let pad = Tensor::<4, Bool>::from_data(TensorData::new(pad, [batch, 1, 1, seq]), &device)
            .expand([batch, heads, seq, seq]);
        // One fully masked query row (zeros, as Burn's op gives).
        let mut full = vec![false; seq * seq];
        full[3 * seq..4 * seq].iter_mut().for_each(|m| *m = true);
        let full = Tensor::<4, Bool>::from_data(TensorData::new(full, [1, 1, seq, seq]), &device)
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
            let ours = super::attention(
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
        let ours = super::attention(
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
        let pad = Tensor::<4, Bool>::from_data(TensorData::new(pad, [batch, 1, 1, seq]), &device)
            .expand([batch, heads, seq, seq]);
        let first = super::attention(
            q.clone(),
            k.clone(),
            v.clone(),
            Some(pad.clone()),
            None,
            Default::default(),
        )
        .into_data();
        for _ in 0..50 {
            let again = super::attention(
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
        let first = super::linear(x.clone(), w.clone(), None).into_data();
        for _ in 0..50 {
            assert_eq!(first, super::linear(x.clone(), w.clone(), None).into_data());
        }
    }

    #[test]
    fn blocked_linear_matches_burns_op() {
        let device = Device::flex();
        // Edges of every blocking: rows not a multiple of 6, columns not of 64, inputs past
        // one 384 block and not a multiple of anything.
        for (rows, d_input, d_output) in [(9, 17, 5), (50, 400, 70), (131, 800, 700), (13, 384, 64)]
        {
            let x = rand([rows, d_input], &device);
            let w = rand([d_input, d_output], &device);
            let b = rand([d_output], &device);
            let what = format!("{rows}x{d_input}x{d_output}");
            // Products of up to 800 terms of N(0, 1) values: sums of magnitude ~30.
            let ours = super::linear(x.clone(), w.clone(), Some(b.clone()));
            let burn = module::linear(x.clone(), w.clone(), Some(b.clone()));
            assert_close(ours, burn, 1e-4 * (d_input as f32).sqrt(), &what);
            let ours = super::linear(x.clone(), w.clone(), None);
            let burn = module::linear(x, w, None);
            assert_close(ours, burn, 1e-4 * (d_input as f32).sqrt(), &what);
        }
    }

    #[test]
    fn small_row_linear_matches_burns_op() {
        let device = Device::flex();
        // Split over the threads, and small enough for one task with a partial last panel.
        for (d_input, d_output) in [(96, 5000), (40, 70)] {
            let w = rand([d_input, d_output], &device);
            let b = rand([d_output], &device);
            for rows in [1, 2, 3, 4, 5, 7, 8, 9] {
                let x = rand([rows, d_input], &device);
                let ours = super::linear(x.clone(), w.clone(), Some(b.clone()));
                let burn = module::linear(x.clone(), w.clone(), Some(b.clone()));
                assert_close(ours, burn, 1e-4, "with bias");
                let ours = super::linear(x.clone(), w.clone(), None);
                assert_close(
                    ours,
                    module::linear(x, w.clone(), None),
                    1e-4,
                    "without bias",
                );
            }
        }
        // A transposed (strided) weight, as a tied output projection: dot products per table
        // row, with an input width that is not a multiple of the vector width.
        let d_output = 5000;
        for d_input in [96, 100] {
            let wt = rand([d_output, d_input], &device).transpose();
            let b = rand([d_output], &device);
            for rows in [1, 2, 3, 5, 8] {
                let x = rand([rows, d_input], &device);
                let ours = super::linear(x.clone(), wt.clone(), None);
                let burn = module::linear(x.clone(), wt.clone(), None);
                assert_close(ours, burn, 1e-4, "strided weight");
                let ours = super::linear(x.clone(), wt.clone(), Some(b.clone()));
                let burn = module::linear(x, wt.clone(), Some(b.clone()));
                assert_close(ours, burn, 1e-4, "strided weight with bias");
            }
        }
    }
}
