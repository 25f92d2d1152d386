use super::Linear;
use burn::module::Module;
use burn::tensor::Tensor;

use super::Activation;

/// Position-wise feed-forward: `down(act(up(x)))`.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// The first projection, to the inner width (`intermediate.dense`, `fc1`, `wi`, ...).
    pub up: Linear,
    /// The second projection, back to the model width (`output.dense`, `fc2`, `wo`, ...).
    pub down: Linear,
    /// The activation between them.
    #[module(skip)]
    pub activation: Activation,
}

impl FeedForward {
    /// `down(act(up(x)))` on `[..., d_model]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.down
            .forward(self.activation.forward(self.up.forward(x)))
    }
}

/// Gated feed-forward: `down(act(gate(x)) * up(x))` (T5 v1.1's `wi_0`/`wi_1`/`wo`).
#[derive(Module, Debug)]
pub struct GatedFeedForward {
    /// The gated projection (`wi_0`).
    pub gate: Linear,
    /// The linear projection (`wi_1`).
    pub up: Linear,
    /// The output projection (`wo`).
    pub down: Linear,
    /// The activation of the gate.
    #[module(skip)]
    pub activation: Activation,
}

impl GatedFeedForward {
    /// `down(act(gate(x)) * up(x))` on `[..., d_model]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let gated = self.activation.forward(self.gate.forward(x.clone()));
        self.down.forward(gated * self.up.forward(x))
    }
}
crate::impl_linears!(FeedForward { up, down });
crate::impl_linears!(GatedFeedForward { gate, up, down });
