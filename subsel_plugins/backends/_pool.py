"""The pool protocol: what a multi-pass sampler asks of the rows, wherever they live."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels import RESIDUAL_RTOL, residual_norms


@dataclass
class Batch:
    """Candidate rows proposed together, and what the backend knows of them.

    ``rows`` (m,) int64 global indices; ``bound`` (m,) the weight bound each was
    proposed with; ``sqn`` (m,) squared norms; ``live`` (m,) whether the row was
    live when the bounds were last refreshed (None: ask the pool); ``X`` (m, d)
    the rows themselves when the backend read them with the proposal (else None).
    """

    rows: np.ndarray
    bound: np.ndarray
    sqn: np.ndarray | None = None
    live: np.ndarray | None = None
    X: np.ndarray | None = None


class RowPool:
    """Rows of a feature matrix and the residual-bound state of a Gram-Schmidt selection over them.

    The sampler (``subsel_plugins.strategies``) owns the basis ``Q`` and the
    cost model; a pool owns, per row, the squared norm ``sqn``, the squared
    residual bound ``res2`` (at the last refresh), whether the row is still
    live, and the proposal built from those bounds. Attributes every pool sets:

    - ``n``, ``d``, ``dtype``: the shape and precision of the rows;
    - ``norm`` and ``nf`` (:func:`~subsel_plugins.kernels.weight_bound_factor`);
    - ``sqn_rel``, ``rel``: relative error of the initial squared norms and the
      current bound slack (:func:`~subsel_plugins.kernels.bound_slack`);
    - ``stats``: counters reported as ``GramSchmidtQuery.stats_``;
    - ``row_overhead``, ``batch_overhead``: cost-model units per candidate row
      and per batch of trials (a pool that reads rows over a network pays more).

    Methods a sampler calls, in the order of a selection: :meth:`rows`,
    :meth:`total`, :meth:`propose`, :meth:`residuals`, :meth:`weights`,
    :meth:`take`, :meth:`pass_cost`, :meth:`refresh`, :meth:`restart`,
    :meth:`norm_fill`, :meth:`after_batch`.
    """

    row_overhead: float
    batch_overhead: float

    def rows(self, idx) -> np.ndarray:
        """The rows ``idx`` (global indices), (len(idx), d) in the pool's precision."""
        raise NotImplementedError

    def total(self) -> float:
        """Sum of the weight bounds of the live rows (the proposal's mass)."""
        raise NotImplementedError

    def propose(self, m: int, rng: np.random.Generator) -> Batch:
        """``m`` rows drawn with probability proportional to their bound (draws ``rng.random(m)``)."""
        raise NotImplementedError

    def residuals(self, batch: Batch, Q: np.ndarray) -> np.ndarray:
        """Exact float64 residuals (m, d) of the batch's rows against the basis ``Q`` (k, d)."""
        raise NotImplementedError

    def weights(self, batch: Batch, R: np.ndarray, start: int = 0) -> np.ndarray:
        """Weights of ``batch`` rows ``start:`` with residuals ``R``; rows in the span die (weight 0)."""
        raise NotImplementedError

    def take(self, i: int) -> None:
        """Row ``i`` was chosen: it is no longer free."""
        raise NotImplementedError

    def pass_cost(self, n_new: int) -> float:
        """Cost of a refresh folding ``n_new`` basis vectors into every bound."""
        raise NotImplementedError

    def refresh(self, Qnew, Q, rel: float, check_suspects: bool, first: bool) -> None:
        """One pass: fold ``Qnew`` into every bound, slack ``rel``; rebuild the proposal.

        ``check_suspects``: rows whose bound is mostly slack get their exact
        residual against ``Q`` (rows in the span die). ``first``: the squared
        norms are taken again in float64.
        """
        raise NotImplementedError

    def restart(self, chosen, rel: float) -> bool:
        """A new round of Alg. 1 from an empty basis: bounds = norms, every free non-zero row live.

        Returns False when no free row is non-zero.
        """
        raise NotImplementedError

    def norm_fill(self, k: int, chosen, rng: np.random.Generator) -> np.ndarray:
        """``k`` free rows by feature-norm sampling of the rows as stored (the fill past the rank)."""
        raise NotImplementedError

    def after_batch(self) -> None:
        """Called after each batch of trials (progress reports)."""


class DistancePool:
    """Rows of a feature matrix and each row's squared distance to its nearest center.

    What farthest-first traversal (k-center greedy) asks of the rows, wherever
    they live: the pool keeps, per row, the squared distance ``mind`` to the
    nearest center folded so far (``inf`` before any), and ``-inf`` for the
    rows out of the race (labeled or chosen). Attributes: ``n``, ``d``,
    ``stats`` (``passes``), and ``e``: the exponent the rows were rescaled by
    (``2**-e``, exact) when their magnitude was extreme (0 otherwise).
    """

    def rows(self, idx) -> np.ndarray:
        """The rows ``idx`` (global indices), (len(idx), d) as the pool reads them."""
        raise NotImplementedError

    def fold(self, centers: np.ndarray, taken) -> tuple[int, float]:
        """One pass: ``taken`` rows leave the race, ``centers`` (m, d) fold into ``mind``.

        Returns the free row farthest from every center (the lowest index among
        ties) and its squared distance; ``(-1, -inf)`` when no row is free.
        """
        raise NotImplementedError


class ClusterPool:
    """Rows grouped by k-means: what TypiClust's visiting loop asks of the rows, wherever they live.

    The pool keeps every row's cluster label where the rows are, and which
    rows are out of the race (labeled or chosen). Attributes: ``n``, and
    ``visit_batch``: how many visits (distinct clusters) TypiClust's loop asks
    about at once.

    A pool may also offer ``most_typical(clusters, k_neighbors, rng)``: for
    each of the distinct ``clusters`` in visiting order, ``(row, score)`` of
    its most typical member still in the race, as
    ``TypiClustQuery._pick_in_cluster`` on the approximate path computes it
    (:func:`~subsel_plugins.kernels.most_typical_approx` above
    ``TYPICALITY_REFS + TYPICALITY_CANDIDATES`` members, else
    :func:`~subsel_plugins.kernels.typicality`), drawing from ``rng`` in the
    same order. Where the rows are not on the client, this keeps the
    distances where the rows are.
    """

    visit_batch = 1 << 31

    def fit(self, n_clusters: int, seed: int) -> np.ndarray:
        """Cluster every row into ``n_clusters``; returns the cluster sizes (n_clusters,) int64."""
        raise NotImplementedError

    def labels_of(self, rows) -> np.ndarray:
        """Cluster labels of the rows ``rows`` (global indices)."""
        raise NotImplementedError

    def take(self, rows) -> None:
        """Rows ``rows`` leave the race (they are labeled, or were chosen)."""
        raise NotImplementedError

    def members(self, cluster: int) -> np.ndarray:
        """The rows of ``cluster`` still in the race, sorted global indices."""
        raise NotImplementedError


class BallPool:
    """Rows on the unit sphere and ProbCover's ball graph over them, wherever they live.

    What ProbCover's selection (``ProbCoverQuery._cover``) asks of the rows:
    pseudo-labels and cells kept where the rows are, distances of a few rows
    to every row, and a :class:`CoverGraph` built where the rows are.
    Attributes: ``n``.
    """

    def pseudo_labels(self, k: int, seed: int, approximate: bool):
        """Fit the k-means pseudo-labels (kept by the pool); returns their centroids.

        None for the exact path, or when k <= 1 (every row one label).

        ``approximate``: the exact path's estimator on a sample of
        ``MAX_POINTS_PER_CENTROID * k`` rows, every row then assigned
        (:func:`~subsel_plugins.kernels.official_kmeans_on_sample`); else on
        every row (:func:`~subsel_plugins.kernels.kmeans_labels`).
        """
        raise NotImplementedError

    def pseudo_cells(self, centroids):
        """The pseudo-label clusters as the approximate graph's cells (a :class:`Cells`)."""
        raise NotImplementedError

    def cells(self, n_cells: int, seed: int):
        """k-means cells of the rows (kept by the pool), as a :class:`Cells`."""
        raise NotImplementedError

    def other_label_distances(self, rows) -> np.ndarray:
        """float64 distance of each of ``rows`` (None: every row) to its nearest row of another
        pseudo-label (inf when there is none)."""
        raise NotImplementedError

    def ball_counts(self, rows, sq_radii) -> np.ndarray:
        """For each squared radius, how many (row of ``rows`` (None: every row), any row) pairs are closer."""
        raise NotImplementedError

    def spread(self) -> float:
        """A radius whose ball around any row holds every row (the radius of a single cluster)."""
        raise NotImplementedError

    def graph(self, delta: float, cells):
        """The ball graph at ``delta`` (strict), a :class:`CoverGraph`: exact when ``cells`` is None,
        else searched in the cells each cell probes."""
        raise NotImplementedError

    def purity(self, graph) -> float:
        """Fraction of rows whose ball in ``graph`` holds only rows of their own pseudo-label."""
        raise NotImplementedError

    def available_memory(self) -> int | None:
        """Bytes the graph may still take where it is built; None: this process's memory."""
        return None


class CoverGraph:
    """A ball graph as greedy coverage reads it: ``n``, and per row the rows its ball holds."""

    def degrees(self) -> np.ndarray:
        """(n,) int64: how many rows each ball holds."""
        raise NotImplementedError

    def balls(self, xs) -> np.ndarray:
        """The rows the balls of ``xs`` hold, concatenated (with repeats)."""
        raise NotImplementedError

    def holders(self, ys) -> np.ndarray:
        """The rows whose balls hold each of ``ys``, concatenated (with repeats: one per (holder, y))."""
        raise NotImplementedError


def residual_weights(R: np.ndarray, norm: str, sqn: np.ndarray, alive: np.ndarray):
    """Weights of residual rows ``R`` (m, d) and which of the ``alive`` rows are found in the span.

    A residual below ``RESIDUAL_RTOL`` of its row's norm (``sqrt(sqn)``) is
    rounding noise: that row is dead. Returns ``(weights, dead)``: the weights
    (0 for rows not alive or dead) and the dead mask, both (m,).
    """
    l2 = np.sqrt(np.einsum("ij,ij->i", R, R))
    dead = alive & (l2 <= RESIDUAL_RTOL * np.sqrt(sqn))
    w = l2 if norm == "l2" else residual_norms(R, norm)
    return np.where(alive & ~dead, w, 0.0), dead
