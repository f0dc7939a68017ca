"""The shared numerics (subsel_plugins.kernels): one definition each, checked against the definitions."""

import numpy as np
import pytest

from subsel_plugins import kernels
from subsel_plugins.errors import InvalidValueError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 6))


@pytest.mark.parametrize("fn", [kernels.row_norms, kernels.residual_norms])
def test_norm_kernels_refuse_an_unknown_norm_instead_of_taking_linf(fn):
    with pytest.raises(InvalidValueError, match="'l3'"):
        fn(X, "l3")


@pytest.mark.parametrize("norm,ord_", [("l2", 2), ("l1", 1), ("linf", np.inf)])
def test_norms_are_the_norms(norm, ord_):
    ref = np.linalg.norm(X, ord=ord_, axis=1)
    np.testing.assert_allclose(kernels.row_norms(X, norm, block_rows=7), ref)
    np.testing.assert_allclose(kernels.residual_norms(X, norm), ref)


def test_weight_bound_factor_bounds_each_norm_by_l2():
    for norm in ("l2", "l1", "linf"):
        c = kernels.weight_bound_factor(norm, X.shape[1])
        assert np.all(kernels.residual_norms(X, norm) <= c * kernels.residual_norms(X, "l2") + 1e-12)


def test_project_out_leaves_the_orthogonal_complement():
    Q = kernels.orthonormal_basis(X[:3])
    R = kernels.project_out(X, Q)
    np.testing.assert_allclose(R @ Q.T, 0.0, atol=1e-12)
    np.testing.assert_allclose(R[:3], 0.0, atol=1e-12)
    np.testing.assert_allclose(kernels.project_out(X, Q[:0]), X)  # empty basis: the rows


def test_residual_bounds_exceed_the_residuals_they_bound():
    Q = kernels.orthonormal_basis(X[:4])
    R = kernels.project_out(X, Q)
    sqn = np.einsum("ij,ij->i", X, X)
    res2 = sqn - np.einsum("ij,ij->i", X @ Q.T, X @ Q.T)
    rel = kernels.bound_slack(kernels.sq_norm_rel_error(np.float64, 6), 6, 4)
    b = kernels.residual_bounds(res2, sqn, rel, 1.0)
    assert np.all(b >= np.sqrt(np.einsum("ij,ij->i", R, R)))


def test_sq_distance_blocks_cover_the_whole_matrix(monkeypatch):
    monkeypatch.setattr(kernels, "DISTANCE_ROW_BLOCK", 7)
    monkeypatch.setattr(kernels, "DISTANCE_COL_BLOCK", 11)
    D = np.zeros((40, 40))
    for pos, cols, D2 in kernels.sq_distance_blocks(X):
        D[pos, cols] = D2
    ref = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(D, ref, atol=1e-4)
    np.testing.assert_allclose(
        kernels.pair_sq_distances(X[:5].astype(np.float32), X.astype(np.float32)), ref[:5], atol=1e-4
    )


def test_norm_sample_among_draws_only_from_the_mask():
    mask = np.zeros(40, dtype=bool)
    mask[[3, 9, 17, 30]] = True
    got = kernels.norm_sample_among(X, "l2", mask, 4, np.random.default_rng(1))
    assert sorted(got.tolist()) == [3, 9, 17, 30]


def test_unit_rows_are_the_float64_quotients_whatever_the_block():
    # each row divided by its largest magnitude, then by its l2 norm, in float64: rows of any
    # finite scale normalize (no float32 under/overflow), zero rows stay zero, and the bits
    # do not depend on the block size (the Dask pools normalize other splits of the rows)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 7)) * rng.lognormal(0, 4, size=(300, 1))
    X[0] *= 1e-300
    X[1] *= 1e300
    X[2] = 0.0
    X[3] = -np.abs(X[3])  # largest magnitude negative
    P = X / np.abs(X).max(axis=1, keepdims=True).clip(min=np.finfo(float).tiny)
    want = (P / np.linalg.norm(P, axis=1, keepdims=True).clip(min=np.finfo(float).tiny)).astype(np.float32)
    want[2] = 0.0
    got = kernels.unit_rows_float32(X)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(got[[0, 1, 3]], axis=1), 1.0, rtol=1e-6)
    for block in (1, 7, 299, 300, 10_000):
        np.testing.assert_array_equal(
            kernels.unit_rows_float32(X, block_rows=block).view(np.int32), got.view(np.int32)
        )
    np.testing.assert_array_equal(kernels.unit_rows_float32(X[:0]), np.empty((0, 7), np.float32))


# -- the k nearest squared distances (TypiClust's typicality) -------------------------


def _brute_knn(B, Q, k):
    D = ((Q[:, None, :].astype(np.float64) - B[None, :, :].astype(np.float64)) ** 2).sum(-1)
    return np.sort(D, axis=1)[:, :k]


@pytest.fixture(params=["1", "0"], ids=["faiss", "numpy"])
def knn_backend(request, monkeypatch):
    if request.param == "1":
        pytest.importorskip("faiss")
    monkeypatch.setenv("SUBSEL_FAISS", request.param)
    return request.param


@pytest.mark.parametrize("d", [3, 64, 768])
def test_knn_sq_distances_are_the_k_smallest_exact_distances(knn_backend, d):
    rng = np.random.default_rng(d)
    for nb, nq, k in [(1, 4, 1), (7, 3, 7), (300, 50, 1), (300, 50, 21), (900, 130, 40), (40, 600, 3)]:
        B = rng.standard_normal((nb, d)).astype(np.float32)
        Q = rng.standard_normal((nq, d)).astype(np.float32)
        B[: nb // 3] = B[0]  # ties: a third of the rows at one point
        got = kernels.knn_sq_distances(B, Q, k)
        assert got.shape == (nq, k) and got.dtype == np.float64
        np.testing.assert_allclose(got, _brute_knn(B, Q, k), rtol=2e-6, atol=1e-6)
    assert kernels.knn_sq_distances(B, Q[:0], 3).shape == (0, 3)
    assert kernels.knn_sq_distances(B, Q, 0).shape == (Q.shape[0], 0)
    with pytest.raises(ValueError, match="k=41"):
        kernels.knn_sq_distances(B, Q, 41)


@pytest.mark.parametrize("d", [8, 384, 768, 1024])
def test_knn_sq_distances_have_the_same_bits_however_base_and_queries_are_split(knn_backend, d):
    """What TypiClust on Dask relies on: the k nearest of each group of chunks, merged, are the
    whole cluster's to the bit (faiss's own search is not, from d = 512 on)."""
    rng = np.random.default_rng(d + 1)
    for _ in range(6):
        nb, nq, k = int(rng.integers(60, 700)), int(rng.integers(2, 300)), int(rng.integers(1, 22))
        B = rng.standard_normal((nb, d)).astype(np.float32)
        B /= np.linalg.norm(B, axis=1, keepdims=True)
        Q = rng.standard_normal((nq, d)).astype(np.float32)
        Q /= np.linalg.norm(Q, axis=1, keepdims=True)
        whole = kernels.knn_sq_distances(B, Q, k)
        cuts = np.sort(rng.choice(np.arange(k, nb - k), 2, replace=False))
        parts = [kernels.knn_sq_distances(P, Q, min(k, len(P))) for P in np.split(B, cuts)]
        np.testing.assert_array_equal(np.sort(np.concatenate(parts, axis=1), axis=1)[:, :k], whole)
        q = int(rng.integers(1, nq))
        halves = [kernels.knn_sq_distances(B, Q[:q], k), kernels.knn_sq_distances(B, Q[q:], k)]
        np.testing.assert_array_equal(np.concatenate(halves), whole)
        order = rng.permutation(nb)
        np.testing.assert_array_equal(kernels.knn_sq_distances(B[order], Q, k), whole)


def test_knn_sq_distances_recompute_where_the_float32_product_cancels(knn_backend):
    """Rows far from the origin and near each other: the product's rounding (about 1e-3 here)
    exceeds the gaps between the distances, the preselection is not trusted, and the distances
    are still the exact k smallest."""
    rng = np.random.default_rng(5)
    centre = np.full(64, 30.0)
    B = (centre + rng.standard_normal((400, 64)) * 0.05).astype(np.float32)
    Q = (centre + rng.standard_normal((20, 64)) * 0.05).astype(np.float32)
    got = kernels.knn_sq_distances(B, Q, 5)
    np.testing.assert_allclose(got, _brute_knn(B, Q, 5), rtol=1e-5)


def test_knn_preselection_in_blocks_and_by_either_search_gives_the_same_distances(monkeypatch):
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    B = rng.standard_normal((500, 16)).astype(np.float32)
    Q = rng.standard_normal((70, 16)).astype(np.float32)
    want = kernels.knn_sq_distances(B, Q, 9)
    got = []
    threshold = faiss.cvar.distance_compute_blas_threshold
    try:
        faiss.cvar.distance_compute_blas_threshold = 1  # faiss's search (its BLAS path)
        got.append(kernels.knn_sq_distances(B, Q, 9))
        faiss.cvar.distance_compute_blas_threshold = 10**9  # the product here, in small blocks
        monkeypatch.setattr(kernels, "DISTANCE_ROW_BLOCK", 16)
        monkeypatch.setattr(kernels, "DISTANCE_COL_BLOCK", 37)
        got.append(kernels.knn_sq_distances(B, Q, 9))
        monkeypatch.setattr(kernels, "FOLD_TEMP_ELEMENTS", 300)  # the exact fallback in column blocks
        monkeypatch.setattr(kernels, "KNN_TOL_SAFETY", 1e9)  # no preselection is trusted
        got.append(kernels.knn_sq_distances(B, Q, 9))
    finally:
        faiss.cvar.distance_compute_blas_threshold = threshold
    for g in got:
        np.testing.assert_array_equal(g, want)


def test_pair_sq_distances_exact_are_each_pairs_distance(knn_backend):
    rng = np.random.default_rng(3)
    B = rng.standard_normal((50, 20)).astype(np.float32)
    Q = rng.standard_normal((7, 20)).astype(np.float32)
    ids = rng.integers(0, 50, size=(7, 9))
    want = ((Q[:, None, :].astype(np.float64) - B[ids].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_allclose(kernels.pair_sq_distances_exact(Q, B, ids), want, rtol=1e-6)
    assert kernels.pair_sq_distances_exact(Q, B, ids[:, :0]).shape == (7, 0)


def test_a_preselection_is_trusted_only_where_its_margin_beats_the_rounding(knn_backend, monkeypatch):
    """The preselection replaced by one whose distances err by up to 0.9 of the tolerance the
    kernel allows (adversarial rounding): the k-th nearest and the last preselected are then
    within the tolerance, so the distances are computed over every row, and stay exact, even
    when the nearest row is far ahead of the rest. On well-spread rows few are recomputed."""
    rng = np.random.default_rng(8)
    d, nb, nq, k = 32, 300, 25, 3
    Q = rng.standard_normal((nq, d)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    B = np.empty((nb, d), np.float32)
    B[0] = Q[0]  # one row at distance 0 from the first query
    # the rest around the first query at squared distances 1 + i s, s = tol / 20: scrambled by
    # the rounding allowed, and 20 times the float32 rounding of the exact distances
    u = 2.0**-24
    tol = kernels.KNN_TOL_SAFETY * (2 * d * u / (1 - d * u) + 8 * u) * (1.0 + 1.01) ** 2
    dirs = rng.standard_normal((nb - 1, d))
    radii = np.sqrt(1.0 + (tol / 20) * rng.permutation(nb - 1))
    B[1:] = Q[0] + dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * radii[:, None]
    assert np.sqrt((B.astype(np.float64) ** 2).sum(1).max()) < 2.01  # the bound's max |b|
    real = kernels._preselect
    redone = []

    def adversarial(B_, Q_, m, b_sq):
        exact = ((Q_[:, None, :].astype(np.float64) - B_[None].astype(np.float64)) ** 2).sum(-1)
        noisy = exact + rng.uniform(-0.9, 0.9, exact.shape) * tol
        ids = np.argsort(noisy, axis=1)[:, :m]
        return np.take_along_axis(noisy, ids, axis=1), ids

    monkeypatch.setattr(kernels, "_preselect", adversarial)
    got = kernels.knn_sq_distances(B, Q, k)
    np.testing.assert_allclose(got, _brute_knn(B, Q, k), rtol=0, atol=1e-6)
    # on well-spread rows the real preselection is trusted: almost no query is recomputed
    monkeypatch.setattr(kernels, "_preselect", real)
    real_all = kernels._knn_exact_all
    monkeypatch.setattr(kernels, "_knn_exact_all", lambda *a: redone.append(a[0].shape[0]) or real_all(*a))
    S = rng.standard_normal((2000, 384)).astype(np.float32)
    S /= np.linalg.norm(S, axis=1, keepdims=True)
    kernels.knn_sq_distances(S, S[:128], 21)
    kernels.knn_sq_distances(S[:512], S, 3)
    assert sum(redone) <= 0.01 * (128 + 2000)


# -- the screened one-center fold (k-center greedy) ----------------------------------


def _fold_both(X, centers, mind0):
    """Fold each center one at a time, directly and screened: the two ``mind`` arrays."""
    sq = kernels.sq_row_norms64(X)
    direct, screened = mind0.copy(), mind0.copy()
    for c in centers:
        kernels.fold_min_sq_distances(direct, X, c[None], None)
        kernels.fold_min_sq_distances(screened, X, c[None], sq)
        assert np.array_equal(direct, screened)
    return direct, screened


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 3, 64, 384, 768])
def test_the_screened_fold_gives_the_direct_folds_bits(dtype, d):
    rng = np.random.default_rng(d)
    X = rng.standard_normal((3000, d)).astype(dtype)
    X[10] = X[11]  # a duplicate: distance 0 to its twin as a center
    mind0 = np.full(len(X), np.inf)
    mind0[[0, 5]] = -np.inf  # out of the race: stay there
    direct, _ = _fold_both(X, X[[11, *rng.integers(len(X), size=40)]], mind0)
    assert direct[10] == 0.0 and np.all(direct[[0, 5]] == -np.inf)
    brute = ((X.astype(np.float64)[:, None, :] - X[[11]].astype(np.float64)[None]) ** 2).sum(-1)
    assert np.isfinite(direct[1:5]).all() and np.all(direct[1:5] <= brute[1:5, 0])


def test_the_screened_fold_is_exact_where_the_float32_product_cancels():
    # rows far from the origin: the float32 estimate's error dwarfs the distances,
    # so nearly every row must be computed directly (a bound that is too tight
    # keeps a row's old distance where the direct formula lowers it)
    rng = np.random.default_rng(1)
    X = (1000.0 + 0.01 * rng.standard_normal((2000, 384))).astype(np.float32)
    _fold_both(X, X[rng.integers(len(X), size=25)], np.full(len(X), np.inf))


def test_the_screen_computes_only_the_rows_that_may_get_nearer(monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20000, 64)).astype(np.float32)
    sq = kernels.sq_row_norms64(X)
    mind = np.full(len(X), np.inf)
    for c in X[:50]:
        kernels.fold_min_sq_distances(mind, X, c[None], sq)
    seen = []
    real = kernels._fold_one_direct
    monkeypatch.setattr(kernels, "_fold_one_direct", lambda m, b, c: (seen.append(len(m)), real(m, b, c)))
    before = mind.copy()
    kernels.fold_min_sq_distances(mind, X, X[60][None], sq)
    lowered = int(np.sum(mind < before))
    # every lowered row was computed, and hardly any other (well-spread rows, 51 centers)
    assert lowered >= 1 and lowered <= sum(seen) <= lowered + len(X) // 100


def test_fold_screen_bounds_bound_the_estimates_error():
    rng = np.random.default_rng(3)
    for d, scale, offset in [(8, 1.0, 0.0), (384, 1.0, 0.0), (384, 0.01, 50.0), (1024, 1e3, 1e4)]:
        X = (offset + scale * rng.standard_normal((500, d))).astype(np.float32)
        c = X[7].astype(np.float64)
        t = X @ X[7]
        A, E = kernels.fold_screen_bounds(t, kernels.sq_row_norms64(X), float(c @ c), d, np.float32)
        diff = X[:60].astype(np.longdouble) - c.astype(np.longdouble)
        exact = np.array([sum(r * r for r in row) for row in diff])  # long double, summed in order
        err = np.abs(A[:60].astype(np.longdouble) - exact)
        assert np.all(err <= E[:60]), (d, float((err / E[:60]).max()))
        assert np.all(E > 0)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_fold_screen_bounds_hold_for_the_worst_product_the_model_allows(scale):
    # t anywhere within g ||x|| ||c|| of x.c (Higham's bound for a float32 dot
    # product of length d): E still bounds |A - ||x - c||^2|; rows with norms
    # below and above 1, so a bound mixing ||c|| and ||c||^2 fails one of them
    rng = np.random.default_rng(4)
    d = 384
    X = (scale * rng.standard_normal((50, d))).astype(np.float32)
    c = X[0].astype(np.float64)
    L = X.astype(np.longdouble)
    dot = L @ c.astype(np.longdouble)
    u = np.finfo(np.float32).eps / 2
    g = (d + 2) * u / (1 - (d + 2) * u)
    allow = g * np.sqrt((L * L).sum(1)) * np.sqrt(np.longdouble(c @ c)) * 0.999
    exact = ((L - c.astype(np.longdouble)) ** 2).sum(1)
    for sign in (1, -1):
        t = (dot + sign * allow).astype(np.float64)
        A, E = kernels.fold_screen_bounds(t, kernels.sq_row_norms64(X), float(c @ c), d, np.float32)
        assert np.all(np.abs(A.astype(np.longdouble) - exact) <= E)
