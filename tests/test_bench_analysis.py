"""The harness's analyses: Frechet distance, coverage, standard error, norm-accuracy fit."""

import sys
from pathlib import Path

import numpy as np
import pytest

# benchmarks/ is a runnable package of the source tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import analysis  # noqa: E402


@pytest.mark.parametrize("n, d, k", [(300, 8, 40), (200, 30, 12), (150, 5, 3)])
def test_pool_frechet_equals_sqrtm_reference(n, d, k):
    rng = np.random.default_rng(n + d + k)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    rows = rng.choice(n, k, replace=False)
    rest = np.setdiff1d(np.arange(n), rows)
    fast = analysis.PoolFrechet(X.astype(np.float32))(rows)
    ref = analysis.frechet_distance_sqrtm(X[rows].astype(np.float32), X[rest].astype(np.float32))
    assert fast == pytest.approx(ref, rel=1e-5, abs=1e-6)


def test_frechet_is_small_for_a_representative_subset_and_large_for_a_biased_one():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6))
    pf = analysis.PoolFrechet(X)
    uniform = np.mean([pf(rng.choice(2000, 200, replace=False)) for _ in range(5)])
    biased = pf(np.argsort(X[:, 0])[-200:])  # the 200 rows with the largest first coordinate
    assert uniform < 0.2 < 1.0 < biased


def test_frechet_rejects_degenerate_subsets():
    pf = analysis.PoolFrechet(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        pf([4])


def test_mean_and_stderr():
    m, se = analysis.mean_and_stderr([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert analysis.mean_and_stderr([0.7]) == (0.7, 0.0)
    assert all(np.isnan(analysis.mean_and_stderr([])))


def test_class_coverage_and_mean_norm():
    assert analysis.class_coverage([0, 0, 3, 9, 3], 10) == 3
    X = np.array([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]])
    assert analysis.mean_feature_norm(X, [0, 2]) == pytest.approx(7.5)


def test_norm_accuracy_fit_finds_a_seeded_positive_correlation():
    rng = np.random.default_rng(1)
    norms = rng.uniform(1, 2, size=200)
    acc = 0.3 + 0.2 * norms + rng.normal(scale=0.05, size=200)
    fit = analysis.norm_accuracy_fit(norms, acc)
    assert fit["pearson_r"] > 0.7 and fit["p_value"] < 1e-6
    assert fit["slope"] == pytest.approx(0.2, abs=0.05)
    flat = analysis.norm_accuracy_fit([1.0, 1.0, 1.0], [0.1, 0.2, 0.3])
    assert np.isnan(flat["pearson_r"])
