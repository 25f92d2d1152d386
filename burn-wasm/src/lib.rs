//! The pipelines of `burn-tasks` in a web page: a JavaScript API (wasm-bindgen).
//!
//! A pipeline is loaded from a model's files, passed as bytes (`config.json`,
//! `model.safetensors`, the tokenizer's and processor's files), and called through the task
//! layer's JSON interface (`burn_tasks::Pipeline::call`), so its outputs are the native
//! ones. It runs on the CPU (Burn's `flex` backend, single-threaded, SIMD128) or on WebGPU.
//!
//! Loading and calls are suspendable exports (JavaScript Promise Integration): JavaScript
//! gets a `Promise`, and on WebGPU the synchronous pipeline code suspends at each read of a
//! result from the GPU until the browser has it (`burn_models::host`).
//!
//! ```js
//! import init, { initWebGpu, Pipeline } from "./pkg/burn_wasm.js";
//! await init();
//! const files = new Map([["config.json", bytes1], ["model.safetensors", bytes2], ...]);
//! const pipe = await Pipeline.load("text-classification", "my-model", files, "cpu");
//! const json = JSON.parse(await pipe.call(JSON.stringify("I love this!"), "{}"));
//! ```

#![cfg(target_arch = "wasm32")]
// `#[wasm_bindgen(jspi)]` is marked experimental (deprecated) in wasm-bindgen 0.2.130.
#![allow(deprecated)]

use std::cell::RefCell;

use burn::tensor::Device;
use burn_models::hub::ModelDir;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
    // Warnings and errors of the libraries (the models' loading warnings, a WebGPU shader the
    // browser rejects) on the browser's console; the first logger set wins.
    if log::set_logger(&ConsoleLog).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(message: &str);
}

/// `log` records at warning level and above, to `console.warn` and `console.error`.
struct ConsoleLog;

impl log::Log for ConsoleLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = format!("{}: {}", record.target(), record.args());
        if record.level() == log::Level::Error {
            console_error(&message);
        } else {
            console_warn(&message);
        }
    }

    fn flush(&self) {}
}

thread_local! {
    /// The WebGPU device, once initialized (a runtime is initialized once per page).
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// Whether this build has the WebGPU backend.
#[wasm_bindgen(js_name = hasWebGpu)]
pub fn has_webgpu() -> bool {
    cfg!(feature = "webgpu")
}

/// Acquires the browser's WebGPU adapter and device for Burn (once; later calls return at
/// once). Must be awaited before loading a pipeline with `device = "webgpu"`.
#[wasm_bindgen(js_name = initWebGpu)]
pub async fn init_webgpu() -> Result<(), JsError> {
    if WEBGPU.with(|d| d.borrow().is_some()) {
        return Ok(());
    }
    #[cfg(feature = "webgpu")]
    {
        let device = Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| JsError::new(&format!("WebGPU: {e}")))?;
        WEBGPU.with(|d| *d.borrow_mut() = Some(device));
        Ok(())
    }
    #[cfg(not(feature = "webgpu"))]
    Err(JsError::new(
        "this build has no WebGPU backend (build burn-wasm with the `webgpu` feature)",
    ))
}

fn device(name: &str) -> Result<Device, JsError> {
    match name {
        "cpu" => Ok(Device::flex()),
        "webgpu" => WEBGPU
            .with(|d| d.borrow().clone())
            .ok_or_else(|| JsError::new("WebGPU is not initialized: await initWebGpu() first")),
        other => Err(JsError::new(&format!(
            "unknown device `{other}` (expected cpu or webgpu)"
        ))),
    }
}

fn error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn parse(what: &str, text: &str) -> Result<Value, JsError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| JsError::new(&format!("{what} is not JSON: {e}")))
}

/// Audio decoded from a file: mono samples and their rate.
#[wasm_bindgen]
pub struct DecodedAudio {
    samples: Vec<f32>,
    sampling_rate: u32,
}

#[wasm_bindgen]
impl DecodedAudio {
    #[wasm_bindgen(getter)]
    pub fn samples(&self) -> Vec<f32> {
        self.samples.clone()
    }

    #[wasm_bindgen(getter, js_name = samplingRate)]
    pub fn sampling_rate(&self) -> u32 {
        self.sampling_rate
    }
}

/// Decodes an audio file's bytes (WAV, FLAC, MP3, Ogg Vorbis) and mixes it down to mono, as
/// the pipelines read a file input: `{"raw": samples, "sampling_rate": rate}` then gives the
/// file's results.
#[wasm_bindgen(js_name = decodeAudio)]
pub fn decode_audio(file: &[u8]) -> Result<DecodedAudio, JsError> {
    let audio = burn_tasks::input::audio::Audio::decode(file, None).map_err(error)?;
    Ok(DecodedAudio {
        samples: audio.samples,
        sampling_rate: audio.sampling_rate,
    })
}

/// A loaded pipeline (transformers' `pipeline(task, model=...)`).
#[wasm_bindgen]
pub struct Pipeline {
    inner: burn_tasks::Pipeline,
}

#[wasm_bindgen]
impl Pipeline {
    /// Loads the pipeline of `task` (an HF task name or alias) from the model's files: a
    /// `Map` of file name to `Uint8Array`. `name` labels the model in messages; `device` is
    /// `"cpu"` or `"webgpu"`.
    #[wasm_bindgen(jspi)]
    pub fn load(
        task: &str,
        name: &str,
        files: &js_sys::Map,
        device_name: &str,
    ) -> Result<Pipeline, JsError> {
        let device = device(device_name)?;
        let mut contents = Vec::new();
        for entry in files.entries() {
            let pair: js_sys::Array = entry.map_err(|e| JsError::new(&format!("{e:?}")))?.into();
            let file = pair
                .get(0)
                .as_string()
                .ok_or_else(|| JsError::new("model files: keys must be file names"))?;
            let bytes = pair.get(1).dyn_into::<js_sys::Uint8Array>().map_err(|_| {
                JsError::new(&format!(
                    "model file {file}: its value must be a Uint8Array"
                ))
            })?;
            contents.push((file, bytes.to_vec()));
        }
        let dir = ModelDir::from_files(name, contents).map_err(error)?;
        let inner = burn_tasks::pipeline(task)
            .map_err(error)?
            .model_dir(dir)
            .device(device)
            .build()
            .map_err(error)?;
        Ok(Pipeline { inner })
    }

    /// The task's name.
    #[wasm_bindgen(getter)]
    pub fn task(&self) -> String {
        self.inner.task().name.to_string()
    }

    /// `pipe(inputs, **kwargs)` with JSON text in and out: the inputs and keyword arguments
    /// HF's pipeline takes (images as `data:` URLs, audio as `{"raw", "sampling_rate"}`).
    #[wasm_bindgen(jspi)]
    pub fn call(&self, inputs: &str, kwargs: &str) -> Result<String, JsError> {
        let inputs = parse("inputs", inputs)?;
        let kwargs = parse("kwargs", kwargs)?;
        self.run(&inputs, &kwargs)
    }

    /// The pipeline on one image file (PNG, JPEG, WebP, BMP bytes), as a `data:` URL input.
    #[wasm_bindgen(jspi, js_name = callImage)]
    pub fn call_image(&self, image: &[u8], kwargs: &str) -> Result<String, JsError> {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(image);
        let inputs = Value::String(format!("data:image/*;base64,{encoded}"));
        self.run(&inputs, &parse("kwargs", kwargs)?)
    }

    /// The pipeline on mono PCM samples at `sampling_rate` Hz (HF's `{"raw", "sampling_rate"}`
    /// input; resampled to the model's rate inside the pipeline).
    #[wasm_bindgen(jspi, js_name = callAudio)]
    pub fn call_audio(
        &self,
        samples: &[f32],
        sampling_rate: u32,
        kwargs: &str,
    ) -> Result<String, JsError> {
        // As f64, the values printed in the JSON read back to exactly these samples.
        let raw: Vec<f64> = samples.iter().map(|&s| f64::from(s)).collect();
        let inputs = json!({"raw": raw, "sampling_rate": sampling_rate});
        self.run(&inputs, &parse("kwargs", kwargs)?)
    }

    /// The pipeline on an audio file's bytes (WAV, FLAC, MP3, Ogg Vorbis), decoded and mixed
    /// down as a file input is.
    #[wasm_bindgen(jspi, js_name = callAudioFile)]
    pub fn call_audio_file(&self, file: &[u8], kwargs: &str) -> Result<String, JsError> {
        let audio = burn_tasks::input::audio::Audio::decode(file, None).map_err(error)?;
        self.call_audio(&audio.samples, audio.sampling_rate, kwargs)
    }

    fn run(&self, inputs: &Value, kwargs: &Value) -> Result<String, JsError> {
        let output = self.inner.call(inputs, kwargs).map_err(error)?;
        Ok(output.to_string())
    }
}
