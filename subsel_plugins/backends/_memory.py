"""The in-memory backend: rows of an array or memory map, dense kernels in numpy or torch."""

from __future__ import annotations

import numpy as np

from .._progress import blocks
from ..errors import MissingDependencyError
from ..kernels import (
    bound_slack,
    fold_min_sq_distances,
    norm_sample_among,
    project_out,
    residual_bounds,
    sq_norm_rel_error,
    sq_row_norms64,
    weight_bound_factor,
)
from ._pool import Batch, ClusterPool, DistancePool, RowPool, residual_weights

# Rows read from X at a time in a full pass: a float64 copy of one block is the
# largest temporary (8192 x 384 x 8 B = 25 MB).
BLOCK_ROWS = 8192

# Cost model (units of about one float64 multiply-add inside BLAS; see the
# sampler in subsel_plugins.strategies). Per candidate row of a trial, beyond
# the 2 d k multiply-adds of its residual and the 16 d of its copy and norms:
# the fancy-indexed gather of the row from X (a page fault on a cold memory
# map), searchsorted and the liveness bookkeeping. Microseconds per row.
TRIAL_OVERHEAD = 2_000
# Per batch of candidates: the dozen or so numpy calls a batch makes, each with
# a fixed dispatch cost of microseconds whatever its size. Ten rows' overhead,
# so a batch is worth more than a few candidates.
BATCH_OVERHEAD = 20_000
# Per element of X in a full pass: its float64 copy, its square in the norm,
# and reading it from memory or disk (memory-bound, unlike the product with
# the new basis vectors, priced apart at 2 per element and vector).
PASS_PER_ELEMENT = 8
# Per row of a full pass: its bound, weight, cumulative sum and suspect test,
# a few dozen element-wise operations on N-long arrays.
PASS_PER_ROW = 50


class NumpyKernels:
    """The dense kernels of a pass, in float64 numpy (BLAS)."""

    name = "numpy"

    def basis(self, Q: np.ndarray):
        """``Q`` in the form :meth:`block_products` takes (sent to the device once per pass)."""
        return Q

    def block_products(self, block: np.ndarray, Q):
        """Squared norms of ``block`` (b, d) rows and of their coefficients on ``Q`` (m, d), float64."""
        B = np.asarray(block, dtype=np.float64)
        C = B @ Q.T
        return np.einsum("ij,ij->i", B, B), np.einsum("ij,ij->i", C, C)

    def residuals(self, rows: np.ndarray, Q: np.ndarray, passes: int = 1) -> np.ndarray:
        """:func:`~subsel_plugins.kernels.project_out`: ``rows`` minus their projection on span(Q)."""
        return project_out(rows, Q, passes)


class TorchKernels(NumpyKernels):
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

    def _tensor(self, a):
        return self.torch.as_tensor(np.asarray(a, dtype=np.float64), device=self.device)

    def basis(self, Q):
        # once per pass, not once per block: no cache keyed by the array's address
        # (a later basis can reuse the memory and the shape of an earlier one)
        return self._tensor(Q)

    def block_products(self, block, Q):
        B = self._tensor(block)
        C = B @ Q.T
        return (B * B).sum(1).cpu().numpy(), (C * C).sum(1).cpu().numpy()

    def residuals(self, rows, Q, passes=1):
        R = self._tensor(rows)
        if Q.shape[0]:
            Qt = self._tensor(Q)
            for _ in range(passes):
                R = R - (R @ Qt.T) @ Qt
        return R.cpu().numpy()


class Centered:
    """Rows of ``X`` minus the mean row, in float64, made as they are read (X is never copied).

    Supports what the selection paths read: ``shape``, ``dtype``, and row
    indexing by slice, integer array or list. Each read is a float64 copy, so
    full passes read it ``block_rows`` rows at a time.
    """

    block_rows = BLOCK_ROWS

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


class ArrayPool(RowPool):
    """:class:`RowPool` over an in-memory array (or memory map, or :class:`Centered` view).

    X is read, never copied. Per row: ``sqn`` ``||F_j||^2``; ``res2`` the
    squared residual at the last refresh, which bounds every later one
    (residuals only shrink); ``free`` (unlabeled and unchosen) and ``live``
    (free and not yet found in the span). The proposal (cumulative bounds of
    the live rows) is rebuilt lazily after a refresh or restart.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64 (or a :class:`Centered` view)
    norm : {"l2", "l1", "linf"}
    labeled : ndarray of int64
    kernels : NumpyKernels or TorchKernels
    """

    row_overhead = TRIAL_OVERHEAD
    batch_overhead = BATCH_OVERHEAD

    def __init__(self, X, norm, labeled, kernels):
        self.X, self.norm, self.kernels = X, norm, kernels
        n, d = X.shape
        self.n, self.d, self.dtype = n, d, X.dtype
        # rows per full-pass block: small pools need no 25 MB temporaries
        self.block = int(np.clip(n // 16, 1024, BLOCK_ROWS))
        self.nf = weight_bound_factor(norm, d)
        self.sqn, self.sqn_rel = self._initial_sq_norms()
        self.res2 = self.sqn.copy()
        self.rel = bound_slack(self.sqn_rel, d, 0)
        self.free = np.ones(n, dtype=bool)
        self.free[labeled] = False
        self.live = self.free & (self.sqn > 0)  # zero rows have no residual to draw
        self.stats = {"trials": 0, "refreshes": 0, "exact_rows": 0, "bound_violations": 0}
        self._cum = None

    def _initial_sq_norms(self):
        """||F_j||^2 and a bound on its relative rounding error.

        float32 rows are summed in float32 (no float64 copy of X: twice as fast
        on one pass over a memory map); the first refresh recomputes them in
        float64, and until then the bounds carry the float32 error.
        """
        X = self.X
        sqn = np.empty(self.n)
        step = getattr(X, "block_rows", 8 * BLOCK_ROWS)  # views of an array; copies of Centered
        for s in range(0, self.n, step):
            blk = X[s : s + step]
            sqn[s : s + len(blk)] = np.einsum("ij,ij->i", blk, blk)
        return sqn, sq_norm_rel_error(X.dtype, self.d)

    # -- the protocol ----------------------------------------------------------------
    def rows(self, idx):
        return self.X[idx]

    def bounds(self, idx=None):
        """Upper bounds on the weight of rows ``idx`` (all rows: None)."""
        r2 = self.res2 if idx is None else self.res2[idx]
        sq = self.sqn if idx is None else self.sqn[idx]
        return residual_bounds(r2, sq, self.rel, self.nf)

    def _proposal(self):
        if self._cum is None:
            w = np.where(self.live, self.bounds(), 0.0)
            self._cum = np.cumsum(w)
        return self._cum

    def total(self):
        cum = self._proposal()
        return float(cum[-1]) if self.n else 0.0

    def propose(self, m, rng):
        cum = self._proposal()
        cand = np.minimum(np.searchsorted(cum, rng.random(m) * self.total(), side="right"), self.n - 1)
        return Batch(rows=cand, bound=self.bounds(cand))

    def residuals(self, batch, Q):
        self.stats["exact_rows"] += len(batch.rows)
        return self.kernels.residuals(self.X[batch.rows], Q)

    def weights(self, batch, R, start=0):
        return self.exact_weights(batch.rows[start:], R)

    def exact_weights(self, rows, R):
        """Weights of ``rows`` with residuals ``R``; rows found in the span become not live."""
        w, dead = residual_weights(R, self.norm, self.sqn[rows], self.live[rows])
        self.live[rows[dead]] = False
        return w

    def take(self, i):
        self.free[i] = False
        self.live[i] = False

    def pass_cost(self, n_new):
        d = self.d
        return self.n * (2.0 * d * n_new + PASS_PER_ELEMENT * d + PASS_PER_ROW)

    def refresh(self, Qnew, Q, rel, check_suspects, first):
        Qk = self.kernels.basis(Qnew)
        for s in blocks(self.n, self.block, "Gram-Schmidt refresh"):
            sq, c2 = self.kernels.block_products(self.X[s : s + self.block], Qk)
            if first:  # float64 norms replace the initial float32 ones
                self.sqn[s : s + len(sq)] = sq
                self.res2[s : s + len(sq)] = sq - c2
            else:
                self.res2[s : s + len(sq)] -= c2
        self.rel = rel
        self._cum = None
        if check_suspects:
            # Rows whose bound is mostly rounding slack may lie in the span;
            # only their explicit residual can tell (and certify exhaustion).
            suspect = np.flatnonzero(self.live & (self.res2 <= 4.0 * self.rel * self.sqn))
            for s in range(0, suspect.size, self.block):
                rows = suspect[s : s + self.block]
                self.stats["exact_rows"] += len(rows)
                self.exact_weights(rows, self.kernels.residuals(self.X[rows], Q))  # marks the dead

    def restart(self, chosen, rel):
        self.res2 = self.sqn.copy()  # exact: the residual against an empty basis is the row
        self.rel = rel
        self.live = self.free & (self.sqn > 0)
        self._cum = None
        return bool(self.live.any())

    def norm_fill(self, k, chosen, rng):
        return norm_sample_among(self.X, self.norm, self.free, k, rng)


class ArrayDistancePool(DistancePool):
    """:class:`DistancePool` over an in-memory array or memory map (read, never copied).

    ``mind`` is one float64 per row, and so is ``sq``, the rows' squared
    norms, taken in the first fold: with them a one-center fold screens the
    rows by a matrix-vector product and computes directly only those that
    may get nearer (:func:`~subsel_plugins.kernels.fold_min_sq_distances`).
    A fold reads X in blocks of :data:`BLOCK_ROWS` rows.
    """

    e = 0

    def __init__(self, X):
        self.X = X
        self.n, self.d = X.shape
        self.mind = np.full(self.n, np.inf)
        self.sq = None  # the rows' squared norms (float64), from the first fold on
        self.stats = {"passes": 0}

    def rows(self, idx):
        return np.asarray(self.X[np.asarray(idx, dtype=np.int64)])

    def fold(self, centers, taken):
        self.mind[np.asarray(taken, dtype=np.int64)] = -np.inf
        first = self.sq is None
        if first:  # the first fold reads every row: their squared norms come with it
            self.sq = np.empty(self.n)
        for s in range(0, self.n, BLOCK_ROWS):
            block = self.X[s : s + BLOCK_ROWS]
            if first:
                block = np.asarray(block)
                self.sq[s : s + len(block)] = sq_row_norms64(block)
            sq = None if first else self.sq[s : s + BLOCK_ROWS]
            fold_min_sq_distances(self.mind[s : s + BLOCK_ROWS], block, centers, sq)
        self.stats["passes"] += 1
        i = int(np.argmax(self.mind))
        return (i, float(self.mind[i])) if self.mind[i] > -np.inf else (-1, -np.inf)


class ArrayClusterPool(ClusterPool):
    """:class:`ClusterPool` over in-memory features ``F`` clustered by ``cluster_fn(F, k, seed)``.

    Labels are one int64 per row; :meth:`members` is one scan of them.
    """

    def __init__(self, F, cluster_fn):
        self.F, self.cluster_fn = F, cluster_fn
        self.n = F.shape[0]

    def fit(self, n_clusters, seed):
        self.labels = np.asarray(self.cluster_fn(self.F, n_clusters, seed), dtype=np.int64)
        self.free = self.labels.copy()  # -1: out of the race
        return np.bincount(self.labels, minlength=n_clusters)

    def labels_of(self, rows):
        return self.labels[np.asarray(rows, dtype=np.int64)]

    def take(self, rows):
        self.free[np.asarray(rows, dtype=np.int64)] = -1

    def members(self, cluster):
        return np.flatnonzero(self.free == cluster)
