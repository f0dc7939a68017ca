"""TypiClust (Hacohen et al. 2022): k-means clusters, typicality, and the official pick order."""

from __future__ import annotations

import os

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans, kmeans_plusplus
from sklearn.neighbors import NearestNeighbors

from .._progress import blocks, progress
from .._validation import check_bool, check_choice, check_int, sklearn_seed, unit_rows_float32
from ._base import QueryStrategy

# Above this many rows even few clusters use MiniBatchKMeans: KMeans with 10
# restarts costs minutes at 100k x 384 and most of an hour at ImageNet's 1.28M.
KMEANS_FULL_MAX_ROWS = 100_000

#: ``approximate="auto"`` takes the approximate path for pools of more rows than
#: this (TypiClust and ProbCover); smaller pools get the official, exact path.
APPROX_MIN_ROWS = 100_000

#: The approximate k-means trains on a uniform sample of at most this many rows
#: per centroid (faiss's own default cap), then assigns every row.
MAX_POINTS_PER_CENTROID = 256
#: Lloyd iterations of the approximate k-means (faiss's default).
SAMPLE_KMEANS_ITERS = 20
#: Its k-means++ seeds come from this many sampled rows per centroid.
KMEANS_INIT_ROWS_PER_CENTROID = 32

#: Approximate typicality inside a cluster larger than REFS + CANDIDATES: every
#: member is scored against REFS random members (k scaled by REFS / size), and
#: the CANDIDATES best get their exact typicality within the whole cluster.
TYPICALITY_REFS = 512
TYPICALITY_CANDIDATES = 128

_ASSIGN_BLOCK = 65_536


def kmeans_labels(F: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Cluster labels as the official TypiClust code computes them.

    KMeans (10 restarts) up to 50 clusters, MiniBatchKMeans (batch 5000, 3
    restarts) above, and for every pool of more than ``KMEANS_FULL_MAX_ROWS``
    rows.
    """
    return official_kmeans(n_clusters, F.shape[0], seed).fit_predict(F)


def official_kmeans(n_clusters: int, n_rows: int, seed: int):
    """The scikit-learn estimator :func:`kmeans_labels` fits on ``n_rows`` rows."""
    if n_clusters <= 50 and n_rows <= KMEANS_FULL_MAX_ROWS:
        return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    return MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, n_init=3, random_state=seed)


def official_kmeans_on_sample(F: np.ndarray, n_clusters: int, seed: int):
    """:func:`kmeans_labels`'s k-means trained on a uniform sample: ``(labels, centroids)``.

    The same estimator (and seed) as the exact path, fitted on at most
    ``MAX_POINTS_PER_CENTROID * n_clusters`` rows (all of them when the pool is
    smaller: then the clusters are the exact path's), then every row gets its
    nearest centroid. ProbCover's approximate path sets its radius from these
    pseudo-labels, so that it approximates the exact path's radius rather than
    that of another clustering (a better k-means finds purer clusters and a
    larger radius).
    """
    n = F.shape[0]
    m = min(n, MAX_POINTS_PER_CENTROID * n_clusters)
    sample = np.sort(np.random.default_rng(seed).choice(n, m, replace=False)) if m < n else np.arange(n)
    with progress(total=2, desc=f"k-means, k={n_clusters} on {m:,} rows", unit="step") as bar:
        km = official_kmeans(n_clusters, m, seed).fit(np.asarray(F[sample], dtype=np.float32))
        bar.update()
        centroids = np.asarray(km.cluster_centers_, dtype=np.float32)
        labels = nearest_centroid(F, centroids)
        bar.update()
    return labels, centroids


def sample_kmeans_labels(F: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Approximate k-means labels for large pools (:func:`sample_kmeans`'s labels)."""
    return sample_kmeans(F, n_clusters, seed)[0]


def sample_kmeans(F: np.ndarray, n_clusters: int, seed: int, points_per_centroid: int | None = None):
    """Approximate k-means for large pools: ``(labels, centroids)``, trained on a sample.

    Lloyd's algorithm (``SAMPLE_KMEANS_ITERS`` iterations, one start) on a
    uniform sample of ``MAX_POINTS_PER_CENTROID * n_clusters`` rows (or
    ``points_per_centroid * n_clusters``), as faiss
    does by default, started from greedy k-means++ seeds (scikit-learn's
    2 + ln k trials per centre: on the 1000-class ImageNet stand-in one trial
    left Lloyd at an adjusted mutual information of 0.89 with the classes,
    greedy seeding reaches 0.97, above MiniBatchKMeans's 0.96) drawn
    from the first ``KMEANS_INIT_ROWS_PER_CENTROID * n_clusters`` sampled rows;
    then every row gets its nearest centroid. faiss's Kmeans runs the
    iterations when installed, scikit-learn's KMeans otherwise, from the same
    seeds.
    """
    n = F.shape[0]
    rng = np.random.default_rng(seed)
    m = min(n, (points_per_centroid or MAX_POINTS_PER_CENTROID) * n_clusters)
    sample = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
    S = np.ascontiguousarray(F[sample], dtype=np.float32)
    faiss = faiss_or_none()
    with progress(total=3, desc=f"k-means, k={n_clusters} on {m:,} rows", unit="step") as bar:
        init_rows = rng.permutation(m)[: KMEANS_INIT_ROWS_PER_CENTROID * n_clusters]
        init, _ = kmeans_plusplus(S[init_rows], n_clusters, random_state=seed)
        bar.update()
        if faiss is not None:
            km = faiss.Kmeans(S.shape[1], n_clusters, niter=SAMPLE_KMEANS_ITERS, seed=seed % 2**31)
            km.train(S, init_centroids=np.ascontiguousarray(init, dtype=np.float32))
            centroids = km.centroids
        else:
            km = KMeans(n_clusters, init=init, n_init=1, max_iter=SAMPLE_KMEANS_ITERS, tol=0.0)
            centroids = km.fit(S).cluster_centers_
        bar.update()
        centroids = np.asarray(centroids, dtype=np.float32)
        labels = nearest_centroid(F, centroids)
        bar.update()
    return labels, centroids


def nearest_centroid(F: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centroid (squared L2), in blocks of rows."""
    C = np.ascontiguousarray(centroids, dtype=np.float32)
    half_sq = 0.5 * np.einsum("ij,ij->i", C, C)
    labels = np.empty(F.shape[0], dtype=np.int64)
    for s in blocks(F.shape[0], _ASSIGN_BLOCK, "assigning rows to centroids"):
        B = np.asarray(F[s : s + _ASSIGN_BLOCK], dtype=np.float32)
        # argmin ||x - c||^2 = argmin (|c|^2 / 2 - x.c)
        labels[s : s + B.shape[0]] = np.argmin(half_sq[None, :] - B @ C.T, axis=1)
    return labels


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


def knn_sq_distances(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Squared distances from each query to its ``k`` nearest rows of ``base``, ascending.

    Exact: faiss's IndexFlatL2 when installed, else scikit-learn's brute force.
    """
    faiss = faiss_or_none()
    if faiss is not None:
        index = faiss.IndexFlatL2(base.shape[1])
        index.add(np.ascontiguousarray(base, dtype=np.float32))
        dist, _ = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return np.maximum(dist.astype(np.float64), 0.0)
    dist, _ = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(base).kneighbors(queries)
    return dist.astype(np.float64) ** 2


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
        n = F.shape[0]
        n_clusters = min(labeled.size + budget, self.max_clusters, n)
        self.approximate_ = use_approximate(self.approximate, n)
        cluster_fn = sample_kmeans_labels if self.approximate_ else kmeans_labels
        clusters = cluster_fn(F, n_clusters, sklearn_seed(rng))
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
        bar = progress(total=budget, desc="TypiClust picks", unit="pick")
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
