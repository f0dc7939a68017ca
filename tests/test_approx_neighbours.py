"""The approximate paths of TypiClust and ProbCover (large pools), against their exact versions.

Each approximate piece is checked for what it promises: k-means on a sample
assigns every row to its nearest centroid (faiss and scikit-learn agree from the
same seeds); approximate typicality re-scores its candidates exactly and finds
the exact argmax on clustered data; the inverted-file purity distances are
never below the exact ones and equal them when every cell is probed; the
approximate ball graph holds only true edges, all of them when every cell is
probed; and on blobs the approximate strategies choose as well as the exact ones.
"""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from subsel_plugins import ProbCoverQuery, TypiClustQuery
from subsel_plugins.errors import InvalidTypeError, InvalidValueError
from subsel_plugins.strategies import _probcover, _typiclust

pytest.importorskip("faiss")  # the faiss-cpu wheel is in the test extra


def unit_blobs(n, d=16, centers=12, seed=0, std=1.0):
    X, y = make_blobs(n, n_features=d, centers=centers, cluster_std=std, random_state=seed)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


@pytest.fixture(params=["1", "0"], ids=["faiss", "sklearn"])
def backend(request, monkeypatch):
    monkeypatch.setenv("SUBSEL_FAISS", request.param)
    return request.param


# -- parameters ------------------------------------------------------------------


@pytest.mark.parametrize("cls", [TypiClustQuery, ProbCoverQuery])
def test_approximate_parameter_errors_name_it(cls):
    X, _ = unit_blobs(50)
    with pytest.raises(InvalidValueError, match="approximate"):
        cls(approximate="always").select(X, 2)
    with pytest.raises(InvalidTypeError, match="approximate"):
        cls(approximate=1).select(X, 2)


@pytest.mark.parametrize("cls", [TypiClustQuery, ProbCoverQuery])
def test_auto_is_approximate_strictly_above_the_threshold(cls, monkeypatch):
    X, _ = unit_blobs(300)
    monkeypatch.setattr(_typiclust, "APPROX_MIN_ROWS", 300)
    q = cls(random_state=0)
    q.select(X, 3)
    assert q.approximate_ is False
    q.select(X[:299], 3)
    assert q.approximate_ is False
    monkeypatch.setattr(_typiclust, "APPROX_MIN_ROWS", 299)
    q.select(X, 3)
    assert q.approximate_ is True
    q = cls(random_state=0, approximate=False)
    q.select(X, 3)
    assert q.approximate_ is False


# -- k-means on a sample ----------------------------------------------------------


def test_nearest_centroid_is_the_argmin():
    rng = np.random.default_rng(1)
    F = rng.standard_normal((700, 8)).astype(np.float32)
    C = rng.standard_normal((9, 8)).astype(np.float32)
    D = ((F[:, None, :] - C[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(_typiclust.nearest_centroid(F, C), D.argmin(1))


def test_sample_kmeans_faiss_and_sklearn_agree():
    """Same seeds, same Lloyd iterations: the same clusters while no cluster empties
    (an emptied cluster is split by faiss but moved to a far point by scikit-learn)."""
    F, _ = unit_blobs(6000, centers=8, seed=3, std=0.4)
    out = {}
    for flag in ("1", "0"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SUBSEL_FAISS", flag)
            out[flag] = _typiclust.sample_kmeans(F, 8, 5)
    np.testing.assert_array_equal(out["1"][0], out["0"][0])
    np.testing.assert_allclose(out["1"][1], out["0"][1], atol=1e-4)


def test_sample_kmeans_labels_every_row_with_its_nearest_centroid(backend, monkeypatch):
    monkeypatch.setattr(_typiclust, "MAX_POINTS_PER_CENTROID", 40)  # a real sample: 400 of 5000
    F, y = unit_blobs(5000, centers=10, seed=2, std=0.5)
    labels, C = _typiclust.sample_kmeans(F, 10, 0)
    assert C.shape == (10, 16) and labels.shape == (5000,)
    np.testing.assert_array_equal(labels, _typiclust.nearest_centroid(F, C))
    # well-separated blobs: each cluster is one blob
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, labels) > 0.95


# -- approximate typicality --------------------------------------------------------


def test_most_typical_approx_score_is_the_exact_typicality(backend):
    rng = np.random.default_rng(0)
    G = rng.standard_normal((1500, 12)).astype(np.float32)
    pos, score = _typiclust.most_typical_approx(G, 20, np.random.default_rng(1))
    exact = _typiclust.typicality(G, 20)
    assert score == pytest.approx(exact[pos], rel=1e-4)
    # on a heavy-tailed cloud the true peak of density is found
    assert exact[pos] >= np.sort(exact)[-3]


def test_most_typical_approx_finds_a_planted_dense_core(backend):
    rng = np.random.default_rng(4)
    G = rng.standard_normal((3000, 10)).astype(np.float32)
    G[1234] = 0.0  # the densest point: centre of the Gaussian cloud
    G[:1234] *= 1.3
    G[1235:] *= 1.3
    pos, _ = _typiclust.most_typical_approx(G, 20, np.random.default_rng(0))
    assert pos == int(np.argmax(_typiclust.typicality(G, 20)))


def test_approximate_typiclust_small_clusters_are_exact(monkeypatch):
    """Clusters of at most REFS + CANDIDATES members keep the exact choice."""
    X, _ = unit_blobs(900, centers=6, seed=1)
    exact = TypiClustQuery(random_state=0, approximate=False)
    approx = TypiClustQuery(random_state=0, approximate=True)
    labels = _typiclust.sample_kmeans_labels(X, 6, 0)
    monkeypatch.setattr(_typiclust, "kmeans_labels", lambda F, k, seed: labels)
    monkeypatch.setattr(_typiclust, "sample_kmeans_labels", lambda F, k, seed: labels)
    np.testing.assert_array_equal(exact.select(X, 12), approx.select(X, 12))


def test_approximate_typiclust_covers_the_blobs_as_exact_does(backend):
    X, y = unit_blobs(20000, d=24, centers=15, seed=7, std=1.5)
    idx_a = TypiClustQuery(random_state=0, approximate=True).select(X, 15)
    idx_e = TypiClustQuery(random_state=0, approximate=False).select(X, 15)
    assert len(set(idx_a)) == 15
    assert len(set(y[idx_a])) >= len(set(y[idx_e])) - 1
    # the picks are typical: mean typicality (within their blob) near exact's
    typ = np.zeros(len(y))
    for c in range(15):
        typ[y == c] = _typiclust.typicality(X[y == c], 20)
    assert typ[idx_a].mean() >= 0.9 * typ[idx_e].mean()


# -- ProbCover's inverted file ----------------------------------------------------------


def test_cells_partition_the_rows_and_probe_themselves_first():
    F, _ = unit_blobs(2000, centers=5)
    cells = _probcover.Cells.build(F, 0, n_cells=20, n_probe=4)
    allrows = np.sort(np.concatenate(cells.members))
    np.testing.assert_array_equal(allrows, np.arange(2000))
    for c, m in enumerate(cells.members):
        assert (cells.cell[m] == c).all()
    np.testing.assert_array_equal(cells.order[:, 0], np.arange(20))
    assert sum(1 for _ in cells) == sum(m.size > 0 for m in cells.members)


@pytest.mark.parametrize("row_block", [1024, 7])
def test_purity_distances_exact_when_every_cell_is_probed(backend, monkeypatch, row_block):
    monkeypatch.setattr(_probcover, "_ROW_BLOCK", row_block)  # blocks within a cell
    F, y = unit_blobs(1500, centers=6, seed=2, std=2.0)
    exact = _probcover.distance_to_other_cluster(F, y)
    cells = _probcover.Cells.build(F, 0, n_cells=12, n_probe=12)
    np.testing.assert_allclose(_probcover.distance_to_other_cluster_approx(F, y, cells), exact, atol=1e-3)


def test_purity_distances_never_below_exact_and_finite_with_few_probes(backend):
    F, y = unit_blobs(3000, centers=4, seed=5, std=0.3)  # separated: most cells hold one label
    exact = _probcover.distance_to_other_cluster(F, y)
    cells = _probcover.Cells.build(F, 0, n_cells=40, n_probe=2)
    approx = _probcover.distance_to_other_cluster_approx(F, y, cells)
    assert np.isfinite(approx).all()  # the probe skips cells without another label
    assert (approx >= exact - 1e-3).all()
    # the nearest cells holding another label hold the boundary rows
    assert np.mean(np.isclose(approx, exact, atol=1e-3)) > 0.5


@pytest.mark.parametrize("row_block", [1024, 7])
def test_ball_graph_approx_exact_when_every_cell_is_probed(backend, monkeypatch, row_block):
    monkeypatch.setattr(_probcover, "_ROW_BLOCK", row_block)
    F, _ = unit_blobs(1200, centers=5, seed=1, std=2.0)
    delta = 0.3
    exact = _probcover.ball_graph(F, delta)
    cells = _probcover.Cells.build(F, 0, n_cells=10, n_probe=10)
    A = _probcover.ball_graph_approx(F, delta, cells)
    assert (A != exact).nnz == 0
    np.testing.assert_array_equal(A.indptr, exact.indptr)
    np.testing.assert_array_equal(A.indices, exact.indices)


def test_ball_graph_approx_holds_only_true_edges_and_most_of_them(backend):
    F, _ = unit_blobs(4000, centers=8, seed=3, std=2.0)
    delta = 0.25
    exact = _probcover.ball_graph(F, delta)
    A = _probcover.ball_graph_approx(F, delta, _probcover.Cells.build(F, 0, n_cells=60, n_probe=8))
    assert (A.astype(int) - A.multiply(exact).astype(int)).nnz == 0  # no false edge
    recall = A.nnz / exact.nnz
    assert 0.9 < recall <= 1.0


def test_ball_graph_approx_faiss_and_numpy_agree(monkeypatch):
    F, _ = unit_blobs(2500, centers=6, seed=8, std=2.0)
    cells = _probcover.Cells.build(F, 0, n_cells=30, n_probe=5)
    graphs = []
    for flag in ("1", "0"):
        monkeypatch.setenv("SUBSEL_FAISS", flag)
        graphs.append(_probcover.ball_graph_approx(F, 0.3, cells))
    assert (graphs[0] != graphs[1]).nnz == 0


def test_approximate_probcover_covers_as_much_as_exact(backend, monkeypatch):
    """Same pseudo-labels for both (the k-means is tested above): the inverted-file
    purity search and ball graph lose almost nothing of exact's coverage."""
    F, y = unit_blobs(6000, d=16, centers=10, seed=4, std=2.0)
    monkeypatch.setattr(_probcover, "sample_kmeans_labels", _probcover.kmeans_labels)
    exact = ProbCoverQuery(n_classes=10, random_state=0, approximate=False)
    approx = ProbCoverQuery(n_classes=10, random_state=0, approximate=True)
    idx_e, idx_a = exact.select(F, 30), approx.select(F, 30)
    assert approx.approximate_ and not exact.approximate_
    assert approx.delta_ == pytest.approx(exact.delta_, rel=0.05)
    # coverage of each pick set, measured on the exact graph at exact's delta
    A = _probcover.ball_graph(F, exact.delta_)

    def coverage(idx):
        return np.unique(A[idx].indices).size / F.shape[0]

    assert coverage(idx_a) >= 0.99 * coverage(idx_e)
