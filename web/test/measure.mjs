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

import { serve, chromium } from "./run.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const query = new URLSearchParams({
  task: option("task", "automatic-speech-recognition"),
  model: option("model", "/tests/fixtures/whisper-tiny/"),
  device: option("device", "cpu"),
  runs: option("runs", "3"),
  kwargs: option("kwargs", "{}"),
  report: "1",
});
if (option("input")) query.set("input", option("input"));

let page;
const server = serve(async (result) => {
  if (option("screenshot")) await page.screenshot(option("screenshot"));
  page.close();
  server.close();
  console.log(JSON.stringify(result, null, 2));
  process.exit(result.error ? 1 : 0);
});
server.listen(0, "127.0.0.1", () => {
  page = chromium(`http://127.0.0.1:${server.address().port}/web/index.html?${query}`);
});
setTimeout(() => {
  console.error(`no result; Chromium said:\n${page?.stderr()}`);
  page?.close();
  process.exit(1);
}, Number(option("timeout", "900")) * 1000).unref();
