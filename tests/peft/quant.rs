//! Quantized frozen bases against bitsandbytes (tests/fixtures/bnb, written by
//! tests/fixtures/generate_bnb.py with bitsandbytes 0.50.2 on the CPU): the bytes it stores
//! for int8 (`CB`, `SCB`) and NF4 (nibbles, double-quantized absmax), its layers' outputs, and
//! its quantized BERT's logits, with and without a LoRA adapter, merged or not.

use std::collections::BTreeMap;

use super::common::*;
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use burn_models::heads::SequenceClassifier;
use burn_models::nn::{Linear, LinearWeight, Linears, NF4_CODE, dynamic_map};
use burn_peft::quant::{self, Quantization};
use burn_peft::*;
use serde_json::Value;

/// f32's unit roundoff.
const U: f64 = 1.0 / (1u64 << 24) as f64;

/// bitsandbytes' CPU backend dequantizes int8 products with the constant 6.200124e-05 where
/// 1/127² is 6.2000124e-05 (its CUDA kernel's value); ours uses 1/127². Relative gap:
const DEQUANT_CONSTANT_GAP: f64 = (6.200124e-05 - 1.0 / 16129.0) * 16129.0;

enum Stored {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I8(Vec<i8>),
    U8(Vec<u8>),
}

struct Golden {
    tensors: BTreeMap<String, (Vec<usize>, Stored)>,
    meta: Value,
}

impl Golden {
    fn load() -> Self {
        let dir = fixture("bnb");
        let bytes = std::fs::read(dir.join("bnb.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let data = view.data();
                let stored = match view.dtype() {
                    safetensors::Dtype::F32 => Stored::F32(
                        data.chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect(),
                    ),
                    safetensors::Dtype::F64 => Stored::F64(
                        data.chunks_exact(8)
                            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                            .collect(),
                    ),
                    safetensors::Dtype::I8 => Stored::I8(data.iter().map(|&b| b as i8).collect()),
                    safetensors::Dtype::U8 => Stored::U8(data.to_vec()),
                    other => panic!("{name}: {other:?}"),
                };
                (name, (view.shape().to_vec(), stored))
            })
            .collect();
        let meta =
            serde_json::from_str(&std::fs::read_to_string(dir.join("bnb.json")).unwrap()).unwrap();
        Self { tensors, meta }
    }

    fn cases(&self) -> Vec<String> {
        self.meta["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    }

    fn f32(&self, case: &str, name: &str) -> (Vec<usize>, Vec<f32>) {
        match &self.tensors[&format!("{case}.{name}")] {
            (shape, Stored::F32(v)) => (shape.clone(), v.clone()),
            _ => panic!("{case}.{name} is not f32"),
        }
    }

    fn f64(&self, case: &str, name: &str) -> Vec<f64> {
        match &self.tensors[&format!("{case}.{name}")] {
            (_, Stored::F64(v)) => v.clone(),
            _ => panic!("{case}.{name} is not f64"),
        }
    }

    fn i8(&self, case: &str, name: &str) -> Vec<i8> {
        match &self.tensors[&format!("{case}.{name}")] {
            (_, Stored::I8(v)) => v.clone(),
            _ => panic!("{case}.{name} is not i8"),
        }
    }

    fn u8(&self, case: &str, name: &str) -> Vec<u8> {
        match &self.tensors[&format!("{case}.{name}")] {
            (_, Stored::U8(v)) => v.clone(),
            _ => panic!("{case}.{name} is not u8"),
        }
    }

    /// The case's weight in Burn's layout `[in, out]`.
    fn weight(&self, case: &str) -> (Tensor<2>, usize, usize) {
        let (shape, values) = self.f32(case, "weight");
        let (d_out, d_in) = (shape[0], shape[1]);
        let w = Tensor::<2>::from_data(TensorData::new(values, [d_out, d_in]), &device());
        (w.transpose(), d_in, d_out)
    }
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// The first `len` stored bytes of a 1-D byte tensor (one per element, or four per word).
fn stored_bytes(t: Tensor<1, burn::tensor::Int>, in_words: bool, len: usize) -> Vec<u8> {
    let stored: Vec<i64> = t.into_data().convert::<i64>().try_to_vec().unwrap();
    let bytes: Vec<u8> = if in_words {
        stored
            .iter()
            .flat_map(|&w| (w as i32).to_le_bytes())
            .collect()
    } else {
        stored.iter().map(|&b| b as u8).collect()
    };
    bytes[..len].to_vec()
}

#[test]
fn int8_bytes_are_bitsandbytes() {
    let golden = Golden::load();
    for case in golden.cases() {
        let (w, _, _) = golden.weight(&case);
        let q = quant::quantize_int8(w, None);
        let cb: Vec<i8> = q
            .int_values()
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap()
            .into_iter()
            .map(|v| v as i8)
            .collect();
        assert_eq!(cb, golden.i8(&case, "CB"), "{case}: CB");
        let (_, scb) = golden.f32(&case, "SCB");
        let ours: Vec<f32> = q.row_absmax.val().into_data().try_to_vec().unwrap();
        assert_eq!(
            ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            scb.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{case}: SCB"
        );
    }
}

#[test]
fn nf4_bytes_are_bitsandbytes() {
    let golden = Golden::load();
    for case in golden.cases() {
        let (w, d_in, d_out) = golden.weight(&case);
        let q = quant::quantize_nf4(w);
        let n = d_in * d_out;
        let packed = stored_bytes(q.packed.val(), q.in_words, n.div_ceil(2));
        assert_eq!(
            packed,
            golden.u8(&case, "nf4_packed"),
            "{case}: packed nibbles"
        );
        let blocks = n.div_ceil(64);
        let codes = stored_bytes(q.absmax_codes.val(), q.in_words, blocks);
        assert_eq!(
            codes,
            golden.u8(&case, "nf4_absmax_codes"),
            "{case}: absmax codes"
        );
        // The group scales, the offset and the weight they dequantize to are floats derived
        // from `absmax.mean()`: torch sums float32 in an order that depends on its CPU kernel's
        // vector width, so bitsandbytes itself gives last-bit differences between machines. We
        // take the correctly rounded mean; the bytes above are exact, and these floats are held
        // to the last place: the offset within one unit, the scales and the dequantized weight
        // nf4 * (dyn * scale + offset) (|nf4|, |dyn| <= 1) within one and four units of
        // |offset| + scale, absolute (one unit from each of the offset and the scale, two from
        // rounding).
        let ulps = |n: f32| n * f32::EPSILON;
        let (_, offset) = golden.f32(&case, "nf4_offset");
        test_support::assert_close_rel(
            &format!("{case}: absmax offset"),
            &[q.absmax_offset],
            &offset,
            ulps(1.0),
            f32::MIN_POSITIVE,
        );
        let (_, scale) = golden.f32(&case, "nf4_absmax_scale");
        let largest_scale = scale.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        let ours: Vec<f32> = q.absmax_scale.val().into_data().try_to_vec().unwrap();
        test_support::assert_close(
            &format!("{case}: absmax group scales"),
            &ours,
            &scale,
            ulps(1.0) * (offset[0].abs() + largest_scale),
        );
        let (_, expected) = golden.f32(&case, "nf4_dequantized");
        let deq = host(q.dequantize().transpose());
        test_support::assert_close(
            &format!("{case}: dequantized weight"),
            &deq,
            &expected,
            ulps(4.0) * (largest_scale + offset[0].abs()),
        );
    }
}

/// A linear layer with the case's bias and the quantized weight `q`.
fn layer(golden: &Golden, case: &str, weight: LinearWeight) -> Linear {
    let (_, bias) = golden.f32(case, "bias");
    let n = bias.len();
    let mut linear = Linear::new(
        "l",
        Param::from_tensor(Tensor::zeros([1, 1], &device())),
        Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [n]),
            &device(),
        ))),
    );
    linear.weight = weight;
    linear
}

/// Per output element, how far two float32 evaluations of `x Ŵᵀ + b` may be apart when they
/// sum in different orders: each is within γ(n+1)·Σ|terms| of the exact value (Higham's bound
/// for a dot product of n terms plus the bias), so together within twice that.
fn summation_bound(x: &[f32], w: &[f32], bias: &[f32], d_in: usize) -> Vec<f64> {
    let rows = x.len() / d_in;
    let d_out = bias.len();
    let gamma = (d_in + 1) as f64 * U / (1.0 - (d_in + 1) as f64 * U);
    let mut out = Vec::with_capacity(rows * d_out);
    for r in 0..rows {
        for j in 0..d_out {
            let terms: f64 = (0..d_in)
                .map(|i| (x[r * d_in + i] as f64 * w[j * d_in + i] as f64).abs())
                .sum();
            out.push(2.0 * gamma * (terms + (bias[j] as f64).abs()));
        }
    }
    out
}

fn assert_within(what: &str, ours: &[f32], expected: &[f32], bound: &[f64]) {
    assert_eq!(ours.len(), expected.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, ((a, e), b)) in ours.iter().zip(expected).zip(bound).enumerate() {
        // NaN-aware: a NaN on one side is an infinite difference.
        let d = f64::from(test_support::element_diff(*a, *e));
        assert!(
            d <= *b,
            "{what}[{i}]: ours {a}, bitsandbytes {e}, |diff| {d:e} > bound {b:e}"
        );
        if d / b > worst {
            worst = d / b;
        }
    }
    eprintln!("{what}: worst |diff| / bound {worst:.3}");
}

/// `Linear8bitLt(threshold=0)` on the CPU in training mode (MatMul8bitFp) multiplies by the
/// dequantized weight in float32, as our int8 layer without a threshold does: with the same
/// bytes, the outputs differ only by summation order.
#[test]
fn int8_dequantized_outputs_are_bitsandbytes() {
    let golden = Golden::load();
    for case in golden.cases() {
        let (w, d_in, _) = golden.weight(&case);
        let q = quant::quantize_int8(w, None);
        let deq = host(q.dequantize().transpose());
        let linear = layer(&golden, &case, LinearWeight::Int8(q));
        let (shape, x) = golden.f32(&case, "x");
        let input = Tensor::<2>::from_data(TensorData::new(x.clone(), [shape[0], d_in]), &device());
        let ours = host(linear.forward(input));
        let (_, expected) = golden.f32(&case, "int8_dequant");
        let (_, bias) = golden.f32(&case, "bias");
        let bound = summation_bound(&x, &deq, &bias, d_in);
        assert_within(
            &format!("{case} int8 (dequantized)"),
            &ours,
            &expected,
            &bound,
        );
    }
}

/// `Linear8bitLt(threshold=6.0)` in eval mode: LLM.int8's decomposition. With the same int8
/// activations and weights, the integer products are exact on both sides; what differs is the
/// dequantization constant (`DEQUANT_CONSTANT_GAP`, times the int8 part, whose size is at most
/// Σ(|x|·(1 + 2⁻¹¹) + s/254)·|Ŵ| over the row's absmax s, plus a few roundings) and the
/// summation order of the outlier columns' float32 product and the bias.
#[test]
fn int8_mixed_outputs_are_bitsandbytes() {
    let golden = Golden::load();
    let threshold = golden.meta["threshold"].as_f64().unwrap() as f32;
    for case in golden.cases() {
        let (w, d_in, _) = golden.weight(&case);
        let q = quant::quantize_int8(w, Some(threshold));
        let deq = host(q.dequantize().transpose());
        let linear = layer(&golden, &case, LinearWeight::Int8(q));
        let (shape, x) = golden.f32(&case, "x");
        let input = Tensor::<2>::from_data(TensorData::new(x.clone(), [shape[0], d_in]), &device());
        let ours = host(linear.forward(input));
        let (_, expected) = golden.f32(&case, "int8_mixed");
        let (_, bias) = golden.f32(&case, "bias");
        let d_out = bias.len();
        let mut bound = summation_bound(&x, &deq, &bias, d_in);
        for (r, row) in x.chunks(d_in).enumerate() {
            let s = row
                .iter()
                .filter(|v| v.abs() < threshold)
                .fold(0.0f64, |m, v| m.max(v.abs() as f64));
            for j in 0..d_out {
                let int8_part: f64 = (0..d_in)
                    .map(|i| {
                        (row[i].abs() as f64 * (1.0 + 1.0 / 2048.0) + s / 254.0)
                            * (deq[j * d_in + i] as f64).abs()
                    })
                    .sum();
                bound[r * d_out + j] += (DEQUANT_CONSTANT_GAP + 8.0 * U) * int8_part;
            }
        }
        assert_within(&format!("{case} int8 (LLM.int8)"), &ours, &expected, &bound);
    }
}

/// `Linear4bit` in training mode (MatMul4Bit): dequantize, then a float32 `linear`; the same
/// bytes give the same weight, so only the summation order differs. (bitsandbytes' native CPU
/// dequantization is wrong for 32-column weights; the goldens use its portable one: see
/// generate_bnb.py.)
#[test]
fn nf4_outputs_are_bitsandbytes() {
    let golden = Golden::load();
    for case in golden.cases() {
        let (w, d_in, _) = golden.weight(&case);
        let q = quant::quantize_nf4(w);
        let deq = host(q.dequantize().transpose());
        let linear = layer(&golden, &case, LinearWeight::Nf4(q));
        let (shape, x) = golden.f32(&case, "x");
        let input = Tensor::<2>::from_data(TensorData::new(x.clone(), [shape[0], d_in]), &device());
        let ours = host(linear.forward(input));
        let (_, expected) = golden.f32(&case, "nf4");
        let (_, bias) = golden.f32(&case, "bias");
        let bound = summation_bound(&x, &deq, &bias, d_in);
        assert_within(&format!("{case} nf4"), &ours, &expected, &bound);
    }
}

/// The cases bitsandbytes cannot run in eval mode on the CPU that made the goldens
/// (`nf4_eval_unsupported`, all of them there) against the published NF4 algorithm in numpy:
/// the weight dequantized from the stored bytes, the product in float64. Ours is one float32
/// evaluation of the same product with the same weight (checked bit for bit above), so within
/// Higham's bound γ(n+1)·Σ|terms| of the exact value: half of `summation_bound`.
#[test]
fn nf4_outputs_are_the_published_algorithm() {
    let golden = Golden::load();
    let unsupported: Vec<String> = golden.meta["nf4_eval_unsupported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(!unsupported.is_empty(), "the cases bitsandbytes cannot run");
    for case in golden.cases() {
        let (w, d_in, _) = golden.weight(&case);
        let q = quant::quantize_nf4(w);
        let deq = host(q.dequantize().transpose());
        let linear = layer(&golden, &case, LinearWeight::Nf4(q));
        let (shape, x) = golden.f32(&case, "x");
        let input = Tensor::<2>::from_data(TensorData::new(x.clone(), [shape[0], d_in]), &device());
        let ours = host(linear.forward(input));
        let exact = golden.f64(&case, "nf4_numpy");
        let (_, bias) = golden.f32(&case, "bias");
        let bound = summation_bound(&x, &deq, &bias, d_in);
        assert_eq!(ours.len(), exact.len(), "{case}: length");
        for (i, ((a, e), b)) in ours.iter().zip(&exact).zip(&bound).enumerate() {
            let d = test_support::element_diff_f64(f64::from(*a), *e);
            assert!(
                d <= b / 2.0,
                "{case} nf4[{i}]: ours {a}, numpy {e}, |diff| {d:e} > bound {:e}",
                b / 2.0
            );
        }
    }
}

/// Logits of a whole quantized model against bitsandbytes': the project's f32 tolerance.
/// Every quantized layer holds bitsandbytes' bytes and computes its outputs to a few f32
/// roundings (the tests above), and the rest of the model is the f32 path checked against
/// transformers at this tolerance.
const MODEL_TOLERANCE: f32 = test_support::TOLERANCE;

/// The tiny BERT quantized as transformers' `BitsAndBytesConfig` quantizes it (all 14 linear
/// layers) gives bitsandbytes' logits.
#[test]
fn quantized_bert_logits_are_bitsandbytes() {
    let golden = Golden::load();
    let device = device();
    let model_golden = &golden.meta["model"];
    let inputs = super::common::golden(model_golden["fixture"].as_str().unwrap());
    let schemes = [
        (
            "int8_mixed",
            Quantization::Int8 {
                threshold: Some(quant::LLM_INT8_THRESHOLD),
            },
        ),
        ("int8_dequant", Quantization::Int8 { threshold: None }),
        ("nf4", Quantization::Nf4),
    ];
    for (key, scheme) in schemes {
        let mut model = bert("bert-seqcls", &device);
        assert_eq!(quant::quantize_model(&mut model, scheme, &[]).unwrap(), 14);
        for (case, input_case) in model_golden["cases"]
            .as_array()
            .unwrap()
            .iter()
            .zip(inputs["model"].as_array().unwrap())
        {
            assert_eq!(case["name"], input_case["name"]);
            let logits = model.logits(&input(input_case, &device)).unwrap();
            let diff = max_diff(logits, &case[key]);
            eprintln!(
                "{key} {}: max |logit - bitsandbytes| {diff:e}",
                case["name"]
            );
            assert!(diff <= 1e-4, "{key} {}: {diff}", case["name"]);
        }
    }
}

#[test]
fn heads_stay_in_full_precision() {
    let _random = integration_tests::random_stream_lock();
    let mut model = bert("bert-seqcls", &device());
    quant::quantize_model(&mut model, Quantization::Nf4, &["classifier"]).unwrap();
    assert!(matches!(model.classifier.weight, LinearWeight::Dense(_)));
    assert!(matches!(
        model.bert.encoder.layers[0].attention.query.weight,
        LinearWeight::Nf4(_)
    ));
}

fn weight(values: Vec<f32>, d_in: usize, d_out: usize) -> Tensor<2> {
    // Burn's layout [in, out] from PyTorch's [out, in].
    Tensor::<2>::from_data(TensorData::new(values, [d_out, d_in]), &device()).transpose()
}

#[test]
fn int8_is_row_absmax_as_bitsandbytes_stores_it() {
    let _random = integration_tests::random_stream_lock();
    let w = vec![0.5, -1.0, 0.25, 0.0, /* row 2 */ 2.0, 1.0, -0.5, 0.1];
    let q = quant::quantize_int8(weight(w.clone(), 4, 2), None);
    let cb: Vec<i64> = q
        .int_values()
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    // CB = round(W * 127 / absmax_row), SCB = absmax_row.
    assert_eq!(cb, [64, -127, 32, 0, 127, 64, -32, 6]);
    let (_, scb) = values(q.row_absmax.val());
    assert_eq!(scb, [1.0, 2.0]);
    // One byte a value: int8, or packed four to an i32 where the device has no int8 (wgpu).
    if q.in_words {
        assert_eq!(q.values.val().dims(), [2, 1]);
    } else {
        assert_eq!(q.values.val().dtype(), burn::tensor::DType::I8);
    }
    let (_, deq) = values(q.dequantize().transpose());
    for (row, chunk) in deq.chunks(4).enumerate() {
        for (d, o) in chunk.iter().zip(&w[row * 4..]) {
            assert!((d - o).abs() <= scb[row] / 254.0 + 1e-7);
        }
    }
}

/// The first `len` stored bytes, whether one per element or packed four to a word.
fn host_bytes(t: Tensor<1, burn::tensor::Int>, in_words: bool, len: usize) -> Vec<i64> {
    let stored: Vec<i64> = t.into_data().convert::<i64>().try_to_vec().unwrap();
    if !in_words {
        return stored;
    }
    let bytes: Vec<i64> = stored
        .iter()
        .flat_map(|&w| (w as i32).to_le_bytes())
        .map(i64::from)
        .collect();
    assert!(bytes.len() >= len && bytes.len() < len + 4);
    bytes[..len].to_vec()
}

#[test]
fn nf4_packs_two_per_byte_with_double_quantized_absmax() {
    let _random = integration_tests::random_stream_lock();
    // 130 values (3 blocks of 64, the last one partial): block maxima 1, 2, 3.
    let mut w: Vec<f32> = (0..130)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
        .collect();
    w[0] = -1.0;
    w[1] = 1.0;
    w[64] = 2.0;
    w[128] = -3.0;
    let q = quant::quantize_nf4(weight(w.clone(), 13, 10));
    if !q.in_words {
        assert_eq!(q.packed.val().dtype(), burn::tensor::DType::U8);
    }
    let bytes = host_bytes(q.packed.val(), q.in_words, 65);
    assert_eq!(bytes.len(), 65, "two 4-bit values per byte");
    // First value in the high nibble: -1.0 -> code 0, +1.0 -> code 15.
    assert_eq!(bytes[0], 0x0F);
    let codes = host_bytes(q.absmax_codes.val(), q.in_words, 3);
    assert_eq!(q.absmax_offset, 2.0, "mean of the block absmaxes");
    let map = dynamic_map();
    assert_eq!(map.len(), 256);
    // bitsandbytes' signed dynamic map: 1.0 at the top, its most negative value -0.99297.
    assert_eq!(map[255], 1.0);
    assert!((map[0] + 0.992_968_75).abs() < 1e-6);
    assert!(map.windows(2).all(|p| p[0] <= p[1]));
    // Block absmax 1, 2, 3 centred on 2 and scaled by 1: codes nearest -1, 0 and 1.
    assert_eq!(
        codes,
        [0, map.iter().position(|&v| v == 0.0).unwrap() as i64, 255]
    );
    let (_, deq) = values(q.dequantize().transpose());
    for (i, (d, o)) in deq.iter().zip(&w).enumerate() {
        let absmax = [1.0, 2.0, 3.0][i / 64];
        // Half the widest gap between NF4 codes, times the block absmax.
        assert!((d - o).abs() <= absmax * 0.16, "{i}: {d} vs {o}");
    }
    // Block 0's absmax comes back as 2 - 0.99297 (the map has no -1); block 2's exactly.
    assert!((deq[0] + 1.007_031_3).abs() < 1e-5 && (deq[1] - 1.007_031_3).abs() < 1e-5);
    assert_eq!(deq[128], -3.0);
    assert_eq!(NF4_CODE[7], 0.0);
}

/// Bytes of the base linear weights of a BERT-base-sized encoder in each scheme (computed
/// from the stored tensors' shapes and element sizes).
#[test]
fn base_weight_bytes_per_scheme() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let mut sizes = Vec::new();
    for scheme in [
        None,
        Some(Quantization::Int8 { threshold: None }),
        Some(Quantization::Nf4),
    ] {
        let mut model = bert("bert-seqcls", &device);
        if let Some(scheme) = scheme {
            quant::quantize_model(&mut model, scheme, &["classifier"]).unwrap();
        }
        sizes.push(base_weight_bytes(&model));
    }
    let (f32_bytes, int8, nf4) = (sizes[0], sizes[1], sizes[2]);
    println!("tiny bert base weights: f32 {f32_bytes} B, int8 {int8} B, nf4 {nf4} B");
    // int8: 1 byte per weight + 4 per output row; NF4: half a byte + ~1/64 byte + ...
    assert!(int8 * 10 < f32_bytes * 3, "int8 about a quarter of f32");
    assert!(nf4 * 10 < f32_bytes * 2, "nf4 about an eighth of f32");
}

/// LoRA on a quantized base (the classifier kept in f32, the adapter's `modules_to_save`):
/// PEFT's logits with the adapter, and after `merge_adapter()`, which dequantizes, adds
/// B·A·scaling and quantizes again (merged weights stay quantized).
#[test]
fn lora_on_quantized_base_is_peft_on_bitsandbytes() {
    let _random = integration_tests::random_stream_lock();
    let golden = Golden::load();
    let device = device();
    let lora = &golden.meta["lora"];
    let inputs = super::common::golden("bert-seqcls");
    let schemes = [
        (
            "int8_mixed",
            Quantization::Int8 {
                threshold: Some(quant::LLM_INT8_THRESHOLD),
            },
        ),
        ("nf4", Quantization::Nf4),
    ];
    for (key, scheme) in schemes {
        let mut base = bert("bert-seqcls", &device);
        assert_eq!(
            quant::quantize_model(&mut base, scheme, &["classifier"]).unwrap(),
            13
        );
        let mut model =
            PeftModel::from_pretrained(base, &fixture(lora["adapter"].as_str().unwrap())).unwrap();
        for stage in ["adapter", "merged"] {
            if stage == "merged" {
                model.merge_adapter();
            }
            for (case, input_case) in lora["cases"]
                .as_array()
                .unwrap()
                .iter()
                .zip(inputs["model"].as_array().unwrap())
            {
                let logits = model
                    .base_model
                    .logits(&input(input_case, &device))
                    .unwrap();
                let what = format!("{key} {stage} {}", case["name"]);
                let diff = max_diff(logits, &case[format!("{key}_{stage}")]);
                eprintln!("{what}: max |logit - PEFT on bitsandbytes| {diff:e}");
                assert!(diff <= MODEL_TOLERANCE, "{what}: {diff}");
            }
        }
        let mut quantized = 0;
        model.base_model.visit_linears(&mut |l| {
            quantized += !matches!(l.weight, LinearWeight::Dense(_)) as usize
        });
        assert_eq!(quantized, 13, "merged weights stay quantized");
    }
}

/// Relative weight error ||W - deq(q(W))|| / ||W|| on the fixture's weights: about 1% for
/// int8 and about 10% for NF4 (the figure QLoRA reports for normally distributed weights).
#[test]
fn relative_weight_error() {
    let _random = integration_tests::random_stream_lock();
    let model = bert("bert-seqcls", &device());
    let mut worst = [0.0f32; 2];
    model.visit_linears(&mut |linear| {
        let w = linear.weight.dense();
        let norm = w.clone().powi_scalar(2).sum().sqrt().into_scalar::<f32>();
        let int8 = quant::quantize_int8(w.clone(), None).dequantize();
        let nf4 = quant::quantize_nf4(w.clone()).dequantize();
        for (slot, deq) in [int8, nf4].into_iter().enumerate() {
            let err = (deq - w.clone())
                .powi_scalar(2)
                .sum()
                .sqrt()
                .into_scalar::<f32>()
                / norm;
            // A NaN error is kept (and fails the bound below).
            if !(err <= worst[slot]) {
                worst[slot] = err;
            }
        }
    });
    println!(
        "relative weight error: int8 {:.4}, nf4 {:.4}",
        worst[0], worst[1]
    );
    assert!(worst[0] < 0.02 && worst[1] < 0.12, "{worst:?}");
}

/// Devices without 8-bit integers (WGSL) hold the bytes four to an i32 word: the same weight,
/// the same outputs (LLM.int8's too), and one byte a value where words are 32-bit.
#[test]
fn bytes_packed_in_words_give_the_same_weights() {
    let _random = integration_tests::random_stream_lock();
    use burn_peft::quant::ByteStorage;
    let device = device();
    // Rows of 13 values: not a whole number of words.
    let (d_in, d_out) = (13, 10);
    let w: Vec<f32> = (0..d_in * d_out)
        .map(|i| ((i * 7919 % 101) as f32 / 50.0 - 1.0) * if i % 9 == 0 { 3.0 } else { 1.0 })
        .collect();
    let x = Tensor::<2>::from_data(
        TensorData::new(
            (0..3 * d_in)
                .map(|i| (i as f32 * 0.37).sin() * if i == 5 { 9.0 } else { 1.0 })
                .collect::<Vec<f32>>(),
            [3, d_in],
        ),
        &device,
    );
    for threshold in [None, Some(quant::LLM_INT8_THRESHOLD)] {
        let bytes = quant::quantize_int8_as(
            weight(w.clone(), d_in, d_out),
            threshold,
            ByteStorage::Bytes,
        );
        let words = quant::quantize_int8_as(
            weight(w.clone(), d_in, d_out),
            threshold,
            ByteStorage::Words,
        );
        // Bytes only where the device has int8 (not wgpu: there both are words).
        let has_int8 = device.supports_dtype(burn::tensor::IntDType::I8);
        assert!(bytes.in_words != has_int8 && words.in_words);
        assert_eq!(words.values.val().dims(), [d_out, 4]);
        let (_, a) = values(bytes.int_values().float());
        let (_, b) = values(words.int_values().float());
        assert_eq!(a, b, "int8 values");
        assert!(a.iter().any(|v| *v < 0.0) && a.contains(&127.0));
        let as_linear = |q| {
            let mut linear = burn_models::nn::Linear::new(
                "l",
                burn::module::Param::from_tensor(Tensor::zeros([d_in, d_out], &device)),
                None,
            );
            linear.weight = LinearWeight::Int8(q);
            linear
        };
        let (_, ya) = values(as_linear(bytes).forward(x.clone()));
        let (_, yb) = values(as_linear(words).forward(x.clone()));
        assert_eq!(ya, yb, "forward with threshold {threshold:?}");
    }
    let bytes = quant::quantize_nf4_as(weight(w.clone(), d_in, d_out), ByteStorage::Bytes);
    let words = quant::quantize_nf4_as(weight(w.clone(), d_in, d_out), ByteStorage::Words);
    // 130 values: 65 bytes of nibbles in 17 words; 3 block codes in 1 word.
    assert_eq!(words.packed.val().dims(), [17]);
    assert_eq!(words.absmax_codes.val().dims(), [1]);
    let (_, a) = values(bytes.dequantize());
    let (_, b) = values(words.dequantize());
    assert_eq!(a, b, "nf4 weights");
    // Stored size: words of the device's integer type (4 bytes on wgpu: a byte a value).
    let words_size = words.packed.val().dtype().size();
    let stored = LinearWeight::Nf4(words).stored_bytes();
    assert_eq!(stored, (17 + 1) * words_size + 4 + 4);
}
