use super::Linear;
use burn::module::Module;
use burn::tensor::Tensor;

use super::Activation;

/// Position-wise feed-forward: `down(act(up(x)))`.
#[derive(Module, Debug)]
pub struct FeedForward {
    pub up: Linear,
    pub down: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl FeedForward {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.down
            .forward(self.activation.forward(self.up.forward(x)))
    }
}

/// Gated feed-forward: `down(act(gate(x)) * up(x))` (T5 v1.1's `wi_0`/`wi_1`/`wo`).
#[derive(Module, Debug)]
pub struct GatedFeedForward {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl GatedFeedForward {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let gated = self.activation.forward(self.gate.forward(x.clone()));
        self.down.forward(gated * self.up.forward(x))
    }
}
crate::impl_linears!(FeedForward { up, down });
crate::impl_linears!(GatedFeedForward { gate, up, down });
