"""Clustering time and memory at n x 384, one method per process (so peak RSS is the method's own).

    python bench/py/cluster.py --n 10000 --method ours|sklearn_default|sklearn_brute --labels OUT.npy

Data: synthetic embeddings shaped like sentence embeddings: 20 Gaussian clusters around random unit vectors in 384
dimensions (per-dimension sigma 0.03: cosine within a cluster about 0.74), plus 10 % uniformly random unit vectors
as noise; all normalized; seed 0. min_cluster_size 5 (the function's default), everything else default.
  ours            app.clustering.cluster (exact HDBSCAN, numpy; what the function runs)
  sklearn_default sklearn.cluster.HDBSCAN(min_cluster_size=5): algorithm "auto" = KD-tree Prim at 384 dims
  sklearn_brute   sklearn.cluster.HDBSCAN(min_cluster_size=5, algorithm="brute"): the brute-force floor
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "src"))
sys.path.insert(0, str(ROOT / "python" / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--method", required=True, choices=("ours", "sklearn_default", "sklearn_brute"))
    ap.add_argument("--labels", required=True)
    args = ap.parse_args()
    import numpy as np

    from corpus import blobs

    # 20 clusters in 384 dims, spread 0.03, 10 % noise, float32 like the function's embeddings.
    x, truth = blobs(args.n, 384, 20, 0.03, seed=0)
    x = x.astype(np.float32)
    # Imports before the clock: each method is timed on its work, not on loading its library.
    from app.clustering import ClusterParams, cluster
    from sklearn.cluster import HDBSCAN

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if args.method == "ours":
        labels = np.array(cluster(x, ClusterParams(min_cluster_size=5)).labels)
    else:
        algorithm = "auto" if args.method == "sklearn_default" else "brute"
        labels = HDBSCAN(min_cluster_size=5, algorithm=algorithm, copy=True).fit_predict(x.astype(np.float64))
    seconds = time.perf_counter() - started
    np.save(args.labels, labels)
    np.save(args.labels.replace(".npy", ".truth.npy"), truth)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": args.n, "method": args.method, "seconds": round(seconds, 3),
                      "peak_rss_mb": round(peak / 1024), "added_rss_mb": round((peak - base_rss) / 1024),
                      "clusters": int(labels.max()) + 1, "noise": int((labels < 0).sum())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
