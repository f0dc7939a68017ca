"""Input validation: clear errors naming the parameter, never a silent wrong answer."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from subsel_plugins import FeatureNormQuery, GramSchmidtQuery, ProbCoverQuery, RandomQuery, ThenQuery
from subsel_plugins._validation import check_features

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    X=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=12), elements=finite
    ),
    data=st.data(),
)
def test_valid_budgets_give_distinct_rows(X, data):
    budget = data.draw(st.integers(1, X.shape[0]))
    idx = FeatureNormQuery(random_state=0).select(X, budget)
    assert idx.shape == (budget,) and np.unique(idx).size == budget


@settings(max_examples=60, deadline=None)
@given(
    X=hnp.arrays(np.float64, (6, 3), elements=finite),
    row=st.integers(0, 5),
    col=st.integers(0, 2),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_non_finite_values_are_refused_with_their_row(X, row, col, bad):
    X = X.copy()
    X[row, col] = bad
    with pytest.raises(ValueError, match=f"NaN or infinity \\(first at row {row}\\)"):
        GramSchmidtQuery().select(X, 2)


@settings(max_examples=60, deadline=None)
@given(budget=st.one_of(st.integers(-5, 0), st.integers(11, 100)))
def test_out_of_range_budgets_name_budget(budget):
    with pytest.raises(ValueError, match="budget"):
        RandomQuery().select(np.ones((10, 2)), budget)


@settings(max_examples=40, deadline=None)
@given(labeled=st.lists(st.integers(-20, 30), min_size=1, max_size=6))
def test_labeled_indices_checked(labeled):
    X = np.random.default_rng(0).normal(size=(10, 3))
    bad = any(i < 0 or i >= 10 for i in labeled) or len(set(labeled)) < len(labeled)
    if bad:
        with pytest.raises(ValueError, match="labeled"):
            FeatureNormQuery().select(X, 1, labeled=labeled)
    elif len(labeled) < 10:
        idx = FeatureNormQuery().select(X, 1, labeled=labeled)
        assert idx[0] not in labeled


def test_dtypes_preserved_and_converted():
    x32 = np.ones((4, 2), dtype=np.float32)
    assert check_features(x32) is x32
    assert check_features(np.ones((4, 2), dtype=np.int32)).dtype == np.float64
    assert check_features(np.ones((4, 2), dtype=np.float16)).dtype == np.float32
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.1, 2.0]})
    assert RandomQuery(random_state=0).select(df, 2).shape == (2,)


def test_sparse_input_is_refused():
    with pytest.raises(TypeError, match=r"scipy.sparse.*toarray"):
        GramSchmidtQuery().select(sp.csr_matrix(np.eye(4)), 2)


@pytest.mark.parametrize(
    "strategy, message",
    [
        (FeatureNormQuery(norm="l3"), "norm must be one of"),
        (FeatureNormQuery(randomized="yes"), "randomized must be True or False"),
        (GramSchmidtQuery(method="qr"), "method must be one of"),
        (ProbCoverQuery(delta=3.0), r"delta must be a finite number in \(0, 2\]"),
        (ProbCoverQuery(purity=0), r"purity must be a finite number in \(0, 1\]"),
        (ProbCoverQuery(n_classes=1), "n_classes must be an integer >= 2"),
        (
            ThenQuery(RandomQuery(), RandomQuery(), factor=0.5),
            r"factor must be a finite number in \[1, inf\]",
        ),
        (ThenQuery(RandomQuery(), "gs"), "then must be a strategy"),
        (RandomQuery(random_state="seed"), "random_state must be None"),
    ],
)
def test_bad_parameters_name_themselves(strategy, message):
    with pytest.raises((ValueError, TypeError), match=message):
        strategy.select(np.random.default_rng(0).normal(size=(20, 3)), 2)


def test_features_callable_and_transformer():
    from sklearn.decomposition import PCA

    raw = np.random.default_rng(0).normal(size=(50, 10))
    a = GramSchmidtQuery(random_state=0, features=PCA(3).fit(raw)).select(raw, 3)
    b = GramSchmidtQuery(random_state=0).select(PCA(3).fit(raw).transform(raw), 3)
    np.testing.assert_array_equal(a, b)
    c = FeatureNormQuery(random_state=0, features=lambda x: x[:, :2]).select(raw, 4)
    np.testing.assert_array_equal(c, FeatureNormQuery(random_state=0).select(raw[:, :2], 4))
    with pytest.raises(ValueError, match=r"features\(X\)"):
        FeatureNormQuery(features=lambda x: x[:, 0]).select(raw, 2)


def test_memory_mapped_input_is_not_copied_or_written(tmp_path):
    X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    for cls in (FeatureNormQuery, GramSchmidtQuery):
        np.testing.assert_array_equal(cls(random_state=0).select(mm, 6), cls(random_state=0).select(X, 6))
