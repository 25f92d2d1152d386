#!/usr/bin/env node
// Measures the demo page in headless Chromium: opens /web/?task=...&model=...&input=...&report=1
// (served from the repository root), and prints the timings the page posts back: WebAssembly
// start-up, model fetch and load, each run, the time to the first result since navigation,
// and for speech the real-time factor.
//
//   node web/test/measure.mjs --task automatic-speech-recognition \
//     --model /path/under/repo/whisper-tiny.en/ --input /tests/fixtures/audio/tones-2.5s.wav \
//     [--device cpu|webgpu] [--runs 3] [--kwargs '{}'] [--screenshot docs/x.png]
//
// Node 20 needs --experimental-websocket for --screenshot (DevTools protocol).

import { option, measurePage } from "./run.mjs";

const query = new URLSearchParams({
  task: option("task", "automatic-speech-recognition"),
  model: option("model", "/tests/fixtures/whisper-tiny/"),
  device: option("device", "cpu"),
  runs: option("runs", "3"),
  kwargs: option("kwargs", "{}"),
  report: "1",
});
if (option("input")) query.set("input", option("input"));
measurePage("/web/index.html", query);
