"""Gram-Schmidt subset selection (the paper's Alg. 1): the plain path and its exact fast path.

``GramSchmidtQuery`` is the strategy; its ``_select_plain`` is Alg. 1 line by
line on a dense residual matrix. The fast path draws from the same law
without copying X: ``_ResidualBounds`` holds an orthonormal basis of the
chosen rows, an upper bound on every row's residual norm and the exact
weights of the rows it is asked about; ``_RejectionSampler`` (randomized)
and ``_LazyArgmax`` (deterministic) pick over it; ``_NumpyOps`` and
``_TorchOps`` are its dense kernels.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._progress import blocks
from .._validation import check_bool, check_choice, check_norm, row_norms
from ..errors import InvalidValueError, MissingDependencyError
from ._base import QueryStrategy
from ._sampling import successive_sample

# A residual below this fraction of its row's original l2 norm is rounding
# noise: the row lies in the span of the chosen examples.
_RESIDUAL_RTOL = 1e-9

_EPS64 = float(np.finfo(np.float64).eps)
_EPS32 = float(np.finfo(np.float32).eps)

# Rows read from X at a time in the fast path's full passes: a float64 copy of
# one block is the largest temporary (8192 x 384 x 8 B = 25 MB).
_BLOCK_ROWS = 8192

# -- cost model of the fast path ----------------------------------------------
# The fast path decides when a full refresh of the bounds (one pass over X)
# pays for itself against more rejected trials. It prices both in one unit,
# about one float64 multiply-add inside BLAS, from counts alone (never wall
# time), so a seed gives the same picks on every machine. These constants only
# move refreshes earlier or later: that changes the speed and which random
# numbers land where (a given seed's picks), never the law, which the
# rejection test alone guarantees. They are orders of magnitude, not fits:
# only ratios matter, and a factor of two either way costs little.
#
# Per candidate row of a trial, beyond the 2 d k multiply-adds of its
# residual and the 16 d of its copy and norms: the fancy-indexed gather of
# the row from X (a page fault on a cold memory map), searchsorted and the
# liveness bookkeeping. Microseconds per row: thousands of units.
_TRIAL_OVERHEAD = 2_000
# Per batch of candidates: the dozen or so numpy calls a batch makes, each
# with a fixed dispatch cost of microseconds whatever its size. Ten rows'
# overhead, so a batch is worth more than a few candidates.
_BATCH_OVERHEAD = 20_000
# Per row evaluated by the deterministic argmax, on top of its trial cost:
# the evaluated-row arrays it joins are filtered and concatenated again at
# every step of the search. So large that a search re-evaluating many stale
# rows refreshes the bounds and re-sorts instead.
_EVAL_OVERHEAD = 100_000
# Per element of X in a full pass: its float64 copy, its square in the norm,
# and reading it from memory or disk (memory-bound, unlike the product with
# the new basis vectors, priced apart at 2 per element and vector).
_PASS_PER_ELEMENT = 8
# Per row of a full pass: its bound, weight, cumulative sum and suspect test,
# a few dozen element-wise operations on N-long arrays.
_PASS_PER_ROW = 50
# Candidates proposed at a time: the trials expected to finish the budget at
# the current acceptance rate, clipped. Under 8 the per-batch overhead
# dominates; over 512 a pick early in the batch makes too many later
# candidates be projected again (O(m d) per pick), and the batch's (m, d)
# float64 residuals stay within 4 MB at d = 1024.
_MIN_BATCH, _MAX_BATCH = 8, 512
# Refreshes in a row without a pick before the sampler gives up: right after a
# refresh the bounds are tight and nearly every trial accepts, so even two in a
# row are rare; many mean a broken invariant, which must fail, not hang.
_MAX_IDLE_REFRESHES = 50


class SamplerInvariantError(RuntimeError):
    """The fast sampler found its own invariant broken (a bug, never a user error)."""


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


class _NumpyOps:
    """The dense kernels of the fast path, in float64 numpy (BLAS)."""

    name = "numpy"

    def block_products(self, block: np.ndarray, Q: np.ndarray):
        """Squared norms of ``block`` rows and squared norms of their coefficients on ``Q``.

        Parameters
        ----------
        block : ndarray of shape (b, d), float32 or float64
        Q : ndarray of shape (m, d), float64, orthonormal rows

        Returns
        -------
        sq, c2 : ndarrays of shape (b,), float64
        """
        B = np.asarray(block, dtype=np.float64)
        C = B @ Q.T
        return np.einsum("ij,ij->i", B, B), np.einsum("ij,ij->i", C, C)

    def residuals(self, rows: np.ndarray, Q: np.ndarray, passes: int = 1) -> np.ndarray:
        """``rows`` minus their projection on span(Q), float64 (b, d).

        One pass leaves an error of about ``k eps ||row||`` (1e-13 relative):
        plenty for a weight, far below the 1e-9 dead-row threshold. A residual
        that becomes a basis vector gets a second pass (twice is enough,
        Giraud et al. 2005).
        """
        R = np.array(rows, dtype=np.float64)
        if Q.shape[0]:
            for _ in range(passes):
                R -= (R @ Q.T) @ Q
        return R


class _TorchOps(_NumpyOps):
    """The same kernels in torch float64, on CUDA when available (else CPU)."""

    name = "torch"

    def __init__(self):
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is an optional extra
            raise MissingDependencyError(
                "method='torch' needs PyTorch: pip install 'subsel-plugins[torch]', or use method='fast'."
            ) from None
        self.torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._q, self._q_key = None, None

    def _tensor(self, a):
        return self.torch.as_tensor(np.asarray(a, dtype=np.float64), device=self.device)

    def _basis(self, Q):
        # the basis is reused across many blocks: send it to the device once
        key = (Q.__array_interface__["data"][0], Q.shape)
        if self._q_key != key:
            self._q, self._q_key = self._tensor(Q), key
        return self._q

    def block_products(self, block, Q):
        B = self._tensor(block)
        C = B @ self._basis(Q).T
        return (B * B).sum(1).cpu().numpy(), (C * C).sum(1).cpu().numpy()

    def residuals(self, rows, Q, passes=1):
        R = self._tensor(rows)
        if Q.shape[0]:
            Qt = self._tensor(Q)
            for _ in range(passes):
                R = R - (R @ Qt.T) @ Qt
        return R.cpu().numpy()


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
    method : {"auto", "fast", "plain", "torch"}, default="auto"
        ``"plain"`` is Alg. 1 line by line on an N x d float64 residual matrix:
        O(N d) memory and O(N d) work per pick. ``"fast"`` draws from exactly
        the same distribution by rejection sampling against upper bounds of the
        residual norms (see Notes): it never copies X (a read-only memory map
        is fine) and needs O(N + budget d) extra memory. ``"torch"`` is the
        fast path with its dense kernels in torch (on CUDA when available).
        ``"auto"`` is ``"fast"``.
    exhausted : {"restart", "norm"}, default="restart"
        What happens when every remaining residual vanishes (budget above the
        rank of the features, duplicate or zero rows). ``"restart"`` runs Alg. 1
        again on the unchosen, unlabeled rows with an empty basis: the next
        round forgets the span of the earlier picks (and of ``labeled``), which
        together cover every row, so each round picks another set of large and
        diverse directions. ``"norm"`` draws the rest of the budget by
        feature-norm sampling among the unchosen rows, with a
        ``RuntimeWarning`` (the only behaviour before ``exhausted`` existed).
        The default is ``"restart"``: past the rank it was ahead of ``"norm"``
        in every pool measured (README, "Gram-Schmidt past the rank of the
        features"). Budgets within the rank pick the same either way. See
        Notes.
    center : bool, default=False
        Subtract the mean row of ``X`` (all rows, labeled included) before
        selecting: norms and residuals are then measured from the pool's
        centre instead of the origin. Raw pixels and ReLU features all point
        into one orthant, where the first pick is nearly the pool's mean
        direction; centering removes that shared direction. ``X`` is still
        never copied (rows are centred as they are read).
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional

    Attributes
    ----------
    stats_ : dict
        Set by the fast paths: ``trials`` (candidates proposed), ``refreshes``
        (full passes over X), ``exact_rows`` (residuals computed row by row)
        and ``bound_violations`` (always 0: a residual found above its bound
        would bias the law, so it raises ``SamplerInvariantError`` instead).
    restarts_ : int
        How many times the last selection started Alg. 1 over
        (``exhausted="restart"``; 0 when the budget fit in the rank).

    Notes
    -----
    Rows in ``labeled`` have their span projected out before the first pick.

    Past the rank. Alg. 1 has at most rank(X) real picks; budgets above it are
    common (CIFAR-100 at 600 labels on 512-d features). With
    ``exhausted="restart"`` the selection is a sequence of rounds: round 1 is
    Alg. 1 from the labeled span; once every residual of the unchosen rows
    vanishes, round 2 is Alg. 1 from an empty basis over the unchosen,
    unlabeled rows (its first pick is drawn in proportion to the feature
    norm), and so on until the budget is spent. A labeled row is treated like a
    pick of round 1: its span shapes only that round. Rows that are zero have
    nothing to offer in any round; when only such rows are left, they are
    drawn uniformly with a ``RuntimeWarning``. With ``exhausted="norm"`` the
    rest of the budget after round 1 is drawn by feature-norm sampling of the
    original features among the unchosen rows, with a ``RuntimeWarning``.
    Both modes draw from the same law in the plain and fast paths.

    The fast path rests on two facts. With ``Q`` an orthonormal basis of the
    chosen (and labeled) rows, the residual of row j is ``r_j = F_j - Q^T Q
    F_j`` and ``||r_j||^2 = ||F_j||^2 - ||Q F_j||^2`` only shrinks as picks are
    made. So any earlier value bounds it, and a pick is drawn exactly by
    rejection: propose j with probability proportional to its bound ``b_j``,
    accept with probability ``||r_j|| / b_j`` (``r_j`` computed for that row
    alone, O(d k)), else propose again. Each trial accepts row j with
    probability ``||r_j|| / sum(b)``, so an accepted row is distributed as
    ``||r_j|| / sum(||r||)``: Alg. 1's law. When rejections have cost as much
    as a refresh, the bounds of all rows are refreshed by one blocked matrix
    product with the basis vectors added since the last refresh. This is the
    accelerated randomly pivoted Cholesky of Chen, Epperly, Tropp and Webber
    (2022) and Epperly, Tropp and Webber (2024), sampling proportional to the
    norm rather than its square. For ``norm="l1"`` the bound is
    ``sqrt(d) b_j`` (``||r||_1 <= sqrt(d) ||r||_2``); for ``"linf"`` it is
    ``b_j``; the l1 and linf norms are taken of the explicit residual row.
    ``randomized=False`` takes the exact maximum by evaluating rows in
    decreasing order of their bounds until no unevaluated bound can beat the
    best residual found.

    References
    ----------
    Y. Chen, E. N. Epperly, J. A. Tropp, R. J. Webber. Randomly pivoted
    Cholesky: practical approximation of a kernel matrix with few entry
    evaluations. arXiv:2207.06503, 2022.
    E. N. Epperly, J. A. Tropp, R. J. Webber. Embrace rejection: kernel matrix
    approximation by accelerated randomly pivoted Cholesky. arXiv:2410.03969, 2024.
    """

    description = "Randomized Gram-Schmidt on residual norms (paper Alg. 1)."
    scale_invariant = True
    score_degree = 1

    def __init__(
        self,
        norm="l2",
        randomized=True,
        method="auto",
        exhausted="restart",
        center=False,
        random_state=None,
        features=None,
    ):
        self.norm = norm
        self.randomized = randomized
        self.method = method
        self.exhausted = exhausted
        self.center = center
        self.random_state = random_state
        self.features = features

    _METHODS = ("auto", "fast", "plain", "torch")
    _EXHAUSTED = ("norm", "restart")

    def _check_params(self):
        check_norm(self.norm)
        check_bool(self.randomized, "randomized")
        check_choice(self.method, "method", self._METHODS)
        check_choice(self.exhausted, "exhausted", self._EXHAUSTED)
        check_bool(self.center, "center")

    def select_with_scores(self, X, budget, labeled=None):
        from ..distributed import is_distributed_input

        if self.center is True and is_distributed_input(X):
            # the distributed sampler reads rows as they are stored
            raise InvalidValueError(
                "GramSchmidtQuery(center=True) does not run on distributed inputs yet; center the "
                "features first (e.g. X - X.mean(axis=0) on a dask array) and pass center=False, or "
                "select on one machine."
            )
        return super().select_with_scores(X, budget, labeled)

    def _select(self, X, budget, labeled, rng):
        if self.center:
            X = _Centered(X)
        self.restarts_ = 0
        if self.method == "plain":
            return self._select_plain(X, budget, labeled, rng)
        ops = _TorchOps() if self.method == "torch" else _NumpyOps()
        bounds = _ResidualBounds(X, self.norm, labeled, budget, ops)
        chosen, scores = [], []
        while True:  # one round of Alg. 1 per pass (exhausted="restart")
            sampler = _RejectionSampler(bounds, rng) if self.randomized else _LazyArgmax(bounds)
            picked, picked_scores = sampler.run(budget - len(chosen))
            chosen += picked
            scores += picked_scores
            if len(chosen) == budget or self.exhausted == "norm":
                break
            if (self.restarts_ and not picked) or not bounds.restart():
                break  # only zero rows are left
            self.restarts_ += 1
        if len(chosen) < budget:
            self._fill_exhausted(X, budget, chosen, scores, bounds.free, rng)
        self.stats_ = bounds.stats
        return np.asarray(chosen, dtype=np.int64), np.asarray(scores)

    def _select_plain(self, X, budget, labeled, rng):
        n = X.shape[0]
        F = np.array(X[:], dtype=np.float64)
        floor = _RESIDUAL_RTOL * np.sqrt(np.einsum("ij,ij->i", F, F))
        eligible = np.ones(n, dtype=bool)
        eligible[labeled] = False
        chosen, scores = [], []
        Q = orthonormal_basis(F[labeled])  # basis of everything projected out so far
        while True:  # one round of Alg. 1 per pass (exhausted="restart")
            picked = self._plain_round(F, Q, floor, eligible, budget, chosen, scores, rng)
            if len(chosen) == budget or self.exhausted == "norm":
                break
            if (self.restarts_ and not picked) or not (eligible & (floor > 0)).any():
                break  # only zero rows are left
            Q = np.empty((0, F.shape[1]))
            self.restarts_ += 1
        if len(chosen) < budget:
            self._fill_exhausted(X, budget, chosen, scores, eligible, rng)
        return np.asarray(chosen, dtype=np.int64), np.asarray(scores)

    def _plain_round(self, F, Q, floor, eligible, budget, chosen, scores, rng):
        """Alg. 1 line by line from the basis ``Q`` until the budget or the residuals are spent.

        Appends to ``chosen``/``scores``, clears ``eligible`` of the picks;
        returns the number of picks.
        """
        n = F.shape[0]
        R = F.copy()  # the residuals F~ of Alg. 1
        for _ in range(2):  # twice is enough (Giraud et al. 2005)
            R -= (R @ Q.T) @ Q
        start = len(chosen)
        while len(chosen) < budget:
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
        return len(chosen) - start

    def _fill_exhausted(self, X, budget, chosen, scores, eligible, rng):
        """Fill the budget by norm sampling once the residual mass is spent."""
        missing = budget - len(chosen)
        if self.exhausted == "norm":
            message = (
                f"GramSchmidtQuery: the residuals vanished after {len(chosen)} picks (the "
                f"features span no more directions: duplicate, zero or low-rank rows); the "
                f"other {missing} picks were drawn by {self.norm} feature-norm sampling "
                "among the unchosen rows."
            )
        else:
            message = (
                f"GramSchmidtQuery: only zero rows were left after {len(chosen)} picks "
                f"({self.restarts_} restarts); the other {missing} picks were drawn "
                "uniformly among them."
            )
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        pos = np.flatnonzero(eligible)
        # norms of all rows, then indexed: X[pos] would copy nearly all of X
        norms = row_norms(X, self.norm, getattr(X, "block_rows", 65536))[pos]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pick = successive_sample(norms, missing, rng)
        chosen.extend(pos[pick].tolist())
        scores.extend([0.0] * missing)


class _Centered:
    """Rows of ``X`` minus the mean row, in float64, made as they are read (X is never copied).

    Supports what the selection paths read: ``shape``, ``dtype``, and row
    indexing by slice, integer array or list. Each read is a float64 copy, so
    full passes read it ``block_rows`` rows at a time.
    """

    block_rows = _BLOCK_ROWS

    def __init__(self, X):
        self.X = X
        self.shape = X.shape
        self.dtype = np.dtype(np.float64)
        total = np.zeros(X.shape[1])
        for s in range(0, X.shape[0], self.block_rows):
            total += np.asarray(X[s : s + self.block_rows], dtype=np.float64).sum(axis=0)
        self.mean = total / X.shape[0]

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        return np.asarray(self.X[key], dtype=np.float64) - self.mean


class _ResidualBounds:
    """Upper bounds on every row's residual norm, the basis they refer to, and exact weights.

    The state both fast samplers share. X is read, never copied. Attributes,
    all set here:

    - ``Q`` (min(d, n_labeled + budget), d), float64: orthonormal basis of the
      labeled span and the chosen rows, ``k`` rows in use, the first
      ``applied`` of them folded into ``res2``.
    - ``sqn`` (N,): ``||F_j||^2``, with relative rounding error ``sqn_rel``.
    - ``res2`` (N,): ``||F_j||^2 - ||Q_{:applied} F_j||^2``, the squared residual
      at the last refresh, which bounds every later one (residuals only shrink);
      ``rel``: the relative rounding slack added to every bound.
    - ``free`` (N,): unlabeled and unchosen; ``live``: free and not yet found
      in the span (residual <= 1e-9 ||F_j||, the plain path's rule).
    - ``spent``: cost of trials since the last refresh (cost-model units);
      ``stats``: counters, returned as ``GramSchmidtQuery.stats_``.
    """

    def __init__(self, X, norm, labeled, budget, ops):
        self.X, self.norm, self.ops = X, norm, ops
        n, d = X.shape
        self.n, self.d = n, d
        # rows per full-pass block: small pools need no 25 MB temporaries
        self.block = int(np.clip(n // 16, 1024, _BLOCK_ROWS))
        Q0 = orthonormal_basis(X[labeled])
        self.Q = np.empty((min(d, Q0.shape[0] + budget), d))
        self.Q[: Q0.shape[0]] = Q0
        self.k = Q0.shape[0]
        self.applied = 0
        self.sqn, self.sqn_rel = self._initial_sq_norms()
        self.res2 = self.sqn.copy()
        self.rel = self._slack()
        self.free = np.ones(n, dtype=bool)
        self.free[labeled] = False
        self.live = self.free & (self.sqn > 0)  # zero rows have no residual to draw
        # ||r||_1 <= sqrt(d) ||r||_2 and ||r||_inf <= ||r||_2 turn l2 bounds into weight bounds
        self.norm_factor = np.sqrt(d) if norm == "l1" else 1.0
        self.spent = 0.0
        self.stats = {"trials": 0, "refreshes": 0, "exact_rows": 0, "bound_violations": 0}

    def _initial_sq_norms(self):
        """||F_j||^2 and a bound on its relative rounding error.

        float32 rows are summed in float32 (no float64 copy of X: twice as fast
        on one pass over a memory map); the first refresh recomputes them in
        float64, and until then the bounds carry the float32 error.
        """
        X = self.X
        sqn = np.empty(self.n)
        step = getattr(X, "block_rows", 8 * _BLOCK_ROWS)  # views of an array; copies of _Centered
        for s in range(0, self.n, step):
            blk = X[s : s + step]
            sqn[s : s + len(blk)] = np.einsum("ij,ij->i", blk, blk)
        eps = _EPS32 if X.dtype == np.float32 else _EPS64
        return sqn, 2.0 * self.d * eps

    def _slack(self):
        # Relative error of res2 = sqn - ||Q F||^2 (float64 products, a generous
        # multiple of the worst-case analysis); added in quadrature so the bound
        # always exceeds the residual computed at a trial. It changes only at a
        # refresh: proposals and acceptance tests must use the same bounds.
        return self.sqn_rel + 64.0 * _EPS64 * (self.d + self.applied)

    def _bounds(self, idx=None):
        """Upper bounds on the weight (residual in self.norm) of rows ``idx`` (all: None)."""
        r2 = self.res2 if idx is None else self.res2[idx]
        sq = self.sqn if idx is None else self.sqn[idx]
        return self.norm_factor * np.sqrt(np.maximum(r2, 0.0) + self.rel * sq)

    def refresh_cost(self) -> float:
        """Cost of one refresh: a pass over X with the basis vectors added since the last one."""
        d = self.d
        return self.n * (2.0 * d * (self.k - self.applied) + _PASS_PER_ELEMENT * d + _PASS_PER_ROW)

    def trial_cost(self, m: int) -> float:
        """Cost of a batch of ``m`` trials: their residuals against the k basis vectors, and overheads."""
        return m * (2.0 * self.d * self.k + 16.0 * self.d + _TRIAL_OVERHEAD) + _BATCH_OVERHEAD

    def refresh(self, check_suspects: bool):
        """Fold the basis vectors added since the last refresh into every row's bound."""
        Qnew = self.Q[self.applied : self.k]  # all of the basis at the first refresh
        first = self.stats["refreshes"] == 0
        for s in blocks(self.n, self.block, "Gram-Schmidt refresh"):
            sq, c2 = self.ops.block_products(self.X[s : s + self.block], Qnew)
            if first:  # float64 norms replace the initial float32 ones
                self.sqn[s : s + len(sq)] = sq
                self.res2[s : s + len(sq)] = sq - c2
            else:
                self.res2[s : s + len(sq)] -= c2
        self.applied = self.k
        self.sqn_rel = 2.0 * self.d * _EPS64
        self.rel = self._slack()
        self.stats["refreshes"] += 1
        self.spent = 0.0
        if check_suspects:
            # Rows whose bound is mostly rounding slack may lie in the span;
            # only their explicit residual can tell (and certify exhaustion).
            suspect = np.flatnonzero(self.live & (self.res2 <= 4.0 * self.rel * self.sqn))
            for s in range(0, suspect.size, self.block):
                rows = suspect[s : s + self.block]
                self._weights(rows)  # marks the dead ones

    def _weights(self, rows, R=None):
        """Exact weights of ``rows`` now; rows found in the span become not live.

        Returns the residual rows (float64, (m, d)) and their weights (m,);
        rows that are not live weigh 0. ``R``: their residuals, if known.
        """
        if R is None:
            R = self.ops.residuals(self.X[rows], self.Q[: self.k])
            self.stats["exact_rows"] += len(rows)
        l2 = np.sqrt(np.einsum("ij,ij->i", R, R))
        dead = l2 <= _RESIDUAL_RTOL * np.sqrt(self.sqn[rows])
        self.live[rows[dead]] = False
        w = l2 if self.norm == "l2" else _residual_norms(R, self.norm)
        return R, np.where(self.live[rows], w, 0.0)

    def restart(self) -> bool:
        """Forget the basis: a new round of Alg. 1 on the free rows. False when none is non-zero."""
        self.k = self.applied = 0
        self.res2 = self.sqn.copy()  # exact: the residual against an empty basis is the row
        self.rel = self._slack()
        self.live = self.free & (self.sqn > 0)
        self.spent = 0.0
        return bool(self.live.any())

    def take(self, i, w, r, chosen, scores):
        """Pick row ``i`` (weight ``w``, residual ``r``): extend the basis; returns the new vector."""
        Q = self.Q[: self.k]
        q = r - Q.T @ (Q @ r)  # once more: rounding makes r drift out of the complement
        q /= np.linalg.norm(q)
        self.Q[self.k] = q
        self.k += 1
        chosen.append(int(i))
        scores.append(float(w))
        self.free[i] = False
        self.live[i] = False
        return q


# The name the safety tests patch (``_bounds``, ``_weights``) and earlier notes use.
_FastSampler = _ResidualBounds


class _RejectionSampler:
    """Randomized picks (Alg. 1's law) by rejection against the bounds of ``_ResidualBounds``.

    The proposal (``cum``, cumulative bounds of the live rows, summing to
    ``total``) is rebuilt only after a refresh: proposals and acceptance
    tests must use the same bounds. ``accepted_since``/``trials_since`` (since
    the proposal was built) size the next batch; ``behind`` says the last
    batch's acceptance predicts that a refresh pays off.
    """

    def __init__(self, bounds, rng):
        self.b, self.rng = bounds, rng
        self.cum = np.zeros(0)
        self.total = 0.0
        self.accepted_since = 0
        self.trials_since = 0
        self.behind = False

    def run(self, budget):
        """Up to ``budget`` picks, fewer when the residuals are spent; returns (chosen, scores)."""
        b = self.b
        chosen, scores = [], []
        self._propose()
        fresh = False  # bounds refreshed with nothing drawn since
        idle = 0  # refreshes since the last pick
        while len(chosen) < budget and b.k < b.d:
            if self.total <= 0.0 or (not fresh and (b.spent > b.refresh_cost() or self.behind)):
                if fresh:
                    break  # certified: no live row left
                idle += 1
                if idle > _MAX_IDLE_REFRESHES:
                    raise SamplerInvariantError(
                        f"{_MAX_IDLE_REFRESHES} refreshes of the bounds without a pick (bound mass "
                        f"{self.total:.3g}); the sampler is not progressing: please report this bug."
                    )
                b.refresh(check_suspects=True)
                self._propose()
                fresh = True
                continue
            fresh = False
            if self._batch(budget, chosen, scores):
                idle = 0
        return chosen, scores

    def _propose(self):
        w = np.where(self.b.live, self.b._bounds(), 0.0)
        self.cum = np.cumsum(w)
        self.total = float(self.cum[-1]) if self.b.n else 0.0
        if not np.isfinite(self.total):
            raise SamplerInvariantError(
                f"the residual bounds sum to {self.total}; the features' squared norms overflow "
                "(inputs are rescaled before this point, so this is a bug: please report it)."
            )
        self.accepted_since = 0
        self.trials_since = 0

    def _batch(self, budget, chosen, scores):
        """Propose a batch of candidates and test them in order; returns how many were picked."""
        b = self.b
        acc = (self.accepted_since + 1.0) / (self.trials_since + 1.0)
        m = int(np.clip(np.ceil((budget - len(chosen)) / acc), _MIN_BATCH, _MAX_BATCH))
        cand = np.minimum(np.searchsorted(self.cum, self.rng.random(m) * self.total, side="right"), b.n - 1)
        u = self.rng.random(m)
        bound = b._bounds(cand)
        R, w = b._weights(cand)
        n_acc = self._accept_in_order(cand, u, bound, R, w, budget, chosen, scores)
        b.stats["trials"] += m
        b.spent += b.trial_cost(m)
        self.behind = self._refresh_pays_off(min(budget - len(chosen), b.d - b.k), n_acc, m)
        return n_acc

    def _accept_in_order(self, cand, u, bound, R, w, budget, chosen, scores):
        """Accept trial t when ``u_t bound_t < w_t``; each sees the basis as it is at its turn."""
        b = self.b
        m = len(cand)
        t = n_acc = 0
        while t < m:
            ok = u[t:] * bound[t:] < w[t:]
            over = w[t:] > bound[t:]
            if over.any():
                j = int(cand[t + np.argmax(over)])
                raise SamplerInvariantError(
                    f"row {j}'s residual exceeds its bound; drawing on would bias Alg. 1's law "
                    "(a rounding bug: please report it)."
                )
            hit = np.flatnonzero(ok)
            if hit.size == 0:
                self.trials_since += m - t
                break
            a = t + int(hit[0])
            self.trials_since += a - t + 1
            self.accepted_since += 1
            n_acc += 1
            q = b.take(cand[a], w[a], R[a], chosen, scores)
            t = a + 1
            if len(chosen) == budget or b.k >= b.d:
                break
            # the later trials of the batch: project the new vector out of their residuals
            R[t:] -= np.outer(R[t:] @ q, q)
            _, w[t:] = b._weights(cand[t:], R[t:])
        return n_acc

    def _refresh_pays_off(self, remaining, n_acc, m):
        # Refresh early when the remaining picks, at this batch's acceptance
        # rate, would cost more than a refresh and twice their number of trials.
        rate = (n_acc + 1.0) / (m + 1.0)
        per = self.b.trial_cost(1) - _BATCH_OVERHEAD
        return remaining * per / rate > self.b.refresh_cost() + 2.0 * remaining * per


class _LazyArgmax:
    """Deterministic GS with pivoting over ``_ResidualBounds``: the exact largest weight, lazily.

    Live rows are visited in decreasing order of their bound (``order`` with
    bounds ``order_ub``, the next unvisited at ``pos``). A row's weight, once
    evaluated, bounds it ever after: ``e_idx``, ``e_val`` and ``e_k`` (the basis
    size then; the weight is exact while ``e_k == k``) hold the evaluated rows.
    The search stops when neither an unvisited bound nor a stale weight can
    beat the best exact one.
    """

    def __init__(self, bounds):
        self.b = bounds
        self.order = np.empty(0, dtype=np.int64)
        self.order_ub = np.empty(0)
        self.pos = 0
        self.e_idx = np.empty(0, dtype=np.int64)
        self.e_val = np.empty(0)
        self.e_k = np.empty(0, dtype=np.int64)
        self._reorder()

    def run(self, budget):
        """Up to ``budget`` picks, fewer when the residuals are spent; returns (chosen, scores)."""
        b = self.b
        chosen, scores = [], []
        while len(chosen) < budget and b.k < b.d:
            best = self._argmax()
            if best is None:
                break
            b.take(*best, chosen, scores)
            if b.spent > b.refresh_cost():
                b.refresh(check_suspects=False)
                self._reorder()
        return chosen, scores

    def _reorder(self):
        """Sort the live rows by their current bounds; forget the evaluated rows."""
        rows = np.flatnonzero(self.b.live)
        ub = self.b._bounds(rows)
        self.order = rows[np.argsort(-ub, kind="stable")]
        self.order_ub = self.b._bounds(self.order)
        self.pos = 0
        self.e_idx = np.empty(0, dtype=np.int64)
        self.e_val = np.empty(0)
        self.e_k = np.empty(0, dtype=np.int64)

    def _evaluate(self, rows):
        _, w = self.b._weights(rows)
        self.b.spent += self.b.trial_cost(len(rows)) + _EVAL_OVERHEAD * len(rows)
        keep = self.b.live[rows]
        return rows[keep], w[keep]

    def _prune(self):
        """Drop evaluated rows that died; skip unvisited ones that did."""
        keep = self.b.live[self.e_idx]
        self.e_idx, self.e_val, self.e_k = self.e_idx[keep], self.e_val[keep], self.e_k[keep]
        while self.pos < self.order.size and not self.b.live[self.order[self.pos]]:
            self.pos += 1

    def _argmax(self):
        """Exact (index, weight, residual) of the largest live weight; ties to the smaller index."""
        b = self.b
        batch = 32
        while True:
            self._prune()
            nb = self.order_ub[self.pos] if self.pos < self.order.size else -np.inf
            fresh = self.e_k == b.k
            best = self.e_val[fresh].max() if fresh.any() else -np.inf
            stale = ~fresh
            top_stale = self.e_val[stale].max() if stale.any() else -np.inf
            if b.spent > b.refresh_cost() and b.applied < b.k:
                # stale bounds make the search long: refresh them, then start over
                b.refresh(check_suspects=False)
                self._reorder()
                batch = 32
                continue
            if top_stale >= max(best, nb) and top_stale > -np.inf:
                redo = np.flatnonzero(stale & (self.e_val >= max(best, nb)))
                redo = redo[np.argsort(-self.e_val[redo], kind="stable")[:batch]]  # the largest first
                batch = min(2 * batch, 4096)
                rows, w = self._evaluate(self.e_idx[redo])
                keep = np.ones(self.e_idx.size, dtype=bool)
                keep[redo] = False
                self._append(rows, w, keep)
            elif nb >= best and nb > -np.inf:
                rows = self.order[self.pos : self.pos + batch]
                self.pos += rows.size
                batch = min(2 * batch, 4096)
                rows, w = self._evaluate(rows)
                self._append(rows, w, np.ones(self.e_idx.size, dtype=bool))
            elif best > -np.inf:
                top = np.flatnonzero(fresh & (self.e_val == best))
                j = top[np.argmin(self.e_idx[top])]
                i = int(self.e_idx[j])
                # its residual again (one row, O(d k)) rather than keep every evaluated one
                return i, float(self.e_val[j]), b.ops.residuals(b.X[[i]], b.Q[: b.k])[0]
            else:
                return None

    def _append(self, rows, w, keep):
        self.e_idx = np.concatenate([self.e_idx[keep], rows])
        self.e_val = np.concatenate([self.e_val[keep], w])
        self.e_k = np.concatenate([self.e_k[keep], np.full(rows.size, self.b.k)])
