//! Helpers for the crate's unit tests: random tensors and the workspace's NaN-aware comparison
//! (`test-support`) on tensors read back to the host.

use burn::tensor::{Device, Distribution, Tensor};

/// Standard-normal values.
pub fn rand<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(dims, Distribution::Normal(0.0, 1.0), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 values")
}

/// The largest `|a - b|` (a NaN on one side counts as infinity), after checking the shapes.
pub fn max_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes");
    test_support::max_abs_diff(&values(a), &values(b)).0
}

/// Panics unless `ours` is within `tolerance` of `reference` everywhere (NaN-aware).
#[track_caller]
pub fn assert_close<const D: usize>(
    ours: Tensor<D>,
    reference: Tensor<D>,
    tolerance: f32,
    what: &str,
) {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shapes");
    test_support::assert_close(what, &values(ours), &values(reference), tolerance);
}
