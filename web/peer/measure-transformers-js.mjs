#!/usr/bin/env node
// The transformers.js column of docs/browser.md: transformers.js (ONNX Runtime Web, CPU,
// one thread) transcribing a clip in the same headless Chromium as web/test/measure.mjs.
//
//   (cd web/peer && npm install --ignore-scripts)
//   web/peer/export_onnx.sh MODEL_DIR web/models/whisper-tiny.en-onnx
//   node web/peer/measure-transformers-js.mjs --model /web/models/whisper-tiny.en-onnx/ \
//     --input /web/models/speech-10s.wav [--runs 2]
//
// Load time here is fetch and session creation together (transformers.js does both in
// `pipeline(...)`); the first result is counted from navigation, as in measure.mjs.

import { serve, chromium } from "../test/run.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const query = new URLSearchParams({
  model: option("model", "/web/models/whisper-tiny.en-onnx/"),
  input: option("input", "/web/models/speech-10s.wav"),
  runs: option("runs", "2"),
});

let page;
const server = serve((result) => {
  page.close();
  server.close();
  console.log(JSON.stringify(result, null, 2));
  process.exit(result.error ? 1 : 0);
});
server.listen(0, "127.0.0.1", () => {
  page = chromium(`http://127.0.0.1:${server.address().port}/web/peer/transformers-js.html?${query}`);
});
setTimeout(() => {
  console.error(`no result after 300 s; Chromium said:\n${page?.stderr()}`);
  page?.close();
  process.exit(1);
}, 300_000).unref();
