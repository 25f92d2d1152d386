//! Finding a model: a local directory in the Hugging Face layout, or a hub repository id
//! downloaded (or found in the cache) through `hf-hub`.

mod weights;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

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

/// A model directory in the Hugging Face layout: `config.json`, weights, tokenizer and
/// processor files. On disk (a local directory or the hub cache), or held in memory by file
/// name, as a web page that fetched or was given the files passes them ([`ModelDir::from_files`]).
/// Every loader reads through it, so both load the same way.
#[derive(Clone)]
pub struct ModelDir {
    /// The directory, or the name an in-memory model was given (used in messages).
    path: PathBuf,
    files: Files,
}

/// The bytes of a file, shared by the tensors read from it (a memory map, or a buffer).
pub(crate) type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

#[derive(Clone)]
enum Files {
    #[cfg(feature = "fs")]
    Disk,
    Memory(Arc<BTreeMap<String, Arc<Vec<u8>>>>),
}

impl std::fmt::Debug for ModelDir {
    // Without `fs`, every model is in memory.
    #[allow(irrefutable_let_patterns)]
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("ModelDir");
        s.field("path", &self.path);
        if let Files::Memory(files) = &self.files {
            let sizes: BTreeMap<&str, usize> =
                files.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
            s.field("files", &sizes);
        }
        s.finish()
    }
}

impl ModelDir {
    /// Resolves `model` as a local directory if one exists at that path, otherwise as a hub id
    /// (`org/name`).
    #[cfg(feature = "fs")]
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
    #[cfg(feature = "fs")]
    pub fn local(path: &Path) -> Result<Self> {
        let dir = Self::on_disk(path);
        if !dir.has_file("config.json") {
            return Err(ModelError::Config {
                path: dir.config_path(),
                message: "not found: a model directory needs config.json".into(),
            });
        }
        Ok(dir)
    }

    /// A directory on disk, whatever it holds: unlike [`Self::local`], `config.json` is not
    /// required (loaders of single files, such as a tokenizer's, read through this).
    #[cfg(feature = "fs")]
    pub fn on_disk(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            files: Files::Disk,
        }
    }

    /// A model held in memory: its files' bytes by file name (`config.json`,
    /// `model.safetensors`, `tokenizer.json`, `preprocessor_config.json`, ...). `name` only
    /// labels it in messages. `config.json` must be among the files.
    pub fn from_files(
        name: impl Into<PathBuf>,
        files: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Self> {
        let files: BTreeMap<String, Arc<Vec<u8>>> = files
            .into_iter()
            .map(|(name, bytes)| (name, Arc::new(bytes)))
            .collect();
        let dir = Self {
            path: name.into(),
            files: Files::Memory(Arc::new(files)),
        };
        if !dir.has_file("config.json") {
            return Err(ModelError::Config {
                path: dir.config_path(),
                message: "not among the model's files: a model needs config.json".into(),
            });
        }
        Ok(dir)
    }

    /// The directory, or the name of an in-memory model.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the files are in memory rather than on disk.
    pub fn in_memory(&self) -> bool {
        matches!(self.files, Files::Memory(_))
    }

    /// `path/name`: where the file is, or, in memory, how messages name it.
    pub fn location(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// `path/name` if that file exists on disk (`None` for in-memory models; read files with
    /// [`Self::read_file`] instead, which serves both).
    #[cfg(feature = "fs")]
    pub fn file(&self, name: &str) -> Option<PathBuf> {
        match self.files {
            Files::Disk => {
                let path = self.path.join(name);
                path.is_file().then_some(path)
            }
            Files::Memory(_) => None,
        }
    }

    /// Whether the model has the file `name`.
    pub fn has_file(&self, name: &str) -> bool {
        match &self.files {
            #[cfg(feature = "fs")]
            Files::Disk => self.path.join(name).is_file(),
            Files::Memory(files) => files.contains_key(name),
        }
    }

    /// The bytes of the file `name`, or `None` if the model has no such file.
    pub fn read_file(&self, name: &str) -> Result<Option<Cow<'_, [u8]>>> {
        match &self.files {
            #[cfg(feature = "fs")]
            Files::Disk => {
                let path = self.path.join(name);
                if !path.is_file() {
                    return Ok(None);
                }
                let bytes = std::fs::read(&path).map_err(|e| ModelError::io(&path, e))?;
                Ok(Some(Cow::Owned(bytes)))
            }
            Files::Memory(files) => Ok(files.get(name).map(|b| Cow::Borrowed(b.as_slice()))),
        }
    }

    /// The file `name` as text, or `None` if the model has no such file.
    pub fn read_string(&self, name: &str) -> Result<Option<String>> {
        let Some(bytes) = self.read_file(name)? else {
            return Ok(None);
        };
        match String::from_utf8(bytes.into_owned()) {
            Ok(text) => Ok(Some(text)),
            Err(e) => Err(ModelError::io(
                self.location(name),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )),
        }
    }

    /// The file `name` parsed as JSON, or `None` if the model has no such file.
    pub fn read_json(&self, name: &str) -> Result<Option<serde_json::Value>> {
        self.read_config_file(name)
    }

    /// The file `name` parsed as a config struct, naming the file in errors; `None` if the
    /// model has no such file.
    pub fn read_config_file<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let Some(text) = self.read_string(name)? else {
            return Ok(None);
        };
        crate::config::parse_config(&text, &self.location(name)).map(Some)
    }

    /// The bytes of a file, shared rather than copied: memory-mapped on disk.
    pub(crate) fn shared_bytes(&self, name: &str) -> Result<Option<SharedBytes>> {
        match &self.files {
            #[cfg(feature = "fs")]
            Files::Disk => {
                let path = self.path.join(name);
                if !path.is_file() {
                    return Ok(None);
                }
                map_file(&path).map(Some)
            }
            Files::Memory(files) => Ok(files.get(name).map(|b| b.clone() as SharedBytes)),
        }
    }

    /// Where `config.json` is (or, in memory, how messages name it).
    pub fn config_path(&self) -> PathBuf {
        self.location("config.json")
    }

    /// The parsed `config.json`.
    pub fn config_json(&self) -> Result<serde_json::Value> {
        self.config()
    }

    /// `config.json` parsed as a config struct.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T> {
        self.read_config_file("config.json")?
            .ok_or_else(|| ModelError::Config {
                path: self.config_path(),
                message: "not found: a model directory needs config.json".into(),
            })
    }

    /// The folder's weights (`model.safetensors`, sharded safetensors or `pytorch_model.bin`).
    pub fn weights(&self) -> Result<Weights> {
        Weights::from_dir(self)
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

    #[cfg(all(feature = "fs", not(feature = "hub")))]
    fn from_hub(model_id: &str, _options: &HubOptions) -> Result<Self> {
        Err(ModelError::Hub(format!(
            "{model_id} is not a local directory, and this build has no `hub` feature to download it"
        )))
    }
}

/// Memory-maps a file read-only.
#[cfg(feature = "fs")]
pub(crate) fn map_file(path: &Path) -> Result<SharedBytes> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    // SAFETY: the file is opened read-only and the map is never written; like every
    // safetensors reader we assume the file is not truncated while we hold it.
    // Populated: every tensor is read once at load, and mapping the pages in one go costs a
    // fraction of faulting them in one by one.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
        .map_err(|e| ModelError::io(path, e))?;
    Ok(Arc::new(map))
}

/// A repository id as the hub accepts it: `name` or `org/name`, of letters, digits, `-_.`,
/// not starting with `.` or `-`.
#[cfg(feature = "fs")]
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

#[cfg(feature = "hub")]
fn read_json(path: &Path) -> Result<serde_json::Value> {
    crate::config::read_config(path)
}
