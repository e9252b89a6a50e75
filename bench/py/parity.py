"""Parity of the onnx backends with sentence-transformers on torch, on python/tests/corpus.py (the tests' corpus).

    python bench/py/parity.py --torch-dir DIR --onnx-dir DIR --int8-dir DIR

Prints one JSON object: per backend the minimum and mean cosine over every sentence, and whether each retrieval
query finds the same nearest document as torch.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "src"))
sys.path.insert(0, str(ROOT / "python" / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-dir", required=True)
    ap.add_argument("--onnx-dir", required=True)
    ap.add_argument("--int8-dir", required=True)
    args = ap.parse_args()
    import numpy as np

    from app.backends import load_backend
    from corpus import RETRIEVAL_DOCS, RETRIEVAL_QUERIES, SENTENCES

    keys = list(RETRIEVAL_DOCS)
    docs = [RETRIEVAL_DOCS[k] for k in keys]
    queries = list(RETRIEVAL_QUERIES)

    def run(backend):
        return backend.encode(SENTENCES), backend.encode(docs), backend.encode(queries)

    torch_backend = load_backend("torch", Path(args.torch_dir))
    ref_s, ref_d, ref_q = run(torch_backend)
    ref_top = (ref_q @ ref_d.T).argmax(axis=1)
    out = {"sentences": len(SENTENCES), "queries": len(queries)}
    for name, backend, d in (("onnx", "onnx", args.onnx_dir), ("onnx_int8", "onnx-int8", args.int8_dir)):
        s, dv, qv = run(load_backend(backend, Path(d)))
        cos = (ref_s * s).sum(axis=1)
        top = (qv @ dv.T).argmax(axis=1)
        out[name] = {
            "cosine_min": round(float(cos.min()), 6),
            "cosine_mean": round(float(cos.mean()), 6),
            "worst_text": SENTENCES[int(cos.argmin())][:40],
            "same_nearest_document": int((top == ref_top).sum()),
        }
    out["clustering_labelled"] = labelled_clustering(torch_backend, np)
    print(json.dumps(out))
    return 0


def labelled_clustering(backend, np) -> dict:
    """The function's clustering vs scikit-learn's default and vs the true topics, on real embeddings."""
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import adjusted_rand_score

    from app.clustering import ClusterParams, cluster
    from corpus import CLUSTER_TOPICS

    texts = [t for topic in CLUSTER_TOPICS.values() for t in topic]
    truth = np.repeat(np.arange(len(CLUSTER_TOPICS)), [len(v) for v in CLUSTER_TOPICS.values()])
    vectors = backend.encode(texts)
    out = {"texts": len(texts), "topics": len(CLUSTER_TOPICS), "runs": []}
    for mcs in (3, 4, 5):
        ours = np.array(cluster(vectors, ClusterParams(min_cluster_size=mcs)).labels)
        default = HDBSCAN(min_cluster_size=mcs, copy=True).fit_predict(vectors.astype(np.float64))
        out["runs"].append({
            "min_cluster_size": mcs,
            "ari_vs_sklearn_default": round(float(adjusted_rand_score(default, ours)), 6),
            "ari_vs_topics": round(float(adjusted_rand_score(truth, ours)), 6),
            "clusters": int(ours.max()) + 1,
            "noise": int((ours < 0).sum()),
        })
    return out


if __name__ == "__main__":
    sys.exit(main())
