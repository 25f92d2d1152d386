//! Throughput of the ops BERT-base spends its time in, per compiled CPU backend, at the shapes of
//! the `bert-base-forward-8x128` benchmark workload:
//! `cargo run -p xtask --example op_bench [--features avx512] [-- DEVICE...]`.

use std::time::Instant;

use burn::tensor::activation::softmax;
use burn::tensor::module::{attention, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Tensor};
use burn_models::device::parse_device;

/// Median seconds of `runs` calls after one warm-up; `f` must read its result back (sync).
fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[runs / 2]
}

fn rand<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(dims, Distribution::Uniform(-1.0, 1.0), device)
}

fn bench(name: &str, device: &Device) {
    let runs = 7;
    let gflops = |flops: f64, s: f64| flops / s / 1e9;
    println!("## {name}");
    // Linear layers: the model calls burn's `linear` with [8, 128, d] inputs.
    for (label, rows, k, n) in [
        ("qkv/out proj [8,128,768]x[768,768]", 1024, 768, 768),
        ("ffn up [8,128,768]x[768,3072]", 1024, 768, 3072),
        ("ffn down [8,128,3072]x[3072,768]", 1024, 3072, 768),
    ] {
        let x3 = rand([8, rows / 8, k], device);
        let x2 = rand([rows, k], device);
        let w = rand([k, n], device);
        let flops = 2.0 * (rows * k * n) as f64;
        let s3 = time(runs, || {
            let _ = linear(x3.clone(), w.clone(), None).into_data();
        });
        let s2 = time(runs, || {
            let _ = x2.clone().matmul(w.clone()).into_data();
        });
        // PyTorch's layout: weight [n, k] used transposed.
        let wt = rand([n, k], device);
        let st = time(runs, || {
            let _ = linear(x3.clone(), wt.clone().transpose(), None).into_data();
        });
        println!(
            "{label}: linear 3d {:.0} GFLOP/s, 2d matmul {:.0}, 3d with transposed weight {:.0}",
            gflops(flops, s3),
            gflops(flops, s2),
            gflops(flops, st)
        );
    }
    // A decoder step of beam search (4 beams): linear layers on 4 rows, weights read once.
    for (label, rows, k, n) in [
        ("step proj [4,1024]x[1024,1024]", 4, 1024, 1024),
        ("step ffn [4,1024]x[1024,4096]", 4, 1024, 4096),
        ("step lm_head [4,1024]x[1024,50265]", 4, 1024, 50265),
    ] {
        let x = rand([rows, k], device);
        let w = rand([k, n], device);
        let weight_gb = (k * n * 4) as f64 / 1e9;
        let ours = time(runs, || {
            let _ = burn_models::nn::cpu_kernels::linear(x.clone(), w.clone(), None).into_data();
        });
        let burn = time(runs, || {
            let _ = linear(x.clone(), w.clone(), None).into_data();
        });
        println!(
            "{label}: ours {:.2} ms ({:.1} GB/s of weights), Burn's op {:.2} ms",
            ours * 1e3,
            weight_gb / ours,
            burn * 1e3
        );
    }
    let a = rand([1024, 1024], device);
    let b = rand([1024, 1024], device);
    let s = time(runs, || {
        let _ = a.clone().matmul(b.clone()).into_data();
    });
    println!(
        "1024^3 matmul: {:.0} GFLOP/s",
        gflops(2.0 * 1024f64.powi(3), s)
    );
    // Attention: 8 sequences, 12 heads, 128 tokens, head dim 64.
    let q = rand([8, 12, 128, 64], device);
    let k = rand([8, 12, 128, 64], device);
    let v = rand([8, 12, 128, 64], device);
    let flops = 2.0 * 2.0 * (8 * 12 * 128 * 128 * 64) as f64;
    let s_qk = time(runs, || {
        let _ = q.clone().matmul(k.clone().swap_dims(2, 3)).into_data();
    });
    let scores = rand([8, 12, 128, 128], device);
    let s_pv = time(runs, || {
        let _ = scores.clone().matmul(v.clone()).into_data();
    });
    let s_sm = time(runs, || {
        let _ = softmax(scores.clone(), 3).into_data();
    });
    let s_unfused = time(runs, || {
        let s = q
            .clone()
            .matmul(k.clone().swap_dims(2, 3))
            .mul_scalar(0.125);
        let _ = softmax(s, 3).matmul(v.clone()).into_data();
    });
    let s_fused = time(runs, || {
        let _ = attention(
            q.clone(),
            k.clone(),
            v.clone(),
            None,
            None,
            AttentionModuleOptions::default(),
        )
        .into_data();
    });
    println!(
        "attention QK^T {:.0} GFLOP/s, PV {:.0}; softmax {:.1} GB/s; whole: unfused {:.1} ms, fused op {:.1} ms ({:.0} GFLOP/s)",
        gflops(flops / 2.0, s_qk),
        gflops(flops / 2.0, s_pv),
        (2 * 4 * 8 * 12 * 128 * 128) as f64 / s_sm / 1e9,
        s_unfused * 1e3,
        s_fused * 1e3,
        gflops(flops, s_fused)
    );
    // Elementwise / normalisation at the hidden size.
    let h = rand([8, 128, 3072], device);
    let bytes = 2.0 * 4.0 * (8 * 128 * 3072) as f64;
    let s_gelu = time(runs, || {
        let _ = burn::tensor::activation::gelu(h.clone()).into_data();
    });
    let s_gelu_ours = time(runs, || {
        let _ = burn_models::nn::Activation::Gelu
            .forward(h.clone())
            .into_data();
    });
    let x = rand([8, 128, 768], device);
    let gamma = rand([768], device);
    let beta = rand([768], device);
    let s_ln = time(runs, || {
        let _ =
            burn::tensor::module::layer_norm(x.clone(), gamma.clone(), Some(beta.clone()), 1e-12)
                .into_data();
    });
    let y = rand([8, 128, 768], device);
    let s_add = time(runs, || {
        let _ = (x.clone() + y.clone()).into_data();
    });
    let s_read = time(runs, || {
        let _ = x.clone().into_data();
    });
    println!(
        "gelu [8,128,3072] {:.1} GB/s (ours {:.1}); layer_norm [8,128,768] {:.2} ms; add {:.2} ms; read back {:.2} ms",
        bytes / s_gelu / 1e9,
        bytes / s_gelu_ours / 1e9,
        s_ln * 1e3,
        s_add * 1e3,
        s_read * 1e3
    );
}

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let names = if names.is_empty() {
        burn_models::device::compiled_backends()
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        names
    };
    for name in names {
        let device = parse_device(Some(&name)).expect("device");
        bench(&name, &device);
    }
}
