"""ThenQuery's plumbing, observed with recording strategies.

What the first stage receives (ceil(factor * budget) capped by the pool, the labeled
rows, the features), what the second keeps (a subset of the candidates, labeled rows
passed as labeled) and how the components' random_state is derived.
"""

import math

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from subsel_plugins import FeatureNormQuery, QueryStrategy, RandomQuery, ThenQuery

LOG: dict[str, list[dict]] = {}


class Recorder(QueryStrategy):
    """Takes the first (or last) ``budget`` unlabeled rows and records every call."""

    def __init__(self, tag="r", take="first", random_state=None, features=None):
        self.tag = tag
        self.take = take
        self.random_state = random_state
        self.features = features

    def _select(self, X, budget, labeled, rng):
        LOG.setdefault(self.tag, []).append(
            dict(X=np.array(X), budget=budget, labeled=labeled.copy(), random_state=self.random_state)
        )
        free = np.setdiff1d(np.arange(X.shape[0]), labeled)
        idx = free[:budget] if self.take == "first" else free[::-1][:budget]
        return idx, np.arange(budget, dtype=float) + 10


class NoSeed(BaseEstimator):
    """A bare ``select`` without random_state (must not be given one) nor select_with_scores."""

    def __init__(self, tag="n"):
        self.tag = tag

    def select(self, X, budget, labeled=None):
        LOG.setdefault(self.tag, []).append(dict(budget=budget, labeled=labeled))
        free = np.setdiff1d(np.arange(X.shape[0]), [] if labeled is None else labeled)
        return free[:budget]


@pytest.fixture(autouse=True)
def clear_log():
    LOG.clear()
    yield
    LOG.clear()


def X_pool(n=20, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize(
    "factor, budget, expected", [(2, 3, 6), (1.5, 3, 5), (1.1, 3, 4), (1, 4, 4), (3.0, 1, 3)]
)
def test_first_stage_gets_ceil_factor_times_budget(factor, budget, expected):
    assert expected == math.ceil(factor * budget)
    ThenQuery(Recorder("a"), Recorder("b"), factor=factor).select(X_pool(), budget)
    assert LOG["a"][0]["budget"] == expected
    assert LOG["b"][0]["budget"] == budget
    assert LOG["b"][0]["X"].shape[0] == expected  # then sees exactly the candidates


def test_first_stage_budget_is_capped_by_the_unlabeled_pool():
    X = X_pool(10)
    ThenQuery(Recorder("a"), Recorder("b"), factor=2).select(X, 5, labeled=[0, 1])
    assert LOG["a"][0]["budget"] == 8
    ThenQuery(Recorder("a"), Recorder("b"), factor=3).select(X, 4)
    assert LOG["a"][1]["budget"] == 10


def test_first_stage_sees_all_of_X_and_the_labeled_rows():
    X = X_pool(12)
    ThenQuery(Recorder("a"), Recorder("b")).select(X, 3, labeled=[4, 9])
    np.testing.assert_array_equal(LOG["a"][0]["X"], X)
    assert LOG["a"][0]["labeled"].tolist() == [4, 9]
    ThenQuery(Recorder("a"), Recorder("b")).select(X, 3)
    assert LOG["a"][1]["labeled"].size == 0
    assert LOG["b"][1]["labeled"].size == 0


def test_second_stage_sees_the_candidates_and_the_labeled_rows_as_labeled():
    X = X_pool(12)
    idx = ThenQuery(Recorder("a"), Recorder("b", take="last"), factor=2).select(X, 2, labeled=[0, 7])
    # first takes the first 4 unlabeled rows: 1, 2, 3, 4
    cand = [1, 2, 3, 4]
    seen = LOG["b"][0]
    n_c = len(cand)
    np.testing.assert_array_equal(seen["X"][:n_c], X[cand])
    lab_rows = seen["X"][seen["labeled"]]
    np.testing.assert_array_equal(np.sort(lab_rows, axis=0), np.sort(X[[0, 7]], axis=0))
    assert seen["labeled"].size == 2 and set(seen["labeled"].tolist()).isdisjoint(range(n_c))
    assert seen["X"].shape[0] == n_c + 2
    # then takes the last two candidates; they are mapped back to rows of X
    assert idx.tolist() == [4, 3]


def test_result_is_a_subset_of_the_candidates_and_factor_one_keeps_them_all():
    X = X_pool(30)
    a = FeatureNormQuery(randomized=False)
    first_picks = set(a.select(X, 5, labeled=[3]).tolist())
    idx = ThenQuery(a, Recorder("b"), factor=1).select(X, 5, labeled=[3])
    assert set(idx.tolist()) == first_picks
    cand = set(a.select(X, 10, labeled=[3]).tolist())
    idx = ThenQuery(a, Recorder("b", take="last"), factor=2).select(X, 5, labeled=[3])
    assert set(idx.tolist()) <= cand and len(set(idx.tolist()) & first_picks) < 5


def test_factor_changes_what_the_second_stage_can_reach():
    X = X_pool(30)
    # "then" keeps the smallest norms among the candidates: a wider pool reaches smaller ones
    small = FeatureNormQuery(randomized=False, features=lambda Z: 1.0 / (1e-3 + np.abs(Z)))
    first = FeatureNormQuery(randomized=False)
    norms = np.linalg.norm(X, axis=1)
    for factor in (1, 2, 3):
        idx = ThenQuery(first, small, factor=factor).select(X, 3)
        cand = np.argsort(-norms, kind="stable")[: 3 * factor]
        assert set(idx.tolist()) <= set(cand.tolist())
    a = ThenQuery(first, small, factor=1).select(X, 3)
    b = ThenQuery(first, small, factor=3).select(X, 3)
    assert set(a.tolist()) != set(b.tolist())


def test_scores_come_from_the_second_stage():
    X = X_pool(12)
    idx, scores = ThenQuery(Recorder("a"), Recorder("b")).select_with_scores(X, 3)
    assert scores.tolist() == [10.0, 11.0, 12.0]
    assert idx.tolist() == [0, 1, 2]


def test_features_are_applied_once_before_both_stages():
    X = X_pool(12)
    calls = []

    def feat(Z):
        calls.append(Z.shape)
        return Z * 2

    ThenQuery(Recorder("a"), Recorder("b"), features=feat).select(X, 3)
    assert len(calls) == 1
    np.testing.assert_allclose(LOG["a"][0]["X"], X * 2)


def test_components_keep_their_random_state_when_then_query_has_none():
    ThenQuery(Recorder("a", random_state=7), Recorder("b", random_state=8)).select(X_pool(), 3)
    assert LOG["a"][0]["random_state"] == 7
    assert LOG["b"][0]["random_state"] == 8


def test_then_query_random_state_reseeds_components_reproducibly():
    X = X_pool()

    def seeds(rs):
        LOG.clear()
        ThenQuery(Recorder("a", random_state=7), Recorder("b", random_state=8), random_state=rs).select(X, 3)
        return LOG["a"][0]["random_state"], LOG["b"][0]["random_state"]

    s3 = seeds(3)
    assert all(isinstance(s, (int, np.integer)) for s in s3)
    assert s3 != (7, 8) and s3[0] != s3[1]
    assert seeds(3) == s3
    assert seeds(4) != s3


def test_components_without_random_state_are_left_alone():
    idx, scores = ThenQuery(NoSeed("a"), NoSeed("b"), random_state=0).select_with_scores(X_pool(), 3)
    assert idx.tolist() == [0, 1, 2] and scores.tolist() == [0.0, 0.0, 0.0]
    assert LOG["a"][0]["budget"] == 6
    idx = ThenQuery(
        NoSeed("a"),
        NoSeed(
            "b",
        ),
    ).select(X_pool(), 2, labeled=[0, 1])
    assert idx.tolist() == [2, 3]
    assert LOG["b"][1]["labeled"].tolist() == [4, 5]


def test_then_query_does_not_mutate_its_components():
    a, b = Recorder("a", random_state=7), Recorder("b", random_state=8)
    ThenQuery(a, b, random_state=3).select(X_pool(), 3)
    assert a.random_state == 7 and b.random_state == 8


# --- the component clones persist across calls and follow parameter changes -------------


def test_component_clones_persist_across_calls():
    q = ThenQuery(Recorder("a"), Recorder("b"))
    q.select(X_pool(), 2)
    first, then = q.first_, q.then_
    assert first is not q.first and then is not q.then
    q.select(X_pool(), 2)
    assert q.first_ is first and q.then_ is then
    assert isinstance(first, Recorder) and isinstance(then, Recorder)


def test_a_component_draws_fresh_numbers_each_call_and_restarts_when_replaced():
    X = X_pool(40)
    q = ThenQuery(RandomQuery(random_state=0), Recorder("b"), factor=1)
    a = q.select(X, 5).tolist()
    assert q.select(X, 5).tolist() != a  # the persisted clone continues its stream
    q.set_params(first=RandomQuery(random_state=0))  # a new object, equal parameters
    assert q.select(X, 5).tolist() == a


def test_components_are_recloned_when_their_parameters_change():
    X = X_pool(12)
    q = ThenQuery(Recorder("a"), Recorder("b"), factor=1)
    assert q.select(X, 2).tolist() == [0, 1]
    q.first.set_params(take="last")  # the same object, changed in place
    assert q.select(X, 2).tolist() == [11, 10]
    q.set_params(first=Recorder("a"))  # a new object
    assert q.select(X, 2).tolist() == [0, 1]
    q.set_params(first__take="last")
    assert q.select(X, 2).tolist() == [11, 10]


def test_component_parameters_are_checked_before_any_stage_runs():
    with pytest.raises(ValueError, match="norm"):
        ThenQuery(Recorder("a"), FeatureNormQuery(norm="l9")).select(X_pool(), 2)
    assert "a" not in LOG  # the first stage never ran


@pytest.mark.parametrize("which", ["first", "then"])
def test_a_part_without_select_is_named_in_the_error(which):
    parts = {"first": Recorder("a"), "then": Recorder("b")}
    parts[which] = 3
    with pytest.raises(TypeError, match=f"{which} must be a strategy.*got int"):
        ThenQuery(**parts).select(X_pool(), 2)


class FloatIndices(BaseEstimator):
    """A bare strategy returning its indices as floats, and labeled as it got it."""

    def __init__(self, tag="f"):
        self.tag = tag

    def select(self, X, budget, labeled=None):
        LOG.setdefault(self.tag, []).append(dict(labeled=labeled))
        free = np.setdiff1d(np.arange(X.shape[0]), [] if labeled is None else labeled)
        return free[:budget].astype(float)


def test_bare_strategies_get_none_for_no_labeled_rows_and_may_return_float_indices():
    idx = ThenQuery(FloatIndices("a"), NoSeed("b")).select(X_pool(), 3)
    assert idx.tolist() == [0, 1, 2]
    assert LOG["a"][0]["labeled"] is None and LOG["b"][0]["labeled"] is None


def test_documented_defaults_and_factor_bounds():
    assert ThenQuery(Recorder(), Recorder()).get_params(deep=False)["factor"] == 2
    X = X_pool()
    assert ThenQuery(Recorder("a"), Recorder("b"), factor=1).select(X, 2).shape == (2,)
    for bad in (0.999, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"^factor must be a finite number in \[1"):
            ThenQuery(Recorder("a"), Recorder("b"), factor=bad).select(X, 2)
    with pytest.raises(TypeError, match=r"^factor must be a real number"):
        ThenQuery(Recorder("a"), Recorder("b"), factor="2").select(X, 2)
