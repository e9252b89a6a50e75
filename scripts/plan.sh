#!/usr/bin/env bash
# `npm run plan [-- --stack prod] [--json]`: the offline plan of this project's own stacks (default: dev).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ML_LAMBDA_CACHE_DIR="${ML_LAMBDA_CACHE_DIR:-$ROOT/.cache/ml-lambda}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/.cache/pip}"
hub="$(bash scripts/offline-model.sh)"
[[ -n "$hub" ]] && export HF_HUB_CACHE="$hub"
# The dev stack's onnx backend exports the model to ONNX at build time, which needs torch, transformers,
# sentence-transformers, onnx and onnxruntime on this machine (never in the function). The test venv has them:
# reuse it rather than let the component create its own export environment (several GB) under the cache.
if [[ -z "${ML_LAMBDA_EXPORT_PYTHON:-}" && -x "$ROOT/.cache/venv/bin/python" ]]; then
    if "$ROOT/.cache/venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ("torch", "transformers", "sentence_transformers", "onnx", "onnxruntime")) else 1)' 2>/dev/null; then
        export ML_LAMBDA_EXPORT_PYTHON="$ROOT/.cache/venv/bin/python"
        printf '[plan] ONNX export Python: .cache/venv (set ML_LAMBDA_EXPORT_PYTHON to use another)\n' >&2
    else
        printf '[plan] .cache/venv lacks the ONNX export packages (run bash scripts/setup-python.sh); the component will create its own export environment\n' >&2
    fi
fi
exec npx ts-node --transpile-only cli/main.ts plan "$@"
