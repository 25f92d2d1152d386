//! `cargo xtask train-whisper-lora` end to end on CPU: the tiny Common-Voice-shaped fixture and
//! the tiny Whisper checkpoint, an int8 base with LoRA r=4 on q_proj/v_proj.

use std::path::Path;

use burn::tensor::{Int, Tensor, TensorData};
use burn_models::nn::Linears;
use burn_models::whisper::WhisperForConditionalGeneration;
use burn_peft::Quantization;
use burn_tasks::pipelines::TaskPipeline;
use burn_tasks::pipelines::automatic_speech_recognition::{
    AsrOptions, AudioInput, AutomaticSpeechRecognitionPipeline,
};
use burn_tasks::train::TrainingArguments;
use burn_tasks::train::speech::{
    WhisperLoraRecipe, WhisperSpeechTask, default_lora, load_whisper, load_with_adapter,
    run_whisper_lora, shift_tokens_right, speech_task, trainable_parameters_line,
};
use integration_tests::{device, fixture, model_dir};

const INT8: Quantization = Quantization::Int8 {
    threshold: Some(6.0),
};

fn recipe(output: &Path) -> WhisperLoraRecipe {
    let defaults = WhisperLoraRecipe::default();
    WhisperLoraRecipe {
        model: fixture("whisper-tiny").display().to_string(),
        data: fixture("common_voice_tiny").display().to_string(),
        train_samples: Some(4),
        generation_max_length: 10,
        args: TrainingArguments {
            output_dir: output.to_path_buf(),
            num_train_epochs: 2,
            per_device_train_batch_size: 2,
            per_device_eval_batch_size: 2,
            learning_rate: 1e-2,
            warmup_steps: 0,
            logging_steps: 1,
            progress: false,
            ..defaults.args.clone()
        },
        ..defaults
    }
}

/// Teacher-forced logits of the evaluation clips.
fn eval_logits(
    task: &WhisperSpeechTask,
    model: &WhisperForConditionalGeneration,
) -> (Tensor<3>, Vec<Vec<i64>>, Vec<f32>) {
    let device = device();
    let examples: Vec<_> = task.eval.iter().collect();
    let batch = task.batch(&examples, &device).unwrap();
    let ids = shift_tokens_right(&batch.labels, 420, 421);
    let [b, len] = [ids.len(), ids[0].len()];
    let tensor: Tensor<2, Int> = Tensor::from_data(
        TensorData::new(ids.iter().flatten().copied().collect::<Vec<_>>(), [b, len]),
        &device,
    );
    let logits = model
        .forward(batch.input_features.clone(), tensor)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    (batch.input_features, ids, logits)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    test_support::max_abs_diff(a, b).0
}

#[test]
fn trainable_parameters_line_from_config_alone() {
    let _random = integration_tests::random_stream_lock();
    // PEFT 0.21's print_trainable_parameters() on whisper-large-v2 (fixtures/peft-whisper-params.json)
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("peft-whisper-params.json")).unwrap(),
    )
    .unwrap();
    let large_v2 = serde_json::json!({
        "d_model": 1280, "encoder_layers": 32, "decoder_layers": 32, "encoder_ffn_dim": 5120,
        "decoder_ffn_dim": 5120, "vocab_size": 51865, "num_mel_bins": 80,
        "max_source_positions": 1500, "max_target_positions": 448
    });
    assert_eq!(
        trainable_parameters_line(&large_v2, &default_lora()).unwrap(),
        golden["print_trainable_parameters"].as_str().unwrap()
    );
    // PEFT on the tiny fixture (get_peft_model(...).print_trainable_parameters()).
    let tiny = burn_tasks::train::speech::model_config_json(
        &fixture("whisper-tiny").display().to_string(),
    )
    .unwrap();
    assert_eq!(
        trainable_parameters_line(&tiny, &default_lora()).unwrap(),
        "trainable params: 1,536 || all params: 55,568 || trainable%: 2.7642"
    );
}

#[test]
fn whisper_lora_trains_saves_reloads_transcribes_and_resumes() {
    let _guard = integration_tests::random_stream_lock();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("full");
    let recipe = recipe(&out_dir);
    let out = run_whisper_lora(&recipe, &device()).unwrap();
    assert_eq!(out.global_step, 4);
    // The loss falls: each epoch lower, and the last logged steps below the first.
    assert!(
        out.epoch_losses[1] < out.epoch_losses[0],
        "{:?}",
        out.epoch_losses
    );
    let losses = &out.logged_losses;
    assert!(losses[losses.len() - 1] < losses[0], "{losses:?}");
    for key in ["loss", "cer", "wer"] {
        assert!(out.metrics[key].is_finite(), "{:?}", out.metrics);
    }
    assert!(out_dir.join("adapter_config.json").is_file());
    assert!(out_dir.join("adapter_model.safetensors").is_file());

    // The saved adapter on a freshly loaded int8 base gives the trained model's logits.
    let device = device();
    let parts = load_whisper(&recipe.model, Some(INT8), &device).unwrap();
    let task = speech_task(&recipe, &parts).unwrap();
    let trained = eval_logits(&task, &out.model).2;
    let reloaded = load_with_adapter(&recipe.model, Some(INT8), &out_dir, &device).unwrap();
    let (features, ids, logits) = eval_logits(&task, &reloaded);
    assert!(max_diff(&trained, &logits) < 1e-5);
    // The adapter changed the model.
    let base = eval_logits(&task, &parts.model).2;
    assert!(max_diff(&base, &logits) > 1e-3);

    // For the PEFT check in generate_wlora.py: our logits on the f32 base with the adapter.
    if let Ok(dump) = std::env::var("WLORA_DUMP") {
        let f32_model = load_with_adapter(&recipe.model, None, &out_dir, &device).unwrap();
        let (_, _, logits) = eval_logits(&task, &f32_model);
        let dims = features.dims();
        let features: Vec<f32> = features.into_data().try_to_vec().unwrap();
        let nested: Vec<Vec<Vec<f32>>> = features
            .chunks(dims[1] * dims[2])
            .map(|b| b.chunks(dims[2]).map(<[f32]>::to_vec).collect())
            .collect();
        let vocab = logits.len() / (ids.len() * ids[0].len());
        let logits: Vec<Vec<Vec<f32>>> = logits
            .chunks(ids[0].len() * vocab)
            .map(|b| b.chunks(vocab).map(<[f32]>::to_vec).collect())
            .collect();
        std::fs::create_dir_all(&dump).unwrap();
        let copy = Path::new(&dump).join("adapter");
        std::fs::create_dir_all(&copy).unwrap();
        for f in ["adapter_config.json", "adapter_model.safetensors"] {
            std::fs::copy(out_dir.join(f), copy.join(f)).unwrap();
        }
        let json = serde_json::json!({
            "input_features": nested, "decoder_input_ids": ids, "logits": logits
        });
        std::fs::write(Path::new(&dump).join("logits.json"), json.to_string()).unwrap();
    }

    // The ASR pipeline takes the adapter (`--adapter DIR`) and transcribes with it.
    let pipeline = AutomaticSpeechRecognitionPipeline::builder()
        .model(recipe.model.clone())
        .device(device.clone())
        .adapter(out_dir.clone())
        .load()
        .unwrap();
    let mut adapted = 0;
    pipeline
        .whisper()
        .expect("a Whisper model")
        .visit_linears(&mut |l| {
            adapted += usize::from(!l.adapters.is_empty() && l.active_adapter.is_some())
        });
    assert_eq!(
        adapted,
        2 * (2 + 2 * 2),
        "q_proj and v_proj of every attention"
    );
    let clip = fixture("common_voice_tiny/clips/common_voice_zh-CN_0006.wav");
    let mut options = AsrOptions::default();
    options
        .generate_kwargs
        .insert("max_new_tokens".into(), serde_json::json!(8));
    let text = pipeline
        .transcribe(&[AudioInput::File(clip)], &options)
        .unwrap();
    assert_eq!(text.len(), 1);

    // --resume: stopped after epoch 1, then resumed, ends where the uninterrupted run did.
    let resumed_dir = dir.path().join("resumed");
    let mut first = self::recipe(&resumed_dir);
    first.eval_generate = false;
    first.args.stop_after_epochs = Some(1);
    let half = run_whisper_lora(&first, &device).unwrap();
    assert_eq!(half.global_step, 2);
    let mut second = self::recipe(&resumed_dir);
    second.eval_generate = false;
    second.args.resume = true;
    let resumed = run_whisper_lora(&second, &device).unwrap();
    assert_eq!(resumed.global_step, 4);
    let resumed_logits = eval_logits(&task, &resumed.model).2;
    assert!(max_diff(&trained, &resumed_logits) < 1e-5);
}

#[test]
fn parquet_rows_with_audio_bytes_match_the_release_layout() {
    let _random = integration_tests::random_stream_lock();
    use burn_tasks::train::speech::load_speech_split;
    let tsv = load_speech_split(
        &fixture("common_voice_tiny").display().to_string(),
        None,
        "test",
        None,
        42,
    )
    .unwrap();
    let parquet = load_speech_split(
        &fixture("common_voice_tiny/parquet").display().to_string(),
        None,
        "test",
        None,
        42,
    )
    .unwrap();
    assert_eq!(tsv.len(), 2);
    assert_eq!(parquet.len(), 2);
    for (a, b) in tsv.iter().zip(&parquet) {
        assert_eq!(a.sentence, b.sentence);
        let (a, b) = (a.load_audio(16_000).unwrap(), b.load_audio(16_000).unwrap());
        assert_eq!(a.samples, b.samples);
        // 0.4 s at 48 kHz resampled to 16 kHz.
        assert!(
            (a.samples.len() as i64 - 6_400).abs() <= 16,
            "{}",
            a.samples.len()
        );
    }
}

/// `--gradient-checkpointing`: the same recipe trains through the trainer with Whisper's
/// encoder layers recomputed in the backward pass; the loss falls as without it.
#[test]
fn whisper_lora_trains_with_gradient_checkpointing() {
    let _guard = integration_tests::random_stream_lock();
    let dir = tempfile::tempdir().unwrap();
    let mut recipe = recipe(&dir.path().join("ck"));
    recipe.eval_generate = false;
    recipe.args.save_each_epoch = false;
    recipe.args.gradient_checkpointing = true;
    let out = run_whisper_lora(&recipe, &device()).unwrap();
    assert!(
        out.epoch_losses[1] < out.epoch_losses[0],
        "{:?}",
        out.epoch_losses
    );
    assert!(out.adapter_dir.join("adapter_model.safetensors").is_file());
}

/// A PEFT-made adapter for the tiny Whisper (r=4, alpha 64, q_proj/v_proj, non-zero B;
/// tests/fixtures/generate_peft_whisper.py) loads here and gives PEFT's logits with the adapter,
/// disabled, merged, unmerged and after merge_and_unload; the int8 base with it stays close.
#[test]
fn whisper_adapter_from_peft() {
    let _random = integration_tests::random_stream_lock();
    use burn_peft::PeftModel;
    use burn_tasks::input::audio::Audio;
    use burn_tasks::processors::WhisperFeatureExtractor;
    use integration_tests::{assert_close, golden, int_rows, to_vec};

    let device = device();
    let golden = golden("peft-whisper-tiny");
    let extractor = WhisperFeatureExtractor::from_model_dir(&model_dir("whisper-tiny")).unwrap();
    let inputs: Vec<(String, Tensor<3>, Tensor<2, Int>)> = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let clip = case["clip"].as_str().unwrap().to_string();
            let audio = Audio::from_file(fixture("audio").join(&clip)).unwrap();
            let mel = extractor.extract(&audio.samples);
            let features = Tensor::from_data(
                TensorData::new(mel.data, [1, mel.mel_bins, mel.frames]),
                &device,
            );
            let ids = int_rows(&case["decoder_input_ids"]);
            let seq = ids[0].len();
            let ids = Tensor::from_data(TensorData::new(ids.concat(), [1, seq]), &device);
            (clip, features, ids)
        })
        .collect();
    let check = |what: &str, model: &WhisperForConditionalGeneration, key: &str| {
        for ((clip, features, ids), case) in inputs.iter().zip(golden["cases"].as_array().unwrap())
        {
            let logits = model.forward(features.clone(), ids.clone()).unwrap();
            let (shape, data) = to_vec(logits);
            assert_close(&format!("{what} {clip} {key}"), &shape, &data, &case[key]);
        }
    };
    let base = || {
        load_whisper(&fixture("whisper-tiny").to_string_lossy(), None, &device)
            .unwrap()
            .model
    };
    let adapter_dir = fixture("peft-whisper-tiny");
    let mut model = PeftModel::from_pretrained(base(), &adapter_dir).unwrap();
    assert_eq!(
        model.trainable_parameters_line(),
        golden["print_trainable_parameters"].as_str().unwrap()
    );
    check("adapter", &model.base_model, "adapter");
    model.disable_adapters();
    check("disabled", &model.base_model, "disabled");
    model.enable_adapters();
    model.merge_adapter();
    check("merged", &model.base_model, "merged");
    model.unmerge_adapter();
    check("unmerged", &model.base_model, "adapter");
    let merged = model.merge_and_unload();
    check("merge_and_unload", &merged, "merged");

    // The same adapter on the int8 base: within int8's error of PEFT's f32 logits.
    let int8 = load_with_adapter(
        &fixture("whisper-tiny").to_string_lossy(),
        Some(INT8),
        &adapter_dir,
        &device,
    )
    .unwrap();
    let (_, features, ids) = &inputs[0];
    let (_, ours) = to_vec(int8.forward(features.clone(), ids.clone()).unwrap());
    let expected: Vec<f32> = golden["cases"][0]["adapter"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let worst = max_diff(&ours, &expected);
    let scale = test_support::max_abs_diff(&expected, &vec![0.0; expected.len()]).0;
    eprintln!("int8 base + PEFT adapter vs PEFT f32: max |diff| {worst} (logits up to {scale})");
    assert!(worst < 0.05 * scale, "int8 base drifts by {worst}");
}
