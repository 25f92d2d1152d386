//! `LoraConfig` with PEFT's field names and defaults, read from and written to
//! `adapter_config.json` as PEFT does (every field, sorted keys, two-space indent).

use std::path::Path;

use burn::module::Param;
use burn::nn::DropoutConfig;
use burn::tensor::Tensor;
use burn_models::nn::LoraAdapter;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{PeftError, Result};

/// `target_modules` / `exclude_modules`: module names (matched as the name or a `.name`
/// suffix of the module path) or one regex (matched against the whole path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    /// Module names, such as `["query", "value"]`.
    Names(Vec<String>),
    /// One regular expression matched against the whole module path.
    Regex(String),
}

impl TargetModules {
    /// PEFT's `check_target_module_exists` for a module path such as
    /// `bert.encoder.layer.0.attention.self.query`.
    pub fn matches(&self, path: &str) -> Result<bool> {
        Ok(match self {
            Self::Regex(pattern) => full_regex(pattern)?.is_match(path),
            Self::Names(names) => names
                .iter()
                .any(|name| path == name || path.ends_with(&format!(".{name}"))),
        })
    }
}

/// Python's `re.fullmatch(pattern, key)`.
fn full_regex(pattern: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        PeftError::Config(format!(
            "target_modules regex `{pattern}` is not supported: {e}"
        ))
    })
}

/// Which biases train with the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Bias {
    /// No bias trains (PEFT's default).
    #[default]
    None,
    /// Every bias of the model trains.
    All,
    /// Only the biases of the layers with LoRA train.
    LoraOnly,
}

/// `init_lora_weights`: `true` (PEFT's default: A Kaiming-uniform, B zero), `false` (random
/// B as well, a non-identity start used for tests), or `"gaussian"` (A normal with std 1/r).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InitLoraWeights {
    /// `true` or `false`.
    Bool(bool),
    /// A named method; `"gaussian"` is the one supported.
    Method(String),
}

impl Default for InitLoraWeights {
    fn default() -> Self {
        Self::Bool(true)
    }
}

/// PEFT's `LoraConfig`. Fields this crate does not interpret are kept as they were read
/// (`other`) and written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// `peft_type`: `"LORA"`, the only type supported.
    #[serde(default = "defaults::peft_type")]
    pub peft_type: String,
    /// `task_type` (`SEQ_CLS`, `TOKEN_CLS`, `SEQ_2_SEQ_LM`, ...), as PEFT records it.
    #[serde(default)]
    pub task_type: Option<String>,
    /// `base_model_name_or_path`: the model the adapter was trained on, as recorded.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// `inference_mode`: PEFT's flag for an adapter loaded for inference only; kept as read
    /// and written back.
    #[serde(default)]
    pub inference_mode: bool,
    /// `r`: the rank of the LoRA factors (8).
    #[serde(default = "defaults::r")]
    pub r: usize,
    /// `lora_alpha`: the scaling numerator; the update is scaled by `lora_alpha / r` (8).
    #[serde(default = "defaults::lora_alpha")]
    pub lora_alpha: f64,
    /// `target_modules`: which linear layers get adapters.
    #[serde(default)]
    pub target_modules: Option<TargetModules>,
    /// `exclude_modules`: layers left out even when `target_modules` matches them.
    #[serde(default)]
    pub exclude_modules: Option<TargetModules>,
    /// `lora_dropout`: dropout on the adapter's input during training, in `[0, 1)` (0).
    #[serde(default)]
    pub lora_dropout: f64,
    /// `bias`: which biases train (`none`, `all`, `lora_only`).
    #[serde(default)]
    pub bias: Bias,
    /// `modules_to_save`: modules trained and saved whole beside the adapters (a classifier head).
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    /// `use_rslora`: scale by `lora_alpha / sqrt(r)` instead of `lora_alpha / r`.
    #[serde(default)]
    pub use_rslora: bool,
    /// `init_lora_weights`: how A and B start.
    #[serde(default)]
    pub init_lora_weights: InitLoraWeights,
    /// `fan_in_fan_out`: PEFT's flag for GPT-2-style `Conv1D` weights stored transposed; kept as
    /// read and written back.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Per-module rank overrides: `{regex: r}` matched as `(.*\.)?regex$`.
    #[serde(default)]
    pub rank_pattern: Map<String, Value>,
    /// `alpha_pattern`: per-module alpha overrides, `{regex: alpha}`, matched as `rank_pattern`.
    #[serde(default)]
    pub alpha_pattern: Map<String, Value>,
    /// `use_dora`: DoRA, not supported (an error when set).
    #[serde(default)]
    pub use_dora: bool,
    /// Every other field of `adapter_config.json`, kept as read and written back unchanged.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

mod defaults {
    pub fn peft_type() -> String {
        "LORA".into()
    }
    pub fn r() -> usize {
        8
    }
    pub fn lora_alpha() -> f64 {
        8.0
    }
}

/// The fields PEFT 0.21 writes for a `LoraConfig` that this crate does not model, with the
/// values PEFT defaults them to: written so that a config saved here reads like PEFT's own.
const PEFT_EXTRA_DEFAULTS: &str = r#"{
  "alora_invocation_tokens": null,
  "arrow_config": null,
  "auto_mapping": null,
  "corda_config": null,
  "ensure_weight_tying": false,
  "eva_config": null,
  "kasa_config": null,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_bias": false,
  "lora_ga_config": null,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "monteclora_config": null,
  "peft_version": "0.21.2",
  "qalora_group_size": 16,
  "revision": null,
  "target_parameters": null,
  "trainable_token_indices": null,
  "use_bdlora": null,
  "use_qalora": false,
  "velora_config": null
}"#;

impl Default for LoraConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every LoraConfig field has a default")
    }
}

impl LoraConfig {
    /// `LoraConfig(r=r, lora_alpha=alpha, target_modules=[...])`, other fields at PEFT's defaults.
    pub fn new(r: usize, lora_alpha: f64, target_modules: &[&str]) -> Self {
        Self {
            r,
            lora_alpha,
            target_modules: Some(TargetModules::Names(
                target_modules.iter().map(|s| s.to_string()).collect(),
            )),
            ..Self::default()
        }
    }

    /// Reads `adapter_config.json` (a file, or the adapter directory holding it).
    pub fn from_file(path: &Path) -> Result<Self> {
        let path = if path.is_dir() {
            path.join("adapter_config.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&path).map_err(|e| PeftError::io(&path, e))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| PeftError::Config(format!("{}: {e}", path.display())))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what this crate implements, so an unsupported adapter fails at load rather
    /// than computing something else.
    pub fn validate(&self) -> Result<()> {
        let unsupported = |what: &str| Err(PeftError::Unsupported(what.to_string()));
        if self.peft_type != "LORA" {
            return unsupported(&format!("peft_type `{}` (only LORA)", self.peft_type));
        }
        if self.r == 0 {
            return Err(PeftError::Config("`r` must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(PeftError::Config(format!(
                "lora_dropout {} is outside [0, 1)",
                self.lora_dropout
            )));
        }
        if self.use_dora {
            return unsupported("use_dora (DoRA)");
        }
        let set = |key: &str| {
            self.other
                .get(key)
                .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
        };
        for key in [
            "layers_to_transform",
            "layer_replication",
            "target_parameters",
            "trainable_token_indices",
            "use_qalora",
            "lora_bias",
        ] {
            if set(key) {
                return unsupported(key);
            }
        }
        if let InitLoraWeights::Method(m) = &self.init_lora_weights
            && m != "gaussian"
        {
            return unsupported(&format!(
                "init_lora_weights `{m}` (true, false or \"gaussian\")"
            ));
        }
        if let Some(TargetModules::Regex(p)) = &self.target_modules {
            full_regex(p)?;
        }
        Ok(())
    }

    /// The JSON PEFT writes: every field, keys sorted, two-space indent, no final newline.
    pub fn to_json(&self) -> String {
        let mut all: Map<String, Value> =
            serde_json::from_str(PEFT_EXTRA_DEFAULTS).expect("valid defaults");
        let own = serde_json::to_value(self).expect("config serializes");
        if let Value::Object(own) = own {
            all.extend(own);
        }
        // PEFT writes `lora_alpha` as the int it usually is.
        if let Some(alpha) = all.get_mut("lora_alpha")
            && let Some(a) = alpha.as_f64()
            && a.fract() == 0.0
        {
            *alpha = Value::from(a as i64);
        }
        let mut keys: Vec<&String> = all.keys().collect();
        keys.sort();
        let sorted: Map<String, Value> = keys
            .into_iter()
            .map(|k| (k.clone(), all[k].clone()))
            .collect();
        serde_json::to_string_pretty(&Value::Object(sort_nested(sorted))).expect("json")
    }

    /// Writes `adapter_config.json` into `dir`, as PEFT's `save_pretrained` does.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join("adapter_config.json");
        std::fs::write(&path, self.to_json()).map_err(|e| PeftError::io(&path, e))
    }

    /// Whether LoRA goes on the module at `path` (PEFT's `_check_target_module_exists`).
    pub fn targets(&self, path: &str) -> Result<bool> {
        if let Some(exclude) = &self.exclude_modules
            && exclude.matches(path)?
        {
            return Ok(false);
        }
        match &self.target_modules {
            Some(t) => t.matches(path),
            None => Err(PeftError::Config(
                "target_modules is not set (PEFT infers it only for known architectures; \
                 list the module names, e.g. [\"query\", \"value\"])"
                    .into(),
            )),
        }
    }

    /// Whether the module at `path` is in `modules_to_save` (name or `.name` suffix).
    pub fn saves(&self, path: &str) -> bool {
        self.modules_to_save.as_ref().is_some_and(|names| {
            names
                .iter()
                .any(|name| path == name || path.ends_with(&format!(".{name}")))
        })
    }

    /// Rank and alpha for the module at `path`, after `rank_pattern` / `alpha_pattern`.
    pub fn rank_and_alpha(&self, path: &str) -> Result<(usize, f64)> {
        let lookup = |patterns: &Map<String, Value>| -> Result<Option<f64>> {
            for (pattern, value) in patterns {
                let re = Regex::new(&format!(r"^(?:.*\.)?(?:{pattern})$"))
                    .map_err(|e| PeftError::Config(format!("pattern `{pattern}`: {e}")))?;
                if re.is_match(path) {
                    return Ok(value.as_f64());
                }
            }
            Ok(None)
        };
        let r = lookup(&self.rank_pattern)?.map_or(self.r, |r| r as usize);
        let alpha = lookup(&self.alpha_pattern)?.unwrap_or(self.lora_alpha);
        Ok((r, alpha))
    }

    /// `lora_alpha / r`, or `lora_alpha / sqrt(r)` with rsLoRA.
    pub fn scaling(&self, r: usize, alpha: f64) -> f64 {
        if self.use_rslora {
            alpha / (r as f64).sqrt()
        } else {
            alpha / r as f64
        }
    }

    /// Adapter `name` of this config with factors `a` `[d_input, r]` and `b` `[r, d_output]`
    /// (Burn's layout), for a layer of rank `r` and `lora_alpha` `alpha`.
    pub(crate) fn adapter(
        &self,
        name: &str,
        a: Tensor<2>,
        b: Tensor<2>,
        r: usize,
        alpha: f64,
    ) -> LoraAdapter {
        LoraAdapter {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            dropout: DropoutConfig::new(self.lora_dropout).init(),
            name: name.to_string(),
            scaling: self.scaling(r, alpha),
            merged: false,
        }
    }
}

/// Python's `json.dumps(sort_keys=True)` sorts nested objects too.
fn sort_nested(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Object(inner) => Value::Object(sort_nested(inner)),
                other => other,
            };
            (k, v)
        })
        .collect()
}
