// Runs the tiny fixtures' pipelines in the browser and compares every `pipeline` case of
// their golden.json with transformers' output, as the native tests do (tests/lib.rs:
// floats within 1e-4, strings, integers, labels and key order identical). Served from the
// repository root by run.mjs, which reads the verdict this page posts to /result.

import init, { initWebGpu, hasWebGpu, Pipeline, decodeAudio } from "../pkg/burn_wasm.js";
import { fetchModel, imageDataUrl } from "../model-files.js";

// Fixture, and where its inputs' paths are relative to (as the native tests resolve them).
const FIXTURES = [
  ["bert-seqcls", "text"],
  ["distilbert-seqcls", "text"],
  ["bert-multilabel", "text"],
  ["bert-regression", "text"],
  ["bert-seqcls-f16", "text"],
  ["bert-tokcls", "text"],
  ["distilbert-tokcls", "text"],
  ["bert-qa", "text"],
  ["distilbert-qa", "text"],
  ["vit-imgcls", "images"],
  ["whisper-tiny", "audio"],
  ["w2v-ctc-group", "audio"],
];

// test_support::TOLERANCE (an f32 1e-4).
const TOLERANCE = Math.fround(1e-4);

const logElement = document.getElementById("log");
async function log(line) {
  logElement.textContent += line + "\n";
  await fetch("/log", { method: "POST", body: line }).catch(() => {});
}

// JSON with each number kept as its source text, so integers and floats stay apart (as
// serde_json's `is_f64`) and kwargs are sent back exactly as written.
function parseExact(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === "number" ? JSON.rawJSON(context.source) : value,
  );
}

// test_support::element_diff_f64.
function elementDiff(a, e) {
  if (Number.isNaN(a) || Number.isNaN(e)) return Number.isNaN(a) && Number.isNaN(e) ? 0 : Infinity;
  if (a === e) return 0;
  const d = Math.abs(a - e);
  return Number.isNaN(d) ? Infinity : d;
}

// test_support::json_diff: the first difference as `path: ours vs expected`, or null.
function jsonDiff(path, a, e) {
  if (JSON.isRawJSON(a) && JSON.isRawJSON(e)) {
    const [ra, re] = [a.rawJSON, e.rawJSON];
    if (/[.eE]/.test(ra) || /[.eE]/.test(re)) {
      return elementDiff(Number(ra), Number(re)) > TOLERANCE ? `${path}: ${ra} vs ${re}` : null;
    }
    return BigInt(ra) === BigInt(re) ? null : `${path}: ${ra} vs ${re}`;
  }
  if (Array.isArray(a) && Array.isArray(e)) {
    if (a.length !== e.length) return `${path}: ${a.length} items vs ${e.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = jsonDiff(`${path}[${i}]`, a[i], e[i]);
      if (d) return d;
    }
    return null;
  }
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !JSON.isRawJSON(v);
  if (isObject(a) && isObject(e)) {
    const [ka, ke] = [Object.keys(a), Object.keys(e)];
    if (ka.join("\u0000") !== ke.join("\u0000")) return `${path}: keys ${ka} vs ${ke}`;
    for (const k of ka) {
      const d = jsonDiff(`${path}.${k}`, a[k], e[k]);
      if (d) return d;
    }
    return null;
  }
  return JSON.stringify(a) === JSON.stringify(e) ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(e)}`;
}

// With `?perturb=1` every expected output is altered past what the comparison allows (its
// first float moved by 3e-4, else its first string changed, else its first integer), so
// every case must fail: the check that this comparison can fail at all.
function perturbed(value) {
  let done = false;
  const walk = (v, kind) => {
    if (done) return v;
    if (JSON.isRawJSON(v)) {
      const isFloat = /[.eE]/.test(v.rawJSON);
      if (kind === "float" && isFloat) return (done = true), JSON.rawJSON(String(Number(v.rawJSON) + 3e-4));
      if (kind === "int" && !isFloat) return (done = true), JSON.rawJSON(String(BigInt(v.rawJSON) + 1n));
      return v;
    }
    if (typeof v === "string") return kind === "string" ? ((done = true), `${v} (altered)`) : v;
    if (Array.isArray(v)) return v.map((x) => walk(x, kind));
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, kind)]));
    }
    return v;
  };
  for (const kind of ["float", "string", "int"]) {
    const altered = walk(value, kind);
    if (done) return altered;
  }
  throw new Error(`nothing to alter in ${JSON.stringify(value)}`);
}

async function bytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// A case's inputs with each file path replaced by what a page has: images as data URLs,
// audio decoded to `{raw, sampling_rate}` (what a file input decodes to).
async function pageInputs(inputs, kind) {
  if (kind === "text") return inputs;
  const one = async (path) => {
    if (kind === "images") return imageDataUrl(await bytes(`/tests/fixtures/images/${path}`));
    const audio = decodeAudio(await bytes(`/tests/fixtures/${path}`));
    return { raw: Array.from(audio.samples), sampling_rate: audio.samplingRate };
  };
  return Array.isArray(inputs) ? Promise.all(inputs.map(one)) : one(inputs);
}

async function run() {
  await init();
  const params = new URLSearchParams(location.search);
  const devices = (params.get("devices") || "cpu").split(",");
  const only = params.get("fixtures")?.split(",");
  const perturb = params.has("perturb");
  const result = { passed: 0, failures: [], devices: {}, seconds: {} };
  for (const device of devices) {
    if (device === "webgpu") {
      if (!hasWebGpu()) throw new Error("this build has no WebGPU backend");
      await initWebGpu();
    }
    const started = performance.now();
    let checked = 0;
    for (const [name, kind] of FIXTURES) {
      if (only && !only.includes(name)) continue;
      const files = await fetchModel(`/tests/fixtures/${name}/`);
      const golden = parseExact(new TextDecoder().decode(await bytes(`/tests/fixtures/${name}/golden.json`)));
      const cases = golden.pipeline;
      const pipe = await Pipeline.load(cases[0].task, name, files, device);
      let failed = 0;
      for (const [i, c] of cases.entries()) {
        const inputs = await pageInputs(c.inputs, kind);
        let diff;
        try {
          const ours = parseExact(await pipe.call(JSON.stringify(inputs), JSON.stringify(c.kwargs)));
          const expected = perturb ? perturbed(c.output) : c.output;
          diff = jsonDiff("output", ours, expected);
          if (diff) diff += `\n  actual:   ${JSON.stringify(ours)}\n  expected: ${JSON.stringify(expected)}`;
        } catch (e) {
          diff = `error: ${e.message || e}`;
        }
        checked++;
        if (diff) {
          failed++;
          result.failures.push(`${device} ${name} case ${i} (kwargs ${JSON.stringify(c.kwargs)}): ${diff}`);
        } else {
          result.passed++;
        }
      }
      pipe.free();
      await log(`${device} ${name}: ${cases.length} cases, ${failed} failures`);
    }
    result.devices[device] = checked;
    result.seconds[device] = (performance.now() - started) / 1000;
  }
  return result;
}

async function report(result) {
  await fetch("/result", { method: "POST", body: JSON.stringify(result) });
}

window.addEventListener("error", (e) => report({ passed: 0, failures: [`page error: ${e.message}`] }));
window.addEventListener("unhandledrejection", (e) =>
  report({ passed: 0, failures: [`unhandled rejection: ${e.reason?.stack || e.reason}`] }),
);
run().then(report, (e) => report({ passed: 0, failures: [`error: ${e.stack || e}`] }));
