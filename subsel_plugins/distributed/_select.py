"""``QueryStrategy.select_with_scores`` for distributed inputs: which strategies run, and how."""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_budget, check_labeled
from ..errors import InvalidTypeError, InvalidValueError, SubselError
from ._client import Traffic
from ._passes import gather_rows, norm_select, raise_if_bad, scan
from ._sources import as_source

SUPPORTED = "random, feature_norm, gram_schmidt and <random|feature_norm|gram_schmidt>_then_<any>"


def _runners():
    from ..strategies._feature_norm import FeatureNormQuery
    from ..strategies._gram_schmidt import GramSchmidtQuery
    from ..strategies._random import RandomQuery
    from ..strategies._then import ThenQuery

    return (
        (RandomQuery, _random),
        (FeatureNormQuery, _feature_norm),
        (GramSchmidtQuery, _gram_schmidt),
        (ThenQuery, _then),
    )


def runner_for(strategy, role: str = ""):
    """The distributed implementation of ``strategy``, or one clear error.

    A subclass runs distributed when it keeps its base's ``_select`` (so it
    picks by the same rule); one that overrides ``_select`` does not.
    """
    for cls, run in _runners():
        if isinstance(strategy, cls) and type(strategy)._select is cls._select:
            return run
    raise InvalidTypeError(
        f"{role}{type(strategy).__name__} does not run on distributed inputs (dask arrays, .npy shard "
        f"globs, zarr arrays); the distributed strategies are {SUPPORTED}. Select on one machine "
        "instead: pass a numpy array or a memory map (numpy.load(path, mmap_mode='r'))."
    )


def select_with_scores(strategy, X, budget, labeled=None, progress=None):
    """Distributed :meth:`QueryStrategy.select_with_scores` (global row indices in and out).

    Runs on the active ``distributed.Client`` if there is one (see
    :func:`subsel_plugins.distributed.connect`), else on dask's local
    scheduler. Validation keeps the single-machine promises, chunk by chunk:
    NaN or infinity is an error naming the first bad row, features of
    extreme magnitude are rescaled by an exact power of two (scores scaled
    back), ``budget`` and ``labeled`` are checked against the global row count.
    """
    strategy._check_params()
    run = runner_for(strategy)
    if getattr(strategy, "features", None) is not None:
        raise InvalidValueError(
            f"{type(strategy).__name__}(features=...) is not applied to distributed inputs; compute the "
            "features first (e.g. X.map_blocks(model) on a dask array) and pass them with features=None."
        )
    source = as_source(X)
    lab = check_labeled(labeled, source.n)
    budget = check_budget(budget, source.n - lab.size)
    try:
        idx, scores = run(strategy, source, budget, lab, strategy._next_rng(), progress)
    except _cluster_failures() as exc:
        raise ClusterError(
            f"the Dask cluster failed during the selection ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}); no result was returned. Lost workers are "
            "replaced and their chunks re-read from the source, but this failure did not recover: "
            "check the workers (memory limits, restarts) and run again."
        ) from exc
    idx = np.asarray(idx, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    strategy._check_result(idx, scores, budget, lab, source.n)
    return idx, scores


class ClusterError(SubselError, RuntimeError):
    """The cluster failed (workers killed repeatedly, connection lost): one clear error, no partial result."""


def _cluster_failures() -> tuple:
    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    return (KilledWorker, CommClosedError)


def _nth_unlabeled(pos, labeled):
    """Global row of the ``pos``-th unlabeled row (0-based), for sorted distinct ``labeled``."""
    ls = np.sort(labeled)
    return pos + np.searchsorted(ls - np.arange(ls.size), pos, side="right")


def _random(strategy, source, budget, lab, rng, progress=None):
    # the same draw as RandomQuery on one machine: positions among the unlabeled rows
    raise_if_bad(scan(source))
    n_avail = source.n - lab.size
    pos = rng.choice(n_avail, size=budget, replace=False)
    return _nth_unlabeled(np.asarray(pos, dtype=np.int64), lab), np.full(budget, 1.0 / n_avail)


def _feature_norm(strategy, source, budget, lab, rng, progress=None):
    traffic = Traffic()
    idx, norms, e = norm_select(
        source,
        budget,
        lab,
        strategy.norm,
        strategy.randomized,
        rng,
        traffic,
        what=f"{strategy.norm} feature norm",
    )
    # one pass (two for features of extreme magnitude, rescaled and scanned again)
    strategy.stats_ = {"passes": 2 if e else 1, "chunks": source.n_chunks, "traffic": traffic.as_dict()}
    return idx, norms


def _gram_schmidt(strategy, source, budget, lab, rng, progress=None):
    from ._gram_schmidt import gram_schmidt_select

    if not strategy.randomized:
        raise InvalidValueError(
            "GramSchmidtQuery(randomized=False) does not run on distributed inputs (its exact argmax would "
            "need a pass per pick); use randomized=True, or select on one machine."
        )
    if strategy.method not in ("auto", "fast"):
        raise InvalidValueError(
            f"GramSchmidtQuery(method={strategy.method!r}) does not run on distributed inputs; the "
            "distributed sampler is the fast path's (method='auto' or 'fast')."
        )
    idx, scores, stats, e = gram_schmidt_select(
        source, budget, lab, strategy.norm, rng, progress, exhausted=strategy.exhausted
    )
    strategy.stats_ = stats
    strategy.restarts_ = stats["restarts"]
    return idx, np.ldexp(scores, e)


def _then(strategy, source, budget, lab, rng, progress=None):
    # ThenQuery._select, with the first stage distributed and the second on the
    # client over the candidate and labeled rows (O((factor budget + labeled) d))
    runner_for(strategy.first, role="ThenQuery's first stage ")
    first, then = strategy._component("first", rng), strategy._component("then", rng)
    n_avail = source.n - lab.size
    n_cand = min(math.ceil(min(strategy.factor * budget, n_avail)), n_avail)
    cand, _ = select_with_scores(first, source, n_cand, lab if lab.size else None, progress)
    sub = np.concatenate([cand, lab])
    rows = gather_rows(source, sub)
    sub_labeled = np.arange(cand.size, sub.size) if lab.size else None
    if hasattr(then, "select_with_scores"):
        pick, scores = then.select_with_scores(rows, budget, sub_labeled)
    else:
        pick, scores = then.select(rows, budget, sub_labeled), np.zeros(budget)
    return sub[np.asarray(pick, dtype=np.int64)], scores
