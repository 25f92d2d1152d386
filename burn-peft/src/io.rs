//! `adapter_model.safetensors` with PEFT's key names:
//!
//! | key                                               | tensor                                 |
//! |---------------------------------------------------|----------------------------------------|
//! | `base_model.model.{path}.lora_A.weight`           | A `[r, in]`                            |
//! | `base_model.model.{path}.lora_B.weight`           | B `[out, r]`                           |
//! | `base_model.model.{path}.base_layer.bias`         | bias of a LoRA layer (`bias` != none)  |
//! | `base_model.model.{path}.bias`                    | bias of another layer (`bias="all"`)   |
//! | `base_model.model.{path}.weight` / `.bias`        | a `modules_to_save` copy               |
//! | `base_model.model.{name}` (`*.bias`)              | a norm or conv bias (`bias="all"`)     |
//!
//! (Older PEFT versions wrote `{path}.modules_to_save.weight` for the copy; both load.)
//! With `bias="all"` PEFT also saves every `*.bias` inside its `modules_to_save` wrapper:
//! `{path}.original_module.bias` (the frozen original's) and `{path}.modules_to_save.bias`
//! (the copy's, again); so do we.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::Param;
use burn::tensor::{Device, Tensor};
use burn_models::hub::Weights;
use burn_models::nn::{Linear, Linears, SavedLinear};
use safetensors::{Dtype, View};

use crate::bias;
use crate::config::{Bias, LoraConfig};
use crate::error::{PeftError, Result};

/// The prefix PEFT puts before module paths.
pub const KEY_PREFIX: &str = "base_model.model";

/// The adapter weights' file name, as PEFT saves it.
pub const WEIGHTS_NAME: &str = "adapter_model.safetensors";
/// The adapter weights' file name in PEFT's older pickle format.
pub const PICKLE_NAME: &str = "adapter_model.bin";

#[cfg(not(feature = "fs"))]
fn open_weights(dir: &Path) -> Result<Weights> {
    Err(PeftError::AdapterFile {
        path: dir.to_path_buf(),
        message: "this build reads no files (burn-peft's `fs` feature is off)".into(),
    })
}

#[cfg(feature = "fs")]
fn open_weights(dir: &Path) -> Result<Weights> {
    let safetensors = dir.join(WEIGHTS_NAME);
    let pickle = dir.join(PICKLE_NAME);
    if safetensors.is_file() {
        Ok(Weights::from_safetensors_files(&[safetensors])?)
    } else if pickle.is_file() {
        Ok(Weights::from_pytorch_file(&pickle)?)
    } else {
        Err(PeftError::AdapterFile {
            path: dir.to_path_buf(),
            message: format!("no {WEIGHTS_NAME} or {PICKLE_NAME}"),
        })
    }
}

/// Reads adapter `name` from `dir` into the model's linear layers (and, with
/// `bias="all"`, its other biases).
pub(crate) fn load_into(
    model: &mut impl Linears,
    dir: &Path,
    name: &str,
    config: &LoraConfig,
) -> Result<()> {
    let weights = open_weights(dir)?;
    let mut error = None;
    let mut targeted = 0usize;
    model.visit_linears_mut(&mut |linear| {
        if error.is_some() {
            return;
        }
        match load_layer(&weights, linear, name, config) {
            Ok(hit) => targeted += hit as usize,
            Err(e) => error = Some(e),
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    if config.bias == Bias::All {
        let mut values = HashMap::new();
        for bias in bias::named_biases(model) {
            let key = format!("{KEY_PREFIX}.{}", bias.name);
            if weights.contains(&key) {
                let value = read_vector(&weights, &bias.device(), &key, bias.len())?;
                values.insert(bias.id, value);
            }
        }
        bias::set_biases(model, values);
    }
    let unused = weights.unused();
    if !unused.is_empty() {
        return Err(PeftError::AdapterFile {
            path: dir.join(WEIGHTS_NAME),
            message: format!(
                "{} tensors match no linear layer of this model (another base model, or \
                 adapters on layers other than nn.Linear): {}{}",
                unused.len(),
                unused[..unused.len().min(6)].join(", "),
                if unused.len() > 6 {
                    format!(", and {} more", unused.len() - 6)
                } else {
                    String::new()
                }
            ),
        });
    }
    if targeted == 0 {
        return Err(PeftError::AdapterFile {
            path: dir.to_path_buf(),
            message: format!(
                "target_modules {:?} matched no linear layer of the model",
                config.target_modules
            ),
        });
    }
    Ok(())
}

fn device_of(linear: &Linear) -> Device {
    linear.weight.device()
}

/// Reads `{path}.{name}` `[rows, cols]` and returns it transposed (Burn's layout).
fn read_transposed(
    weights: &Weights,
    device: &Device,
    key: &str,
    rows: usize,
    cols: usize,
) -> Result<Tensor<2>> {
    let (scope, leaf) = key.rsplit_once('.').expect("keys have a dot");
    Ok(weights
        .root(device)
        .push(scope)
        .tensor(leaf, [rows, cols])?
        .transpose())
}

fn read_vector(weights: &Weights, device: &Device, key: &str, len: usize) -> Result<Tensor<1>> {
    let (scope, leaf) = key.rsplit_once('.').expect("keys have a dot");
    Ok(weights.root(device).push(scope).tensor(leaf, [len])?)
}

/// The module path the adapter names `linear` by: transformers 5's where it renamed the module
/// and the adapter (made by PEFT on 5.x) holds tensors under it, else the checkpoint's.
fn adapter_path<'a>(weights: &Weights, linear: &'a Linear) -> &'a str {
    match &linear.transformers5_path {
        Some(renamed)
            if ["lora_A.weight", "weight", "modules_to_save.weight", "bias"]
                .iter()
                .any(|suffix| weights.contains(&format!("{KEY_PREFIX}.{renamed}.{suffix}"))) =>
        {
            renamed
        }
        _ => &linear.path,
    }
}

fn load_layer(
    weights: &Weights,
    linear: &mut Linear,
    name: &str,
    config: &LoraConfig,
) -> Result<bool> {
    let device = device_of(linear);
    let [d_in, d_out] = linear.dims();
    let path = adapter_path(weights, linear).to_string();
    let key = |suffix: &str| format!("{KEY_PREFIX}.{path}.{suffix}");
    if config.saves(&path) {
        let (w, b) = if weights.contains(&key("modules_to_save.weight")) {
            (key("modules_to_save.weight"), key("modules_to_save.bias"))
        } else {
            (key("weight"), key("bias"))
        };
        let weight = read_transposed(weights, &device, &w, d_out, d_in)?;
        let bias = match linear.bias {
            Some(_) => Some(Param::from_tensor(read_vector(
                weights, &device, &b, d_out,
            )?)),
            None => None,
        };
        if config.bias == Bias::All && linear.bias.is_some() {
            // PEFT's `bias="all"` extras: the original's bias is loaded back into it; the
            // copy's second key holds the same values as `{path}.bias`.
            if weights.contains(&key("original_module.bias")) {
                linear.bias = Some(Param::from_tensor(read_vector(
                    weights,
                    &device,
                    &key("original_module.bias"),
                    d_out,
                )?));
            }
            if weights.contains(&key("modules_to_save.bias")) && b != key("modules_to_save.bias") {
                read_vector(weights, &device, &key("modules_to_save.bias"), d_out)?;
            }
        }
        linear.saved.push(SavedLinear {
            weight: Param::from_tensor(weight),
            bias,
            name: name.to_string(),
        });
        return Ok(false);
    }
    let targeted = config.targets(&path)?;
    if targeted {
        let a_key = key("lora_A.weight");
        let r = weights
            .shape(&a_key)
            .map(|s| s[0])
            .ok_or_else(|| PeftError::AdapterFile {
                path: WEIGHTS_NAME.into(),
                message: format!("missing `{a_key}` for targeted layer `{path}`"),
            })?;
        let (expected_r, alpha) = config.rank_and_alpha(&path)?;
        if r != expected_r {
            return Err(PeftError::AdapterFile {
                path: WEIGHTS_NAME.into(),
                message: format!("`{a_key}` has rank {r}, the config says {expected_r}"),
            });
        }
        let a = read_transposed(weights, &device, &a_key, r, d_in)?;
        let b = read_transposed(weights, &device, &key("lora_B.weight"), d_out, r)?;
        linear.adapters.push(config.adapter(name, a, b, r, alpha));
    }
    // Trained biases replace the base layer's own, as PEFT loads them.
    let bias_key = if targeted {
        key("base_layer.bias")
    } else {
        key("bias")
    };
    let bias_saved = match config.bias {
        Bias::All => true,
        Bias::LoraOnly => targeted,
        Bias::None => false,
    };
    if bias_saved && weights.contains(&bias_key) {
        if linear.bias.is_none() {
            return Err(PeftError::AdapterFile {
                path: WEIGHTS_NAME.into(),
                message: format!("`{bias_key}` for a layer without bias"),
            });
        }
        linear.bias = Some(Param::from_tensor(read_vector(
            weights, &device, &bias_key, d_out,
        )?));
    }
    Ok(targeted)
}

/// A tensor to write: f32 values, shape.
struct F32Tensor {
    data: Vec<u8>,
    shape: Vec<usize>,
}

impl View for &F32Tensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_f32_tensor<const D: usize>(t: Tensor<D>) -> Result<F32Tensor> {
    let shape = t.dims().to_vec();
    let values: Vec<f32> = t
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| PeftError::Adapter(format!("reading a tensor back: {e:?}")))?;
    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(F32Tensor { data, shape })
}

/// Writes adapter `name`: `adapter_config.json` + `adapter_model.safetensors`.
pub(crate) fn save(
    model: &impl Linears,
    dir: &Path,
    name: &str,
    config: &LoraConfig,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| PeftError::io(dir, e))?;
    let mut tensors: BTreeMap<String, F32Tensor> = BTreeMap::new();
    let mut error = None;
    model.visit_linears(&mut |linear| {
        let mut add = |key: String, t: Result<F32Tensor>| match t {
            Ok(t) => {
                tensors.insert(format!("{KEY_PREFIX}.{}.{key}", linear.path), t);
            }
            Err(e) => error = Some(e),
        };
        let mut has_lora = false;
        for adapter in linear.adapters.iter().filter(|a| a.name == name) {
            has_lora = true;
            add(
                "lora_A.weight".into(),
                to_f32_tensor(adapter.a.val().transpose()),
            );
            add(
                "lora_B.weight".into(),
                to_f32_tensor(adapter.b.val().transpose()),
            );
        }
        for copy in linear.saved.iter().filter(|s| s.name == name) {
            add(
                "weight".into(),
                to_f32_tensor(copy.weight.val().transpose()),
            );
            if let Some(b) = &copy.bias {
                add("bias".into(), to_f32_tensor(b.val()));
                if config.bias == Bias::All {
                    add("modules_to_save.bias".into(), to_f32_tensor(b.val()));
                    if let Some(original) = &linear.bias {
                        add("original_module.bias".into(), to_f32_tensor(original.val()));
                    }
                }
            }
        }
        let save_bias = match config.bias {
            Bias::All => linear.saved.is_empty(),
            Bias::LoraOnly => has_lora,
            Bias::None => false,
        };
        if save_bias && let Some(b) = &linear.bias {
            let key = if has_lora { "base_layer.bias" } else { "bias" };
            add(key.into(), to_f32_tensor(b.val()));
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    if config.bias == Bias::All {
        for bias in bias::named_biases(model) {
            tensors.insert(
                format!("{KEY_PREFIX}.{}", bias.name),
                to_f32_tensor(bias.value)?,
            );
        }
    }
    if tensors.is_empty() {
        return Err(PeftError::Adapter(format!(
            "adapter `{name}` has no tensors to save"
        )));
    }
    let path = dir.join(WEIGHTS_NAME);
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    let views: Vec<(String, &F32Tensor)> = tensors.iter().map(|(k, v)| (k.clone(), v)).collect();
    safetensors::serialize_to_file(views, metadata, &path).map_err(|e| PeftError::AdapterFile {
        path: path.clone(),
        message: e.to_string(),
    })?;
    config.save(dir)
}
