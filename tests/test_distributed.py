"""Distributed selection (subsel_plugins.distributed) against real dask, distributed and zarr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from subsel_plugins import (  # noqa: E402
    FeatureNormQuery,
    GramSchmidtQuery,
    ProbCoverQuery,
    RandomQuery,
    ThenQuery,
    TypiClustGSQuery,
    get_strategy,
)
from subsel_plugins.dispatch import select_with_scores  # noqa: E402
from subsel_plugins.distributed import NpyShards, SeededRows, is_distributed_input  # noqa: E402
from subsel_plugins.errors import (  # noqa: E402
    InvalidTypeError,
    InvalidValueError,
    MissingFileError,
)
from subsel_plugins.testing import (  # noqa: E402
    PAIR_TEST_X,
    chi_square_pvalue,
    exact_pair_probabilities,
    exact_restart_pair_probabilities,
    first_two_pick_counts,
)

ALPHA = 1e-3
N_DRAWS = 2000


@pytest.fixture
def sync():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def client():
    """A real in-process LocalCluster with two single-threaded workers."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def pool(n=3000, d=12, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * np.linspace(3.0, 0.2, d)).astype(dtype)


# -- the law: chi-square of the first two picks against enumeration ----------
# PAIR_TEST_X cut into three chunks (2, 2, 1 rows): the proposal draws a chunk,
# then a row inside it, and the second pick is tested against stale bounds.
PAIRS = da.from_array(PAIR_TEST_X, chunks=(2, 3))


def test_gram_schmidt_first_two_picks_follow_alg1(sync):
    counts = first_two_pick_counts(lambda s: GramSchmidtQuery(random_state=s), PAIRS, N_DRAWS)
    p = chi_square_pvalue(counts, exact_pair_probabilities(PAIR_TEST_X, "gram_schmidt"), N_DRAWS)
    assert p > ALPHA, p


@pytest.mark.slow
def test_gram_schmidt_first_two_picks_with_labeled_rows(sync):
    counts = first_two_pick_counts(lambda s: GramSchmidtQuery(random_state=s), PAIRS, N_DRAWS, labeled=[4])
    exact = exact_pair_probabilities(PAIR_TEST_X, "gram_schmidt", labeled=[4])
    assert chi_square_pvalue(counts, exact, N_DRAWS) > ALPHA


def test_feature_norm_race_first_two_picks(sync):
    counts = first_two_pick_counts(lambda s: FeatureNormQuery(random_state=s), PAIRS, N_DRAWS)
    p = chi_square_pvalue(counts, exact_pair_probabilities(PAIR_TEST_X, "feature_norm"), N_DRAWS)
    assert p > ALPHA, p
    # the test has power: the same draws are rejected as Gram-Schmidt's law
    assert chi_square_pvalue(counts, exact_pair_probabilities(PAIR_TEST_X, "gram_schmidt"), N_DRAWS) < ALPHA


# -- where the indices equal the single-machine path's, and where not ---------


def test_random_and_top_norms_equal_the_single_machine_path(client):
    X = pool()
    D = da.from_array(X, chunks=(700, 12))
    lab = [5, 17, 2999]
    for make in (
        lambda: RandomQuery(random_state=3),
        lambda: FeatureNormQuery(randomized=False),
        lambda: FeatureNormQuery(norm="l1", randomized=False),
    ):
        got, gs = make().select_with_scores(D, 50, labeled=lab)
        ref, rs = make().select_with_scores(X, 50, labeled=lab)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_allclose(gs, rs)


def test_same_seed_same_picks_on_any_scheduler_and_worker_count(client):
    """Every random number comes from the client: sync and a 2-worker cluster agree."""
    X = pool()
    D = da.from_array(X, chunks=(500, 12))
    on_cluster = [GramSchmidtQuery(random_state=s).select(D, 8, labeled=[0, 1]) for s in range(3)]
    norm_cluster = FeatureNormQuery(random_state=1).select(D, 30)
    with dask.config.set(scheduler="synchronous"):
        on_sync = [GramSchmidtQuery(random_state=s).select(D, 8, labeled=[0, 1]) for s in range(3)]
        norm_sync = FeatureNormQuery(random_state=1).select(D, 30)
    for a, b in zip(on_cluster, on_sync):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(norm_cluster, norm_sync)


def test_gram_schmidt_is_gram_schmidt(client):
    """Scores are the residual norms against the span of the labeled and earlier picks."""
    X = pool(n=2000, d=10).astype(np.float64)
    D = da.from_array(X, chunks=(300, 10))
    lab = np.array([3, 4])
    idx, scores = GramSchmidtQuery(random_state=0).select_with_scores(D, 8, labeled=lab)
    assert not set(idx) & set(lab)
    for t, i in enumerate(idx):
        basis = X[np.r_[lab, idx[:t]]]
        Q, _ = np.linalg.qr(basis.T)
        r = X[i] - Q @ (Q.T @ X[i])
        assert scores[t] == pytest.approx(np.linalg.norm(r), rel=1e-9)


def test_labeled_span_is_never_picked_before_the_rest(client):
    """Copies of labeled rows have zero residual: Gram-Schmidt never takes them while others remain."""
    X = pool(n=400, d=6).astype(np.float64)
    X[200:260] = X[0] * np.arange(1, 61)[:, None]  # multiples of labeled row 0
    D = da.from_array(X, chunks=(64, 6))
    for seed in range(3):
        idx = GramSchmidtQuery(random_state=seed).select(D, 5, labeled=[0])
        assert not np.isin(idx, np.r_[0, 200:260]).any()


def test_exhausted_residuals_fill_by_norm_with_a_warning(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 5))  # rank 2
    D = da.from_array(X, chunks=(100, 5))
    with pytest.warns(RuntimeWarning, match="residuals vanished after 2 picks"):
        idx, scores = GramSchmidtQuery(random_state=0, exhausted="norm").select_with_scores(D, 6)
    assert len(set(idx)) == 6
    assert np.all(scores[2:] == 0) and np.all(scores[:2] > 0)


# Five rows of rank 2 in 3-D, in chunks of 2, 2 and 1 rows: picks 3 and 4 are round 2 of Alg. 1.
RESTART_X = np.array([[3.0, 0.2], [2.5, 1.5], [0.1, 2.0], [1.2, -0.4], [1.0, 1.0]]) @ np.array(
    [[1.0, 0.5, -0.3], [0.2, 1.0, 0.7]]
)


def test_restart_past_the_rank_follows_the_enumerated_law(sync):
    D = da.from_array(RESTART_X, chunks=(2, 3))
    counts = {}
    for seed in range(N_DRAWS):
        q = GramSchmidtQuery(exhausted="restart", random_state=seed)
        idx = q.select(D, 4)
        key = (int(idx[2]), int(idx[3]))
        counts[key] = counts.get(key, 0) + 1
    assert q.stats_["restarts"] == 1
    law = exact_restart_pair_probabilities(RESTART_X)
    assert chi_square_pvalue(counts, law, N_DRAWS) > ALPHA
    # power: the norm fallback's picks 3 and 4 are rejected by the same test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        counts = {}
        for seed in range(N_DRAWS):
            idx = GramSchmidtQuery(exhausted="norm", random_state=seed).select(D, 4)
            counts[int(idx[2]), int(idx[3])] = counts.get((int(idx[2]), int(idx[3])), 0) + 1
    assert chi_square_pvalue(counts, law, N_DRAWS) < ALPHA


def test_restart_revives_rows_found_in_the_span_and_skips_zero_rows(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 5))  # rank 2
    X[10:20] = 0.0
    D = da.from_array(X, chunks=(100, 5))
    q = GramSchmidtQuery(exhausted="restart", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback warning: every pick is a real one
        idx, scores = q.select_with_scores(D, 9, labeled=[0])
    assert len(set(idx)) == 9 and 0 not in idx and not np.isin(idx, np.arange(10, 20)).any()
    assert np.all(scores > 0) and q.stats_["restarts"] == 4
    # only zero rows left: drawn uniformly, with a warning
    with pytest.warns(RuntimeWarning, match="only zero rows were left after 289 picks"):
        idx = GramSchmidtQuery(exhausted="restart", random_state=0).select(D, 299, labeled=[0])
    assert np.isin(np.arange(10, 20), idx).sum() == 10


def test_then_query_first_stage_distributed(client):
    X = pool()
    D = da.from_array(X, chunks=(800, 12))
    q = get_strategy("feature_norm_then_gs", random_state=0)
    idx = q.select(D, 10, labeled=[1, 2])
    assert len(set(idx)) == 10 and not np.isin(idx, [1, 2]).any()

    # a deterministic first stage proposes the same candidates as on one machine, and the
    # second stage runs on the client over the same rows: the same picks
    def make():
        return ThenQuery(FeatureNormQuery(randomized=False), GramSchmidtQuery(), random_state=4)

    np.testing.assert_array_equal(make().select(D, 10, labeled=[1, 2]), make().select(X, 10, labeled=[1, 2]))
    with pytest.raises(InvalidTypeError, match="first stage TypiClustGSQuery does not run"):
        ThenQuery(TypiClustGSQuery(), GramSchmidtQuery(), random_state=0).select(D, 5)


# -- inputs: shards, lists, zarr, seeded rows, validation ------------------------


def test_shards_zarr_and_dask_inputs_give_the_same_picks(tmp_path, client):
    zarr = pytest.importorskip("zarr")
    X = pool(n=2500)
    for k, s in enumerate(range(0, 2500, 1000)):
        np.save(tmp_path / f"emb_{k:02d}.npy", X[s : s + 1000])
    z = zarr.open(str(tmp_path / "emb.zarr"), mode="w", shape=X.shape, chunks=(500, 12), dtype="f4")
    z[:] = X
    shards = NpyShards(str(tmp_path / "emb_*.npy"), chunk_rows=500)
    D = da.from_array(X, chunks=(500, 12))
    ref = GramSchmidtQuery(random_state=5).select(D, 10, labeled=[7])
    for inp in (shards, str(tmp_path / "emb.zarr"), z):
        np.testing.assert_array_equal(GramSchmidtQuery(random_state=5).select(inp, 10, labeled=[7]), ref)
    # a glob string chunks shards by size: same norm top-k, any chunking
    files = sorted(str(p) for p in tmp_path.glob("emb_*.npy"))
    for inp in (str(tmp_path / "emb_*.npy"), files):
        np.testing.assert_array_equal(
            FeatureNormQuery(randomized=False).select(inp, 20),
            FeatureNormQuery(randomized=False).select(X, 20),
        )


def test_seeded_rows_read_by_row_equal_read_by_chunk():
    src = SeededRows(5000, 7, seed=3, chunk_rows=2048)
    full = np.concatenate([src.read_block(c) for c in range(src.n_chunks)])
    rows = np.array([0, 1023, 1024, 2047, 2048, 4999])
    for c in range(src.n_chunks):
        local = rows[(rows >= src.starts[c]) & (rows < src.starts[c + 1])] - src.starts[c]
        np.testing.assert_array_equal(src.read_rows(c, local), full[src.starts[c] + local])
    assert full.shape == (5000, 7) and np.isfinite(full).all()


def test_nan_in_a_shard_names_its_global_row(tmp_path, sync):
    X = pool(n=300)
    X[250, 3] = np.nan
    np.save(tmp_path / "a.npy", X[:200])
    np.save(tmp_path / "b.npy", X[200:])
    for s in (
        GramSchmidtQuery(random_state=0),
        FeatureNormQuery(random_state=0),
        RandomQuery(random_state=0),
    ):
        with pytest.raises(InvalidValueError, match=r"NaN or infinity \(first at row 250\)"):
            s.select(str(tmp_path / "*.npy"), 3)


def test_extreme_magnitudes_pick_as_the_rescaled_matrix(sync):
    X = pool(n=600, d=5).astype(np.float64)
    D = da.from_array(X, chunks=(100, 5))
    for make in (lambda: GramSchmidtQuery(random_state=2), lambda: FeatureNormQuery(random_state=2)):
        ref, rs = make().select_with_scores(D, 4)
        for scale in (2.0**300, 2.0**-300):
            got, gs = make().select_with_scores(D * scale, 4)
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_allclose(gs, rs * scale, rtol=1e-12)


def test_scores_past_the_float_maximum_stay_rescaled_with_a_warning(sync):
    # Issue 22: np.full((20, 4), 1.5e308) returned the right rows with scores inf.
    from subsel_plugins._validation import ScoresNotRescaledWarning

    D = da.from_array(np.full((20, 4), 1.5e308), chunks=(5, 4))
    with pytest.warns(ScoresNotRescaledWarning, match="The picks are unchanged"):
        idx, scores = FeatureNormQuery(randomized=False, random_state=0).select_with_scores(D, 3)
    np.testing.assert_array_equal(idx, [0, 1, 2])
    np.testing.assert_allclose(scores, np.full(3, 2 * np.ldexp(1.5e308, -1024)), rtol=1e-12)


def test_gram_schmidt_scores_past_the_float_maximum_are_not_inf(sync):
    D = da.from_array(np.full((20, 4), 1.5e308), chunks=(5, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, scores = GramSchmidtQuery(random_state=0).select_with_scores(D, 3)
    assert np.isfinite(scores).all()


def test_bad_inputs_and_unsupported_strategies_say_what_is_supported(tmp_path, sync):
    D = da.from_array(pool(n=100), chunks=(30, 12))
    with pytest.raises(
        InvalidTypeError, match="distributed strategies are random, feature_norm, gram_schmidt"
    ):
        TypiClustGSQuery().select(D, 3)
    with pytest.raises(InvalidValueError, match=r"ProbCoverQuery\(approximate=False\) does not run"):
        ProbCoverQuery(approximate=False).select(D, 3)
    with pytest.raises(InvalidValueError, match="randomized=False"):
        GramSchmidtQuery(randomized=False).select(D, 3)
    with pytest.raises(InvalidValueError, match="features=...\\) is not applied"):
        FeatureNormQuery(features=lambda a: a).select(D, 3)
    with pytest.raises(InvalidValueError, match="budget=99 exceeds the 98 unlabeled rows"):
        GramSchmidtQuery().select(D, 99, labeled=[0, 1])
    with pytest.raises(InvalidValueError, match="labeled holds index 100"):
        GramSchmidtQuery().select(D, 3, labeled=[100])
    with pytest.raises(MissingFileError, match="no file matches"):
        GramSchmidtQuery().select(str(tmp_path / "none*.npy"), 3)
    np.save(tmp_path / "a.npy", np.zeros((4, 3)))
    np.save(tmp_path / "b.npy", np.zeros((4, 2)))
    with pytest.raises(InvalidValueError, match="different numbers of columns"):
        GramSchmidtQuery().select(str(tmp_path / "*.npy"), 3)
    assert not is_distributed_input([1.0, 2.0]) and not is_distributed_input(np.zeros((2, 2)))


def test_client_memory_is_candidates_not_the_pool(sync):
    """The client gathers only candidate rows: bytes to the client ~ trials x d, never N x d."""
    src = SeededRows(200_000, 16, seed=1, chunk_rows=16384)
    q = GramSchmidtQuery(random_state=0)
    idx = q.select(src, 12)
    tr = q.stats_["traffic"]
    assert len(set(idx)) == 12
    assert tr["rows"]["to_client"] == q.stats_["trials"] * 16 * 4
    total = sum(p["to_client"] for p in tr.values())
    assert total < 200_000 * 16 * 4 / 20


# -- faults ------------------------------------------------------------------------


def test_a_worker_killed_mid_selection_changes_nothing():
    """Kill a worker process after the first refresh: its chunk states are recomputed from the source."""
    src = SeededRows(60_000, 24, seed=1, chunk_rows=4096)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as cluster:
        with distributed.Client(cluster) as c:
            ref, ref_s = select_with_scores(GramSchmidtQuery(random_state=0), src, 20, labeled=[3])
            before = set(c.run(os.getpid).values())
            killed, after = [], []

            def kill_once(event, gs):
                if killed:
                    after.append(event)
                elif event == "refresh":
                    pid = sorted(c.run(os.getpid).values())[0]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

            q = GramSchmidtQuery(random_state=0)
            got, got_s = select_with_scores(q, src, 20, labeled=[3], progress=kill_once)
            # the kill came mid-selection: later trials drew from the refreshed chunk states
            assert killed and "batch" in after
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_array_equal(got_s, ref_s)
            c.wait_for_workers(2, timeout=60)
            assert set(c.run(os.getpid).values()) != before  # a new worker process replaced it


def test_a_failure_the_cluster_does_not_recover_from_is_one_error():
    """A chunk whose computation kills its worker every time: ClusterError, no partial result."""
    from subsel_plugins.errors import ClusterError

    def die_on_chunk_1(x, block_info=None):
        if block_info[0]["chunk-location"][0] == 1:
            os._exit(1)
        return x

    D = da.ones((400, 4), chunks=(100, 4)).map_blocks(die_on_chunk_1, dtype=float)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        ) as cluster:
            with distributed.Client(cluster):
                with pytest.raises(ClusterError, match="no result was returned"):
                    GramSchmidtQuery(random_state=0).select(D, 3)


# -- the command line ----------------------------------------------------------------


def run_cli(*args, timeout=120, env=None):
    return subprocess.run(
        [sys.executable, "-m", "subsel_plugins.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_cli_select_shards_on_a_local_cluster(tmp_path):
    X = pool(n=900, d=8)
    for k in range(3):
        np.save(tmp_path / f"emb_{k}.npy", X[300 * k : 300 * (k + 1)])
    (tmp_path / "lab.txt").write_text("0\n1\n")
    glob = str(tmp_path / "emb_*.npy")
    common = ("-s", "gram_schmidt", "-b", "5", "--seed", "0", "--labeled", str(tmp_path / "lab.txt"))
    out = run_cli("select", glob, *common)
    assert out.returncode == 0, out.stderr
    local = run_cli("select", glob, *common, "--scheduler", "local:2")
    assert local.returncode == 0, local.stderr
    picks = [int(t) for t in local.stdout.split()]
    assert picks == [int(t) for t in out.stdout.split()]
    assert len(set(picks)) == 5 and not {0, 1} & set(picks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GramSchmidtQuery(random_state=0).select(glob, 5, labeled=[0, 1])
    assert picks == ref.tolist()


@pytest.mark.parametrize(
    "scheduler, message",
    [
        ("tcp://127.0.0.1:9", "could not connect to tcp://127.0.0.1:9 within 2 s"),
        ("foo", "--scheduler must be 'local', 'local:N' or a scheduler address"),
        ("local:0", "needs N >= 1 workers"),
    ],
)
def test_cli_bad_scheduler_is_one_line_exit_2(tmp_path, scheduler, message):
    np.save(tmp_path / "emb_0.npy", pool(n=50, d=4))
    out = run_cli(
        "select", str(tmp_path / "emb_*.npy"), "-s", "gram_schmidt", "-b", "3", "--scheduler", scheduler,
        timeout=60, env={"SUBSEL_DASK_TIMEOUT": "2"},
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_cli_unsupported_strategy_is_one_line(tmp_path):
    np.save(tmp_path / "emb_0.npy", pool(n=50, d=4))
    out = run_cli("select", str(tmp_path / "emb_*.npy"), "-s", "typiclust_gs", "-b", "3")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "TypiClustGSQuery does not run on distributed inputs" in out.stderr


def test_without_dask_a_distributed_input_names_the_extra(tmp_path):
    np.save(tmp_path / "emb_0.npy", pool(n=50, d=4))
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed'):\n"
        "            raise ModuleNotFoundError(f'blocked: {name}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from subsel_plugins import GramSchmidtQuery\n"
        "from subsel_plugins.errors import MissingDependencyError\n"
        "import numpy as np\n"
        "GramSchmidtQuery().select(np.zeros((4, 2)) + 1, 1)\n"
        "try:\n"
        f"    GramSchmidtQuery().select({str(tmp_path / 'emb_*.npy')!r}, 2)\n"
        "except MissingDependencyError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "pip install 'subsel-plugins[dask]'" in out.stdout


def test_empty_inputs_say_so(tmp_path, sync):
    zarr = pytest.importorskip("zarr")
    z = zarr.open(str(tmp_path / "e.zarr"), mode="w", shape=(0, 4), chunks=(8, 4), dtype="f4")
    np.save(tmp_path / "e.npy", np.zeros((0, 4), dtype=np.float32))
    for X in (da.zeros((0, 4), chunks=(1, 4)), z, str(tmp_path / "e.npy")):
        with pytest.raises(InvalidValueError, match=r"X is empty \(shape \(0, 4\)\)"):
            GramSchmidtQuery(random_state=0).select(X, 1)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads the process's maps (Linux)")
def test_reading_a_shard_leaves_no_memory_map_open(tmp_path):
    # a map kept open counts every page it touched in the worker's memory, until Dask pauses
    # the worker at 80% of its limit (a TypiClust run at 10^7 rows waited there for ever)
    from subsel_plugins.distributed._sources import BlockRef, NpyShards, take_rows

    X = np.arange(1200, dtype=np.float32).reshape(200, 6)
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "b.npy", np.asfortranarray(X))  # read through a map, block and rows
    src = NpyShards(str(tmp_path / "*.npy"))
    np.testing.assert_array_equal(take_rows(BlockRef(src, 0), np.array([5, 1, 150])), X[[5, 1, 150]])
    np.testing.assert_array_equal(take_rows(BlockRef(src, 1), np.array([7])), X[[7]])
    np.testing.assert_array_equal(src.read_block(1), X)
    with open("/proc/self/maps") as fh:
        assert str(tmp_path) not in fh.read()
    # a pass maps its chunk while it runs (pieces are views of the page cache), and no longer
    for c in range(src.n_chunks):
        pieces = src.iter_rows(c, 64)
        s, first = next(pieces)
        assert s == 0 and type(first) is np.ndarray
        if c == 0:
            with open("/proc/self/maps") as fh:
                assert str(tmp_path / "a.npy") in fh.read()
        got = np.concatenate([first] + [p for _, p in pieces])
        np.testing.assert_array_equal(got, X)
        del first, got
    with open("/proc/self/maps") as fh:
        assert str(tmp_path) not in fh.read()
