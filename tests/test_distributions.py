"""The samplers draw from their exact distributions (chi-square against enumeration)."""

import warnings

import numpy as np
import pytest
from scipy import stats

from subsel_plugins import FeatureNormQuery, GramSchmidtQuery
from subsel_plugins.kernels import successive_sample
from subsel_plugins.testing import (
    PAIR_TEST_X,
    chi_square_pvalue,
    exact_pair_probabilities,
    first_two_pick_counts,
)

X = PAIR_TEST_X
N_DRAWS = 6000
ALPHA = 1e-3


def pair_counts(make, labeled=None):
    return first_two_pick_counts(make, X, N_DRAWS, labeled)


def chi_square_p(counts, exact):
    return chi_square_pvalue(counts, exact, N_DRAWS)


@pytest.mark.parametrize("norm", ["l2", "l1", "linf"])
def test_feature_norm_first_two_picks(norm):
    counts = pair_counts(lambda s: FeatureNormQuery(norm=norm, random_state=s))
    p = chi_square_p(counts, exact_pair_probabilities(X, "feature_norm", norm))
    assert p > ALPHA, p


@pytest.mark.parametrize("norm", ["l2", "l1", "linf"])
def test_gram_schmidt_plain_first_two_picks(norm):
    counts = pair_counts(lambda s: GramSchmidtQuery(norm=norm, method="plain", random_state=s))
    p = chi_square_p(counts, exact_pair_probabilities(X, "gram_schmidt", norm))
    assert p > ALPHA, p


def test_gram_schmidt_plain_with_labeled_rows():
    labeled = [4]
    counts = pair_counts(lambda s: GramSchmidtQuery(method="plain", random_state=s), labeled=labeled)
    p = chi_square_p(counts, exact_pair_probabilities(X, "gram_schmidt", "l2", labeled))
    assert p > ALPHA, p


def test_the_test_detects_a_wrong_law():
    """Feature-norm draws are rejected as Gram-Schmidt draws: the test has power."""
    counts = pair_counts(lambda s: FeatureNormQuery(random_state=s))
    assert chi_square_p(counts, exact_pair_probabilities(X, "gram_schmidt", "l2")) < ALPHA


def test_successive_sample_first_draw_law():
    w = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    rng = np.random.default_rng(0)
    first = np.array([successive_sample(w, 1, rng)[0] for _ in range(5000)])
    observed = np.bincount(first, minlength=5)
    assert observed[0] == 0
    assert stats.chisquare(observed[1:], w[1:] / w.sum() * 5000).pvalue > ALPHA


def test_successive_sample_zero_weights_fill_with_warning():
    w = np.array([0.0, 1.0, 0.0, 2.0])
    with pytest.warns(RuntimeWarning, match="positive"):
        idx = successive_sample(w, 4, np.random.default_rng(0))
    assert set(idx[:2].tolist()) == {1, 3} and set(idx[2:].tolist()) == {0, 2}


def test_deterministic_variants_take_the_largest():
    np.testing.assert_array_equal(FeatureNormQuery(randomized=False).select(X, 5), [0, 1, 2, 3, 4])
    idx = GramSchmidtQuery(randomized=False, method="plain").select(X, 3)
    assert idx[0] == 0  # largest norm
    # the second pick is the largest residual after projecting row 0 out
    q = X[0] / np.linalg.norm(X[0])
    resid = np.linalg.norm(X - np.outer(X @ q, q), axis=1)
    resid[0] = -1
    assert idx[1] == np.argmax(resid)


def test_gram_schmidt_projects_out_the_chosen_span():
    rng = np.random.default_rng(1)
    F = rng.normal(size=(200, 6))
    idx = GramSchmidtQuery(random_state=0, method="plain").select(F, 6)
    assert np.linalg.matrix_rank(F[idx]) == 6


def test_gram_schmidt_exhaustion_fills_by_norm_and_warns():
    F = np.vstack([np.eye(3), np.eye(3), np.zeros((2, 3))])  # rank 3, duplicates, zero rows
    with pytest.warns(RuntimeWarning, match="residuals vanished after 3 picks"):
        idx = GramSchmidtQuery(random_state=0, method="plain", exhausted="norm").select(F, 7)
    assert np.unique(idx).size == 7
    assert np.linalg.matrix_rank(F[idx[:3]]) == 3
    # the fill draws by norm: the zero rows come only after every positive-norm row
    assert set(idx[3:6].tolist()) == set(range(6)) - set(idx[:3].tolist())


def test_gram_schmidt_labeled_span_is_avoided():
    F = np.vstack([np.eye(4), np.eye(4) * 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idx = GramSchmidtQuery(random_state=0, method="plain").select(F, 2, labeled=[0, 1])
    # rows 4 and 5 lie in the labeled span: only directions e2, e3 are new
    assert set(idx.tolist()) <= {2, 3, 6, 7}
    assert {int(i) % 4 for i in idx} == {2, 3}


def test_float32_features_are_not_upcast_in_place():
    F = np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32)
    before = F.copy()
    GramSchmidtQuery(random_state=0).select(F, 5)
    np.testing.assert_array_equal(F, before)
