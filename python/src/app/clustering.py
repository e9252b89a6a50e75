"""HDBSCAN over the embeddings: exact, numpy only (app/hdbscan_exact.py), the same labels as scikit-learn's
sklearn.cluster.HDBSCAN with the same parameters.

Chosen by measurement (bench/, python/README.md): on 10,000 x 384 embeddings scikit-learn's default algorithm (a
KD-tree Prim, which prunes nothing at 384 dimensions) takes minutes, its "brute" algorithm seconds, and this
dense implementation about the same as "brute" with half its memory, without scikit-learn + scipy (~125 MB) in
the deployment, which is what lets the ONNX profile fit Lambda's zip limit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from app.hdbscan_exact import hdbscan

# How clusters are computed, reported in logs: dense exact HDBSCAN (pairwise distances by matrix product, Prim's
# MST over mutual reachability). The alternatives measured for issue 6 were sklearn.cluster.HDBSCAN with
# algorithm="auto" (KD-tree) and "brute"; see bench/results/latest.md.
ALGORITHM = "dense-exact"


@dataclass(frozen=True)
class ClusterParams:
    min_cluster_size: int = 5
    min_samples: Optional[int] = None
    cluster_selection_epsilon: float = 0.0
    cluster_selection_method: str = "eom"
    allow_single_cluster: bool = False


@dataclass(frozen=True)
class ClusterResult:
    labels: List[int]
    n_clusters: int
    cluster_sizes: List[int]
    noise: int

    def as_dict(self) -> dict:
        return {
            "labels": self.labels,
            "n_clusters": self.n_clusters,
            "cluster_sizes": self.cluster_sizes,
            "noise": self.noise,
        }


def cluster(embeddings: np.ndarray, params: ClusterParams) -> ClusterResult:
    n = int(embeddings.shape[0])
    # HDBSCAN cannot form a cluster smaller than min_cluster_size, and needs min_samples neighbours per point
    # (scikit-learn raises there): with fewer texts the answer is "all noise".
    needed = max(2, params.min_cluster_size, params.min_samples or 0)
    if n < needed:
        return ClusterResult(labels=[-1] * n, n_clusters=0, cluster_sizes=[], noise=n)

    raw = hdbscan(
        np.asarray(embeddings, dtype=np.float64),
        min_cluster_size=params.min_cluster_size,
        min_samples=params.min_samples,
        cluster_selection_epsilon=params.cluster_selection_epsilon,
        cluster_selection_method=params.cluster_selection_method,
        allow_single_cluster=params.allow_single_cluster,
    )
    labels = np.where(raw < 0, -1, raw).astype(int)
    n_clusters = int(labels.max()) + 1 if (labels >= 0).any() else 0
    sizes = np.bincount(labels[labels >= 0], minlength=n_clusters) if n_clusters else np.zeros(0, dtype=int)
    return ClusterResult(
        labels=[int(x) for x in labels],
        n_clusters=n_clusters,
        cluster_sizes=[int(x) for x in sizes],
        noise=int((labels < 0).sum()),
    )
