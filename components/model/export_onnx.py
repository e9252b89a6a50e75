#!/usr/bin/env python3
"""Export a sentence-transformers model to ONNX for the function's onnx backends, and check its parity.

The second program of the model build step: components/model/prepare_model.py (the host side, standard library
only) runs it in the export Python (ML_LAMBDA_EXPORT_PYTHON, or the export virtualenv the component creates under its
cache from python/requirements-export.txt), which has torch, transformers, sentence-transformers, onnx and
onnxruntime; the function never ships them.

  <export python> export_onnx.py --source DIR --out DIR --backend onnx|onnx-int8 --function-src python/src

--out already holds the model's tokenizer and config files (the host copied them: it owns the file selection). This
writes model.onnx (fp32, or dynamically quantized to int8), tokenizer.json when the model had none, and
ml_lambda_onnx.json (how the graph was made, the exporter's versions, and its parity: the export run by the
function's own ONNX backend against sentence-transformers on torch, refused below PARITY_FLOOR).
Prints one JSON object on stdout ({"ok": true, "parity": ...} or {"ok": false, "error", "fix"}); progress on stderr.
The host imports this module's constants (standard library only at import time) for its cache key.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

from model_common import StepError as ExportError, answer

ONNX_BACKENDS = ("onnx", "onnx-int8")
# Bump when the export's output changes for the same inputs (layout, graph passes, quantization settings).
EXPORT_FORMAT = "1"
# ONNX opset of the exported graph: 17 is the newest the TorchScript exporter emits LayerNormalization natively
# for, and every onnxruntime since 1.14 runs it.
ONNX_OPSET = 17
# What the export Python must have (distribution names), and what its versions key the export cache on.
EXPORT_PACKAGES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers", "numpy")
# Parity floors: minimum cosine similarity, over the corpus below, between the export run by the function's own
# ONNX backend and sentence-transformers on torch.
PARITY_FLOOR = {"onnx": 0.999, "onnx-int8": 0.98}
MANIFEST = "ml_lambda_onnx.json"
PARITY_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "I forgot my password and need to change it.",
    "The stock market fell sharply today.",
    "A man is playing a guitar on the street.",
    "Simmer the tomato sauce for twenty minutes before adding basil.",
    "The telescope captured images of a distant spiral galaxy.",
    "The striker scored twice in the second half of the match.",
    "Deploy the service behind a load balancer and cache the results.",
    "hello",
    "   leading and trailing spaces   ",
    "UPPER CASE TEXT SHOULD MATCH LOWER CASE TEXT",
    "émigré café naïve résumé",
    "Lambda functions scale to zero when idle. " * 40,
]


def _module_kinds(model) -> list[str]:
    return [type(m).__name__ for m in model]


def _pooling_mode(model) -> str:
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None:  # older sentence-transformers: boolean flags
        flags = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens"}
        on = [k for k, attr in flags.items() if getattr(pooling, attr, False)]
        mode = on[0] if len(on) == 1 else "+".join(on)
    return str(mode)


def _sensitive_matmuls(graph) -> list[str]:
    """The weight MatMuls that stay fp32 in the int8 graph: the feed-forward output projections (their input is a
    GELU's output, the widest range in a BERT layer) and the attention value projections. Measured on
    all-MiniLM-L6-v2 over python/tests/corpus.py (minimum cosine to torch / sentences per second at one thread,
    batch 32, short texts): every weight MatMul int8 0.972 / 1435; all but the feed-forward outputs 0.976 / 948;
    all but those and the value projections 0.984 / 764; fp32 1.000 / 533."""
    producer = {out: node for node in graph.node for out in node.output}
    acts = {"Gelu", "BiasGelu", "FastGelu", "QuickGelu", "Erf", "Tanh", "Relu"}

    def fed_by_activation(name: str, depth: int = 0) -> bool:
        node = producer.get(name)
        if node is None or depth > 3:
            return False
        if node.op_type in acts:
            return True
        return node.op_type in ("Mul", "Add", "Div") and any(fed_by_activation(i, depth + 1) for i in node.input)

    def value_projection(node) -> bool:
        # Named by the exporter after the module path: .../attention/self/value/MatMul (BERT, RoBERTa), .../v/...
        parts = node.name.lower().replace(".", "/").split("/")
        return "value" in parts or ("attention" in parts and "v" in parts) or "v_proj" in parts

    return [n.name for n in graph.node if n.op_type == "MatMul" and (fed_by_activation(n.input[0]) or value_projection(n))]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="export_onnx.py")
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--backend", required=True, choices=ONNX_BACKENDS)
    ap.add_argument("--function-src")
    args = ap.parse_args(argv)
    t0 = time.time()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    return answer(lambda: {"parity": _export(args), "seconds": round(time.time() - t0, 3)})


def _export(args) -> dict:
    import importlib.metadata as metadata
    import warnings

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    warnings.filterwarnings("ignore")  # the TorchScript exporter's deprecation and tracer warnings
    torch.manual_seed(0)
    src, out = os.path.abspath(args.source), os.path.abspath(args.out)
    try:
        # Eager attention exports plain MatMul/Softmax attention, which onnxruntime runs faster than the graph the
        # SDPA path exports (measured: the same at short texts, ~15 % faster at 128 tokens, batch 32).
        model = SentenceTransformer(src, device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"})
        reference = SentenceTransformer(src, device="cpu", local_files_only=True)
    except Exception as e:
        raise ExportError(f"sentence-transformers cannot load {src}: {type(e).__name__}: {e}",
                          "check that the directory holds a complete sentence-transformers model") from e
    model.eval()
    kinds = _module_kinds(model)
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
        raise ExportError(f"the model's modules are {' -> '.join(kinds)}; the onnx backends run Transformer -> "
                          "Pooling (-> Normalize) only", "use backend torch for this model")
    pooling = _pooling_mode(model)
    if pooling not in ("mean", "cls"):
        raise ExportError(f"the model pools with {pooling!r}; the onnx backends support mean and cls pooling",
                          "use backend torch for this model")
    transformer = model[0]
    hf = transformer.auto_model
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ExportError("the model has no fast tokenizer (tokenizer.json), which the onnx backends load",
                          "use backend torch for this model")

    sample = tokenizer(["a short sentence", "a second, somewhat longer sentence for tracing"], padding=True,
                       return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    os.makedirs(out, exist_ok=True)
    raw = os.path.join(out, ".model.raw.onnx")
    with torch.no_grad():
        # The TorchScript exporter (dynamo=False): dynamic batch and sequence axes through dynamic_axes, and a
        # graph layout onnxruntime's BERT optimizer knows.
        torch.onnx.export(Encoder(hf).eval(), tuple(sample[n] for n in names), raw, input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=ONNX_OPSET,
                          do_constant_folding=True, dynamo=False)

    import onnx

    # No offline graph optimization: onnxruntime fuses what it can (LayerNorm, GELU, MatMul+bias) at session
    # creation on the CPU it runs on. Measured on all-MiniLM-L6-v2 (one thread, batch 32): the transformer
    # optimizer's fused Attention graph was 10-15 % slower for short texts and no faster for long ones.
    target = os.path.join(out, "model.onnx")
    quantization = None
    if args.backend == "onnx-int8":
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        # It suggests static-quantization pre-processing on the root logger, which does not apply to dynamic.
        logging.getLogger().setLevel(logging.ERROR)
        keep_fp32 = _sensitive_matmuls(onnx.load(raw, load_external_data=False).graph)
        quantize_dynamic(raw, target, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=keep_fp32,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True})
        quantization = {"method": "dynamic", "weights": "int8 per channel", "activations": "uint8 per tensor",
                        "ops": ["MatMul with constant weights"], "fp32_matmuls": len(keep_fp32)}
    else:
        shutil.copyfile(raw, target)
    os.remove(raw)

    # The tokenizer and configs are in --out already (the host copied them); the backend loads tokenizer.json.
    if not os.path.exists(os.path.join(out, "tokenizer.json")):
        tokenizer.backend_tokenizer.save(os.path.join(out, "tokenizer.json"))

    versions = {p: metadata.version(p) for p in EXPORT_PACKAGES}
    manifest = {
        "format": EXPORT_FORMAT,
        "backend": args.backend,
        "graph": {"opset": ONNX_OPSET, "exporter": "torch.onnx (TorchScript), eager attention",
                  "inputs": names, "output": "last_hidden_state"},
        "quantization": quantization,
        "pooling": pooling,
        "normalize": "Normalize" in kinds,
        "max_seq_length": int(transformer.max_seq_length),
        "exporter_versions": versions,
    }

    def write_manifest() -> None:
        with open(os.path.join(out, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")

    write_manifest()
    parity = _parity(reference, out, args, np)
    floor = PARITY_FLOOR[args.backend]
    if parity["cosine_min"] < floor:
        raise ExportError(f"the export's embeddings differ from sentence-transformers': minimum cosine "
                          f"{parity['cosine_min']:.6f} < {floor} on the parity corpus", "use backend torch for this model")
    manifest["parity"] = parity
    write_manifest()
    return parity


def _parity(reference, out: str, args, np) -> dict:
    """The export run by the function's own backend (app/backends/onnx_backend.py) vs sentence-transformers."""
    if not args.function_src:
        raise ExportError("no --function-src: the parity check runs the function's own ONNX backend",
                          "pass --function-src python/src")
    sys.path.insert(0, os.path.abspath(args.function_src))
    from app.backends import load_backend

    backend = load_backend(args.backend, out)
    ours = backend.encode(PARITY_CORPUS)
    theirs = reference.encode(PARITY_CORPUS, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    cos = (ours * theirs).sum(axis=1)
    # Rounded so the manifest (part of the archive) is the same bytes for the same export.
    return {"sentences": len(PARITY_CORPUS), "cosine_min": round(float(cos.min()), 6),
            "cosine_mean": round(float(cos.mean()), 6), "floor": PARITY_FLOOR[args.backend]}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
