#!/usr/bin/env bash
# Builds the web package into web/pkg/: burn-wasm (the pipelines, CPU and WebGPU) compiled to
# WebAssembly, and its JavaScript glue (wasm-bindgen). Then serve the repository root and open
# /web/ (the demo), or run the browser test: node web/test/run.mjs
#
#   web/build.sh            # release build (what the demo and the measurements use)
#   PROFILE=dev web/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/burn-hf-target}"
profile="${PROFILE:-release}"

# The command-line tool must be the version of the wasm-bindgen crate in Cargo.lock.
version=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  echo "== installing wasm-bindgen-cli $version"
  cargo install wasm-bindgen-cli --version "$version"
fi
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

echo "== cargo build -p burn-wasm (wasm32-unknown-unknown, $profile)"
cargo build -p burn-wasm --target wasm32-unknown-unknown --features webgpu --profile "$profile"
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
rm -rf web/pkg
wasm-bindgen --target web --no-typescript --out-dir web/pkg \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$dir/burn_wasm.wasm"
ls -l web/pkg
