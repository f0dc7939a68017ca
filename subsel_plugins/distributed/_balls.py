"""The Dask backend of :class:`~subsel_plugins.backends.BallPool`: ProbCover's ball graph on the workers.

ProbCover's selection (``ProbCoverQuery._cover``) is the single machine's, on
its approximate path; this pool keeps what is N-sized on the workers:

- **pseudo-labels and cells** (k-means on a sample gathered to the client,
  with the single machine's estimators and samples: the same centroids),
  every row assigned on the workers; the labels stay there, persisted;
- **the radius**: the distances to another pseudo-label of the sampled rows
  (gathered to the client, sent to every chunk), one task per chunk and a
  minimum on the client; the graph-size estimate likewise;
- **the ball graph**: the rows are routed once from their chunks to groups
  of neighbouring cells (a breadth-first walk over the cells' probes, about
  ``GROUP_BYTES`` of unit rows each), each group fetches the rows of the
  partner cells other groups hold, and searches each of its cells exactly as
  one machine does (:func:`~subsel_plugins.backends._balls.cell_edges`, the
  same blocks in the same order). The edges are cut by the chunk of their
  first row and kept on the workers as one CSR per chunk;
- **the greedy** runs on the client (:func:`greedy_cover`, the single
  machine's) over :class:`ChunkedCoverGraph`: one task to read a pick's
  ball, then one task per chunk holding rows it newly covers.

The client holds ``CLIENT_BYTES_PER_ROW`` bytes per row (each row's uncovered
count and whether it is covered): at most ``max_client_rows()`` rows, and a
larger pool is refused in one line before any work. The workers hold the
edges (4 bytes each, twice: both directions) and, while the graph is built,
one float32 copy of the unit rows.
"""

from __future__ import annotations

import operator

import numpy as np

from .._validation import available_memory, format_bytes
from ..backends import BallPool, CoverGraph
from ..backends._balls import (
    CELL_POINTS_PER_CENTROID,
    Cells,
    cell_edges,
    count_closer,
    edge_dtype,
    impure_rows,
    other_label_sq_min,
)
from ..errors import InvalidValueError, ResourceLimitError
from ..kernels import official_kmeans_centroids, sample_kmeans_centroids, unit_rows_float32
from ._client import workers_memory_left
from ._clusters import UnitRows, assign_to_centroids, labels_at, shared_input
from ._passes import ValidatedPool, split_by_chunk
from ._sources import iter_pieces, materialize

#: Rows per piece of a worker's distance pass (a float32 piece of 32768 x 384 is 50 MB).
PIECE_ROWS = 32768
#: Unit rows (float32 bytes) per group of cells the graph is built in.
GROUP_BYTES = 64 << 20
#: Client bytes per row: each row's uncovered count (int64), whether it is
#: covered (bool), and the degrees as gathered before they are joined (int64),
#: with room for the arrays of one pick.
CLIENT_BYTES_PER_ROW = 24
#: The client may use this fraction of its available memory for those.
CLIENT_MEMORY_FRACTION = 0.5


def max_client_rows(avail: int | None = None) -> int:
    """The most rows whose greedy state fits the client (``CLIENT_MEMORY_FRACTION`` of ``avail``)."""
    avail = available_memory() if avail is None else avail
    return int(CLIENT_MEMORY_FRACTION * avail // CLIENT_BYTES_PER_ROW)


# -- tasks -------------------------------------------------------------------------------------


def _task_other_label(block, labels, Q, q_labels):
    """Squared distance of each row of Q to its nearest row of the chunk with another label."""
    best = np.full(Q.shape[0], np.inf, dtype=np.float32)
    for s, piece in iter_pieces(block, PIECE_ROWS):
        other_label_sq_min(best, Q, q_labels, unit_rows_float32(piece), _labels(labels, s, len(piece)))
    return best


def _labels(labels, s, m):
    return np.zeros(m, dtype=np.int64) if labels is None else labels[s : s + m]


def _task_count(block, Q, sq_radii):
    return sum(
        count_closer(Q, unit_rows_float32(piece), sq_radii) for _, piece in iter_pieces(block, PIECE_ROWS)
    )


def _task_unit_sum(block):
    return sum(
        unit_rows_float32(piece).sum(axis=0, dtype=np.float64) for _, piece in iter_pieces(block, PIECE_ROWS)
    )


def _task_max_dist(block, mean):
    return max(
        float(np.max(np.linalg.norm(unit_rows_float32(piece) - mean, axis=1)))
        for _, piece in iter_pieces(block, PIECE_ROWS)
    )


def _task_route(block, cell, pseudo, start, group_of_cell, n_groups):
    """The chunk's unit rows cut into one piece per group of cells (global rows, rows, cells, labels)."""
    F = unit_rows_float32(materialize(block))
    g = group_of_cell[cell]
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(n_groups + 1))
    out = []
    for h in range(n_groups):
        sel = order[bounds[h] : bounds[h + 1]]
        out.append(
            {
                "rows": sel.astype(np.int64) + start,
                "F": F[sel],
                "cell": cell[sel],
                "pseudo": None if pseudo is None else pseudo[sel],
            }
        )
    return out


def _task_group(*pieces):
    """A group's rows from every chunk, ordered by (cell, global row): a cell's members ascending."""
    rows = np.concatenate([p["rows"] for p in pieces])
    cell = np.concatenate([p["cell"] for p in pieces])
    order = np.lexsort((rows, cell))
    pseudo = None if pieces[0]["pseudo"] is None else np.concatenate([p["pseudo"] for p in pieces])[order]
    return {
        "rows": rows[order],
        "F": np.concatenate([p["F"] for p in pieces])[order],
        "cell": cell[order],
        "pseudo": pseudo,
    }


def _task_cells_of(group, cells):
    """The part of ``group`` in ``cells`` (sorted cell ids)."""
    lo = np.searchsorted(group["cell"], cells, side="left")
    hi = np.searchsorted(group["cell"], cells, side="right")
    sel = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(cells) else np.empty(0, np.int64)
    return {k: (None if v is None else v[sel]) for k, v in group.items()}


def _task_edges(group, fetched, partners, d2, starts, dtype):
    """Edges of the group's cells' searches (both ways), cut by the chunk of their first row.

    Returns ``{"pieces": [(local rows, global columns) per chunk], "impure": rows whose
    ball holds another pseudo-label, "edges": count}``.
    """
    parts = [group, *fetched]
    where = {}
    for p, part in enumerate(parts):
        cells, lo = np.unique(part["cell"], return_index=True)
        hi = np.append(lo[1:], part["cell"].size)
        for c, a, b in zip(cells.tolist(), lo.tolist(), hi.tolist()):
            where[c] = (p, a, b)

    def take(cells, key):
        return np.concatenate([parts[where[c][0]][key][where[c][1] : where[c][2]] for c in cells])

    with_labels = group["pseudo"] is not None
    rs, cs, impure = [], [], []
    for a, hi in partners.items():
        rows, other = take([a], "rows"), take(hi, "rows")
        r, c = cell_edges(a, rows, take([a], "F"), other, take(hi, "F"), take(hi, "cell"), d2, dtype)
        rs.append(r)
        cs.append(c)
        if with_labels and r.size:
            ids, labels = other, take(hi, "pseudo")  # a's own rows come first in `other`
            order = np.argsort(ids)
            lab = labels[order]
            impure.append(
                impure_rows(r, c, lab[np.searchsorted(ids[order], r)], lab[np.searchsorted(ids[order], c)])
            )
    r = np.concatenate(rs) if rs else np.empty(0, dtype)
    c = np.concatenate(cs) if cs else np.empty(0, dtype)
    k = np.searchsorted(starts, r, side="right") - 1
    order = np.argsort(k, kind="stable")
    r, c, k = r[order], c[order], k[order]
    bounds = np.searchsorted(k, np.arange(len(starts)))
    pieces = [
        ((r[bounds[j] : bounds[j + 1]] - starts[j]).astype(dtype), c[bounds[j] : bounds[j + 1]])
        for j in range(len(starts) - 1)
    ]
    return {
        "pieces": pieces,
        "impure": np.unique(np.concatenate(impure)) if impure else np.empty(0, np.int64),
        "edges": int(r.size),
    }


def _task_piece(edges, j):
    return edges["pieces"][j]


def _task_impure(edges):
    return edges["impure"], edges["edges"]


def _task_holder(n_rows, *pieces):
    """One chunk's rows' balls as a CSR (``indptr`` over local rows, ``indices`` global, ascending)."""
    r = np.concatenate([p[0] for p in pieces]) if pieces else np.empty(0, np.int32)
    c = np.concatenate([p[1] for p in pieces]) if pieces else np.empty(0, np.int32)
    order = np.lexsort((c, r))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_rows), out=indptr[1:])
    return {"indptr": indptr, "indices": c[order]}


def _task_degrees(holder):
    return np.diff(holder["indptr"])


def _task_balls(holder, local):
    """The balls of the chunk's rows ``local``, concatenated."""
    s, e = holder["indptr"][local], holder["indptr"][local + 1]
    lens = e - s
    offsets = np.repeat(s - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(int(lens.sum()))
    return holder["indices"][offsets]


# -- the pool ----------------------------------------------------------------------------------


def group_cells(cells: Cells, target_rows: float) -> np.ndarray:
    """Each cell's group: breadth-first over the cells' probes, about ``target_rows`` rows a group.

    Neighbouring cells share a group, so most of a cell's partner cells are
    its own group's and few rows move between groups.
    """
    n_cells = cells.n_cells
    group = np.full(n_cells, -1, dtype=np.int64)
    g, held = 0, 0
    for seed in np.argsort(-cells.sizes, kind="stable"):
        if group[seed] >= 0:
            continue
        queue = [int(seed)]
        while queue:
            c = queue.pop(0)
            if group[c] >= 0:
                continue
            if held and held + cells.sizes[c] > target_rows:
                g, held = g + 1, 0
            group[c] = g
            held += int(cells.sizes[c])
            queue.extend(int(p) for p in cells.probes[c] if group[p] < 0)
    return group


class ChunkedCoverGraph(CoverGraph):
    """:class:`~subsel_plugins.backends.CoverGraph` kept on the workers: one CSR per chunk (symmetric)."""

    def __init__(self, pool, holders, impure: int, edges: int):
        self.pool, self.holders_ = pool, holders
        self.n, self.impure, self.edges = pool.n, impure, edges

    def degrees(self):
        dask, delayed = self.pool._dask, self.pool._delayed
        parts = dask.compute(*[delayed(_task_degrees)(h) for h in self.holders_])
        self.pool.traffic.add("greedy", to_client=8 * self.n, tasks=len(parts))
        return np.concatenate(parts).astype(np.int64)

    def balls(self, xs):
        dask, delayed = self.pool._dask, self.pool._delayed
        xs = np.asarray(xs, dtype=np.int64)
        parts = split_by_chunk(self.pool.source, xs)
        tasks = [delayed(_task_balls)(self.holders_[c], p) for c, p in enumerate(parts) if p.size]
        got = dask.compute(*tasks)
        out = np.concatenate(got) if got else np.empty(0, np.int64)
        self.pool.traffic.add("greedy", to_client=out.nbytes, to_workers=xs.nbytes, tasks=len(tasks))
        return out

    holders = balls  # the approximate graph is symmetric: a ball's holders are its members


class ChunkedBallPool(ValidatedPool, BallPool):
    """:class:`~subsel_plugins.backends.BallPool` over a row-chunked source (module docstring).

    Refuses, before any work, a pool whose greedy state would not fit the
    client (:func:`max_client_rows`). A first pass validates the source (NaN
    or infinity: an error naming the first bad row); features of extreme
    magnitude are read rescaled by an exact power of two, which changes no
    unit row.
    """

    def __init__(self, source):
        most = max_client_rows()
        if source.n > most:
            raise ResourceLimitError(
                f"ProbCover on Dask keeps {CLIENT_BYTES_PER_ROW} bytes per row on the client (each row's "
                f"uncovered count and whether it is covered): {source.n} rows need about "
                f"{format_bytes(CLIENT_BYTES_PER_ROW * source.n)}, above half of the "
                f"{format_bytes(available_memory())} available here ({most} rows fit); refused before any "
                "work. Run the client on a machine with more memory, or select from a subset."
            )
        self._start(source, groups=0, edges=0)
        self.unit_rows = UnitRows(self.source, self.traffic)
        self.pseudo = None  # per chunk, persisted (None: one label)
        self.cell_of = None

    # the rows' labels ------------------------------------------------------------------------

    def pseudo_labels(self, k, seed, approximate):
        if not approximate:  # the dispatch refuses approximate=False first
            raise InvalidValueError("ProbCover's exact path does not run on distributed inputs.")
        if k <= 1:
            self.pseudo = None
            return None
        centroids = official_kmeans_centroids(self.unit_rows.__getitem__, self.n, k, seed)
        self.pseudo, self._pseudo_sizes = assign_to_centroids(self, centroids, "pseudo-labels")
        return centroids

    def pseudo_cells(self, centroids):
        self.cell_of = self.pseudo
        return Cells.from_sizes(self._pseudo_sizes, centroids)

    def cells(self, n_cells, seed):
        centroids = sample_kmeans_centroids(
            self.unit_rows.__getitem__, self.n, n_cells, seed, CELL_POINTS_PER_CENTROID
        )
        self.cell_of, sizes = assign_to_centroids(self, centroids, "cells")
        return Cells.from_sizes(sizes, centroids)

    def _labels_of(self, rows):
        if self.pseudo is None:
            return np.zeros(len(rows), dtype=np.int64)
        return labels_at(self, self.pseudo, rows)

    # distances of a few rows to every row ----------------------------------------------------

    def _per_chunk(self, fn, *args, labels=False, phase="scan"):
        dask, delayed = self._dask, self._delayed
        # one copy per worker, scattered (not embedded in the graph: 20,000 purity rows are 30 MB)
        dargs = [shared_input(delayed, a) if isinstance(a, np.ndarray) else a for a in args]
        tasks = [
            delayed(fn)(
                self.source.block_task(c),
                *([None if self.pseudo is None else self.pseudo[c]] if labels else []),
                *dargs,
            )
            for c in range(self.source.n_chunks)
        ]
        got = dask.compute(*tasks)
        self.stats["passes"] += 1
        sent = sum(a.nbytes for a in args if isinstance(a, np.ndarray))
        self.traffic.add(
            phase, to_client=sum(np.asarray(g).nbytes for g in got), to_workers=sent, tasks=len(tasks)
        )
        return got

    def other_label_distances(self, rows):
        rows = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        Q = self.unit_rows[rows]
        got = self._per_chunk(_task_other_label, Q, self._labels_of(rows), labels=True, phase="purity")
        return np.sqrt(np.minimum.reduce(got).astype(np.float64))

    def ball_counts(self, rows, sq_radii):
        rows = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        got = self._per_chunk(
            _task_count, self.unit_rows[rows], np.asarray(sq_radii, dtype=np.float32), phase="estimate"
        )
        return np.sum(got, axis=0)

    def spread(self):
        mean = np.sum(self._per_chunk(_task_unit_sum, phase="spread"), axis=0) / self.n
        return float(max(self._per_chunk(_task_max_dist, mean, phase="spread")) * 2 + 1e-12)

    def available_memory(self):
        """Bytes the Dask workers have left under their memory limits (their limits less their
        processes' memory); None without a distributed client or without limits."""
        return workers_memory_left()

    # the graph -------------------------------------------------------------------------------

    def graph(self, delta, cells):
        if cells is None:  # pragma: no cover - the dispatch refuses approximate=False first
            raise InvalidValueError("ProbCover's exact graph does not run on distributed inputs.")
        dask, delayed = self._dask, self._delayed
        src = self.source
        target = max(1.0, GROUP_BYTES / (4.0 * src.d))
        group_of = group_cells(cells, target)
        n_groups = int(group_of.max()) + 1
        self.stats["groups"] = n_groups
        starts = np.asarray(src.starts, dtype=np.int64)
        dG = delayed(group_of)
        routed = [
            delayed(_task_route)(
                src.block_task(c),
                self.cell_of[c],
                None if self.pseudo is None else self.pseudo[c],
                int(starts[c]),
                dG,
                n_groups,
            )
            for c in range(src.n_chunks)
        ]
        groups = [
            delayed(_task_group)(*[delayed(operator.getitem)(r, g) for r in routed]) for g in range(n_groups)
        ]
        partners = cells.partners()
        d2 = np.float32(float(delta) ** 2)
        dtype = edge_dtype(self.n)
        edges = []
        for g in range(n_groups):
            mine = {a: hi for a, hi in partners.items() if group_of[a] == g}
            need = np.unique(np.concatenate([hi for hi in mine.values()])) if mine else np.empty(0, np.int64)
            need = need[group_of[need] != g]
            fetched = [
                delayed(_task_cells_of)(groups[h], need[group_of[need] == h])
                for h in np.unique(group_of[need])
            ]
            edges.append(delayed(_task_edges)(groups[g], fetched, mine, d2, starts, dtype))
        holders = [
            delayed(_task_holder)(
                int(starts[c + 1] - starts[c]), *[delayed(_task_piece)(e, c) for e in edges]
            )
            for c in range(src.n_chunks)
        ]
        done = dask.persist(*holders, *[delayed(_task_impure)(e) for e in edges])
        holders, summaries = list(done[: len(holders)]), dask.compute(*done[len(holders) :])
        impure = np.unique(np.concatenate([s[0] for s in summaries])) if summaries else np.empty(0)
        n_edges = sum(s[1] for s in summaries)
        self.stats["passes"] += 1
        self.stats["edges"] = int(n_edges)
        self.traffic.add(
            "graph", to_client=impure.nbytes, to_workers=group_of.nbytes, tasks=len(holders) + len(edges)
        )
        return ChunkedCoverGraph(self, holders, int(impure.size), int(n_edges))

    def purity(self, graph):
        return float(1.0 - graph.impure / self.n)
