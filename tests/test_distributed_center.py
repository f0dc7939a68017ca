"""GramSchmidtQuery(center=True) and gram_schmidt_centered on distributed inputs (real dask).

The distributed pool runs the single machine's sampler on the rows minus
their float64 mean row, centred as the workers read them (one more pass
first: validation, magnitude, column sums).
"""

from __future__ import annotations

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from subsel_plugins import GramSchmidtQuery, get_strategy  # noqa: E402
from subsel_plugins.dispatch import select_with_scores  # noqa: E402
from subsel_plugins.distributed import DaskRows, NpyShards  # noqa: E402
from subsel_plugins.errors import InvalidValueError  # noqa: E402
from subsel_plugins.testing import (  # noqa: E402
    PAIR_TEST_X,
    chi_square_pvalue,
    exact_pair_probabilities,
    first_two_pick_counts,
)

ALPHA = 1e-3
N_DRAWS = 600  # every pair of the centred law expects >= 6


@pytest.fixture
def sync():
    with dask.config.set(scheduler="synchronous"):
        yield


def dyadic(n=256, d=6, seed=0, offset=0.0):
    """Small integers times powers of two (n a power of two): the float64 mean and centring are exact."""
    rng = np.random.default_rng(seed)
    return rng.integers(-40, 41, size=(n, d)) * 2.0 ** -np.arange(d) + offset


# -- the law ---------------------------------------------------------------------


def test_first_two_picks_follow_the_law_of_the_centred_rows_not_the_raw_ones(sync):
    # one orthant, as raw pixels: the raw and the centred laws differ clearly;
    # three chunks (2, 2, 1 rows): a mean taken from one chunk would be another law
    X = PAIR_TEST_X + np.array([4.0, 3.0, 5.0])
    D = da.from_array(X, chunks=(2, 3))
    counts = first_two_pick_counts(lambda s: GramSchmidtQuery(center=True, random_state=s), D, N_DRAWS)
    centred = exact_pair_probabilities(X - X.mean(axis=0), "gram_schmidt", "l2")
    assert chi_square_pvalue(counts, centred, N_DRAWS) > ALPHA
    # power: the same counts are rejected against the law of the rows as stored
    assert chi_square_pvalue(counts, exact_pair_probabilities(X, "gram_schmidt", "l2"), N_DRAWS) < ALPHA


# -- the same sampler on the centred rows ---------------------------------------------


def test_centred_picks_are_gs_on_the_centred_matrix_and_ignore_a_shift(sync):
    X = dyadic()
    Xc = X - X.mean(axis=0)  # exact (dyadic rows, 256 of them)
    shift = np.array([1000.0, -37.5, 12.25, 3.0, -0.125, 64.0])

    def run(M, center, seed):
        q = GramSchmidtQuery(center=center, random_state=seed)
        return q.select_with_scores(da.from_array(M, chunks=(70, 6)), 12, labeled=[4, 100])

    for seed in range(3):
        idx, scores = run(X, True, seed)
        np.testing.assert_array_equal(run(X + shift, True, seed)[0], idx)  # same seed, same picks
        on_xc = run(Xc, False, seed)  # the same sampler on the centred matrix: the same draws
        np.testing.assert_array_equal(on_xc[0], idx)
        np.testing.assert_array_equal(on_xc[1], scores)
        assert not np.array_equal(run(X + shift, False, seed)[0], idx)  # without centring the shift matters


def test_extreme_magnitudes_are_rescaled_then_centred_and_scores_scale_back(sync):
    X = dyadic(seed=1, offset=3.0)
    base_idx, base_scores = GramSchmidtQuery(center=True, random_state=5).select_with_scores(
        da.from_array(X, chunks=(50, 6)), 10
    )
    for k in (900, -900):
        q = GramSchmidtQuery(center=True, random_state=5)
        idx, scores = q.select_with_scores(da.from_array(np.ldexp(X, k), chunks=(50, 6)), 10)
        np.testing.assert_array_equal(idx, base_idx)
        np.testing.assert_array_equal(scores, np.ldexp(base_scores, k))
    # nearly constant features: the centred rows are tiny and the pool rescales them again
    tiny = 1.0 + np.ldexp(X, -39)
    pools = []
    idx, scores = select_with_scores(
        GramSchmidtQuery(center=True, random_state=5),
        da.from_array(tiny, chunks=(50, 6)),
        10,
        progress=lambda event, pool: pools.append(pool) if event == "init" else None,
    )
    (pool,) = pools
    # centred rows of max about 2**-33: scaled by 2**33 after the centring (rows and mean)
    assert pool.e == -33 and pool.source.scale_exponent == -33 and pool.source.center_mean is not None
    np.testing.assert_array_equal(idx, base_idx)
    np.testing.assert_array_equal(scores, np.ldexp(base_scores, -39))


def test_the_mean_is_part_of_the_token_and_rows_are_float64(sync):
    X = dyadic(n=64, d=3).astype(np.float32)
    src = DaskRows(da.from_array(X, chunks=(20, 3)))
    a, b = src.centered(X.mean(axis=0, dtype=np.float64)), src.centered(np.zeros(3))
    toks = {dask.base.tokenize(s) for s in (src, a, b)}
    assert len(toks) == 3
    assert a.dtype == np.float64 and a[np.arange(64)].dtype == np.float64
    np.testing.assert_array_equal(a[np.arange(64)], X.astype(np.float64) - X.mean(axis=0, dtype=np.float64))


# -- shards: the registered variant, labeled rows, validation ----------------------------


def _shards(tmp_path, X, cuts):
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        np.save(tmp_path / f"part-{k}.npy", X[a:b])
    return str(tmp_path / "part-*.npy")


def test_gram_schmidt_centered_on_shards_on_a_local_cluster(tmp_path):
    rng = np.random.default_rng(3)
    X = (np.abs(rng.normal(size=(900, 10))) + 2.0).astype(np.float32)  # one orthant
    glob = _shards(tmp_path, X, [0, 250, 600, 900])
    assert NpyShards(glob).n_chunks == 3
    labeled = np.array([0, 7, 260, 899])
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster):
            q = get_strategy("gram_schmidt_centered", random_state=11)
            idx, scores = q.select_with_scores(glob, 25, labeled=labeled)
    assert idx.dtype == np.int64 and idx.shape == (25,) and np.unique(idx).size == 25
    assert idx.min() >= 0 and idx.max() < 900 and not np.isin(idx, labeled).any()
    assert np.isfinite(scores).all() and (scores > 0).all()
    assert q.stats_["chunks"] == 3 and "center" in q.stats_["traffic"]
    with dask.config.set(scheduler="synchronous"):  # a seed picks the same on any scheduler
        again = get_strategy("gram_schmidt_centered", random_state=11).select(glob, 25, labeled=labeled)
    np.testing.assert_array_equal(idx, again)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_bad_value_in_a_shard_names_its_global_row(tmp_path, sync, bad):
    X = dyadic(n=120, d=4, offset=2.0)
    X[80 + 3, 2] = bad
    glob = _shards(tmp_path, X, [0, 50, 80, 120])
    with pytest.raises(InvalidValueError, match=r"NaN or infinity \(first at row 83\)"):
        get_strategy("gram_schmidt_centered", random_state=0).select(glob, 3)


def test_deterministic_gs_is_still_refused_in_one_line(sync):
    D = da.from_array(dyadic(n=64, d=4), chunks=(20, 4))
    for center in (False, True):
        with pytest.raises(InvalidValueError, match="randomized=False") as err:
            GramSchmidtQuery(randomized=False, center=center).select(D, 3)
        msg = str(err.value)
        assert "\n" not in msg and "pass over every chunk per pick" in msg and "randomized=True" in msg
