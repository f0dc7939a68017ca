"""Weighted sampling without replacement (successive sampling)."""

from __future__ import annotations

import warnings

import numpy as np


def successive_sample(weights: np.ndarray, k: int, rng: np.random.Generator, *, what: str = "weights"):
    """Draw ``k`` distinct indices, each draw proportional to ``weights`` among the rest.

    Uses exponential races (Efraimidis & Spirakis 2006): index ``i`` arrives at
    time ``E_i / w_i`` with ``E_i ~ Exp(1)``; the first ``k`` arrivals, in
    arrival order, have exactly the distribution of ``k`` successive
    proportional draws without replacement. O(n) time, one pass, no Python loop.

    Zero-weight indices can only be drawn once every positive weight is used;
    they are then taken uniformly at random, with a warning.

    Parameters
    ----------
    weights : ndarray of shape (n,), non-negative
    k : int, ``k <= n``

    Returns
    -------
    ndarray of shape (k,), int64, in draw order
    """
    w = np.asarray(weights, dtype=np.float64)
    n_pos = int(np.count_nonzero(w > 0))
    with np.errstate(divide="ignore"):
        t = rng.standard_exponential(w.shape[0]) / w
    if k < w.shape[0]:
        part = np.argpartition(t, k - 1)[:k]
    else:
        part = np.arange(w.shape[0])
    order = part[np.argsort(t[part], kind="stable")]
    if k > n_pos:
        warnings.warn(
            f"only {n_pos} rows have positive {what}; the other {k - n_pos} picks were "
            "drawn uniformly among zero-weight rows.",
            RuntimeWarning,
            stacklevel=3,
        )
        zero = np.flatnonzero(~(w > 0))
        order = np.concatenate([order[:n_pos], rng.permutation(zero)[: k - n_pos]])
    return order.astype(np.int64)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, largest first, ties broken by index.

    Ties that straddle the k-th place go to the lowest indices too: every score
    above the k-th largest value is taken, then the lowest-indexed rows equal to
    it (argpartition alone would take arbitrary members of such a tie).
    """
    s = np.asarray(scores)
    if k < s.shape[0]:
        kth = s[np.argpartition(-s, k - 1)[k - 1]]
        above = np.flatnonzero(s > kth)
        tied = np.flatnonzero(s == kth)[: k - above.size]
        part = np.concatenate([above, tied])
    else:
        part = np.arange(s.shape[0])
    return part[np.lexsort((part, -s[part]))].astype(np.int64)
