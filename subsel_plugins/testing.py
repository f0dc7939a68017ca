"""A check suite every strategy must pass, importable by third-party plugins.

Use it from pytest in your own project::

    import pytest
    from subsel_plugins.testing import STRATEGY_CHECKS

    @pytest.mark.parametrize("check", STRATEGY_CHECKS, ids=lambda c: c.__name__)
    def test_my_strategy(check):
        check(MyStrategy)            # a class, or any factory taking random_state=

or run everything at once with :func:`check_strategy`. Each check takes a
*factory*: a callable returning a fresh strategy for ``random_state=...``
(a strategy class works, and so does ``functools.partial(get_strategy, name)``).

The module also holds :func:`exact_pair_probabilities`, the enumerated law of
the first two picks of feature-norm and Gram-Schmidt sampling, for
distribution tests.

Backends. An algorithm is written once and runs on every backend it claims
(:func:`backend_claims`: ``"numpy"`` always; ``"torch"`` for strategies with a
``method="torch"``; ``"dask"`` for the strategies the distributed dispatch
runs). :func:`check_backend` runs the contract on one backend and
:func:`check_backend_law` compares the first two picks with the exact law
there, so no backend can drift from the others silently::

    for backend in backend_claims(MyStrategy()):
        check_backend(MyStrategy, backend)
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.base import clone

__all__ = [
    "STRATEGY_CHECKS",
    "check_strategy",
    "make_check_data",
    "exact_pair_probabilities",
    "PAIR_TEST_X",
    "first_two_pick_counts",
    "chi_square_pvalue",
    "BACKENDS",
    "backend_claims",
    "on_backend",
    "check_backend",
    "check_backend_law",
]


def make_check_data(n_samples: int = 120, n_features: int = 8, seed: int = 0) -> np.ndarray:
    """Three Gaussian blobs with varied norms: small, but every strategy has structure to use."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(3, n_features))
    labels = np.arange(n_samples) % 3
    return centers[labels] + rng.normal(size=(n_samples, n_features)) * rng.uniform(0.5, 2.0, (n_samples, 1))


def _expect_error(exc_types, fn, *words):
    try:
        fn()
    except exc_types as exc:
        message = str(exc)
        for word in words:
            assert word in message, f"error {message!r} should mention {word!r}"
        return
    raise AssertionError(f"expected {exc_types} from {fn}")


def check_returns_distinct_indices(factory):
    """select returns `budget` distinct int64 row indices."""
    X = make_check_data()
    for budget in (1, 7, 30):
        idx = factory(random_state=0).select(X, budget)
        assert isinstance(idx, np.ndarray) and idx.dtype == np.int64, idx.dtype
        assert idx.shape == (budget,)
        assert np.unique(idx).size == budget
        assert idx.min() >= 0 and idx.max() < X.shape[0]


def check_reproducible(factory):
    """The same seed gives the same subset, and a reused object the same sequence of subsets.

    A strategy called repeatedly draws fresh numbers each call (active-learning
    rounds), so only the whole sequence of calls is reproducible: two objects
    with the same seed agree call by call, and ``sklearn.clone`` starts over.
    """
    from sklearn.base import clone

    X = make_check_data()
    s, t = factory(random_state=3), factory(random_state=3)
    first = [s.select(X, 12) for _ in range(3)]
    for a, b in zip(first, [t.select(X, 12) for _ in range(3)]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clone(s).select(X, 12), first[0])


def check_labeled_never_returned(factory):
    """Labeled rows are never returned, up to the budget that exhausts the pool."""
    X = make_check_data(60)
    labeled = np.arange(0, 60, 3)
    idx = factory(random_state=0).select(X, 10, labeled=labeled)
    assert not np.isin(idx, labeled).any()
    rest = factory(random_state=0).select(X, 60 - labeled.size, labeled=labeled)
    assert set(rest.tolist()) == set(range(60)) - set(labeled.tolist())
    mask = np.zeros(60, dtype=bool)
    mask[labeled] = True
    np.testing.assert_array_equal(
        factory(random_state=1).select(X, 5, labeled=mask),
        factory(random_state=1).select(X, 5, labeled=labeled),
    )


def check_budget_bounds(factory):
    """Budgets outside [1, n_unlabeled] or of the wrong type fail naming `budget`."""
    X = make_check_data(30)
    s = factory(random_state=0)
    _expect_error(ValueError, lambda: s.select(X, 0), "budget")
    _expect_error(ValueError, lambda: s.select(X, 31), "budget")
    _expect_error(ValueError, lambda: s.select(X, 30, labeled=[0]), "budget")
    _expect_error(TypeError, lambda: s.select(X, 2.5), "budget")


def check_bad_input(factory):
    """NaN, wrong shapes, non-numeric data and bad labeled indices fail with clear errors."""
    X = make_check_data(30)
    s = factory(random_state=0)
    bad = X.copy()
    bad[4, 2] = np.nan
    _expect_error(ValueError, lambda: s.select(bad, 3), "NaN")
    _expect_error(ValueError, lambda: s.select(X[:, 0], 3), "2-D")
    _expect_error(ValueError, lambda: s.select(np.empty((0, 3)), 1), "empty")
    _expect_error(TypeError, lambda: s.select(np.array([["a", "b"], ["c", "d"]]), 1), "X")
    _expect_error(ValueError, lambda: s.select(X, 3, labeled=[0, 99]), "labeled")
    _expect_error(ValueError, lambda: s.select(X, 3, labeled=[1, 1]), "labeled")


def check_input_types(factory):
    """float32 and float64 arrays, lists, and memory maps give valid selections."""
    X = make_check_data(40)
    s = factory(random_state=0)
    for data in (X.astype(np.float32), X.tolist()):
        idx = s.select(data, 5)
        assert idx.shape == (5,) and np.unique(idx).size == 5


def check_clone_and_params(factory):
    """get_params/set_params/clone follow scikit-learn conventions."""
    s = factory(random_state=5)
    params = s.get_params(deep=False)
    c = clone(s)
    assert type(c) is type(s)
    assert set(c.get_params(deep=False)) == set(params)
    assert c.get_params(deep=False)["random_state"] == 5
    X = make_check_data(50)
    np.testing.assert_array_equal(c.select(X, 6), s.select(X, 6))
    s.set_params(random_state=6)
    assert s.get_params(deep=False)["random_state"] == 6


def check_random_state_not_mutated(factory):
    """A Generator or RandomState given as random_state is never advanced."""
    X = make_check_data(50)
    gen = np.random.default_rng(11)
    before = gen.bit_generator.state
    a = factory(random_state=gen).select(X, 5)
    assert gen.bit_generator.state == before
    np.testing.assert_array_equal(a, factory(random_state=gen).select(X, 5))
    rs = np.random.RandomState(11)
    before = rs.get_state()[1].copy()
    factory(random_state=rs).select(X, 5)
    np.testing.assert_array_equal(rs.get_state()[1], before)


class _Learner:
    def __init__(self, X_training=None):
        self.X_training = X_training


def check_modal_protocol(factory):
    """Called as a modAL strategy it returns (indices, scores) into X_pool, training rows excluded."""
    X = make_check_data(60)
    s = factory(random_state=0)
    idx, scores = s(_Learner(), X, n_instances=4)
    assert idx.shape == (4,) and scores.shape == (4,)
    idx, scores = s(_Learner(X_training=X[:5] + 0.01), X[5:], n_instances=4)
    assert idx.shape == (4,) and scores.shape == (4,)
    assert idx.min() >= 0 and idx.max() < 55 and np.unique(idx).size == 4


STRATEGY_CHECKS = [
    check_returns_distinct_indices,
    check_reproducible,
    check_labeled_never_returned,
    check_budget_bounds,
    check_bad_input,
    check_input_types,
    check_clone_and_params,
    check_random_state_not_mutated,
    check_modal_protocol,
]


def check_strategy(factory) -> None:
    """Run every check of :data:`STRATEGY_CHECKS` on ``factory``."""
    for check in STRATEGY_CHECKS:
        check(factory)


# exact laws ------------------------------------------------------------------


def _norm(v, norm):
    return {
        "l2": lambda x: np.linalg.norm(x, axis=-1),
        "l1": lambda x: np.abs(x).sum(-1),
        "linf": lambda x: np.abs(x).max(-1),
    }[norm](v)


def exact_pair_probabilities(X, method: str = "gram_schmidt", norm: str = "l2", labeled=()):
    """Exact probability of each ordered pair (i, j) being the first two picks.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    method : {"gram_schmidt", "feature_norm"}
    norm : {"l2", "l1", "linf"}
    labeled : sequence of int
        For Gram-Schmidt, their span is projected out before the first pick.

    Returns
    -------
    dict mapping (i, j) to its probability, over unlabeled i != j.
    """
    X = np.asarray(X, dtype=np.float64)
    labeled = list(labeled)
    free = [i for i in range(X.shape[0]) if i not in labeled]
    R = X.copy()
    if method == "gram_schmidt" and labeled:
        Q, _ = np.linalg.qr(X[labeled].T)
        R = R - (R @ Q) @ Q.T
    w1 = _norm(R, norm)
    out = {}
    for i, j in itertools.permutations(free, 2):
        p_i = w1[i] / w1[free].sum()
        if method == "gram_schmidt":
            q = R[i] / np.linalg.norm(R[i])
            R2 = R - np.outer(R @ q, q)
            w2 = _norm(R2, norm)
        else:
            w2 = w1
        rest = [k for k in free if k != i]
        out[(i, j)] = p_i * w2[j] / w2[rest].sum()
    return out


def exact_restart_pair_probabilities(X, norm: str = "l2"):
    """Exact law of the 3rd and 4th Gram-Schmidt picks of a rank-2 pool with ``exhausted="restart"``.

    The first two picks exhaust the rank; the next two are the first two picks
    of Alg. 1 from an empty basis over the rows left. Returns a dict mapping
    (i, j) to its probability.
    """
    X = np.asarray(X, dtype=np.float64)
    law = {}
    for (i, j), p in exact_pair_probabilities(X, "gram_schmidt", norm).items():
        rest = [k for k in range(X.shape[0]) if k not in (i, j)]
        for (a, b), q in exact_pair_probabilities(X[rest], "gram_schmidt", norm).items():
            key = (rest[a], rest[b])
            law[key] = law.get(key, 0.0) + p * q
    return law


#: Five rows in 3-D with distinct norms and angles: every ordered pair of first
#: two picks has probability >= ~1% under norm and Gram-Schmidt sampling.
PAIR_TEST_X = np.array(
    [
        [3.0, 0.2, 0.1],
        [2.5, 1.5, 0.0],
        [0.1, 2.0, 0.3],
        [0.5, 0.4, 1.8],
        [1.0, 1.0, 1.0],
    ]
)


def first_two_pick_counts(make, X, n_draws: int, labeled=None) -> dict:
    """Counts of the ordered first two picks of ``make(seed).select(X, 2)`` over seeds 0..n_draws-1."""
    counts: dict = {}
    for seed in range(n_draws):
        i, j = make(seed).select(X, 2, labeled=labeled)
        counts[(int(i), int(j))] = counts.get((int(i), int(j)), 0) + 1
    return counts


def chi_square_pvalue(counts: dict, exact: dict, n_draws: int) -> float:
    """Chi-square goodness-of-fit p-value of pair ``counts`` against the ``exact`` law."""
    from scipy import stats

    keys = sorted(exact)
    assert set(counts) <= set(keys), f"impossible pairs drawn: {set(counts) - set(keys)}"
    observed = np.array([counts.get(k, 0) for k in keys])
    expected = np.array([exact[k] for k in keys]) * n_draws
    assert np.isclose(expected.sum(), n_draws)
    return stats.chisquare(observed, expected).pvalue


# backends --------------------------------------------------------------------

#: Every backend a strategy can claim.
BACKENDS = ("numpy", "torch", "dask")


def backend_claims(strategy) -> tuple:
    """The backends ``strategy`` runs on, of :data:`BACKENDS`.

    ``"numpy"`` always; ``"torch"`` when it takes ``method="torch"`` (its dense
    kernels in torch, on CUDA when available); ``"dask"`` when the distributed
    dispatch runs it (:func:`subsel_plugins.dispatch.runner_for`).
    """
    from .dispatch import runner_for
    from .errors import SubselError

    claims = ["numpy"]
    if "torch" in getattr(strategy, "_METHODS", ()):
        claims.append("torch")
    try:
        runner_for(strategy)
    except SubselError:
        pass
    else:
        claims.append("dask")
    return tuple(claims)


def on_backend(strategy, X, backend: str):
    """``(strategy, X)`` as they run on ``backend``.

    numpy: unchanged; torch: ``strategy.set_params(method="torch")``; dask:
    ``X`` as a ``dask.array`` in three row chunks (the tasks run on the active
    ``distributed.Client``, else on dask's synchronous scheduler).
    """
    if backend == "numpy":
        return strategy, X
    if backend == "torch":
        return strategy.set_params(method="torch"), X
    if backend == "dask":
        import dask.array as da

        X = np.asarray(X)
        return strategy, da.from_array(X, chunks=(max(1, -(-X.shape[0] // 3)), X.shape[1]))
    raise ValueError(f"backend={backend!r} is not one of {BACKENDS}")


def _dask_scheduler(backend):
    import contextlib

    if backend != "dask":
        return contextlib.nullcontext()
    import dask

    from .distributed._client import current_client

    return contextlib.nullcontext() if current_client() is not None else dask.config.set(scheduler="sync")


def check_backend(factory, backend: str) -> None:
    """The contract on ``backend``: ``budget`` distinct rows in range, never a labeled one, reproducible."""
    X = make_check_data(60, 6)
    labeled = [0, 5, 17]
    with _dask_scheduler(backend):
        q, Xb = on_backend(factory(random_state=0), X, backend)
        idx, scores = q.select_with_scores(Xb, 8, labeled=labeled)
        q2, Xb2 = on_backend(factory(random_state=0), X, backend)
        again = q2.select(Xb2, 8, labeled=labeled)
    assert idx.dtype == np.int64 and idx.shape == (8,) and scores.shape == (8,), backend
    assert idx.min() >= 0 and idx.max() < 60 and np.unique(idx).size == 8, backend
    assert not np.isin(idx, labeled).any(), backend
    assert np.isfinite(scores).all(), backend
    np.testing.assert_array_equal(idx, again, err_msg=f"{backend}: the same seed picked differently")


def _exact_law(strategy, X):
    from .strategies import FeatureNormQuery, GramSchmidtQuery, RandomQuery

    if isinstance(strategy, RandomQuery):
        n = X.shape[0]
        return {pair: 1.0 / (n * (n - 1)) for pair in itertools.permutations(range(n), 2)}
    for cls, method in ((GramSchmidtQuery, "gram_schmidt"), (FeatureNormQuery, "feature_norm")):
        if type(strategy)._select is cls._select and isinstance(strategy, cls):
            if not strategy.randomized or getattr(strategy, "center", False):
                return None
            return exact_pair_probabilities(X, method, strategy.norm)
    return None


def check_backend_law(factory, backend: str, n_draws: int = 1000, alpha: float = 1e-3) -> None:
    """First two picks on :data:`PAIR_TEST_X` against the exact law (chi-square), on ``backend``.

    For random, feature-norm and Gram-Schmidt sampling (their subclasses that
    keep the selection rule included); other strategies have no enumerated law
    here and pass.
    """
    law = _exact_law(factory(random_state=0), PAIR_TEST_X)
    if law is None:
        return
    with _dask_scheduler(backend):
        counts = first_two_pick_counts(
            lambda seed: _OnBackend(factory(random_state=seed), backend), PAIR_TEST_X, n_draws
        )
    p = chi_square_pvalue(counts, law, n_draws)
    assert p > alpha, f"{backend}: first two picks differ from the exact law (chi-square p = {p:.2g})"


class _OnBackend:
    """``select`` of a strategy with its input moved to a backend (for :func:`first_two_pick_counts`)."""

    def __init__(self, strategy, backend):
        self.strategy, self.backend = strategy, backend

    def select(self, X, budget, labeled=None):
        q, Xb = on_backend(self.strategy, X, self.backend)
        return q.select(Xb, budget, labeled=labeled)
