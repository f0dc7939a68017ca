"""The Dask backend of :class:`~subsel_plugins.backends.RowPool`: chunk states on the workers.

The sampler (``subsel_plugins.strategies._gs_sampler``) is the single machine's;
this pool keeps the per-row state where the rows are:

- **on the workers**, one persisted state per chunk (dask futures): the rows'
  squared norms ``sqn``, the residual bound ``res2``, a liveness mask and the
  cumulative bounds ``cum`` of the live rows. A refresh is one task per chunk:
  a blocked product of the chunk with the basis vectors added since the last
  refresh. Every state is a pure function of the source and of the client's
  small inputs, so a state lost with a worker is recomputed from the source by
  the scheduler (same bits: same result);
- **on the client**, O(chunks + budget d): the chunk masses, the rows chosen or
  found dead since the last refresh (``gone``, ``pending``). A proposal draws
  a chunk from the masses and a position ``v`` within its mass (client); the
  worker turns ``v`` into the row whose cumulative bound straddles it (one
  ``searchsorted``), returns its bound and reads the row. A candidate is thus
  row ``j`` with probability ``b_j / sum(b)``, whatever the chunking: the
  sampler's acceptance test then gives Alg. 1's law. Rows chosen since the
  last refresh keep their old bound in the proposal and are rejected when
  drawn (weight 0), as on one machine.

A seed gives the same picks for every scheduler and number of workers (the
client draws every random number), but not the same picks as the
single-machine pool: the two-stage proposal consumes the stream differently
and the refresh schedule follows another cost model. Same law, other draws.
"""

from __future__ import annotations

import time

import numpy as np

from .._validation import rescale_exponent
from ..backends import Batch, RowPool
from ..backends._memory import PASS_PER_ELEMENT, PASS_PER_ROW
from ..backends._pool import residual_weights
from ..kernels import (
    RESIDUAL_RTOL,
    bound_slack,
    project_out,
    residual_bounds,
    sq_norm_rel_error,
    weight_bound_factor,
)
from ._client import Traffic
from ._passes import centered_source, gather_rows, norm_select, raise_if_bad, split_by_chunk
from ._sources import BlockRef, block_len, iter_pieces, take_rows

# -- cost model (the single machine's unit: about one float64 multiply-add) --
# A batch of trials is two round trips client -> scheduler -> workers (draw the
# rows, gather them): some 10 ms each on a LocalCluster, more over a network.
ROUND_TRIPS = 2e8
# Per candidate row: its read from the source (a page of a shard, a zarr chunk
# decode, a seeded block of 1024 rows), tens of microseconds.
ROW_READ = 2e5
# Per chunk task of a refresh: scheduling and the state's bookkeeping.
TASK_OVERHEAD = 2e6
# Rows per float64 block inside a worker's pass.
WORKER_BLOCK = 8192
# Rows per sub-block of the first pass (checked and summed while in cache).
SCAN_ROWS = 2048


def _task_init(block, excluded, rel, nf):
    """The first state of a chunk: squared norms (in the rows' precision), bounds = norms, liveness.

    One read of the chunk: each sub-block is checked (finite, max |x|) and its
    squared norms taken while it is in cache. float32 rows are summed in
    float32, as on one machine: the bounds carry that error (``rel``) until
    the first refresh recomputes the norms in float64.
    """
    n = block_len(block)
    sqn = np.empty(n)
    hi, lo = -np.inf, np.inf
    for s, b in iter_pieces(block, SCAN_ROWS):
        bh, bl = float(b.max()), float(b.min())
        if not (np.isfinite(bh) and np.isfinite(bl)):
            bad = s + int(np.argwhere(~np.isfinite(b))[0, 0])
            return {"bad": bad, "max_abs": np.inf, "cum": np.zeros(1)}
        hi, lo = max(hi, bh), min(lo, bl)
        sqn[s : s + len(b)] = np.einsum("ij,ij->i", b, b)
    live = sqn > 0
    live[excluded] = False
    cum = np.cumsum(np.where(live, residual_bounds(sqn, sqn, rel, nf), 0.0))
    return {"bad": -1, "max_abs": max(hi, -lo, 0.0), "sqn": sqn, "res2": sqn, "live": live, "cum": cum}


def _task_refresh(state, block, Qnew, Q, gone, rel, nf, check_suspects, first):
    """The next state: fold ``Qnew`` into the bounds, drop ``gone`` rows, test the suspects exactly.

    ``first``: ``Qnew`` is the whole basis and the squared norms are taken
    again in float64 (they were in the rows' precision).
    """
    n = block_len(block)
    sqn = np.empty(n) if first else state["sqn"]
    live = state["live"].copy()
    live[gone] = False
    res2 = np.empty(n) if first else state["res2"].copy()  # never in place: see the module doc
    for s, piece in iter_pieces(block, WORKER_BLOCK):
        b = np.asarray(piece, dtype=np.float64)
        C = b @ Qnew.T
        c2 = np.einsum("ij,ij->i", C, C)
        if first:
            sqn[s : s + len(b)] = np.einsum("ij,ij->i", b, b)
            res2[s : s + len(b)] = sqn[s : s + len(b)] - c2
        else:
            res2[s : s + len(b)] -= c2
    if check_suspects:
        suspect = np.flatnonzero(live & (res2 <= 4.0 * rel * sqn))
        for s in range(0, suspect.size, WORKER_BLOCK):
            rows = suspect[s : s + WORKER_BLOCK]
            R = project_out(take_rows(block, rows), Q)
            l2 = np.sqrt(np.einsum("ij,ij->i", R, R))
            live[rows[l2 <= RESIDUAL_RTOL * np.sqrt(sqn[rows])]] = False
    cum = np.cumsum(np.where(live, residual_bounds(res2, sqn, rel, nf), 0.0))
    return {"bad": -1, "max_abs": state["max_abs"], "sqn": sqn, "res2": res2, "live": live, "cum": cum}


def _task_restart(state, dead, rel, nf):
    """The state of a new round of Alg. 1 (empty basis): bounds = norms, every free non-zero row live.

    ``dead``: the chunk's labeled and chosen rows (local positions).
    """
    sqn = state["sqn"]
    live = sqn > 0
    live[dead] = False
    cum = np.cumsum(np.where(live, residual_bounds(sqn, sqn, rel, nf), 0.0))
    return {"bad": -1, "max_abs": state["max_abs"], "sqn": sqn, "res2": sqn, "live": live, "cum": cum}


def _task_summary(state):
    return state["bad"], state["max_abs"], float(state["cum"][-1])


def _task_draw(state, v, rel, nf, ref):
    """Rows whose cumulative bound straddles each position ``v``; their bound, sqn, liveness.

    ``ref`` (a :class:`BlockRef`, or None): also read those rows from the
    source here, saving the client a second round trip.
    """
    cum = state["cum"]
    j = np.minimum(np.searchsorted(cum, v, side="right"), cum.size - 1)
    live = state["live"][j]
    bound = np.where(live, residual_bounds(state["res2"][j], state["sqn"][j], rel, nf), 0.0)
    rows = ref.source.read_rows(ref.c, j) if ref is not None else None
    return j, bound, state["sqn"][j], live, rows


class ChunkedPool(RowPool):
    """:class:`~subsel_plugins.backends.RowPool` over a row-chunked source (see the module docstring).

    The first pass validates the source (NaN or infinity: an error naming the
    first bad row) and measures its magnitude: features of extreme magnitude
    are rescaled by an exact power of two ``2**-e`` (``e``: the attribute) and
    passed over again.

    Parameters
    ----------
    source : RowSource
    norm : {"l2", "l1", "linf"}
    labeled : ndarray of int64 (global rows)
    progress : callable, optional
        Called as ``progress(event, self)`` after the first pass (``"init"``),
        each refresh (``"refresh"``) and each batch (``"batch"``).
    center : bool, default False
        Select on the rows minus their mean row, as ``GramSchmidtQuery(center=True)``
        on one machine: one more pass first (:func:`centered_source`: validation,
        magnitude and float64 column sums of the rows as stored); the pool then
        reads float64 rows, rescaled and centred as the workers read them.

    Attributes
    ----------
    stats : dict
        ``trials``, ``refreshes``, ``passes`` (refreshes plus the first pass),
        ``exact_rows`` (residuals computed on the client), ``restarts``, and
        at the end ``traffic`` (:class:`Traffic` phases), ``seconds`` and ``chunks``.
    """

    row_overhead = ROW_READ
    batch_overhead = ROUND_TRIPS

    def __init__(self, source, norm, labeled, progress=None, center=False):
        import dask
        from dask import delayed

        self._dask, self._delayed = dask, delayed
        self.norm, self.progress = norm, progress
        self.traffic = Traffic()
        self.labeled = labeled
        self.stats = {"trials": 0, "refreshes": 0, "passes": 0, "exact_rows": 0, "bound_violations": 0}
        # wall seconds by phase, for reports only (never read by the sampler)
        self.seconds = {"passes": 0.0, "trials": 0.0}
        self._t_batch = None
        t0 = time.perf_counter()
        e_center = 0
        if center:  # rescaled first (extreme magnitudes), then centred: the single machine's order
            source, e_center = centered_source(source, self.traffic)
            self.stats["passes"] += 1
        self.d, self.n, self.dtype = source.d, source.n, source.dtype
        self.nf = weight_bound_factor(norm, self.d)
        # norms summed in the rows' precision until the first refresh (as on one machine)
        self.sqn_rel = sq_norm_rel_error(source.dtype, self.d)
        self.rel = bound_slack(self.sqn_rel, self.d, 0)
        excl = split_by_chunk(source, labeled)
        states = self._init_states(source, excl)
        e = rescale_exponent(self._max_abs)
        if e:  # centred rows can be extreme too (nearly constant features): scaled again, exactly
            source = source.scaled(e)
            states = self._init_states(source, excl)
        self.e = e_center + e  # the rows read are the source's times 2**-e
        self.source, self.states = source, states
        self.gone: set[int] = set()
        self.pending: list[int] = []
        self._set_masses(self._summaries)
        self.seconds["passes"] += time.perf_counter() - t0
        if self.progress:
            self.progress("init", self)

    # -- passes ---------------------------------------------------------------
    def _init_states(self, source, excl):
        dask, delayed = self._dask, self._delayed
        tasks = [
            delayed(_task_init)(source.block_task(c), excl[c], self.rel, self.nf)
            for c in range(source.n_chunks)
        ]
        states = list(dask.persist(*tasks))
        sums = dask.compute(*[delayed(_task_summary)(s) for s in states])
        self.stats["passes"] += 1
        self.traffic.add(
            "init", to_client=24 * len(sums), to_workers=sum(x.nbytes for x in excl), tasks=len(tasks)
        )
        bad = [(c, b) for c, (b, _, _) in enumerate(sums) if b >= 0]
        if bad:
            c, b = bad[0]
            raise_if_bad({"bad": int(source.starts[c]) + b})
        self._max_abs = max(m for _, m, _ in sums)
        self._summaries = sums
        return states

    def _set_masses(self, sums):
        self.masses = np.array([m for _, _, m in sums], dtype=np.float64)
        self.chunk_cum = np.cumsum(self.masses)
        self.chunk_lo = self.chunk_cum - self.masses
        self._total = float(self.chunk_cum[-1])

    def _run_states(self, tasks, phase, to_workers):
        dask, delayed = self._dask, self._delayed
        self.states = list(dask.persist(*tasks))
        sums = dask.compute(*[delayed(_task_summary)(s) for s in self.states])
        self.traffic.add(phase, to_client=24 * len(sums), to_workers=to_workers, tasks=len(tasks))
        self._set_masses(sums)

    def pass_cost(self, n_new):
        per_el = getattr(self.source, "pass_cost_per_element", PASS_PER_ELEMENT)
        per_row = 2.0 * self.d * n_new + per_el * self.d + PASS_PER_ROW
        return self.n * per_row + self.source.n_chunks * TASK_OVERHEAD

    def refresh(self, Qnew, Q, rel, check_suspects, first):
        """One pass on the workers: the new basis vectors into every chunk's bounds."""
        t0 = time.perf_counter()
        delayed = self._delayed
        Qnew, Q = np.ascontiguousarray(Qnew), np.ascontiguousarray(Q)
        self.rel = rel
        gone = split_by_chunk(self.source, np.asarray(self.pending, dtype=np.int64))
        self.pending = []
        dQ, dQnew = delayed(Q), delayed(Qnew)  # one copy per worker, not one per chunk
        tasks = [
            delayed(_task_refresh)(
                self.states[c],
                self.source.block_task(c),
                dQnew,
                dQ,
                gone[c],
                rel,
                self.nf,
                check_suspects,
                first,
            )
            for c in range(self.source.n_chunks)
        ]
        to_workers = Qnew.nbytes + Q.nbytes + sum(g.nbytes for g in gone)
        self._run_states(tasks, "refresh", to_workers)
        self.stats["passes"] += 1
        self.seconds["passes"] += time.perf_counter() - t0
        if self.progress:
            self.progress("refresh", self)

    def restart(self, chosen, rel):
        """One task per chunk resets its bounds to the rows' norms (no read of the source).

        Rows found in the span of the last round's basis are free again.
        """
        t0 = time.perf_counter()
        delayed = self._delayed
        self.rel = rel
        self.gone = set(chosen)
        dead = split_by_chunk(self.source, np.concatenate([self.labeled, np.asarray(chosen, dtype=np.int64)]))
        self.pending = []
        tasks = [
            delayed(_task_restart)(self.states[c], dead[c], rel, self.nf) for c in range(self.source.n_chunks)
        ]
        self._run_states(tasks, "restart", sum(g.nbytes for g in dead))
        self.seconds["passes"] += time.perf_counter() - t0
        return self._total > 0.0

    # -- trials ---------------------------------------------------------------
    def rows(self, idx):
        return gather_rows(self.source, np.asarray(idx, dtype=np.int64), self.traffic, "init")

    def total(self):
        return self._total

    def propose(self, m, rng):
        """``m`` proposals, read with their rows: global rows, bounds, squared norms, liveness."""
        self._t_batch = time.perf_counter()
        dask, delayed = self._dask, self._delayed
        v = rng.random(m) * self._total
        c = np.minimum(np.searchsorted(self.chunk_cum, v, side="right"), self.masses.size - 1)
        local = np.maximum(v - self.chunk_lo[c], 0.0)
        chunks = np.unique(c)
        refs = [self.source.block_task(int(i)) for i in chunks]
        fused = all(isinstance(r, BlockRef) for r in refs)  # rows read in the same task
        tasks = [
            delayed(_task_draw)(self.states[i], local[c == i], self.rel, self.nf, r if fused else None)
            for i, r in zip(chunks, refs)
        ]
        parts = dask.compute(*tasks)
        rows = np.empty(m, dtype=np.int64)
        bound, sqn, live = np.empty(m), np.empty(m), np.empty(m, dtype=bool)
        X = np.empty((m, self.d), dtype=self.source.dtype) if fused else None
        for i, (j, b, s, lv, xr) in zip(chunks, parts):
            sel = c == i
            rows[sel] = self.source.starts[i] + j
            bound[sel], sqn[sel], live[sel] = b, s, lv
            if fused:
                X[sel] = xr
        if fused:
            self.traffic.add("rows", to_client=X.nbytes, rounds=0)
        else:
            X = gather_rows(self.source, rows, self.traffic, "rows")
        self.traffic.add(
            "draw",
            to_client=rows.nbytes + bound.nbytes + sqn.nbytes + m,
            to_workers=local.nbytes,
            tasks=len(tasks),
        )
        return Batch(rows=rows, bound=bound, sqn=sqn, live=live, X=X)

    def residuals(self, batch, Q):
        self.stats["exact_rows"] += len(batch.rows)
        return project_out(batch.X, Q)

    def weights(self, batch, R, start=0):
        rows = batch.rows[start:]
        alive = batch.live[start:].copy()
        if self.gone:
            alive &= ~np.isin(rows, np.fromiter(self.gone, dtype=np.int64, count=len(self.gone)))
        w, dead = residual_weights(R, self.norm, batch.sqn[start:], alive)
        for r in np.unique(rows[dead]).tolist():
            self.gone.add(r)
            self.pending.append(r)
        return w

    def take(self, i):
        self.gone.add(i)
        self.pending.append(i)

    def after_batch(self):
        if self._t_batch is not None:
            self.seconds["trials"] += time.perf_counter() - self._t_batch
            self._t_batch = None
        if self.progress:
            self.progress("batch", self)

    def norm_fill(self, k, chosen, rng):
        """The norm race over the chunks (``norm_select``), among the rows neither labeled nor chosen."""
        excl = np.concatenate([self.labeled, np.asarray(chosen, dtype=np.int64)])
        idx, _, _ = norm_select(self.source, k, excl, self.norm, True, rng, self.traffic)
        self.stats["passes"] += 1
        return idx

    def finish_stats(self, restarts):
        """``stats`` as ``GramSchmidtQuery.stats_`` reports it for distributed inputs."""
        self.stats["restarts"] = restarts
        self.stats["traffic"] = self.traffic.as_dict()
        self.stats["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        self.stats["chunks"] = self.source.n_chunks
        return self.stats
