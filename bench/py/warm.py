"""Warm throughput of one backend, through the function's own backend classes (what the handler calls).

    python bench/py/warm.py --backend onnx --model-dir DIR --threads 1 [--reps 5] [--quick]

Prints one JSON object: sentences per second (median of --reps runs) for short (12-token) and 128-token texts at
batch 1 (one text per encode call, as a caller sending one text per request) and batch 32 (sentence-transformers'
batch size), plus 256-token texts at batch 32 (the longest a text gets: the request-size limits come from it),
and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--tokenizer-dir", required=True, help="a model dir with tokenizer.json (for exact text lengths)")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    os.environ["ONNX_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from texts import make_texts

    scale = 0.5 if args.quick else 1.0
    sets = {
        "short": make_texts(args.tokenizer_dir, int(256 * scale), 12, seed=1),
        "long128": make_texts(args.tokenizer_dir, int(128 * scale), 128, seed=2),
        "long256": make_texts(args.tokenizer_dir, int(64 * scale), 256, seed=3),
    }
    if args.backend == "torch":
        import torch

        torch.set_num_threads(args.threads)
    from app.backends import load_backend

    t = time.perf_counter()
    backend = load_backend(args.backend, Path(args.model_dir))
    load_s = time.perf_counter() - t
    backend.encode(sets["short"][:4])  # first-call allocations, as the function's own warm-up does

    def rate(texts: list[str], batch: int) -> float:
        runs = []
        for _ in range(args.reps):
            started = time.perf_counter()
            for i in range(0, len(texts), batch):
                backend.encode(texts[i:i + batch])
            runs.append(len(texts) / (time.perf_counter() - started))
        return statistics.median(runs)

    out = {
        "backend": args.backend,
        "threads": args.threads,
        "load_s": round(load_s, 3),
        "short_b1": rate(sets["short"][: int(64 * scale)], 1),
        "short_b32": rate(sets["short"], 32),
        "long128_b1": rate(sets["long128"][: int(32 * scale)], 1),
        "long128_b32": rate(sets["long128"], 32),
        "long256_b32": rate(sets["long256"], 32),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps({k: (round(v, 1) if isinstance(v, float) else v) for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
