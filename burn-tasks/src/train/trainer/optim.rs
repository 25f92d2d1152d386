//! The optimizer step as HF's Trainer takes it: AdamW with its no-decay groups, the linear
//! schedule, clipping to the global gradient norm, and fp16's dynamic loss scaling.

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::TrainingArguments;

/// `get_linear_schedule_with_warmup`: the learning rate of optimizer step `step` (from 0).
pub fn linear_schedule(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * step as f64 / warmup.max(1) as f64;
    }
    let remaining = total.saturating_sub(step) as f64;
    base * (remaining / total.saturating_sub(warmup).max(1) as f64).max(0.0)
}

/// Sum of squared gradients over the module's parameters.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let s = grad.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

/// Multiplies every gradient of the module's parameters by `factor`.
pub(super) struct ScaleGrads<'a> {
    pub(super) grads: &'a mut GradientsParams,
    pub(super) factor: f64,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// `torch.nn.utils.clip_grad_norm_` over all parameters together; returns the norm before
/// clipping.
pub fn clip_grad_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let mut norm = SquaredNorm { grads, sum: None };
    model.visit(&mut norm);
    let Some(sum) = norm.sum else { return 0.0 };
    let total = f64::from(sum.sqrt().into_scalar::<f32>());
    if max_norm > 0.0 {
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            model.visit(&mut ScaleGrads {
                grads,
                factor: coef,
            });
        }
    }
    total
}

/// AdamW as HF's Trainer builds it: decay on every parameter but biases and LayerNorm weights.
pub fn build_optimizer(args: &TrainingArguments) -> ModuleOptimizer {
    let adamw = |decay: f64| {
        AdamWConfig::new()
            .with_beta_1(args.adam_beta1 as f32)
            .with_beta_2(args.adam_beta2 as f32)
            .with_epsilon(args.adam_epsilon as f32)
            .with_weight_decay(decay as f32)
            .build()
    };
    let optim = ModuleOptimizer::from(adamw(args.weight_decay));
    if args.weight_decay > 0.0 {
        // Burn names LayerNorm's weight `gamma` under fields named `*norm*`.
        optim.with_group(
            ParamGroup::from_any_predicates(vec!["bias", "norm"]),
            adamw(0.0),
            None,
        )
    } else {
        optim
    }
}

/// `torch.amp.GradScaler`'s dynamic loss scaling for fp16: the loss is multiplied by
/// `scale` before the backward pass so small gradients survive f16; a step whose gradients
/// overflow is skipped and halves the scale, `growth_interval` clean steps double it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GradScaler {
    /// The factor the loss is multiplied by (65536 at the start).
    pub scale: f64,
    /// Clean steps since the last change of scale.
    pub growth_tracker: usize,
    /// Optimizer steps skipped because of non-finite gradients.
    pub skipped_steps: usize,
}

impl GradScaler {
    /// Clean steps after which the scale doubles (torch's `growth_interval`).
    pub const GROWTH_INTERVAL: usize = 2000;

    /// A scaler with torch's initial scale, 2^16.
    pub fn new() -> Self {
        Self {
            scale: 65536.0,
            growth_tracker: 0,
            skipped_steps: 0,
        }
    }

    /// Records a step's outcome; returns whether the optimizer should take it.
    pub fn update(&mut self, finite: bool) -> bool {
        if finite {
            self.growth_tracker += 1;
            if self.growth_tracker == Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.growth_tracker = 0;
            }
        } else {
            self.scale *= 0.5;
            self.growth_tracker = 0;
            self.skipped_steps += 1;
        }
        finite
    }
}

impl Default for GradScaler {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_schedule_as_transformers() {
        // get_linear_schedule_with_warmup(opt, 2, 10) with lr 1.0
        let lrs: Vec<f64> = (0..10).map(|s| linear_schedule(1.0, s, 2, 10)).collect();
        let expected = [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125];
        for (a, b) in lrs.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{lrs:?}");
        }
        assert_eq!(linear_schedule(1.0, 0, 0, 4), 1.0);
        assert_eq!(linear_schedule(1.0, 3, 0, 4), 0.25);
    }
}
