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
