//! Attention on the CPU: each (example, head) is two `gemm` calls on the strided views of
//! `q`/`k`/`v` and a vectorized softmax, heads in parallel, written straight into the
//! `[batch, seq, heads, dim]` layout the output projection reads (flex's fused op copies strided
//! inputs to contiguous buffers and takes the softmax's `exp` from libm per score).

use super::flex::{SendPtr, flex_f32};
use super::softmax as row_ops;
use burn::tensor::Shape;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType, Tensor};
use burn_dispatch::backends::Flex;
use burn_dispatch::backends::flex::FlexTensor;
use rayon::prelude::*;

/// Scores above this many floats per (example, head) go to Burn's tiled op instead.
const MAX_SCORES: usize = 16 << 20;

/// A strided 4-d view: element `[a, b, c, d]` at `offset + a*s0 + b*s1 + c*s2 + d*s3`,
/// with stride 0 along broadcast dims.
struct View {
    offset: isize,
    dims: [usize; 4],
    strides: [isize; 4],
}

impl View {
    fn of(t: &FlexTensor) -> Option<Self> {
        let layout = t.layout();
        if layout.num_dims() != 4 || layout.strides().iter().any(|s| *s < 0) {
            return None;
        }
        let shape = layout.shape();
        let dims = [shape[0], shape[1], shape[2], shape[3]];
        let mut strides: [isize; 4] = layout.strides().try_into().ok()?;
        for (s, d) in strides.iter_mut().zip(dims) {
            if d == 1 {
                *s = 0;
            }
        }
        Some(Self {
            offset: layout.start_offset() as isize,
            dims,
            strides,
        })
    }

    /// Offset of `[a, b, c, 0]`, broadcasting dims of size 1.
    fn at(&self, a: usize, b: usize, c: usize) -> isize {
        self.offset
            + a as isize * self.strides[0]
            + b as isize * self.strides[1]
            + c as isize * self.strides[2]
    }

    fn broadcasts_to(&self, dims: [usize; 4]) -> bool {
        self.dims
            .iter()
            .zip(dims)
            .all(|(&d, want)| d == want || d == 1)
    }
}

pub(super) fn run(
    query: &Tensor<4>,
    key: &Tensor<4>,
    value: &Tensor<4>,
    mask: Option<&Tensor<4, Bool>>,
    bias: Option<&Tensor<4>>,
    options: AttentionModuleOptions,
) -> Option<Tensor<4>> {
    if options.softcap.is_some() || options.is_causal {
        return None;
    }
    let (q, k, v) = (flex_f32(query)?, flex_f32(key)?, flex_f32(value)?);
    let (qv, kv, vv) = (View::of(&q)?, View::of(&k)?, View::of(&v)?);
    let [batch, heads, seq_q, head_dim] = qv.dims;
    let seq_kv = kv.dims[2];
    let val_dim = vv.dims[3];
    if kv.dims != [batch, heads, seq_kv, head_dim]
        || vv.dims != [batch, heads, seq_kv, val_dim]
        || seq_q * seq_kv > MAX_SCORES
        || seq_kv == 0
    {
        return None;
    }
    let scores_dims = [batch, heads, seq_q, seq_kv];
    let mask = match mask {
        Some(m) => Some(m.clone().try_into_primitive::<Flex>().ok()?),
        None => None,
    };
    let mask_view = match &mask {
        Some(m) => Some(View::of(m)?).filter(|v| v.broadcasts_to(scores_dims)),
        None => None,
    };
    if mask.is_some() && mask_view.is_none() {
        return None;
    }
    let bias = match bias {
        Some(b) => Some(flex_f32(b)?),
        None => None,
    };
    let bias_view = match &bias {
        Some(b) => Some(View::of(b)?).filter(|v| v.broadcasts_to(scores_dims)),
        None => None,
    };
    if bias.is_some() && bias_view.is_none() {
        return None;
    }
    let scale = options
        .scale
        .unwrap_or_else(|| 1.0 / (head_dim as f64).sqrt()) as f32;

    // The output in `[batch, seq_q, heads, val_dim]`, returned as a `[batch, heads, ...]`
    // view: merging the heads back is then free.
    let mut out = FlexTensor::empty(Shape::new([batch, seq_q, heads, val_dim]), DType::F32);
    let out_ptr = SendPtr(out.storage_mut::<f32>().as_mut_ptr());
    let (q_data, k_data, v_data) = (q.storage::<f32>(), k.storage::<f32>(), v.storage::<f32>());
    let mask_data: Option<&[u8]> = mask.as_ref().map(|m| m.storage::<u8>());
    let bias_data: Option<&[f32]> = bias.as_ref().map(|b| b.storage::<f32>());

    let head = |scratch: &mut Scratch, index: usize| {
        let (b, h) = (index / heads, index % heads);
        let scores = scratch.scores(seq_q * seq_kv);
        // SAFETY: the views' offsets and strides come from the tensors' own layouts, so
        // every element gemm reads lies in its buffer; `scores` holds seq_q × seq_kv.
        unsafe {
            gemm::gemm(
                seq_q,
                seq_kv,
                head_dim,
                scores.as_mut_ptr(),
                1,
                seq_kv as isize,
                false,
                q_data.as_ptr().offset(qv.at(b, h, 0)),
                qv.strides[3],
                qv.strides[2],
                k_data.as_ptr().offset(kv.at(b, h, 0)),
                kv.strides[2],
                kv.strides[3],
                0.0,
                scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for i in 0..seq_q {
            let row = &mut scores[i * seq_kv..(i + 1) * seq_kv];
            if let (Some(view), Some(data)) = (&mask_view, mask_data) {
                let start = view.at(b, h, i) as usize;
                let step = view.strides[3] as usize;
                for (j, s) in row.iter_mut().enumerate() {
                    if data[start + j * step] != 0 {
                        *s = f32::NEG_INFINITY;
                    }
                }
            }
            if let (Some(view), Some(data)) = (&bias_view, bias_data) {
                let start = view.at(b, h, i) as usize;
                if view.strides[3] == 1 {
                    row_ops::add(row, &data[start..start + seq_kv]);
                } else {
                    let step = view.strides[3] as usize;
                    for (j, s) in row.iter_mut().enumerate() {
                        *s += data[start + j * step];
                    }
                }
            }
            row_ops::softmax(row);
        }
        // SAFETY: rows `[b, 0..seq_q, h, ..]` of the output belong to this (b, h) alone.
        unsafe {
            gemm::gemm(
                seq_q,
                val_dim,
                seq_kv,
                out_ptr.get().add(((b * seq_q) * heads + h) * val_dim),
                1,
                (heads * val_dim) as isize,
                false,
                scores.as_ptr(),
                1,
                seq_kv as isize,
                v_data.as_ptr().offset(vv.at(b, h, 0)),
                vv.strides[3],
                vv.strides[2],
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    };
    let work = batch * heads * seq_q * seq_kv * (head_dim + val_dim);
    if batch * heads > 1 && work >= 1 << 20 {
        (0..batch * heads)
            .into_par_iter()
            .for_each_init(Scratch::default, |scratch, index| head(scratch, index));
    } else {
        let mut scratch = Scratch::default();
        (0..batch * heads).for_each(|index| head(&mut scratch, index));
    }
    Some(Tensor::<4>::from_primitive::<Flex>(out).swap_dims(1, 2))
}

#[derive(Default)]
struct Scratch(Vec<f32>);

impl Scratch {
    fn scores(&mut self, len: usize) -> &mut [f32] {
        if self.0.len() < len {
            self.0.resize(len, 0.0);
        }
        &mut self.0[..len]
    }
}
