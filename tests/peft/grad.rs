//! Gradients reach the adapters (LoRA factors, modules_to_save copies, trained biases) and
//! nothing else, on a dense and on quantized bases.

use super::common::*;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Gradients;
use burn::tensor::Tensor;
use burn_models::heads::SequenceClassifier;
use burn_models::nn::{LinearWeight, Linears};
use burn_peft::quant::Quantization;
use burn_peft::*;

/// Sums the elements of float parameters that received a gradient, and counts those without.
struct GradCount<'a> {
    grads: &'a Gradients,
    with_grad: usize,
    nonzero_grad: usize,
    without_grad: usize,
}

impl ModuleVisitor for GradCount<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let n = param.shape().num_elements();
        match param.val().grad(self.grads) {
            Some(grad) => {
                self.with_grad += n;
                if grad.abs().sum().into_scalar::<f64>() > 0.0 {
                    self.nonzero_grad += n;
                }
            }
            None => self.without_grad += n,
        }
    }
}

/// PEFT's counts for the config named `name` (tests/fixtures/peft-grad.json, written by
/// generate_peft_grad.py from one backward pass of the same loss).
fn peft_counts(name: &str) -> serde_json::Value {
    let path = fixture("peft-grad.json");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    all["configs"][name].clone()
}

/// Elements a quantized base holds as float parameters instead of its weights: PyTorch counts a
/// quantized weight as its logical `out * in` elements, Burn's float parameters hold its scales
/// (the int8 and NF4 bytes are integer tensors).
fn float_elements_saved_by_quantization(model: &impl Linears) -> isize {
    let mut saved = 0isize;
    model.visit_linears(&mut |linear| {
        let [d_in, d_out] = linear.weight.dims();
        let scales = match &linear.weight {
            LinearWeight::Dense(_) => return,
            LinearWeight::Int8(w) => w.row_absmax.shape().num_elements(),
            LinearWeight::Nf4(w) => w.absmax_scale.shape().num_elements(),
            // Dynamic int8 keeps its values and scales outside the module's parameters.
            LinearWeight::DynamicInt8(_) => 0,
        };
        saved += (d_in * d_out) as isize - scales as isize;
    });
    saved
}

/// One backward pass of `(logits ** 2).sum()` on a golden case: the parameters that receive a
/// gradient, and those whose gradient is not all zeros, are PEFT's; so are the trainable and
/// total counts; the frozen float parameters are the rest of the model.
fn check_grads(name: &str, config: LoraConfig, quantize: Option<Quantization>) {
    let device = device().autodiff();
    let mut base = bert("bert-seqcls", &device);
    if let Some(scheme) = quantize {
        quant::quantize_model(&mut base, scheme, &["classifier"]).unwrap();
    }
    let model = get_peft_model(base, config).unwrap();
    let golden = golden("peft-bert-seqcls");
    let logits = model
        .base_model
        .logits(&input(&golden["cases"][1], &device))
        .unwrap();
    let grads = (logits.clone() * logits).sum().backward();
    let mut count = GradCount {
        grads: &grads,
        with_grad: 0,
        nonzero_grad: 0,
        without_grad: 0,
    };
    model.base_model.visit(&mut count);
    let (trainable, all) = model.get_nb_trainable_parameters();
    let peft = peft_counts(name);
    let expected =
        |key: &str| peft[key].as_u64().unwrap_or_else(|| panic!("{name}.{key}")) as usize;
    let what = format!("{name} on {quantize:?}");
    assert_eq!(
        count.with_grad,
        expected("with_grad"),
        "{what}: elements with a gradient"
    );
    assert_eq!(
        count.nonzero_grad,
        expected("nonzero_grad"),
        "{what}: elements with a nonzero gradient"
    );
    assert_eq!(
        (trainable, all),
        (expected("trainable"), expected("all")),
        "{what}: trainable, all"
    );
    let frozen = expected("all") - expected("trainable");
    let frozen_floats = frozen as isize - float_elements_saved_by_quantization(&model.base_model);
    assert_eq!(
        count.without_grad as isize, frozen_floats,
        "{what}: frozen float elements"
    );
}

#[test]
fn gradients_flow_only_into_adapters() {
    let _random = integration_tests::random_stream_lock();
    let config = LoraConfig {
        modules_to_save: Some(vec!["classifier".into()]),
        init_lora_weights: InitLoraWeights::Bool(false), // B != 0: A gets a gradient too
        ..LoraConfig::new(4, 8.0, &["query", "value"])
    };
    check_grads("modules_to_save", config, None);
}

/// With B = 0 (the default initialisation) A's gradient is all zeros: PEFT's nonzero count
/// leaves it out, and so must ours.
#[test]
fn gradients_with_trained_biases() {
    let _random = integration_tests::random_stream_lock();
    let config = LoraConfig {
        bias: Bias::LoraOnly,
        ..LoraConfig::new(2, 4.0, &["query", "intermediate.dense"])
    };
    check_grads("bias_lora_only", config.clone(), None);
    let config = LoraConfig {
        bias: Bias::All,
        ..config
    };
    check_grads("bias_all", config, None);
}

/// A quantized frozen base changes neither what trains nor PEFT's counts.
#[test]
fn gradients_flow_only_into_adapters_on_quantized_bases() {
    let _random = integration_tests::random_stream_lock();
    for scheme in [
        Quantization::Int8 { threshold: None },
        Quantization::Int8 {
            threshold: Some(quant::LLM_INT8_THRESHOLD),
        },
        Quantization::Nf4,
    ] {
        let config = LoraConfig {
            modules_to_save: Some(vec!["classifier".into()]),
            init_lora_weights: InitLoraWeights::Bool(false),
            ..LoraConfig::new(4, 8.0, &["query", "value"])
        };
        check_grads("modules_to_save", config, Some(scheme));
    }
}

/// A few SGD steps on the adapter alone lower the loss; the frozen base does not move.
#[test]
fn training_steps_move_only_the_adapter() {
    let _random = integration_tests::random_stream_lock();
    let device = device().autodiff();
    let config = LoraConfig {
        modules_to_save: Some(vec!["classifier".into()]),
        ..LoraConfig::new(4, 8.0, &["query", "value"])
    };
    let mut model = get_peft_model(bert("bert-seqcls", &device), config).unwrap();
    let golden = golden("peft-bert-seqcls");
    let batch = input(&golden["cases"][1], &device);
    let query_before = model.base_model.bert.encoder.layers[0]
        .attention
        .query
        .weight
        .dense()
        .inner();
    let loss_of = |m: &burn_models::bert::BertForSequenceClassification| {
        let logits = m.logits(&batch).unwrap();
        // Push every logit towards 1.
        (logits - 1.0).powi_scalar(2).mean()
    };
    let first = loss_of(&model.base_model).into_scalar::<f64>();
    for _ in 0..5 {
        let loss = loss_of(&model.base_model);
        let grads = loss.backward();
        model.base_model = model.base_model.map(&mut Sgd {
            grads: &grads,
            lr: 0.05,
        });
    }
    let last = loss_of(&model.base_model).into_scalar::<f64>();
    assert!(last < first * 0.9, "loss {first} -> {last}");
    let query_after = model.base_model.bert.encoder.layers[0]
        .attention
        .query
        .weight
        .dense()
        .inner();
    let moved = max_abs_diff_of(query_after, query_before);
    assert_eq!(moved, 0.0, "the frozen base weight did not change");
}

/// Plain SGD over the parameters that have gradients (the trainable ones).
struct Sgd<'a> {
    grads: &'a Gradients,
    lr: f64,
}

impl burn::module::ModuleMapper for Sgd<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match param.val().grad(self.grads) {
            Some(grad) => {
                let lr = self.lr;
                param.map(|t| (t.inner() - grad.mul_scalar(lr)).autodiff().require_grad())
            }
            None => param,
        }
    }
}
