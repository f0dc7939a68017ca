"""ProbCover's rows and ball graph in memory, and the ball kernels every backend shares.

The in-memory :class:`~subsel_plugins.backends.BallPool` (:class:`ArrayBallPool`)
and :class:`~subsel_plugins.backends.CoverGraph` (:class:`ArrayCoverGraph`, a
CSR matrix). The inverted file of the approximate path (:class:`Cells`), the
edges of one cell's search (:func:`cell_edges`) and the distance counts of a
block of rows (:func:`other_label_sq_min`, :func:`count_closer`) are used by
the Dask backend too (``subsel_plugins.distributed._balls``), so both build the
same graph from the same blocks.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._progress import progress
from ..kernels import (
    DISTANCE_ROW_BLOCK,
    faiss_or_none,
    kmeans_labels,
    official_kmeans_on_sample,
    pair_sq_distances,
    sample_kmeans,
    sq_distance_blocks,
)
from ._pool import BallPool, CoverGraph

#: Approximate path: the pool is split into k-means cells (about sqrt(N), or the
#: pseudo-label clusters when there are enough of them), and the rows of a cell
#: are compared with the rows of the cells whose centroids are nearest its own
#: (itself first), taken until they hold PROBE_CELLS times the mean cell size
#: (at least MIN_PROBE_CELLS cells): an inverted-file search whose queries are
#: batched by cell, so each cell is one matrix product. Bounding the probed
#: rows rather than the probed cells keeps the work near N * PROBE_CELLS * N /
#: cells even when k-means leaves a few cells ten times the mean size (it does
#: on ImageNet-like data: merged classes).
PROBE_CELLS = 8
MIN_PROBE_CELLS = 2
#: The cells' k-means trains on this many sampled rows per cell (cells only
#: route the search; the pseudo-labels get faiss's default 256).
CELL_POINTS_PER_CENTROID = 64


def default_n_cells(n: int) -> int:
    """About sqrt(n) cells."""
    return max(1, int(round(np.sqrt(n))))


class Cells:
    """The approximate path's inverted file: k-means cells and the cells each one probes.

    ``cell[i]``: row i's cell; ``members[c]``: the rows of cell c (ascending)
    (both None when the rows live elsewhere: :meth:`from_sizes`);
    ``sizes[c]``: how many rows cell c holds;
    ``order[c]``: every cell by centroid distance from c, c first;
    ``probes[c]``: the cells c searches, ``order[c]``'s first ones until they
    hold ``n_probe`` times the mean cell size (at least ``MIN_PROBE_CELLS``;
    none for an empty cell);
    ``n_probe = min(PROBE_CELLS, n_cells)``, so ``n_probe = n_cells`` probes
    every cell (the exact search).
    """

    def __init__(self, cell: np.ndarray, centroids: np.ndarray, n_probe: int | None = None):
        n_cells = centroids.shape[0]
        self.cell = np.asarray(cell)
        order = np.argsort(self.cell, kind="stable")
        bounds = np.searchsorted(self.cell[order], np.arange(n_cells + 1))
        self.members = [order[bounds[c] : bounds[c + 1]] for c in range(n_cells)]
        self._plan(np.diff(bounds), centroids, n_probe)

    @classmethod
    def from_sizes(cls, sizes: np.ndarray, centroids: np.ndarray, n_probe: int | None = None):
        """The cells' plan (sizes, order, probes) without their rows, which live elsewhere."""
        self = cls.__new__(cls)
        self.cell = self.members = None
        self._plan(np.asarray(sizes, dtype=np.int64), centroids, n_probe)
        return self

    def _plan(self, sizes, centroids, n_probe):
        n_cells = centroids.shape[0]
        self.n_cells = n_cells
        self.sizes = sizes
        C = np.asarray(centroids, dtype=np.float64)
        sq = np.einsum("ij,ij->i", C, C)
        D = sq[:, None] + sq[None, :] - 2.0 * (C @ C.T)
        np.fill_diagonal(D, -np.inf)  # a cell probes itself first
        self.order = np.argsort(D, axis=1, kind="stable")
        self.n_probe = min(n_probe or PROBE_CELLS, n_cells)
        self.row_budget = self.n_probe * float(sizes.sum()) / n_cells
        none = np.empty(0, dtype=self.order.dtype)
        self.probes = [self._probes(c) if self.sizes[c] else none for c in range(n_cells)]

    @classmethod
    def build(cls, F: np.ndarray, seed: int, n_cells: int | None = None, n_probe: int | None = None):
        """Cells of a k-means with ``n_cells`` (default about sqrt(N)) on a sample of F."""
        n_cells = n_cells or default_n_cells(F.shape[0])
        return cls(*sample_kmeans(F, n_cells, seed, CELL_POINTS_PER_CENTROID), n_probe)

    def _probes(self, c: int) -> np.ndarray:
        """The non-empty cells nearest c, until they hold the row budget."""
        near = self.order[c][self.sizes[self.order[c]] > 0]
        if self.n_probe == self.n_cells:
            return near
        reached = np.cumsum(self.sizes[near]) >= self.row_budget - 1e-9
        stop = int(np.argmax(reached)) + 1 if reached.any() else near.size
        return near[: max(stop, MIN_PROBE_CELLS)]

    def rows(self, cells) -> np.ndarray:
        return np.concatenate([self.members[p] for p in cells])

    def partners(self) -> dict:
        """``{a: the cells b >= a with a in b's probes or b in a's, a itself first}`` for every
        non-empty cell a: each unordered pair of cells that either one probes, once."""
        n_cells = self.n_cells
        a = np.repeat(np.arange(n_cells), [p.size for p in self.probes])
        b = np.concatenate(self.probes)
        codes = np.unique(np.minimum(a, b) * n_cells + np.maximum(a, b))
        lo, hi = codes // n_cells, codes % n_cells
        starts = np.searchsorted(lo, np.arange(n_cells + 1))
        return {c: hi[starts[c] : starts[c + 1]] for c in range(n_cells) if self.sizes[c]}

    def pairs(self):
        """Yield :meth:`partners`' items (cell a, its partner cells), with a progress bar."""
        yield from progress(self.partners().items(), desc="ball graph", unit="cell")


def _close_pairs(Q: np.ndarray, B: np.ndarray, d2: np.float32):
    """``(i, j)``: every pair of a row of Q and a row of B closer than sqrt(d2) (strict).

    faiss's exact range search when installed, else numpy blocks of rows.
    """
    faiss = faiss_or_none()
    if faiss is not None:
        index = faiss.IndexFlatL2(B.shape[1])
        index.add(np.ascontiguousarray(B, dtype=np.float32))
        lims, dist, ind = index.range_search(np.ascontiguousarray(Q, dtype=np.float32), float(d2))
        keep = dist < d2  # strict, as the exact graph
        i = np.repeat(np.arange(Q.shape[0]), np.diff(lims.astype(np.int64)))[keep]
        return i, ind[keep]
    starts = range(0, Q.shape[0], DISTANCE_ROW_BLOCK)
    hits = [np.nonzero(pair_sq_distances(Q[s : s + DISTANCE_ROW_BLOCK], B) < d2) for s in starts]
    return np.concatenate([h[0] + s for s, h in zip(starts, hits)]), np.concatenate([h[1] for h in hits])


def cell_edges(a: int, rows, Fa, other, Fo, other_cell, d2: np.float32, dtype=np.int32):
    """The edges cell ``a``'s search finds, each stored both ways: ``(r, c)`` arrays of global rows.

    ``rows``: a's rows (global, ascending) and ``Fa`` their unit rows;
    ``other``: the rows of a's partner cells (a's own first, then each
    partner's, ascending within a cell), ``Fo`` their unit rows and
    ``other_cell`` their cells. a's own block holds both directions already;
    an edge to another cell is mirrored.
    """
    i, j = _close_pairs(Fa, Fo, d2)
    r, c = np.asarray(rows)[i].astype(dtype), np.asarray(other)[j].astype(dtype)
    mirror = np.asarray(other_cell)[j] != a
    return np.concatenate([r, c[mirror]]), np.concatenate([c, r[mirror]])


def edge_dtype(n: int):
    """Row indices of a graph over ``n`` rows: int32 while they fit."""
    return np.int32 if n < 2**31 else np.int64


def ball_graph_approx(F: np.ndarray, delta: float, cells: Cells) -> sp.csr_matrix:
    """:func:`ball_graph` with each row's ball searched only in the cells probed.

    One distance block per unordered pair of cells that either one probes
    (:meth:`Cells.pairs`), and each edge found is stored both ways, so the
    graph is symmetric and a pair that only one side probes is still found.
    Every edge is a true edge (the distance is computed exactly); edges
    between rows of cells that neither probes are missed.
    """
    n = F.shape[0]
    d2 = np.float32(float(delta) ** 2)
    rs, cs = [], []
    for a, partners in cells.pairs():
        rows, other = cells.members[a], cells.rows(partners)
        r, c = cell_edges(a, rows, F[rows], other, F[other], cells.cell[other], d2, edge_dtype(n))
        rs.append(r)
        cs.append(c)
    r = np.concatenate(rs) if rs else np.empty(0, dtype=np.int32)
    c = np.concatenate(cs) if cs else np.empty(0, dtype=np.int32)
    A = sp.csr_matrix((np.ones(r.size, dtype=np.bool_), (r, c)), shape=(n, n))
    A.sort_indices()
    return A


def ball_graph(F: np.ndarray, delta: float) -> sp.csr_matrix:
    """Sparse N x N adjacency: row x holds every y with ``||F_x - F_y|| < delta``.

    Built in blocks of the squared-distance matrix, so memory is the edges
    (int32 column indices) plus one block; never a dense N x N matrix. With
    faiss installed its exact range search (IndexFlatL2) is used instead.
    """
    n = F.shape[0]
    d2 = float(delta) ** 2
    faiss = faiss_or_none()
    if faiss is not None:
        F32 = np.ascontiguousarray(F, dtype=np.float32)
        index = faiss.IndexFlatL2(F32.shape[1])
        index.add(F32)
        lims, dist, ind = index.range_search(F32, d2)
        keep = dist < d2  # strict, as the official code's `dist < delta`
        query = np.repeat(np.arange(n), np.diff(lims.astype(np.int64)))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(query[keep], minlength=n))])
        A = sp.csr_matrix(
            (np.ones(int(indptr[-1]), dtype=np.bool_), ind[keep].astype(np.int32), indptr), (n, n)
        )
        A.sort_indices()
        return A
    counts = np.zeros(n, dtype=np.int64)
    indices, pending = [], []
    for rows, cols, D2 in sq_distance_blocks(F):
        r, c = np.nonzero(D2 < np.float32(d2))  # strict, as the official code's `dist < delta`
        pending.append((r.astype(np.int32), (c + cols.start).astype(np.int32)))
        if cols.stop == n:  # this row block is complete: order its edges by row, then column
            r = np.concatenate([p[0] for p in pending])
            c = np.concatenate([p[1] for p in pending])
            indices.append(c[np.lexsort((c, r))])
            counts[rows] = np.bincount(r, minlength=rows.stop - rows.start)
            pending = []
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.concatenate(indices) if indices else np.empty(0, dtype=np.int32)
    return sp.csr_matrix((np.ones(indices.size, dtype=np.bool_), indices, indptr), shape=(n, n))


def other_label_sq_min(best, Q, q_labels, B, b_labels) -> None:
    """Fold into ``best`` (m,) float32 each row of Q's squared distance to its nearest row of B
    with another label (rows of B of the row's own label are skipped), in blocks of B's rows."""
    for pos, cols, D2 in sq_distance_blocks(B, query_rows=Q):
        D2[q_labels[pos, None] == b_labels[None, cols]] = np.inf
        np.minimum(best[pos], D2.min(axis=1), out=best[pos])


def count_closer(Q, B, sq_radii, desc: str | None = None) -> np.ndarray:
    """(len(sq_radii),) int64: how many (row of Q, row of B) pairs are closer than each squared radius."""
    r2 = np.asarray(sq_radii, dtype=np.float32)
    counts = np.zeros(r2.size, dtype=np.int64)
    for _, _, D2 in sq_distance_blocks(B, None, desc, query_rows=Q):
        for i, r in enumerate(r2):
            counts[i] += int(np.count_nonzero(D2 < r))
    return counts


def distance_to_other_cluster(F: np.ndarray, labels: np.ndarray, rows: np.ndarray | None = None):
    """For each row, the distance to its nearest row with another label (inf if none).

    Exact brute force in blocks: O(N^2 d) work, O(N) memory beyond one block.
    ``rows`` (optional): only these rows' distances (to every row), O(len(rows) N d).
    """
    labels = np.asarray(labels)
    q_labels = labels if rows is None else labels[rows]
    best = np.full(q_labels.size, np.inf, dtype=np.float32)
    desc = None if rows is None else "purity distances"
    for pos, cols, D2 in sq_distance_blocks(F, rows, desc):
        D2[q_labels[pos, None] == labels[None, cols]] = np.inf
        np.minimum(best[pos], D2.min(axis=1), out=best[pos])
    return np.sqrt(best.astype(np.float64))


def impure_rows(r, c, labels_r, labels_c) -> np.ndarray:
    """The rows (of ``r``) whose ball holds a row of another label, for edges ``r -> c``."""
    return np.unique(np.asarray(r)[np.asarray(labels_r) != np.asarray(labels_c)])


def ball_purity(A: sp.csr_matrix, labels: np.ndarray) -> float:
    """Fraction of rows whose ball (row of ``A``) holds only rows of their own label."""
    labels = np.asarray(labels)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    return float(1.0 - impure_rows(rows, A.indices, labels[rows], labels[A.indices]).size / A.shape[0])


class ArrayCoverGraph(CoverGraph):
    """:class:`CoverGraph` of a CSR matrix ``A`` (its transpose ``AT`` lists the holders;
    None: ``A`` is symmetric, as the approximate graph is)."""

    def __init__(self, A: sp.csr_matrix, AT: sp.csr_matrix | None = None):
        self.A, self.AT = A, A if AT is None else AT
        self.n = A.shape[0]

    def degrees(self):
        return np.diff(self.A.indptr).astype(np.int64)

    def balls(self, xs):
        return self.A[np.asarray(xs)].indices

    def holders(self, ys):
        return self.AT[np.asarray(ys)].indices


class ArrayBallPool(BallPool):
    """:class:`BallPool` over in-memory unit rows ``F`` (float32, (n, d)).

    Pseudo-labels and cells are one int64 per row; the graph is a CSR matrix.
    """

    def __init__(self, F: np.ndarray):
        self.F = F
        self.n = F.shape[0]
        self.labels = None

    def pseudo_labels(self, k, seed, approximate):
        if k <= 1:
            self.labels = np.zeros(self.n, dtype=np.int64)
            return None
        if not approximate:
            self.labels = np.asarray(kmeans_labels(self.F, k, seed))
            return None
        self.labels, centroids = official_kmeans_on_sample(self.F, k, seed)
        return centroids

    def pseudo_cells(self, centroids):
        return Cells(self.labels, centroids)

    def cells(self, n_cells, seed):
        return Cells.build(self.F, seed, n_cells)

    def other_label_distances(self, rows):
        return distance_to_other_cluster(self.F, self.labels, rows)

    def ball_counts(self, rows, sq_radii):
        Q = self.F if rows is None else self.F[rows]
        return count_closer(Q, self.F, sq_radii, "ball sizes" if self.n > 100_000 else None)

    def spread(self):
        F = self.F
        return float(np.max(np.linalg.norm(F - F.mean(0, dtype=np.float64), axis=1)) * 2 + 1e-12)

    def graph(self, delta, cells):
        if cells is None:
            A = ball_graph(self.F, delta)
            return ArrayCoverGraph(A, A.T.tocsr())  # AT[y] lists the x whose balls hold y
        return ArrayCoverGraph(ball_graph_approx(self.F, delta, cells))

    def purity(self, graph):
        return ball_purity(graph.A, self.labels)
