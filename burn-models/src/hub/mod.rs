//! Finding a model: a local directory in the Hugging Face layout, or a hub repository id
//! downloaded (or found in the cache) through `hf-hub`.

mod weights;

use std::path::{Path, PathBuf};

pub use weights::{StoredDtype, WeightScope, Weights, is_buffer, mark_buffer, param_name};

use crate::error::{ModelError, Result};

/// How to reach the hub. Defaults follow `huggingface_hub`: `HF_HOME` / `HF_HUB_CACHE` for the
/// cache, `HF_TOKEN` (or the cached login token), `HF_HUB_OFFLINE=1` for offline mode.
#[derive(Debug, Clone, Default)]
pub struct HubOptions {
    /// Branch, tag or commit; `main` when unset.
    pub revision: Option<String>,
    /// Access token for gated or private repositories.
    pub token: Option<String>,
    /// Cache directory (the `hub` folder, as `HF_HUB_CACHE`).
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network: only files already in the cache are used.
    pub offline: bool,
    /// Show a progress bar per downloaded file.
    pub progress: bool,
}

impl HubOptions {
    /// Options read from the usual environment variables, with progress bars on.
    pub fn from_env() -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let offline = env("HF_HUB_OFFLINE")
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
            .unwrap_or(false);
        let cache_dir = env("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| env("HF_HOME").map(|home| Path::new(&home).join("hub")));
        Self {
            revision: None,
            token: env("HF_TOKEN"),
            cache_dir,
            offline,
            progress: true,
        }
    }
}

/// Files a model directory may hold besides its weights. Absent ones are simply skipped.
#[cfg(feature = "hub")]
const OPTIONAL_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "source.spm",
    "target.spm",
    "preprocessor_config.json",
    "generation_config.json",
];

/// Weight files, in order of preference (what a hub download fetches).
#[cfg(feature = "hub")]
const WEIGHT_FILES: &[&str] = &[
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
];

/// A model directory on disk in the Hugging Face layout.
#[derive(Debug, Clone)]
pub struct ModelDir {
    path: PathBuf,
}

impl ModelDir {
    /// Resolves `model` as a local directory if one exists at that path, otherwise as a hub id
    /// (`org/name`).
    pub fn resolve(model: &str, options: &HubOptions) -> Result<Self> {
        let path = Path::new(model);
        if path.is_dir() {
            return Self::local(path);
        }
        if path.exists() {
            return Err(ModelError::InvalidInput(format!(
                "{model} is a file; a model is a directory with config.json and weights, or a hub id"
            )));
        }
        if !is_hub_id(model) {
            return Err(ModelError::InvalidInput(format!(
                "{model}: no such model directory, and not a hub id (`name` or `org/name`)"
            )));
        }
        Self::from_hub(model, options)
    }

    /// A local directory; it must contain `config.json`.
    pub fn local(path: &Path) -> Result<Self> {
        let config = path.join("config.json");
        if !config.is_file() {
            return Err(ModelError::Config {
                path: config,
                message: "not found: a model directory needs config.json".into(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/name` if that file exists.
    pub fn file(&self, name: &str) -> Option<PathBuf> {
        let path = self.path.join(name);
        path.is_file().then_some(path)
    }

    /// `path/config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }

    /// The parsed `config.json`.
    pub fn config_json(&self) -> Result<serde_json::Value> {
        read_json(&self.config_path())
    }

    /// The folder's weights (`model.safetensors`, sharded safetensors or `pytorch_model.bin`).
    pub fn weights(&self) -> Result<Weights> {
        Weights::from_model_dir(&self.path)
    }

    #[cfg(feature = "hub")]
    fn from_hub(model_id: &str, options: &HubOptions) -> Result<Self> {
        use hf_hub::{Cache, Repo, RepoType};
        let revision = options.revision.clone().unwrap_or_else(|| "main".into());
        let repo = Repo::with_revision(model_id.to_string(), RepoType::Model, revision.clone());
        let cache = options
            .cache_dir
            .clone()
            .map(Cache::new)
            .unwrap_or_else(Cache::from_env);

        if options.offline {
            let cached = cache.repo(repo);
            let config = cached.get("config.json").ok_or_else(|| {
                ModelError::Hub(format!(
                    "{model_id} (revision {revision}) is not in the cache {} and offline mode is on",
                    cache.path().display()
                ))
            })?;
            if !WEIGHT_FILES.iter().any(|f| cached.get(f).is_some()) {
                return Err(ModelError::Hub(format!(
                    "{model_id} is cached without weights ({}) and offline mode is on",
                    WEIGHT_FILES.join(", ")
                )));
            }
            return Self::local(config.parent().unwrap_or(Path::new(".")));
        }

        let api = hf_hub::api::sync::ApiBuilder::from_cache(cache)
            .with_progress(options.progress)
            .with_token(options.token.clone().or_else(|| Cache::from_env().token()))
            .build()
            .map_err(|e| ModelError::Hub(e.to_string()))?;
        let remote = api.repo(repo);
        let fetch_error = |file: &str, e: hf_hub::api::sync::ApiError| {
            ModelError::Hub(format!("{model_id}: {file}: {e}"))
        };
        let config = remote
            .get("config.json")
            .map_err(|e| fetch_error("config.json", e))?;
        let mut found_weights = false;
        for file in WEIGHT_FILES {
            if let Ok(path) = remote.get(file) {
                if file.ends_with(".index.json") {
                    let index = read_json(&path)?;
                    let mut shards: Vec<&str> = index["weight_map"]
                        .as_object()
                        .map(|m| m.values().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    shards.sort_unstable();
                    shards.dedup();
                    for shard in shards {
                        remote.get(shard).map_err(|e| fetch_error(shard, e))?;
                    }
                }
                found_weights = true;
                break;
            }
        }
        if !found_weights {
            return Err(ModelError::Hub(format!(
                "{model_id} has none of {}",
                WEIGHT_FILES.join(", ")
            )));
        }
        for file in OPTIONAL_FILES {
            // A repository holds only the files of its tokenizer and processor kinds.
            let _ = remote.get(file);
        }
        Self::local(config.parent().unwrap_or(Path::new(".")))
    }

    #[cfg(not(feature = "hub"))]
    fn from_hub(model_id: &str, _options: &HubOptions) -> Result<Self> {
        Err(ModelError::Hub(format!(
            "{model_id} is not a local directory, and this build has no `hub` feature to download it"
        )))
    }
}

/// A repository id as the hub accepts it: `name` or `org/name`, of letters, digits, `-_.`,
/// not starting with `.` or `-`.
fn is_hub_id(id: &str) -> bool {
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with(['.', '-'])
            && !p.contains("..")
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    match id.split_once('/') {
        Some((org, name)) => part_ok(org) && part_ok(name),
        None => part_ok(id),
    }
}

pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
