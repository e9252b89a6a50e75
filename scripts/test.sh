#!/usr/bin/env bash
# `npm test`: everything, on a fresh clone or a warm one.
#   1. the Python test environment and AWS's runtime emulator (idempotent; seconds when up to date)
#   2. mocha: pure units, the component and the program under Pulumi's mock engine, packaging on real PyPI wheels
#      and the npm tarball installed in an empty directory (test/consumer.spec.ts, ~30 s: packs, installs, runs it)
#   3. pytest: the function on the real all-MiniLM-L6-v2 model, S3 through moto, the Dockerfile's steps
# Heavy downloads are cached under .cache/ (ignored by git): pip wheels, layer builds, the model, the venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ML_LAMBDA_CACHE_DIR="${ML_LAMBDA_CACHE_DIR:-$ROOT/.cache/ml-lambda}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/.cache/pip}"

step() { printf '\n== %s\n' "$*" >&2; }

step "python test environment"
bash scripts/setup-python.sh

step "mocha (node $(node --version))"
npx mocha 'test/**/*.spec.ts'

step "pytest"
.cache/venv/bin/python -m pytest python/tests -q
