"""The fast Gram-Schmidt path against three bugs planted in it (issue 19, item 7).

Each test here failed on one hand-planted one-line mutant of
``subsel_plugins/strategies/_gram_schmidt.py`` that the rest of the suite let
through (``benchmarks/planted_bugs.md`` has the diffs and the commands to
replay them):

(a) the deterministic search treating stale weights (upper bounds, computed
    against an older basis) as exact ones: only visible where the bounds are
    not refreshed after every pick, on pools of thousands of rows;
(b) the torch kernels' basis cache keyed by the shape of the new basis
    vectors only: visible once two refreshes add the same number of vectors;
(c) the deterministic search visiting rows in ascending instead of
    descending bound order: the same picks, at the cost of evaluating every
    row (visible only in ``stats_['exact_rows']``).

Public API and ``stats_`` only, so the tests hold across rewrites of the
sampler's internals.
"""

import numpy as np
import pytest

from subsel_plugins import GramSchmidtQuery

# A pool where the deterministic fast path refreshes its bounds far less
# often than it picks (7 refreshes for 30 picks at b834a35): between
# refreshes the search must re-evaluate stale rows. At 10,000 x 32 it still
# refreshes after nearly every pick; at 400 rows (every other deterministic
# test) after every pick.
N_ROWS, N_DIMS, BUDGET = 20_000, 32, 30
# The residual of a row in the span of the chosen ones is rounding noise
# below this fraction of its norm (the plain path's rule).
DEAD_RTOL = 1e-9


def gaussian_pool(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d))


def brute_force_gs(X, budget, labeled=()):
    """Deterministic GS with pivoting (l2) on a dense residual matrix: (indices, scores).

    At each pick: every residual's norm, the argmax (ties to the smaller
    index, as ``np.argmax``) among unchosen, unlabeled rows not in the span,
    then its direction projected out of every residual. The span of
    ``labeled`` is projected out first.
    """
    R = np.array(X, dtype=np.float64)
    floor = DEAD_RTOL * np.linalg.norm(R, axis=1)
    taken = np.zeros(R.shape[0], dtype=bool)
    for j in labeled:
        taken[j] = True
        norm_j = np.linalg.norm(R[j])
        if norm_j > floor[j]:
            q = R[j] / norm_j
            R -= np.outer(R @ q, q)
    indices, scores = [], []
    for _ in range(budget):
        l2 = np.sqrt(np.einsum("ij,ij->i", R, R))
        w = np.where(taken | (l2 <= floor), -np.inf, l2)
        i = int(np.argmax(w))
        assert np.isfinite(w[i]), "the reference ran out of directions: keep the budget below the rank"
        indices.append(i)
        scores.append(float(w[i]))
        taken[i] = True
        q = R[i] / l2[i]
        R -= np.outer(R @ q, q)
    return np.array(indices), np.array(scores)


@pytest.fixture(scope="module")
def stale_pool_run():
    """The pool of (a) and (c), and the deterministic fast path's picks, scores and stats on it."""
    X = gaussian_pool(N_ROWS, N_DIMS, seed=0)
    q = GramSchmidtQuery(randomized=False, method="fast")
    idx, scores = q.select_with_scores(X, BUDGET)
    return X, idx, scores, dict(q.stats_)


def test_pool_keeps_bounds_stale_between_refreshes(stale_pool_run):
    """The precondition of (a) and (c): far fewer refreshes than picks.

    Most picks then see bounds and evaluated weights from an older basis. If
    a change of the cost model makes this fail, enlarge the pool until it
    holds again: where a refresh follows every pick, (a) cannot tell stale
    weights from exact ones. (A search that computes many more exact rows
    than it needs, as mutant (c), also fails here: its cost makes the bounds
    refresh after every pick.)
    """
    *_, stats = stale_pool_run
    assert stats["refreshes"] <= BUDGET // 3, stats


def test_deterministic_fast_is_the_brute_force_argmax_pick_by_pick(stale_pool_run):
    """(a): each pick is the largest residual norm given the picks before it."""
    X, idx, scores, _ = stale_pool_run
    ref_idx, ref_scores = brute_force_gs(X, BUDGET)
    for t in range(BUDGET):  # pick by pick: the first divergence is the one to read
        assert idx[t] == ref_idx[t], f"pick {t}: fast took row {idx[t]}, the argmax is row {ref_idx[t]}"
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-9)


def test_deterministic_fast_is_the_brute_force_argmax_with_labeled_rows():
    """(a) with labeled rows, whose span the reference projects out first.

    On this pool the bounds are refreshed before most picks (16 refreshes for
    20 picks at b834a35), not all.
    """
    X = gaussian_pool(N_ROWS, 24, seed=1)
    budget, labeled = 20, [7, 19_000]
    q = GramSchmidtQuery(randomized=False, method="fast")
    idx, scores = q.select_with_scores(X, budget, labeled)
    ref_idx, ref_scores = brute_force_gs(X, budget, labeled)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-9)


def test_deterministic_search_evaluates_few_rows(stale_pool_run):
    """(c): an upper bound on the rows whose residual the deterministic search computes.

    Visiting rows in decreasing bound order, the search stops at the first
    bound below the best exact weight: on fresh bounds of a Gaussian pool one
    batch (32 rows) holds the argmax, and stale rows are re-evaluated in
    batches of 32 largest first, so it computes a few dozen rows per pick
    (1,007 rows for 30 picks at b834a35). The bound allows 100 per pick.
    A search in ascending bound order cannot stop before it has evaluated
    every live row once after each reordering (the start and every
    refresh): at least N - budget rows, 6x the bound here, and
    (refreshes + 1) (N - budget) in all.
    """
    *_, stats = stale_pool_run
    bound = 100 * BUDGET
    assert bound < (N_ROWS - BUDGET) / 4  # the bound is far below what ascending order must spend
    assert stats["exact_rows"] <= bound, stats


def test_torch_matches_numpy_when_refreshes_add_equal_counts():
    """(b): method='torch' on the CPU picks what method='fast' picks, across many refreshes.

    Every refresh folds at least one new basis vector into the bounds, and
    together they fold at most ``labeled + budget`` vectors. ``r`` refreshes
    of pairwise different sizes would fold at least ``r (r + 1) / 2``; so
    ``r (r + 1) / 2 > labeled + budget`` means two refreshes folded the same
    number of vectors, and a basis cache keyed by shape alone hands the
    second one the first one's vectors. The deterministic path on a pool of
    2,000 rows refreshes after every pick. (The randomized path refreshes
    too seldom on pools a test can afford to meet the condition.)
    """
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    X = gaussian_pool(2_000, 16, seed=2)
    budget, labeled = 12, [3]
    fast = GramSchmidtQuery(method="fast", randomized=False)
    torch_q = GramSchmidtQuery(method="torch", randomized=False)
    idx_f, sc_f = fast.select_with_scores(X, budget, labeled)
    idx_t, sc_t = torch_q.select_with_scores(X, budget, labeled)
    r = torch_q.stats_["refreshes"]
    assert r * (r + 1) / 2 > len(labeled) + budget, torch_q.stats_  # two refreshes of one size
    np.testing.assert_array_equal(idx_t, idx_f)
    np.testing.assert_allclose(sc_t, sc_f, rtol=1e-9)
    assert torch_q.stats_ == fast.stats_
