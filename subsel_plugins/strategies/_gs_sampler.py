"""Gram-Schmidt's fast path, written once over :class:`~subsel_plugins.backends.RowPool`.

The law is Alg. 1's: each pick is row ``j`` with probability proportional to
its residual norm against the span of the labeled and chosen rows. It is drawn
by rejection against upper bounds of the residual norms (``GramSchmidtQuery``'s
Notes): :class:`RejectionSampler` (randomized) and :class:`LazyArgmax`
(deterministic, in-memory pools) pick over a :class:`ResidualBasis`, which
holds the basis and the cost model; the pool holds the rows and their bounds,
wherever they live (numpy, torch, Dask chunks). :func:`select_rounds` adds the
rounds past the rank and the fill.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..kernels import bound_slack, orthonormal_basis

_EPS64 = float(np.finfo(np.float64).eps)

# -- cost model of the fast path ----------------------------------------------
# The fast path decides when a full refresh of the bounds (one pass over X)
# pays for itself against more rejected trials. It prices both in one unit,
# about one float64 multiply-add inside BLAS, from counts alone (never wall
# time), so a seed gives the same picks on every machine. The pool prices its
# own passes, rows and batches (``pass_cost``, ``row_overhead``,
# ``batch_overhead``). These constants only move refreshes earlier or later:
# that changes the speed and which random numbers land where (a given seed's
# picks), never the law, which the rejection test alone guarantees.
#
# Per row evaluated by the deterministic argmax, on top of its trial cost:
# the evaluated-row arrays it joins are filtered and concatenated again at
# every step of the search. So large that a search re-evaluating many stale
# rows refreshes the bounds and re-sorts instead.
EVAL_OVERHEAD = 100_000
# Candidates proposed at a time: the trials expected to finish the budget at
# the current acceptance rate, clipped. Under 8 the per-batch overhead
# dominates; over 512 a pick early in the batch makes too many later
# candidates be projected again (O(m d) per pick), and the batch's (m, d)
# float64 residuals stay within 4 MB at d = 1024.
MIN_BATCH, MAX_BATCH = 8, 512
# The sampler gives up after this many refreshes in a row without a pick AND
# this many trials since the last pick: right after a refresh the bounds are
# usually tight and nearly every trial accepts, so even two idle refreshes are
# rare; many mean a broken invariant, which must fail, not hang. Both, because
# a pool whose last residuals are near rounding level (a rank-deficient pool
# stored in float32) has bounds at their slack floor that no refresh tightens:
# there a trial accepts with probability 1e-3 or less, a legitimate law that
# needs thousands of trials per pick, not an error.
MAX_IDLE_REFRESHES = 50
MAX_IDLE_TRIALS = 200_000


class SamplerInvariantError(RuntimeError):
    """The fast sampler found its own invariant broken (a bug, never a user error)."""


class ResidualBasis:
    """The basis of the chosen (and labeled) rows over a pool, and the cost of the work so far.

    ``Q`` (min(d, n_labeled + budget), d), float64: orthonormal basis of the
    labeled span and the chosen rows, ``k`` rows in use, the first ``applied``
    of them folded into the pool's bounds. ``spent``: cost of trials since the
    last refresh; ``stats``: the pool's counters.
    """

    def __init__(self, pool, labeled, budget):
        self.pool = pool
        self.n, self.d = pool.n, pool.d
        Q0 = orthonormal_basis(pool.rows(labeled)) if len(labeled) else np.empty((0, pool.d))
        self.Q = np.empty((min(self.d, Q0.shape[0] + budget), self.d))
        self.Q[: Q0.shape[0]] = Q0
        self.k = Q0.shape[0]
        self.applied = 0
        self.sqn_rel = pool.sqn_rel
        self.spent = 0.0
        self.stats = pool.stats

    def refresh_cost(self) -> float:
        """Cost of one refresh: a pass with the basis vectors added since the last one."""
        return self.pool.pass_cost(self.k - self.applied)

    def trial_cost(self, m: int) -> float:
        """Cost of a batch of ``m`` trials: their residuals against the k basis vectors, and overheads."""
        return m * (2.0 * self.d * self.k + 16.0 * self.d + self.pool.row_overhead) + self.pool.batch_overhead

    def refresh(self, check_suspects: bool):
        """Fold the basis vectors added since the last refresh into every row's bound."""
        Qnew = self.Q[self.applied : self.k]  # all of the basis at the first refresh
        first = self.stats["refreshes"] == 0
        self.applied = self.k
        self.sqn_rel = 2.0 * self.d * _EPS64  # the pass takes the norms in float64
        self.pool.refresh(
            Qnew, self.Q[: self.k], bound_slack(self.sqn_rel, self.d, self.applied), check_suspects, first
        )
        self.stats["refreshes"] += 1
        self.spent = 0.0

    def restart(self, chosen) -> bool:
        """Forget the basis: a new round of Alg. 1 on the free rows. False when none is non-zero."""
        self.k = self.applied = 0
        self.spent = 0.0
        return self.pool.restart(chosen, bound_slack(self.sqn_rel, self.d, 0))

    def take(self, i, w, r, chosen, scores):
        """Pick row ``i`` (weight ``w``, residual ``r``): extend the basis; returns the new vector."""
        Q = self.Q[: self.k]
        q = r - Q.T @ (Q @ r)  # once more: rounding makes r drift out of the complement
        q /= np.linalg.norm(q)
        self.Q[self.k] = q
        self.k += 1
        chosen.append(int(i))
        scores.append(float(w))
        self.pool.take(int(i))
        return q


def _checked_total(pool) -> float:
    total = pool.total()
    if not np.isfinite(total):
        raise SamplerInvariantError(
            f"the residual bounds sum to {total}; the features' squared norms overflow "
            "(inputs are rescaled before this point, so this is a bug: please report it)."
        )
    return total


class RejectionSampler:
    """Randomized picks (Alg. 1's law) by rejection against the pool's bounds.

    The proposal is rebuilt only after a refresh: proposals and acceptance
    tests must use the same bounds. ``accepted_since``/``trials_since`` (since
    the proposal was built) size the next batch; ``behind`` says the last
    batch's acceptance predicts that a refresh pays off.
    """

    def __init__(self, basis: ResidualBasis, rng):
        self.b, self.rng = basis, rng
        self.total = 0.0
        self.accepted_since = 0
        self.trials_since = 0
        self.behind = False

    def run(self, budget):
        """Up to ``budget`` picks, fewer when the residuals are spent; returns (chosen, scores)."""
        b = self.b
        chosen, scores = [], []
        self._propose()
        fresh = False  # bounds refreshed with nothing drawn since
        idle = 0  # refreshes since the last pick
        idle_trials = 0  # trials since the last pick
        while len(chosen) < budget and b.k < b.d:
            if self.total <= 0.0 or (not fresh and (b.spent > b.refresh_cost() or self.behind)):
                if fresh:
                    break  # certified: no live row left
                idle += 1
                if idle > MAX_IDLE_REFRESHES and idle_trials > MAX_IDLE_TRIALS:
                    raise SamplerInvariantError(
                        f"{MAX_IDLE_REFRESHES} refreshes of the bounds without a pick (bound mass "
                        f"{self.total:.3g}); the sampler is not progressing: please report this bug."
                    )
                b.refresh(check_suspects=True)
                self._propose()
                fresh = True
                continue
            fresh = False
            trials = b.stats["trials"]
            if self._batch(budget, chosen, scores):
                idle = idle_trials = 0
            else:
                idle_trials += b.stats["trials"] - trials
            b.pool.after_batch()
        return chosen, scores

    def _propose(self):
        self.total = _checked_total(self.b.pool)
        self.accepted_since = 0
        self.trials_since = 0

    def _batch(self, budget, chosen, scores):
        """Propose a batch of candidates and test them in order; returns how many were picked."""
        b, pool = self.b, self.b.pool
        acc = (self.accepted_since + 1.0) / (self.trials_since + 1.0)
        m = int(np.clip(np.ceil((budget - len(chosen)) / acc), MIN_BATCH, MAX_BATCH))
        batch = pool.propose(m, self.rng)
        u = self.rng.random(m)
        R = pool.residuals(batch, b.Q[: b.k])
        w = pool.weights(batch, R)
        n_acc = self._accept_in_order(batch, u, R, w, budget, chosen, scores)
        b.stats["trials"] += m
        b.spent += b.trial_cost(m)
        self.behind = self._refresh_pays_off(min(budget - len(chosen), b.d - b.k), n_acc, m)
        return n_acc

    def _accept_in_order(self, batch, u, R, w, budget, chosen, scores):
        """Accept trial t when ``u_t bound_t < w_t``; each sees the basis as it is at its turn."""
        b, cand, bound = self.b, batch.rows, batch.bound
        m = len(cand)
        t = n_acc = 0
        while t < m:
            ok = u[t:] * bound[t:] < w[t:]
            over = w[t:] > bound[t:]
            if over.any():
                j = int(cand[t + np.argmax(over)])
                raise SamplerInvariantError(
                    f"row {j}'s residual exceeds its bound; drawing on would bias Alg. 1's law "
                    "(a rounding bug: please report it)."
                )
            hit = np.flatnonzero(ok)
            if hit.size == 0:
                self.trials_since += m - t
                break
            a = t + int(hit[0])
            self.trials_since += a - t + 1
            self.accepted_since += 1
            n_acc += 1
            q = b.take(cand[a], w[a], R[a], chosen, scores)
            t = a + 1
            if len(chosen) == budget or b.k >= b.d:
                break
            # the later trials of the batch: project the new vector out of their residuals
            R[t:] -= np.outer(R[t:] @ q, q)
            w[t:] = b.pool.weights(batch, R[t:], start=t)
        return n_acc

    def _refresh_pays_off(self, remaining, n_acc, m):
        # Refresh early when the remaining picks, at this batch's acceptance
        # rate, would cost more than a refresh and twice their number of trials.
        rate = (n_acc + 1.0) / (m + 1.0)
        per = self.b.trial_cost(1) - self.b.pool.batch_overhead
        return remaining * per / rate > self.b.refresh_cost() + 2.0 * remaining * per


class LazyArgmax:
    """Deterministic GS with pivoting: the exact largest weight, lazily (in-memory pools).

    Live rows are visited in decreasing order of their bound (``order`` with
    bounds ``order_ub``, the next unvisited at ``pos``). A row's weight, once
    evaluated, bounds it ever after: ``e_idx``, ``e_val`` and ``e_k`` (the basis
    size then; the weight is exact while ``e_k == k``) hold the evaluated rows.
    The search stops when neither an unvisited bound nor a stale weight can
    beat the best exact one. The pool must expose ``live``, ``bounds(rows)``,
    ``exact_weights(rows, R)``, ``kernels`` and ``X``
    (:class:`~subsel_plugins.backends.ArrayPool`).
    """

    def __init__(self, basis: ResidualBasis):
        self.b = basis
        self.pool = basis.pool
        self.order = np.empty(0, dtype=np.int64)
        self.order_ub = np.empty(0)
        self.pos = 0
        self.e_idx = np.empty(0, dtype=np.int64)
        self.e_val = np.empty(0)
        self.e_k = np.empty(0, dtype=np.int64)
        self._reorder()

    def run(self, budget):
        """Up to ``budget`` picks, fewer when the residuals are spent; returns (chosen, scores)."""
        b = self.b
        chosen, scores = [], []
        while len(chosen) < budget and b.k < b.d:
            best = self._argmax()
            if best is None:
                break
            b.take(*best, chosen, scores)
            if b.spent > b.refresh_cost():
                b.refresh(check_suspects=False)
                self._reorder()
        return chosen, scores

    def _reorder(self):
        """Sort the live rows by their current bounds; forget the evaluated rows."""
        rows = np.flatnonzero(self.pool.live)
        ub = self.pool.bounds(rows)
        self.order = rows[np.argsort(-ub, kind="stable")]
        self.order_ub = self.pool.bounds(self.order)
        self.pos = 0
        self.e_idx = np.empty(0, dtype=np.int64)
        self.e_val = np.empty(0)
        self.e_k = np.empty(0, dtype=np.int64)

    def _residuals(self, rows):
        return self.pool.kernels.residuals(self.pool.X[rows], self.b.Q[: self.b.k])

    def _evaluate(self, rows):
        self.b.stats["exact_rows"] += len(rows)
        w = self.pool.exact_weights(rows, self._residuals(rows))
        self.b.spent += self.b.trial_cost(len(rows)) + EVAL_OVERHEAD * len(rows)
        keep = self.pool.live[rows]
        return rows[keep], w[keep]

    def _prune(self):
        """Drop evaluated rows that died; skip unvisited ones that did."""
        live = self.pool.live
        keep = live[self.e_idx]
        self.e_idx, self.e_val, self.e_k = self.e_idx[keep], self.e_val[keep], self.e_k[keep]
        while self.pos < self.order.size and not live[self.order[self.pos]]:
            self.pos += 1

    def _argmax(self):
        """Exact (index, weight, residual) of the largest live weight; ties to the smaller index."""
        b = self.b
        batch = 32
        while True:
            self._prune()
            nb = self.order_ub[self.pos] if self.pos < self.order.size else -np.inf
            fresh = self.e_k == b.k
            best = self.e_val[fresh].max() if fresh.any() else -np.inf
            stale = ~fresh
            top_stale = self.e_val[stale].max() if stale.any() else -np.inf
            if b.spent > b.refresh_cost() and b.applied < b.k:
                # stale bounds make the search long: refresh them, then start over
                b.refresh(check_suspects=False)
                self._reorder()
                batch = 32
                continue
            if top_stale >= max(best, nb) and top_stale > -np.inf:
                redo = np.flatnonzero(stale & (self.e_val >= max(best, nb)))
                redo = redo[np.argsort(-self.e_val[redo], kind="stable")[:batch]]  # the largest first
                batch = min(2 * batch, 4096)
                rows, w = self._evaluate(self.e_idx[redo])
                keep = np.ones(self.e_idx.size, dtype=bool)
                keep[redo] = False
                self._append(rows, w, keep)
            elif nb >= best and nb > -np.inf:
                rows = self.order[self.pos : self.pos + batch]
                self.pos += rows.size
                batch = min(2 * batch, 4096)
                rows, w = self._evaluate(rows)
                self._append(rows, w, np.ones(self.e_idx.size, dtype=bool))
            elif best > -np.inf:
                top = np.flatnonzero(fresh & (self.e_val == best))
                j = top[np.argmin(self.e_idx[top])]
                i = int(self.e_idx[j])
                # its residual again (one row, O(d k)) rather than keep every evaluated one
                return i, float(self.e_val[j]), self._residuals([i])[0]
            else:
                return None

    def _append(self, rows, w, keep):
        self.e_idx = np.concatenate([self.e_idx[keep], rows])
        self.e_val = np.concatenate([self.e_val[keep], w])
        self.e_k = np.concatenate([self.e_k[keep], np.full(rows.size, self.b.k)])


def select_rounds(pool, budget, labeled, rng, *, randomized=True, exhausted="restart", stacklevel=4):
    """Gram-Schmidt picks over ``pool``: ``(chosen, scores, restarts)``.

    One round of Alg. 1 from the labeled span, then (``exhausted="restart"``)
    further rounds from an empty basis over the free rows while the budget is
    not spent and a round still picks. What is missing after that (past the
    rank with ``exhausted="norm"``, or only zero rows left) is filled by the
    pool's norm sampling with a ``RuntimeWarning`` and score 0.
    """
    basis = ResidualBasis(pool, labeled, budget)
    chosen, scores = [], []
    restarts = 0
    while True:  # one round of Alg. 1 per pass (exhausted="restart")
        sampler = RejectionSampler(basis, rng) if randomized else LazyArgmax(basis)
        picked, picked_scores = sampler.run(budget - len(chosen))
        chosen += picked
        scores += picked_scores
        if len(chosen) == budget or exhausted == "norm":
            break
        if (restarts and not picked) or not basis.restart(chosen):
            break  # only zero rows are left
        restarts += 1
    if len(chosen) < budget:
        missing = budget - len(chosen)
        exhausted_warning(exhausted, len(chosen), missing, pool.norm, restarts, stacklevel=stacklevel + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            chosen.extend(np.asarray(pool.norm_fill(missing, chosen, rng)).tolist())
        scores.extend([0.0] * missing)
    return chosen, scores, restarts


def exhausted_warning(exhausted, n_chosen, missing, norm, restarts, stacklevel):
    """Warn that the budget is filled by norm sampling past the rank (``stacklevel``: the caller's)."""
    if exhausted == "norm":
        message = (
            f"GramSchmidtQuery: the residuals vanished after {n_chosen} picks (the "
            f"features span no more directions: duplicate, zero or low-rank rows); the "
            f"other {missing} picks were drawn by {norm} feature-norm sampling "
            "among the unchosen rows."
        )
    else:
        message = (
            f"GramSchmidtQuery: only zero rows were left after {n_chosen} picks "
            f"({restarts} restarts); the other {missing} picks were drawn uniformly among them."
        )
    warnings.warn(message, RuntimeWarning, stacklevel=stacklevel + 1)
