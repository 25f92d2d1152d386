//! What the benchmark runs, shared by its model families: a workload (a config with random
//! weights and an input shape), the HF weight shapes of a transformer layer, and deterministic
//! pixel inputs (the same formulas as `bench/bench_torch.py`).

use burn::tensor::Device;
use serde_json::Value;

/// A workload: a model config (HF `config.json`) with random weights, and an input shape.
pub struct Workload {
    pub name: &'static str,
    pub config: Value,
    pub batch: usize,
    pub seq: usize,
    /// Beams of the Whisper workloads (1: greedy).
    pub beams: usize,
    /// Dynamic int8 inference (`nn::quantize_dynamic`; PyTorch's `quantize_dynamic`,
    /// CTranslate2's `int8` compute type).
    pub int8: bool,
    /// The checkpoint directory it runs on (workloads of one model share it).
    pub checkpoint: &'static str,
}

impl Workload {
    pub fn new(name: &'static str, config: Value, batch: usize, seq: usize) -> Self {
        Self {
            name,
            config,
            batch,
            seq,
            beams: 1,
            int8: false,
            checkpoint: name,
        }
    }
}

/// `(name, PyTorch shape)` of every tensor of a checkpoint.
pub type Shapes = Vec<(String, Vec<usize>)>;

/// The tensors of one BART-style transformer layer at `prefix` (`self_attn`, for a decoder
/// also `encoder_attn`, each with its LayerNorm; `fc1`, `fc2`, `final_layer_norm`), all
/// Linear layers with biases except Whisper's `k_proj` when `key_bias` is false.
pub fn transformer_layer_shapes(
    shapes: &mut Shapes,
    prefix: &str,
    decoder: bool,
    d: usize,
    ffn: usize,
    key_bias: bool,
) {
    let mut linear = |name: String, i: usize, o: usize, bias: bool| {
        shapes.push((format!("{name}.weight"), vec![o, i]));
        if bias {
            shapes.push((format!("{name}.bias"), vec![o]));
        }
    };
    let attentions: &[&str] = if decoder {
        &["self_attn", "encoder_attn"]
    } else {
        &["self_attn"]
    };
    for a in attentions {
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            linear(format!("{prefix}.{a}.{n}"), d, d, n != "k_proj" || key_bias);
        }
    }
    linear(format!("{prefix}.fc1"), d, ffn, true);
    linear(format!("{prefix}.fc2"), ffn, d, true);
    for norm in attentions
        .iter()
        .map(|a| format!("{a}_layer_norm"))
        .chain(["final_layer_norm".to_string()])
    {
        shapes.push((format!("{prefix}.{norm}.weight"), vec![d]));
        shapes.push((format!("{prefix}.{norm}.bias"), vec![d]));
    }
}

/// Deterministic pixel values `[batch, 3, height, width]` in [-1, 1), the same formula as
/// bench_torch.py.
pub fn bench_pixels(
    batch: usize,
    height: usize,
    width: usize,
    device: &Device,
) -> burn::tensor::Tensor<4> {
    let n = batch * 3 * height * width;
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 37) % 251) as f32 / 125.5 - 1.0)
        .collect();
    burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(values, [batch, 3, height, width]),
        device,
    )
}
