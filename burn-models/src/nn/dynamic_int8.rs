//! Int8 inference on the CPU: dynamic quantization of a loaded model's linear layers, as
//! PyTorch's `torch.ao.quantization.quantize_dynamic` and CTranslate2's `int8` compute type do
//! it. Each weight becomes int8 with one scale per output row (once, here); at run time each
//! input row is quantized with its own scale, the product is accumulated in i32 (AVX-512 VNNI
//! where the CPU has it, a portable loop otherwise) and scaled back to f32, the bias added in f32.
//!
//! It is an inference mode, separate from burn-peft's int8 training base (bitsandbytes'
//! LLM.int8 semantics): no outlier decomposition, no gradients through the weight.

use std::sync::Arc;

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
};
use burn::tensor::{Device, Tensor, TensorData};

use super::cpu_kernels::int8::PackedInt8;
use super::{Linear, LinearWeight, Linears};
use crate::error::{ModelError, Result};

/// A frozen linear weight quantized for [dynamic int8 inference](quantize_dynamic).
#[derive(Clone, Debug)]
pub struct DynamicInt8Weight {
    packed: Arc<PackedInt8>,
    device: Device,
}

impl DynamicInt8Weight {
    /// Quantizes `weight` (`[d_input, d_output]`, Burn's layout), read back to the host.
    pub fn quantize(weight: &Tensor<2>) -> Result<Self> {
        let [d_input, d_output] = weight.dims();
        let values = weight
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::InvalidInput(format!("reading a weight: {e:?}")))?;
        Ok(Self {
            packed: Arc::new(PackedInt8::quantize(&values, d_input, d_output)),
            device: weight.device(),
        })
    }

    /// `[d_input, d_output]`.
    pub fn dims(&self) -> [usize; 2] {
        self.packed.dims()
    }

    /// The device the weight lives on.
    pub fn device(&self) -> Device {
        self.device.clone()
    }

    /// Bytes of the int8 values, the per-column scales and the kernel's column sums.
    pub fn stored_bytes(&self) -> usize {
        self.packed.stored_bytes()
    }

    /// The weight the products use (`q · scale`), f32 `[d_input, d_output]`.
    pub fn dequantize(&self) -> Tensor<2> {
        let [d_input, d_output] = self.dims();
        Tensor::from_data(
            TensorData::new(self.packed.dequantize(), [d_input, d_output]),
            &self.device,
        )
    }

    /// `x W + b` with `x` quantized per row. Inputs off the CPU backend, or with autodiff,
    /// multiply by the dequantized weight instead.
    pub fn forward<const D: usize>(&self, x: Tensor<D>, bias: Option<Tensor<1>>) -> Tensor<D> {
        let dims = x.dims();
        let [d_input, d_output] = self.dims();
        let rows = x.shape().num_elements() / d_input.max(1);
        #[cfg(feature = "flex")]
        if let Some(y) = self.forward_flex(&x, rows, bias.as_ref()) {
            let mut out_dims = dims;
            out_dims[D - 1] = d_output;
            return y.reshape(out_dims);
        }
        let y = burn::tensor::module::linear(x, self.dequantize(), None);
        match bias {
            Some(b) => y + b.unsqueeze(),
            None => y,
        }
    }

    #[cfg(feature = "flex")]
    fn forward_flex<const D: usize>(
        &self,
        x: &Tensor<D>,
        rows: usize,
        bias: Option<&Tensor<1>>,
    ) -> Option<Tensor<2>> {
        use burn::tensor::{DType, Shape};
        use burn_dispatch::backends::Flex;
        use burn_dispatch::backends::flex::FlexTensor;
        let contiguous = |t: FlexTensor| {
            if t.is_contiguous() {
                t
            } else {
                t.to_contiguous()
            }
        };
        let flex_f32 = |t: Tensor<D>| -> Option<FlexTensor> {
            (t.dtype() == DType::F32)
                .then(|| t.try_into_primitive::<Flex>().ok())
                .flatten()
                .map(contiguous)
        };
        let [d_input, d_output] = self.dims();
        let input = flex_f32(x.clone())?;
        let bias = match bias {
            Some(b) if b.dtype() == DType::F32 => {
                Some(contiguous(b.clone().try_into_primitive::<Flex>().ok()?))
            }
            Some(_) => return None,
            None => None,
        };
        let mut out = FlexTensor::empty(Shape::new([rows, d_output]), DType::F32);
        let values = &input.storage::<f32>()[input.layout().start_offset()..][..rows * d_input];
        let bias_values = bias
            .as_ref()
            .map(|b| &b.storage::<f32>()[b.layout().start_offset()..][..d_output]);
        self.packed
            .matmul(values, rows, bias_values, out.storage_mut::<f32>());
        Some(Tensor::from_primitive::<Flex>(out))
    }
}

impl Module for DynamicInt8Weight {
    fn visit<V: ModuleVisitor>(&self, _visitor: &mut V) {}

    fn map<M: ModuleMapper>(self, _mapper: &mut M) -> Self {
        self
    }

    fn collect_devices(&self, mut devices: Devices) -> Devices {
        if !devices.contains(&self.device) {
            devices.push(self.device.clone());
        }
        devices
    }

    /// The packed weight lives in host memory for the CPU kernels; on another device the
    /// forward pass multiplies by its dequantized copy.
    fn to_device(mut self, device: &Device) -> Self {
        self.device = device.clone();
        self
    }

    fn fork(self, device: &Device) -> Self {
        self.to_device(device)
    }

    fn train(self) -> Self {
        self
    }

    fn valid(&self) -> Self {
        self.clone()
    }

    fn materialize(self) -> Self {
        self
    }
}

impl ModuleDisplayDefault for DynamicInt8Weight {
    fn content(&self, content: Content) -> Option<Content> {
        let [d_input, d_output] = self.dims();
        content
            .add_formatted(&format!("DynamicInt8Weight [{d_input}, {d_output}]"))
            .optional()
    }
}

impl ModuleDisplay for DynamicInt8Weight {}

/// Converts the dense weights of every linear layer of `model` to
/// [dynamic int8](DynamicInt8Weight), for inference on the CPU; returns how many it converted.
/// Layers already quantized for training (int8/NF4 bases) are left as they are, and so are
/// LoRA adapters (added in f32).
pub fn quantize_dynamic<M: Linears + ?Sized>(model: &mut M) -> Result<usize> {
    quantize_dynamic_where(model, |_| true)
}

/// [`quantize_dynamic`] of the layers whose Hugging Face module path `keep` accepts.
pub fn quantize_dynamic_where<M: Linears + ?Sized>(
    model: &mut M,
    mut keep: impl FnMut(&str) -> bool,
) -> Result<usize> {
    let mut converted = 0;
    let mut failure = None;
    model.visit_linears_mut(&mut |linear: &mut Linear| {
        if failure.is_some() || !keep(&linear.path) {
            return;
        }
        let LinearWeight::Dense(weight) = &linear.weight else {
            return;
        };
        let weight = weight.val();
        if let Err(e) = check_cpu(&weight) {
            failure = Some(e);
            return;
        }
        match DynamicInt8Weight::quantize(&weight) {
            Ok(q) => {
                linear.weight = LinearWeight::DynamicInt8(q);
                converted += 1;
            }
            Err(e) => failure = Some(e),
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(converted),
    }
}

/// Dynamic int8 runs on the CPU backend: elsewhere it would only dequantize again.
fn check_cpu(weight: &Tensor<2>) -> Result<()> {
    #[cfg(feature = "flex")]
    if weight
        .clone()
        .try_into_primitive::<burn_dispatch::backends::Flex>()
        .is_ok()
    {
        return Ok(());
    }
    let _ = weight;
    Err(ModelError::Unsupported(format!(
        "dynamic int8 quantization runs on the CPU (flex) backend; the model is on {:?}",
        weight.device()
    )))
}
