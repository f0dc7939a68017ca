"""Randomized Gram-Schmidt over a row-chunked source: the single-machine fast path's law, distributed.

The law is Alg. 1's: each pick is row ``j`` with probability proportional to
its residual norm against the span of the labeled and chosen rows. As on one
machine (``GramSchmidtQuery``'s Notes) it is drawn by rejection against upper
bounds of the residual norms, refreshed now and then by one pass:

- **on the workers**, one persisted state per chunk (dask futures): the rows'
  squared norms ``sqn``, the residual bound ``res2``, a liveness mask and the
  cumulative bounds ``cum`` of the live rows. A refresh is one task per
  chunk: a blocked product of the chunk with the basis vectors added since
  the last refresh. Every state is a pure function of the source and of the
  client's small inputs, so a state lost with a worker is recomputed from the
  source by the scheduler (same bits: same result);
- **on the client**, O(chunks + budget d): the chunk masses, the basis ``Q``
  of the chosen rows, the rows chosen or found dead since the last refresh,
  and the random generator. A trial draws a chunk from the masses and a
  position ``v`` within its mass (client), the worker turns ``v`` into the row
  whose cumulative bound straddles it (one ``searchsorted``) and returns its
  bound; the client gathers the candidate rows, computes their exact residuals
  against ``Q`` and accepts row ``j`` when ``u b_j < ||r_j||``. A candidate is
  thus row ``j`` with probability ``b_j / sum(b)`` and is accepted with
  probability ``||r_j|| / b_j``: an accepted row has Alg. 1's law, whatever
  the chunking. Rows chosen since the last refresh keep their old bound in
  the proposal and are rejected when drawn (weight 0), as on one machine.

A seed gives the same picks for every scheduler and number of workers (the
client draws every random number), but not the same picks as the
single-machine path: the two-stage proposal consumes the stream differently
and the refresh schedule follows another cost model. Same law, other draws.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..strategies._gram_schmidt import (
    _EPS32,
    _EPS64,
    _MAX_BATCH,
    _MAX_IDLE_REFRESHES,
    _MIN_BATCH,
    _PASS_PER_ELEMENT,
    _PASS_PER_ROW,
    _RESIDUAL_RTOL,
    SamplerInvariantError,
    _residual_norms,
    orthonormal_basis,
)
from ._client import Traffic
from ._passes import gather_rows, norm_select, raise_if_bad, split_by_chunk
from ._sources import BlockRef, block_len, iter_pieces, take_rows

# -- cost model (the single machine's unit: about one float64 multiply-add) --
# A batch of trials is two round trips client -> scheduler -> workers (draw the
# rows, gather them): some 10 ms each on a LocalCluster, more over a network.
_ROUND_TRIPS = 2e8
# Per candidate row: its read from the source (a page of a shard, a zarr chunk
# decode, a seeded block of 1024 rows), tens of microseconds.
_ROW_READ = 2e5
# Per chunk task of a refresh: scheduling and the state's bookkeeping.
_TASK_OVERHEAD = 2e6
# Rows per float64 block inside a worker's pass.
_WORKER_BLOCK = 8192
# Rows per sub-block of the first pass (checked and summed while in cache).
_SCAN_ROWS = 2048


def _bounds(res2, sqn, rel, nf):
    return nf * np.sqrt(np.maximum(res2, 0.0) + rel * sqn)


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
    for s, b in iter_pieces(block, _SCAN_ROWS):
        bh, bl = float(b.max()), float(b.min())
        if not (np.isfinite(bh) and np.isfinite(bl)):
            bad = s + int(np.argwhere(~np.isfinite(b))[0, 0])
            return {"bad": bad, "max_abs": np.inf, "cum": np.zeros(1)}
        hi, lo = max(hi, bh), min(lo, bl)
        sqn[s : s + len(b)] = np.einsum("ij,ij->i", b, b)
    live = sqn > 0
    live[excluded] = False
    cum = np.cumsum(np.where(live, _bounds(sqn, sqn, rel, nf), 0.0))
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
    for s, piece in iter_pieces(block, _WORKER_BLOCK):
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
        for s in range(0, suspect.size, _WORKER_BLOCK):
            rows = suspect[s : s + _WORKER_BLOCK]
            R = np.array(take_rows(block, rows), dtype=np.float64)
            R -= (R @ Q.T) @ Q
            l2 = np.sqrt(np.einsum("ij,ij->i", R, R))
            live[rows[l2 <= _RESIDUAL_RTOL * np.sqrt(sqn[rows])]] = False
    cum = np.cumsum(np.where(live, _bounds(res2, sqn, rel, nf), 0.0))
    return {"bad": -1, "max_abs": state["max_abs"], "sqn": sqn, "res2": res2, "live": live, "cum": cum}


def _task_restart(state, dead, rel, nf):
    """The state of a new round of Alg. 1 (empty basis): bounds = norms, every free non-zero row live.

    ``dead``: the chunk's labeled and chosen rows (local positions).
    """
    sqn = state["sqn"]
    live = sqn > 0
    live[dead] = False
    cum = np.cumsum(np.where(live, _bounds(sqn, sqn, rel, nf), 0.0))
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
    bound = np.where(live, _bounds(state["res2"][j], state["sqn"][j], rel, nf), 0.0)
    rows = ref.source.read_rows(ref.c, j) if ref is not None else None
    return j, bound, state["sqn"][j], live, rows


class DistributedGramSchmidt:
    """Randomized Gram-Schmidt picks over ``source`` (see the module docstring).

    Parameters
    ----------
    source : RowSource
    norm : {"l2", "l1", "linf"}
    labeled : ndarray of int64 (global rows)
    budget : int
    rng : numpy Generator (the only randomness)
    progress : callable, optional
        Called as ``progress(event, self)`` after the first pass
        (``"init"``), each refresh (``"refresh"``) and each batch (``"batch"``).

    Attributes
    ----------
    stats : dict
        ``trials``, ``refreshes``, ``passes`` (refreshes plus the first pass),
        ``exact_rows`` (residuals computed on the client) and ``traffic``
        (:class:`Traffic` phases: ``init``, ``draw``, ``rows``, ``refresh``).
    """

    def __init__(self, source, norm, labeled, budget, rng, progress=None):
        import dask
        from dask import delayed

        from .._validation import rescale_exponent

        self.norm, self.rng, self.progress = norm, rng, progress
        self.traffic = Traffic()
        self.d, self.n = source.d, source.n
        self.nf = np.sqrt(self.d) if norm == "l1" else 1.0
        self.labeled = labeled
        self.stats = {"trials": 0, "refreshes": 0, "passes": 0, "exact_rows": 0, "bound_violations": 0}
        # wall seconds by phase, for reports only (never read by the sampler)
        self.seconds = {"passes": 0.0, "trials": 0.0}
        t0 = time.perf_counter()
        self.applied = 0
        # norms summed in the rows' precision until the first refresh (as on one machine)
        eps = _EPS32 if source.dtype == np.float32 else _EPS64
        self.sqn_rel = 2.0 * self.d * eps
        self.rel = self.sqn_rel + 64.0 * _EPS64 * self.d
        excl = split_by_chunk(source, labeled)
        states = self._init_states(source, excl)
        e = rescale_exponent(self._max_abs)
        if e:
            source = source.scaled(e)
            states = self._init_states(source, excl)
        self.e = e
        self.source = source
        self.states = states
        Q0 = orthonormal_basis(gather_rows(source, labeled, self.traffic, "init")) if labeled.size else None
        k0 = 0 if Q0 is None else Q0.shape[0]
        self.Q = np.empty((min(self.d, k0 + budget), self.d))
        if k0:
            self.Q[:k0] = Q0
        self.k = k0
        self.gone: set[int] = set()
        self.pending: list[int] = []
        self.spent = 0.0
        self._delayed, self._dask = delayed, dask
        self._set_masses(self._summaries)
        self.seconds["passes"] += time.perf_counter() - t0
        if self.progress:
            self.progress("init", self)

    # -- passes ---------------------------------------------------------------
    def _init_states(self, source, excl):
        import dask
        from dask import delayed

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
        self.total = float(self.chunk_cum[-1])
        if not np.isfinite(self.total):
            raise SamplerInvariantError(
                f"the residual bounds sum to {self.total}; the features' squared norms overflow "
                "(inputs are rescaled before this point, so this is a bug: please report it)."
            )
        self.accepted_since = 0
        self.trials_since = 0
        self.behind = False

    def refresh(self, check_suspects: bool):
        """One pass on the workers: the new basis vectors into every chunk's bounds."""
        t0 = time.perf_counter()
        dask, delayed = self._dask, self._delayed
        Qnew = np.ascontiguousarray(self.Q[self.applied : self.k])
        Q = np.ascontiguousarray(self.Q[: self.k])
        self.applied = self.k
        self.sqn_rel = 2.0 * self.d * _EPS64  # the first refresh takes the norms in float64
        self.rel = self.sqn_rel + 64.0 * _EPS64 * (self.d + self.applied)
        gone = split_by_chunk(self.source, np.asarray(self.pending, dtype=np.int64))
        self.pending = []
        dQ, dQnew = delayed(Q), delayed(Qnew)  # one copy per worker, not one per chunk
        first = self.stats["refreshes"] == 0
        tasks = [
            delayed(_task_refresh)(
                self.states[c],
                self.source.block_task(c),
                dQnew,
                dQ,
                gone[c],
                self.rel,
                self.nf,
                check_suspects,
                first,
            )
            for c in range(self.source.n_chunks)
        ]
        self.states = list(dask.persist(*tasks))
        sums = dask.compute(*[delayed(_task_summary)(s) for s in self.states])
        self.stats["refreshes"] += 1
        self.stats["passes"] += 1
        self.traffic.add(
            "refresh",
            to_client=24 * len(sums),
            to_workers=Qnew.nbytes + Q.nbytes + sum(g.nbytes for g in gone),
            tasks=len(tasks),
        )
        self.spent = 0.0
        self._set_masses(sums)
        self.seconds["passes"] += time.perf_counter() - t0
        if self.progress:
            self.progress("refresh", self)

    def restart(self, chosen, remaining: int) -> bool:
        """A new round of Alg. 1 from an empty basis over the free rows (``exhausted="restart"``).

        ``chosen``: every pick so far. Rows found in the span of the last
        round's basis are free again. One task per chunk resets its bounds to
        the rows' norms (no read of the source). Returns False when no free
        row is non-zero.
        """
        t0 = time.perf_counter()
        dask, delayed = self._dask, self._delayed
        self.k = self.applied = 0
        self.Q = np.empty((min(self.d, remaining), self.d))
        self.rel = self.sqn_rel + 64.0 * _EPS64 * self.d
        self.gone = set(chosen)
        dead = split_by_chunk(self.source, np.concatenate([self.labeled, np.asarray(chosen, dtype=np.int64)]))
        self.pending = []
        tasks = [
            delayed(_task_restart)(self.states[c], dead[c], self.rel, self.nf)
            for c in range(self.source.n_chunks)
        ]
        self.states = list(dask.persist(*tasks))
        sums = dask.compute(*[delayed(_task_summary)(s) for s in self.states])
        self.stats["restarts"] = self.stats.get("restarts", 0) + 1
        self.traffic.add(
            "restart", to_client=24 * len(sums), to_workers=sum(g.nbytes for g in dead), tasks=len(tasks)
        )
        self.spent = 0.0
        self._set_masses(sums)
        self.seconds["passes"] += time.perf_counter() - t0
        return self.total > 0.0

    # -- cost model -----------------------------------------------------------
    def refresh_cost(self) -> float:
        per_el = getattr(self.source, "pass_cost_per_element", _PASS_PER_ELEMENT)
        per_row = 2.0 * self.d * (self.k - self.applied) + per_el * self.d + _PASS_PER_ROW
        return self.n * per_row + self.source.n_chunks * _TASK_OVERHEAD

    def trial_cost(self, m: int) -> float:
        return m * (2.0 * self.d * self.k + 16.0 * self.d + _ROW_READ) + _ROUND_TRIPS

    # -- picks ----------------------------------------------------------------
    def run(self, budget):
        """Up to ``budget`` picks, fewer when the residuals are spent; returns (chosen, scores)."""
        chosen, scores = [], []
        fresh = False
        idle = 0
        while len(chosen) < budget and self.k < self.d:
            if self.total <= 0.0 or (not fresh and (self.spent > self.refresh_cost() or self.behind)):
                if fresh:
                    break  # certified: no live row left
                idle += 1
                if idle > _MAX_IDLE_REFRESHES:
                    raise SamplerInvariantError(
                        f"{_MAX_IDLE_REFRESHES} refreshes of the bounds without a pick (bound mass "
                        f"{self.total:.3g}); the sampler is not progressing: please report this bug."
                    )
                self.refresh(check_suspects=True)
                fresh = True
                continue
            fresh = False
            if self._batch(budget, chosen, scores):
                idle = 0
            if self.progress:
                self.progress("batch", self)
        return chosen, scores

    def _draw(self, m):
        """``m`` proposals: global rows, their bounds and squared norms, and whether they are live."""
        dask, delayed = self._dask, self._delayed
        v = self.rng.random(m) * self.total
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
        return rows, bound, sqn, live, X

    def _weights(self, rows, R, sqn, live):
        """Exact weights of candidate ``rows`` with residuals ``R``; rows found in the span die."""
        l2 = np.sqrt(np.einsum("ij,ij->i", R, R))
        alive = live.copy()
        if self.gone:
            alive &= ~np.isin(rows, np.fromiter(self.gone, dtype=np.int64, count=len(self.gone)))
        dead = alive & (l2 <= _RESIDUAL_RTOL * np.sqrt(sqn))
        for r in np.unique(rows[dead]).tolist():
            self.gone.add(r)
            self.pending.append(r)
        alive &= ~dead
        w = l2 if self.norm == "l2" else _residual_norms(R, self.norm)
        return np.where(alive, w, 0.0)

    def _batch(self, budget, chosen, scores):
        t0 = time.perf_counter()
        try:
            return self._batch_timed(budget, chosen, scores)
        finally:
            self.seconds["trials"] += time.perf_counter() - t0

    def _batch_timed(self, budget, chosen, scores):
        acc = (self.accepted_since + 1.0) / (self.trials_since + 1.0)
        m = int(np.clip(np.ceil((budget - len(chosen)) / acc), _MIN_BATCH, _MAX_BATCH))
        rows, bound, sqn, live, X = self._draw(m)
        u = self.rng.random(m)
        R = np.array(X, dtype=np.float64)
        Q = self.Q[: self.k]
        if Q.shape[0]:
            R -= (R @ Q.T) @ Q
        self.stats["exact_rows"] += m
        w = self._weights(rows, R, sqn, live)
        n_acc = self._accept_in_order(rows, u, bound, R, sqn, live, w, budget, chosen, scores)
        self.stats["trials"] += m
        self.spent += self.trial_cost(m)
        remaining = min(budget - len(chosen), self.d - self.k)
        rate = (n_acc + 1.0) / (m + 1.0)
        per = self.trial_cost(1) - _ROUND_TRIPS
        self.behind = remaining * per / rate > self.refresh_cost() + 2.0 * remaining * per
        return n_acc

    def _accept_in_order(self, rows, u, bound, R, sqn, live, w, budget, chosen, scores):
        """Accept trial t when ``u_t bound_t < w_t``; each sees the basis as it is at its turn."""
        m = len(rows)
        t = n_acc = 0
        while t < m:
            over = w[t:] > bound[t:]
            if over.any():
                j = int(rows[t + np.argmax(over)])
                raise SamplerInvariantError(
                    f"row {j}'s residual exceeds its bound; drawing on would bias Alg. 1's law "
                    "(a rounding bug: please report it)."
                )
            hit = np.flatnonzero(u[t:] * bound[t:] < w[t:])
            if hit.size == 0:
                self.trials_since += m - t
                break
            a = t + int(hit[0])
            self.trials_since += a - t + 1
            self.accepted_since += 1
            n_acc += 1
            self._take(int(rows[a]), float(w[a]), R[a], chosen, scores)
            t = a + 1
            if len(chosen) == budget or self.k >= self.d:
                break
            q = self.Q[self.k - 1]
            R[t:] -= np.outer(R[t:] @ q, q)
            w[t:] = self._weights(rows[t:], R[t:], sqn[t:], live[t:])
        return n_acc

    def _take(self, i, w, r, chosen, scores):
        Q = self.Q[: self.k]
        q = r - Q.T @ (Q @ r)  # once more: rounding makes r drift out of the complement
        q /= np.linalg.norm(q)
        self.Q[self.k] = q
        self.k += 1
        chosen.append(i)
        scores.append(w)
        self.gone.add(i)
        self.pending.append(i)


def gram_schmidt_select(source, budget, labeled, norm, rng, progress=None, exhausted="norm"):
    """Randomized GS picks (indices, scores, stats, e) over ``source``.

    Past the rank, as ``GramSchmidtQuery(exhausted=...)`` on one machine:
    ``"restart"`` runs further rounds of Alg. 1 from an empty basis over the
    free rows; ``"norm"`` fills the budget by norm sampling. Whatever is
    still missing (only zero rows left) is drawn by the norm race, which
    takes zero rows uniformly.
    """
    gs = DistributedGramSchmidt(source, norm, labeled, budget, rng, progress)
    chosen, scores = gs.run(budget)
    restarts = 0
    while exhausted == "restart" and len(chosen) < budget:
        if not gs.restart(chosen, budget - len(chosen)):
            break  # only zero rows are left
        restarts += 1
        picked, picked_scores = gs.run(budget - len(chosen))
        chosen += picked
        scores += picked_scores
        if not picked:
            break
    gs.stats["restarts"] = restarts
    if len(chosen) < budget:
        missing = budget - len(chosen)
        if exhausted == "norm":
            message = (
                f"GramSchmidtQuery: the residuals vanished after {len(chosen)} picks (the "
                f"features span no more directions: duplicate, zero or low-rank rows); the "
                f"other {missing} picks were drawn by {norm} feature-norm sampling "
                "among the unchosen rows."
            )
        else:
            message = (
                f"GramSchmidtQuery: only zero rows were left after {len(chosen)} picks "
                f"({restarts} restarts); the other {missing} picks were drawn uniformly among them."
            )
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        excl = np.concatenate([labeled, np.asarray(chosen, dtype=np.int64)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            idx, _, _ = norm_select(gs.source, missing, excl, norm, True, rng, gs.traffic)
        chosen.extend(idx.tolist())
        scores.extend([0.0] * missing)
        gs.stats["passes"] += 1
    gs.stats["traffic"] = gs.traffic.as_dict()
    gs.stats["seconds"] = {k: round(v, 3) for k, v in gs.seconds.items()}
    gs.stats["chunks"] = gs.source.n_chunks
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores, dtype=np.float64), gs.stats, gs.e
