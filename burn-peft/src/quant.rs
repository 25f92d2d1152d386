//! Quantized frozen bases: bitsandbytes' `Linear8bitLt` (row-wise absmax int8) and
//! `Linear4bit` NF4 with double quantization (QLoRA), built from f32/f16 checkpoints as
//! `load_in_8bit` / `load_in_4bit` do.

use burn::module::{Param, ParamId};
use burn::tensor::{Int, IntDType, Tensor, TensorData};
use burn_models::nn::{
    Int8Weight, LinearWeight, Linears, NF4_CODE, Nf4Weight, dynamic_map, pack_bytes,
};

use crate::error::{PeftError, Result};

/// bitsandbytes' `blocksize` for 4-bit weights.
pub const NF4_BLOCK_SIZE: usize = 64;
/// bitsandbytes' block size for the nested (double) quantization of the absmax.
pub const NF4_ABSMAX_BLOCK_SIZE: usize = 256;
/// `llm_int8_threshold`'s default.
pub const LLM_INT8_THRESHOLD: f32 = 6.0;

/// A base-weight storage scheme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantization {
    /// `load_in_8bit`.
    Int8 {
        /// LLM.int8 outlier decomposition (`llm_int8_threshold`, 6.0 in bitsandbytes), or
        /// `None` for plain dequantization.
        threshold: Option<f32>,
    },
    /// `load_in_4bit` with `bnb_4bit_quant_type="nf4"`, `bnb_4bit_use_double_quant=True`.
    Nf4,
}

fn frozen_int<const D: usize>(t: Tensor<D, Int>) -> Param<Tensor<D, Int>> {
    Param::initialized(ParamId::new(), t)
}

/// A float parameter that never trains (a computed tensor made a leaf first).
fn frozen<const D: usize>(t: Tensor<D>) -> Param<Tensor<D>> {
    Param::initialized(ParamId::new(), t.detach())
}

/// Row-wise absmax int8 of a weight in Burn's layout `[d_input, d_output]`, byte for byte as
/// bitsandbytes' `Int8Params` quantizes `W` `[out, in]`: the weight rounded to float16 first
/// (`W.to(torch.float16)`), `SCB` its rows' absmax, `CB = round(W * (127 / SCB))` with ties to
/// even (`torch.round`) and `127 / SCB` evaluated as torch evaluates a scalar over a tensor,
/// `SCB.reciprocal() * 127`. An all-zero row gives zeros. Computed on the host: the int8
/// tensor is built from i8 data.
pub fn quantize_int8(weight: Tensor<2>, threshold: Option<f32>) -> Int8Weight {
    quantize_int8_as(weight, threshold, ByteStorage::Bytes)
}

/// How a quantized weight's bytes are held on its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteStorage {
    /// One per 8-bit integer element, where the device has 8-bit integers (words elsewhere).
    Bytes,
    /// Four per `i32` ([`pack_bytes`]): devices without 8-bit integers (WGSL).
    Words,
}

/// [`quantize_int8`] with the bytes held as `storage` says (`Bytes` only where the device has
/// 8-bit integers; elsewhere words).
pub fn quantize_int8_as(
    weight: Tensor<2>,
    threshold: Option<f32>,
    storage: ByteStorage,
) -> Int8Weight {
    let device = weight.device();
    let [d_in, d_out] = weight.dims();
    let values: Vec<f32> = host_rows(weight).into_iter().map(to_half).collect();
    let mut absmax = vec![0.0f32; d_out];
    let mut quantized = vec![0i8; values.len()];
    for (row, chunk) in values.chunks(d_in.max(1)).enumerate() {
        let max = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        absmax[row] = max;
        // An all-zero row quantizes to zeros.
        let scale = if max > 0.0 { max.recip() * 127.0 } else { 0.0 };
        for (q, v) in quantized[row * d_in..].iter_mut().zip(chunk) {
            *q = (v * scale).round_ties_even().clamp(-127.0, 127.0) as i8;
        }
    }
    // One byte a value: int8 where the device has it; elsewhere (WGSL has only 32-bit
    // integers) each row's bytes packed four to an i32.
    let in_words = storage == ByteStorage::Words || !device.supports_dtype(IntDType::I8);
    let values = if in_words {
        let words: Vec<i32> = quantized
            .chunks(d_in.max(1))
            .flat_map(|row| pack_bytes(&row.iter().map(|&v| v as u8).collect::<Vec<_>>()))
            .collect();
        Tensor::<2, Int>::from_data(TensorData::new(words, [d_out, d_in.div_ceil(4)]), &device)
    } else {
        Tensor::<2, Int>::from_data(TensorData::new(quantized, [d_out, d_in]), &device)
            .cast(IntDType::I8)
    };
    Int8Weight {
        values: frozen_int(values),
        row_absmax: frozen(Tensor::from_data(TensorData::new(absmax, [d_out]), &device)),
        threshold,
        d_input: d_in,
        in_words,
    }
}

/// `x` rounded to the nearest float16 value (ties to even), back in f32.
fn to_half(x: f32) -> f32 {
    burn::tensor::f16::from_f32(x).to_f32()
}

/// PyTorch's `[out, in]` row-major values of a weight in Burn's layout `[in, out]`.
fn host_rows(weight: Tensor<2>) -> Vec<f32> {
    weight
        .detach()
        .transpose()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 weight")
}

/// Index of the value of `code` (sorted) nearest to `x`.
fn nearest(code: &[f32], x: f32) -> usize {
    let upper = code.partition_point(|&c| c < x);
    if upper == 0 {
        0
    } else if upper == code.len() {
        code.len() - 1
    } else if (code[upper] - x) < (x - code[upper - 1]) {
        upper
    } else {
        upper - 1
    }
}

/// The NF4 code of `x` as bitsandbytes picks it: `torch.bucketize` over the float32 midpoints
/// between neighbouring codes (a value on a midpoint takes the lower code).
fn nf4_index(x: f32) -> usize {
    (0..NF4_CODE.len() - 1)
        .take_while(|&i| (NF4_CODE[i] + NF4_CODE[i + 1]) / 2.0 < x)
        .count()
}

/// NF4 with double quantization of a weight in Burn's layout `[d_input, d_output]`, byte for
/// byte as bitsandbytes `quantize_4bit(W, blocksize=64, compress_statistics=True,
/// quant_type="nf4")` lays out `W` `[out, in]`: each block of 64 scaled by the reciprocal of
/// its absmax (the last, partial block divided by it, as bitsandbytes does), each value's
/// nearest NF4 code (a tie to the lower one, as `torch.bucketize` between midpoints).
pub fn quantize_nf4(weight: Tensor<2>) -> Nf4Weight {
    quantize_nf4_as(weight, ByteStorage::Bytes)
}

/// [`quantize_nf4`] with the bytes held as `storage` says (`Bytes` only where the device has
/// 8-bit integers; elsewhere words).
pub fn quantize_nf4_as(weight: Tensor<2>, storage: ByteStorage) -> Nf4Weight {
    let device = weight.device();
    let [d_in, d_out] = weight.dims();
    let values = host_rows(weight);
    let total = values.len();
    let n_blocks = total.div_ceil(NF4_BLOCK_SIZE);
    let mut absmax = vec![0.0f32; n_blocks];
    let mut indices = vec![0u8; n_blocks * NF4_BLOCK_SIZE];
    for (block, chunk) in values.chunks(NF4_BLOCK_SIZE).enumerate() {
        let max = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        absmax[block] = max;
        // bitsandbytes clamps the absmax to 1e-38 before dividing (an all-zero block gives
        // zeros) and divides the partial last block instead of multiplying by the reciprocal.
        let divisor = max.max(1e-38);
        let (inv, partial) = (1.0 / divisor, chunk.len() < NF4_BLOCK_SIZE);
        for (i, v) in chunk.iter().enumerate() {
            let scaled = if partial { v / divisor } else { v * inv };
            indices[block * NF4_BLOCK_SIZE + i] = nf4_index(scaled) as u8;
        }
    }
    // Padding past the end quantizes 0 (code 7), as bitsandbytes' zero padding does.
    for index in indices.iter_mut().skip(total) {
        *index = 7;
    }
    let packed: Vec<u8> = indices
        .chunks(2)
        .map(|pair| (pair[0] << 4) | pair.get(1).copied().unwrap_or(7))
        .collect();
    let packed: Vec<u8> = packed[..total.div_ceil(2)].to_vec();

    // Double quantization: absmax - mean, 8-bit dynamic code in blocks of 256. The mean is
    // the correctly rounded one (summed in f64); torch's float32 mean sums in an order that
    // depends on the CPU's vector width, and may differ from it in the last bit.
    let offset = (absmax.iter().map(|&a| f64::from(a)).sum::<f64>() / n_blocks as f64) as f32;
    let map = dynamic_map();
    let mut codes = vec![0u8; n_blocks];
    let mut scales = Vec::with_capacity(n_blocks.div_ceil(NF4_ABSMAX_BLOCK_SIZE));
    for (group, chunk) in absmax.chunks(NF4_ABSMAX_BLOCK_SIZE).enumerate() {
        let centered: Vec<f32> = chunk.iter().map(|a| a - offset).collect();
        let max = centered.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        scales.push(max);
        let inv = if max > 0.0 { 1.0 / max } else { 0.0 };
        for (i, c) in centered.iter().enumerate() {
            codes[group * NF4_ABSMAX_BLOCK_SIZE + i] = nearest(&map, c * inv) as u8;
        }
    }
    // Bytes where the device has them; elsewhere (WGSL) packed four to an i32.
    let in_words = storage == ByteStorage::Words || !device.supports_dtype(IntDType::U8);
    let u8_tensor = |v: Vec<u8>| {
        frozen_int(if in_words {
            let words = pack_bytes(&v);
            let n = words.len();
            Tensor::<1, Int>::from_data(TensorData::new(words, [n]), &device)
        } else {
            let n = v.len();
            Tensor::<1, Int>::from_data(TensorData::new(v, [n]), &device).cast(IntDType::U8)
        })
    };
    let n_scales = scales.len();
    Nf4Weight {
        packed: u8_tensor(packed),
        absmax_codes: u8_tensor(codes),
        absmax_scale: frozen(Tensor::from_data(
            TensorData::new(scales, [n_scales]),
            &device,
        )),
        shape: [d_out, d_in],
        block_size: NF4_BLOCK_SIZE,
        absmax_block_size: NF4_ABSMAX_BLOCK_SIZE,
        absmax_offset: offset,
        in_words,
    }
}

/// Quantizes every dense linear layer of `model` except those `keep` names (by module path:
/// heads and `modules_to_save`, which bitsandbytes integrations keep in full precision via
/// `llm_int8_skip_modules`). Returns the number of layers quantized.
pub fn quantize_model(
    model: &mut impl Linears,
    scheme: Quantization,
    keep: &[&str],
) -> Result<usize> {
    let mut count = 0;
    model.visit_linears_mut(&mut |linear| {
        let skip = keep
            .iter()
            .any(|k| linear.path == *k || linear.path.ends_with(&format!(".{k}")));
        if skip || !linear.saved.is_empty() {
            return;
        }
        if let LinearWeight::Dense(w) = &linear.weight {
            let w = w.val();
            linear.weight = match scheme {
                Quantization::Int8 { threshold } => LinearWeight::Int8(quantize_int8(w, threshold)),
                Quantization::Nf4 => LinearWeight::Nf4(quantize_nf4(w)),
            };
            count += 1;
        }
    });
    if count == 0 {
        return Err(PeftError::Config("no linear layer left to quantize".into()));
    }
    Ok(count)
}

/// Bytes the linear layers' base weights occupy (values plus scales/statistics, biases
/// excluded), per their storage scheme.
pub fn base_weight_bytes(model: &impl Linears) -> usize {
    let mut bytes = 0;
    model.visit_linears(&mut |linear| bytes += linear.weight.stored_bytes());
    bytes
}
