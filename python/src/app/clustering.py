"""HDBSCAN over the embeddings, with scikit-learn's built-in implementation (sklearn.cluster.HDBSCAN).

scikit-learn is imported on the first clustering request, not at init: requests that only embed (the common case)
should not pay its import time in the cold start.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

# The algorithm is one setting so the performance work (issue 6) can choose it by measurement in one place.
ALGORITHM = "auto"


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
    # HDBSCAN cannot form a cluster smaller than min_cluster_size, and scikit-learn raises (rather than answering
    # "all noise") when there are fewer samples than the neighbourhood it needs. Answer the question directly.
    needed = max(2, params.min_cluster_size, params.min_samples or 0)
    if n < needed:
        return ClusterResult(labels=[-1] * n, n_clusters=0, cluster_sizes=[], noise=n)

    from sklearn.cluster import HDBSCAN

    model = HDBSCAN(
        min_cluster_size=params.min_cluster_size,
        min_samples=params.min_samples,
        cluster_selection_epsilon=params.cluster_selection_epsilon,
        cluster_selection_method=params.cluster_selection_method,
        allow_single_cluster=params.allow_single_cluster,
        # On unit-norm embeddings euclidean distance is a monotone function of cosine distance, and it is the
        # metric every HDBSCAN algorithm supports.
        metric="euclidean",
        algorithm=ALGORITHM,
        copy=True,  # explicit: scikit-learn warns that its default changes in 1.10
    )
    raw = model.fit_predict(np.asarray(embeddings, dtype=np.float64))
    # scikit-learn also uses -2 / -3 for infinite / missing values, which finite embeddings never produce;
    # callers only need "not in a cluster".
    labels = np.where(raw < 0, -1, raw).astype(int)
    n_clusters = int(labels.max()) + 1 if (labels >= 0).any() else 0
    sizes = np.bincount(labels[labels >= 0], minlength=n_clusters) if n_clusters else np.zeros(0, dtype=int)
    return ClusterResult(
        labels=[int(x) for x in labels],
        n_clusters=n_clusters,
        cluster_sizes=[int(x) for x in sizes],
        noise=int((labels < 0).sum()),
    )
