//! Convolution blocks of CNN backbones, loaded from PyTorch checkpoints.

use crate::host::HostRead;
use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{Tensor, TensorData};

use crate::error::{ModelError, Result};
use crate::hub::WeightScope;

/// `FrozenBatchNorm2d` (torchvision / DETR): BatchNorm with fixed statistics, folded at load
/// time into one per-channel scale and shift, computed as DETR does:
/// `scale = weight * rsqrt(running_var + 1e-5)`, `shift = bias - running_mean * scale`.
#[derive(Module, Debug)]
pub struct FrozenBatchNorm2d {
    /// Per-channel scale.
    pub scale: Param<Tensor<1>>,
    /// Per-channel shift.
    pub shift: Param<Tensor<1>>,
}

impl FrozenBatchNorm2d {
    /// `x * scale + shift` per channel, on `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [channels] = self.scale.dims();
        x * self.scale.val().reshape([1, channels, 1, 1])
            + self.shift.val().reshape([1, channels, 1, 1])
    }
}

impl WeightScope<'_> {
    /// A PyTorch `nn.Conv2d` (`{name}.weight` `[out, in, k, k]`, optional `{name}.bias`) with
    /// symmetric zero padding.
    pub fn conv2d(
        &self,
        name: &str,
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
    ) -> Result<Conv2d> {
        let scope = self.push(name);
        let [d_in, d_out] = channels;
        let weight = scope.tensor("weight", [d_out, d_in, kernel, kernel])?;
        let bias = if bias {
            // Named (`hub::param_name`): PEFT's bias="all" trains it.
            Some(scope.param("bias", [d_out])?)
        } else {
            None
        };
        Ok(Conv2d {
            weight: Param::from_tensor(weight),
            bias,
            stride: [stride, stride],
            kernel_size: [kernel, kernel],
            dilation: [1, 1],
            groups: 1,
            padding: PaddingConfig2d::Explicit(padding, padding, padding, padding),
        })
    }

    /// A `BatchNorm2d` / `FrozenBatchNorm2d` (`weight`, `bias`, `running_mean`, `running_var`),
    /// folded into a [`FrozenBatchNorm2d`].
    pub fn frozen_batch_norm(&self, name: &str, channels: usize) -> Result<FrozenBatchNorm2d> {
        let scope = self.push(name);
        let read = |tensor: &str| -> Result<Vec<f32>> {
            scope
                .tensor(tensor, [channels])?
                .into_host_data()
                .try_into_vec::<f32>()
                .map_err(|e| ModelError::CorruptWeights {
                    path: scope.name(tensor).into(),
                    message: format!("{e:?}"),
                })
        };
        let (weight, bias) = (read("weight")?, read("bias")?);
        let (mean, var) = (read("running_mean")?, read("running_var")?);
        let scale: Vec<f32> = weight
            .iter()
            .zip(&var)
            .map(|(w, v)| w * (1.0 / (v + 1e-5).sqrt()))
            .collect();
        let shift: Vec<f32> = bias
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        let device = self.device();
        Ok(FrozenBatchNorm2d {
            scale: Param::from_tensor(Tensor::from_data(
                TensorData::new(scale, [channels]),
                device,
            )),
            shift: Param::from_tensor(Tensor::from_data(
                TensorData::new(shift, [channels]),
                device,
            )),
        })
    }
}
