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

from subsel_plugins import ProbCoverQuery, TypiClustQuery, kernels
from subsel_plugins.backends import _balls
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
    np.testing.assert_array_equal(kernels.nearest_centroid(F, C), D.argmin(1))


def test_sample_kmeans_faiss_and_sklearn_agree():
    """Same seeds, same Lloyd iterations: the same clusters while no cluster empties
    (an emptied cluster is split by faiss but moved to a far point by scikit-learn)."""
    F, _ = unit_blobs(6000, centers=8, seed=3, std=0.4)
    out = {}
    for flag in ("1", "0"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SUBSEL_FAISS", flag)
            out[flag] = kernels.sample_kmeans(F, 8, 5)
    np.testing.assert_array_equal(out["1"][0], out["0"][0])
    np.testing.assert_allclose(out["1"][1], out["0"][1], atol=1e-4)


def test_sample_kmeans_labels_every_row_with_its_nearest_centroid(backend, monkeypatch):
    monkeypatch.setattr(kernels, "MAX_POINTS_PER_CENTROID", 40)  # a real sample: 400 of 5000
    F, y = unit_blobs(5000, centers=10, seed=2, std=0.5)
    labels, C = kernels.sample_kmeans(F, 10, 0)
    assert C.shape == (10, 16) and labels.shape == (5000,)
    np.testing.assert_array_equal(labels, kernels.nearest_centroid(F, C))
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
    labels = kernels.sample_kmeans_labels(X, 6, 0)
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
    assert cells.n_probe == 4 and cells.row_budget == pytest.approx(4 * 2000 / 20)


def test_default_cells_are_about_sqrt_n():
    assert [_probcover.default_n_cells(n) for n in (1, 2, 10, 2500, 1_280_000)] == [1, 1, 3, 50, 1131]
    F, _ = unit_blobs(2500, d=8, centers=5)
    cells = _probcover.Cells.build(F, 0)
    assert len(cells.members) == 50 and cells.n_probe == _probcover.PROBE_CELLS


@pytest.mark.parametrize("row_block", [1024, 7])
def test_ball_graph_approx_exact_when_every_cell_is_probed(backend, monkeypatch, row_block):
    monkeypatch.setattr(kernels, "DISTANCE_ROW_BLOCK", row_block)
    monkeypatch.setattr(_balls, "DISTANCE_ROW_BLOCK", row_block)
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


def test_approximate_probcover_pseudo_labels_are_the_exact_paths_kmeans(monkeypatch):
    """Below MAX_POINTS_PER_CENTROID rows per cluster the sample is the pool: the same
    estimator and seed as the exact path, so the same clusters; above, it is fitted
    on a sample and assigns every row to its nearest centroid."""
    F, _ = unit_blobs(3000, d=16, centers=10, seed=4, std=2.0)
    labels, C = kernels.official_kmeans_on_sample(F, 10, 7)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(kernels.kmeans_labels(F, 10, 7), labels) > 0.999
    monkeypatch.setattr(kernels, "MAX_POINTS_PER_CENTROID", 50)  # 500 of 3000 rows
    labels, C = kernels.official_kmeans_on_sample(F, 10, 7)
    np.testing.assert_array_equal(labels, kernels.nearest_centroid(F, C))
    assert adjusted_rand_score(kernels.kmeans_labels(F, 10, 7), labels) > 0.9


def test_approximate_probcover_covers_as_much_as_exact(backend):
    """The pool fits the pseudo-labels' sample (256 rows per cluster), so both paths
    cluster alike: the inverted-file purity search and ball graph lose almost
    nothing of exact's radius and coverage."""
    F, y = unit_blobs(2500, d=16, centers=10, seed=4, std=2.0)
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


# -- probes bounded by rows, the symmetric graph, the purity sample -------------------


def lopsided_cells(F, n_cells=12, n_probe=3, seed=0):
    """Cells of a k-means where one cell is merged into a giant (a few times the mean size)."""
    cells = _probcover.Cells.build(F, seed, n_cells=n_cells)
    cell = cells.cell.copy()
    big = int(np.argmax(cells.sizes))
    for other in cells.order[big, 1:4]:  # merge the big cell's three nearest into it
        cell[cell == other] = big
    centroids = np.stack([F[cell == c].mean(0) if np.any(cell == c) else F[0] for c in range(n_cells)])
    return _probcover.Cells(cell, centroids, n_probe), big


def test_probes_hold_the_row_budget_and_a_giant_cell_probes_few():
    F, _ = unit_blobs(3000, centers=6, seed=11, std=2.0)
    cells, big = lopsided_cells(F)
    budget = 3 * 3000 / 12
    assert cells.row_budget == pytest.approx(budget)
    for c, probes in enumerate(cells.probes):
        if cells.sizes[c] == 0:
            continue
        assert probes[0] == c  # itself first, then by centroid distance
        np.testing.assert_array_equal(probes, cells.order[c][cells.sizes[cells.order[c]] > 0][: probes.size])
        assert probes.size >= _probcover.MIN_PROBE_CELLS
        held = cells.sizes[probes]
        assert held.sum() >= budget  # enough rows...
        if probes.size > _probcover.MIN_PROBE_CELLS:
            assert held[:-1].sum() < budget  # ...and no cell more than needed
    assert cells.sizes[big] > budget
    assert cells.probes[big].size == _probcover.MIN_PROBE_CELLS
    assert max(p.size for p in cells.probes) > _probcover.MIN_PROBE_CELLS


def test_every_probed_pair_once_and_both_ways(backend):
    F, _ = unit_blobs(3000, centers=6, seed=11, std=2.0)
    cells, big = lopsided_cells(F)
    seen = []
    for a, partners in cells.pairs():
        assert partners[0] == a and (partners >= a).all()
        seen += [(a, b) for b in partners]
    wanted = {(min(a, b), max(a, b)) for a, ps in enumerate(cells.probes) if cells.sizes[a] for b in ps}
    assert len(seen) == len(set(seen)) and set(seen) == wanted
    # a small cell that probes the giant while the giant does not probe it back
    one_way = [a for a, ps in enumerate(cells.probes) if big in ps and a not in cells.probes[big]]
    assert one_way
    delta = 0.5
    A, exact = _probcover.ball_graph_approx(F, delta, cells), _probcover.ball_graph(F, delta)
    assert (A != A.T).nnz == 0  # symmetric
    assert (A.astype(int) - A.multiply(exact).astype(int)).nnz == 0  # only true edges
    giant = cells.members[big]
    small = cells.members[max(one_way, key=lambda a: exact[giant][:, cells.members[a]].nnz)]
    E = exact[giant][:, small]
    assert E.nnz > 0
    # the edges from the giant's rows into that cell are all found, though the giant does not probe it
    assert (A[giant][:, small] != E).nnz == 0


def test_purity_sample_keeps_the_purity_within_its_sampling_error(monkeypatch):
    """With the radius set from the exact distances of 2,000 sampled rows of 20,000, the
    purity of every row's exact ball, against the same pseudo-labels, is the target
    within a few binomial standard errors (sqrt(p (1 - p) / m) = 0.0067), over several
    seeds; every row's distance hits it from above."""
    F, _ = unit_blobs(20000, d=16, centers=10, seed=4, std=2.0)
    clusters = kernels.official_kmeans_on_sample(F, 10, 0)
    monkeypatch.setattr(_balls, "official_kmeans_on_sample", lambda F, k, seed: clusters)
    fixed = clusters[0]
    monkeypatch.setattr(_probcover, "PURITY_SAMPLE_ROWS", 2000)

    def exact_purity(q):
        return _probcover.ball_purity(_probcover.ball_graph(F, q.delta_), fixed)

    deltas, purities = [], []
    for seed in range(4):
        q = ProbCoverQuery(n_classes=10, purity=0.9, random_state=seed, approximate=True)
        q.select(F, 5)
        deltas.append(q.delta_)
        purities.append(exact_purity(q))
    se = np.sqrt(0.9 * 0.1 / 2000)
    assert all(abs(p - 0.9) < 4 * se for p in purities)
    assert len(set(deltas)) == 4  # the sample is drawn per seed
    monkeypatch.setattr(_probcover, "PURITY_SAMPLE_ROWS", 10**9)
    q = ProbCoverQuery(n_classes=10, purity=0.9, random_state=0, approximate=True)
    q.select(F, 5)
    assert 0.9 <= exact_purity(q) < 0.9 + 0.001


@pytest.mark.parametrize("row_block", [1024, 7])
def test_purity_distances_of_a_row_sample_are_those_rows_distances(monkeypatch, row_block):
    monkeypatch.setattr(kernels, "DISTANCE_ROW_BLOCK", row_block)
    monkeypatch.setattr(_balls, "DISTANCE_ROW_BLOCK", row_block)
    monkeypatch.setattr(kernels, "DISTANCE_COL_BLOCK", 500)
    F, y = unit_blobs(2500, centers=6, seed=2, std=2.0)
    full = _probcover.distance_to_other_cluster(F, y)
    rows = np.sort(np.random.default_rng(0).choice(2500, 300, replace=False))
    np.testing.assert_allclose(_probcover.distance_to_other_cluster(F, y, rows), full[rows], rtol=1e-6)
    # against a dense reference
    D = np.sqrt(((F[rows, None, :] - F[None, :, :]) ** 2).sum(-1))
    D[y[rows, None] == y[None, :]] = np.inf
    np.testing.assert_allclose(_probcover.distance_to_other_cluster(F, y, rows), D.min(1), atol=1e-3)


def test_greedy_cover_is_probcovers_greedy():
    F, _ = unit_blobs(800, centers=5, seed=6, std=2.0)
    q = ProbCoverQuery(delta=0.3, random_state=0, approximate=False)
    idx = q.select(F, 25)
    A = _probcover.ball_graph(F, 0.3)
    chosen, scores = _probcover.greedy_cover(A, 25, np.empty(0, int), np.random.default_rng(0))
    np.testing.assert_array_equal(chosen, idx)
    # each score is the count of newly covered rows, and they add up to the coverage
    assert scores.sum() == np.unique(A[chosen].indices).size
    chosen_t, _ = _probcover.greedy_cover(A, 25, np.empty(0, int), np.random.default_rng(0), AT=A.T.tocsr())
    np.testing.assert_array_equal(chosen_t, chosen)
