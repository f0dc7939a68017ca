"""The Dask backend of :class:`~subsel_plugins.backends.DistancePool`: nearest-center distances.

Farthest-first traversal (``subsel_plugins.strategies._kcenter.farthest_first``)
is the single machine's; this pool keeps, per chunk, a persisted state on the
workers: each row's squared distance to its nearest center (``-inf`` for rows
out of the race), each row's squared norm (taken in the first fold: a
one-center fold then screens the rows by a matrix-vector product and computes
directly only those that may get nearer) and the chunk's farthest free row.
A fold is one task per group of consecutive chunks (up to
:data:`FOLD_GROUP_BYTES` of rows: it reads its chunks from the source and
folds the new centers in, with
:func:`~subsel_plugins.kernels.fold_min_sq_distances`, the single machine's
kernel) and one reduction of the groups' maxima on the client: one round trip
per pick. The client holds O(chunks + centers d).

Every state is a pure function of the source and of the client's inputs: a
state lost with a worker is recomputed by the scheduler from the source. The
distances are those of the single machine row for row (the same kernel in
float64), so the picks are the single machine's for the same seed.
"""

from __future__ import annotations

import numpy as np

from ..backends import DistancePool
from ..kernels import fold_min_sq_distances, sq_row_norms64
from ._passes import ValidatedPool, gather_rows, split_by_chunk
from ._sources import block_len, iter_pieces

#: Rows per piece of a worker's fold (a float64 copy of 8192 x 384 is 25 MB).
FOLD_ROWS = 8192

#: Bytes of rows one fold task covers: consecutive chunks are grouped up to this
#: (at least one chunk per group). A pick costs two tasks per group and one
#: round trip: one task per 64 MiB chunk made the scheduler's overhead a large
#: part of each pick at N = 10^7 (benchmarks/results/distributed/n1e7-kcenter.md).
FOLD_GROUP_BYTES = 512 << 20


def _task_fold(state, block, centers, taken):
    """The chunk's next state: ``taken`` rows out of the race, ``centers`` folded into the distances."""
    first = state is None
    mind = np.full(block_len(block), np.inf) if first else state["mind"].copy()
    sq = np.empty(mind.shape[0]) if first else state["sq"]  # never written after the first fold
    mind[taken] = -np.inf
    for s, piece in iter_pieces(block, FOLD_ROWS):
        if first:
            sq[s : s + len(piece)] = sq_row_norms64(piece)
        piece_sq = None if first else sq[s : s + len(piece)]
        fold_min_sq_distances(mind[s : s + len(piece)], piece, centers, piece_sq)
    j = int(np.argmax(mind)) if mind.size else 0
    return {"mind": mind, "sq": sq, "best": (j, float(mind[j]) if mind.size else -np.inf)}


def _task_fold_group(states, blocks, centers, taken):
    """:func:`_task_fold` of each chunk of a group, and the group's farthest free row.

    ``best``: ``(position of the chunk in the group, local row, squared
    distance)``, the first chunk among equal maxima (the lowest index).
    """
    states = [None] * len(blocks) if states is None else states["chunks"]
    chunks = [_task_fold(st, b, centers, t) for st, b, t in zip(states, blocks, taken)]
    g = 0
    for i, st in enumerate(chunks):
        if st["best"][1] > chunks[g]["best"][1]:
            g = i
    return {"chunks": chunks, "best": (g, *chunks[g]["best"])}


def _task_best(state):
    return state["best"]


def fold_groups(source, limit=None):
    """Consecutive chunks of ``source`` grouped up to ``limit`` bytes (:data:`FOLD_GROUP_BYTES`)
    of rows, at least one chunk each: a list of ranges of chunk indices."""
    limit = FOLD_GROUP_BYTES if limit is None else limit
    row_bytes = max(1, source.d * np.dtype(source.dtype).itemsize)
    sizes = np.diff(source.starts) * row_bytes
    groups, start, held = [], 0, 0
    for c, b in enumerate(sizes.tolist()):
        if held and held + b > limit:
            groups.append(range(start, c))
            start, held = c, 0
        held += b
    groups.append(range(start, source.n_chunks))
    return groups


class ChunkedDistancePool(ValidatedPool, DistancePool):
    """:class:`~subsel_plugins.backends.DistancePool` over a row-chunked source (module docstring).

    A first pass validates the source (NaN or infinity: an error naming the
    first bad row); features of extreme magnitude are read rescaled by an
    exact power of two ``2**-e`` (``e``: the attribute). A fold task covers a
    group of consecutive chunks (:func:`fold_groups`).

    Parameters
    ----------
    source : RowSource

    Attributes
    ----------
    stats : dict
        ``passes`` (the validation pass and one per fold), and from
        :meth:`finish_stats` ``traffic``, ``seconds`` and ``chunks``.
    """

    def __init__(self, source):
        self._start(source)
        self.groups = fold_groups(self.source)
        self.states = [None] * len(self.groups)

    def rows(self, idx):
        return gather_rows(self.source, np.asarray(idx, dtype=np.int64), self.traffic, "centers")

    def fold(self, centers, taken):
        dask, delayed = self._dask, self._delayed
        taken = np.asarray(taken, dtype=np.int64)
        parts = split_by_chunk(self.source, taken)
        C = np.ascontiguousarray(centers)
        dC = delayed(C)  # one copy per worker, not one per group
        tasks = [
            delayed(_task_fold_group)(
                self.states[g], [self.source.block_task(c) for c in grp], dC, [parts[c] for c in grp]
            )
            for g, grp in enumerate(self.groups)
        ]
        self.states = list(dask.persist(*tasks))
        best = dask.compute(*[delayed(_task_best)(s) for s in self.states])
        self.traffic.add(
            "fold", to_client=24 * len(best), to_workers=C.nbytes + taken.nbytes, tasks=len(tasks)
        )
        self.stats["passes"] += 1
        vals = np.array([v for *_, v in best])
        g = int(np.argmax(vals))  # the first group among equal maxima: the lowest global index
        if vals[g] == -np.inf:
            return -1, -np.inf
        pos, j, _ = best[g]
        return int(self.source.starts[self.groups[g][pos]]) + int(j), float(vals[g])
