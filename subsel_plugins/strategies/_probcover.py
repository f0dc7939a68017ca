"""ProbCover (Yehuda et al. 2022): the purity radius, the sparse ball graph and greedy max coverage."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._progress import progress
from .._validation import (  # noqa: F401 - the memory probes are re-exported
    _address_space_left,
    _cgroup_available,
    _meminfo_available,
    available_memory,
    check_int,
    check_memory_size,
    check_real,
    format_bytes,
    sklearn_seed,
)
from ..backends._balls import (
    CELL_POINTS_PER_CENTROID,
    MIN_PROBE_CELLS,
    PROBE_CELLS,
    ArrayBallPool,
    ArrayCoverGraph,
    Cells,
    ball_graph,
    ball_graph_approx,
    ball_purity,
    default_n_cells,
    distance_to_other_cluster,
)
from ..errors import ResourceLimitError
from ..kernels import unit_rows_float32
from ._base import QueryStrategy
from ._typiclust import check_approximate, use_approximate

__all__ = [
    "CELL_POINTS_PER_CENTROID",
    "MIN_PROBE_CELLS",
    "PROBE_CELLS",
    "Cells",
    "ProbCoverQuery",
    "ball_graph",
    "ball_graph_approx",
    "ball_purity",
    "default_n_cells",
    "distance_to_other_cluster",
    "greedy_cover",
]


#: k of the k-means pseudo-labels when the number of classes is not given.
DEFAULT_PSEUDO_CLASSES = 10

# Squared distances are computed in float32 on unit vectors: |error| <= a few
# float32 ulps of 4 (the largest squared distance). The radius is put this far
# inside the purity boundary so that rounding cannot push a boundary row's
# nearest other-label neighbour into its (strict) ball.
_SQ_DIST_TOL = 16 * float(np.finfo(np.float32).eps)


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


def delta_from_distances(d: np.ndarray, purity: float, F) -> float:
    """:func:`purity_delta` given each row's distance to its nearest row of another label.

    ``F``: the unit rows, or a :class:`~subsel_plugins.backends.BallPool` of
    them (its ``spread()`` is the radius of a single cluster).
    """
    d = np.sort(d)
    n_pure = int(np.ceil(purity * d.size - 1e-9))
    boundary = float(d[d.size - n_pure]) if n_pure > 0 else float(d[-1])
    if not np.isfinite(boundary):  # a single cluster: every ball is pure
        return (F if hasattr(F, "spread") else ArrayBallPool(F)).spread()
    b2 = boundary * boundary
    # tight clusters (boundary at the rounding level) keep half the radius instead
    d2 = b2 - _SQ_DIST_TOL if b2 > 2 * _SQ_DIST_TOL else 0.5 * b2
    return float(np.sqrt(d2))


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


def estimate_ball_edges(F, delta: float, radii=()) -> tuple[float, np.ndarray]:
    """Estimated edges of the ball graph at ``delta`` (and at each of ``radii``).

    N times the mean ball size of ``BALL_SAMPLE_ROWS`` rows (a fixed sample, so
    the estimate draws nothing from the selection's random stream; every row
    when N is at most that, then it is exact), counted against every row in
    blocks: ``O(BALL_SAMPLE_ROWS * N * d)`` work, no graph. ``F``: the unit
    rows, or a :class:`~subsel_plugins.backends.BallPool` of them.

    Returns
    -------
    edges : float
        At ``delta``.
    edges_at : ndarray of shape (len(radii),)
        At each radius of ``radii``.
    """
    pool = F if hasattr(F, "ball_counts") else ArrayBallPool(F)
    n = pool.n
    rows = None
    if n > BALL_SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(n).choice(n, BALL_SAMPLE_ROWS, replace=False))
    counts = pool.ball_counts(rows, [float(r) ** 2 for r in (delta, *radii)])
    m = n if rows is None else rows.size
    return counts[0] * n / m, counts[1:] * (n / m)


def check_graph_fits(
    F,
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
    where ``delta`` came from. ``F``: the unit rows, or their ``BallPool``.
    """
    shown = limit if limit_shown is None else limit_shown
    shrunk = [delta * f for f in _SHRINK]
    edges, edges_at = estimate_ball_edges(F, delta, shrunk)
    n = F.n if hasattr(F, "ball_counts") else F.shape[0]

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


def greedy_cover(A, budget: int, labeled: np.ndarray, rng, AT: sp.csr_matrix | None = None):
    """ProbCover's greedy max coverage on the ball graph ``A``: ``(chosen, newly covered per pick)``.

    Each pick is the eligible row whose ball covers the most rows not yet
    covered (ties: the lowest index); the balls of ``labeled`` rows start
    covered. Once everything is covered the remaining picks are uniform among
    the rest (score 0). ``A``: a :class:`~subsel_plugins.backends.CoverGraph`
    (wherever it lives), or a CSR matrix with its transpose ``AT`` (computed
    when None).

    The driver holds 9 bytes per row: each row's count of uncovered rows in
    its ball (int64; rows out of the race sit far below zero) and whether it
    is covered. Each pick asks the graph for one ball, then for the holders
    of the rows it newly covers.
    """
    graph = ArrayCoverGraph(A, A.T.tocsr() if AT is None else AT) if sp.issparse(A) else A
    n = graph.n
    gain = graph.degrees()
    covered = np.zeros(n, dtype=bool)

    def cover(xs):
        ys = np.unique(graph.balls(xs))
        new = ys[~covered[ys]]
        covered[new] = True
        if new.size:
            held, times = np.unique(graph.holders(new), return_counts=True)
            gain[held] -= times
        return new.size

    if labeled.size:
        cover(labeled)
    gain[labeled] = _OUT
    chosen, scores = [], []
    bar = progress(total=budget, desc="ProbCover picks", unit="pick")
    while len(chosen) < budget:
        x = int(np.argmax(gain))
        if gain[x] <= 0:
            break
        chosen.append(x)
        gain[x] = _OUT
        scores.append(float(cover(np.array([x]))))
        bar.update()
    bar.close()
    if len(chosen) < budget:  # everything covered: the rest uniformly
        rest = rng.permutation(np.flatnonzero(gain > _OUT // 2))[: budget - len(chosen)]
        chosen.extend(rest.tolist())
        scores.extend([0.0] * rest.size)
    return np.asarray(chosen), np.asarray(scores)


#: The gain of a row out of the race (labeled or chosen): below any count a
#: row's gain can be decremented by.
_OUT = -(2**62)


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

    def _memory_limit(self, pool) -> tuple[int, str]:
        given = check_memory_size(self.max_graph_memory, "max_graph_memory")
        if given is not None:
            return given, "given"
        avail = pool.available_memory()
        where = "available"
        if avail is None:
            avail = available_memory()
        else:
            where = "available on the Dask workers"
        origin = f"the default: half of the {format_bytes(avail)} {where}"
        return int(DEFAULT_MEMORY_FRACTION * avail), origin

    def _sampled_purity_delta(self, pool, rng, limit, origin, hint) -> float:
        """The approximate path's radius, from the distances to another label of sampled rows.

        The first ``PRECHECK_ROWS`` of the (uniform, unordered) sample give a
        first radius; a graph at that radius far over the memory limit
        (``PRECHECK_SLACK`` times) is refused before the full search, which
        costs ``PURITY_SAMPLE_ROWS`` rows' distances to every row (minutes at 1.28M).
        """
        n = pool.n
        if n <= PURITY_SAMPLE_ROWS:
            return delta_from_distances(pool.other_label_distances(np.arange(n)), self.purity, pool)
        sample = rng.choice(n, PURITY_SAMPLE_ROWS, replace=False)
        first, rest = np.sort(sample[:PRECHECK_ROWS]), np.sort(sample[PRECHECK_ROWS:])
        d_first = pool.other_label_distances(first)
        rough = delta_from_distances(d_first, self.purity, pool)
        note = f" (the radius from the first {PRECHECK_ROWS} of {PURITY_SAMPLE_ROWS} purity rows)"
        check_graph_fits(pool, rough, int(PRECHECK_SLACK * limit), origin, hint, note=note, limit_shown=limit)
        d = np.concatenate([d_first, pool.other_label_distances(rest)])
        return delta_from_distances(d, self.purity, pool)

    def _select(self, X, budget, labeled, rng):
        F = unit_rows_float32(X)
        self.approximate_ = use_approximate(self.approximate, F.shape[0])
        return self._cover(ArrayBallPool(F), budget, labeled, rng)

    def _cover(self, pool, budget, labeled, rng):
        """ProbCover over a :class:`~subsel_plugins.backends.BallPool`: ``(indices, newly covered)``.

        The one selection every backend runs: pseudo-labels, the radius, the
        memory check, the graph and the greedy, drawing from ``rng`` in the
        same order wherever the rows live.
        """
        n = pool.n
        delta = self.delta
        cells = None
        if delta is None:
            k = min(self.n_classes or DEFAULT_PSEUDO_CLASSES, n)
            centroids = pool.pseudo_labels(k, sklearn_seed(rng) if k > 1 else 0, self.approximate_)
            if centroids is not None and 2 * k >= default_n_cells(n):
                # the pseudo-label clusters are fine enough to be the cells themselves
                # (a cell then holds one label: one search per cell for purity)
                cells = pool.pseudo_cells(centroids)
            # the cells' seed is drawn here, the cells built only once the graph is known to fit
            cell_seed = sklearn_seed(rng) if self.approximate_ and cells is None else None
            limit, origin = self._memory_limit(pool)
            hint = f" (or a higher purity than {self.purity}, or more n_classes than {k})"
            if not self.approximate_:
                delta = delta_from_distances(pool.other_label_distances(None), self.purity, pool)
            else:
                delta = self._sampled_purity_delta(pool, rng, limit, origin, hint)
            self.n_clusters_ = k
        else:
            self.n_clusters_ = None
            cell_seed = sklearn_seed(rng) if self.approximate_ else None
            limit, origin = self._memory_limit(pool)
            hint = ""
        self.delta_ = float(delta)
        self.graph_bytes_ = check_graph_fits(pool, delta, limit, origin, hint)
        if cell_seed is not None:
            cells = pool.cells(default_n_cells(n), cell_seed)
        graph = pool.graph(delta, cells)
        self.purity_ = None if self.n_clusters_ is None else pool.purity(graph)
        return greedy_cover(graph, budget, labeled, rng)
