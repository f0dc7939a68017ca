"""ProbCover (Yehuda et al. 2022): the purity radius, the sparse ball graph and greedy max coverage."""

from __future__ import annotations

import os
import resource

import numpy as np
import scipy.sparse as sp

from .._progress import progress
from .._validation import check_int, check_memory_size, check_real, format_bytes, sklearn_seed
from ..errors import ResourceLimitError
from ..kernels import (
    DISTANCE_ROW_BLOCK,
    faiss_or_none,
    kmeans_labels,
    official_kmeans_on_sample,
    pair_sq_distances,
    sample_kmeans,
    sq_distance_blocks,
    unit_rows_float32,
)
from ._base import QueryStrategy
from ._typiclust import check_approximate, use_approximate


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


#: k of the k-means pseudo-labels when the number of classes is not given.
DEFAULT_PSEUDO_CLASSES = 10

# Squared distances are computed in float32 on unit vectors: |error| <= a few
# float32 ulps of 4 (the largest squared distance). The radius is put this far
# inside the purity boundary so that rounding cannot push a boundary row's
# nearest other-label neighbour into its (strict) ball.
_SQ_DIST_TOL = 16 * float(np.finfo(np.float32).eps)


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
#: The approximate path measures the distance to another label exactly (against
#: every row) for a uniform sample of at most this many rows (every row below
#: it). The radius is an order statistic of those distances, the (1 - purity)
#: quantile, so the sample puts it within about sqrt(p (1 - p) / m) of the
#: target in purity (0.0015 at p = 0.05, m = 20,000), with no search bias; at
#: 1.28M rows it is about 2e10 distances, minutes on two cores. ``purity_``
#: then reports the purity of every row's ball in the graph actually built.
PURITY_SAMPLE_ROWS = 20_000
#: The first this many of those rows give a first radius, and a graph at it
#: over PRECHECK_SLACK times the memory limit is refused before the rest of
#: the purity search (2,000 rows: the purity within about 0.005 at p = 0.05).
PRECHECK_ROWS = 2_000
PRECHECK_SLACK = 4.0


def default_n_cells(n: int) -> int:
    """About sqrt(n) cells."""
    return max(1, int(round(np.sqrt(n))))


class Cells:
    """The approximate path's inverted file: k-means cells and the cells each one probes.

    ``cell[i]``: row i's cell; ``members[c]``: the rows of cell c (ascending);
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
        self.sizes = np.diff(bounds)
        C = np.asarray(centroids, dtype=np.float64)
        sq = np.einsum("ij,ij->i", C, C)
        D = sq[:, None] + sq[None, :] - 2.0 * (C @ C.T)
        np.fill_diagonal(D, -np.inf)  # a cell probes itself first
        self.order = np.argsort(D, axis=1, kind="stable")
        self.n_probe = min(n_probe or PROBE_CELLS, n_cells)
        self.row_budget = self.n_probe * self.cell.size / n_cells
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
        if self.n_probe == len(self.members):
            return near
        reached = np.cumsum(self.sizes[near]) >= self.row_budget - 1e-9
        stop = int(np.argmax(reached)) + 1 if reached.any() else near.size
        return near[: max(stop, MIN_PROBE_CELLS)]

    def rows(self, cells) -> np.ndarray:
        return np.concatenate([self.members[p] for p in cells])

    def pairs(self):
        """Yield (cell a, the cells b >= a with a in b's probes or b in a's): each unordered
        pair of cells that either one probes, once, a itself first."""
        n_cells = len(self.members)
        a = np.repeat(np.arange(n_cells), [p.size for p in self.probes])
        b = np.concatenate(self.probes)
        codes = np.unique(np.minimum(a, b) * n_cells + np.maximum(a, b))
        lo, hi = codes // n_cells, codes % n_cells
        starts = np.searchsorted(lo, np.arange(n_cells + 1))
        for c in progress(range(n_cells), desc="ball graph", unit="cell"):
            if self.sizes[c]:
                yield c, hi[starts[c] : starts[c + 1]]


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
        i, j = _close_pairs(F[rows], F[other], d2)
        r, c = rows[i].astype(np.int32), other[j].astype(np.int32)
        mirror = cells.cell[c] != a  # a's own block holds both directions already
        rs += [r, c[mirror]]
        cs += [c, r[mirror]]
    r = np.concatenate(rs) if rs else np.empty(0, dtype=np.int32)
    c = np.concatenate(cs) if cs else np.empty(0, dtype=np.int32)
    A = sp.csr_matrix((np.ones(r.size, dtype=np.bool_), (r, c)), shape=(n, n))
    A.sort_indices()
    return A


def purity_delta(F: np.ndarray, labels: np.ndarray, purity: float) -> float:
    """Largest delta whose balls are pure for at least a ``purity`` fraction of rows.

    A ball ``{y : ||x - y|| < delta}`` is pure when every member shares x's
    label, i.e. when ``delta <= d(x)``, the distance from x to its nearest row of
    another label. So purity(delta) = mean(d >= delta), a step function whose
    largest delta with purity >= p is an order statistic of d: the search is
    exact and needs no grid, on whatever distance scale the data has.

    The returned radius lies strictly inside that boundary, by about 2e-6 in
    squared distance (float32 rounding of the distances is below 1e-6), so the
    promise ``purity(delta) >= purity`` holds in exact arithmetic too, not only
    in the float32 distances the graph is built from.
    """
    return delta_from_distances(distance_to_other_cluster(F, labels), purity, F)


def delta_from_distances(d: np.ndarray, purity: float, F: np.ndarray) -> float:
    """:func:`purity_delta` given each row's distance to its nearest row of another label."""
    d = np.sort(d)
    n_pure = int(np.ceil(purity * d.size - 1e-9))
    boundary = float(d[d.size - n_pure]) if n_pure > 0 else float(d[-1])
    if not np.isfinite(boundary):  # a single cluster: every ball is pure
        return float(np.max(np.linalg.norm(F - F.mean(0), axis=1)) * 2 + 1e-12)
    b2 = boundary * boundary
    # tight clusters (boundary at the rounding level) keep half the radius instead
    d2 = b2 - _SQ_DIST_TOL if b2 > 2 * _SQ_DIST_TOL else 0.5 * b2
    return float(np.sqrt(d2))


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


#: Peak bytes per stored edge of building the ball graph and running the greedy
#: on it (edge lists, the CSR matrix, faiss's range-search buffers, the
#: transpose), measured with ``ru_maxrss`` on 30,000 clustered rows (44M
#: edges): 28 exact with faiss, 19 exact with numpy, 31 approximate; rounded up.
GRAPH_BYTES_PER_EDGE = 40
#: Rows whose balls are counted exactly (against every row) to estimate the
#: graph's size before it is built: the estimate is N times their mean ball
#: size (exact when N is at most this).
BALL_SAMPLE_ROWS = 512
#: The default ``max_graph_memory``: this fraction of the memory available
#: when the selection starts (see :func:`available_memory`).
DEFAULT_MEMORY_FRACTION = 0.5
#: Radii (fractions of delta) at which the sampled balls are also counted, so
#: a refusal can name the largest one whose graph fits.
_SHRINK = (0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as fh:
            return max(0, int(limit) - int(fh.read().strip()))
    except (OSError, ValueError):
        return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def available_memory() -> int:
    """Bytes this process can still allocate: the least of the machine's available memory
    (``MemAvailable`` in /proc/meminfo, else ``os.sysconf``), the cgroup's memory limit
    left, and the address-space limit (``ulimit -v``, ``prlimit --as``) left; 1 GB when
    none of them can be read."""
    known = [v for v in (_meminfo_available(), _cgroup_available(), _address_space_left()) if v is not None]
    return int(min(known)) if known else 10**9


def estimate_ball_edges(F: np.ndarray, delta: float, radii=()) -> tuple[float, np.ndarray]:
    """Estimated edges of the ball graph at ``delta`` (and at each of ``radii``).

    N times the mean ball size of ``BALL_SAMPLE_ROWS`` rows (a fixed sample, so
    the estimate draws nothing from the selection's random stream; every row
    when N is at most that, then it is exact), counted against every row in
    blocks: ``O(BALL_SAMPLE_ROWS * N * d)`` work, no graph.

    Returns
    -------
    edges : float
        At ``delta``.
    edges_at : ndarray of shape (len(radii),)
        At each radius of ``radii``.
    """
    n = F.shape[0]
    rows = None
    if n > BALL_SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(n).choice(n, BALL_SAMPLE_ROWS, replace=False))
    r2 = np.float32(float(delta) ** 2)
    others = np.asarray([float(r) ** 2 for r in radii], dtype=np.float32)
    count = 0
    counts = np.zeros(others.size, dtype=np.int64)
    desc = "ball sizes" if n > 100_000 else None
    for _, _, D2 in sq_distance_blocks(F, rows, desc):
        count += int(np.count_nonzero(D2 < r2))
        for i, o in enumerate(others):
            counts[i] += int(np.count_nonzero(D2 < o))
    m = n if rows is None else rows.size
    return count * n / m, counts * (n / m)


def check_graph_fits(
    F: np.ndarray,
    delta: float,
    limit: int,
    limit_origin: str,
    hint: str = "",
    *,
    note: str = "",
    limit_shown: int | None = None,
) -> float:
    """Estimate the ball graph's peak memory; raise :class:`ResourceLimitError` above ``limit``.

    Returns the estimated bytes. The error is one line: the estimate, the
    limit (``limit_shown`` when given: the user's, when ``limit`` has slack),
    the largest delta whose graph fits, and what to change; ``note`` says
    where ``delta`` came from.
    """
    shown = limit if limit_shown is None else limit_shown
    shrunk = [delta * f for f in _SHRINK]
    edges, edges_at = estimate_ball_edges(F, delta, shrunk)
    n = F.shape[0]

    def cost(e):
        return e * GRAPH_BYTES_PER_EDGE + 16.0 * n

    need = cost(edges)
    if need <= limit:
        return need
    fits = [r for r, e in zip(shrunk, edges_at) if cost(e) <= shown]
    fit = f"delta <= {fits[0]:.4g} would fit" if fits else f"even delta={shrunk[-1]:.3g} would not fit"
    raise ResourceLimitError(
        f"ProbCover's ball graph at delta={delta:.4g}{note} would hold about {edges:.3g} edges "
        f"({edges / n:.4g} rows per ball over {n} rows, from {min(n, BALL_SAMPLE_ROWS)} sampled balls), "
        f"about {format_bytes(need)} to build, above max_graph_memory={format_bytes(shown)} "
        f"({limit_origin}); refused before building it. {fit}: pass a smaller delta{hint}, or a larger "
        "max_graph_memory (bytes or a size such as '16GB')."
    )


def ball_purity(A: sp.csr_matrix, labels: np.ndarray) -> float:
    """Fraction of rows whose ball (row of ``A``) holds only rows of their own label."""
    labels = np.asarray(labels)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    impure = np.zeros(A.shape[0], dtype=bool)
    impure[rows[labels[A.indices] != labels[rows]]] = True
    return float(1.0 - impure.mean())


def greedy_cover(A: sp.csr_matrix, budget: int, labeled: np.ndarray, rng, AT: sp.csr_matrix | None = None):
    """ProbCover's greedy max coverage on the ball graph ``A``: ``(chosen, newly covered per pick)``.

    Each pick is the eligible row whose ball covers the most rows not yet
    covered (ties: the lowest index); the balls of ``labeled`` rows start
    covered. Once everything is covered the remaining picks are uniform among
    the rest (score 0). ``AT`` is ``A``'s transpose (computed when None).
    """
    n = A.shape[0]
    AT = A.T.tocsr() if AT is None else AT  # AT[y] lists the x whose balls hold y
    degree = np.diff(A.indptr).astype(np.int64)
    covered = np.zeros(n, dtype=bool)

    def cover(xs):
        ys = np.unique(A[xs].indices)
        new = ys[~covered[ys]]
        covered[new] = True
        if new.size:
            degree[:] -= np.bincount(AT[new].indices, minlength=n)
        return new.size

    if labeled.size:
        cover(labeled)
    eligible = np.ones(n, dtype=bool)
    eligible[labeled] = False
    chosen, scores = [], []
    bar = progress(total=budget, desc="ProbCover picks", unit="pick")
    while len(chosen) < budget:
        masked = np.where(eligible, degree, -1)
        x = int(np.argmax(masked))
        if masked[x] <= 0:
            break
        chosen.append(x)
        scores.append(float(cover(np.array([x]))))
        eligible[x] = False
        bar.update()
    bar.close()
    if len(chosen) < budget:  # everything covered: the rest uniformly
        rest = rng.permutation(np.flatnonzero(eligible))[: budget - len(chosen)]
        chosen.extend(rest.tolist())
        scores.extend([0.0] * rest.size)
    return np.asarray(chosen), np.asarray(scores)


class ProbCoverQuery(QueryStrategy):
    """ProbCover (Yehuda et al., 2022): greedy maximum coverage of delta-balls.

    On L2-normalized features, every example covers the ball of radius
    ``delta`` around it; each pick is the example whose ball covers the most
    not-yet-covered examples. Balls of labeled examples start covered. Once
    everything is covered the remaining picks are uniform among the rest.

    Parameters
    ----------
    delta : float, optional
        Ball radius on the unit sphere (0 < delta <= 2). None chooses the
        largest delta whose ball purity with respect to k-means pseudo-labels
        is at least ``purity`` (exactly, not on a fixed grid, so it adapts to
        the data's own distance scale).
    purity : float, default=0.95
        Target fraction of pure balls, in (0, 1].
    n_classes : int, optional
        k of the k-means pseudo-labels that set delta: the number of classes,
        as the paper and the authors' code use. None uses
        ``DEFAULT_PSEUDO_CLASSES`` (10) clusters, capped by the pool size: a
        fixed k, so delta never depends on the budget or the labeled count
        (a k that grows with the budget shrinks delta and the balls, and
        ProbCover then covers little). Pass the class count when you know it.
    approximate : "auto", True or False, default="auto"
        The approximate path for large pools. The pseudo-labels are the exact
        path's own k-means fitted on a sample of 256 rows per cluster (every
        row then assigned); the radius is set from the exact distances to
        another label of ``PURITY_SAMPLE_ROWS`` (20,000) sampled rows; the
        ball graph compares each row only with the rows of the k-means cells
        nearest its own (about sqrt(N) cells, or the pseudo-label clusters
        when there are enough), taken until they hold ``PROBE_CELLS`` (8)
        times the mean cell size, one block per pair of cells, each edge
        stored both ways: about O(N^1.5 d) instead of O(N^2 d). Found edges
        are exact; edges between cells that neither probes are missed. "auto"
        takes it above ``APPROX_MIN_ROWS`` (100,000) rows. faiss runs the
        per-cell searches when installed, numpy otherwise.
    max_graph_memory : int, float, str or None, default=None
        The most memory the ball graph may take while it is built and used,
        in bytes or as a size such as ``"4GB"`` or ``"512MiB"``. The graph's
        size depends on the data's geometry, not only on N: on well-separated
        clusters with ``n_classes`` equal to their number, delta takes in
        whole clusters, and 1.28M rows in 200 clusters would need some 8e9
        edges (hundreds of GB). Before building it, the edges are estimated
        from the balls of ``BALL_SAMPLE_ROWS`` (512) sampled rows, at about
        ``GRAPH_BYTES_PER_EDGE`` (40) bytes each; above the limit the
        selection stops with one :class:`~subsel_plugins.errors.ResourceLimitError`
        (a ``MemoryError``) that names the estimate, the limit and the
        largest delta that fits, before anything large is allocated. None:
        ``DEFAULT_MEMORY_FRACTION`` (half) of the memory available when the
        selection starts (the least of /proc/meminfo's MemAvailable, the
        cgroup limit and the address-space limit).
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional

    Attributes
    ----------
    delta_ : float
        The radius used by the last selection.
    purity_ : float or None
        Fraction of pure balls at ``delta_`` w.r.t. the pseudo-labels (None
        when ``delta`` was given).
    n_clusters_ : int or None
        k of the pseudo-labels (None when ``delta`` was given).
    graph_bytes_ : float
        The estimated peak memory of the ball graph that was built.

    References
    ----------
    O. Yehuda, A. Dekel, G. Hacohen, D. Weinshall. Active Learning Through a
    Covering Lens. NeurIPS 2022.
    """

    description = "ProbCover: greedy max coverage of delta-balls (Yehuda et al. 2022)."
    scale_invariant = True  # rows are L2-normalized

    #: Why the distributed dispatch refuses it (one line, before any work).
    not_distributed_because = (
        "its ball graph and greedy coverage are not distributed (yet); its approximate path "
        "(approximate='auto') runs on one machine with a memory limit (max_graph_memory)"
    )

    def __init__(
        self,
        delta=None,
        purity=0.95,
        n_classes=None,
        random_state=None,
        features=None,
        approximate="auto",
        max_graph_memory=None,
    ):
        self.delta = delta
        self.purity = purity
        self.n_classes = n_classes
        self.approximate = approximate
        self.max_graph_memory = max_graph_memory
        self.random_state = random_state
        self.features = features

    def _check_params(self):
        check_real(self.delta, "delta", 0, 2, low_inclusive=False, allow_none=True)
        check_real(self.purity, "purity", 0, 1, low_inclusive=False)
        check_int(self.n_classes, "n_classes", 2, allow_none=True)
        check_approximate(self.approximate)
        check_memory_size(self.max_graph_memory, "max_graph_memory")

    def _memory_limit(self) -> tuple[int, str]:
        given = check_memory_size(self.max_graph_memory, "max_graph_memory")
        if given is not None:
            return given, "given"
        avail = available_memory()
        origin = f"the default: half of the {format_bytes(avail)} available"
        return int(DEFAULT_MEMORY_FRACTION * avail), origin

    def _sampled_purity_delta(self, F, pseudo, rng, limit, origin, hint) -> float:
        """The approximate path's radius, from the distances to another label of sampled rows.

        The first ``PRECHECK_ROWS`` of the (uniform, unordered) sample give a
        first radius; a graph at that radius far over the memory limit
        (``PRECHECK_SLACK`` times) is refused before the full search, which
        costs ``PURITY_SAMPLE_ROWS`` rows' distances to every row (minutes at 1.28M).
        """
        n = F.shape[0]
        if n <= PURITY_SAMPLE_ROWS:
            return delta_from_distances(distance_to_other_cluster(F, pseudo, np.arange(n)), self.purity, F)
        sample = rng.choice(n, PURITY_SAMPLE_ROWS, replace=False)
        first, rest = np.sort(sample[:PRECHECK_ROWS]), np.sort(sample[PRECHECK_ROWS:])
        d_first = distance_to_other_cluster(F, pseudo, first)
        rough = delta_from_distances(d_first, self.purity, F)
        note = f" (the radius from the first {PRECHECK_ROWS} of {PURITY_SAMPLE_ROWS} purity rows)"
        check_graph_fits(F, rough, int(PRECHECK_SLACK * limit), origin, hint, note=note, limit_shown=limit)
        d = np.concatenate([d_first, distance_to_other_cluster(F, pseudo, rest)])
        return delta_from_distances(d, self.purity, F)

    def _select(self, X, budget, labeled, rng):
        F = unit_rows_float32(X)
        n = F.shape[0]
        delta = self.delta
        self.approximate_ = use_approximate(self.approximate, n)
        cells = None
        if delta is None:
            k = min(self.n_classes or DEFAULT_PSEUDO_CLASSES, n)
            if k <= 1:
                pseudo = np.zeros(n, dtype=int)
            elif not self.approximate_:
                pseudo = kmeans_labels(F, k, sklearn_seed(rng))
            else:
                pseudo, centroids = official_kmeans_on_sample(F, k, sklearn_seed(rng))
                if 2 * k >= default_n_cells(n):
                    # the pseudo-label clusters are fine enough to be the cells themselves
                    # (a cell then holds one label: one search per cell for purity)
                    cells = Cells(pseudo, centroids)
            # the cells' seed is drawn here, the cells built only once the graph is known to fit
            cell_seed = sklearn_seed(rng) if self.approximate_ and cells is None else None
            limit, origin = self._memory_limit()
            hint = f" (or a higher purity than {self.purity}, or more n_classes than {k})"
            if not self.approximate_:
                delta = purity_delta(F, pseudo, self.purity)
            else:
                delta = self._sampled_purity_delta(F, pseudo, rng, limit, origin, hint)
            self.n_clusters_ = k
        else:
            pseudo, self.n_clusters_ = None, None
            cell_seed = sklearn_seed(rng) if self.approximate_ else None
            limit, origin = self._memory_limit()
            hint = ""
        self.delta_ = float(delta)
        self.graph_bytes_ = check_graph_fits(F, delta, limit, origin, hint)
        if cell_seed is not None:
            cells = Cells.build(F, cell_seed)
        A = ball_graph(F, delta) if cells is None else ball_graph_approx(F, delta, cells)
        self.purity_ = None if pseudo is None else ball_purity(A, pseudo)
        # the approximate graph is symmetric: its transpose is itself
        return greedy_cover(A, budget, labeled, rng, AT=A if cells is not None else None)
