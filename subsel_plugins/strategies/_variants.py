"""Variants beyond the paper that keep TypiClust's coverage, and centred Gram-Schmidt.

The paper's "TypiClust then norm/GS" lets TypiClust propose 2b candidates (one
per cluster of 2b clusters) and keeps b of them: half of the clusters, and with
them class coverage, are thrown away. The variants here keep TypiClust's b
clusters and its visiting order, and change only which member of a visited
cluster is taken (:meth:`TypiClustQuery._pick_in_cluster`).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_bool, check_norm, check_real
from ..backends import Centered
from ..errors import InvalidValueError
from ..kernels import RESIDUAL_RTOL, cluster_k, orthonormal_basis, row_norms
from ._gram_schmidt import GramSchmidtQuery
from ._typiclust import TypiClustQuery, typicality


class _InClusterVariant(TypiClustQuery):
    """Shared plumbing: the typicality of a cluster's members and the features' optional centre."""

    score_degree = 1  # typicality (unchanged by scale) times a norm

    #: Why the distributed dispatch refuses it (one line, before any work).
    not_distributed_because = (
        "it always runs TypiClust's exact path (k-means with restarts on the whole pool and exact "
        "typicality within whole clusters, in memory)"
    )

    #: TypiClust's exact path always (k-means with restarts, exact typicality):
    #: the variants are for pools of the harness's size, not ImageNet's.
    #: ``approximate`` reads False; setting it to anything but False (or the
    #: "auto" TypiClustQuery.__init__ stores) is refused, never ignored.
    @property
    def approximate(self):
        return False

    @approximate.setter
    def approximate(self, value):
        if not (value is False or (isinstance(value, str) and value == "auto")):
            raise InvalidValueError(
                f"{type(self).__name__} always runs TypiClust's exact path; approximate={value!r} "
                "cannot be set (use TypiClustQuery(approximate=...) for the approximate path)."
            )

    def _check_params(self):
        super()._check_params()
        check_real(self.alpha, "alpha", 0)
        check_bool(self.center, "center")

    def _select(self, X, budget, labeled, rng):
        self._mean = Centered(X).mean if self.center else None
        try:
            return self._select_rounds(X, budget, labeled, rng)
        finally:
            del self._mean

    def _select_rounds(self, X, budget, labeled, rng):
        return super()._select(X, budget, labeled, rng)

    def _rows(self, X, idx):
        """Rows ``idx`` of the features as given (centred when ``center``), float64."""
        R = np.asarray(X[idx], dtype=np.float64)
        return R - self._mean if self._mean is not None else R

    def _member_typicality(self, F, members):
        # exact, as TypiClust's own (O(m^2 d) per cluster of m members)
        return typicality(F[members], cluster_k(self.k_neighbors, members.size))

    def _best(self, typ, weight):
        """``(position, score)`` maximizing ``typicality**alpha * weight`` (ties to the first).

        The typicality is taken relative to the cluster's largest, so the score
        ``(typ / max typ)**alpha * weight`` never overflows, whatever ``alpha``.
        """
        score = (typ / typ.max()) ** self.alpha * weight
        best = int(np.argmax(score))
        return best, float(score[best])


class TypiClustNormQuery(_InClusterVariant):
    """TypiClust's clusters and order; in each cluster the member with the largest typicality x norm.

    Rationale: "TypiClust then norm" (the paper's combination) keeps only b of
    TypiClust's 2b one-per-cluster candidates and loses class coverage with the
    clusters it drops. This variant keeps TypiClust's b clusters and the order
    it visits them in, and brings the paper's pruning signal (a large feature
    norm) in where it cannot cost coverage: inside a cluster, among members
    that are all near each other, it takes the one maximizing
    ``typicality**alpha * ||x||`` instead of typicality alone. ``alpha=0`` is
    the largest norm in each cluster; a large ``alpha`` approaches TypiClust.
    The typicality is TypiClust's (inverse mean squared distance to the
    ``k_neighbors`` nearest members, on L2-normalized rows); the norm is that
    of the features as given (as feature-norm sampling uses them).

    Parameters
    ----------
    max_clusters : int, default=500
    k_neighbors : int, default=20
    min_cluster_size : int, default=5
        As in :class:`TypiClustQuery`.
    norm : {"l2", "l1", "linf"}, default="l2"
        Norm of the feature vectors.
    alpha : float, default=1.0
        Exponent of the typicality in the score, >= 0.
    center : bool, default=False
        Measure the norm from the mean row of ``X`` (the distance to the
        pool's centre) instead of from the origin.
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional
    """

    description = "TypiClust's clusters; in each, the member with the largest typicality x feature norm."

    def __init__(
        self,
        max_clusters=500,
        k_neighbors=20,
        min_cluster_size=5,
        norm="l2",
        alpha=1.0,
        center=False,
        random_state=None,
        features=None,
    ):
        super().__init__(max_clusters, k_neighbors, min_cluster_size, random_state, features)
        self.norm = norm
        self.alpha = alpha
        self.center = center

    def _check_params(self):
        super()._check_params()
        check_norm(self.norm)

    def _pick_in_cluster(self, X, F, members, rng):
        weight = row_norms(self._rows(X, members), self.norm)
        return self._best(self._member_typicality(F, members), weight)


class TypiClustGSQuery(_InClusterVariant):
    """TypiClust's clusters and order; in each cluster the member with the largest typicality x GS residual.

    Rationale: Gram-Schmidt's strength is diversity of directions, TypiClust's
    is coverage of the pool's dense regions; "TypiClust then GS" mixes them by
    discarding half of TypiClust's clusters. This variant keeps every cluster
    TypiClust visits and, inside the visited cluster, takes the member
    maximizing ``typicality**alpha * ||r||``, where ``r`` is the member's
    residual against the span of the labeled rows and of the picks made so far
    (Alg. 1's residual, on the features as given): among typical members it
    prefers the one that adds the most new direction to the subset. Once the
    span covers every member of a visited cluster (the budget passed the rank
    of the features), the basis starts over empty, as
    ``GramSchmidtQuery(exhausted="restart")`` does.

    Parameters
    ----------
    max_clusters : int, default=500
    k_neighbors : int, default=20
    min_cluster_size : int, default=5
        As in :class:`TypiClustQuery`.
    alpha : float, default=1.0
        Exponent of the typicality in the score, >= 0 (0: the largest residual).
    center : bool, default=False
        Residuals of the rows minus the mean row of ``X``.
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional

    Attributes
    ----------
    restarts_ : int
        How many times the last selection started the basis over.
    """

    description = "TypiClust's clusters; in each, the member with the largest typicality x GS residual."

    def __init__(
        self,
        max_clusters=500,
        k_neighbors=20,
        min_cluster_size=5,
        alpha=1.0,
        center=False,
        random_state=None,
        features=None,
    ):
        super().__init__(max_clusters, k_neighbors, min_cluster_size, random_state, features)
        self.alpha = alpha
        self.center = center

    def _select_rounds(self, X, budget, labeled, rng):
        self._Q = orthonormal_basis(self._rows(X, labeled)) if labeled.size else np.empty((0, X.shape[1]))
        self.restarts_ = 0
        try:
            return super()._select_rounds(X, budget, labeled, rng)
        finally:
            del self._Q

    def _pick_in_cluster(self, X, F, members, rng):
        rows = self._rows(X, members)
        floor = RESIDUAL_RTOL * np.linalg.norm(rows, axis=1)
        R = self._residuals(rows)
        live = np.linalg.norm(R, axis=1) > floor
        if not live.any() and self._Q.shape[0] and (floor > 0).any():
            # the span covers the whole cluster: start the basis over
            self._Q = np.empty((0, rows.shape[1]))
            self.restarts_ += 1
            R, live = rows, floor > 0
        weight = np.where(live, np.linalg.norm(R, axis=1), 0.0)
        best, score = self._best(self._member_typicality(F, members), weight)
        if live[best]:
            q = self._residuals(R[best : best + 1])[0]  # once more against rounding drift
            self._Q = np.vstack([self._Q, q / np.linalg.norm(q)])
        return best, score

    def _residuals(self, rows):
        R = rows.copy()
        for _ in range(2):  # twice is enough (Giraud et al. 2005)
            R -= (R @ self._Q.T) @ self._Q
        return R


class CenteredGramSchmidtQuery(GramSchmidtQuery):
    """Randomized Gram-Schmidt (Alg. 1) on features centred at the pool's mean.

    Rationale: raw pixels and ReLU features have only non-negative entries, so
    every row points into one orthant and the pool shares one dominant
    direction, its mean. Alg. 1's first pick is then close to that direction
    and every residual after it is mostly the row's deviation from it: the
    origin, not the data, decides the first pick and scales the rest. Centring
    (subtracting the mean row, which changes nothing for already centred
    features) makes norms and residuals measure spread around the pool's
    centre, so "large" means far from typical in some direction and "diverse"
    means a new direction of variation. This is ``GramSchmidtQuery`` with
    ``center=True`` as its default, registered under its own name.

    Parameters
    ----------
    norm, randomized, method, exhausted
        As in :class:`GramSchmidtQuery`.
    center : bool, default=True
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional
    """

    description = "Randomized Gram-Schmidt (Alg. 1) on features centred at the pool's mean."

    def __init__(
        self,
        norm="l2",
        randomized=True,
        method="auto",
        exhausted="restart",
        center=True,
        random_state=None,
        features=None,
    ):
        super().__init__(norm, randomized, method, exhausted, center, random_state, features)
