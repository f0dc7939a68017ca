"""TypiClust (Hacohen et al. 2022): k-means clusters, typicality, and the official pick order."""

from __future__ import annotations

import numpy as np

from .._progress import progress
from .._validation import check_bool, check_choice, check_int, sklearn_seed
from ..backends import ArrayClusterPool
from ..kernels import (
    kmeans_labels,
    knn_sq_distances,
    nearest_sq_distances,
    sample_kmeans_labels,
    unit_rows_float32,
)
from ._base import QueryStrategy

#: ``approximate="auto"`` takes the approximate path for pools of more rows than
#: this (TypiClust and ProbCover); smaller pools get the official, exact path.
APPROX_MIN_ROWS = 100_000


#: Approximate typicality inside a cluster larger than REFS + CANDIDATES: every
#: member is scored against REFS random members (k scaled by REFS / size), and
#: the CANDIDATES best get their exact typicality within the whole cluster.
TYPICALITY_REFS = 512
TYPICALITY_CANDIDATES = 128


def most_typical_approx(G: np.ndarray, k: int, rng: np.random.Generator):
    """``(position, typicality)`` of a most typical row of ``G``, approximately.

    Every row is scored by its mean squared distance to its ``k'`` nearest of
    ``TYPICALITY_REFS`` random rows (``k' = k * refs / n``, at least 1: the
    same density scale on a sample); the ``TYPICALITY_CANDIDATES`` best then get
    their exact typicality within all of ``G`` (as :func:`typicality`) and the
    highest wins (ties to the lowest position). Work O(n (refs + candidates) d)
    instead of O(n^2 d). The returned score is exact; the pick equals the exact
    one whenever the exact argmax is among the candidates.
    """
    n = G.shape[0]
    refs = np.sort(rng.choice(n, TYPICALITY_REFS, replace=False))
    k_ref = max(1, int(round(k * TYPICALITY_REFS / n)))
    D = knn_sq_distances(G[refs], G, k_ref + 1)
    # a reference row finds itself at distance 0 first: drop that column for it
    is_ref = np.zeros(n, dtype=bool)
    is_ref[refs] = True
    coarse = np.where(is_ref, D[:, 1:].mean(axis=1), D[:, :k_ref].mean(axis=1))
    cand = np.sort(np.argpartition(coarse, TYPICALITY_CANDIDATES - 1)[:TYPICALITY_CANDIDATES])
    typ = 1.0 / (knn_sq_distances(G, G[cand], k + 1)[:, 1:].mean(axis=1) + 1e-5)
    best = int(np.argmax(typ))
    return int(cand[best]), float(typ[best])


def check_approximate(value) -> None:
    """``approximate`` is "auto", True or False."""
    if isinstance(value, str):
        check_choice(value, "approximate", ("auto",))
    else:
        check_bool(value, "approximate")


def use_approximate(value, n: int) -> bool:
    """Whether a pool of ``n`` rows takes the approximate path ("auto": n > APPROX_MIN_ROWS)."""
    return n > APPROX_MIN_ROWS if value == "auto" else bool(value)


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
    approximate : "auto", True or False, default="auto"
        The approximate path for large pools: k-means trained on a sample of
        256 rows per cluster (as faiss by default) then every row assigned, and
        inside clusters of more than 640 members the typicality of all members
        estimated against 512 random members, the 128 best re-scored exactly.
        "auto" takes it above ``APPROX_MIN_ROWS`` (100,000) rows; smaller pools
        get the authors' exact computation. faiss is used when installed
        (``SUBSEL_FAISS=0`` turns it off), scikit-learn otherwise.
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
        self,
        max_clusters=500,
        k_neighbors=20,
        min_cluster_size=5,
        random_state=None,
        features=None,
        approximate="auto",
    ):
        self.max_clusters = max_clusters
        self.k_neighbors = k_neighbors
        self.min_cluster_size = min_cluster_size
        self.approximate = approximate
        self.random_state = random_state
        self.features = features

    def _check_params(self):
        check_int(self.max_clusters, "max_clusters", 1)
        check_int(self.k_neighbors, "k_neighbors", 1)
        check_int(self.min_cluster_size, "min_cluster_size", 0)
        check_approximate(self.approximate)

    def _select(self, X, budget, labeled, rng):
        F = unit_rows_float32(X)
        self.approximate_ = use_approximate(self.approximate, F.shape[0])
        pool = ArrayClusterPool(F, sample_kmeans_labels if self.approximate_ else kmeans_labels)
        return self._visit(pool, X, F, budget, labeled, rng)

    def _visit(self, pool, X, F, budget, labeled, rng):
        """TypiClust's loop over a :class:`~subsel_plugins.backends.ClusterPool`: ``(indices, scores)``.

        Written once for every backend: ``X`` and ``F`` (the features as given
        and their L2-normalized float32 rows) are read only by row index, for
        the members of the clusters visited.
        """
        n_clusters = min(labeled.size + budget, self.max_clusters, pool.n)
        sizes = pool.fit(n_clusters, sklearn_seed(rng))
        labeled_counts = np.bincount(pool.labels_of(labeled), minlength=n_clusters)
        pool.take(labeled)
        left = sizes - labeled_counts  # members still in the race, per cluster
        ids = np.flatnonzero(sizes > self.min_cluster_size)
        if ids.size == 0:  # tiny pools: keep every non-empty cluster rather than fail
            ids = np.flatnonzero(sizes > 0)
        # fewest labeled first, then largest first; cluster id breaks ties
        order = ids[np.lexsort((ids, -sizes[ids], labeled_counts[ids]))]
        chosen, scores = [], []
        step = 0
        bar = progress(total=budget, desc="TypiClust picks", unit="pick")
        while len(chosen) < budget:
            cluster = order[step % order.size]
            step += 1
            if left[cluster] == 0:
                if not (left[order] > 0).any():
                    # every visited cluster is used up: the rest of the pool
                    # lies in skipped small clusters.
                    order = np.flatnonzero(left > 0)
                continue
            members = pool.members(cluster)
            best, score = self._pick_in_cluster(X, F, members, rng)
            chosen.append(int(members[best]))
            scores.append(float(score))
            pool.take([members[best]])
            left[cluster] -= 1
            bar.update()
        bar.close()
        return np.asarray(chosen), np.asarray(scores)

    def _pick_in_cluster(self, X, F, members, rng):
        """The member to take from a visited cluster: ``(position in members, score)``.

        TypiClust takes the most typical unlabeled member (ties to the first).
        The override point for variants that keep TypiClust's clusters and
        visiting order but choose inside a cluster by another rule. ``X``: the
        features as given; ``F``: their L2-normalized float32 rows;
        ``members``: the cluster's unlabeled, unchosen rows (non-empty).
        On the approximate path (``approximate_``), clusters of more than
        ``TYPICALITY_REFS + TYPICALITY_CANDIDATES`` members use
        :func:`most_typical_approx`.
        """
        k = min(self.k_neighbors, members.size // 2)
        if getattr(self, "approximate_", False) and members.size > TYPICALITY_REFS + TYPICALITY_CANDIDATES:
            return most_typical_approx(F[members], k, rng)
        typ = typicality(F[members], k)
        best = int(np.argmax(typ))
        return best, typ[best]
