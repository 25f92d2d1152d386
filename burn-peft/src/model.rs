//! `PeftModel`: LoRA adapters on any model whose linear layers know their Hugging Face
//! module paths (`burn_models::nn::Linears`), with PEFT's semantics.

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};
use burn_models::nn::{DynamicInt8Weight, Linear, LinearWeight, Linears, SavedLinear};

use crate::config::{Bias, InitLoraWeights, LoraConfig};
use crate::error::{PeftError, Result};
use crate::{bias, quant};

/// The name PEFT gives the first adapter.
pub const DEFAULT_ADAPTER: &str = "default";

/// A model with named LoRA adapters, one of them active (PEFT's `PeftModel`).
#[derive(Debug)]
pub struct PeftModel<M> {
    /// The model the adapters are attached to (`base_model.model` in PEFT's paths).
    pub base_model: M,
    /// Adapter names and configs, in the order they were added.
    adapters: Vec<(String, LoraConfig)>,
    active: String,
    disabled: bool,
}

/// `get_peft_model(model, config)`: freezes every parameter of `model`, then adds a freshly
/// initialised adapter `"default"` (B = 0, so the output is unchanged) whose LoRA factors,
/// `modules_to_save` copies and (per `bias`) biases are the only trainable parameters.
pub fn get_peft_model<M: Module + Linears>(model: M, config: LoraConfig) -> Result<PeftModel<M>> {
    let mut model = PeftModel {
        base_model: model.no_grad(),
        adapters: Vec::new(),
        active: DEFAULT_ADAPTER.into(),
        disabled: false,
    };
    model.add_adapter(DEFAULT_ADAPTER, config)?;
    Ok(model)
}

impl<M: Linears> PeftModel<M> {
    /// `PeftModel.from_pretrained(model, adapter_dir)`: loads a PEFT adapter directory
    /// (`adapter_config.json` + `adapter_model.safetensors`) as adapter `"default"`.
    pub fn from_pretrained(model: M, adapter_dir: &Path) -> Result<Self> {
        let mut model = Self {
            base_model: model,
            adapters: Vec::new(),
            active: DEFAULT_ADAPTER.into(),
            disabled: false,
        };
        model.load_adapter(adapter_dir, DEFAULT_ADAPTER)?;
        Ok(model)
    }

    /// Adds a new, freshly initialised adapter. The first adapter becomes active.
    pub fn add_adapter(&mut self, name: &str, config: LoraConfig) -> Result<()> {
        config.validate()?;
        self.check_new_name(name)?;
        let mut error = None;
        let mut targeted = 0;
        self.base_model.visit_linears_mut(&mut |linear| {
            if error.is_some() {
                return;
            }
            match attach_new(linear, name, &config) {
                Ok(hit) => targeted += hit as usize,
                Err(e) => error = Some(e),
            }
        });
        if let Some(e) = error {
            return Err(e);
        }
        if targeted == 0 {
            return Err(PeftError::Config(format!(
                "target_modules {:?} matched no linear layer of the model",
                config.target_modules
            )));
        }
        if config.bias == Bias::All {
            // The biases of the other layers (norms, convolutions); linear ones are above.
            bias::train_biases(&mut self.base_model);
        }
        self.adapters.push((name.to_string(), config));
        if self.adapters.len() == 1 {
            self.set_adapter(name)?;
        }
        Ok(())
    }

    /// `load_adapter(dir, adapter_name)`: reads a PEFT adapter directory as adapter `name`.
    /// The first adapter becomes active.
    pub fn load_adapter(&mut self, dir: &Path, name: &str) -> Result<()> {
        self.check_new_name(name)?;
        let config = LoraConfig::from_file(dir)?;
        crate::io::load_into(&mut self.base_model, dir, name, &config)?;
        self.adapters.push((name.to_string(), config));
        if self.adapters.len() == 1 {
            self.set_adapter(name)?;
        }
        Ok(())
    }

    fn check_new_name(&self, name: &str) -> Result<()> {
        if self.adapters.iter().any(|(n, _)| n == name) {
            return Err(PeftError::Adapter(format!(
                "adapter `{name}` already exists"
            )));
        }
        Ok(())
    }

    /// Makes `name` the adapter the forward pass uses.
    pub fn set_adapter(&mut self, name: &str) -> Result<()> {
        if !self.adapters.iter().any(|(n, _)| n == name) {
            return Err(PeftError::Adapter(format!(
                "no adapter `{name}` (have: {})",
                self.adapter_names().join(", ")
            )));
        }
        self.active = name.to_string();
        self.apply_active();
        Ok(())
    }

    /// The name of the adapter in use.
    pub fn active_adapter(&self) -> &str {
        &self.active
    }

    /// The adapters' names, in the order they were added.
    pub fn adapter_names(&self) -> Vec<&str> {
        self.adapters.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The config of adapter `name`, if there is one.
    pub fn config(&self, name: &str) -> Option<&LoraConfig> {
        self.adapters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }

    /// `disable_adapter()`: the base model's forward (LoRA off, original `modules_to_save`),
    /// until [`enable_adapters`](Self::enable_adapters).
    pub fn disable_adapters(&mut self) {
        self.disabled = true;
        self.apply_active();
    }

    /// Undoes [`disable_adapters`](Self::disable_adapters): the active adapter is used again.
    pub fn enable_adapters(&mut self) {
        self.disabled = false;
        self.apply_active();
    }

    fn apply_active(&mut self) {
        let active = (!self.disabled).then(|| self.active.clone());
        self.base_model
            .visit_linears_mut(&mut |linear| linear.active_adapter = active.clone());
    }

    /// `merge_adapter()`: adds `B A * scaling` of the active adapter into the base weights
    /// (dequantizing and requantizing a quantized base, as PEFT does for bitsandbytes).
    pub fn merge_adapter(&mut self) {
        let name = self.active.clone();
        self.base_model.visit_linears_mut(&mut |linear| {
            let Some(index) = linear
                .adapters
                .iter()
                .position(|a| a.name == name && !a.merged)
            else {
                return;
            };
            let delta = linear.adapters[index].delta_weight().detach();
            add_to_weight(linear, delta);
            linear.adapters[index].merged = true;
        });
    }

    /// `unmerge_adapter()`: subtracts every merged adapter from the base weights.
    pub fn unmerge_adapter(&mut self) {
        self.base_model.visit_linears_mut(&mut |linear| {
            for index in 0..linear.adapters.len() {
                if linear.adapters[index].merged {
                    let delta = linear.adapters[index].delta_weight().detach().neg();
                    add_to_weight(linear, delta);
                    linear.adapters[index].merged = false;
                }
            }
        });
    }

    /// `merge_and_unload()`: the base model with the active adapter merged in, its
    /// `modules_to_save` copies in place of the originals, and no adapters left.
    pub fn merge_and_unload(mut self) -> M {
        if !self.disabled {
            self.merge_adapter();
        }
        let active = self.active.clone();
        let disabled = self.disabled;
        self.base_model.visit_linears_mut(&mut |linear| {
            if !disabled && let Some(copy) = linear.saved.iter().find(|s| s.name == active) {
                linear.weight = LinearWeight::Dense(copy.weight.clone());
                linear.bias = copy.bias.clone();
            }
            linear.adapters.clear();
            linear.saved.clear();
            linear.active_adapter = None;
        });
        self.base_model
    }

    /// `save_pretrained(dir)` for adapter `name`: `adapter_config.json` and
    /// `adapter_model.safetensors` with PEFT's key names.
    pub fn save_adapter(&self, dir: &Path, name: &str) -> Result<()> {
        let config = self
            .config(name)
            .ok_or_else(|| PeftError::Adapter(format!("no adapter `{name}` to save")))?;
        crate::io::save(&self.base_model, dir, name, config)
    }

    /// `save_pretrained(dir)` of the active adapter.
    pub fn save_pretrained(&self, dir: &Path) -> Result<()> {
        self.save_adapter(dir, &self.active)
    }

    /// `get_nb_trainable_parameters()`: (trainable, all) counted as PEFT does: the active
    /// adapter's LoRA factors, `modules_to_save` copies and trained biases are trainable; all
    /// parameters include every adapter, and a quantized weight counts its logical elements.
    pub fn get_nb_trainable_parameters(&self) -> (usize, usize)
    where
        M: Module,
    {
        let mut trainable = 0;
        let mut correction: isize = 0;
        let active = &self.active;
        let config = self.config(active);
        self.base_model.visit_linears(&mut |linear| {
            let [d_in, d_out] = linear.dims();
            let has_lora = linear.adapters.iter().any(|a| &a.name == active);
            for adapter in linear.adapters.iter().filter(|a| &a.name == active) {
                trainable += adapter.rank() * (d_in + d_out);
            }
            for copy in linear.saved.iter().filter(|s| &s.name == active) {
                trainable += d_in * d_out + copy.bias.as_ref().map_or(0, |_| d_out);
            }
            let bias_trains = match config.map(|c| c.bias) {
                Some(Bias::All) => true,
                Some(Bias::LoraOnly) => has_lora,
                _ => false,
            };
            if bias_trains && linear.bias.is_some() && linear.saved.is_empty() {
                trainable += d_out;
            }
            correction += quantized_param_correction(&linear.weight);
            if linear.tied {
                // Counted once, under the tensor it is tied to.
                correction -= (d_in * d_out) as isize;
            }
        });
        if config.is_some_and(|c| c.bias == Bias::All) {
            trainable += bias::named_biases(&self.base_model)
                .iter()
                .map(|b| b.len())
                .sum::<usize>();
        }
        let all = (distinct_params(&self.base_model) as isize + correction) as usize;
        (trainable, all)
    }

    /// `print_trainable_parameters()`'s line.
    pub fn trainable_parameters_line(&self) -> String
    where
        M: Module,
    {
        let (trainable, all) = self.get_nb_trainable_parameters();
        format_trainable(trainable, all)
    }

    /// `print_trainable_parameters()`.
    pub fn print_trainable_parameters(&self)
    where
        M: Module,
    {
        println!("{}", self.trainable_parameters_line());
    }
}

/// PEFT's line: `trainable params: 1,966,080 || all params: 1,545,271,040 || trainable%: 0.1272`.
pub fn format_trainable(trainable: usize, all: usize) -> String {
    let percent = if all == 0 {
        0.0
    } else {
        100.0 * trainable as f64 / all as f64
    };
    format!(
        "trainable params: {} || all params: {} || trainable%: {percent:.4}",
        thousands(trainable),
        thousands(all)
    )
}

/// Python's `f"{n:,d}"`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Elements of the model's parameters as PyTorch's `num_parameters()` counts them: a parameter
/// held in two places (BART's `shared` and `decoder.embed_tokens`, one id) once, and none of
/// those PyTorch keeps as buffers ([`burn_models::hub::is_buffer`]).
fn distinct_params<M: Module>(model: &M) -> usize {
    struct Count {
        seen: std::collections::HashSet<burn::module::ParamId>,
        total: usize,
    }
    impl burn::module::ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if self.seen.insert(param.id) && !burn_models::hub::is_buffer(param.id) {
                self.total += param.shape().num_elements();
            }
        }
    }
    let mut count = Count {
        seen: Default::default(),
        total: 0,
    };
    model.visit(&mut count);
    count.total
}

/// `num_params` counts float parameters only; PEFT counts a quantized weight as its
/// logical `out * in` elements (bitsandbytes' int8 `CB`, or 4-bit `numel * 2`) and not its
/// scales, which are attributes rather than parameters there.
fn quantized_param_correction(weight: &LinearWeight) -> isize {
    let [d_in, d_out] = weight.dims();
    match weight {
        LinearWeight::Dense(_) => 0,
        LinearWeight::Int8(w) => {
            (d_in * d_out) as isize - w.row_absmax.shape().num_elements() as isize
        }
        LinearWeight::Nf4(w) => {
            (d_in * d_out) as isize - w.absmax_scale.shape().num_elements() as isize
        }
        // Dynamic int8 holds no parameters: its values count as the weight's elements.
        LinearWeight::DynamicInt8(_) => (d_in * d_out) as isize,
    }
}

fn device_of(linear: &Linear) -> Device {
    linear.weight.device()
}

/// Attaches adapter `name` to `linear` if the config targets or saves it; whether it did.
fn attach_new(linear: &mut Linear, name: &str, config: &LoraConfig) -> Result<bool> {
    let device = device_of(linear);
    let [d_in, d_out] = linear.dims();
    if config.saves(&linear.path) {
        let copy = SavedLinear {
            weight: Param::from_tensor(linear.weight.dense().detach()),
            bias: linear
                .bias
                .as_ref()
                .map(|b| Param::from_tensor(b.val().detach())),
            name: name.to_string(),
        };
        linear.saved.push(copy);
        return Ok(false);
    }
    let targeted = config.targets(&linear.path)?;
    if targeted {
        let (r, alpha) = config.rank_and_alpha(&linear.path)?;
        // PEFT: A = kaiming_uniform_(a=sqrt(5)) on [r, in], i.e. U(-1/sqrt(in), 1/sqrt(in));
        // B = 0 so the adapter starts as the identity; "gaussian": A ~ N(0, 1/r);
        // false: B keeps nn.Linear's default init, U(-1/sqrt(r), 1/sqrt(r)).
        let bound = 1.0 / (d_in as f64).sqrt();
        let a = match &config.init_lora_weights {
            InitLoraWeights::Method(_) => Tensor::<2>::random(
                [d_in, r],
                Distribution::Normal(0.0, 1.0 / r as f64),
                &device,
            ),
            InitLoraWeights::Bool(_) => {
                Tensor::<2>::random([d_in, r], Distribution::Uniform(-bound, bound), &device)
            }
        };
        let b = match config.init_lora_weights {
            InitLoraWeights::Bool(false) => {
                let bound = 1.0 / (r as f64).sqrt();
                Tensor::<2>::random([r, d_out], Distribution::Uniform(-bound, bound), &device)
            }
            _ => Tensor::<2>::zeros([r, d_out], &device),
        };
        linear.adapters.push(config.adapter(name, a, b, r, alpha));
    }
    let bias_trains = match config.bias {
        Bias::All => true,
        Bias::LoraOnly => targeted,
        Bias::None => false,
    };
    if bias_trains && let Some(bias) = linear.bias.take() {
        linear.bias = Some(bias.set_require_grad(true));
    }
    Ok(targeted)
}

/// `weight += delta` (Burn layout), requantizing a quantized weight in its own scheme.
fn add_to_weight(linear: &mut Linear, delta: Tensor<2>) {
    let weight = std::mem::replace(
        &mut linear.weight,
        LinearWeight::Dense(Param::from_tensor(Tensor::zeros([1, 1], &delta.device()))),
    );
    linear.weight = match weight {
        LinearWeight::Dense(w) => LinearWeight::Dense(w.map(|t| t + delta)),
        LinearWeight::Int8(w) => {
            let merged = w.dequantize() + delta;
            LinearWeight::Int8(quant::quantize_int8(merged, w.threshold))
        }
        LinearWeight::Nf4(w) => {
            let merged = w.dequantize() + delta;
            LinearWeight::Nf4(quant::quantize_nf4(merged))
        }
        LinearWeight::DynamicInt8(w) => {
            let merged = w.dequantize() + delta;
            LinearWeight::DynamicInt8(
                DynamicInt8Weight::quantize(&merged).expect("a weight read back to the host"),
            )
        }
    };
}
