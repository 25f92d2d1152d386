//! `bias="all"` beyond the linear layers: PEFT trains and saves every parameter named
//! `*.bias` (`LayerNorm.bias`, `conv1.bias`, ...). Those layers do not carry their module
//! path the way `burn_models::nn::Linear` does; `burn_models::hub::param_name` gives the
//! checkpoint name each of their parameters was loaded under, and `Linears::visit_vectors`
//! reaches them. (Linear biases are handled with their layer, whose PEFT keys depend on
//! whether it has LoRA; they carry no recorded name.)

use std::collections::HashMap;

use burn::module::ParamId;
use burn::tensor::{Device, Tensor};
use burn_models::hub::param_name;
use burn_models::nn::Linears;

/// Whether PEFT's `bias="all"` selects a parameter of this name (`n == "bias" or
/// n.endswith(".bias")`).
fn is_bias(name: &str) -> bool {
    name == "bias" || name.ends_with(".bias")
}

/// A named bias of a layer other than `Linear`.
pub(crate) struct NamedBias {
    /// Its checkpoint name (`bert.embeddings.LayerNorm.bias`).
    pub name: String,
    pub id: ParamId,
    pub value: Tensor<1>,
}

impl NamedBias {
    /// Elements of the bias.
    pub fn len(&self) -> usize {
        self.value.shape().num_elements()
    }

    /// The device the bias lives on.
    pub fn device(&self) -> Device {
        self.value.device()
    }
}

/// The named biases of layers other than `Linear`, in model order.
pub(crate) fn named_biases<M: Linears + ?Sized>(model: &M) -> Vec<NamedBias> {
    let mut out = Vec::new();
    model.visit_vectors(&mut |param| {
        if let Some(name) = param_name(param.id).filter(|n| is_bias(n)) {
            out.push(NamedBias {
                name,
                id: param.id,
                value: param.val(),
            });
        }
    });
    out
}

/// Marks every named bias trainable (the model is otherwise frozen by `get_peft_model`).
pub(crate) fn train_biases<M: Linears + ?Sized>(model: &mut M) {
    model.map_vectors(&mut |param| {
        if param_name(param.id).is_some_and(|n| is_bias(&n)) {
            param.set_require_grad(true)
        } else {
            param
        }
    });
}

/// Replaces the values of the biases in `values` (by parameter id), keeping each
/// parameter's id (so its name) and gradient setting.
pub(crate) fn set_biases<M: Linears + ?Sized>(
    model: &mut M,
    mut values: HashMap<ParamId, Tensor<1>>,
) {
    model.map_vectors(&mut |param| match values.remove(&param.id) {
        Some(value) => param.map(|old| value.set_require_grad(old.is_require_grad())),
        None => param,
    });
}
