#!/usr/bin/env bash
# The ONNX export transformers.js runs: a Hugging Face Whisper directory exported by optimum
# (encoder, and the decoder with its key/value cache merged in), laid out as transformers.js
# reads a model (configuration and tokenizer files beside onnx/).
#
#   web/peer/export_onnx.sh MODEL_DIR OUT_DIR
#
# Needs a Python with optimum-onnx, onnx and onnxruntime (optimum-onnx 0.1 wants
# transformers < 4.58: tests/fixtures/requirements-4.57.txt's environment).
set -euo pipefail
model="$1"
out="$2"
python="${PYTHON:-python3}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m optimum.exporters.onnx --model "$model" --task automatic-speech-recognition-with-past "$tmp"
mkdir -p "$out/onnx"
for f in "$tmp"/*.json "$tmp"/*.txt; do cp "$f" "$out/"; done
cp "$tmp/encoder_model.onnx" "$tmp/decoder_model_merged.onnx" "$out/onnx/"
ls -l "$out" "$out/onnx"
