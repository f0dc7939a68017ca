"""TypiClust (Hacohen et al. 2022): k-means clusters, typicality, and the official pick order."""

from __future__ import annotations

import numpy as np

from .._progress import progress
from .._validation import check_bool, check_choice, check_int, sklearn_seed
from ..backends import ArrayClusterPool
from ..kernels import (  # noqa: F401 (typicality, most_typical_approx and the constants: re-exported)
    TYPICALITY_CANDIDATES,
    TYPICALITY_REFS,
    cluster_k,
    kmeans_labels,
    most_typical_approx,
    sample_kmeans_labels,
    typicality,
    unit_rows_float32,
)
from ._base import QueryStrategy

#: ``approximate="auto"`` takes the approximate path for pools of more rows than
#: this (TypiClust and ProbCover); smaller pools get the official, exact path.
APPROX_MIN_ROWS = 100_000


def check_approximate(value) -> None:
    """``approximate`` is "auto", True or False."""
    if isinstance(value, str):
        check_choice(value, "approximate", ("auto",))
    else:
        check_bool(value, "approximate")


def use_approximate(value, n: int) -> bool:
    """Whether a pool of ``n`` rows takes the approximate path ("auto": n > APPROX_MIN_ROWS)."""
    return n > APPROX_MIN_ROWS if value == "auto" else bool(value)


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
        # the pool's own typicality (one batch of visits at a time) for TypiClust's rule
        # on the approximate path; variants choose inside a cluster by their own rule
        batched = getattr(pool, "most_typical", None)
        if type(self)._pick_in_cluster is not TypiClustQuery._pick_in_cluster or not getattr(
            self, "approximate_", False
        ):
            batched = None
        chosen, scores = [], []
        step = 0
        bar = progress(total=budget, desc="TypiClust picks", unit="pick")
        while len(chosen) < budget:
            limit = budget - len(chosen)
            batch, step, order = self._next_visits(order, step, left.copy(), min(limit, pool.visit_batch))
            if batched is not None:
                picks = batched(batch, self.k_neighbors, rng)
                bar.update(len(batch))
            else:
                picks = []
                for cluster in batch:
                    members = pool.members(cluster)
                    best, score = self._pick_in_cluster(X, F, members, rng)
                    picks.append((int(members[best]), float(score)))
                    bar.update()
            for cluster, (row, score) in zip(batch, picks):
                chosen.append(row)
                scores.append(score)
                left[cluster] -= 1
            pool.take([row for row, _ in picks])
        bar.close()
        return np.asarray(chosen), np.asarray(scores)

    @staticmethod
    def _next_visits(order, step, left, limit):
        """The next ``limit`` visits of the loop (``order`` cycled from ``step``), each cluster at most once.

        Clusters used up are skipped; once every cluster of ``order`` is, the
        order becomes every cluster with members left (the rest of the pool
        lies in skipped small clusters). The visits of one batch are distinct
        clusters, so their members do not depend on each other's picks.
        Returns ``(clusters, step, order)`` to go on from.
        """
        batch, seen = [], set()
        while len(batch) < limit:
            cluster = int(order[step % order.size])
            if cluster in seen:
                break
            step += 1
            if left[cluster] == 0:
                if not (left[order] > 0).any():
                    order = np.flatnonzero(left > 0)
                continue
            batch.append(cluster)
            seen.add(cluster)
            left[cluster] -= 1
        return batch, step, order

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
        k = cluster_k(self.k_neighbors, members.size)
        if getattr(self, "approximate_", False) and members.size > TYPICALITY_REFS + TYPICALITY_CANDIDATES:
            return most_typical_approx(F[members], k, rng)
        typ = typicality(F[members], k)
        best = int(np.argmax(typ))
        return best, typ[best]
