"""Every built-in strategy on every backend it claims: the contract and, where it is enumerable, the law.

The algorithms are written once over the backend protocol (subsel_plugins.backends,
subsel_plugins.distributed.ChunkedPool); these checks are what keeps a backend from
drifting: numpy, torch on the CPU, and Dask (the synchronous scheduler for the law,
a real LocalCluster for the contract).
"""

import functools
import warnings

import numpy as np
import pytest

from subsel_plugins import available_strategies, get_strategy
from subsel_plugins.testing import (
    BACKENDS,
    backend_claims,
    check_backend,
    check_backend_law,
)

BUILTIN = [n for n in available_strategies() if not n.startswith("test_")]
CLAIMS = [(name, b) for name in BUILTIN for b in backend_claims(get_strategy(name))]


def _available(backend):
    if backend == "torch":
        pytest.importorskip("torch")
    if backend == "dask":
        pytest.importorskip("dask.array")
        pytest.importorskip("distributed")


def test_claims_are_what_the_backends_run():
    claims = {name: set(backend_claims(get_strategy(name))) for name in BUILTIN}
    assert all("numpy" in c and c <= set(BACKENDS) for c in claims.values())
    assert claims["gram_schmidt"] == claims["gram_schmidt_centered"] == {"numpy", "torch", "dask"}
    assert claims["feature_norm"] == claims["random"] == {"numpy", "dask"}
    assert "dask" in claims["feature_norm_then_gs"] and "dask" in claims["typiclust_then_gs"]
    assert claims["typiclust"] == claims["probcover"] == {"numpy", "dask"}
    assert "dask" in claims["probcover_then_gs"] and "dask" in claims["probcover_then_norm"]
    assert claims["typiclust_gs"] == claims["typiclust_norm"] == {"numpy"}
    assert claims["kcenter_greedy"] == {"numpy", "dask"} and "dask" in claims["kcenter_greedy_then_gs"]


@pytest.mark.parametrize("name,backend", CLAIMS, ids=[f"{n}-{b}" for n, b in CLAIMS])
def test_contract_on_each_claimed_backend(name, backend):
    _available(backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GS past the rank of 6-d data says so
        check_backend(functools.partial(get_strategy, name), backend)


LAW = [(n, b) for n, b in CLAIMS if n in ("random", "feature_norm", "gram_schmidt")]


@pytest.mark.slow
@pytest.mark.parametrize("name,backend", LAW, ids=[f"{n}-{b}" for n, b in LAW])
def test_law_on_each_claimed_backend(name, backend):
    _available(backend)
    # 600 draws on Dask (each a few dask computes); every pair expects >= 6
    check_backend_law(
        functools.partial(get_strategy, name), backend, n_draws=600 if backend == "dask" else 1000
    )


def test_law_check_fails_a_sampler_that_drifts(monkeypatch):
    # the check itself can fail: a Dask pool whose proposal ignores the bounds
    # (uniform over rows, still "accepted" in proportion) draws from another law
    pytest.importorskip("dask.array")
    from subsel_plugins.distributed import _pool

    real = _pool.ChunkedPool.propose

    def skewed(self, m, rng):
        batch = real(self, m, rng)
        batch.bound = batch.bound * np.where(batch.rows == 0, 3.0, 1.0)  # row 0's trials accept less often
        return batch

    monkeypatch.setattr(_pool.ChunkedPool, "propose", skewed)
    with pytest.raises(AssertionError, match="exact law"):
        check_backend_law(functools.partial(get_strategy, "gram_schmidt"), "dask", n_draws=600)


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, b in CLAIMS if b == "dask"])
def test_contract_on_a_local_cluster(name, cluster_client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_backend(functools.partial(get_strategy, name), "dask")
