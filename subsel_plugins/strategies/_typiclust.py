"""TypiClust (Hacohen et al. 2022): k-means clusters, typicality, and the official pick order."""

from __future__ import annotations

import os

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.neighbors import NearestNeighbors

from .._validation import check_int, sklearn_seed, unit_rows_float32
from ._base import QueryStrategy

# Above this many rows even few clusters use MiniBatchKMeans: KMeans with 10
# restarts costs minutes at 100k x 384 and most of an hour at ImageNet's 1.28M.
KMEANS_FULL_MAX_ROWS = 100_000


def kmeans_labels(F: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Cluster labels as the official TypiClust code computes them.

    KMeans (10 restarts) up to 50 clusters, MiniBatchKMeans (batch 5000, 3
    restarts) above, and for every pool of more than ``KMEANS_FULL_MAX_ROWS``
    rows.
    """
    if n_clusters <= 50 and F.shape[0] <= KMEANS_FULL_MAX_ROWS:
        km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, n_init=3, random_state=seed)
    return km.fit_predict(F)


def faiss_or_none():
    """The faiss module when installed (and not disabled by SUBSEL_FAISS=0), else None."""
    if os.environ.get("SUBSEL_FAISS", "1") == "0":
        return None
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def nearest_sq_distances(F: np.ndarray, k: int) -> np.ndarray:
    """Squared distances from each row to its ``k`` nearest other rows, (n, k), ascending.

    Exact (brute force): faiss's IndexFlatL2 when faiss is installed, as the
    official code, else scikit-learn's chunked brute-force search. Both bound
    memory by blocks, never an n x n matrix; they agree within float32 rounding.
    """
    faiss = faiss_or_none()
    if faiss is not None:
        F32 = np.ascontiguousarray(F, dtype=np.float32)
        index = faiss.IndexFlatL2(F32.shape[1])
        index.add(F32)
        dist, _ = index.search(F32, k + 1)
        return np.maximum(dist[:, 1:].astype(np.float64), 0.0)
    dist, _ = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(F).kneighbors(F)
    return dist[:, 1:].astype(np.float64) ** 2


def typicality(F: np.ndarray, k: int) -> np.ndarray:
    """``1 / (mean squared distance to the k nearest neighbours + 1e-5)``.

    Squared distances, as faiss's IndexFlatL2 returns them in the official code.
    """
    k = min(k, F.shape[0] - 1)
    if k < 1:
        return np.ones(F.shape[0])
    return 1.0 / (np.mean(nearest_sq_distances(F, k), axis=1) + 1e-5)


class TypiClustQuery(QueryStrategy):
    """TypiClust (Hacohen et al., 2022): the most typical example of each uncovered cluster.

    Features are L2-normalized; k-means makes ``K = min(n_labeled + budget,
    max_clusters)`` clusters; clusters with ``min_cluster_size`` or fewer
    members are skipped; clusters are visited fewest-labeled first, then
    largest first, and from each the unlabeled example of highest typicality
    (inverse mean squared distance to its ``k_neighbors`` nearest neighbours
    within the cluster, ``k`` capped at half the cluster) is taken. This
    follows the authors' code.

    Parameters
    ----------
    max_clusters : int, default=500
    k_neighbors : int, default=20
    min_cluster_size : int, default=5
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional

    References
    ----------
    G. Hacohen, A. Dekel, D. Weinshall. Active Learning on a Budget: Opposite
    Strategies Suit High and Low Budgets. ICML 2022.
    """

    description = "TypiClust: most typical example per k-means cluster (Hacohen et al. 2022)."
    scale_invariant = True  # rows are L2-normalized

    def __init__(
        self, max_clusters=500, k_neighbors=20, min_cluster_size=5, random_state=None, features=None
    ):
        self.max_clusters = max_clusters
        self.k_neighbors = k_neighbors
        self.min_cluster_size = min_cluster_size
        self.random_state = random_state
        self.features = features

    def _check_params(self):
        check_int(self.max_clusters, "max_clusters", 1)
        check_int(self.k_neighbors, "k_neighbors", 1)
        check_int(self.min_cluster_size, "min_cluster_size", 0)

    def _select(self, X, budget, labeled, rng):
        F = unit_rows_float32(X)
        n = F.shape[0]
        n_clusters = min(labeled.size + budget, self.max_clusters, n)
        clusters = kmeans_labels(F, n_clusters, sklearn_seed(rng))
        sizes = np.bincount(clusters, minlength=n_clusters)
        labeled_counts = np.bincount(clusters[labeled], minlength=n_clusters)
        ids = np.flatnonzero(sizes > self.min_cluster_size)
        if ids.size == 0:  # tiny pools: keep every non-empty cluster rather than fail
            ids = np.flatnonzero(sizes > 0)
        # fewest labeled first, then largest first; cluster id breaks ties
        order = ids[np.lexsort((ids, -sizes[ids], labeled_counts[ids]))]
        free = clusters.copy()
        free[labeled] = -1
        chosen, scores = [], []
        step = 0
        while len(chosen) < budget:
            cluster = order[step % order.size]
            step += 1
            members = np.flatnonzero(free == cluster)
            if members.size == 0:
                if not np.isin(order, free).any():
                    # every visited cluster is used up: the rest of the pool
                    # lies in skipped small clusters.
                    order = np.unique(free[free >= 0])
                continue
            best, score = self._pick_in_cluster(X, F, members, rng)
            chosen.append(int(members[best]))
            scores.append(float(score))
            free[members[best]] = -1
        return np.asarray(chosen), np.asarray(scores)

    def _pick_in_cluster(self, X, F, members, rng):
        """The member to take from a visited cluster: ``(position in members, score)``.

        TypiClust takes the most typical unlabeled member (ties to the first).
        The override point for variants that keep TypiClust's clusters and
        visiting order but choose inside a cluster by another rule. ``X``: the
        features as given; ``F``: their L2-normalized float32 rows;
        ``members``: the cluster's unlabeled, unchosen rows (non-empty).
        """
        typ = typicality(F[members], min(self.k_neighbors, members.size // 2))
        best = int(np.argmax(typ))
        return best, typ[best]
