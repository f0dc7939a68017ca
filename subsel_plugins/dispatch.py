"""Dispatch at the door: which backend an input gets, and which strategies run there.

``strategy.select(X, ...)`` asks the handlers registered with
:func:`subsel_plugins.strategies.register_input_handler` before it treats ``X``
as an array; this module registers the one for distributed inputs (a
``dask.array.Array``, a glob or list of ``.npy`` shards, a zarr array or a
``.zarr`` path, a :class:`~subsel_plugins.distributed.RowSource`). It runs
``random``, ``feature_norm``, ``gram_schmidt`` (randomized), ``kcenter_greedy``,
``typiclust`` and ``probcover`` (their approximate paths) and ``ThenQuery`` whose first stage is
one of them, each through the same algorithm as on one machine over a Dask
pool (:mod:`subsel_plugins.distributed`); any other
strategy is refused in one error before any work. Importing
:mod:`subsel_plugins` registers it.

The tasks run on the active ``distributed.Client`` (:func:`subsel_plugins.distributed.connect`),
or on dask's local scheduler when there is none.
"""

from __future__ import annotations

import contextvars

import numpy as np

from ._validation import check_budget, check_labeled, scale_scores_back
from .distributed import is_distributed_input
from .errors import ClusterError, InvalidTypeError, InvalidValueError
from .strategies import (
    FeatureNormQuery,
    GramSchmidtQuery,
    KCenterGreedyQuery,
    ProbCoverQuery,
    RandomQuery,
    ThenQuery,
    TypiClustQuery,
    register_input_handler,
)

__all__ = ["SUPPORTED", "ClusterError", "runner_for", "select_with_scores"]

SUPPORTED = (
    "random, feature_norm, gram_schmidt, gram_schmidt_centered, kcenter_greedy, typiclust and "
    "probcover (their approximate paths) and <one of them>_then_<any>"
)

# progress(event, pool) callbacks for the selection in flight (tests and reports)
_PROGRESS: contextvars.ContextVar = contextvars.ContextVar("subsel_progress", default=None)


def select_with_scores(strategy, X, budget, labeled=None, progress=None):
    """``strategy.select_with_scores(X, budget, labeled)`` with a ``progress(event, pool)`` callback.

    ``progress`` is called by the distributed Gram-Schmidt pool after its first
    pass (``"init"``), each refresh (``"refresh"``) and each batch of trials
    (``"batch"``), also inside a ``ThenQuery``'s first stage.
    """
    token = _PROGRESS.set(progress)
    try:
        return strategy.select_with_scores(X, budget, labeled)
    finally:
        _PROGRESS.reset(token)


def runner_for(strategy, role: str = ""):
    """The distributed implementation of ``strategy``, or one clear error.

    A subclass runs distributed when it keeps its base's ``_select`` (so it
    picks by the same rule); one that overrides ``_select`` does not.
    """
    for cls, run in _RUNNERS:
        if isinstance(strategy, cls) and type(strategy)._select is cls._select:
            if cls is ThenQuery:
                runner_for(strategy.first, role="ThenQuery's first stage ")
            if cls is GramSchmidtQuery:
                _check_gram_schmidt(strategy)
            if cls in (TypiClustQuery, ProbCoverQuery):
                _check_approximate(strategy)
            return run
    why = getattr(strategy, "not_distributed_because", None)
    raise InvalidTypeError(
        f"{role}{type(strategy).__name__} does not run on distributed inputs (dask arrays, .npy shard "
        f"globs, zarr arrays){': ' + why if why else ''}; the distributed strategies are {SUPPORTED}. "
        "Select on one machine instead: pass a numpy array or a memory map (numpy.load(path, mmap_mode='r'))."
    )


def _distributed_handler(strategy, X, budget, labeled, rng_of):
    """The handler registered with the strategies: None for inputs that are not distributed."""
    if not is_distributed_input(X):
        return None
    from .distributed import _require

    _require()
    from .distributed import as_source

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
        idx, scores = run(strategy, source, budget, lab, rng_of())
    except _cluster_failures() as exc:
        from distributed import KilledWorker

        reason = getattr(exc, "reason", None)  # a cancelled future's, e.g. 'scheduler-connection-lost'
        text = " ".join(str(exc).split())[:300]
        if isinstance(reason, str):  # its text starts with the future's key: not for a user
            text = f"cancelled for reason: {reason}"
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        if isinstance(exc, KilledWorker):
            raise ClusterError(
                f"the Dask cluster failed during the selection ({detail}); no result was returned. "
                "Lost workers are replaced and their chunks re-read from the source, but this failure "
                "did not recover: check the workers (memory limits, restarts) and run again."
            ) from exc
        raise ClusterError(
            f"the connection to the Dask scheduler was lost during the selection ({detail}); no result "
            "was returned. Check that the scheduler is still running (and reachable from here), "
            "then run again."
        ) from exc
    return idx, scores, budget, lab, source.n


def _cluster_failures() -> tuple:
    """What a selection's dask calls raise when the cluster, not the input, failed.

    ``KilledWorker`` (a task killed its workers too often); a closed
    connection (``CommClosedError``); and the cancellations of the futures in
    flight when the client loses the scheduler (distributed's
    ``FutureCancelledError`` and ``FuturesCancelledError``, both
    ``concurrent.futures.CancelledError``; ``asyncio.CancelledError`` from the
    client's event loop), and ``ClosedClientError`` for a call made after the
    client gave up reconnecting.
    """
    import asyncio
    import concurrent.futures

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    found = [KilledWorker, CommClosedError, concurrent.futures.CancelledError, asyncio.CancelledError]
    try:
        from distributed.client import ClosedClientError
    except ImportError:  # pragma: no cover - older distributed
        pass
    else:
        found.append(ClosedClientError)
    return tuple(found)


def _nth_unlabeled(pos, labeled):
    """Global row of the ``pos``-th unlabeled row (0-based), for sorted distinct ``labeled``."""
    ls = np.sort(labeled)
    return pos + np.searchsorted(ls - np.arange(ls.size), pos, side="right")


def _random(strategy, source, budget, lab, rng):
    from .distributed._passes import raise_if_bad, scan

    # the same draw as RandomQuery on one machine: positions among the unlabeled rows
    raise_if_bad(scan(source))
    n_avail = source.n - lab.size
    pos = rng.choice(n_avail, size=budget, replace=False)
    return _nth_unlabeled(np.asarray(pos, dtype=np.int64), lab), np.full(budget, 1.0 / n_avail)


def _feature_norm(strategy, source, budget, lab, rng):
    from .distributed._client import Traffic
    from .distributed._passes import norm_select

    traffic = Traffic()
    what = f"{strategy.norm} feature norm"
    idx, norms, e = norm_select(source, budget, lab, strategy.norm, strategy.randomized, rng, traffic, what)
    # one pass (two for features of extreme magnitude, rescaled and scanned again)
    strategy.stats_ = {"passes": 2 if e else 1, "chunks": source.n_chunks, "traffic": traffic.as_dict()}
    return idx, norms


def _gram_schmidt(strategy, source, budget, lab, rng):
    from .distributed import ChunkedPool
    from .strategies._gs_sampler import select_rounds

    pool = ChunkedPool(source, strategy.norm, lab, _PROGRESS.get(), center=strategy.center)
    chosen, scores, restarts = select_rounds(
        pool, budget, lab, rng, exhausted=strategy.exhausted, stacklevel=6
    )
    strategy.stats_ = pool.finish_stats(restarts)
    strategy.restarts_ = restarts
    return np.asarray(chosen, dtype=np.int64), scale_scores_back(np.asarray(scores, dtype=np.float64), pool.e)


def _check_gram_schmidt(strategy):
    """The Gram-Schmidt settings the distributed pool does not run, refused before any work."""
    if not strategy.randomized:
        raise InvalidValueError(
            "GramSchmidtQuery(randomized=False) does not run on distributed inputs: its exact argmax "
            "visits rows in decreasing order of their residual bounds, held in memory on one machine, "
            "and on Dask chunks that is a pass over every chunk per pick; use randomized=True (the "
            "paper's Alg. 1, which runs distributed), or select on one machine."
        )
    if strategy.method not in ("auto", "fast"):
        raise InvalidValueError(
            f"GramSchmidtQuery(method={strategy.method!r}) does not run on distributed inputs; the "
            "distributed sampler is the fast path's (method='auto' or 'fast')."
        )


def _kcenter(strategy, source, budget, lab, rng):
    from .distributed import ChunkedDistancePool
    from .strategies._kcenter import farthest_first

    pool = ChunkedDistancePool(source)
    idx, scores = farthest_first(pool, budget, lab, rng)
    strategy.stats_ = pool.finish_stats()
    return idx, scale_scores_back(scores, pool.e)


def _typiclust(strategy, source, budget, lab, rng):
    from .distributed import ChunkedClusterPool

    pool = ChunkedClusterPool(source)
    strategy.approximate_ = True
    idx, scores = strategy._visit(pool, pool.source, pool.unit_rows, budget, lab, rng)
    strategy.stats_ = pool.finish_stats()
    return idx, scores


def _check_approximate(strategy):
    if strategy.approximate is False:
        name = type(strategy).__name__
        what = (
            "fits k-means (with restarts) on the whole pool in memory"
            if isinstance(strategy, TypiClustQuery)
            else "compares every row with every row and fits k-means on the whole pool in memory"
        )
        raise InvalidValueError(
            f"{name}(approximate=False) does not run on distributed inputs: its exact path {what}. Use "
            "approximate='auto' or True (k-means on a sample, every row assigned on the workers), or "
            "select on one machine."
        )


def _probcover(strategy, source, budget, lab, rng):
    from .distributed import ChunkedBallPool

    pool = ChunkedBallPool(source)
    strategy.approximate_ = True
    idx, scores = strategy._cover(pool, budget, lab, rng)
    strategy.stats_ = pool.finish_stats()
    return idx, scores


def _then(strategy, source, budget, lab, rng):
    # ThenQuery's own selection: its first stage runs distributed (through this
    # handler again; runner_for checked that it can), its second on the
    # candidate and labeled rows gathered on the client (O((factor budget + labeled) d)).
    return strategy._select(source, budget, lab, rng)


_RUNNERS = (
    (RandomQuery, _random),
    (FeatureNormQuery, _feature_norm),
    (GramSchmidtQuery, _gram_schmidt),
    (KCenterGreedyQuery, _kcenter),
    (TypiClustQuery, _typiclust),
    (ProbCoverQuery, _probcover),
    (ThenQuery, _then),
)

register_input_handler(_distributed_handler)
