"""The Dask backend of :class:`~subsel_plugins.backends.ClusterPool`: TypiClust's clusters on the workers.

TypiClust's loop (``TypiClustQuery._visit``) is the single machine's, on its
approximate path; this pool keeps what is N-sized on the workers:

- **k-means on a sample** (:func:`~subsel_plugins.kernels.sample_kmeans_centroids`,
  the single machine's): the sampled rows (256 per cluster) are gathered on
  the client, L2-normalized and clustered there;
- **every row assigned on the workers**: one task per chunk normalizes its
  rows and takes their nearest centroid
  (:func:`~subsel_plugins.kernels.nearest_centroid`); the labels stay there,
  persisted, and the client receives the cluster sizes;
- **a visited cluster's members** are listed by one task per chunk over the
  persisted labels (no read of the source), and their rows are gathered to the
  client, where the typicality is computed as on one machine. The client holds
  O(K + the largest cluster visited x d), never O(N d).

The rows are normalized by the same kernel per row as on one machine and the
sample is the same, so the picks are those of
``TypiClustQuery(approximate=True)`` on one machine for the same seed (up to
ties in a row's nearest centroid that a float32 product of another block
shape could break the other way).
"""

from __future__ import annotations

import numpy as np

from ..backends import ClusterPool
from ..kernels import nearest_centroid, sample_kmeans_centroids, unit_rows_float32
from ._passes import ValidatedPool, gather_rows, split_by_chunk
from ._sources import BlockRef, iter_pieces, take_rows

#: Rows per piece of a worker's assignment pass.
ASSIGN_ROWS = 65536


def _task_assign(block, centroids):
    """Cluster labels (int32) of a chunk's rows: L2-normalized, then their nearest centroid."""
    parts = [
        nearest_centroid(unit_rows_float32(piece), centroids) for _, piece in iter_pieces(block, ASSIGN_ROWS)
    ]
    return np.concatenate(parts).astype(np.int32) if parts else np.empty(0, np.int32)


def _task_sizes(labels, n_clusters):
    return np.bincount(labels, minlength=n_clusters)


def _task_members(labels, ref, cluster):
    """Local indices of the chunk's rows in ``cluster``, and (``ref``: a BlockRef) those rows read here."""
    local = np.flatnonzero(labels == cluster)
    return local, (take_rows(ref, local) if ref is not None else None)


def assign_to_centroids(pool, centroids, phase):
    """One pass of ``pool`` (a :class:`ValidatedPool`): every row's nearest centroid, persisted per
    chunk on the workers; returns (the per-chunk labels, the cluster sizes (k,) int64)."""
    dask, delayed = pool._dask, pool._delayed
    dC = delayed(centroids)  # one copy per worker, not one per chunk
    blocks = [pool.source.block_task(c) for c in range(pool.source.n_chunks)]
    labels = list(dask.persist(*[delayed(_task_assign)(b, dC) for b in blocks]))
    sizes = dask.compute(*[delayed(_task_sizes)(lab, centroids.shape[0]) for lab in labels])
    pool.stats["passes"] += 1
    back = sum(s.nbytes for s in sizes)
    pool.traffic.add(phase, to_client=back, to_workers=centroids.nbytes, tasks=len(sizes))
    return labels, np.sum(sizes, axis=0).astype(np.int64)


def labels_at(pool, labels, rows) -> np.ndarray:
    """The persisted per-chunk ``labels`` of the global ``rows`` (any order), gathered to the client."""
    dask, delayed = pool._dask, pool._delayed
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    parts = split_by_chunk(pool.source, rows)
    got = dask.compute(*[delayed(_task_labels_at)(labels[c], p) for c, p in enumerate(parts) if p.size])
    out = np.empty(rows.size, dtype=np.int64)
    out[order] = np.concatenate(got) if got else np.empty(0, np.int64)
    return out


def _task_labels_at(labels, local):
    return labels[local]


class UnitRows:
    """Rows of a source L2-normalized as float32 when read by index (TypiClust's ``F``).

    The rows of the cluster last listed by :meth:`ChunkedClusterPool.members`
    came with the listing (``remember``): reading exactly those is served
    without a second round trip.
    """

    def __init__(self, source, traffic=None):
        self.source, self.traffic = source, traffic
        self.shape = (source.n, source.d)
        self._rows = self._X = None

    def remember(self, rows, X):
        self._rows, self._X = rows, X

    def __getitem__(self, rows):
        rows = np.asarray(rows)
        if self._rows is not None and rows.shape == self._rows.shape and np.array_equal(rows, self._rows):
            return unit_rows_float32(self._X)
        return unit_rows_float32(gather_rows(self.source, rows, self.traffic, "members"))


class ChunkedClusterPool(ValidatedPool, ClusterPool):
    """:class:`~subsel_plugins.backends.ClusterPool` over a row-chunked source (module docstring).

    A first pass validates the source (NaN or infinity: an error naming the
    first bad row); features of extreme magnitude are read rescaled by an
    exact power of two (``e``), which changes no normalized row.

    Attributes
    ----------
    source : RowSource
        The rows as read (rescaled when ``e``); ``X`` for the in-cluster choice.
    unit_rows : UnitRows
        Their L2-normalized rows by index; ``F`` for the in-cluster choice.
    stats : dict
        ``passes``, and from :meth:`finish_stats` ``traffic``, ``seconds``, ``chunks``.
    """

    def __init__(self, source):
        self._start(source, clusters_visited=0)
        self.unit_rows = UnitRows(self.source, self.traffic)
        self._out = np.empty(0, dtype=np.int64)  # rows out of the race, sorted

    def fit(self, n_clusters, seed):
        centroids = sample_kmeans_centroids(self.unit_rows.__getitem__, self.n, n_clusters, seed)
        self.labels, sizes = assign_to_centroids(self, centroids, "assign")
        return sizes

    def labels_of(self, rows):
        return labels_at(self, self.labels, rows)

    def take(self, rows):
        self._out = np.union1d(self._out, np.asarray(rows, dtype=np.int64))

    def members(self, cluster):
        """One task per chunk lists the cluster's rows and reads them (one round trip per visit).

        Sources read by :class:`BlockRef` (shards, zarr, seeded rows) read the
        rows in the listing task; a dask array's rows are gathered after it
        (reading a few rows computes their chunk).
        """
        dask, delayed = self._dask, self._delayed
        refs = [self.source.block_task(c) for c in range(self.source.n_chunks)]
        fused = all(isinstance(r, BlockRef) for r in refs)
        parts = dask.compute(
            *[
                delayed(_task_members)(lab, ref if fused else None, int(cluster))
                for lab, ref in zip(self.labels, refs)
            ]
        )
        rows = np.concatenate([self.source.starts[c] + loc for c, (loc, _) in enumerate(parts)])
        free = ~np.isin(rows, self._out, assume_unique=True)
        rows = rows[free]
        if fused:
            X = np.concatenate([x for _, x in parts])[free]
        else:
            X = gather_rows(self.source, rows, self.traffic, "members")
        self.unit_rows.remember(rows, X)
        self.stats["clusters_visited"] += 1
        self.traffic.add("members", to_client=rows.nbytes + X.nbytes, tasks=len(parts))
        return rows
