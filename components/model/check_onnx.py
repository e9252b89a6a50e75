#!/usr/bin/env python3
"""Check an ONNX model artifact with the function's own onnx backend, without torch.

The third program of the model build step: components/model/prepare_model.py (the host side, standard library only)
runs it in the "check Python", a small virtualenv the component creates once under its cache from the function's
own python/requirements-onnx.txt (onnxruntime, tokenizers, numpy: what the function runs on the zip path, no torch).
It is how a published ONNX file (a repository's onnx/model.onnx or a quantized variant) is accepted without torch on
the deploy host:

  <check python> check_onnx.py --model-dir DIR --backend onnx|onnx-int8 --function-src python/src [--reference FILE]

DIR is the artifact as it will ship (model.onnx + tokenizer + configs + ml_lambda_onnx.json). This loads it with
app/backends/onnx_backend.py exactly as the function does, and checks:
  - the graph: its inputs are ones the backend feeds, its first output is a [batch, sequence, hidden] tensor
    (the backend pools it; a graph that pools by itself would be pooled twice);
  - a smoke run over the reference corpus: one finite unit vector of the model's dimension per text;
  - with --reference (embeddings shipped with the package for that model and revision, computed with
    sentence-transformers; see scripts/make-reference-embeddings.py): the cosine similarity of each text's
    embedding to the reference, reported as minimum and mean. The host compares it with the floor.
Prints one JSON object on stdout ({"ok": true, ...} or {"ok": false, "error", "fix"}); progress on stderr.
"""
from __future__ import annotations

import argparse
import base64
import importlib.metadata as metadata
import json
import os
import sys
import time

from model_common import StepError as CheckError, answer

CHECK_PACKAGES = ("onnxruntime", "tokenizers", "numpy")


def decode_reference(ref: dict, np):
    """(texts, embeddings float32 [n, dim]) from a reference file's JSON."""
    emb = ref["embeddings"]
    if emb.get("dtype") != "float32" or emb.get("byte_order") != "little":
        raise CheckError(f"reference embeddings are {emb.get('dtype')}/{emb.get('byte_order')}, expected float32/little",
                         "regenerate the reference file with scripts/make-reference-embeddings.py")
    data = np.frombuffer(base64.b64decode(emb["base64"]), dtype="<f4")
    shape = tuple(emb["shape"])
    texts = list(ref["corpus"])
    if data.size != shape[0] * shape[1] or shape[0] != len(texts):
        raise CheckError(f"reference embeddings hold {data.size} values for shape {shape} and {len(texts)} texts",
                         "regenerate the reference file with scripts/make-reference-embeddings.py")
    return texts, data.reshape(shape).astype(np.float32)


def cosine_parity(ours, reference, np) -> dict:
    """Per-text cosine similarity between two [n, dim] arrays (rows need not be unit length), as minimum, mean and
    the index of the worst text. Rounded so that the manifest (part of the archive) is the same bytes each time."""
    if ours.shape != reference.shape:
        raise CheckError(f"the model's embeddings have shape {tuple(ours.shape)}, the reference's {tuple(reference.shape)}",
                         "this ONNX file is not the model the reference embeddings were made from")
    a = ours.astype(np.float64)
    b = reference.astype(np.float64)
    cos = (a * b).sum(axis=1) / np.clip(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12, None)
    return {"sentences": int(cos.shape[0]), "cosine_min": round(float(cos.min()), 6),
            "cosine_mean": round(float(cos.mean()), 6), "worst": int(cos.argmin())}


def smoke_problems(emb, dimension: int, n: int, np) -> list:
    """What is wrong with the embeddings of a smoke run (empty when nothing is)."""
    problems = []
    if emb.shape != (n, dimension):
        problems.append(f"shape {tuple(emb.shape)}, expected ({n}, {dimension})")
    elif not np.isfinite(emb).all():
        problems.append("non-finite values")
    else:
        norms = np.linalg.norm(emb, axis=1)
        if np.abs(norms - 1.0).max() > 1e-3:
            problems.append(f"rows are not unit vectors (norms {norms.min():.4f}..{norms.max():.4f})")
    return problems


def check(args) -> dict:
    import numpy as np

    sys.path.insert(0, os.path.abspath(args.function_src))
    from app.backends import BackendError, load_backend

    model_dir = os.path.abspath(args.model_dir)
    try:
        backend = load_backend(args.backend, model_dir)
    except BackendError as e:
        raise CheckError(f"the function's {args.backend} backend cannot load it: {e}", "use backend torch for this model") from e
    except Exception as e:  # onnxruntime refusing the graph (unknown operator, opset newer than it supports, ...)
        raise CheckError(f"onnxruntime cannot load it: {type(e).__name__}: {str(e)[:500]}",
                         "use backend torch for this model, or a graph this onnxruntime runs") from e
    # The backend's own session: the graph exactly as the function will run it.
    session = backend._session
    outputs = session.get_outputs()
    graph = {"inputs": [i.name for i in session.get_inputs()], "output": outputs[0].name,
             "output_shape": [d if isinstance(d, int) else str(d) for d in outputs[0].shape]}
    if len(outputs[0].shape) != 3:
        raise CheckError(f"the graph's first output {outputs[0].name} has shape {graph['output_shape']}; the onnx "
                         "backend pools a [batch, sequence, hidden] last_hidden_state itself",
                         "use an ONNX export of the transformer alone (no pooling), or backend torch")

    reference = None
    if args.reference:
        with open(args.reference, encoding="utf-8") as f:
            texts, reference = decode_reference(json.load(f), np)
    else:
        from export_onnx import PARITY_CORPUS

        texts = list(PARITY_CORPUS)
    started = time.time()
    emb = backend.encode(texts)
    problems = smoke_problems(emb, backend.dimension, len(texts), np)
    if problems:
        raise CheckError(f"the function's {args.backend} backend ran it but its embeddings are wrong: {'; '.join(problems)}",
                         "use backend torch for this model")
    parity = cosine_parity(emb, reference, np) if reference is not None else None
    if parity is not None:
        parity["worst_text"] = texts[parity.pop("worst")][:60]
    return {
        "graph": graph,
        "dimension": int(backend.dimension),
        "smoke": {"texts": len(texts), "seconds": round(time.time() - started, 3)},
        "parity": parity,
        "versions": {p: metadata.version(p) for p in CHECK_PACKAGES},
    }


def main(argv: list) -> int:
    ap = argparse.ArgumentParser(prog="check_onnx.py")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--backend", required=True, choices=("onnx", "onnx-int8"))
    ap.add_argument("--function-src", required=True)
    ap.add_argument("--reference")
    args = ap.parse_args(argv)
    return answer(lambda: check(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
