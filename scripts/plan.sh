#!/usr/bin/env bash
# `npm run plan [-- --stack prod] [--json]`: the offline plan of this project's own stacks (default: dev).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ML_LAMBDA_CACHE_DIR="${ML_LAMBDA_CACHE_DIR:-$ROOT/.cache/ml-lambda}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/.cache/pip}"
hub="$(bash scripts/offline-model.sh)"
[[ -n "$hub" ]] && export HF_HUB_CACHE="$hub"
exec npx ts-node --transpile-only cli/main.ts plan "$@"
