//! Reading checkpoint tensors (safetensors, sharded safetensors, `pytorch_model.bin`) and
//! turning them into Burn modules by their Hugging Face names.
//!
//! Models load themselves through a [`WeightScope`], the way HF's modeling files name
//! their sub-modules: `scope.push("encoder").push("layer").push(3).linear("attention.self.query")`.
//! Every tensor taken is recorded, so after loading the checkpoint's unused tensors can be
//! reported, and every shape is checked against the config before it reaches a module.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, RwLock};

use burn::module::{Param, ParamId};
use burn::nn::{Embedding, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype as StDtype, SafeTensors};

use super::{ModelDir, SharedBytes};
use crate::error::{ModelError, Result};
use crate::nn::Linear;

/// Element types a checkpoint tensor can be stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredDtype {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
    /// 64-bit integer.
    I64,
    /// 32-bit integer.
    I32,
    /// 8-bit integer.
    I8,
    /// 8-bit unsigned integer.
    U8,
    /// Boolean.
    Bool,
    /// Any other dtype; loading it as a float weight is an error.
    Other,
}

impl StoredDtype {
    fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::I8 | Self::U8 | Self::Bool | Self::Other => 1,
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Clone)]
enum Storage {
    /// A byte range of a safetensors file (memory-mapped, or held in memory).
    Bytes {
        file: SharedBytes,
        start: usize,
        end: usize,
    },
    /// A tensor of a pickled PyTorch checkpoint, read on demand.
    #[cfg(feature = "fs")]
    Pytorch(pytorch_reader::Tensor),
}

#[derive(Clone)]
struct Entry {
    dtype: StoredDtype,
    shape: Vec<usize>,
    storage: Storage,
    file: PathBuf,
}

/// All tensors of a checkpoint, by their names in the file. Bytes are read lazily.
pub struct Weights {
    entries: BTreeMap<String, Entry>,
    description: String,
    used: RefCell<BTreeSet<String>>,
}

impl Weights {
    /// Opens the weights of an HF model directory: `model.safetensors`, a sharded
    /// `model.safetensors.index.json`, or `pytorch_model.bin` (in that order of preference).
    #[cfg(feature = "fs")]
    pub fn from_model_dir(dir: &Path) -> Result<Self> {
        Self::from_dir(&ModelDir::on_disk(dir))
    }

    /// Opens the weights of a model directory, on disk or in memory: `model.safetensors`, a
    /// sharded `model.safetensors.index.json`, or (on disk) `pytorch_model.bin`, in that order
    /// of preference.
    pub fn from_dir(dir: &ModelDir) -> Result<Self> {
        const SINGLE: &str = "model.safetensors";
        const INDEX: &str = "model.safetensors.index.json";
        const PICKLE: &str = "pytorch_model.bin";
        if let Some(bytes) = dir.shared_bytes(SINGLE)? {
            return Self::from_safetensors_buffers(vec![(dir.location(SINGLE), bytes)]);
        }
        if let Some(text) = dir.read_string(INDEX)? {
            let mut shards = Vec::new();
            for name in shard_names(&text, &dir.location(INDEX))? {
                let bytes = dir
                    .shared_bytes(&name)?
                    .ok_or_else(|| ModelError::CorruptWeights {
                        path: dir.location(INDEX),
                        message: format!("names the shard {name}, which the model does not have"),
                    })?;
                shards.push((dir.location(&name), bytes));
            }
            return Self::from_safetensors_buffers(shards);
        }
        if dir.has_file(PICKLE) {
            #[cfg(feature = "fs")]
            if !dir.in_memory() {
                return Self::from_pytorch_file(&dir.location(PICKLE));
            }
            return Err(ModelError::Unsupported(format!(
                "{}: pytorch_model.bin is read from a directory on disk only; \
                 convert it to model.safetensors",
                dir.path().display()
            )));
        }
        Err(ModelError::NoWeights {
            dir: dir.path().to_path_buf(),
            looked_for: "model.safetensors, model.safetensors.index.json, pytorch_model.bin".into(),
        })
    }

    /// Opens one or more safetensors files as a single set of tensors.
    #[cfg(feature = "fs")]
    pub fn from_safetensors_files(files: &[PathBuf]) -> Result<Self> {
        let mut buffers = Vec::new();
        for path in files {
            buffers.push((path.clone(), super::map_file(path)?));
        }
        Self::from_safetensors_buffers(buffers)
    }

    /// Reads the tensors of a safetensors file held in memory; `name` labels it in messages.
    pub fn from_safetensors_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Self> {
        Self::from_safetensors_buffers(vec![(name.into(), Arc::new(bytes))])
    }

    /// One or more safetensors files (by the path that names them, and their bytes) as a
    /// single set of tensors.
    fn from_safetensors_buffers(files: Vec<(PathBuf, SharedBytes)>) -> Result<Self> {
        let mut entries = BTreeMap::new();
        for (path, file) in &files {
            let bytes: &[u8] = (**file).as_ref();
            let corrupt = |message: String| ModelError::CorruptWeights {
                path: path.clone(),
                message,
            };
            let (header_len, _) =
                SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
            let tensors = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
            let data_start = 8 + header_len;
            for (name, view) in tensors.tensors() {
                let dtype = match view.dtype() {
                    StDtype::F32 => StoredDtype::F32,
                    StDtype::F16 => StoredDtype::F16,
                    StDtype::BF16 => StoredDtype::BF16,
                    StDtype::F64 => StoredDtype::F64,
                    StDtype::I64 => StoredDtype::I64,
                    StDtype::I32 => StoredDtype::I32,
                    StDtype::I8 => StoredDtype::I8,
                    StDtype::U8 => StoredDtype::U8,
                    StDtype::BOOL => StoredDtype::Bool,
                    _ => StoredDtype::Other,
                };
                // The view borrows the bytes; record its range so the entry can outlive it.
                let start = view.data().as_ptr() as usize - bytes.as_ptr() as usize;
                debug_assert!(start >= data_start);
                let end = start + view.data().len();
                entries.insert(
                    name,
                    Entry {
                        dtype,
                        shape: view.shape().to_vec(),
                        storage: Storage::Bytes {
                            file: file.clone(),
                            start,
                            end,
                        },
                        file: path.clone(),
                    },
                );
            }
        }
        let description = match files.as_slice() {
            [(one, _)] => one.display().to_string(),
            _ => format!("{} safetensors shards", files.len()),
        };
        Ok(Self {
            entries,
            description,
            used: RefCell::default(),
        })
    }

    /// Opens a `torch.save` checkpoint (`pytorch_model.bin`).
    #[cfg(feature = "fs")]
    pub fn from_pytorch_file(path: &Path) -> Result<Self> {
        let reader =
            pytorch_reader::PytorchReader::new(path).map_err(|e| ModelError::CorruptWeights {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let entries = reader
            .into_tensors()
            .into_iter()
            .map(|(name, tensor)| {
                use pytorch_reader::DType as P;
                let dtype = match tensor.dtype() {
                    P::F32 => StoredDtype::F32,
                    P::F16 => StoredDtype::F16,
                    P::BF16 => StoredDtype::BF16,
                    P::F64 => StoredDtype::F64,
                    P::I64 => StoredDtype::I64,
                    P::I32 => StoredDtype::I32,
                    P::I8 => StoredDtype::I8,
                    P::U8 => StoredDtype::U8,
                    P::Bool => StoredDtype::Bool,
                    _ => StoredDtype::Other,
                };
                let entry = Entry {
                    dtype,
                    shape: tensor.shape().to_vec(),
                    storage: Storage::Pytorch(tensor),
                    file: path.to_path_buf(),
                };
                (name, entry)
            })
            .collect();
        Ok(Self {
            entries,
            description: path.display().to_string(),
            used: RefCell::default(),
        })
    }

    /// A scope at the root of the checkpoint's names.
    pub fn root<'a>(&'a self, device: &'a Device) -> WeightScope<'a> {
        WeightScope {
            weights: self,
            device,
            prefix: String::new(),
        }
    }

    /// Whether the checkpoint has a tensor `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The names of every tensor in the checkpoint.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }

    /// Names present in the checkpoint that no module asked for.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.entries
            .keys()
            .filter(|name| !used.contains(*name))
            .cloned()
            .collect()
    }

    /// Reads a tensor as f32 values, casting half precision and f64 weights.
    fn read_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let entry = self.entry(name)?;
        let bytes = self.read_bytes(name, entry)?;
        Ok((decode_f32(name, entry.dtype, &bytes)?, entry.shape.clone()))
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.into(),
                source_desc: self.description.clone(),
            })?;
        self.used.borrow_mut().insert(name.to_string());
        Ok(entry)
    }

    fn read_bytes<'a>(&self, name: &str, entry: &'a Entry) -> Result<std::borrow::Cow<'a, [u8]>> {
        let expected = entry.shape.iter().product::<usize>() * entry.dtype.size();
        let bytes = match &entry.storage {
            Storage::Bytes { file, start, end } => {
                std::borrow::Cow::Borrowed(&(**file).as_ref()[*start..*end])
            }
            #[cfg(feature = "fs")]
            Storage::Pytorch(tensor) => {
                std::borrow::Cow::Owned(tensor.read().map_err(|e| ModelError::CorruptWeights {
                    path: entry.file.clone(),
                    message: format!("tensor `{name}`: {e}"),
                })?)
            }
        };
        if bytes.len() != expected {
            return Err(ModelError::CorruptWeights {
                path: entry.file.clone(),
                message: format!(
                    "tensor `{name}` holds {} bytes, its shape {:?} needs {expected}",
                    bytes.len(),
                    entry.shape
                ),
            });
        }
        Ok(bytes)
    }
}

/// A tensor's stored `bytes` (of `dtype`) as f32 values, casting half precision and f64.
fn decode_f32(name: &str, dtype: StoredDtype, bytes: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        StoredDtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        StoredDtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        StoredDtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        StoredDtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("chunk of 8")) as f32)
            .collect(),
        other => {
            return Err(ModelError::UnsupportedDtype {
                name: name.into(),
                dtype: format!("{other:?}"),
            });
        }
    })
}

/// The shard files a `model.safetensors.index.json` (text `index`, at `path`) names.
fn shard_names(index: &str, path: &Path) -> Result<Vec<String>> {
    let corrupt = |message: String| ModelError::CorruptWeights {
        path: path.to_path_buf(),
        message,
    };
    let json: serde_json::Value =
        serde_json::from_str(index).map_err(|e| corrupt(e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| corrupt("no `weight_map` object".into()))?;
    let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
    Ok(shards.into_iter().map(str::to_string).collect())
}

/// `[rows, cols]` row-major to `[cols, rows]` row-major, in cache-sized tiles (a naive loop
/// strides through memory and dominated load time for BERT-base), with blocks of output rows
/// spread over the threads for large tensors.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    assert_eq!(values.len(), rows * cols, "[{rows}, {cols}] values");
    let mut out = vec![0.0f32; rows * cols];
    if out.is_empty() {
        return out;
    }
    // `block` holds output rows `c0..c1`, i.e. input columns `c0..c1`.
    let fill = |c0: usize, block: &mut [f32]| {
        let c1 = (c0 + TILE).min(cols);
        assert_eq!(block.len(), (c1 - c0) * rows);
        for r0 in (0..rows).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for (i, &v) in values[r * cols + c0..r * cols + c1].iter().enumerate() {
                    // SAFETY: i < c1 - c0 and r < rows, so the index is below block.len().
                    unsafe { *block.get_unchecked_mut(i * rows + r) = v };
                }
            }
        }
    };
    #[cfg(feature = "flex")]
    if rows * cols >= 1 << 18 {
        use rayon::prelude::*;
        out.par_chunks_mut(TILE * rows)
            .enumerate()
            .for_each(|(i, block)| fill(i * TILE, block));
        return out;
    }
    out.chunks_mut(TILE * rows)
        .enumerate()
        .for_each(|(i, block)| fill(i * TILE, block));
    out
}

/// Checkpoint names of the parameters made by [`WeightScope::param`], by parameter id: the
/// `named_parameters` of layers that, unlike [`Linear`], do not carry their module path
/// (`LayerNorm`, convolutions). PEFT's `bias="all"` trains and saves every parameter named
/// `*.bias` and finds them by these names. Ids are unique in a process and survive clones,
/// device moves and optimizer steps, so a name stays attached to its parameter.
static PARAM_NAMES: LazyLock<RwLock<HashMap<ParamId, String>>> = LazyLock::new(Default::default);

/// Parameters held here that PyTorch holds as buffers (BART's `final_logits_bias`):
/// `num_parameters()` there, and so PEFT's counts, leave them out.
static BUFFERS: LazyLock<RwLock<std::collections::HashSet<ParamId>>> =
    LazyLock::new(Default::default);

/// Marks a parameter as a buffer in PyTorch's model ([`is_buffer`]).
pub fn mark_buffer(id: ParamId) {
    BUFFERS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id);
}

/// Whether PyTorch holds this parameter as a buffer (not counted as a parameter).
pub fn is_buffer(id: ParamId) -> bool {
    BUFFERS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&id)
}

/// The checkpoint name of a parameter made by [`WeightScope::param`]
/// (`bert.encoder.layer.0.output.LayerNorm.bias`), if it was.
pub fn param_name(id: ParamId) -> Option<String> {
    PARAM_NAMES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned()
}

/// A view of the checkpoint under a name prefix, bound to the device tensors are created on.
#[derive(Clone)]
pub struct WeightScope<'a> {
    weights: &'a Weights,
    device: &'a Device,
    prefix: String,
}

impl<'a> WeightScope<'a> {
    /// The scope of a sub-module: `push("encoder")`, `push(3)`.
    pub fn push(&self, name: impl Display) -> Self {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Self {
            prefix,
            ..self.clone()
        }
    }

    /// The device tensors are loaded onto.
    pub fn device(&self) -> &'a Device {
        self.device
    }

    /// The checkpoint this scope reads.
    pub fn weights(&self) -> &'a Weights {
        self.weights
    }

    /// The full checkpoint name of `name` in this scope.
    pub fn name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Whether the checkpoint has `name` in this scope.
    pub fn contains(&self, name: &str) -> bool {
        self.weights.contains(&self.name(name))
    }

    /// A float tensor whose shape must be `shape`.
    pub fn tensor<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let full = self.name(name);
        let (values, found) = self.weights.read_f32(&full)?;
        if found != shape {
            return Err(ModelError::ShapeMismatch {
                name: full,
                expected: shape.to_vec(),
                found,
            });
        }
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    /// A parameter whose shape must be `shape`, remembering its checkpoint name
    /// ([`param_name`]).
    pub fn param<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Param<Tensor<D>>> {
        let param = Param::from_tensor(self.tensor(name, shape)?);
        PARAM_NAMES
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(param.id, self.name(name));
        Ok(param)
    }

    /// A float tensor stored as `[rows, cols]` and returned transposed, as `[cols, rows]`.
    fn tensor_transposed(&self, name: &str, rows: usize, cols: usize) -> Result<Tensor<2>> {
        let full = self.name(name);
        let entry = self.weights.entry(&full)?;
        if entry.shape != [rows, cols] {
            return Err(ModelError::ShapeMismatch {
                name: full,
                expected: vec![rows, cols],
                found: entry.shape.clone(),
            });
        }
        let bytes = self.weights.read_bytes(&full, entry)?;
        // Straight from the file's bytes when they are f32 values in place (safetensors aligns
        // its tensors): no intermediate copy of the whole tensor.
        // SAFETY: every bit pattern is an f32; `align_to` only yields the aligned middle.
        let in_place = match unsafe { bytes.align_to::<f32>() } {
            (&[], values, &[])
                if entry.dtype == StoredDtype::F32 && cfg!(target_endian = "little") =>
            {
                Some(values)
            }
            _ => None,
        };
        let transposed = match in_place {
            Some(values) => transpose(values, rows, cols),
            // Cast (or realigned) from the bytes already read: a pickled checkpoint's tensor
            // is read from its file once.
            None => transpose(&decode_f32(&full, entry.dtype, &bytes)?, rows, cols),
        };
        Ok(Tensor::from_data(
            TensorData::new(transposed, [cols, rows]),
            self.device,
        ))
    }

    /// A PyTorch `nn.Linear` (`{name}.weight` `[out, in]`, optional `{name}.bias`), stored the
    /// way Burn multiplies: `[in, out]`, transposed once here rather than at every call.
    /// The layer remembers its checkpoint path (adapters are attached by it).
    pub fn linear(
        &self,
        name: &str,
        d_input: usize,
        d_output: usize,
        bias: bool,
    ) -> Result<Linear> {
        let scope = self.push(name);
        let weight = scope.tensor_transposed("weight", d_output, d_input)?;
        let bias = if bias {
            Some(Param::from_tensor(scope.tensor("bias", [d_output])?))
        } else {
            None
        };
        Ok(Linear::new(
            self.name(name),
            Param::from_tensor(weight),
            bias,
        ))
    }

    /// A PyTorch `nn.LayerNorm`. Accepts the old TensorFlow-era names `gamma`/`beta` too,
    /// as transformers does.
    pub fn layer_norm(&self, name: &str, d_model: usize, epsilon: f64) -> Result<LayerNorm> {
        let scope = self.push(name);
        let (weight_name, bias_name) = if !scope.contains("weight") && scope.contains("gamma") {
            ("gamma", "beta")
        } else {
            ("weight", "bias")
        };
        let mut norm = LayerNormConfig::new(d_model)
            .with_epsilon(epsilon)
            .init(self.device);
        norm.gamma = scope.param(weight_name, [d_model])?;
        norm.beta = Some(scope.param(bias_name, [d_model])?);
        Ok(norm)
    }

    /// A PyTorch `nn.Embedding` (`{name}.weight` `[num_embeddings, dim]`).
    pub fn embedding(&self, name: &str, num_embeddings: usize, dim: usize) -> Result<Embedding> {
        let weight = self.push(name).tensor("weight", [num_embeddings, dim])?;
        Ok(Embedding {
            weight: Param::from_tensor(weight),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::transpose;

    #[test]
    fn transpose_matches_its_definition() {
        // Edges of a tile (33, 31), and a tensor large enough for the threaded path.
        for (rows, cols) in [(1, 1), (33, 31), (3, 70), (700, 513)] {
            let values: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let out = transpose(&values, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(out[c * rows + r], values[r * cols + c], "[{rows}, {cols}]");
                }
            }
        }
    }
}
