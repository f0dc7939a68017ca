"""k-center greedy (core-set): against a brute-force farthest-first traversal, on one machine and on Dask."""

import numpy as np
import pytest
from scipy import stats

from subsel_plugins import KCenterGreedyQuery, get_strategy
from subsel_plugins.errors import InvalidValueError
from subsel_plugins.strategies import _kcenter


def brute_force(X, budget, labeled=(), first=None):
    """Farthest-first traversal from the full distance matrix (the textbook algorithm)."""
    X = np.asarray(X, dtype=np.float64)
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    centers = list(labeled) if len(labeled) else [first]
    picks = [] if len(labeled) else [first]
    scores = [] if len(labeled) else [np.inf]
    while len(picks) < budget:
        m = D[:, centers].min(axis=1)
        m[list(labeled) + picks] = -1.0
        i = int(np.argmax(m))  # the lowest index among ties
        picks.append(i)
        scores.append(m[i])
        centers.append(i)
    return np.array(picks), np.array(scores)


def blobs(n, d, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(4, d))
    return (centers[rng.integers(4, size=n)] + rng.normal(size=(n, d))).astype(dtype)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_labeled", [0, 1, 7])
def test_picks_and_scores_are_farthest_first(seed, dtype, n_labeled):
    X = blobs(150, 5, seed, dtype)
    labeled = np.random.default_rng(seed + 100).choice(150, n_labeled, replace=False)
    q = KCenterGreedyQuery(random_state=seed)
    idx, scores = q.select_with_scores(X, 25, labeled=labeled)
    ref, ref_scores = brute_force(X, 25, labeled, first=idx[0])
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-9)
    assert np.all(np.diff(scores[np.isfinite(scores)]) <= 1e-12)  # covering radii only shrink
    assert q.stats_["passes"] == 24 + (n_labeled > 0)  # one pass per pick after the first


def test_labeled_rows_are_the_first_centers_in_groups(monkeypatch):
    X = blobs(200, 4, 0)
    labeled = np.arange(0, 200, 9)
    expected = KCenterGreedyQuery().select_with_scores(X, 15, labeled=labeled)
    monkeypatch.setattr(_kcenter, "LABELED_GROUP", 4)  # 23 labeled rows folded 4 at a time
    got = KCenterGreedyQuery().select_with_scores(X, 15, labeled=labeled)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-9)
    np.testing.assert_array_equal(got[0], brute_force(X, 15, labeled)[0])


def test_the_first_pick_with_nothing_labeled_is_uniform():
    X = blobs(6, 3, 1)
    n_draws = 1200
    firsts = [KCenterGreedyQuery(random_state=s).select(X, 2)[0] for s in range(n_draws)]
    counts = np.bincount(firsts, minlength=6)
    assert stats.chisquare(counts).pvalue > 1e-3, counts
    # and the check has power: a first pick that prefers row 0 (p = 0.3 instead of 1/6) fails it
    skewed = np.random.default_rng(0).choice(6, n_draws, p=[0.3] + [0.14] * 5)
    assert stats.chisquare(np.bincount(skewed, minlength=6)).pvalue < 1e-3


def test_only_the_first_pick_is_random():
    X = blobs(80, 4, 2)
    a = KCenterGreedyQuery(random_state=0).select(X, 10, labeled=[3])
    b = KCenterGreedyQuery(random_state=99).select(X, 10, labeled=[3])
    np.testing.assert_array_equal(a, b)


def test_duplicates_and_an_exhausted_pool_pick_distinct_rows_at_distance_zero():
    X = np.repeat(np.eye(3), 4, axis=0)  # 3 distinct points, 4 copies each
    idx, scores = KCenterGreedyQuery(random_state=0).select_with_scores(X, 9, labeled=[0])
    assert np.unique(idx).size == 9 and 0 not in idx
    assert set(idx[:2] // 4) == {1, 2}  # the two other points first
    np.testing.assert_allclose(scores[:2], np.sqrt(2.0))
    np.testing.assert_array_equal(scores[2:], 0.0)
    np.testing.assert_array_equal(idx[2:], [1, 2, 3] + sorted(set(range(4, 12)) - set(idx[:2]))[:4])


def test_scale_invariant_picks_and_scaled_scores():
    X = blobs(100, 4, 3)
    idx, scores = KCenterGreedyQuery(random_state=1).select_with_scores(X, 12)
    for factor in (2.0**600, 2.0**-600):
        big_idx, big_scores = KCenterGreedyQuery(random_state=1).select_with_scores(X * factor, 12)
        np.testing.assert_array_equal(big_idx, idx)
        np.testing.assert_allclose(big_scores[1:], scores[1:] * factor, rtol=1e-12)


def test_registered_and_refuses_bad_input():
    assert isinstance(get_strategy("kcenter_greedy"), KCenterGreedyQuery)
    assert isinstance(get_strategy("kcenter_greedy_then_gs").first, KCenterGreedyQuery)
    X = blobs(30, 3, 0)
    with pytest.raises(InvalidValueError, match="budget"):
        KCenterGreedyQuery().select(X, 30, labeled=[0])
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(InvalidValueError, match="NaN"):
        KCenterGreedyQuery().select(bad, 3)


# -- on Dask -------------------------------------------------------------------------------


@pytest.fixture
def dask_sync():
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(params=[None, 1, 1600], ids=["one-group", "chunk-per-group", "two-chunks-per-group"])
def fold_group_bytes(request, monkeypatch):
    """The fold's groups of chunks: the default (every test pool in one group), one chunk per
    group, and two 37-row float32 chunks (740 bytes each at d = 5) per group."""
    from subsel_plugins.distributed import _farthest

    if request.param is not None:
        monkeypatch.setattr(_farthest, "FOLD_GROUP_BYTES", request.param)
    return request.param


def test_fold_groups_are_consecutive_chunks_up_to_the_limit():
    import dask.array as da

    from subsel_plugins.distributed._farthest import fold_groups
    from subsel_plugins.distributed._sources import DaskRows

    src = DaskRows(da.zeros((150, 5), chunks=(37, 5), dtype=np.float32))  # 4 x 740 bytes + 40
    assert fold_groups(src, 1) == [range(0, 1), range(1, 2), range(2, 3), range(3, 4), range(4, 5)]
    assert fold_groups(src, 1600) == [range(0, 2), range(2, 5)]
    assert fold_groups(src, 1480) == [range(0, 2), range(2, 4), range(4, 5)]  # exactly full: kept
    assert fold_groups(src, 10**9) == [range(0, 5)]


@pytest.mark.parametrize("labeled", [[], [5, 77, 140]])
def test_dask_picks_are_the_single_machines(dask_sync, labeled, fold_group_bytes):
    import dask.array as da

    X = blobs(150, 5, 4, np.float32)
    q = KCenterGreedyQuery(random_state=7)
    one = q.select_with_scores(X, 20, labeled=labeled)
    for chunks in (150, 50, 37):
        qd = KCenterGreedyQuery(random_state=7)
        got = qd.select_with_scores(da.from_array(X, chunks=(chunks, 5)), 20, labeled=labeled)
        np.testing.assert_array_equal(got[0], one[0])
        np.testing.assert_array_equal(got[1], one[1])
        # one validation pass, one fold for the labeled rows, one per later pick
        assert qd.stats_["passes"] == 1 + bool(labeled) + 19
        assert qd.stats_["chunks"] == -(-150 // chunks)


def test_dask_shards_on_a_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    X = blobs(3000, 6, 5, np.float32)
    for k in range(3):
        np.save(tmp_path / f"part{k}.npy", X[k * 1000 : (k + 1) * 1000])
    labeled = [10, 1500, 2999]
    ref = KCenterGreedyQuery(random_state=0).select_with_scores(X, 30, labeled=labeled)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        got = KCenterGreedyQuery(random_state=0).select_with_scores(
            str(tmp_path / "part*.npy"), 30, labeled=labeled
        )
        then = get_strategy("kcenter_greedy_then_norm", random_state=0).select(
            str(tmp_path / "part*.npy"), 10, labeled=labeled
        )
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
    assert set(then) <= set(get_strategy("kcenter_greedy").select(X, 20, labeled=labeled))


def test_dask_nan_names_its_row_and_extreme_magnitudes_are_rescaled(dask_sync):
    import dask.array as da

    X = blobs(90, 3, 6)
    bad = X.copy()
    bad[61, 2] = np.inf
    with pytest.raises(InvalidValueError, match="row 61"):
        KCenterGreedyQuery().select(da.from_array(bad, chunks=(30, 3)), 4)
    idx, scores = KCenterGreedyQuery(random_state=2).select_with_scores(X, 9)
    big = da.from_array(X * 2.0**700, chunks=(30, 3))
    got_idx, got_scores = KCenterGreedyQuery(random_state=2).select_with_scores(big, 9)
    np.testing.assert_array_equal(got_idx, idx)
    np.testing.assert_allclose(got_scores[1:], scores[1:] * 2.0**700, rtol=1e-12)


@pytest.mark.parametrize("labeled", [[0], [0, 5]])
def test_dask_exhausted_pool_ties_break_as_on_one_machine(dask_sync, labeled, fold_group_bytes):
    import dask.array as da

    X = np.repeat(np.eye(3), 4, axis=0)  # distance-0 ties across chunks once the 3 points are covered
    one = KCenterGreedyQuery(random_state=0).select_with_scores(X, 9, labeled=labeled)
    got = KCenterGreedyQuery(random_state=0).select_with_scores(
        da.from_array(X, chunks=(5, 3)), 9, labeled=labeled
    )
    np.testing.assert_array_equal(got[0], one[0])
    np.testing.assert_array_equal(got[1], one[1])
