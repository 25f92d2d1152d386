use burn::tensor::{Tensor, activation};
use serde::Deserialize;

/// Activation functions by their Hugging Face names (`hidden_act`, `activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Activation {
    /// Exact GELU with erf (`"gelu"`).
    #[default]
    #[serde(rename = "gelu")]
    Gelu,
    /// Tanh approximation (`"gelu_new"`, `"gelu_pytorch_tanh"`, `"gelu_fast"`).
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    /// `x * sigmoid(1.702 x)` (`"quick_gelu"`).
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// `max(x, 0)` (`"relu"`).
    #[serde(rename = "relu")]
    Relu,
    /// `x * sigmoid(x)` (`"silu"`, `"swish"`).
    #[serde(rename = "silu", alias = "swish")]
    Silu,
    /// `"tanh"`.
    #[serde(rename = "tanh")]
    Tanh,
    /// `"sigmoid"`.
    #[serde(rename = "sigmoid")]
    Sigmoid,
}

impl Activation {
    /// Applies the activation elementwise.
    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Gelu => super::lean::gelu(x),
            Self::GeluTanh => activation::gelu_approximate(x),
            Self::QuickGelu => x.clone() * activation::sigmoid(x * 1.702),
            Self::Relu => activation::relu(x),
            Self::Silu => activation::silu(x),
            Self::Tanh => activation::tanh(x),
            Self::Sigmoid => activation::sigmoid(x),
        }
    }
}
