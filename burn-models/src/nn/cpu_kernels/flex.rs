//! What the flex kernels share: the flex primitive of a tensor, output pointers handed to the
//! pool's tasks, and chunked parallel loops.

use burn::tensor::{DType, Tensor};
use burn_dispatch::backends::Flex;
use burn_dispatch::backends::flex::FlexTensor;

/// The flex primitive of an f32 tensor without autodiff (shares its buffer).
pub(super) fn flex_f32<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    if t.dtype() != DType::F32 {
        return None;
    }
    t.clone().try_into_primitive::<Flex>().ok()
}

/// An output pointer handed to the pool's tasks.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub(super) *mut f32);
// SAFETY: every kernel gives each task its own disjoint part of the output.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer; a method, so closures capture the whole (`Send`) wrapper.
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Runs `f` over chunks of `values` on the global thread pool (the one flex's matmul uses).
pub(super) fn for_each_chunk(values: &mut [f32], f: fn(&mut [f32])) {
    use rayon::prelude::*;
    const CHUNK: usize = 16 * 1024;
    if values.len() <= CHUNK {
        f(values);
    } else {
        values.par_chunks_mut(CHUNK).for_each(f);
    }
}
