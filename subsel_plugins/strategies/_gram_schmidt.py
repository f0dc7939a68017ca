from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_bool, check_norm, row_norms
from ._base import QueryStrategy
from ._sampling import successive_sample

# A residual below this fraction of its row's original l2 norm is rounding
# noise: the row lies in the span of the chosen examples.
_RESIDUAL_RTOL = 1e-9


def _residual_norms(R: np.ndarray, norm: str) -> np.ndarray:
    if norm == "l2":
        return np.sqrt(np.einsum("ij,ij->i", R, R))
    if norm == "l1":
        return np.abs(R).sum(axis=1)
    return np.abs(R).max(axis=1)


def orthonormal_basis(A: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis (rows) of the row span of ``A``, shape (rank, d), float64."""
    if A.shape[0] == 0:
        return np.empty((0, A.shape[1]))
    _, s, vt = np.linalg.svd(np.asarray(A, dtype=np.float64), full_matrices=False)
    rank = int(np.count_nonzero(s > rtol * max(s[0], np.finfo(float).tiny)))
    return vt[:rank]


class GramSchmidtQuery(QueryStrategy):
    """Randomized Gram-Schmidt subset selection (the paper's Alg. 1).

    Pick ``i`` with probability proportional to its residual norm
    ``||F~_i||``, then project ``F~_i`` out of every other residual, so later
    picks favour directions not yet covered: large *and* diverse examples.

    Parameters
    ----------
    norm : {"l2", "l1", "linf"}, default="l2"
        Norm of the residuals that sets the sampling weights (Fig. 4c/4d use
        l1 and linf). The projection is always the orthogonal (l2) one.
    randomized : bool, default=True
        False takes the largest residual at each step (deterministic GS with
        pivoting).
    method : {"plain"}, default="plain"
        ``"plain"`` is Alg. 1 line by line on an N x d float64 residual matrix.
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional

    Notes
    -----
    Rows in ``labeled`` have their span projected out before the first pick.
    When every remaining residual vanishes (budget above the rank of the
    features, duplicate or zero rows), the rest of the budget is drawn by
    feature-norm sampling of the original features among the unchosen rows,
    with a ``RuntimeWarning``.
    """

    description = "Randomized Gram-Schmidt on residual norms (paper Alg. 1)."

    def __init__(self, norm="l2", randomized=True, method="plain", random_state=None, features=None):
        self.norm = norm
        self.randomized = randomized
        self.method = method
        self.random_state = random_state
        self.features = features

    _METHODS = ("plain",)

    def _check_params(self):
        check_norm(self.norm)
        check_bool(self.randomized, "randomized")
        if self.method not in self._METHODS:
            raise ValueError(f"method must be one of {self._METHODS}; got {self.method!r}.")

    def _select(self, X, budget, labeled, rng):
        return self._select_plain(X, budget, labeled, rng)

    def _select_plain(self, X, budget, labeled, rng):
        n = X.shape[0]
        R = np.array(X, dtype=np.float64)  # the residuals F~ of Alg. 1
        floor = _RESIDUAL_RTOL * np.sqrt(np.einsum("ij,ij->i", R, R))
        Q = orthonormal_basis(R[labeled])  # basis of everything projected out so far
        for _ in range(2):  # twice is enough (Giraud et al. 2005)
            R -= (R @ Q.T) @ Q
        eligible = np.ones(n, dtype=bool)
        eligible[labeled] = False
        chosen, scores = [], []
        for _ in range(budget):
            l2 = np.sqrt(np.einsum("ij,ij->i", R, R))
            live = eligible & (l2 > floor)
            if not live.any():
                break
            w = np.where(live, l2 if self.norm == "l2" else _residual_norms(R, self.norm), 0.0)
            i = int(rng.choice(n, p=w / w.sum())) if self.randomized else int(np.argmax(w))
            # Re-orthogonalize the picked residual against the basis before
            # using it: rounding makes R[i] drift out of the complement.
            q = R[i] - Q.T @ (Q @ R[i])
            q /= np.linalg.norm(q)
            R -= np.outer(R @ q, q)  # the projection step of Alg. 1, for all j at once
            Q = np.vstack([Q, q])
            eligible[i] = False
            chosen.append(i)
            scores.append(w[i])
        if len(chosen) < budget:
            self._fill_exhausted(X, budget, chosen, scores, eligible, rng)
        return np.asarray(chosen, dtype=np.int64), np.asarray(scores)

    def _fill_exhausted(self, X, budget, chosen, scores, eligible, rng):
        """Fill the budget by norm sampling once the residual mass is spent."""
        missing = budget - len(chosen)
        warnings.warn(
            f"GramSchmidtQuery: the residuals vanished after {len(chosen)} picks (the "
            f"features span no more directions: duplicate, zero or low-rank rows); the "
            f"other {missing} picks were drawn by {self.norm} feature-norm sampling "
            "among the unchosen rows.",
            RuntimeWarning,
            stacklevel=4,
        )
        pos = np.flatnonzero(eligible)
        norms = row_norms(X[pos] if pos.size < X.shape[0] else X, self.norm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pick = successive_sample(norms, missing, rng)
        chosen.extend(pos[pick].tolist())
        scores.extend([0.0] * missing)
