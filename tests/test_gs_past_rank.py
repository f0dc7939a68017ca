"""Gram-Schmidt past the rank of the features: restarting Alg. 1, and centering.

``exhausted="restart"`` makes the selection a sequence of rounds of Alg. 1: the
first from the labeled span, each later one from an empty basis over the
unchosen, unlabeled rows. The exact law of the first picks after a restart is
enumerated here and checked by chi-square for the plain and the fast path.
"""

import warnings

import numpy as np
import pytest
from scipy import stats

from subsel_plugins import GramSchmidtQuery
from subsel_plugins.backends import ArrayPool, Centered
from subsel_plugins.errors import InvalidTypeError, InvalidValueError
from subsel_plugins.strategies import _gs_sampler
from subsel_plugins.testing import (
    chi_square_pvalue,
    exact_pair_probabilities,
    exact_restart_pair_probabilities,
)

N_DRAWS = 4000
ALPHA = 1e-3

#: Five rows in 2-D (rank 2 = d) with distinct norms and angles.
X2 = np.array([[3.0, 0.2], [2.5, 1.5], [0.1, 2.0], [1.2, -0.4], [1.0, 1.0]])
#: The same rows in a plane of 3-D: rank 2 < d, so exhaustion is certified by residuals.
X3 = X2 @ np.array([[1.0, 0.5, -0.3], [0.2, 1.0, 0.7]])


#: Exact law of the (3rd, 4th) picks of a rank-2 pool: round 2 on the three rows left.
restart_law = exact_restart_pair_probabilities


def pick_counts(make, X, budget, positions, n_draws=N_DRAWS, labeled=None):
    counts = {}
    for seed in range(n_draws):
        idx = make(seed).select(X, budget, labeled=labeled)
        key = tuple(int(idx[p]) for p in positions)
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.fixture
def refresh_every_trial(monkeypatch):
    """One candidate per batch and a refresh before each batch: the refresh path's law."""
    monkeypatch.setattr(_gs_sampler, "MIN_BATCH", 1)
    monkeypatch.setattr(_gs_sampler, "MAX_BATCH", 1)
    monkeypatch.setattr(ArrayPool, "batch_overhead", 1e12)


@pytest.mark.parametrize("method", ["plain", "fast"])
@pytest.mark.parametrize("X", [X2, X3], ids=["rank=d", "rank<d"])
def test_first_picks_after_a_restart_follow_the_enumerated_law(method, X):
    make = lambda s: GramSchmidtQuery(method=method, exhausted="restart", random_state=s)  # noqa: E731
    counts = pick_counts(make, X, 4, (2, 3))
    assert chi_square_pvalue(counts, restart_law(X), N_DRAWS) > ALPHA


@pytest.mark.parametrize("norm", ["l1", "linf"])
def test_restart_law_in_other_norms(norm):
    make = lambda s: GramSchmidtQuery(norm=norm, exhausted="restart", random_state=s)  # noqa: E731
    counts = pick_counts(make, X2, 4, (2, 3))
    assert chi_square_pvalue(counts, restart_law(X2, norm), N_DRAWS) > ALPHA


def test_restart_law_holds_across_refreshes(refresh_every_trial):
    make = lambda s: GramSchmidtQuery(method="fast", exhausted="restart", random_state=s)  # noqa: E731
    q = make(0)
    q.select(X3, 4)
    assert q.stats_["refreshes"] >= 2 and q.restarts_ == 1
    counts = pick_counts(make, X3, 4, (2, 3))
    assert chi_square_pvalue(counts, restart_law(X3), N_DRAWS) > ALPHA


def test_the_restart_law_test_has_power():
    """Keeping the norm fallback (not a restart) is rejected by the same test."""
    make = lambda s: GramSchmidtQuery(method="fast", exhausted="norm", random_state=s)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        counts = pick_counts(make, X2, 4, (2, 3))
    assert chi_square_pvalue(counts, restart_law(X2), N_DRAWS) < ALPHA


def labeled_restart_law(X, labeled):
    """Law of (p1, p2, p3) on a rank-2 pool with one labeled row: 1 pick, then round 2 from scratch."""
    free = [k for k in range(X.shape[0]) if k != labeled]
    q = X[labeled] / np.linalg.norm(X[labeled])
    R = X - np.outer(X @ q, q)
    w = np.linalg.norm(R, axis=1)
    law = {}
    for i in free:
        rest = [k for k in free if k != i]
        for (a, b), p in exact_pair_probabilities(X[rest], "gram_schmidt", "l2").items():
            law[(i, rest[a], rest[b])] = w[i] / w[free].sum() * p
    return law


@pytest.mark.parametrize("method", ["plain", "fast"])
def test_the_labeled_span_shapes_only_the_first_round(method):
    X = np.vstack([X2, [[0.6, 2.2]]])
    make = lambda s: GramSchmidtQuery(method=method, exhausted="restart", random_state=s)  # noqa: E731
    counts = pick_counts(make, X, 3, (0, 1, 2), labeled=[5])
    assert chi_square_pvalue(counts, labeled_restart_law(X, 5), N_DRAWS) > ALPHA


def low_rank(n, d, rank, seed):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d))
    return F * rng.lognormal(sigma=0.7, size=(n, 1))


def test_plain_and_fast_agree_in_distribution_in_the_second_round():
    """The 5th pick of a rank-3 pool (2nd of round 2): two-sample chi-square, plain vs fast."""
    F = low_rank(30, 6, 3, seed=3)
    picks = {
        m: [
            GramSchmidtQuery(method=m, exhausted="restart", random_state=1000 * (m == "fast") + s).select(
                F, 5, [0]
            )[4]
            for s in range(1500)
        ]
        for m in ("plain", "fast")
    }
    table = np.vstack([np.bincount(picks[m], minlength=30) for m in ("plain", "fast")])
    table = table[:, table.sum(0) >= 10]
    assert stats.chi2_contingency(table).pvalue > ALPHA


@pytest.mark.parametrize("norm", ["l2", "l1", "linf"])
@pytest.mark.parametrize("labeled", [None, [3, 17]])
def test_deterministic_restart_takes_the_same_maxima_in_both_paths(norm, labeled):
    F = low_rank(400, 12, 4, seed=5)
    kw = dict(norm=norm, randomized=False, exhausted="restart")
    plain = GramSchmidtQuery(method="plain", **kw)
    fast = GramSchmidtQuery(method="fast", **kw)
    a, b = plain.select(F, 15, labeled), fast.select(F, 15, labeled)
    np.testing.assert_array_equal(b, a)
    # rounds of 4, 4, 4, 3 picks; with 2 labeled rows 2, 4, 4, 4, 1
    assert plain.restarts_ == fast.restarts_ == (3 if labeled is None else 4)


def rounds(idx, labeled_rank, rank):
    first = rank - labeled_rank
    return [idx[:first]] + [idx[s : s + rank] for s in range(first, idx.size, rank)]


@pytest.mark.parametrize("method", ["plain", "fast"])
@pytest.mark.parametrize("randomized", [True, False])
def test_each_round_is_a_set_of_independent_directions(method, randomized):
    F = low_rank(300, 10, 4, seed=0)
    q = GramSchmidtQuery(method=method, randomized=randomized, exhausted="restart", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a restart is the requested behaviour, not a warning
        idx = q.select(F, 14, labeled=[7])
    assert q.restarts_ == 3
    assert np.unique(idx).size == 14 and 7 not in idx
    for r in rounds(idx, 1, 4):
        assert np.linalg.matrix_rank(F[r]) == r.size
    # the first round avoids the labeled span: with row 7 it still has rank 4
    assert np.linalg.matrix_rank(F[np.r_[7, idx[:3]]]) == 4


@pytest.mark.parametrize("method", ["plain", "fast"])
def test_duplicates_come_back_in_the_next_round_and_zero_rows_last(method):
    F = np.vstack([np.eye(3), 2 * np.eye(3), np.zeros((2, 3))])
    q = GramSchmidtQuery(method=method, exhausted="restart", random_state=0)
    with pytest.warns(RuntimeWarning, match="only zero rows were left after 6 picks"):
        idx = q.select(F, 8)
    assert {int(i) % 3 for i in idx[:3]} == {0, 1, 2}
    assert {int(i) % 3 for i in idx[3:6]} == {0, 1, 2}
    assert set(idx[6:].tolist()) == {6, 7}
    assert q.restarts_ == 1


@pytest.mark.parametrize("method", ["plain", "fast"])
def test_norm_mode_keeps_the_fallback(method):
    F = low_rank(300, 10, 4, seed=0)
    q = GramSchmidtQuery(method=method, exhausted="norm", random_state=0)
    with pytest.warns(RuntimeWarning, match="vanished after 4 picks"):
        idx = q.select(F, 14)
    assert q.restarts_ == 0
    assert np.linalg.matrix_rank(F[idx[4:8]]) == 4  # generic rows, but not a round by construction


def test_the_default_budget_within_rank_never_restarts():
    F = low_rank(300, 10, 6, seed=1)
    for exhausted in ("norm", "restart"):
        q = GramSchmidtQuery(exhausted=exhausted, random_state=4)
        a = q.select(F, 6)
        assert q.restarts_ == 0
        np.testing.assert_array_equal(a, GramSchmidtQuery(random_state=4).select(F, 6))


# -- center=True ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["plain", "fast"])
def test_centered_first_two_picks_follow_the_law_of_the_centered_rows(method):
    X = X3 + np.array([5.0, 4.0, 6.0])  # one orthant, like raw pixels
    Xc = X - X.mean(axis=0)
    make = lambda s: GramSchmidtQuery(method=method, center=True, random_state=s)  # noqa: E731
    counts = pick_counts(make, X, 2, (0, 1))
    assert chi_square_pvalue(counts, exact_pair_probabilities(Xc), N_DRAWS) > ALPHA


@pytest.mark.parametrize("method", ["plain", "fast"])
@pytest.mark.parametrize("randomized", [True, False])
def test_centered_is_gs_on_the_centred_rows_and_ignores_a_shift(method, randomized):
    F = low_rank(200, 8, 5, seed=2)
    mean = Centered(F).mean
    kw = dict(method=method, randomized=randomized, exhausted="restart")
    a = GramSchmidtQuery(center=True, random_state=1, **kw).select(F, 12, [4])
    np.testing.assert_array_equal(a, GramSchmidtQuery(random_state=1, **kw).select(F - mean, 12, [4]))
    if not randomized:  # argmax picks survive rounding of the shift
        shifted = GramSchmidtQuery(center=True, random_state=1, **kw).select(F + 100.0, 12, [4])
        np.testing.assert_array_equal(shifted, a)
        plain = GramSchmidtQuery(random_state=1, **kw).select(F + 100.0, 12, [4])
        assert not np.array_equal(plain, a)  # the shift matters without centering


def test_centered_fast_path_does_not_copy_a_memory_map(tmp_path):
    import tracemalloc

    F = (np.abs(low_rank(200_000, 64, 8, seed=4)) + 1.0).astype(np.float32)
    np.save(tmp_path / "f.npy", F)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    tracemalloc.start()
    try:
        idx = GramSchmidtQuery(center=True, random_state=0).select(mm, 40, labeled=np.arange(5))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert idx.shape == (40,) and not np.isin(idx, np.arange(5)).any()
    assert peak < 0.5 * F.nbytes, (peak, F.nbytes)


def test_bad_parameters_name_themselves():
    X = low_rank(20, 4, 2, seed=0)
    with pytest.raises(InvalidValueError, match="exhausted"):
        GramSchmidtQuery(exhausted="fill").select(X, 2)
    with pytest.raises(InvalidTypeError, match="center"):
        GramSchmidtQuery(center="yes").select(X, 2)


def test_distributed_inputs_run_centering():
    # the law, the shift and the shards: tests/test_distributed_center.py
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    D = da.from_array(low_rank(100, 5, 3, seed=0), chunks=(50, 5))
    with dask.config.set(scheduler="synchronous"):
        idx = GramSchmidtQuery(random_state=0, center=True).select(D, 3)
    assert np.unique(idx).size == 3


def test_restart_is_the_default():
    """Past the rank the default restarts (no fallback warning); within it nothing changes."""
    F = low_rank(100, 5, 3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        q = GramSchmidtQuery(random_state=0)
        q.select(F, 7)
    assert q.restarts_ == 2
    np.testing.assert_array_equal(
        GramSchmidtQuery(random_state=3).select(F, 3),
        GramSchmidtQuery(random_state=3, exhausted="norm").select(F, 3),
    )
