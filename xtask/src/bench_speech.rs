//! Whisper workloads of `cargo xtask bench`: 30 s of audio through the feature extractor, the
//! encoder, and 32 generated tokens with the key/value cache (`min_new_tokens` =
//! `max_new_tokens` = 32), greedy and with 5 beams, in f32 and with int8 linear layers, beside
//! transformers' `generate()` (PyTorch's `quantize_dynamic` for int8) and CTranslate2, the engine
//! of faster-whisper (`compute_type` float32 or int8), on the same random checkpoint.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use burn_models::config::read_config;
use burn_models::hub::Weights;
use burn_models::whisper::{
    WhisperConfig, WhisperForConditionalGeneration, WhisperGenerateOptions, WhisperGenerationConfig,
};
use burn_tasks::processors::WhisperFeatureExtractor;
use burn_tasks::processors::audio_features::WhisperFeatureConfig;
use serde_json::{Value, json};

/// Seconds of audio each run transcribes.
pub const AUDIO_SECONDS: f64 = 30.0;
/// Tokens generated per run.
pub const NEW_TOKENS: usize = 32;

/// whisper-tiny, whisper-base and whisper-small architectures (multilingual vocabulary, 80 mel bins).
pub fn configs() -> Vec<(&'static str, Value)> {
    let whisper = |d: usize, layers: usize, heads: usize| {
        json!({
            "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
            "vocab_size": 51865, "num_mel_bins": 80, "d_model": d,
            "encoder_layers": layers, "decoder_layers": layers,
            "encoder_attention_heads": heads, "decoder_attention_heads": heads,
            "encoder_ffn_dim": 4 * d, "decoder_ffn_dim": 4 * d,
            "max_source_positions": 1500, "max_target_positions": 448,
            "decoder_start_token_id": 50258, "pad_token_id": 50257,
            "bos_token_id": 50257, "eos_token_id": 50257, "activation_function": "gelu"
        })
    };
    vec![
        ("whisper-tiny-30s-32tok", whisper(384, 4, 6)),
        ("whisper-base-30s-32tok", whisper(512, 6, 8)),
        ("whisper-small-30s-32tok", whisper(768, 12, 12)),
    ]
}

/// The Whisper workloads: each size greedy and with [`BEAMS`] beams, in f32 and with int8
/// linear layers, all on the greedy f32 row's checkpoint of their size.
pub fn workloads() -> Vec<Workload> {
    // (name, checkpoint, beams, int8)
    const VARIANTS: [(&str, &str, usize, bool); 12] = [
        ("whisper-tiny-30s-32tok", "whisper-tiny-30s-32tok", 1, false),
        ("whisper-base-30s-32tok", "whisper-base-30s-32tok", 1, false),
        (
            "whisper-small-30s-32tok",
            "whisper-small-30s-32tok",
            1,
            false,
        ),
        (
            "whisper-tiny-30s-32tok-beam5",
            "whisper-tiny-30s-32tok",
            BEAMS,
            false,
        ),
        (
            "whisper-base-30s-32tok-beam5",
            "whisper-base-30s-32tok",
            BEAMS,
            false,
        ),
        (
            "whisper-small-30s-32tok-beam5",
            "whisper-small-30s-32tok",
            BEAMS,
            false,
        ),
        (
            "whisper-tiny-30s-32tok-int8",
            "whisper-tiny-30s-32tok",
            1,
            true,
        ),
        (
            "whisper-base-30s-32tok-int8",
            "whisper-base-30s-32tok",
            1,
            true,
        ),
        (
            "whisper-small-30s-32tok-int8",
            "whisper-small-30s-32tok",
            1,
            true,
        ),
        (
            "whisper-tiny-30s-32tok-beam5-int8",
            "whisper-tiny-30s-32tok",
            BEAMS,
            true,
        ),
        (
            "whisper-base-30s-32tok-beam5-int8",
            "whisper-base-30s-32tok",
            BEAMS,
            true,
        ),
        (
            "whisper-small-30s-32tok-beam5-int8",
            "whisper-small-30s-32tok",
            BEAMS,
            true,
        ),
    ];
    let configs = configs();
    VARIANTS
        .iter()
        .map(|&(name, checkpoint, beams, int8)| {
            let (_, config) = configs
                .iter()
                .find(|(c, _)| *c == checkpoint)
                .expect("a Whisper size");
            Workload {
                beams,
                int8,
                checkpoint,
                ..Workload::new(name, config.clone(), 1, 1)
            }
        })
        .collect()
}

/// Beams of the beam-search Whisper workloads (the `automatic-speech-recognition` default of
/// faster-whisper and of our pipeline).
pub const BEAMS: usize = 5;

/// 30 s of a deterministic test signal at 16 kHz (both sides generate the same one).
pub fn audio() -> Vec<f32> {
    (0..(AUDIO_SECONDS * 16_000.0) as usize)
        .map(|i| {
            let t = i as f64 / 16_000.0;
            (0.3 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 0.2 * (2.0 * std::f64::consts::PI * 1234.5 * t).sin()) as f32
        })
        .collect()
}

/// One run: features, encoder, 32 tokens (greedy or with `beams` beams); with `int8`, the
/// linear layers are quantized for int8 inference first (part of the load time).
pub fn transcriber(
    dir: &Path,
    device: &Device,
    beams: usize,
    int8: bool,
) -> Result<Box<dyn Fn() -> Result<()>>> {
    let config: WhisperConfig = read_config(&dir.join("config.json"))?;
    let weights = Weights::from_model_dir(dir)?;
    let mut model = WhisperForConditionalGeneration::load(&weights.root(device), &config)?;
    if int8 {
        burn_models::nn::quantize_dynamic(&mut model)?;
    }
    let mut generation = WhisperGenerationConfig::from_model_dir(dir, &config)?;
    generation.base.min_new_tokens = Some(NEW_TOKENS);
    let extractor = WhisperFeatureExtractor::new(WhisperFeatureConfig::default())?;
    let samples = audio();
    let device = device.clone();
    Ok(Box::new(move || {
        let mel = extractor.extract(&samples);
        let features = Tensor::from_data(
            TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
            &device,
        );
        let options = WhisperGenerateOptions {
            max_new_tokens: Some(NEW_TOKENS),
            num_beams: Some(beams),
            ..Default::default()
        };
        let out = model
            .generate(features, &generation, &options)
            .context("whisper generate")?;
        anyhow::ensure!(
            out.tokens.len() == NEW_TOKENS,
            "generated {} tokens",
            out.tokens.len()
        );
        Ok(())
    }))
}

use crate::workload::{Shapes, Workload, transformer_layer_shapes};

/// HF names and shapes of `WhisperForConditionalGeneration` (output projection tied).
pub fn whisper_shapes(config: &Value) -> Result<Shapes> {
    let get = |k: &str| {
        config[k]
            .as_u64()
            .map(|v| v as usize)
            .with_context(|| format!("config.{k}"))
    };
    let d = get("d_model")?;
    let mut shapes: Shapes = Vec::new();
    let norm = |shapes: &mut Shapes, name: String| {
        shapes.push((format!("{name}.weight"), vec![d]));
        shapes.push((format!("{name}.bias"), vec![d]));
    };
    let mels = get("num_mel_bins")?;
    shapes.push(("model.encoder.conv1.weight".into(), vec![d, mels, 3]));
    shapes.push(("model.encoder.conv1.bias".into(), vec![d]));
    shapes.push(("model.encoder.conv2.weight".into(), vec![d, d, 3]));
    shapes.push(("model.encoder.conv2.bias".into(), vec![d]));
    shapes.push((
        "model.encoder.embed_positions.weight".into(),
        vec![get("max_source_positions")?, d],
    ));
    for (side, layers, ffn) in [
        ("encoder", get("encoder_layers")?, get("encoder_ffn_dim")?),
        ("decoder", get("decoder_layers")?, get("decoder_ffn_dim")?),
    ] {
        for i in 0..layers {
            let p = format!("model.{side}.layers.{i}");
            // Whisper's `k_proj` has no bias.
            transformer_layer_shapes(&mut shapes, &p, side == "decoder", d, ffn, false);
        }
        norm(&mut shapes, format!("model.{side}.layer_norm"));
    }
    shapes.push((
        "model.decoder.embed_tokens.weight".into(),
        vec![get("vocab_size")?, d],
    ));
    shapes.push((
        "model.decoder.embed_positions.weight".into(),
        vec![get("max_target_positions")?, d],
    ));
    Ok(shapes)
}

/// The int8 + LoRA training-step workload (timed by `lora_train_step`; PyTorch side:
/// `bench_torch_whisper.py --train-lora`).
pub const LORA_STEP_WORKLOAD: &str = "whisper-small-lora-int8-train-step";
/// Label tokens of the training step's one example.
pub const LORA_STEP_LABELS: usize = 32;

/// whisper-small's architecture for the training step (the same checkpoint as the
/// whisper-small inference row).
pub fn lora_step_config() -> Value {
    configs()
        .into_iter()
        .find(|(name, _)| *name == "whisper-small-30s-32tok")
        .map(|(_, config)| config)
        .expect("whisper-small config")
}

/// Deterministic label ids, the same formula as bench_torch_whisper.py.
pub fn lora_step_labels() -> Vec<i64> {
    (0..LORA_STEP_LABELS)
        .map(|i| ((i * 131) % 50_000 + 100) as i64)
        .collect()
}

/// One optimizer step of the train-whisper-lora recipe on one 30 s example: Whisper with
/// int8 (LLM.int8, outlier threshold 6.0) frozen linears except the tied output projection,
/// LoRA r=4, alpha 64, dropout 0.05 on q_proj/v_proj, teacher-forced cross-entropy on
/// `LORA_STEP_LABELS` tokens, backward, clipping to 1.0, AdamW (lr 1e-3). Returns the load
/// (checkpoint, quantization, adapters) and the step; its first call allocates the optimizer
/// state.
pub fn lora_train_step(dir: &Path, device: &Device) -> Result<Box<dyn FnMut() -> Result<()>>> {
    lora_train_step_with(dir, device, false)
}

/// [`lora_train_step`], with `gradient_checkpointing` as the recipe's
/// `--gradient-checkpointing` (HF's `gradient_checkpointing=True`): each Whisper layer is
/// recomputed in the backward pass from its kept input.
pub fn lora_train_step_with(
    dir: &Path,
    device: &Device,
    gradient_checkpointing: bool,
) -> Result<Box<dyn FnMut() -> Result<()>>> {
    use burn::module::Module;
    use burn::optim::GradientsParams;
    use burn_peft::{Bias, LoraConfig, Quantization, get_peft_model, quant};
    use burn_tasks::train::speech::{load_whisper, masked_cross_entropy, shift_tokens_right};
    use burn_tasks::train::trainer::{TrainingArguments, build_optimizer, clip_grad_norm};

    let plain = device.clone().inner();
    let ad = if gradient_checkpointing {
        device.clone().autodiff().gradient_checkpointing()
    } else {
        device.clone().autodiff()
    };
    plain.seed(42);
    let int8 = Quantization::Int8 {
        threshold: Some(quant::LLM_INT8_THRESHOLD),
    };
    let parts = load_whisper(&dir.to_string_lossy(), Some(int8), &plain)?;
    let lora = LoraConfig {
        lora_dropout: 0.05,
        bias: Bias::None,
        ..LoraConfig::new(4, 64.0, &["q_proj", "v_proj"])
    };
    let peft = get_peft_model(parts.model, lora)?;
    // Each adapted module holds A `[r, d]` and B `[d, r]`: this many tensors get gradients.
    let (trainable, _) = peft.get_nb_trainable_parameters();
    let lora_tensors = trainable / (4 * parts.config.d_model);
    let mut model = Some(peft.base_model.train());
    let args = TrainingArguments {
        learning_rate: 1e-3,
        ..TrainingArguments::default()
    };
    let mut optim = build_optimizer(&args);
    let extractor = WhisperFeatureExtractor::new(WhisperFeatureConfig::default())?;
    let mel = extractor.extract(&audio());
    let features: Tensor<3> = Tensor::from_data(
        TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
        &ad,
    );
    let labels = vec![lora_step_labels()];
    let inputs = shift_tokens_right(
        &labels,
        parts.config.pad_token_id,
        parts.config.decoder_start_token_id,
    );
    let ids: Tensor<2, burn::tensor::Int> =
        Tensor::from_data(TensorData::new(inputs.concat(), [1, LORA_STEP_LABELS]), &ad);
    let mut first = true;
    Ok(Box::new(move || {
        let current = model.take().context("model")?;
        // As the trainer: the parameters join the device's strategy before each forward
        // (`train()` and the optimizer make leaves without it).
        let current = if gradient_checkpointing {
            burn_models::nn::lean::with_checkpointing_strategy(
                current,
                burn::tensor::GradientCheckpointingStrategy::Balanced,
            )
        } else {
            current
        };
        let logits = current.forward(features.clone(), ids.clone())?;
        let loss = masked_cross_entropy(logits, &labels);
        let mut grads = GradientsParams::from_grads(loss.backward(), &current);
        // The untimed first step checks that the step is what it says.
        if std::mem::take(&mut first) {
            let value: f32 = loss.into_scalar();
            anyhow::ensure!(value.is_finite(), "loss {value}");
            anyhow::ensure!(
                grads.len() == lora_tensors,
                "{} tensors have gradients, the adapters hold {lora_tensors}",
                grads.len()
            );
        }
        clip_grad_norm(&current, &mut grads, args.max_grad_norm);
        model = Some(optim.step(args.learning_rate, current, grads));
        plain.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(())
    }))
}
