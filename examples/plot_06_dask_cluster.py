"""
Selection on a Dask cluster
===========================

For pools no single machine holds, ``random``, ``feature_norm``,
``gram_schmidt`` and ``<one of them>_then_<any>`` run on a
`Dask <https://docs.dask.org>`_ cluster through the same ``select`` call: pass a
dask array, a glob of ``.npy`` shards or a zarr array, and the tasks run on the
active ``distributed.Client``. Indices in and out are global row indices.

Here the cluster is a ``LocalCluster`` in this process (``processes=False``,
so the example also runs inside the documentation build). With worker
*processes* (the default, and what ``subsel select --scheduler local`` starts),
a script must keep the cluster under ``if __name__ == "__main__":``, because the
workers are spawned and import the script again.
"""

import tempfile
from pathlib import Path

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from subsel_plugins import FeatureNormQuery, GramSchmidtQuery


def main():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 32)).astype(np.float32) * rng.lognormal(size=(20_000, 1))
    with tempfile.TemporaryDirectory() as tmp:
        # an embedding job's output: row shards, concatenated in name order
        for i, part in enumerate(np.array_split(X, 4)):
            np.save(Path(tmp) / f"emb-{i}.npy", part)
        glob = str(Path(tmp) / "emb-*.npy")

        cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
        with cluster, Client(cluster) as client:
            print("workers:", len(client.scheduler_info()["workers"]))
            idx = GramSchmidtQuery(random_state=0).select(glob, budget=30)
            print("Gram-Schmidt over the shards:", idx[:10], "...")
            arr = da.from_array(X, chunks=5_000)
            top = FeatureNormQuery(randomized=False).select(arr, budget=5, labeled=idx)
            print("largest norms, labeled rows excluded:", top)

    # deterministic feature_norm picks exactly what one machine picks
    print(
        "same as in memory:",
        np.array_equal(top, FeatureNormQuery(randomized=False).select(X, 5, labeled=idx)),
    )


if __name__ == "__main__":
    main()
