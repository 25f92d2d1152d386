//! Checkpoints: `checkpoint-{step}` directories holding the model, the optimizer state and
//! the trainer state, written atomically so a crash never leaves a partial one.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::GradScaler;
use crate::error::{Result, TaskError};
use crate::train::models::{io_error, write_atomic};

/// The run's position, saved in each checkpoint as `trainer_state.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub global_step: usize,
    /// Optimizer steps of the whole run (epochs times steps per epoch).
    pub max_steps: usize,
    /// Everything randomness depends on (see the module docs): the data order and the
    /// dropout masks are functions of it and of the position.
    pub seed: u64,
    /// The log, as HF's `log_history`: every `logging_steps` the loss, learning rate and
    /// gradient norm; after each epoch its mean loss and the evaluation metrics.
    pub log_history: Vec<Value>,
    /// fp16's loss scaler, so a resumed run scales as the uninterrupted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_scaler: Option<GradScaler>,
}

const CHECKPOINT_PREFIX: &str = "checkpoint-";

/// The latest complete checkpoint in `dir` (`checkpoint-{step}` with its trainer state).
pub fn latest_checkpoint(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step: usize = name.strip_prefix(CHECKPOINT_PREFIX)?.parse().ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, path)| path)
}

fn record_error(path: &Path, e: impl std::fmt::Debug) -> TaskError {
    TaskError::Checkpoint(format!("{}: {e:?}", path.display()))
}

/// Writes `checkpoint-{step}` through a temporary directory renamed into place, so a crash
/// never leaves a partial checkpoint under a checkpoint's name.
pub(super) fn save_checkpoint<M: Module + Clone>(
    dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &TrainerState,
) -> Result<PathBuf> {
    let final_dir = dir.join(format!("{CHECKPOINT_PREFIX}{}", state.global_step));
    let tmp = tempfile::Builder::new()
        .prefix(".checkpoint-tmp-")
        .tempdir_in(dir)
        .map_err(|e| io_error(dir, e))?;
    let model_path = tmp.path().join("model.bpk");
    model
        .clone()
        .save_file(&model_path)
        .map_err(|e| record_error(&model_path, e))?;
    let optim_path = tmp.path().join("optimizer.bpk");
    optim
        .save(&optim_path)
        .map_err(|e| record_error(&optim_path, e))?;
    let state_json = serde_json::to_string_pretty(state).expect("the state serializes");
    write_atomic(
        &tmp.path().join("trainer_state.json"),
        state_json.as_bytes(),
    )?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| io_error(&final_dir, e))?;
    }
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, &final_dir).map_err(|e| io_error(&final_dir, e))?;
    Ok(final_dir)
}

pub(super) fn load_checkpoint<M: Module>(
    path: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, TrainerState)> {
    let model_path = path.join("model.bpk");
    let model = model
        .try_load_file(&model_path)
        .map_err(|e| record_error(&model_path, e))?;
    let optim_path = path.join("optimizer.bpk");
    let optim = optim
        .load(&optim_path)
        .map_err(|e| record_error(&optim_path, e))?;
    let state_path = path.join("trainer_state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|e| io_error(&state_path, e))?;
    let state = serde_json::from_str(&text).map_err(|e| record_error(&state_path, e))?;
    Ok((model, optim, state))
}
