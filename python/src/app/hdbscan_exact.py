"""Exact HDBSCAN on a dense distance matrix, in numpy only (no scipy, no scikit-learn at run time).

Why not sklearn.cluster.HDBSCAN: scikit-learn + scipy weigh ~125 MB unzipped, which pushes the ONNX profile
(onnxruntime, tokenizers, numpy) over Lambda's 262,144,000-byte limit for zip + layers (measured: 281 MiB with
them, ~155 MiB without). And its default algorithm (a KD-tree Prim) is the slow path at 384 dimensions, where
space-partitioning trees prune nothing.

What this computes is HDBSCAN* as scikit-learn defines it (Campello, Moulavi, Sander 2013; McInnes & Healy
2017), on the euclidean metric, with the same parameters and the same label numbering, so labels match
`sklearn.cluster.HDBSCAN(...)` (tests compare them on labelled and random data; exact ties between distances
are the only place the two may order merges differently):

1. distances: all pairs at once from one matrix product, d(a, b)^2 = |a|^2 + |b|^2 - 2 a.b (float64), the
   "brute force" that a tree cannot beat in high dimensions;
2. core distance of a point: its distance to its min_samples-th nearest neighbour, counting itself;
   mutual reachability: max(core(a), core(b), d(a, b));
3. a minimum spanning tree of that graph by Prim's algorithm over the dense matrix (O(n^2), vectorized per step,
   the n x n mutual reachability matrix is never built), breaking ties as scikit-learn's default does;
4. the single-linkage hierarchy (merges sorted by weight), condensed at min_cluster_size, cluster stabilities
   (excess of mass), selection by "eom" or "leaf", cluster_selection_epsilon, allow_single_cluster.

Memory: the n x n float64 matrix, 8 n^2 bytes (80 MB at 3,162 texts, 800 MB at 10,000); config.py's
MAX_CLUSTER_TEXTS keeps a request well inside the function's memory.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

# Rows per block when taking the k-th smallest distance of each row (np.partition copies its input).
_PARTITION_BLOCK = 512


def pairwise_euclidean(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    d = x @ x.T
    d *= -2.0
    d += sq[:, None]
    d += sq[None, :]
    np.maximum(d, 0.0, out=d)  # rounding can make a tiny negative out of a zero distance
    np.sqrt(d, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def core_distances(d: np.ndarray, min_samples: int) -> np.ndarray:
    n = d.shape[0]
    k = min_samples - 1  # the point itself is its own first neighbour
    core = np.empty(n, dtype=np.float64)
    for start in range(0, n, _PARTITION_BLOCK):
        block = d[start:start + _PARTITION_BLOCK]
        core[start:start + block.shape[0]] = np.partition(block, k, axis=1)[:, k]
    return core


def prim_tree(d: np.ndarray, core: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prim's algorithm on the mutual reachability graph, never materializing it: (source, target, weight) per
    step. Ties keep the earlier source and pick the lowest index, as scikit-learn's default (Prim) does; mutual
    reachability makes ties common (many edges weigh some point's core distance), so this matters for
    matching its labels."""
    n = d.shape[0]
    best = np.full(n, np.inf)
    source = np.zeros(n, dtype=np.intp)
    added = np.zeros(n)  # 0 while outside the tree, +inf once in it (added to a row, it hides tree members)
    row = np.empty(n)
    closer = np.empty(n, dtype=bool)
    src = np.empty(n - 1, dtype=np.intp)
    dst = np.empty(n - 1, dtype=np.intp)
    weight = np.empty(n - 1, dtype=np.float64)
    current = 0
    added[0] = np.inf
    best[0] = np.inf
    for i in range(n - 1):
        np.maximum(d[current], core, out=row)
        np.maximum(row, core[current], out=row)
        row += added
        np.less(row, best, out=closer)
        np.copyto(best, row, where=closer)
        np.copyto(source, current, where=closer)
        nxt = int(best.argmin())  # the first of equal minima
        src[i], dst[i], weight[i] = source[nxt], nxt, best[nxt]
        added[nxt] = np.inf
        best[nxt] = np.inf
        current = nxt
    return src, dst, weight


def single_linkage(src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merges in order of weight: (left, right, distance, size), new node i gets id n + i (scipy's layout)."""
    n = len(weight) + 1
    order = np.argsort(weight)
    parent = list(range(2 * n - 1))
    size = [1] * n + [0] * (n - 1)
    left = np.empty(n - 1, dtype=np.intp)
    right = np.empty(n - 1, dtype=np.intp)
    height = weight[order].astype(np.float64)
    sizes = np.empty(n - 1, dtype=np.intp)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for i, e in enumerate(order.tolist()):
        a, b = find(int(src[e])), find(int(dst[e]))
        new = n + i
        left[i], right[i] = a, b
        size[new] = size[a] + size[b]
        sizes[i] = size[new]
        parent[a] = parent[b] = new
    return left, right, height, sizes


class CondensedTree:
    """Rows (parent cluster, child cluster or point, lambda = 1/distance, size); clusters are numbered from n."""

    def __init__(self, parent: List[int], child: List[int], lam: List[float], size: List[int], n: int) -> None:
        self.parent = np.asarray(parent, dtype=np.intp)
        self.child = np.asarray(child, dtype=np.intp)
        self.lam = np.asarray(lam, dtype=np.float64)
        self.size = np.asarray(size, dtype=np.intp)
        self.n = n


def condense(left: np.ndarray, right: np.ndarray, height: np.ndarray, sizes: np.ndarray, min_cluster_size: int) -> CondensedTree:
    n = len(height) + 1
    root = 2 * n - 2
    lefts, rights, heights, counts = left.tolist(), right.tolist(), height.tolist(), sizes.tolist()

    def count(node: int) -> int:
        return 1 if node < n else counts[node - n]

    def points_under(node: int) -> List[int]:
        # Breadth-first, so rows (and the float sums over them) come in the same order as scikit-learn's.
        out, level = [], [node]
        while level:
            out.extend(x for x in level if x < n)
            level = [y for x in level if x >= n for y in (lefts[x - n], rights[x - n])]
        return out

    label = {root: n}
    next_label = n + 1
    rows_p: List[int] = []
    rows_c: List[int] = []
    rows_l: List[float] = []
    rows_s: List[int] = []
    # Breadth-first from the root, left before right: the order that numbers new clusters as scikit-learn does.
    queue = [root]
    head = 0
    while head < len(queue):
        node = queue[head]
        head += 1
        if node < n:
            continue
        a, b = lefts[node - n], rights[node - n]
        dist = heights[node - n]
        lam = 1.0 / dist if dist > 0.0 else np.inf
        here = label[node]
        ca, cb = count(a), count(b)
        if ca >= min_cluster_size and cb >= min_cluster_size:
            for child, c in ((a, ca), (b, cb)):
                label[child] = next_label
                rows_p.append(here); rows_c.append(next_label); rows_l.append(lam); rows_s.append(c)
                next_label += 1
                queue.append(child)
        else:
            for child, c in ((a, ca), (b, cb)):
                if c >= min_cluster_size:
                    label[child] = here  # the parent cluster carries on; the other side's points fall out
                    queue.append(child)
                else:
                    for p in points_under(child):
                        rows_p.append(here); rows_c.append(p); rows_l.append(lam); rows_s.append(1)
    return CondensedTree(rows_p, rows_c, rows_l, rows_s, n)


def stabilities(tree: CondensedTree) -> Dict[int, float]:
    root = tree.n
    last = int(tree.parent.max())
    birth = np.zeros(last + 1)
    is_cluster_row = tree.child >= root
    birth[tree.child[is_cluster_row]] = tree.lam[is_cluster_row]
    birth[root] = 0.0
    contrib = (tree.lam - birth[tree.parent]) * tree.size
    stab = np.bincount(tree.parent - root, weights=contrib, minlength=last - root + 1)
    return {root + i: float(s) for i, s in enumerate(stab)}


def _descendants(children: Dict[int, List[int]], node: int) -> List[int]:
    out, todo = [], list(children.get(node, []))
    while todo:
        x = todo.pop()
        out.append(x)
        todo.extend(children.get(x, []))
    return out


def _leaves(children: Dict[int, List[int]], root: int) -> List[int]:
    """Leaf clusters, depth first, left before right."""
    if not children:
        return []
    out, todo = [], [root]
    while todo:
        x = todo.pop()
        kids = children.get(x, [])
        if kids:
            todo.extend(reversed(kids))
        else:
            out.append(x)
    return out


def _epsilon_select(candidates: Sequence[int], parent_of: Dict[int, int], birth_lambda: Dict[int, float],
                    children: Dict[int, List[int]], root: int, epsilon: float, allow_single_cluster: bool) -> Set[int]:
    """Clusters born below epsilon (in distance) are replaced by their first ancestor born above it."""
    chosen: List[int] = []
    merged: Set[int] = set()
    for leaf in set(candidates):  # a set, iterated as scikit-learn iterates it: the order matters for overlaps
        born_at = 1.0 / birth_lambda[leaf]
        if born_at >= epsilon:
            chosen.append(leaf)
            continue
        if leaf in merged:
            continue
        node = leaf
        while True:
            up = parent_of[node]
            if up == root:
                node = up if allow_single_cluster else node
                break
            if 1.0 / birth_lambda[up] > epsilon:
                node = up
                break
            node = up
        chosen.append(node)
        merged.update(_descendants(children, node))
    return set(chosen)


def select_clusters(tree: CondensedTree, method: str, allow_single_cluster: bool, epsilon: float) -> Set[int]:
    root = tree.n
    stab = stabilities(tree)
    rows = tree.size > 1  # cluster-to-cluster rows
    children: Dict[int, List[int]] = {}
    parent_of: Dict[int, int] = {}
    birth_lambda: Dict[int, float] = {}
    for p, c, lam in zip(tree.parent[rows].tolist(), tree.child[rows].tolist(), tree.lam[rows].tolist()):
        children.setdefault(p, []).append(c)
        parent_of[c] = p
        birth_lambda[c] = lam

    nodes = sorted(stab, reverse=True)  # children have larger ids than their parents: leaves first
    if not allow_single_cluster:
        nodes = nodes[:-1]
    selected = {c: True for c in nodes}

    if method == "eom":
        for node in nodes:
            below = sum(stab[c] for c in children.get(node, []))
            if below > stab[node]:
                selected[node] = False
                stab[node] = below
            else:
                for d in _descendants(children, node):
                    selected[d] = False
        if epsilon != 0.0 and children:
            eom = [c for c in selected if selected[c]]
            if len(eom) == 1 and eom[0] == root:
                keep = set(eom) if allow_single_cluster else set()
            else:
                keep = _epsilon_select(eom, parent_of, birth_lambda, children, root, epsilon, allow_single_cluster)
            for c in selected:
                selected[c] = c in keep
    else:  # "leaf"
        leaves = _leaves(children, root)
        keep = set(leaves)
        if epsilon != 0.0:
            keep = _epsilon_select(leaves, parent_of, birth_lambda, children, root, epsilon, allow_single_cluster)
        for c in selected:
            selected[c] = c in keep
        if not leaves:
            selected = {}
    return {c for c, on in selected.items() if on}


def label_points(tree: CondensedTree, clusters: Set[int], allow_single_cluster: bool, epsilon: float) -> np.ndarray:
    n, root = tree.n, tree.n
    numbering = {c: i for i, c in enumerate(sorted(clusters))}
    # Each point belongs to the nearest selected cluster above it, found by walking up non-selected clusters.
    parent_of = {int(c): int(p) for p, c in zip(tree.parent[tree.size > 1], tree.child[tree.size > 1])}

    def owner(cluster: int) -> int:
        while cluster not in clusters and cluster != root:
            cluster = parent_of[cluster]
        return cluster

    cache: Dict[int, int] = {}
    labels = np.full(n, -1, dtype=np.intp)
    point_rows = tree.size == 1
    points = tree.child[point_rows]
    point_parent = tree.parent[point_rows]
    point_lam = tree.lam[point_rows]
    root_max_lambda: Optional[float] = None
    for p, cluster, lam in zip(points.tolist(), point_parent.tolist(), point_lam.tolist()):
        top = cache.get(cluster)
        if top is None:
            top = cache[cluster] = owner(cluster)
        if top != root:
            labels[p] = numbering[top]
        elif top in clusters and len(clusters) == 1 and allow_single_cluster:
            # The root as the only cluster keeps the points that stay until its densest level (or denser than
            # epsilon); the rest are noise, as in scikit-learn.
            if epsilon != 0.0:
                threshold = 1.0 / epsilon
            else:
                if root_max_lambda is None:
                    root_max_lambda = float(tree.lam[tree.parent == root].max())
                threshold = root_max_lambda
            if lam >= threshold:
                labels[p] = numbering[top]
    return labels


def hdbscan(x: np.ndarray, min_cluster_size: int = 5, min_samples: Optional[int] = None,
            cluster_selection_epsilon: float = 0.0, cluster_selection_method: str = "eom",
            allow_single_cluster: bool = False) -> np.ndarray:
    """Labels (-1 = noise) for the rows of x. Needs at least max(2, min_samples) rows."""
    n = int(x.shape[0])
    k = min_cluster_size if min_samples is None else min_samples
    if n < 2 or k > n:
        raise ValueError(f"need at least {max(2, k)} samples, got {n}")
    d = pairwise_euclidean(x)
    core = core_distances(d, k)
    src, dst, weight = prim_tree(d, core)
    del d
    tree = condense(*single_linkage(src, dst, weight), min_cluster_size)
    if len(tree.parent) == 0:
        return np.full(n, -1, dtype=np.intp)
    clusters = select_clusters(tree, cluster_selection_method, allow_single_cluster, cluster_selection_epsilon)
    return label_points(tree, clusters, allow_single_cluster, cluster_selection_epsilon)
