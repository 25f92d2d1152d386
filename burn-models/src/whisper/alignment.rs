//! Token-level timestamps from the cross-attention of Whisper's alignment heads, as
//! `WhisperGenerationMixin._extract_token_timestamps` computes them: the heads' attention over
//! the audio frames, normalised per frame over the tokens, smoothed by a median filter along
//! time, averaged over the heads, then aligned to the frames by dynamic time warping.

use crate::host::HostRead;
use burn::tensor::{Int, Tensor, TensorData};

use super::WhisperForConditionalGeneration;
use crate::error::{ModelError, Result};

/// Seconds per encoder position (`time_precision` of `_extract_token_timestamps`).
pub const TOKEN_TIME_PRECISION: f64 = 0.02;

/// What word timestamps need from `generate`: the generation config's alignment heads and
/// the input's frame count (HF's `num_frames`, the feature extractor's attention mask sum;
/// `None` when no mask is given: the attention over all 1500 positions is aligned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTimestampOptions {
    /// `(layer, head)` cross-attention heads of the generation config's `alignment_heads`.
    pub alignment_heads: Vec<(usize, usize)>,
    /// Input frames (HF's `num_frames`); `None`: all of them.
    pub num_frames: Option<usize>,
}

/// The error transformers raises when asked for token timestamps without alignment heads.
pub fn no_alignment_heads() -> ModelError {
    ModelError::InvalidInput(
        "Model generation config has no `alignment_heads`, token-level timestamps not available. \
         See https://gist.github.com/hollance/42e32852f24243b748ae6bc1f985b13a on how to add \
         this property to the generation config."
            .into(),
    )
}

/// `[heads][rows][cols]` weights on the host, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadWeights {
    /// Heads.
    pub heads: usize,
    /// Rows per head (tokens).
    pub rows: usize,
    /// Columns per row (encoder positions).
    pub cols: usize,
    /// The weights, `heads * rows * cols` values.
    pub data: Vec<f32>,
}

impl HeadWeights {
    fn at(&self, h: usize, r: usize, c: usize) -> f32 {
        self.data[(h * self.rows + r) * self.cols + c]
    }
}

impl WhisperForConditionalGeneration {
    /// Checks alignment heads against the decoder's shape and the median filter width.
    pub fn check_alignment_heads(&self, heads: &[(usize, usize)]) -> Result<()> {
        let layers = self.decoder.layers.len();
        let per_layer = self.config.decoder_attention_heads;
        if heads.is_empty() {
            return Err(no_alignment_heads());
        }
        if let Some((l, h)) = heads.iter().find(|(l, h)| *l >= layers || *h >= per_layer) {
            return Err(ModelError::InvalidInput(format!(
                "alignment head [{l}, {h}] is outside the decoder ({layers} layers of {per_layer} heads)"
            )));
        }
        let width = self.config.median_filter_width;
        if width == 0 || width % 2 != 1 {
            return Err(ModelError::InvalidInput(format!(
                "`filter_width` should be an odd number (median_filter_width is {width})"
            )));
        }
        Ok(())
    }

    /// The cross-attention of `heads` (`(layer, head)`) for the decoder positions of
    /// `input_ids` (prompt and generated tokens but the last: HF collects the weights while
    /// generating, so the final token has none), rows from `skip` on, frames cut to
    /// `frames`. One teacher-forced decoder pass over the sequence: each row is what the
    /// generation step of that position computed (under beam search too, where HF gathers the
    /// rows of the returned hypothesis through `beam_indices`).
    pub fn alignment_weights(
        &self,
        encoder_states: &Tensor<3>,
        input_ids: &[usize],
        heads: &[(usize, usize)],
        skip: usize,
        frames: Option<usize>,
    ) -> Result<HeadWeights> {
        let device = self.proj_out.weight.device();
        let len = input_ids.len();
        let src = encoder_states.dims()[1];
        let cols = frames.map_or(src, |f| f.min(src));
        let rows = len.saturating_sub(skip);
        if rows == 0 || cols == 0 {
            return Ok(HeadWeights {
                heads: heads.len(),
                rows,
                cols,
                data: Vec::new(),
            });
        }
        let ids: Vec<i64> = input_ids.iter().map(|&t| t as i64).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, len]), &device);
        self.check_ids(&ids)?;
        let mut layers: Vec<usize> = heads.iter().map(|&(l, _)| l).collect();
        layers.sort_unstable();
        layers.dedup();
        let mut cache = self.new_cache(encoder_states);
        let (_, weights) = self
            .decoder
            .forward_with_cross_attentions(ids, &mut cache, &layers)?;
        let mut picked = Vec::with_capacity(heads.len());
        for &(layer, head) in heads {
            let probs = weights[layer]
                .clone()
                .expect("weights of an alignment layer");
            picked.push(probs.slice([0..1, head..head + 1, skip..len, 0..cols]));
        }
        let data = Tensor::cat(picked, 1)
            .into_host_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::InvalidInput(format!("reading attention weights: {e:?}")))?;
        Ok(HeadWeights {
            heads: heads.len(),
            rows,
            cols,
            data,
        })
    }

    /// `_extract_token_timestamps` for one sequence of the window starting at feature frame
    /// `seek`: `sequence` is the decoder prompt (`num_input_ids` tokens) followed by every
    /// generated token, the end token included. Returns one time in seconds (from the window's
    /// start) per token of `sequence`: 0 for the prompt, the last aligned time repeated for
    /// the final token.
    pub fn token_timestamps(
        &self,
        encoder_states: &Tensor<3>,
        sequence: &[usize],
        num_input_ids: usize,
        options: &TokenTimestampOptions,
        seek: usize,
    ) -> Result<Vec<f32>> {
        self.check_alignment_heads(&options.alignment_heads)?;
        let inputs = &sequence[..sequence.len().saturating_sub(1)];
        let src = encoder_states.dims()[1];
        let frames = options
            .num_frames
            .map(|n| kept_positions(n as i64 - seek as i64, src));
        let weights = self.alignment_weights(
            encoder_states,
            inputs,
            &options.alignment_heads,
            num_input_ids,
            frames,
        )?;
        Ok(timestamps_from_weights(
            &weights,
            num_input_ids,
            self.config.median_filter_width,
            TOKEN_TIME_PRECISION,
        ))
    }
}

/// How many of `src` encoder positions HF keeps with `weights[..., : num_frames // 2]`, where
/// `num_frames` is already reduced by the window's start. Python's floor division and
/// slicing: a window starting past the audio (negative `num_frames`) drops positions from the
/// end instead of keeping none, and HF crops twice (once because every batch item has the
/// same `num_frames`, again per item), which only matters then.
pub fn kept_positions(num_frames: i64, src: usize) -> usize {
    let stop = num_frames.div_euclid(2);
    let crop = |len: i64| {
        if stop >= 0 {
            stop.min(len)
        } else {
            (len + stop).max(0)
        }
    };
    crop(crop(src as i64)) as usize
}

/// The host half of `_extract_token_timestamps`: `weights` are the alignment heads' rows of
/// the generated tokens (the prompt's already removed); returns `num_input_ids + rows + 1`
/// times.
pub fn timestamps_from_weights(
    weights: &HeadWeights,
    num_input_ids: usize,
    median_filter_width: usize,
    time_precision: f64,
) -> Vec<f32> {
    let mut timestamps = vec![0f32; num_input_ids + weights.rows + 1];
    if weights.rows == 0 {
        return timestamps;
    }
    let matrix = alignment_matrix(weights, median_filter_width);
    let negated: Vec<f64> = matrix.iter().map(|&v| -(v as f64)).collect();
    let (text_indices, time_indices) = dynamic_time_warping(&negated, weights.rows, weights.cols);
    let mut jump_times = Vec::new();
    for k in 0..text_indices.len() {
        if k == 0 || text_indices[k] != text_indices[k - 1] {
            jump_times.push((time_indices[k] as f64 * time_precision) as f32);
        }
    }
    let last = *jump_times.last().expect("the first index is always a jump");
    jump_times.push(last);
    // torch.cat([zeros(num_input_ids), jump_times, [last]]) written into a row of
    // `num_input_ids + rows + 1`: the DTW gives exactly one jump per token row.
    for (slot, time) in timestamps[num_input_ids..].iter_mut().zip(jump_times) {
        *slot = time;
    }
    timestamps
}

/// Normalises each head's weights per frame (mean and population std over the tokens),
/// median-filters them along the frames, and averages the heads: `[rows][cols]`.
pub fn alignment_matrix(weights: &HeadWeights, median_filter_width: usize) -> Vec<f32> {
    let HeadWeights {
        heads, rows, cols, ..
    } = *weights;
    let mut normalised = vec![0f32; heads * rows * cols];
    for h in 0..heads {
        for c in 0..cols {
            let column: Vec<f32> = (0..rows).map(|r| weights.at(h, r, c)).collect();
            let mean = column.iter().sum::<f32>() / rows as f32;
            let mean64 = column.iter().map(|&v| v as f64).sum::<f64>() / rows as f64;
            let var = column
                .iter()
                .map(|&v| (v as f64 - mean64).powi(2))
                .sum::<f64>()
                / rows as f64;
            let std = var.sqrt() as f32;
            for (r, &v) in column.iter().enumerate() {
                normalised[(h * rows + r) * cols + c] = (v - mean) / std;
            }
        }
    }
    let mut averaged = vec![0f32; rows * cols];
    for h in 0..heads {
        for r in 0..rows {
            let start = (h * rows + r) * cols;
            let filtered = median_filter(&normalised[start..start + cols], median_filter_width);
            for (acc, v) in averaged[r * cols..(r + 1) * cols].iter_mut().zip(filtered) {
                *acc += v;
            }
        }
    }
    averaged.iter_mut().for_each(|v| *v /= heads as f32);
    averaged
}

/// `_median_filter` along one row: reflect-padded windows of `width` (odd), each replaced by
/// its median; rows no longer than `width / 2` are left as they are. NaN sorts last, as in
/// `torch.sort`.
pub fn median_filter(row: &[f32], width: usize) -> Vec<f32> {
    let pad = width / 2;
    let n = row.len();
    if n <= pad {
        return row.to_vec();
    }
    let padded: Vec<f32> = (0..n + 2 * pad)
        .map(|k| {
            let i = k as isize - pad as isize;
            let i = if i < 0 {
                -i
            } else if i >= n as isize {
                2 * (n as isize - 1) - i
            } else {
                i
            };
            row[i as usize]
        })
        .collect();
    padded
        .windows(width)
        .map(|w| {
            let mut w = w.to_vec();
            w.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => a.partial_cmp(b).expect("not NaN"),
            });
            w[pad]
        })
        .collect()
}

/// `_dynamic_time_warping` of a `[rows][cols]` cost matrix: the text and time indices of the
/// cheapest monotonic path. Costs accumulate in f32 as numpy's `cost` array does, and ties
/// resolve as HF's comparisons do (NaN compares false).
pub fn dynamic_time_warping(matrix: &[f64], rows: usize, cols: usize) -> (Vec<i64>, Vec<i64>) {
    let width = cols + 1;
    let mut cost = vec![f32::INFINITY; (rows + 1) * width];
    let mut trace = vec![-1i8; (rows + 1) * width];
    cost[0] = 0.0;
    for j in 1..=cols {
        for i in 1..=rows {
            let c0 = cost[(i - 1) * width + j - 1];
            let c1 = cost[(i - 1) * width + j];
            let c2 = cost[i * width + j - 1];
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            cost[i * width + j] = (matrix[(i - 1) * cols + j - 1] + c as f64) as f32;
            trace[i * width + j] = t;
        }
    }
    for t in &mut trace[..width] {
        *t = 2;
    }
    for i in 0..=rows {
        trace[i * width] = 1;
    }
    let (mut i, mut j) = (rows, cols);
    let mut text = Vec::new();
    let mut time = Vec::new();
    while i > 0 || j > 0 {
        text.push(i as i64 - 1);
        time.push(j as i64 - 1);
        match trace[i * width + j] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    text.reverse();
    time.reverse();
    (text, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_filter_reflects_the_edges() {
        let row = [1.0, 5.0, 2.0, 8.0, 3.0];
        // Padded: 2 5 | 1 5 2 8 3 | 8 2
        assert_eq!(median_filter(&row, 5), vec![2.0, 5.0, 3.0, 5.0, 3.0]);
        assert_eq!(median_filter(&row[..2], 5), vec![1.0, 5.0]);
    }

    #[test]
    fn dtw_follows_the_cheap_diagonal() {
        let m = [0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let (text, time) = dynamic_time_warping(&m, 3, 3);
        assert_eq!(text, vec![0, 1, 2]);
        assert_eq!(time, vec![0, 1, 2]);
    }
}
