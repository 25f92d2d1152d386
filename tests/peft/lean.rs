//! The hand-written backward passes (`burn_models::nn::lean`: frozen quantized linear layers,
//! attention) give the outputs and gradients of Burn's composed ops.

use super::common::*;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Distribution, Gradients, Tensor, TensorData};
use burn_models::heads::SequenceClassifier;
use burn_models::nn::lean;
use burn_peft::quant::Quantization;
use burn_peft::*;

/// Every float parameter's gradient (flattened), in visiting order.
struct Collect<'a> {
    grads: &'a Gradients,
    out: Vec<Option<Vec<f32>>>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.out
            .push(param.val().grad(self.grads).map(|g| values(g).1));
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    test_support::max_abs_diff(a, b).0
}

/// The largest magnitude, NaN-aware (a NaN gives infinity, so a scale built on it fails).
fn max_abs(a: &[f32]) -> f32 {
    test_support::max_abs_diff(a, &vec![0.0; a.len()]).0
}

/// Logits and parameter gradients of one backward pass.
fn step(
    model: &burn_models::bert::BertForSequenceClassification,
) -> (Vec<f32>, Vec<Option<Vec<f32>>>) {
    let device = device().autodiff();
    // The fixture's dropout is active in training: the same masks for both runs.
    device.seed(3);
    let golden = golden("peft-bert-seqcls");
    let logits = model.logits(&input(&golden["cases"][1], &device)).unwrap();
    let grads = (logits.clone() * logits.clone()).sum().backward();
    let mut collect = Collect {
        grads: &grads,
        out: Vec::new(),
    };
    model.visit(&mut collect);
    (values(logits).1, collect.out)
}

/// The comparisons below test the hand-written path only where it is taken: on every backend
/// the tests run on (`BURN_DEVICE`: cpu, ndarray, wgpu, cuda), unless switched off.
#[test]
fn the_hand_written_path_applies_on_the_test_device() {
    let _random = integration_tests::random_stream_lock();
    if !lean::enabled() {
        return; // BURN_MODELS_PLAIN_BACKWARD=1
    }
    let device = device().autodiff();
    let x = Tensor::<2>::ones([2, 3], &device).require_grad();
    assert!(lean::applies(&x), "no hand-written backward on {device:?}");
    assert!(!lean::applies(&x.clone().inner()));
    assert!(!lean::with_plain_backward(|| lean::applies(&x)));
}

#[test]
fn frozen_quantized_linear_backward_matches_the_composed_ops() {
    let _serial = integration_tests::random_stream_lock();
    for scheme in [
        Quantization::Int8 { threshold: None },
        Quantization::Int8 {
            threshold: Some(quant::LLM_INT8_THRESHOLD),
        },
        Quantization::Nf4,
    ] {
        let device = device().autodiff();
        let mut base = bert("bert-seqcls", &device);
        quant::quantize_model(&mut base, scheme, &["classifier"]).unwrap();
        let config = LoraConfig {
            modules_to_save: Some(vec!["classifier".into()]),
            init_lora_weights: InitLoraWeights::Bool(false), // B != 0: A gets a gradient too
            bias: Bias::All,
            ..LoraConfig::new(4, 8.0, &["query", "value", "intermediate.dense"])
        };
        let model = get_peft_model(base, config).unwrap().base_model;
        let (logits, grads) = step(&model);
        let (plain_logits, plain_grads) = lean::with_plain_backward(|| step(&model));
        assert!(
            max_diff(&logits, &plain_logits) < 1e-5,
            "{scheme:?}: logits {logits:?} vs {plain_logits:?}"
        );
        let mut compared = 0;
        for (g, p) in grads.iter().zip(&plain_grads) {
            match (g, p) {
                (Some(g), Some(p)) => {
                    let tol = 1e-4 * max_abs(p).max(1.0);
                    assert!(
                        max_diff(g, p) < tol,
                        "{scheme:?}: {} vs tol {tol}",
                        max_diff(g, p)
                    );
                    compared += 1;
                }
                (None, None) => {}
                _ => panic!("{scheme:?}: a gradient on one path only"),
            }
        }
        assert!(compared > 10, "{scheme:?}: {compared} gradients compared");
    }
}

fn qkv(batch: usize, heads: usize, lq: usize, lk: usize, d: usize) -> [Tensor<4>; 3] {
    let device = device().autodiff();
    let t = |l: usize| {
        Tensor::<4>::random(
            [batch, heads, l, d],
            Distribution::Normal(0.0, 1.0),
            &device,
        )
        .require_grad()
    };
    [t(lq), t(lk), t(lk)]
}

/// Gradients of `sum(out * w)` with respect to q, k, v.
fn attention_grads(
    [q, k, v]: &[Tensor<4>; 3],
    mask: Option<Tensor<4, Bool>>,
    bias: Option<Tensor<4>>,
    options: AttentionModuleOptions,
) -> (Vec<f32>, [Vec<f32>; 3]) {
    let out = lean::attention(q.clone(), k.clone(), v.clone(), mask, bias, options);
    let w = Tensor::<4>::ones(out.dims(), &out.device()).cumsum(3).sin();
    let grads = (out.clone() * w).sum().backward();
    let g = |t: &Tensor<4>| values(t.grad(&grads).expect("gradient")).1;
    (values(out).1, [g(q), g(k), g(v)])
}

#[test]
fn attention_backward_matches_the_composed_ops() {
    let _serial = integration_tests::random_stream_lock();
    let (batch, heads, lq, lk, d) = (2, 3, 5, 7, 4);
    let device = device().autodiff();
    // A padding mask (the second example's last two keys) with one fully masked query row,
    // broadcast to every head as the models pass it.
    let mut mask = vec![false; batch * lq * lk];
    for j in lk - 2..lk {
        for i in 0..lq {
            mask[(lq + i) * lk + j] = true;
        }
    }
    for j in 0..lk {
        mask[2 * lk + j] = true;
    }
    let mask = Tensor::<4, Bool>::from_data(TensorData::new(mask, [batch, 1, lq, lk]), &device)
        .expand([batch, heads, lq, lk]);
    let bias = Tensor::<4>::random([1, heads, lq, lk], Distribution::Default, &device)
        .expand([batch, heads, lq, lk]);
    let cases = [
        (None, None, AttentionModuleOptions::default()),
        (Some(mask), None, AttentionModuleOptions::default()),
        (
            None,
            Some(bias),
            AttentionModuleOptions {
                scale: Some(1.0),
                ..Default::default()
            },
        ),
    ];
    for (mask, bias, options) in cases {
        let inputs = qkv(batch, heads, lq, lk, d);
        let (out, grads) = attention_grads(&inputs, mask.clone(), bias.clone(), options);
        let (plain_out, plain_grads) = lean::with_plain_backward(|| {
            attention_grads(&inputs, mask.clone(), bias.clone(), options)
        });
        assert!(max_diff(&out, &plain_out) < 1e-5);
        for (g, p) in grads.iter().zip(&plain_grads) {
            assert!(max_abs(p) > 0.0);
            assert!(
                max_diff(g, p) < 1e-5,
                "{} ({:?})",
                max_diff(g, p),
                options.scale
            );
        }
    }
}

/// LoRA gradients of a teacher-forced step of tiny Whisper (int8 base) on `device`.
fn whisper_step(
    device: &burn::tensor::Device,
    int8_threshold: Option<f32>,
) -> (f32, Vec<Option<Vec<f32>>>) {
    use burn_models::config::read_config;
    use burn_models::hub::Weights;
    use burn_models::whisper::{WhisperConfig, WhisperForConditionalGeneration};
    let dir = fixture("whisper-tiny");
    let config: WhisperConfig = read_config(&dir.join("config.json")).unwrap();
    let weights = Weights::from_model_dir(&dir).unwrap();
    // The same adapter values on every device: built on a seeded plain device.
    let plain = device.clone().inner();
    plain.seed(7);
    let mut model = WhisperForConditionalGeneration::load(&weights.root(&plain), &config).unwrap();
    let scheme = Quantization::Int8 {
        threshold: int8_threshold,
    };
    quant::quantize_model(
        &mut model,
        scheme,
        &["proj_out", "model.decoder.embed_tokens"],
    )
    .unwrap();
    let config_lora = LoraConfig {
        init_lora_weights: InitLoraWeights::Bool(false),
        bias: Bias::All,
        ..LoraConfig::new(4, 64.0, &["q_proj", "v_proj", "fc1"])
    };
    let model = get_peft_model(model, config_lora)
        .unwrap()
        .base_model
        .train();
    let model = burn_models::nn::lean::with_checkpointing_strategy(
        model,
        device
            .gradient_checkpointing_strategy()
            .expect("an autodiff device"),
    );
    let frames = 2 * config.max_source_positions;
    let features: Vec<f32> = (0..2 * 80 * frames)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 2.0)
        .collect();
    let features = Tensor::<3>::from_data(TensorData::new(features, [2, 80, frames]), device);
    let ids = Tensor::<2, burn::tensor::Int>::from_data(
        TensorData::new(vec![1i64, 5, 9, 30, 2, 7, 11, 40], [2, 4]),
        device,
    );
    let logits = model.forward(features, ids).unwrap();
    let loss = (logits.clone() * logits).mean();
    let grads = loss.clone().backward();
    let mut collect = Collect {
        grads: &grads,
        out: Vec::new(),
    };
    model.visit(&mut collect);
    (loss.into_scalar::<f32>(), collect.out)
}

#[test]
fn gradient_checkpointing_gives_the_same_gradients() {
    let _serial = integration_tests::random_stream_lock();
    let threshold = Some(quant::LLM_INT8_THRESHOLD);
    let (loss, grads) = whisper_step(&device().autodiff(), threshold);
    let (ck_loss, ck_grads) =
        whisper_step(&device().autodiff().gradient_checkpointing(), threshold);
    assert!(
        (loss - ck_loss).abs() < 1e-5 * loss.abs().max(1.0),
        "{loss} vs {ck_loss}"
    );
    // Against Burn's composed ops without LLM.int8's outlier decomposition: its rounding of
    // activations to int8 would amplify the ~1e-6 differences between the lean path's forward
    // (the CPU kernels for attention and GELU) and Burn's ops wherever a value crosses a
    // rounding boundary. The backward passes under test do not depend on the threshold.
    let (lean_loss, lean_grads) = whisper_step(&device().autodiff(), None);
    let (plain_loss, plain_grads) =
        lean::with_plain_backward(|| whisper_step(&device().autodiff(), None));
    assert!(
        (lean_loss - plain_loss).abs() < 1e-5 * lean_loss.abs().max(1.0),
        "{lean_loss} vs {plain_loss}"
    );
    let mut compared = 0;
    for ((g, c), (l, p)) in grads
        .iter()
        .zip(&ck_grads)
        .zip(lean_grads.iter().zip(&plain_grads))
    {
        match (g, c, l, p) {
            (Some(g), Some(c), Some(l), Some(p)) => {
                // Checkpointing recomputes the same ops: (nearly) the same numbers.
                let tol = 1e-5 * max_abs(g).max(1e-3);
                assert!(
                    max_diff(c, g) < tol,
                    "checkpointed {} vs tol {tol}",
                    max_diff(c, g)
                );
                // Burn's composed attention sums over the 1,500 encoder positions in another
                // order than the recomputation; relative 5e-3 of the largest value.
                let tol = 5e-3 * max_abs(p).max(1e-3);
                assert!(max_diff(l, p) < tol, "lean {} vs tol {tol}", max_diff(l, p));
                compared += 1;
            }
            (None, None, None, None) => {}
            _ => panic!(
                "a gradient on one path only: {:?}",
                (g.is_some(), c.is_some(), l.is_some(), p.is_some())
            ),
        }
    }
    // q_proj, v_proj, fc1 adapters of 2 + 2 layers plus every bias (bias="all").
    assert!(compared > 30, "{compared} gradients compared");
}
