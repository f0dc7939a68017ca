"""ProbCover and its combinations on Dask: the single machine's approximate path, the graph on the workers."""

import re
import warnings

import numpy as np
import pytest

from subsel_plugins import ProbCoverQuery, get_strategy
from subsel_plugins.backends import Cells
from subsel_plugins.errors import InvalidValueError, ResourceLimitError

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from subsel_plugins.distributed import _balls as dballs  # noqa: E402


@pytest.fixture
def sync():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture
def many_groups(monkeypatch):
    """Groups of a few hundred rows: most cells' partners live in other groups."""
    monkeypatch.setattr(dballs, "GROUP_BYTES", 300 * 4 * 16)


def clustered(n, d=16, k=20, seed=0):
    """Issue 22's geometry at test size: k centres, each row a centre plus 0.7 noise."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((k, d)).astype(np.float32)
    return (C[rng.integers(0, k, n)] + 0.7 * rng.standard_normal((n, d))).astype(np.float32)


def both(X, budget, labeled=(), chunks=1000, **params):
    """(single machine's approximate path, Dask) strategies and their (picks, scores)."""
    one = ProbCoverQuery(random_state=3, approximate=True, **params)
    got_one = one.select_with_scores(X, budget, labeled=list(labeled))
    q = ProbCoverQuery(random_state=3, **params)  # "auto" takes the approximate path on Dask
    got = q.select_with_scores(da.from_array(X, chunks=(chunks, X.shape[1])), budget, labeled=list(labeled))
    return one, got_one, q, got


@pytest.mark.parametrize("groups", ["one", "many"])
@pytest.mark.parametrize(
    "params",
    [{"n_classes": 20}, {}, {"delta": 0.6}, {"n_classes": 3, "purity": 0.8}],
    ids=["pseudo-label cells", "k-means cells", "given delta", "few classes"],
)
def test_picks_radius_and_purity_equal_the_single_machines(sync, request, groups, params):
    if groups == "many":
        request.getfixturevalue("many_groups")
    X = clustered(6000)
    one, (i1, s1), q, (i2, s2) = both(X, 25, labeled=[3, 5999, 1200], **params)
    np.testing.assert_array_equal(i2, i1)
    np.testing.assert_array_equal(s2, s1)
    assert q.delta_ == one.delta_ and q.purity_ == one.purity_ and q.n_clusters_ == one.n_clusters_
    assert q.approximate_ is True and q.stats_["chunks"] == 6
    assert (q.stats_["groups"] > 5) == (groups == "many")
    assert abs(q.graph_bytes_ - one.graph_bytes_) <= 1e-9 * one.graph_bytes_


def test_the_graph_on_the_workers_is_the_single_machines_graph(sync, many_groups):
    """Every row's ball, read back from the chunks' CSRs, is the in-memory graph's row."""
    from subsel_plugins.backends import ArrayBallPool
    from subsel_plugins.distributed import ChunkedBallPool, as_source
    from subsel_plugins.kernels import unit_rows_float32

    X = clustered(3000, k=8, seed=1)
    mem = ArrayBallPool(unit_rows_float32(X))
    pool = ChunkedBallPool(as_source(da.from_array(X, chunks=(700, 16))))
    for p in (mem, pool):
        p.pseudo_labels(8, 11, True)
    cm, cd = mem.cells(40, 5), pool.cells(40, 5)
    np.testing.assert_array_equal(cm.sizes, cd.sizes)
    gm, gd = mem.graph(0.7, cm), pool.graph(0.7, cd)
    assert pool.stats["groups"] > 3 and pool.stats["edges"] == gm.A.nnz
    rows = np.arange(3000)
    np.testing.assert_array_equal(gd.degrees(), gm.degrees())
    for chunk in np.array_split(rows, 7):
        a, b = np.sort(gd.balls(chunk)), np.sort(gm.balls(chunk))
        np.testing.assert_array_equal(a, b)
    assert mem.purity(gm) == pool.purity(gd)
    assert 0 < pool.purity(gd) < 1


def test_groups_hold_neighbouring_cells_and_every_cell():
    rng = np.random.default_rng(0)
    C = rng.normal(size=(60, 3))
    sizes = rng.integers(1, 50, size=60)
    sizes[7] = 0
    sizes[3] = 500  # one cell alone over the target: a group of its own, no empty group before it
    cells = Cells.from_sizes(sizes, C)
    group = dballs.group_cells(cells, 200)
    assert (group >= 0).all() and np.unique(group).size == group.max() + 1
    held = np.bincount(group, weights=sizes)
    # a group closes before it passes the target, unless one cell alone does
    assert (held <= 200).all() or all(sizes[group == g].max() > 200 for g in np.flatnonzero(held > 200))
    # a cell's first probe (its nearest other cell) shares its group far more often than chance
    same = np.mean([group[c] == group[cells.probes[c][1]] for c in range(60) if cells.probes[c].size > 1])
    assert same > 2.0 / (group.max() + 1)


def test_combinations_run_their_first_stage_distributed(sync):
    X = clustered(3000, seed=2)
    for name in ("probcover_then_norm", "probcover_then_gs"):
        one = get_strategy(name, random_state=1, first__approximate=True).select(X, 6, labeled=[0, 1])
        got = get_strategy(name, random_state=1).select(da.from_array(X, chunks=(800, 16)), 6, labeled=[0, 1])
        np.testing.assert_array_equal(got, one)


def test_shards_on_a_local_cluster_cover_every_cluster(tmp_path):
    """On .npy shards and a two-worker cluster: one pick per well-separated cluster first."""
    rng = np.random.default_rng(4)
    C = 10 * rng.standard_normal((8, 12))
    y = rng.integers(0, 8, 4000)
    X = (C[y] + rng.standard_normal((4000, 12))).astype(np.float32)
    for k in range(4):
        np.save(tmp_path / f"p{k}.npy", X[k * 1000 : (k + 1) * 1000])
    one = ProbCoverQuery(n_classes=8, random_state=0, approximate=True).select(X, 8)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        q = ProbCoverQuery(n_classes=8, random_state=0)
        # the sampled purity rows (4,000 x 12 here, 30 MB at 20,000 x 384) are scattered to the
        # workers, not embedded in each pass's graph: no "Sending large graph" warning
        with (
            dask.config.set({"distributed.admin.large-graph-warning-threshold": "100kB"}),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            idx = q.select(str(tmp_path / "p*.npy"), 8)
    np.testing.assert_array_equal(idx, one)
    assert np.unique(y[idx]).size == 8
    assert not [w for w in caught if "large graph" in str(w.message)]


def test_a_graph_over_the_memory_limit_is_refused_on_dask_too(sync):
    X = clustered(3000)
    D = da.from_array(X, chunks=(1000, 16))
    with pytest.raises(ResourceLimitError) as info:
        ProbCoverQuery(n_classes=20, random_state=0, max_graph_memory="2MB").select(D, 5)
    msg = str(info.value)
    assert "\n" not in msg and "delta <= " in msg and "max_graph_memory=2 MB (given)" in msg


def test_the_default_limit_is_half_what_the_workers_have_left(sync, monkeypatch):
    from subsel_plugins.distributed import ChunkedBallPool

    monkeypatch.setattr(ChunkedBallPool, "available_memory", lambda self: 4_000_000)
    X = da.from_array(clustered(3000), chunks=(1000, 16))
    with pytest.raises(
        ResourceLimitError,
        match=r"max_graph_memory=2 MB \(the default: half of the 4 MB available on the Dask workers",
    ):
        ProbCoverQuery(n_classes=20, random_state=0).select(X, 5)


def test_the_workers_memory_is_read_from_the_scheduler():
    from subsel_plugins.distributed import ChunkedBallPool, as_source

    X = da.from_array(clustered(1000), chunks=(500, 16))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None, memory_limit="64GB"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        left = ChunkedBallPool(as_source(X)).available_memory()
        # in-process workers each report this whole process's memory as theirs; dask caps
        # a limit above the machine's memory at the machine's
        workers = client.scheduler_info()["workers"].values()
        limits = [w["memory_limit"] for w in workers]
        used = [w["metrics"]["memory"] for w in workers]
    assert len(used) == 2 and 0 < left <= sum(limits)
    assert abs(left - (sum(limits) - sum(used))) < 0.5 * 10**9  # up to the process's growth meanwhile
    with dask.config.set(scheduler="synchronous"):
        assert ChunkedBallPool(as_source(X)).available_memory() is None  # no client: this machine's


def test_a_pool_too_large_for_the_client_is_refused_before_any_work(sync, monkeypatch):
    monkeypatch.setattr(dballs, "available_memory", lambda: 48 * 1000)
    X = clustered(3000)
    X[2500, 3] = np.nan  # would be named by the first pass, which never runs
    with pytest.raises(ResourceLimitError) as info:
        ProbCoverQuery().select(da.from_array(X, chunks=(1000, 16)), 5)
    msg = str(info.value)
    assert "\n" not in msg and "3000 rows need about" in msg and "(1000 rows fit)" in msg
    assert dballs.max_client_rows(48 * 1000) == 1000


def test_bad_rows_and_the_exact_path_are_refused(sync):
    X = clustered(2000)
    X[1701, 2] = np.inf
    D = da.from_array(X, chunks=(500, 16))
    with pytest.raises(InvalidValueError, match=re.escape("first at row 1701")):
        ProbCoverQuery().select(D, 5)
    with pytest.raises(InvalidValueError, match=r"approximate=False\) does not run on distributed inputs"):
        ProbCoverQuery(approximate=False).select(D, 5)


def test_a_single_label_pool_takes_the_spread_as_one_machine(sync):
    X = np.repeat(clustered(1, k=1), 1200, axis=0)  # one row 1200 times: k-means finds one label
    one, (i1, s1), q, (i2, s2) = both(X, 5, chunks=300, n_classes=2, purity=1.0)
    assert q.delta_ == one.delta_ > 0  # the spread: every distance to another label is inf
    np.testing.assert_array_equal(i2, i1)
