#!/usr/bin/env node
// The browser test: serves the repository, opens web/test/index.html in headless Chromium
// (its software WebGPU adapter, SwiftShader, for the WebGPU runs) and waits for the page's
// verdict on the fixtures' goldens. Exit status 0 when every case matches.
//
//   node web/test/run.mjs [--devices cpu,webgpu] [--fixtures a,b] [--timeout 900] [--perturb]
//
// --perturb alters every expected output past the tolerance (goldens.js): the run then
// succeeds only if every case fails, which shows the comparison catches a wrong output.
//
// Needs web/pkg (web/build.sh) and Chromium (`chromium`, or CHROMIUM=/path/to/chrome).

import { createServer } from "node:http";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize, extname, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = normalize(join(dirname(fileURLToPath(import.meta.url)), "..", ".."));
const args = process.argv.slice(2);
// The value after `--name` on the command line, else `fallback`.
export const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const devices = option("devices", "cpu,webgpu");
const fixtures = option("fixtures", "");
const timeoutSeconds = Number(option("timeout", "900"));
const perturb = args.includes("--perturb");

const TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".css": "text/css",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".wav": "audio/wav",
};

// Serves files under the repository root, and takes the page's log lines and verdict.
export function serve(onResult) {
  return createServer((request, response) => {
    const url = new URL(request.url, "http://localhost");
    if (request.method === "POST") {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        response.end();
        if (url.pathname === "/log") console.log(body);
        if (url.pathname === "/result") onResult(JSON.parse(body));
      });
      return;
    }
    const path = normalize(join(root, decodeURIComponent(url.pathname)));
    if (!path.startsWith(root)) {
      response.writeHead(403).end();
      return;
    }
    try {
      if (!statSync(path).isFile()) throw new Error("not a file");
      response.writeHead(200, { "content-type": TYPES[extname(path)] || "application/octet-stream" });
      response.end(readFileSync(path));
    } catch {
      response.writeHead(404).end();
    }
  });
}

// Headless Chromium on `url`, with a fresh profile and its software WebGPU adapter.
export function chromium(url, extra = []) {
  const profile = mkdtempSync(join(tmpdir(), "burn-wasm-chromium-"));
  const flags = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-webgpu",
    // The page's console (a Rust panic's message) on stderr, shown when a run fails.
    "--enable-logging=stderr",
    "--window-size=1100,1000",
    // DevTools on a free port (written to the profile's DevToolsActivePort): screenshots.
    "--remote-debugging-port=0",
    `--user-data-dir=${profile}`,
    ...extra,
    url,
  ];
  const browser = spawn(process.env.CHROMIUM || "chromium", flags, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  browser.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  browser.on("error", (e) => {
    console.error(`cannot start Chromium (${e.message}); install it (Debian: apt-get install chromium) or set CHROMIUM`);
    process.exit(2);
  });
  return {
    browser,
    stderr: () => stderr,
    screenshot: (path) => screenshot(profile, path),
    close: () => {
      browser.kill("SIGKILL");
      // Chromium's helpers may still be writing to the profile for a moment.
      try {
        rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
      } catch (e) {
        console.error(`could not remove ${profile}: ${e.message}`);
      }
    },
  };
}

// Opens `path?query` (served from the repository root) in headless Chromium, waits for the
// JSON the page posts to /result, prints it and exits (1 if it holds an `error` or none came
// within `--timeout` seconds). `--screenshot FILE` saves the page as it is then.
export function measurePage(path, query) {
  let page;
  const server = serve(async (result) => {
    if (option("screenshot")) await page.screenshot(option("screenshot"));
    page.close();
    server.close();
    console.log(JSON.stringify(result, null, 2));
    process.exit(result.error ? 1 : 0);
  });
  server.listen(0, "127.0.0.1", () => {
    page = chromium(`http://127.0.0.1:${server.address().port}${path}?${query}`);
  });
  setTimeout(() => {
    console.error(`no result; Chromium said:\n${page?.stderr()}`);
    page?.close();
    process.exit(1);
  }, Number(option("timeout", "900")) * 1000).unref();
}

// A PNG of the page as it is now, through the DevTools protocol (Page.captureScreenshot).
async function screenshot(profile, path) {
  const portFile = join(profile, "DevToolsActivePort");
  if (!existsSync(portFile)) throw new Error("Chromium wrote no DevToolsActivePort");
  const port = readFileSync(portFile, "utf8").split("\n")[0];
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find((t) => t.type === "page");
  const socket = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  const data = await new Promise((resolve, reject) => {
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id !== 1) return;
      if (message.error) reject(new Error(message.error.message));
      else resolve(message.result.data);
    };
    socket.send(JSON.stringify({ id: 1, method: "Page.captureScreenshot", params: { format: "png", captureBeyondViewport: true } }));
  });
  socket.close();
  writeFileSync(path, Buffer.from(data, "base64"));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let page;
  const server = serve((result) => {
    const failures = result.failures || [];
    if (perturb) {
      // Every case, compared with an altered golden, must have failed on a difference (not
      // on an error before the comparison).
      const caught = failures.filter((f) => !f.includes("): error:") && !f.startsWith("page error") && !f.startsWith("error:"));
      const cases = Object.values(result.devices || {}).reduce((a, b) => a + b, 0);
      const ok = result.passed === 0 && cases > 0 && caught.length === cases;
      page.close();
      server.close();
      console.log(`altered goldens: ${caught.length} of ${cases} cases caught, ${result.passed} passed`);
      if (!ok) for (const failure of failures.filter((f) => !caught.includes(f))) console.log(`NOT CAUGHT ${failure}`);
      process.exit(ok ? 0 : 1);
    }
    const failed = failures.length || !result.passed;
    if (failed) {
      const console_ = page.stderr().split("\n").filter((l) => l.includes("CONSOLE"));
      console.log(console_.slice(-8).join("\n"));
    }
    page.close();
    server.close();
    for (const failure of result.failures || []) console.log(`FAIL ${failure}`);
    const counts = Object.entries(result.devices || {})
      .map(([device, n]) => `${device}: ${n} cases in ${result.seconds[device].toFixed(1)} s`)
      .join(", ");
    console.log(`${result.passed} passed, ${(result.failures || []).length} failed (${counts})`);
    process.exit(result.failures?.length || !result.passed ? 1 : 0);
  });
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    const query = new URLSearchParams({
      devices,
      ...(fixtures ? { fixtures } : {}),
      ...(perturb ? { perturb: "1" } : {}),
    });
    page = chromium(`http://127.0.0.1:${port}/web/test/index.html?${query}`);
  });
  setTimeout(() => {
    console.error(`no verdict after ${timeoutSeconds} s; Chromium said:\n${page?.stderr()}`);
    page?.close();
    process.exit(1);
  }, timeoutSeconds * 1000).unref();
}
