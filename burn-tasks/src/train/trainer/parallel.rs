//! Data parallelism: a batch split into shards, each shard's forward and backward pass on its
//! own device (one thread per device), the gradients summed on the main device.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Device;

use super::{TrainTask, mix_seed};
use crate::error::Result;

/// Splits `batch` into `parts` contiguous shards whose sizes differ by at most one
/// (empty shards when the batch is smaller than `parts`).
pub fn split_batch(batch: &[usize], parts: usize) -> Vec<&[usize]> {
    let parts = parts.max(1);
    let (base, extra) = (batch.len() / parts, batch.len() % parts);
    let mut shards = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        shards.push(&batch[start..start + len]);
        start += len;
    }
    shards
}

/// A shard of a data-parallel batch and its position among the shards.
type IndexedShard<'a> = (usize, &'a [usize]);

/// Where the shards of a data-parallel batch run.
pub(super) struct Shards<'a> {
    pub(super) devices: &'a [Device],
    /// The autodiff device gradients are summed on.
    pub(super) main: &'a Device,
    pub(super) checkpointing: bool,
}

/// The loss of `micro` (its mean over the examples) and the gradients of `loss * scale`,
/// computed shard by shard on `devices` and summed on `main` (an autodiff device).
///
/// Shards on distinct devices run in parallel threads; shards that share a device run one
/// after the other on it, so the device's RNG (dropout) is reseeded and drawn in a fixed
/// order and the result does not depend on thread timing.
pub(super) fn sharded_backward<T: TrainTask>(
    task: &T,
    model: &T::Model,
    micro: &[usize],
    shards_on: &Shards,
    seed: u64,
    scale: f64,
) -> Result<(f64, GradientsParams)> {
    let (devices, main) = (shards_on.devices, shards_on.main);
    let checkpointing = shards_on.checkpointing;
    let shards = split_batch(micro, devices.len());
    // Per distinct device: its shards, each with its index in the batch.
    let mut groups: Vec<(Device, Vec<IndexedShard>)> = Vec::new();
    for (i, (shard, device)) in shards.iter().zip(devices).enumerate() {
        if shard.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(d, _)| d == device) {
            Some((_, list)) => list.push((i, shard)),
            None => groups.push((device.clone(), vec![(i, shard)])),
        }
    }
    let total = micro.len() as f64;
    let results: Vec<Result<Vec<(f64, GradientsParams)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|(device, list)| {
                let replica = model.clone();
                scope.spawn(move || {
                    let ad = if checkpointing {
                        device.autodiff().gradient_checkpointing()
                    } else {
                        device.autodiff()
                    };
                    let mut replica = replica.fork(&ad);
                    if checkpointing {
                        replica = burn_models::nn::lean::with_checkpointing_strategy(
                            replica,
                            burn::tensor::GradientCheckpointingStrategy::Balanced,
                        );
                    }
                    let mut out = Vec::with_capacity(list.len());
                    for (i, shard) in list {
                        ad.seed(mix_seed(seed, 0xDA7A, i as u64));
                        burn_models::nn::lean::seed(mix_seed(seed, 0xDA7A, i as u64));
                        let loss = task.loss(&replica, shard, &ad)?;
                        let share = shard.len() as f64 / total;
                        let value = f64::from(loss.clone().into_scalar::<f32>()) * share;
                        let grads = loss.mul_scalar(share * scale).backward();
                        out.push((value, GradientsParams::from_grads(grads, &replica)));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a data-parallel worker panicked"))
            .collect()
    });
    let mut value = 0.0;
    let mut sum = GradientsAccumulator::new();
    for result in results {
        for (v, grads) in result? {
            value += v;
            sum.accumulate(model, grads.to_device(main, model));
        }
    }
    Ok((value, sum.grads()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_evenly() {
        let batch: Vec<usize> = (0..7).collect();
        let shards = split_batch(&batch, 3);
        assert_eq!(shards, vec![&[0, 1, 2][..], &[3, 4], &[5, 6]]);
        assert_eq!(split_batch(&batch[..1], 2), vec![&[0][..], &[]]);
    }
}
