from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from .._validation import sklearn_seed
from ._base import QueryStrategy
from ._typiclust import kmeans_labels

# Query rows per block when building the ball graph: bounds the temporary
# distance matrix to block x N.
_GRAPH_BLOCK_ROWS = 2048


def distance_to_other_cluster(F: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each row, the distance to its nearest row with another label (inf if none)."""
    out = np.full(F.shape[0], np.inf)
    for c in np.unique(labels):
        inside = labels == c
        if inside.all():
            continue
        nn = NearestNeighbors(n_neighbors=1).fit(F[~inside])
        out[inside] = nn.kneighbors(F[inside])[0][:, 0]
    return out


def purity_delta(F: np.ndarray, labels: np.ndarray, purity: float) -> float:
    """Largest delta whose balls are pure for at least a ``purity`` fraction of rows.

    A ball ``{y : ||x - y|| < delta}`` is pure when every member shares x's
    label, i.e. when ``delta <= d(x)``, the distance from x to its nearest row of
    another label. So purity(delta) = mean(d >= delta), a step function whose
    largest delta with purity >= p is an order statistic of d: the search is
    exact and needs no grid, on whatever distance scale the data has.
    """
    d = np.sort(distance_to_other_cluster(F, labels))
    n_pure = int(np.ceil(purity * d.size - 1e-9))
    delta = float(d[d.size - n_pure]) if n_pure > 0 else float(d[-1])
    if not np.isfinite(delta):  # a single cluster: every ball is pure
        delta = float(np.max(np.linalg.norm(F - F.mean(0), axis=1)) * 2 + 1e-12)
    return delta


def ball_graph(F: np.ndarray, delta: float) -> sp.csr_matrix:
    """Sparse N x N adjacency: row x holds every y with ``||F_x - F_y|| < delta``.

    Built in row blocks, so memory is the edges plus one block x N distance
    block; never a dense N x N matrix.
    """
    n = F.shape[0]
    nn = NearestNeighbors(radius=delta).fit(F)
    indptr = [np.zeros(1, dtype=np.int64)]
    indices = []
    offset = 0
    for start in range(0, n, _GRAPH_BLOCK_ROWS):
        dist, ind = nn.radius_neighbors(F[start : start + _GRAPH_BLOCK_ROWS], return_distance=True)
        for di, ii in zip(dist, ind):
            keep = ii[di < delta]  # strict, as the official code's `dist < delta`
            indices.append(keep)
            offset += keep.size
            indptr.append(np.array([offset]))
    indptr = np.concatenate(indptr)
    indices = np.concatenate(indices) if indices else np.empty(0, dtype=np.int64)
    data = np.ones(indices.size, dtype=np.bool_)
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


class ProbCoverQuery(QueryStrategy):
    """ProbCover (Yehuda et al., 2022): greedy maximum coverage of delta-balls.

    On L2-normalized features, every example covers the ball of radius
    ``delta`` around it; each pick is the example whose ball covers the most
    not-yet-covered examples. Balls of labeled examples start covered. Once
    everything is covered the remaining picks are uniform among the rest.

    Parameters
    ----------
    delta : float, optional
        Ball radius on the unit sphere (0 < delta <= 2). None chooses the
        largest delta whose ball purity with respect to k-means pseudo-labels
        is at least ``purity`` (exactly, not on a fixed grid, so it adapts to
        the data's own distance scale).
    purity : float, default=0.95
        Target fraction of pure balls, in (0, 1].
    n_classes : int, optional
        k of the k-means pseudo-labels. None uses ``n_labeled + budget``
        (one cluster per labeled example, as TypiClust), capped to [2, 500]:
        pass the number of classes when you know it, as the paper does.
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional

    Attributes
    ----------
    delta_ : float
        The radius used by the last selection.

    References
    ----------
    O. Yehuda, A. Dekel, G. Hacohen, D. Weinshall. Active Learning Through a
    Covering Lens. NeurIPS 2022.
    """

    description = "ProbCover: greedy max coverage of delta-balls (Yehuda et al. 2022)."

    def __init__(self, delta=None, purity=0.95, n_classes=None, random_state=None, features=None):
        self.delta = delta
        self.purity = purity
        self.n_classes = n_classes
        self.random_state = random_state
        self.features = features

    def _check_params(self):
        if self.delta is not None and (
            isinstance(self.delta, bool)
            or not isinstance(self.delta, numbers.Real)
            or not 0 < self.delta <= 2
        ):
            raise ValueError(
                f"delta must be None or a radius in (0, 2] on L2-normalized features; got {self.delta!r}."
            )
        if isinstance(self.purity, bool) or not isinstance(self.purity, numbers.Real) or not 0 < self.purity <= 1:
            raise ValueError(f"purity must be a fraction in (0, 1]; got {self.purity!r}.")
        if self.n_classes is not None and (
            isinstance(self.n_classes, bool) or not isinstance(self.n_classes, numbers.Integral) or self.n_classes < 2
        ):
            raise ValueError(f"n_classes must be None or an integer >= 2; got {self.n_classes!r}.")

    def _select(self, X, budget, labeled, rng):
        F = normalize(np.asarray(X, dtype=np.float32))
        n = F.shape[0]
        delta = self.delta
        if delta is None:
            k = self.n_classes or int(np.clip(labeled.size + budget, 2, 500))
            k = min(k, n)
            pseudo = kmeans_labels(F, k, sklearn_seed(rng)) if k > 1 else np.zeros(n, dtype=int)
            delta = purity_delta(F, pseudo, self.purity)
        self.delta_ = float(delta)
        A = ball_graph(F, delta)
        AT = A.T.tocsr()  # AT[y] lists the x whose balls hold y
        degree = np.diff(A.indptr).astype(np.int64)
        covered = np.zeros(n, dtype=bool)

        def cover(xs):
            ys = np.unique(A[xs].indices)
            new = ys[~covered[ys]]
            covered[new] = True
            if new.size:
                degree[:] -= np.bincount(AT[new].indices, minlength=n)
            return new.size

        if labeled.size:
            cover(labeled)
        eligible = np.ones(n, dtype=bool)
        eligible[labeled] = False
        chosen, scores = [], []
        while len(chosen) < budget:
            masked = np.where(eligible, degree, -1)
            x = int(np.argmax(masked))
            if masked[x] <= 0:
                break
            chosen.append(x)
            scores.append(float(cover(np.array([x]))))
            eligible[x] = False
        if len(chosen) < budget:  # everything covered: the rest uniformly
            rest = rng.permutation(np.flatnonzero(eligible))[: budget - len(chosen)]
            chosen.extend(rest.tolist())
            scores.extend([0.0] * rest.size)
        return np.asarray(chosen), np.asarray(scores)
