#!/usr/bin/env bash
# `npm run test:image`: the image path built and run in a real Docker engine (see scripts/test-image.ts).
# Same environment as `npm run plan` (the model from the offline hub stand-in, the ONNX export with .cache/venv).
# Needs root on a machine without Docker (it installs and starts one); ML_LAMBDA_SLOW=1 adds the torch profile,
# ML_LAMBDA_KEEP_IMAGES=1 keeps the images it built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ML_LAMBDA_CACHE_DIR="${ML_LAMBDA_CACHE_DIR:-$ROOT/.cache/ml-lambda}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/.cache/pip}"
# The venv (reference embeddings, ONNX export) and the emulator the base stand-in carries.
bash scripts/setup-python.sh
hub="$(bash scripts/offline-model.sh)"
[[ -n "$hub" ]] && export HF_HUB_CACHE="$hub"
export ML_LAMBDA_EXPORT_PYTHON="${ML_LAMBDA_EXPORT_PYTHON:-$ROOT/.cache/venv/bin/python}"
exec npx ts-node --transpile-only scripts/test-image.ts "$@"
