// The demo page: load a model's files (a picked directory, or a URL next to the page), run a
// pipeline on the CPU or WebGPU, show HF's JSON and the time taken.
//
// Query parameters load and run at once (for screenshots and measurements):
//   ?task=...&model=<url of the model directory>&device=cpu|webgpu&input=<url of an image or
//   audio file, or text>&kwargs=<json>&runs=N&report=1 (posts the timings to /result)

import init, { initWebGpu, hasWebGpu, Pipeline, decodeAudio } from "./pkg/burn_wasm.js";
import { fetchModel, readPickedModel, modelBytes } from "./model-files.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const timings = {};
let pipe = null;
let recorded = null; // {samples, rate} from the microphone

function status(element, text, error = false) {
  element.textContent = text;
  element.classList.toggle("error", error);
}

function showInputs() {
  const task = $("task").value;
  for (const div of document.querySelectorAll("[data-for]")) {
    div.hidden = !div.dataset.for.split(" ").includes(task);
  }
}

async function load(files, name) {
  const device = $("device").value;
  status($("model-status"), `Loading ${name} on ${device}...`);
  $("run").disabled = true;
  pipe?.free();
  pipe = null;
  if (device === "webgpu") await initWebGpu();
  const started = performance.now();
  pipe = await Pipeline.load($("task").value, name, files, device);
  timings.loadMs = performance.now() - started;
  const mb = (modelBytes(files) / 1e6).toFixed(1);
  status($("model-status"), `${name}: ${mb} MB, loaded on ${device} in ${timings.loadMs.toFixed(0)} ms.`);
  $("run").disabled = false;
}

async function fileBytes(input) {
  const file = input.files[0];
  if (!file) throw new Error("choose a file first");
  return new Uint8Array(await file.arrayBuffer());
}

// One call of the pipeline on the page's inputs; HF's JSON as text, and the audio's length.
async function call(kwargs, inputUrl) {
  const task = pipe.task;
  const fromUrl = async () => new Uint8Array(await (await fetch(inputUrl)).arrayBuffer());
  if (task === "image-classification") {
    return { json: await pipe.callImage(inputUrl ? await fromUrl() : await fileBytes($("image")), kwargs) };
  }
  if (task === "automatic-speech-recognition") {
    let samples, rate;
    if (recorded && !inputUrl && !$("audio").files[0]) {
      ({ samples, rate } = recorded);
    } else {
      const audio = decodeAudio(inputUrl ? await fromUrl() : await fileBytes($("audio")));
      [samples, rate] = [audio.samples, audio.samplingRate];
    }
    return { json: await pipe.callAudio(samples, rate, kwargs), seconds: samples.length / rate };
  }
  const inputs =
    task === "question-answering"
      ? { question: $("question").value, context: $("context").value }
      : inputUrl ?? $("text").value;
  return { json: await pipe.call(JSON.stringify(inputs), kwargs) };
}

async function run(inputUrl, runs = 1) {
  $("run").disabled = true;
  status($("run-status"), "Running...");
  try {
    const kwargs = $("kwargs").value || "{}";
    timings.runMs = [];
    let result;
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      result = await call(kwargs, inputUrl);
      timings.runMs.push(performance.now() - started);
      if (i === 0) timings.firstResultMs = performance.now();
    }
    const ms = timings.runMs[timings.runMs.length - 1];
    let text = `${pipe.task} on ${$("device").value}: ${ms.toFixed(0)} ms`;
    if (result.seconds) {
      timings.audioSeconds = result.seconds;
      text += ` for ${result.seconds.toFixed(1)} s of audio (real-time factor ${(ms / 1000 / result.seconds).toFixed(3)})`;
    }
    status($("run-status"), text + ".");
    $("output").textContent = JSON.stringify(JSON.parse(result.json), null, 2);
  } catch (e) {
    status($("run-status"), `${e.message || e}`, true);
    throw e;
  } finally {
    $("run").disabled = false;
  }
}

async function record() {
  const button = $("record");
  if (button.recorder) {
    button.recorder.stop();
    return;
  }
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    button.recorder = null;
    button.textContent = "Record from the microphone";
    // Decoded at 16 kHz by the browser, mixed down to mono.
    const context = new AudioContext({ sampleRate: 16000 });
    const buffer = await context.decodeAudioData(await new Blob(chunks).arrayBuffer());
    const samples = new Float32Array(buffer.length);
    for (let c = 0; c < buffer.numberOfChannels; c++) {
      buffer.getChannelData(c).forEach((v, i) => (samples[i] += v / buffer.numberOfChannels));
    }
    recorded = { samples, rate: buffer.sampleRate };
    $("audio").value = "";
    status($("recording"), `Recorded ${(samples.length / buffer.sampleRate).toFixed(1)} s.`);
  };
  recorder.start();
  button.recorder = recorder;
  button.textContent = "Stop";
  status($("recording"), "Recording...");
}

async function main() {
  const started = performance.now();
  await init();
  timings.wasmInitMs = performance.now() - started;
  if (!hasWebGpu() || !navigator.gpu) {
    $("device").querySelector('[value="webgpu"]').disabled = true;
  }
  $("task").onchange = showInputs;
  $("load").onclick = async () => {
    try {
      const picked = $("picker").files;
      if (picked.length) {
        const files = await readPickedModel(picked);
        await load(files, picked[0].webkitRelativePath.split("/")[0]);
      } else {
        const url = $("url").value || $("url").placeholder;
        await load(await fetchModel(url), url);
      }
    } catch (e) {
      status($("model-status"), `${e.message || e}`, true);
    }
  };
  $("run").onclick = () => run().catch(() => {});
  $("record").onclick = () => record().catch((e) => status($("recording"), `${e.message || e}`, true));
  $("image").onchange = () => ($("preview").src = URL.createObjectURL($("image").files[0]));

  for (const [key, id] of [["task", "task"], ["device", "device"], ["kwargs", "kwargs"]]) {
    if (params.has(key)) $(id).value = params.get(key);
  }
  showInputs();
  if (!params.has("model")) return;
  // Load and run from the query parameters.
  const model = params.get("model");
  $("url").value = model;
  const input = params.get("input");
  const task = $("task").value;
  if (input && (task === "text-classification" || task === "token-classification")) $("text").value = input;
  if (input && task === "question-answering") {
    const { question, context } = JSON.parse(input);
    [$("question").value, $("context").value] = [question, context];
  }
  const fileInput = task === "image-classification" || task === "automatic-speech-recognition";
  if (input && task === "image-classification") $("preview").src = input;
  const fetchStarted = performance.now();
  const files = await fetchModel(model);
  timings.fetchMs = performance.now() - fetchStarted;
  timings.modelBytes = modelBytes(files);
  await load(files, model);
  await run(fileInput ? input : undefined, Number(params.get("runs") || 1));
  if (params.has("report")) {
    await fetch("/result", { method: "POST", body: JSON.stringify({ timings, output: $("output").textContent }) });
  }
}

main().catch(async (e) => {
  status($("run-status"), `${e.message || e}`, true);
  if (params.has("report")) {
    await fetch("/result", { method: "POST", body: JSON.stringify({ error: `${e.stack || e}` }) });
  }
});
