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

import { option, measurePage } from "../test/run.mjs";

measurePage(
  "/web/peer/transformers-js.html",
  new URLSearchParams({
    model: option("model", "/web/models/whisper-tiny.en-onnx/"),
    input: option("input", "/web/models/speech-10s.wav"),
    runs: option("runs", "2"),
  }),
);
