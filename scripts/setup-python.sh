#!/usr/bin/env bash
# Sets up what the Python tests and `ml-lambda invoke` need, idempotently, on a fresh clone:
#   .cache/venv                 python3.11 venv with python/requirements-dev.txt (torch, the real model, moto, ...,
#                               and the ONNX export tools: onnx, onnxruntime; ML_LAMBDA_EXPORT_PYTHON in tests/plan)
#   .cache/pip                  pip's wheel cache (PIP_CACHE_DIR), so a rebuilt venv downloads nothing twice
#   .cache/bin/aws-lambda-rie   AWS's Lambda runtime interface emulator, built with `go install` at a pinned version
# A second run with unchanged inputs only compares two stamps and exits (well under a second).
#
# Environment overrides:
#   ML_LAMBDA_PYTHON   interpreter for the venv (default: python3.11)
#   ML_LAMBDA_RIE      path to an existing aws-lambda-rie (skips the Go build)
set -euo pipefail

# The emulator has no semver tags the Go proxy serves (its repo tags are "v1.23"-style), so this is the newest
# pseudo-version the proxy returned on 2026-11-27 (`go list -m -versions` is empty; @latest gives this one).
RIE_MODULE="github.com/aws/aws-lambda-runtime-interface-emulator"
RIE_VERSION="v0.0.0-20261030222936-bef5c4ba774d"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
VENV="$CACHE/venv"
PYTHON="${ML_LAMBDA_PYTHON:-python3.11}"
export PIP_CACHE_DIR="$CACHE/pip"
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '[setup-python] %s\n' "$*" >&2; }
die() { printf '[setup-python] error: %s\n' "$*" >&2; exit 1; }
started=$SECONDS

mkdir -p "$CACHE/bin"

# Two concurrent runs (say `npm test` in two terminals) would install into the same venv at once.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.setup-python.lock"
    flock 9
fi

# ---------------------------------------------------------------- venv
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3.11 (the tests' interpreter) or set ML_LAMBDA_PYTHON"
# Key the stamp on everything that changes the venv's contents: both requirement files and the interpreter.
py_version="$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
req_hash="$(cat "$ROOT/python/requirements.txt" "$ROOT/python/requirements-export.txt" "$ROOT/python/requirements-dev.txt" | sha256sum | cut -c1-16)"
want_stamp="python=$py_version requirements=$req_hash"
stamp_file="$VENV/.ml-lambda-stamp"

if [[ -x "$VENV/bin/python" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$want_stamp" ]]; then
    say "venv up to date ($want_stamp)"
else
    if [[ -x "$VENV/bin/python" ]] && [[ "$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)" == "$py_version" ]]; then
        say "venv exists; bringing it up to date with python/requirements-dev.txt"
    else
        say "creating venv at .cache/venv with $PYTHON ($py_version)"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    say "installing python/requirements-dev.txt (first run downloads torch with its CUDA wheels: ~5.8 GB installed, about 2 minutes)"
    "$VENV/bin/python" -m pip install --progress-bar off -r "$ROOT/python/requirements-dev.txt"
    # Written last: an interrupted install leaves no stamp, so the next run installs again.
    printf '%s' "$want_stamp" >"$stamp_file"
    say "venv ready ($((SECONDS - started)) s)"
fi

# ---------------------------------------------------------------- aws-lambda-rie
rie="$CACHE/bin/aws-lambda-rie"
rie_stamp="$CACHE/bin/aws-lambda-rie.version"
if [[ -n "${ML_LAMBDA_RIE:-}" ]]; then
    [[ -x "$ML_LAMBDA_RIE" ]] || die "ML_LAMBDA_RIE=$ML_LAMBDA_RIE is not an executable file"
    say "using aws-lambda-rie from ML_LAMBDA_RIE ($ML_LAMBDA_RIE)"
elif [[ -x "$rie" && -f "$rie_stamp" && "$(cat "$rie_stamp")" == "$RIE_VERSION" ]]; then
    say "aws-lambda-rie up to date ($RIE_VERSION)"
elif command -v go >/dev/null 2>&1; then
    say "building aws-lambda-rie $RIE_VERSION with go install (Go module proxy)"
    # Module and build caches inside .cache so `rm -rf .cache` resets everything; -modcacherw keeps that possible.
    GOBIN="$CACHE/bin" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-modcacherw \
        go install "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION"
    printf '%s' "$RIE_VERSION" >"$rie_stamp"
    say "aws-lambda-rie ready"
elif command -v aws-lambda-rie >/dev/null 2>&1; then
    say "go not found; using aws-lambda-rie from PATH ($(command -v aws-lambda-rie))"
else
    die "cannot get aws-lambda-rie: install Go >= 1.26 (to build it from $RIE_MODULE), put aws-lambda-rie on PATH, or set ML_LAMBDA_RIE"
fi

say "done in $((SECONDS - started)) s"
