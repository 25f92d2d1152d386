//! Quantized frozen bases: bitsandbytes' int8 and NF4 layouts, and the quantized models'
//! outputs against the f32 goldens (transformers) within stated tolerances.

use super::common::*;
use burn::tensor::{Tensor, TensorData};
use burn_models::heads::SequenceClassifier;
use burn_models::nn::{LinearWeight, Linears, NF4_CODE, dynamic_map};
use burn_peft::quant::{self, Quantization};
use burn_peft::*;

/// Worst |quantized - f32| of the logits over the fixture's golden cases.
fn worst<M: SequenceClassifier>(model: &M, fixture_name: &str) -> f32 {
    let device = device();
    golden(fixture_name)["model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            max_diff(
                model.logits(&input(case, &device)).unwrap(),
                &case["logits"],
            )
        })
        .fold(0.0, |worst: f32, diff| {
            if diff > worst || diff.is_nan() {
                diff
            } else {
                worst
            }
        })
}

/// Measured on the tiny random fixtures (hidden 32, weights with std 0.15, two layers), where
/// 4 bits cost more than on trained checkpoints; the numbers are printed by the tests.
const INT8_TOLERANCE: f32 = 0.06;
const NF4_TOLERANCE: f32 = 0.75;

#[test]
fn quantized_bases_stay_close_to_f32() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let schemes = [
        (
            "int8",
            Quantization::Int8 { threshold: None },
            INT8_TOLERANCE,
        ),
        (
            "int8+outliers(6.0)",
            Quantization::Int8 {
                threshold: Some(quant::LLM_INT8_THRESHOLD),
            },
            INT8_TOLERANCE,
        ),
        ("nf4", Quantization::Nf4, NF4_TOLERANCE),
    ];
    for (name, scheme, tolerance) in schemes {
        let mut model = bert("bert-seqcls", &device);
        let n = quant::quantize_model(&mut model, scheme, &["classifier"]).unwrap();
        assert_eq!(n, 2 * 6 + 1, "every encoder linear and the pooler");
        let bert_diff = worst(&model, "bert-seqcls");
        let mut model = distilbert("distilbert-seqcls", &device);
        quant::quantize_model(&mut model, scheme, &["pre_classifier", "classifier"]).unwrap();
        let distil_diff = worst(&model, "distilbert-seqcls");
        println!(
            "{name}: max |logit - f32 golden| bert {bert_diff:.5}, distilbert {distil_diff:.5}"
        );
        assert!(bert_diff <= tolerance && distil_diff <= tolerance, "{name}");
        assert!(bert_diff > 0.0, "{name}: the weights really are quantized");
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

/// LoRA on a quantized base: merging requantizes (as PEFT does for bitsandbytes layers), so
/// the merged model is close to the unmerged one, within the quantization error.
#[test]
fn lora_on_quantized_base_merges_and_unmerges() {
    let _random = integration_tests::random_stream_lock();
    let device = device();
    let name = "peft-bert-seqcls";
    let golden = golden(name);
    for scheme in [Quantization::Int8 { threshold: None }, Quantization::Nf4] {
        let mut base = bert("bert-seqcls", &device);
        quant::quantize_model(&mut base, scheme, &["classifier"]).unwrap();
        let mut model = PeftModel::from_pretrained(base, &fixture(name)).unwrap();
        let tolerance = match scheme {
            Quantization::Nf4 => NF4_TOLERANCE,
            _ => INT8_TOLERANCE,
        };
        let case = &golden["cases"][1];
        let adapter = max_diff(
            model.base_model.logits(&input(case, &device)).unwrap(),
            &case["adapter"],
        );
        model.merge_adapter();
        let merged = max_diff(
            model.base_model.logits(&input(case, &device)).unwrap(),
            &case["merged"],
        );
        println!("{scheme:?}: adapter {adapter:.5}, merged {merged:.5} from PEFT's f32 logits");
        assert!(adapter <= tolerance && merged <= tolerance, "{scheme:?}");
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
            worst[slot] = worst[slot].max(err);
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
