"""The baselines' scaling changes keep their results: blocked search, memory maps, faiss."""

import tracemalloc

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from subsel_plugins import FeatureNormQuery, ProbCoverQuery, TypiClustQuery, kernels
from subsel_plugins._validation import check_features
from subsel_plugins.backends import _balls
from subsel_plugins.kernels import row_norms
from subsel_plugins.strategies import _probcover


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks far smaller than N, so every block edge is crossed."""
    monkeypatch.setattr(kernels, "DISTANCE_ROW_BLOCK", 64)
    monkeypatch.setattr(_balls, "DISTANCE_ROW_BLOCK", 64)
    monkeypatch.setattr(kernels, "DISTANCE_COL_BLOCK", 100)


@pytest.fixture
def no_faiss(monkeypatch):
    monkeypatch.setenv("SUBSEL_FAISS", "0")


def unit_rows(n, d, seed=0):
    return normalize(np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32))


def test_row_norms_float32_within_rounding_of_float64():
    X = np.random.default_rng(0).lognormal(size=(1000, 300)).astype(np.float32)
    X64 = X.astype(np.float64)
    for norm, ref in [
        ("l2", np.linalg.norm(X64, axis=1)),
        ("l1", np.abs(X64).sum(1)),
        ("linf", np.abs(X64).max(1)),
    ]:
        got = row_norms(X, norm, block_rows=128)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_finite_check_reports_the_row_and_tolerates_overflowing_sums():
    X = np.full((10, 4), 3e38, dtype=np.float32)  # finite, but the sum overflows
    assert check_features(X) is X
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match="first at row 7"):
        check_features(X)


def test_feature_norm_on_a_memory_map_matches_and_does_not_copy(tmp_path):
    X = np.random.default_rng(1).lognormal(size=(200_000, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    tracemalloc.start()
    try:
        idx = FeatureNormQuery(random_state=0).select(mm, 100, labeled=np.arange(10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(idx, FeatureNormQuery(random_state=0).select(X, 100, labeled=np.arange(10)))
    assert peak < 0.5 * X.nbytes, (peak, X.nbytes)


def test_blocked_distance_to_other_cluster_is_exact(small_blocks):
    F = unit_rows(700, 8)
    labels = np.random.default_rng(2).integers(0, 4, 700)
    ref = np.empty(700)
    for c in range(4):
        inside = labels == c
        ref[inside] = NearestNeighbors(n_neighbors=1).fit(F[~inside]).kneighbors(F[inside])[0][:, 0]
    np.testing.assert_allclose(_probcover.distance_to_other_cluster(F, labels), ref, atol=1e-5)


@pytest.mark.parametrize("use_faiss", [False, True])
def test_ball_graph_matches_radius_neighbours(small_blocks, monkeypatch, use_faiss):
    if use_faiss:
        pytest.importorskip("faiss")
    else:
        monkeypatch.setenv("SUBSEL_FAISS", "0")
    F = unit_rows(600, 6, seed=3)
    delta = 0.5
    A = _probcover.ball_graph(F, delta)
    dist, ind = NearestNeighbors(radius=delta).fit(F).radius_neighbors(F)
    # pairs within 1e-5 of the radius may fall either way in float32 rounding
    for i in range(F.shape[0]):
        sure = set(ind[i][dist[i] < delta - 1e-5].tolist())
        maybe = set(ind[i][dist[i] < delta + 1e-5].tolist())
        got = set(A[i].indices.tolist())
        assert sure <= got <= maybe, i
    assert A.has_sorted_indices


@pytest.mark.parametrize("use_faiss", [False, True])
def test_typicality_neighbours_match_sklearn(monkeypatch, use_faiss):
    if use_faiss:
        pytest.importorskip("faiss")
    else:
        monkeypatch.setenv("SUBSEL_FAISS", "0")
    F = unit_rows(500, 10, seed=4)
    ref = NearestNeighbors(n_neighbors=8).fit(F).kneighbors(F)[0][:, 1:] ** 2
    np.testing.assert_allclose(kernels.nearest_sq_distances(F, 7), ref, atol=1e-5)


def test_large_pools_cluster_with_minibatch_kmeans(monkeypatch):
    monkeypatch.setattr(kernels, "KMEANS_FULL_MAX_ROWS", 100)
    F = unit_rows(400, 5, seed=5)
    expected = MiniBatchKMeans(n_clusters=10, batch_size=5000, n_init=3, random_state=7).fit_predict(F)
    np.testing.assert_array_equal(kernels.kmeans_labels(F, 10, 7), expected)


def test_probcover_selection_does_not_depend_on_block_size(monkeypatch, no_faiss):
    X = np.random.default_rng(6).normal(size=(800, 6))
    big = ProbCoverQuery(random_state=0).select(X, 12, labeled=[0, 1])
    monkeypatch.setattr(kernels, "DISTANCE_ROW_BLOCK", 50)
    monkeypatch.setattr(_balls, "DISTANCE_ROW_BLOCK", 50)
    monkeypatch.setattr(kernels, "DISTANCE_COL_BLOCK", 130)
    np.testing.assert_array_equal(ProbCoverQuery(random_state=0).select(X, 12, labeled=[0, 1]), big)


def test_baselines_run_on_a_read_only_memory_map(tmp_path, no_faiss):
    X = np.random.default_rng(7).normal(size=(600, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    for cls in (TypiClustQuery, ProbCoverQuery):
        idx = cls(random_state=0).select(mm, 8, labeled=[0])
        np.testing.assert_array_equal(idx, cls(random_state=0).select(X, 8, labeled=[0]))
