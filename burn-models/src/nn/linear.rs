//! The `nn.Linear` every model uses: a dense (or quantized, frozen) weight with optional
//! LoRA side paths. Models build it through `WeightScope::linear`, which records the layer's
//! Hugging Face module path, so adapters can be attached by that path (PEFT's
//! `target_modules`) without the model code knowing about them.

use std::any::Any;
use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::Dropout;
use burn::tensor::module::linear;
use burn::tensor::{FloatDType, Int, Tensor, TensorData};

/// A linear layer `y = x W + b` with, optionally, LoRA adapters added as a side path:
/// `y += B(A(dropout(x))) * scaling` for the active adapter (PEFT's `lora.Linear`).
#[derive(Module, Debug)]
pub struct Linear {
    /// The base weight (`weight`), dense or quantized.
    pub weight: LinearWeight,
    /// `[d_output]`
    pub bias: Option<Param<Tensor<1>>>,
    /// Named LoRA adapters; at most one is active.
    pub adapters: Vec<LoraAdapter>,
    /// Per-adapter trainable copies that replace this layer while their adapter is active
    /// (PEFT's `modules_to_save`, e.g. a classifier head).
    pub saved: Vec<SavedLinear>,
    /// The Hugging Face module path (`bert.encoder.layer.0.attention.self.query`), as the
    /// checkpoint and PEFT name it.
    #[module(skip)]
    pub path: String,
    /// The module's path in transformers 5, where it renamed the module
    /// (`vit.layers.0.attention.q_proj` for `vit.encoder.layer.0.attention.attention.query`):
    /// PEFT on transformers 5 names adapter modules and keys so, while checkpoints keep `path`.
    #[module(skip)]
    pub transformers5_path: Option<String>,
    /// The adapter the forward pass adds, by name; `None` = adapters disabled.
    #[module(skip)]
    pub active_adapter: Option<String>,
    /// Mixed precision (torch's autocast): the product runs in this type (f16/bf16) on
    /// half-precision copies of input and weight, and the result comes back in the input's
    /// type, so the parameters (and their gradients) stay f32. `None`: the input's type.
    #[module(skip)]
    pub compute_dtype: Option<FloatDType>,
    /// The weight is a copy of another parameter (an output projection tied to the input
    /// embeddings): PyTorch shares one tensor, so parameter counts take it once.
    #[module(skip)]
    pub tied: bool,
}

/// The base weight: dense and trainable, or quantized and frozen.
#[derive(Module, Debug)]
pub enum LinearWeight {
    /// `[d_input, d_output]`, the layout Burn multiplies (PyTorch's `weight.T`).
    Dense(Param<Tensor<2>>),
    /// bitsandbytes `Linear8bitLt`'s storage.
    Int8(Int8Weight),
    /// bitsandbytes `Linear4bit` NF4 with double quantization (QLoRA).
    Nf4(Nf4Weight),
    /// Int8 for inference on the CPU, activations quantized per row at run time
    /// ([`quantize_dynamic`](super::quantize_dynamic)).
    DynamicInt8(super::DynamicInt8Weight),
}

/// Row-wise absmax int8, as bitsandbytes `Int8Params` hold it: `CB` (int8 `[out, in]`) and
/// `SCB` (the f32 absmax of each output row), `W ≈ CB * SCB / 127`.
#[derive(Module, Debug)]
pub struct Int8Weight {
    /// `CB`: `[d_output, d_input]`, int8; or, with `in_words`, each row's bytes packed four to
    /// an `i32` (`[d_output, ceil(d_input / 4)]`, see [`pack_bytes`]).
    pub values: Param<Tensor<2, Int>>,
    /// `SCB`: `[d_output]`.
    pub row_absmax: Param<Tensor<1>>,
    /// `llm_int8_threshold`: activation columns whose magnitude exceeds it are multiplied in
    /// full precision and the rest with int8-quantized activations (LLM.int8's outlier
    /// decomposition). `None` (or 0) dequantizes the weight and multiplies in f32.
    #[module(skip)]
    pub threshold: Option<f32>,
    /// `d_input` (the row length, which packed rows round up).
    #[module(skip)]
    pub d_input: usize,
    /// The bytes are packed four to an `i32` word: devices without 8-bit integers (WGSL) would
    /// otherwise hold each value in 4 bytes.
    #[module(skip)]
    pub in_words: bool,
}

/// NF4 weights packed two per byte in blocks of `block_size` (64), the block absmax itself
/// 8-bit quantized with bitsandbytes' dynamic map in blocks of 256 around its mean.
#[derive(Module, Debug)]
pub struct Nf4Weight {
    /// `[d_output * d_input / 2]` u8; the first value of each pair in the high nibble.
    /// With `in_words`, those bytes packed four to an `i32` ([`pack_bytes`]).
    pub packed: Param<Tensor<1, Int>>,
    /// Quantized block absmax, u8 indices into the dynamic map `[n_blocks]` (packed alike).
    pub absmax_codes: Param<Tensor<1, Int>>,
    /// Absmax of each group of 256 block absmaxes (`state2.absmax`) `[n_groups]`.
    pub absmax_scale: Param<Tensor<1>>,
    /// `[d_output, d_input]`.
    #[module(skip)]
    pub shape: [usize; 2],
    /// Weights per quantization block (bitsandbytes' `blocksize`, 64).
    #[module(skip)]
    pub block_size: usize,
    /// `state2` block size (256).
    #[module(skip)]
    pub absmax_block_size: usize,
    /// Mean of the block absmaxes, subtracted before their quantization.
    #[module(skip)]
    pub absmax_offset: f32,
    /// `packed` and `absmax_codes` hold four bytes per `i32` (as [`Int8Weight::in_words`]).
    #[module(skip)]
    pub in_words: bool,
}

/// Bytes four to an `i32` word, byte `4j + k` in bits `8k..8k + 8` (the last word zero-padded):
/// how int8/NF4 weights keep one byte per value on devices without 8-bit integer storage (WGSL
/// has only 32-bit integers).
pub fn pack_bytes(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            i32::from_le_bytes(word)
        })
        .collect()
}

/// The inverse of [`pack_bytes`] on the device, row by row: `[rows, words]` -> the first `len`
/// bytes of each row `[rows, len]`, as 0..=255 in the device's default integer type.
fn unpack_bytes(words: Tensor<2, Int>, len: usize) -> Tensor<2, Int> {
    let int_dtype = words.device().settings().int_dtype;
    let words = words.cast(int_dtype);
    let [rows, n] = words.dims();
    // Masking after the shift makes arithmetic and logical shifts agree.
    let bytes: Vec<Tensor<2, Int>> = (0..4)
        .map(|k| {
            words
                .clone()
                .bitwise_right_shift_scalar(8 * k)
                .bitwise_and_scalar(255)
        })
        .collect();
    Tensor::stack::<3>(bytes, 2)
        .reshape([rows, 4 * n])
        .slice([0..rows, 0..len])
}

/// Bytes as stored (one per element, or in words) -> 0..=255 `[len]` in the default int type.
fn stored_bytes_1d(stored: Tensor<1, Int>, in_words: bool, len: usize) -> Tensor<1, Int> {
    if in_words {
        unpack_bytes(stored.unsqueeze::<2>(), len).reshape([len])
    } else {
        let int_dtype = stored.device().settings().int_dtype;
        stored.cast(int_dtype)
    }
}

/// `x` rounded to float16 values (kept in `x`'s type): what bitsandbytes quantizes
/// activations from. Devices without float16 keep `x` as it is.
fn to_half_precision(x: Tensor<2>) -> Tensor<2> {
    let dtype = x.dtype();
    if x.device().supports_dtype(FloatDType::F16) {
        x.cast(FloatDType::F16).cast(dtype)
    } else {
        x
    }
}

/// A full copy of a layer owned by one adapter (`ModulesToSaveWrapper.modules_to_save[name]`).
#[derive(Module, Debug)]
pub struct SavedLinear {
    /// `[d_input, d_output]`.
    pub weight: Param<Tensor<2>>,
    /// `[d_output]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// The adapter's name.
    #[module(skip)]
    pub name: String,
}

/// One LoRA adapter of a layer: `B(A(dropout(x))) * scaling`.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// `lora_A.weight.T`: `[d_input, r]`.
    pub a: Param<Tensor<2>>,
    /// `lora_B.weight.T`: `[r, d_output]`.
    pub b: Param<Tensor<2>>,
    /// Dropout on the adapter's input (`lora_dropout`).
    pub dropout: Dropout,
    /// The adapter's name.
    #[module(skip)]
    pub name: String,
    /// `lora_alpha / r` (or `/ sqrt(r)` with rsLoRA).
    #[module(skip)]
    pub scaling: f64,
    /// Whether `B A * scaling` has been added into the base weight.
    #[module(skip)]
    pub merged: bool,
}

/// The 16 NF4 code values (QLoRA, bitsandbytes `get_4bit_type("nf4")`).
pub const NF4_CODE: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

/// bitsandbytes `create_dynamic_map(signed=True)`: the 256 values of the 8-bit dynamic
/// (exponent + fraction) type used to quantize NF4 block absmaxes.
pub fn dynamic_map() -> [f32; 256] {
    let mut data: Vec<f32> = Vec::with_capacity(256);
    let max_exponent_bits = 7i32;
    for i in 0..max_exponent_bits {
        let items = (1usize << i) + 1;
        // torch.linspace(0.1, 1, items) in f32 as torch computes it: each half from its own
        // end, with a fused multiply-add (one rounding), which bitsandbytes' table inherits.
        let boundaries: Vec<f32> = (0..items)
            .map(|k| {
                if items == 1 {
                    0.1
                } else {
                    let step = (1.0f32 - 0.1) / (items - 1) as f32;
                    if k < items / 2 {
                        step.mul_add(k as f32, 0.1)
                    } else {
                        (-step).mul_add((items - 1 - k) as f32, 1.0)
                    }
                }
            })
            .collect();
        let scale = 10f64.powi(-(max_exponent_bits - 1) + i) as f32;
        for pair in boundaries.windows(2) {
            let mean = (pair[0] + pair[1]) / 2.0;
            data.push(scale * mean);
            data.push(-scale * mean);
        }
    }
    data.push(0.0);
    data.push(1.0);
    data.sort_by(f32::total_cmp);
    let mut out = [0.0f32; 256];
    out.copy_from_slice(&data);
    out
}

impl Int8Weight {
    /// `CB` `[d_output, d_input]`: the int8 values (unpacked from words where they are packed).
    pub fn int_values(&self) -> Tensor<2, Int> {
        let values = self.values.val();
        if !self.in_words {
            return values;
        }
        // Two's complement bytes back to -128..=127.
        let bytes = unpack_bytes(values, self.d_input);
        let negative = bytes.clone().greater_equal_elem(128).int().mul_scalar(256);
        bytes - negative
    }

    /// The weight as f32 `[d_input, d_output]` (Burn's layout).
    pub fn dequantize(&self) -> Tensor<2> {
        self.dequantize_values(self.int_values().float())
    }

    /// `CB` as f32 `[d_output, d_input]` scaled by its rows' `SCB * (1 / 127)` (bitsandbytes'
    /// `CB * SCB.mul(1.0 / 127.0)`, rounding for rounding), in Burn's layout.
    fn dequantize_values(&self, values: Tensor<2>) -> Tensor<2> {
        let scales = self
            .row_absmax
            .val()
            .mul_scalar(1.0 / 127.0)
            .unsqueeze_dim::<2>(1);
        (values * scales).transpose()
    }

    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        // Unpacked once (from words on devices without 8-bit integers) for both products.
        let values = self.int_values().float();
        let weight = self.dequantize_values(values.clone());
        let threshold = match self.threshold {
            Some(t) if t > 0.0 => t,
            _ => return linear(x, weight, None),
        };
        // LLM.int8 as bitsandbytes' MatMul8bitLt computes it: the activations rounded to
        // float16; columns holding any |x| >= threshold multiplied in full precision (the
        // original values) by the dequantized weight; the rest as row-wise absmax int8
        // (the outliers themselves left out of their rows' absmax, the rest of their columns
        // not) times the int8 weight, dequantized by SCA * SCB / 127².
        let dims = x.dims();
        let d_input = dims[D - 1];
        let rows = x.shape().num_elements() / d_input.max(1);
        let flat: Tensor<2> = x.clone().reshape([rows, d_input]);
        let half = to_half_precision(flat.clone().detach());
        let magnitude = half.clone().abs();
        let outlier = magnitude.clone().greater_equal_elem(threshold);
        let outlier_columns = outlier.clone().any_dim(0).expand([rows, d_input]);
        let row_max = magnitude.mask_fill(outlier, 0.0).max_dim(1);
        // `127 / absmax` as torch evaluates it (reciprocal, then times 127); an all-zero row
        // quantizes to zeros.
        let scale = row_max
            .clone()
            .recip()
            .mul_scalar(127.0)
            .mask_fill(row_max.clone().equal_elem(0.0), 0.0);
        let x_q = (half * scale)
            .round()
            .mask_fill(outlier_columns.clone(), 0.0);
        let w_q = values.transpose();
        let y_inliers = x_q.matmul(w_q)
            * (row_max * self.row_absmax.val().unsqueeze_dim::<2>(0))
            * (1.0 / (127.0 * 127.0));
        let outliers = outlier_columns.float();
        let tracked = flat.is_autodiff();
        let approx = y_inliers + (flat.clone() * outliers).matmul(weight.clone());
        // Gradients flow as through the dequantized weight (bitsandbytes' backward does the
        // same); the forward value is the decomposed product. Without autodiff (inference,
        // and `nn::lean`'s frozen layers, whose backward is their own) the exact product
        // would only be cancelled out: a third matmul saved.
        let y = if tracked {
            let exact = flat.matmul(weight);
            exact.clone() + (approx - exact).detach()
        } else {
            approx
        };
        let mut out_dims = dims;
        out_dims[D - 1] = self.row_absmax.val().dims()[0];
        y.reshape(out_dims)
    }
}

impl Nf4Weight {
    /// The weight as f32 `[d_input, d_output]` (Burn's layout).
    pub fn dequantize(&self) -> Tensor<2> {
        let device = self.packed.val().device();
        let [d_output, d_input] = self.shape;
        let code = Tensor::<1>::from_data(TensorData::new(NF4_CODE.to_vec(), [16]), &device);
        let dynamic =
            Tensor::<1>::from_data(TensorData::new(dynamic_map().to_vec(), [256]), &device);
        // Block absmax: dynamic code * group scale + offset.
        let total = d_output * d_input;
        let n_blocks = total.div_ceil(self.block_size);
        let codes = self.absmax_codes.val();
        let group = self
            .absmax_scale
            .val()
            .unsqueeze_dim::<2>(1)
            .repeat_dim(1, self.absmax_block_size)
            .reshape([-1])
            .slice(0..n_blocks);
        // Indices are stored as u8 (or in words); `select` takes the device's default integer
        // type.
        let codes = stored_bytes_1d(codes, self.in_words, n_blocks);
        let absmax = dynamic.select(0, codes) * group + self.absmax_offset;
        // Unpack: high nibble first.
        let packed = stored_bytes_1d(self.packed.val(), self.in_words, total.div_ceil(2));
        let high = packed.clone().div_scalar(16);
        let low = packed.remainder_scalar(16);
        let indices = Tensor::stack::<2>(vec![high, low], 1).reshape([-1]);
        let values = code.select(0, indices).slice(0..total);
        let padded = n_blocks * self.block_size;
        let values = if padded > total {
            Tensor::cat(vec![values, Tensor::zeros([padded - total], &device)], 0)
        } else {
            values
        };
        let blocks = values.reshape([n_blocks, self.block_size]) * absmax.unsqueeze_dim::<2>(1);
        blocks
            .reshape([-1])
            .slice(0..total)
            .reshape([d_output, d_input])
            .transpose()
    }
}

impl LinearWeight {
    /// Where the weight lives.
    pub fn device(&self) -> burn::tensor::Device {
        match self {
            Self::Dense(w) => w.device(),
            Self::Int8(w) => w.row_absmax.device(),
            Self::Nf4(w) => w.absmax_scale.device(),
            Self::DynamicInt8(w) => w.device(),
        }
    }

    /// The weight as f32 `[d_input, d_output]`, dequantized if need be.
    pub fn dense(&self) -> Tensor<2> {
        match self {
            Self::Dense(w) => w.val(),
            Self::Int8(w) => w.dequantize(),
            Self::Nf4(w) => w.dequantize(),
            Self::DynamicInt8(w) => w.dequantize(),
        }
    }

    /// `x W` for a quantized (frozen) weight. With autodiff, the product is recorded as one op
    /// whose backward dequantizes the weight again for `dx = dy Wᵀ` (bitsandbytes does the
    /// same), so the graph keeps the int8/NF4 storage rather than an f32 copy of the weight
    /// and the temporaries of the outlier decomposition.
    fn frozen_forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let plain = |weight: &Self, x: Tensor<D>| match weight {
            Self::Int8(w) => w.forward(x),
            Self::Nf4(w) => linear(x, w.dequantize(), None),
            Self::Dense(w) => linear(x, w.val(), None),
            Self::DynamicInt8(w) => w.forward(x, None),
        };
        if !super::lean::applies(&x) {
            return plain(self, x);
        }
        // The weight's own tensors without autodiff (shared storage, not a copy).
        let weight = self.valid();
        let output = plain(&weight, x.clone().inner());
        let backward: super::lean::GradFn<1, D, D> = Arc::new(move |grad: Tensor<D>, _| {
            [Some(linear(grad, weight.dense().transpose(), None))].into()
        });
        super::lean::record(&[x], output, backward)
    }

    /// `[d_input, d_output]`.
    pub fn dims(&self) -> [usize; 2] {
        match self {
            Self::Dense(w) => w.shape().dims(),
            Self::Int8(w) => [w.d_input, w.row_absmax.shape().dims::<1>()[0]],
            Self::Nf4(w) => [w.shape[1], w.shape[0]],
            Self::DynamicInt8(w) => w.dims(),
        }
    }

    /// Bytes the stored weight occupies (values, scales and statistics).
    pub fn stored_bytes(&self) -> usize {
        match self {
            Self::Dense(w) => w.shape().num_elements() * 4,
            Self::Int8(w) => {
                // One byte a value, packed in words where the device has no 8-bit integers.
                w.values.shape().num_elements() * w.values.val().dtype().size()
                    + w.row_absmax.shape().num_elements() * 4
            }
            Self::Nf4(w) => {
                (w.packed.shape().num_elements() + w.absmax_codes.shape().num_elements())
                    * w.packed.val().dtype().size()
                    + w.absmax_scale.shape().num_elements() * 4
                    + 4
            }
            Self::DynamicInt8(w) => w.stored_bytes(),
        }
    }
}

impl Linear {
    /// A dense layer from Burn-layout parameters.
    pub fn new(
        path: impl Into<String>,
        weight: Param<Tensor<2>>,
        bias: Option<Param<Tensor<1>>>,
    ) -> Self {
        Self {
            weight: LinearWeight::Dense(weight),
            bias,
            adapters: Vec::new(),
            saved: Vec::new(),
            path: path.into(),
            transformers5_path: None,
            active_adapter: None,
            compute_dtype: None,
            tied: false,
        }
    }

    /// An output projection tied to an embedding table `[vocab, d]` (`lm_head`/`proj_out` when
    /// `tie_word_embeddings`): its weight is a transposed view of the table's buffer, not a
    /// copy, and parameter counts take it once (`tied`).
    pub fn tied_to(path: impl Into<String>, embedding: &Param<Tensor<2>>) -> Self {
        let table = embedding.val();
        // A fresh leaf over the same buffer (a transpose recorded on an autodiff device could
        // not be a parameter).
        let weight = if table.is_autodiff() {
            table.inner().transpose().autodiff()
        } else {
            table.transpose()
        };
        // Frozen: training goes through the table itself ([`forward_tied`](Self::forward_tied)).
        let mut linear = Self::new(
            path,
            Param::from_tensor(weight).set_require_grad(false),
            None,
        );
        linear.tied = true;
        linear
    }

    /// The forward pass of a layer made by [`tied_to`](Self::tied_to), through the embedding
    /// `table`'s own parameter: full fine-tuning then updates the one shared tensor, as
    /// PyTorch's tied weights do. Layers with adapters or saved copies (and untied ones) take
    /// [`forward`](Self::forward).
    pub fn forward_tied<const D: usize>(
        &self,
        x: Tensor<D>,
        table: &Param<Tensor<2>>,
    ) -> Tensor<D> {
        let plain = self.tied
            && self.adapters.is_empty()
            && self.saved.is_empty()
            && matches!(self.weight, LinearWeight::Dense(_));
        if !plain {
            return self.forward(x);
        }
        self.forward_with(x, Some(table.val().transpose()))
    }

    /// `[d_input, d_output]`.
    pub fn dims(&self) -> [usize; 2] {
        self.weight.dims()
    }

    /// `x W + b` on `[..., d_input]`, plus the active adapter's LoRA path; with an active saved
    /// copy (`modules_to_save`), the copy's `x W + b` instead.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.forward_with(x, None)
    }

    /// [`forward`](Self::forward) with `dense` (`[d_input, d_output]`) in place of a dense
    /// weight.
    fn forward_with<const D: usize>(&self, x: Tensor<D>, dense: Option<Tensor<2>>) -> Tensor<D> {
        // One `[rows, d_input]` product instead of a batched one: Burn keeps `[batch, seq, d]`
        // inputs batched, and the CPU backend then packs the weight again for every batch entry
        // and gives each thread whole entries; as rows it packs once and splits the product.
        if D > 2 {
            let dims = x.dims();
            let rows = dims[..D - 1].iter().product::<usize>();
            let y = self.forward_rows::<2>(x.reshape([rows, dims[D - 1]]), dense);
            let mut out_dims = dims;
            out_dims[D - 1] = y.dims()[1];
            return y.reshape(out_dims);
        }
        self.forward_rows(x, dense)
    }

    fn forward_rows<const D: usize>(&self, x: Tensor<D>, dense: Option<Tensor<2>>) -> Tensor<D> {
        if let Some(copy) = self.active_copy() {
            return linear(x, copy.weight.val(), copy.bias.as_ref().map(Param::val));
        }
        let bias = self.bias.as_ref().map(Param::val);
        if let Some(dtype) = self.compute_dtype {
            return self.forward_autocast(x, bias, dtype, dense);
        }
        let mut y = match &self.weight {
            LinearWeight::Dense(w) if D == 2 => {
                let dims = x.dims();
                let x2: Tensor<2> = x.clone().reshape([dims[0], dims[D - 1]]);
                let y = super::cpu_kernels::linear(x2, dense.unwrap_or_else(|| w.val()), bias);
                let mut out_dims = dims;
                out_dims[D - 1] = y.dims()[1];
                y.reshape(out_dims)
            }
            LinearWeight::Dense(w) => linear(x.clone(), dense.unwrap_or_else(|| w.val()), bias),
            LinearWeight::Int8(_) | LinearWeight::Nf4(_) => {
                add_bias(self.weight.frozen_forward(x.clone()), bias)
            }
            // Inference only: the bias is added inside the kernel.
            LinearWeight::DynamicInt8(w) => w.forward(x.clone(), bias),
        };
        if let Some(adapter) = self.active() {
            y = y + adapter.forward(x);
        }
        y
    }

    /// The forward pass under autocast: base product in `dtype`, adapters in full precision
    /// (PEFT keeps adapter weights f32 for stable updates).
    fn forward_autocast<const D: usize>(
        &self,
        x: Tensor<D>,
        bias: Option<Tensor<1>>,
        dtype: FloatDType,
        dense: Option<Tensor<2>>,
    ) -> Tensor<D> {
        let input_dtype = x.dtype();
        let weight = dense.unwrap_or_else(|| self.weight.dense());
        let y = linear(
            x.clone().cast(dtype),
            weight.cast(dtype),
            bias.map(|b| b.cast(dtype)),
        )
        .cast(input_dtype);
        match self.active() {
            Some(adapter) => y + adapter.forward(x),
            None => y,
        }
    }

    /// The active adapter's copy of this layer, if it saved one.
    pub fn active_copy(&self) -> Option<&SavedLinear> {
        let name = self.active_adapter.as_deref()?;
        self.saved.iter().find(|s| s.name == name)
    }

    /// The adapter the forward pass adds: the active one, unless it is merged.
    fn active(&self) -> Option<&LoraAdapter> {
        let name = self.active_adapter.as_deref()?;
        self.adapters.iter().find(|a| a.name == name && !a.merged)
    }
}

fn add_bias<const D: usize>(y: Tensor<D>, bias: Option<Tensor<1>>) -> Tensor<D> {
    match bias {
        Some(b) => y + b.unsqueeze(),
        None => y,
    }
}

impl LoraAdapter {
    /// `B(A(dropout(x))) * scaling`, never forming the `[d_input, d_output]` product.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let h = linear(crate::nn::dropout(&self.dropout, x), self.a.val(), None);
        linear(h, self.b.val(), None).mul_scalar(self.scaling)
    }

    /// `A B * scaling` in Burn's layout `[d_input, d_output]` (PEFT's `get_delta_weight`, transposed).
    pub fn delta_weight(&self) -> Tensor<2> {
        self.a.val().matmul(self.b.val()).mul_scalar(self.scaling)
    }

    /// The adapter's rank `r`.
    pub fn rank(&self) -> usize {
        self.a.shape().dims::<2>()[1]
    }
}

/// Models (and their parts) whose [`Linear`] layers can be visited, each knowing its Hugging
/// Face module path: how PEFT-style adapters and quantization reach into any architecture.
pub trait Linears {
    /// Calls `f` on every linear layer.
    fn visit_linears(&self, f: &mut dyn FnMut(&Linear));
    /// Calls `f` on every linear layer, mutably.
    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&mut Linear));

    /// Every 1-D float parameter of the whole module (biases, norm scales), linear layers'
    /// included: adapters that train parameters of other layers (PEFT's `bias="all"`) reach
    /// them here, by the checkpoint names [`crate::hub::param_name`] gives. `impl_linears!`
    /// implements it for any module; the default has none.
    fn visit_vectors(&self, _f: &mut dyn FnMut(&Param<Tensor<1>>)) {}

    /// Maps every parameter [`visit_vectors`](Self::visit_vectors) visits.
    fn map_vectors(&mut self, _f: &mut dyn FnMut(Param<Tensor<1>>) -> Param<Tensor<1>>) {}
}

/// [`Linears::visit_vectors`] of a module.
pub fn visit_module_vectors<M: Module>(module: &M, f: &mut dyn FnMut(&Param<Tensor<1>>)) {
    struct Vectors<'a>(&'a mut dyn FnMut(&Param<Tensor<1>>));
    impl ModuleVisitor for Vectors<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(vector) = (param as &dyn Any).downcast_ref::<Param<Tensor<1>>>() {
                (self.0)(vector)
            }
        }
    }
    module.visit(&mut Vectors(f));
}

/// [`Linears::map_vectors`] of a module.
pub fn map_module_vectors<M: Module>(
    module: &mut M,
    f: &mut dyn FnMut(Param<Tensor<1>>) -> Param<Tensor<1>>,
) {
    struct Vectors<'a>(&'a mut dyn FnMut(Param<Tensor<1>>) -> Param<Tensor<1>>);
    impl ModuleMapper for Vectors<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let param: Box<dyn Any> = Box::new(param);
            let param = match param.downcast::<Param<Tensor<1>>>() {
                Ok(vector) => Box::new((self.0)(*vector)) as Box<dyn Any>,
                Err(other) => other,
            };
            *param
                .downcast::<Param<Tensor<D>>>()
                .expect("the same parameter type")
        }
    }
    // Tensors are reference-counted handles: the clone is cheap and dropped right away.
    *module = module.clone().map(&mut Vectors(f));
}

impl Linears for Linear {
    fn visit_linears(&self, f: &mut dyn FnMut(&Linear)) {
        f(self)
    }
    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&mut Linear)) {
        f(self)
    }
    fn visit_vectors(&self, f: &mut dyn FnMut(&Param<Tensor<1>>)) {
        visit_module_vectors(self, f)
    }
    fn map_vectors(&mut self, f: &mut dyn FnMut(Param<Tensor<1>>) -> Param<Tensor<1>>) {
        map_module_vectors(self, f)
    }
}

impl<T: Linears> Linears for Option<T> {
    fn visit_linears(&self, f: &mut dyn FnMut(&Linear)) {
        if let Some(inner) = self {
            inner.visit_linears(f)
        }
    }
    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&mut Linear)) {
        if let Some(inner) = self {
            inner.visit_linears_mut(f)
        }
    }
    fn visit_vectors(&self, f: &mut dyn FnMut(&Param<Tensor<1>>)) {
        if let Some(inner) = self {
            inner.visit_vectors(f)
        }
    }
    fn map_vectors(&mut self, f: &mut dyn FnMut(Param<Tensor<1>>) -> Param<Tensor<1>>) {
        if let Some(inner) = self {
            inner.map_vectors(f)
        }
    }
}

impl<T: Linears> Linears for Vec<T> {
    fn visit_linears(&self, f: &mut dyn FnMut(&Linear)) {
        self.iter().for_each(|inner| inner.visit_linears(f))
    }
    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&mut Linear)) {
        self.iter_mut().for_each(|inner| inner.visit_linears_mut(f))
    }
    fn visit_vectors(&self, f: &mut dyn FnMut(&Param<Tensor<1>>)) {
        self.iter().for_each(|inner| inner.visit_vectors(f))
    }
    fn map_vectors(&mut self, f: &mut dyn FnMut(Param<Tensor<1>>) -> Param<Tensor<1>>) {
        self.iter_mut().for_each(|inner| inner.map_vectors(f))
    }
}

impl<T: Linears + ?Sized> Linears for Box<T> {
    fn visit_linears(&self, f: &mut dyn FnMut(&Linear)) {
        (**self).visit_linears(f)
    }
    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&mut Linear)) {
        (**self).visit_linears_mut(f)
    }
    fn visit_vectors(&self, f: &mut dyn FnMut(&Param<Tensor<1>>)) {
        (**self).visit_vectors(f)
    }
    fn map_vectors(&mut self, f: &mut dyn FnMut(Param<Tensor<1>>) -> Param<Tensor<1>>) {
        (**self).map_vectors(f)
    }
}

/// Mixed precision for every linear layer of `model` (see [`Linear::compute_dtype`]);
/// `None` turns it off.
pub fn set_compute_dtype<M: Linears + ?Sized>(model: &mut M, dtype: Option<FloatDType>) {
    model.visit_linears_mut(&mut |linear| linear.compute_dtype = dtype);
}

/// `impl Linears` for a module struct by listing its fields that hold linear layers.
#[macro_export]
macro_rules! impl_linears {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        impl $crate::nn::Linears for $ty {
            fn visit_linears(&self, f: &mut dyn FnMut(&$crate::nn::Linear)) {
                $( $crate::nn::Linears::visit_linears(&self.$field, f); )*
            }
            fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&mut $crate::nn::Linear)) {
                $( $crate::nn::Linears::visit_linears_mut(&mut self.$field, f); )*
            }
            fn visit_vectors(
                &self,
                f: &mut dyn FnMut(&burn::module::Param<burn::tensor::Tensor<1>>),
            ) {
                $crate::nn::visit_module_vectors(self, f)
            }
            fn map_vectors(
                &mut self,
                f: &mut dyn FnMut(
                    burn::module::Param<burn::tensor::Tensor<1>>,
                ) -> burn::module::Param<burn::tensor::Tensor<1>>,
            ) {
                $crate::nn::map_module_vectors(self, f)
            }
        }
    };
}
