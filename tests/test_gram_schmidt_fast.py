"""The fast Gram-Schmidt path draws from exactly Alg. 1's distribution, in O(N + s d) memory."""

import tracemalloc
import warnings

import numpy as np
import pytest
from scipy import stats

from subsel_plugins import GramSchmidtQuery
from subsel_plugins.backends import ArrayPool
from subsel_plugins.strategies import _gs_sampler
from subsel_plugins.testing import (
    PAIR_TEST_X,
    chi_square_pvalue,
    exact_pair_probabilities,
    first_two_pick_counts,
)

X = PAIR_TEST_X
N_DRAWS = 4000
ALPHA = 1e-3


def pair_counts(make, labeled=None):
    return first_two_pick_counts(make, X, N_DRAWS, labeled)


def chi_square_p(counts, exact):
    return chi_square_pvalue(counts, exact, N_DRAWS)


@pytest.fixture
def refresh_every_trial(monkeypatch):
    """One candidate per batch and a refresh before each batch: the refresh path's law."""
    monkeypatch.setattr(_gs_sampler, "MIN_BATCH", 1)
    monkeypatch.setattr(_gs_sampler, "MAX_BATCH", 1)
    monkeypatch.setattr(ArrayPool, "batch_overhead", 1e12)


@pytest.mark.parametrize("norm", ["l2", "l1", "linf"])
def test_fast_first_two_picks_match_exact_law(norm):
    counts = pair_counts(lambda s: GramSchmidtQuery(norm=norm, method="fast", random_state=s))
    p = chi_square_p(counts, exact_pair_probabilities(X, "gram_schmidt", norm))
    assert p > ALPHA, p


def test_fast_with_labeled_rows_matches_exact_law():
    counts = pair_counts(lambda s: GramSchmidtQuery(method="fast", random_state=s), labeled=[4])
    p = chi_square_p(counts, exact_pair_probabilities(X, "gram_schmidt", "l2", [4]))
    assert p > ALPHA, p


@pytest.mark.parametrize("norm", ["l2", pytest.param("l1", marks=pytest.mark.slow)])
def test_fast_law_holds_across_refreshes(refresh_every_trial, norm):
    q = GramSchmidtQuery(norm=norm, method="fast", random_state=0)
    q.select(X, 2, labeled=[1])
    assert q.stats_["refreshes"] >= 1
    counts = pair_counts(lambda s: GramSchmidtQuery(norm=norm, method="fast", random_state=s), labeled=[1])
    p = chi_square_p(counts, exact_pair_probabilities(X, "gram_schmidt", norm, [1]))
    assert p > ALPHA, p


def test_the_test_detects_a_biased_sampler():
    """Squared-norm (RPCholesky-style) draws are rejected: the chi-square test has power."""
    rng = np.random.default_rng(0)
    counts = {}
    for _ in range(N_DRAWS):
        R = X.copy()
        w = np.einsum("ij,ij->i", R, R)
        i = int(rng.choice(5, p=w / w.sum()))
        q = R[i] / np.linalg.norm(R[i])
        R -= np.outer(R @ q, q)
        w = np.einsum("ij,ij->i", R, R)
        w[i] = 0
        j = int(rng.choice(5, p=w / w.sum()))
        counts[(i, j)] = counts.get((i, j), 0) + 1
    assert chi_square_p(counts, exact_pair_probabilities(X, "gram_schmidt", "l2")) < ALPHA


def heavy_tailed(n, d, rank, seed, dtype=np.float64):
    """Rows of low effective rank with log-normal norms, like real embeddings."""
    rng = np.random.default_rng(seed)
    spectrum = 1.0 / np.arange(1, d + 1)
    spectrum[rank:] *= 1e-2
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    F = (rng.normal(size=(n, d)) * spectrum) @ basis.T
    F *= rng.lognormal(sigma=1.0, size=(n, 1)) / np.linalg.norm(F, axis=1, keepdims=True)
    return F.astype(dtype)


def third_pick_counts(method, F, n_draws, labeled=None):
    picks = [
        GramSchmidtQuery(method=method, random_state=1000 * (method == "fast") + s).select(F, 3, labeled)[2]
        for s in range(n_draws)
    ]
    return np.bincount(picks, minlength=F.shape[0])


def test_plain_and_fast_agree_in_distribution_deeper_in():
    """Third picks on 30 heavy-tailed rows: a two-sample chi-square of plain vs fast."""
    F = heavy_tailed(30, 5, 3, seed=3)
    plain = third_pick_counts("plain", F, 1500, labeled=[0])
    fast = third_pick_counts("fast", F, 1500, labeled=[0])
    table = np.vstack([plain, fast])
    table = table[:, table.sum(0) >= 10]  # cells with enough mass for the test
    assert stats.chi2_contingency(table).pvalue > ALPHA


@pytest.mark.parametrize("norm", ["l2", "l1", "linf"])
@pytest.mark.parametrize("labeled", [None, [3, 17]])
def test_deterministic_fast_takes_the_same_maxima_as_plain(norm, labeled):
    F = heavy_tailed(400, 12, 4, seed=5)
    plain = GramSchmidtQuery(norm=norm, randomized=False, method="plain").select(F, 10, labeled)
    fast = GramSchmidtQuery(norm=norm, randomized=False, method="fast").select(F, 10, labeled)
    np.testing.assert_array_equal(fast, plain)


def test_scores_are_the_residual_norms_at_pick_time():
    F = heavy_tailed(200, 6, 3, seed=2)
    q = GramSchmidtQuery(method="fast", random_state=0)
    idx, scores = q.select_with_scores(F, 4, labeled=[5])
    basis = F[[5]]
    for i, s in zip(idx, scores):
        Q = np.linalg.qr(basis.T)[0]
        assert s == pytest.approx(np.linalg.norm(F[i] - Q @ (Q.T @ F[i])), rel=1e-9)
        basis = np.vstack([basis, F[i]])


def test_auto_is_fast_and_seeded_runs_repeat():
    F = heavy_tailed(500, 8, 3, seed=0)
    a = GramSchmidtQuery(random_state=7).select(F, 6)
    b = GramSchmidtQuery(random_state=7, method="fast").select(F, 6)
    np.testing.assert_array_equal(a, b)
    assert np.linalg.matrix_rank(F[a]) == 6


@pytest.mark.parametrize("randomized", [True, False])
def test_exhaustion_falls_back_like_the_plain_path(randomized):
    F = np.vstack([np.eye(3), np.eye(3), np.zeros((2, 3))])  # rank 3, duplicates, zero rows
    with pytest.warns(RuntimeWarning, match="residuals vanished after 3 picks"):
        idx = GramSchmidtQuery(random_state=0, method="fast", randomized=randomized, exhausted="norm").select(
            F, 7
        )
    assert np.unique(idx).size == 7
    assert np.linalg.matrix_rank(F[idx[:3]]) == 3
    # the fill draws by norm: the zero rows come only after every positive-norm row
    assert set(idx[3:6].tolist()) == set(range(6)) - set(idx[:3].tolist())


def test_exhaustion_of_a_low_rank_pool_below_d():
    """Rank 4 in 10-D: the fast path must certify that every residual vanished."""
    rng = np.random.default_rng(0)
    F = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 10))
    with pytest.warns(RuntimeWarning, match="vanished after 4 picks"):
        idx = GramSchmidtQuery(random_state=0, method="fast", exhausted="norm").select(F, 6)
    assert np.linalg.matrix_rank(F[idx[:4]]) == 4


def test_labeled_span_is_avoided():
    F = np.vstack([np.eye(4), np.eye(4) * 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idx = GramSchmidtQuery(random_state=0, method="fast").select(F, 2, labeled=[0, 1])
    assert set(idx.tolist()) <= {2, 3, 6, 7}
    assert {int(i) % 4 for i in idx} == {2, 3}


def test_bounds_hold_on_heavy_tailed_float32_up_to_full_rank(refresh_every_trial):
    F = heavy_tailed(3000, 16, 4, seed=1, dtype=np.float32)
    q = GramSchmidtQuery(method="fast", random_state=0, exhausted="norm")
    with pytest.warns(RuntimeWarning, match="vanished after 16 picks"):
        idx = q.select(F, 20)
    assert q.stats_["bound_violations"] == 0
    assert q.stats_["refreshes"] > 1
    assert np.linalg.matrix_rank(F[idx[:16]].astype(np.float64)) == 16


def test_read_only_memory_map_is_not_copied(tmp_path):
    F = heavy_tailed(100_000, 64, 8, seed=4, dtype=np.float32)
    np.save(tmp_path / "f.npy", F)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    tracemalloc.start()
    try:
        q = GramSchmidtQuery(method="fast", random_state=0)
        idx = q.select(mm, 40, labeled=np.arange(5))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert idx.shape == (40,) and not np.isin(idx, np.arange(5)).any()
    # O(N) vectors and one float64 block; a copy of X alone would be F.nbytes
    assert peak < 0.5 * F.nbytes, (peak, F.nbytes)
    np.testing.assert_array_equal(mm, F)


def test_torch_kernels_give_the_same_picks():
    pytest.importorskip("torch")
    F = heavy_tailed(800, 10, 3, seed=6)
    for randomized in (True, False):
        a = GramSchmidtQuery(method="fast", randomized=randomized, random_state=3).select(F, 8, [1])
        b = GramSchmidtQuery(method="torch", randomized=randomized, random_state=3).select(F, 8, [1])
        np.testing.assert_array_equal(a, b)
