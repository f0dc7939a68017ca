"""TypiClust and its combinations on Dask: the single machine's approximate path, labels on the workers."""

import numpy as np
import pytest

from subsel_plugins import TypiClustQuery, get_strategy
from subsel_plugins.errors import InvalidTypeError, InvalidValueError

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture
def sync():
    with dask.config.set(scheduler="synchronous"):
        yield


def blobs(n, d, k, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d))
    y = rng.integers(k, size=n)
    return (centers[y] * 4.0 + rng.normal(size=(n, d))).astype(dtype), y


@pytest.mark.parametrize("labeled", [[], [1999, 3, 400, 1001]])
@pytest.mark.parametrize("chunks", [2000, 700, 333])
def test_picks_equal_the_single_machines_approximate_path(sync, labeled, chunks):
    X, _ = blobs(2000, 8, 6, 0)
    one = TypiClustQuery(random_state=4, approximate=True).select_with_scores(X, 12, labeled=labeled)
    q = TypiClustQuery(random_state=4)  # "auto" takes the approximate path on Dask
    got = q.select_with_scores(da.from_array(X, chunks=(chunks, 8)), 12, labeled=labeled)
    np.testing.assert_array_equal(got[0], one[0])
    np.testing.assert_allclose(got[1], one[1], rtol=1e-6)
    assert q.approximate_ is True and q.stats_["chunks"] == -(-2000 // chunks)
    assert q.stats_["clusters_visited"] == 12


def test_large_clusters_take_the_sampled_typicality_as_on_one_machine(sync):
    # clusters of more than 640 members: most_typical_approx on the gathered members
    X, _ = blobs(6000, 6, 3, 1)
    one = TypiClustQuery(random_state=0, approximate=True, max_clusters=4).select(X, 6)
    got = TypiClustQuery(random_state=0, max_clusters=4).select(da.from_array(X, chunks=(1500, 6)), 6)
    np.testing.assert_array_equal(got, one)


def test_one_pick_per_class_on_shards_on_a_local_cluster(tmp_path):
    X, y = blobs(4000, 10, 8, 2)
    for k in range(4):
        np.save(tmp_path / f"p{k}.npy", X[k * 1000 : (k + 1) * 1000])
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        idx = TypiClustQuery(random_state=0).select(str(tmp_path / "p*.npy"), 8)
        then = get_strategy("typiclust_then_gs", random_state=0).select(str(tmp_path / "p*.npy"), 8)
    assert np.unique(y[idx]).size == 8  # well-separated classes: one typical row of each
    assert then.size == 8 and np.unique(then).size == 8


def test_then_combinations_run_their_first_stage_distributed(sync):
    X, _ = blobs(1500, 6, 5, 3)
    for name in ("typiclust_then_norm", "typiclust_then_gs"):
        one = get_strategy(name, random_state=1, first__approximate=True).select(X, 5, labeled=[0, 1])
        got = get_strategy(name, random_state=1).select(da.from_array(X, chunks=(500, 6)), 5, labeled=[0, 1])
        np.testing.assert_array_equal(got, one)


def test_refusals_say_why_before_any_work(sync):
    X = da.from_array(blobs(300, 4, 3, 0)[0], chunks=(100, 4))
    with pytest.raises(InvalidValueError, match="approximate=False"):
        TypiClustQuery(approximate=False).select(X, 3)
    for name in ("typiclust_gs", "typiclust_norm"):
        with pytest.raises(InvalidTypeError, match="exact path"):
            get_strategy(name).select(X, 3)
    with pytest.raises(InvalidValueError, match="approximate=False"):
        get_strategy("probcover", approximate=False).select(X, 3)


def test_nan_names_its_global_row(sync):
    X = blobs(300, 4, 3, 0)[0]
    X[211, 0] = np.nan
    with pytest.raises(InvalidValueError, match="row 211"):
        TypiClustQuery().select(da.from_array(X, chunks=(100, 4)), 3)


def test_cycling_past_the_clusters_and_typical_labeled_rows_as_on_one_machine(sync):
    X, _ = blobs(600, 5, 3, 5)
    first = TypiClustQuery(random_state=2, approximate=True, max_clusters=3).select(X, 3)
    # the most typical rows are labeled: never picked; 40 picks cycle through the 3 clusters
    one = TypiClustQuery(random_state=2, approximate=True, max_clusters=3).select(X, 40, labeled=first)
    got = TypiClustQuery(random_state=2, max_clusters=3).select(
        da.from_array(X, chunks=(250, 5)), 40, labeled=first
    )
    np.testing.assert_array_equal(got, one)
    assert not np.isin(got, first).any()


def test_labels_of_any_rows_in_their_order(sync):
    from subsel_plugins.backends import ArrayClusterPool
    from subsel_plugins.distributed import ChunkedClusterPool, as_source
    from subsel_plugins.kernels import sample_kmeans_labels, unit_rows_float32

    X, _ = blobs(900, 4, 5, 6)
    pool = ChunkedClusterPool(as_source(da.from_array(X, chunks=(200, 4))))
    ref = ArrayClusterPool(unit_rows_float32(X), sample_kmeans_labels)
    np.testing.assert_array_equal(pool.fit(5, 11), ref.fit(5, 11))
    rows = np.array([899, 0, 450, 201, 199, 450])
    np.testing.assert_array_equal(pool.labels_of(rows), ref.labels[rows])
    pool.take([0, 899])
    ref.take([0, 899])
    for c in range(5):
        np.testing.assert_array_equal(pool.members(c), ref.members(c))


def test_shards_read_rows_with_the_listing_and_pick_as_on_one_machine(sync, tmp_path):
    # .npy shards: a visited cluster's rows are read in the task that lists them
    X, _ = blobs(3000, 8, 7, 9)
    for k in range(3):
        np.save(tmp_path / f"s{k}.npy", X[k * 1000 : (k + 1) * 1000])
    # the most typical rows labeled: each visited cluster lists rows that must be filtered out
    # (max_clusters=15: the same 15 clusters, each holding one labeled row)
    labeled = TypiClustQuery(random_state=3, approximate=True, max_clusters=15).select(X, 15)
    one = TypiClustQuery(random_state=3, approximate=True, max_clusters=15).select_with_scores(
        X, 15, labeled=labeled
    )
    q = TypiClustQuery(random_state=3, max_clusters=15)
    got = q.select_with_scores(str(tmp_path / "s*.npy"), 15, labeled=labeled)
    np.testing.assert_array_equal(got[0], one[0])
    np.testing.assert_allclose(got[1], one[1], rtol=1e-6)
    assert set(q.stats_["traffic"]) >= {"members", "assign"} and "gather" not in q.stats_["traffic"]


@pytest.mark.parametrize("chunks", [6000, 1500, 777])
@pytest.mark.parametrize("small", [False, True])
def test_typicality_of_large_clusters_is_computed_on_the_workers(sync, monkeypatch, chunks, small):
    # clusters of more than 640 members: references, coarse scores and the candidates'
    # neighbours are computed per group of chunks and merged; picks and scores are the
    # single machine's, over cycles past the clusters, with labeled rows; `small`: one
    # visit per batch and one chunk per group
    from subsel_plugins.distributed import _clusters

    if small:
        monkeypatch.setattr(_clusters, "TYPICAL_BATCH_BYTES", 1)
        monkeypatch.setattr(_clusters, "TYPICAL_GROUP_BYTES", 1)
    X, _ = blobs(6000, 6, 3, 1)
    labeled = [5, 17, 3000, 5999]
    one = TypiClustQuery(random_state=0, approximate=True, max_clusters=4).select_with_scores(
        X, 9, labeled=labeled
    )
    q = TypiClustQuery(random_state=0, max_clusters=4)
    got = q.select_with_scores(da.from_array(X, chunks=(chunks, 6)), 9, labeled=labeled)
    np.testing.assert_array_equal(got[0], one[0])
    np.testing.assert_allclose(got[1], one[1], rtol=1e-6)
    typical = q.stats_["traffic"]["typical"]
    batches = -(-9 // (1 if small else 4))
    assert typical["rounds"] == 4 * batches
    groups = q.stats_["chunks"] if small else 1  # default: these chunks fit one group
    assert typical["tasks"] == batches * (2 * q.stats_["chunks"] + 2 * groups)


@pytest.mark.parametrize("k_neighbors", [20, 400])
def test_mixed_batches_of_small_and_large_clusters(sync, k_neighbors):
    # well-separated blobs of known sizes, one cluster each: above 640 members (scored on
    # the workers), exactly 640 (the exact typicality, on the client), and small ones, one
    # of them under 2 k (k capped at half the cluster); k = 400 caps k in large ones too
    rng = np.random.default_rng(7)
    sizes = [2500, 700, 640, 150, 24]
    centers = rng.normal(size=(len(sizes), 5))
    centers *= 60 / np.linalg.norm(centers, axis=1, keepdims=True)
    X = np.vstack([rng.normal(size=(s, 5)) + c for s, c in zip(sizes, centers)]).astype(np.float32)
    X += 100 * np.eye(5)[0].astype(np.float32)  # one orthant: the blobs stay apart after L2-normalizing
    one = TypiClustQuery(
        random_state=3, approximate=True, max_clusters=5, k_neighbors=k_neighbors
    ).select_with_scores(X, 12)
    q = TypiClustQuery(random_state=3, max_clusters=5, k_neighbors=k_neighbors)
    got = q.select_with_scores(da.from_array(X, chunks=(1000, 5)), 12)
    np.testing.assert_array_equal(got[0], one[0])
    np.testing.assert_allclose(got[1], one[1], rtol=1e-6)
    # every visit to the clusters of 2500 and 700 members, and only those, is scored on the workers
    sizes_in_race = np.bincount(np.searchsorted(np.cumsum(sizes), got[0], side="right"), minlength=5)
    assert q.stats_["scored_on_workers"] == sizes_in_race[:2].sum()


def test_large_clusters_on_shards_on_a_local_cluster_as_on_one_machine(tmp_path):
    # the references and candidates are scattered to every worker: picks are the single machine's
    X, _ = blobs(8000, 8, 4, 11)
    for k in range(4):
        np.save(tmp_path / f"p{k}.npy", X[k * 2000 : (k + 1) * 2000])
    one = get_strategy("typiclust_then_gs", random_state=5, first__approximate=True).select(X, 6)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        got = get_strategy("typiclust_then_gs", random_state=5).select(str(tmp_path / "p*.npy"), 6)
    np.testing.assert_array_equal(got, one)


def test_coarse_scores_over_chunks_merge_to_the_whole_clusters_candidates():
    # the worker task of round (B) on two groups of chunks, merged, against the single machine's
    # coarse typicality over the whole cluster: the same keys for the same 128 positions
    from subsel_plugins.distributed._clusters import _group, _task_coarse, _task_merge_coarse
    from subsel_plugins.kernels import best_keys, coarse_typicality, typical_refs, unit_rows_float32

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    labels = rng.integers(0, 2, 3000).astype(np.int32)
    out = np.array([5, 100, 1500, 2999])  # out of the race
    members = np.setdiff1d(np.flatnonzero(labels == 1), out)
    G = unit_rows_float32(X)[members]
    refs, k_ref = typical_refs(members.size, 20, np.random.default_rng(1))
    is_ref = np.zeros(members.size, dtype=bool)
    is_ref[refs] = True
    keys = coarse_typicality(G, G[refs], is_ref, k_ref)
    want = best_keys(keys, np.arange(members.size), 128)
    # chunks of 1000 rows, in two groups: [chunk 0] and [chunks 1, 2]
    parts, pos0 = [], 0
    for group in ([0], [1, 2]):
        lo, hi = 1000 * group[0], 1000 * (group[-1] + 1)
        here = members[(members >= lo) & (members < hi)]
        ranks = refs[(refs >= pos0) & (refs < pos0 + here.size)] - pos0
        cuts = [(1000 * c, 1000 * (c + 1)) for c in group]
        group = _group(
            [labels[a:b] for a, b in cuts],
            [X[a:b] for a, b in cuts],
            [out[(out >= a) & (out < b)] - a for a, b in cuts],
            [1],
        )
        parts.append(_task_coarse(group, [(0, 1, pos0, ranks, k_ref)], G[refs][None]))
        pos0 += here.size
    got_keys, got_pos = _task_merge_coarse(parts)[0]
    np.testing.assert_array_equal(got_pos, want)
    np.testing.assert_array_equal(got_keys, keys[want])


def test_groups_of_consecutive_chunks_hold_up_to_the_limit_of_the_batchs_members():
    # the distance rounds' groups: consecutive chunks up to `limit` bytes of the batch's
    # members; a chunk over the limit is a group alone; chunks without members join a group
    from subsel_plugins.distributed._clusters import _groups_of

    assert _groups_of([100, 100, 100, 100], 200) == [0, 2, 4]  # exactly the limit fits
    assert _groups_of([100, 100, 100, 100], 250) == [0, 2, 4]
    assert _groups_of([300, 10, 10], 250) == [0, 1, 3]
    assert _groups_of([0, 0, 100, 0, 200], 150) == [0, 4, 5]
    assert _groups_of([5, 5, 5], 1) == [0, 1, 2, 3]
    assert _groups_of([0, 0], 1) == [0, 2]


@pytest.mark.parametrize("held", ["all", "runs", "none"])
def test_members_are_read_once_per_batch_when_they_fit_and_picks_stay_the_same(sync, monkeypatch, held):
    # a batch's members are read and normalized once per group of chunks and held between the
    # two distance rounds; a batch over TYPICAL_HELD_BYTES is taken in runs of visits that fit,
    # and a visit over it alone reads its members in each round: the picks never change
    from subsel_plugins.distributed import _clusters

    X, _ = blobs(6000, 6, 3, 1)
    one = TypiClustQuery(random_state=0, approximate=True, max_clusters=4).select_with_scores(X, 8)
    calls = []
    real = _clusters._group

    def counted(labels, blocks, out_local, clusters):
        calls.append(len(clusters))
        return real(labels, blocks, out_local, clusters)

    monkeypatch.setattr(_clusters, "_group", counted)
    monkeypatch.setattr(_clusters, "TYPICAL_GROUP_BYTES", 1)  # one chunk per group
    # ~1500 members per cluster, 6 floats each: 'runs' holds two clusters' members, 'none' none
    limit = {"all": 4 << 30, "runs": 2 * 1600 * 6 * 4, "none": 1}[held]
    monkeypatch.setattr(_clusters, "TYPICAL_HELD_BYTES", limit)
    q = TypiClustQuery(random_state=0, max_clusters=4)
    got = q.select_with_scores(da.from_array(X, chunks=(1500, 6)), 8)
    np.testing.assert_array_equal(got[0], one[0])
    np.testing.assert_array_equal(got[1], one[1])
    visits = q.stats_["scored_on_workers"]
    assert visits == 8
    # visits per _group call: the whole batch of 4, runs of at most 2, or one visit (read twice)
    assert max(calls) == {"all": 4, "runs": 2, "none": 1}[held]
    reads = 1 if held != "none" else 2
    assert sum(calls) == reads * visits * q.stats_["chunks"]


def test_picks_and_scores_equal_the_single_machines_bit_for_bit_in_768_dimensions(sync, monkeypatch):
    # embeddings of 768 features (ViT-B, CLIP): the candidates' nearest members merged over
    # groups of chunks are the whole cluster's to the bit (faiss's own search is not, there)
    from subsel_plugins.distributed import _clusters

    monkeypatch.setattr(_clusters, "TYPICAL_GROUP_BYTES", 1)  # one chunk per group
    X, _ = blobs(3000, 768, 2, 4)
    one = TypiClustQuery(random_state=1, approximate=True, max_clusters=2).select_with_scores(X, 4)
    q = TypiClustQuery(random_state=1, max_clusters=2)
    got = q.select_with_scores(da.from_array(X, chunks=(700, 768)), 4)
    assert q.stats_["scored_on_workers"] == 4
    np.testing.assert_array_equal(got[0], one[0])
    np.testing.assert_array_equal(got[1], one[1])


def test_a_batch_holds_at_most_a_quarter_of_what_the_workers_have_left(sync, monkeypatch):
    from subsel_plugins.distributed import _clusters

    monkeypatch.setattr(_clusters, "workers_memory_left", lambda: None)  # no client: the constant
    assert _clusters.held_limit() == _clusters.TYPICAL_HELD_BYTES
    monkeypatch.setattr(_clusters, "workers_memory_left", lambda: 4 * 2 * 1600 * 6 * 4)
    assert _clusters.held_limit() == 2 * 1600 * 6 * 4
    # that limit takes a batch of 4 visits of ~1500 members in runs of at most 2, same picks
    X, _ = blobs(6000, 6, 3, 1)
    one = TypiClustQuery(random_state=0, approximate=True, max_clusters=4).select(X, 4)
    calls = []
    real = _clusters._group
    monkeypatch.setattr(_clusters, "_group", lambda *a: calls.append(len(a[3])) or real(*a))
    got = TypiClustQuery(random_state=0, max_clusters=4).select(da.from_array(X, chunks=(6000, 6)), 4)
    np.testing.assert_array_equal(got, one)
    assert max(calls) == 2 and sum(calls) == 4
