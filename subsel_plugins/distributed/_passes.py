"""One-pass operations over a :class:`RowSource`: validation, norm races, top-k, row gathers.

The functions whose names start with ``_task_`` run on the workers; the
others build their tasks on the client and combine small results.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import InvalidValueError
from ..kernels import row_norms
from ._client import nbytes
from ._sources import block_len, iter_pieces

#: Rows per piece of a pass (checked and measured while in cache).
_SCAN_ROWS = 2048

#: Chunk results merged per reduction task (a tree: the client receives one top-k).
MERGE_FANOUT = 8


def split_by_chunk(source, rows: np.ndarray) -> list[np.ndarray]:
    """Sorted global ``rows`` cut into the local indices of each chunk (one array per chunk)."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    cuts = np.searchsorted(rows, source.starts)
    return [rows[cuts[c] : cuts[c + 1]] - source.starts[c] for c in range(source.n_chunks)]


def gather_rows(source, rows, traffic=None, phase="gather") -> np.ndarray:
    """Rows ``rows`` (global indices, any order, repeats allowed) on the client, in that order."""
    import dask

    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((rows.size, source.d), dtype=source.dtype)
    if rows.size == 0:
        return out
    uniq, inverse = np.unique(rows, return_inverse=True)
    chunk = source.chunk_of(uniq)
    tasks, where = [], []
    for c in np.unique(chunk):
        sel = np.flatnonzero(chunk == c)
        tasks.append(source.rows_task(int(c), uniq[sel] - source.starts[c]))
        where.append(sel)
    parts = dask.compute(*tasks)
    got = np.empty((uniq.size, source.d), dtype=source.dtype)
    for sel, part in zip(where, parts):
        got[sel] = part
    if traffic is not None:
        traffic.add(phase, to_client=got.nbytes, to_workers=uniq.nbytes, tasks=len(tasks))
    out[:] = got[inverse.reshape(-1)]
    return out


def _empty_keys():
    return {"t": np.empty(0), "z": np.empty(0), "idx": np.empty(0, np.int64), "norm": np.empty(0)}


def _add_scaled(acc, acc_e, part, part_e):
    """``acc * 2**acc_e + part * 2**part_e`` as ``(sum, exponent)``, kept at the larger exponent.

    Column sums are carried with an exponent of their own, so summing rows
    near the float maximum cannot overflow and rows near zero lose nothing to
    subnormals. ``acc`` None: nothing summed yet.
    """
    if acc is None:
        return part, part_e
    if part_e > acc_e:
        return np.ldexp(acc, acc_e - part_e) + part, part_e
    return acc + np.ldexp(part, part_e - acc_e), acc_e


def _task_scan(block, start, excluded, mode, k, norm, seed, c, sums=False):
    """Finite check and ``max |X|`` of one chunk, and its ``k`` best race keys (``mode``).

    ``mode`` None: validation only. ``"race"``: exponential race of the rows'
    ``norm`` (key ``E / w`` with ``E ~ Exp(1)`` from the stream
    ``default_rng([*seed, c])``; zero-weight rows get key inf and a uniform
    tie-breaker ``z``). ``"top"``: key ``-w`` (the largest norms first, ties
    to the lowest index). Rows in ``excluded`` (local indices) take no part.
    ``sums``: also the float64 column sums of the chunk, as ``sum * 2**sum_e``
    (each piece scaled by a power of two of its own magnitude: exact, no overflow).
    """
    n = block_len(block)
    out = {"max_abs": 0.0, "bad": -1, "n_pos": 0, **_empty_keys()}
    if sums:
        out.update(sum=None, sum_e=0)
    w = np.empty(n)
    hi, lo = -np.inf, np.inf
    for s, b in iter_pieces(block, _SCAN_ROWS):  # each piece checked and measured while in cache
        bh, bl = float(b.max()), float(b.min())
        if not (np.isfinite(bh) and np.isfinite(bl)):
            out["bad"] = int(start + s + np.argwhere(~np.isfinite(b))[0, 0])
            return out
        hi, lo = max(hi, bh), min(lo, bl)
        if sums and max(bh, -bl) > 0:
            pe = int(np.frexp(max(bh, -bl))[1])
            part = np.ldexp(b, -pe, dtype=np.float64).sum(axis=0)
            out["sum"], out["sum_e"] = _add_scaled(out["sum"], out["sum_e"], part, pe)
        if mode is not None:
            w[s : s + len(b)] = row_norms(b, norm)
    out["max_abs"] = max(hi, -lo, 0.0)
    if mode is None:
        return out
    avail = np.ones(n, dtype=bool)
    avail[excluded] = False
    pos = np.flatnonzero(avail)
    if mode == "race":
        rng = np.random.default_rng([int(seed[0]), int(seed[1]), int(c)])
        E = rng.standard_exponential(n)
        Z = rng.random(n)
        with np.errstate(divide="ignore"):
            t = E / w
        z = np.where(w > 0, 0.0, Z)
    else:
        t, z = -w, np.zeros(n)
    t, z, w = t[pos], z[pos], w[pos]
    out["n_pos"] = int(np.count_nonzero(w > 0))
    keep = _best(t, z, pos, k)
    out.update(t=t[keep], z=z[keep], idx=pos[keep] + start, norm=w[keep])
    return out


def _best(t, z, idx, k):
    """Positions of the ``k`` smallest keys ``(t, z, idx)``, in key order."""
    if k < t.size:
        kth = np.partition(t, k - 1)[k - 1]
        cand = np.flatnonzero(t <= kth)  # every tie of the k-th key: the tie-breakers decide
    else:
        cand = np.arange(t.size)
    order = np.lexsort((idx[cand], z[cand], t[cand]))
    return cand[order[:k]]


def _task_merge(parts, k):
    """Merge chunk results: the ``k`` best keys, ``max |X|``, the first bad row, positive counts."""
    out = {
        "max_abs": max(p["max_abs"] for p in parts),
        "bad": min((p["bad"] for p in parts if p["bad"] >= 0), default=-1),
        "n_pos": sum(p["n_pos"] for p in parts),
    }
    cat = {key: np.concatenate([p[key] for p in parts]) for key in ("t", "z", "idx", "norm")}
    keep = _best(cat["t"], cat["z"], cat["idx"], k) if cat["t"].size else np.empty(0, np.int64)
    out.update({key: v[keep] for key, v in cat.items()})
    if "sum_e" in parts[0]:
        acc, acc_e = None, 0
        for p in parts:
            if p["sum"] is not None:
                acc, acc_e = _add_scaled(acc, acc_e, p["sum"], p["sum_e"])
        out.update(sum=acc, sum_e=acc_e)
    return out


def scan(
    source, *, mode=None, k=0, norm="l2", seed=(0, 0), excluded=(), traffic=None, phase="scan", sums=False
):
    """One pass: validation (and a race or top-k of norms); returns the merged result dict.

    ``sums``: also the column sums, as ``res["sum"] * 2**res["sum_e"]`` (``sum`` None for all-zero rows).
    """
    import dask
    from dask import delayed

    excl = split_by_chunk(source, np.asarray(excluded, dtype=np.int64))
    seed = np.asarray(seed, dtype=np.uint64)
    parts = [
        delayed(_task_scan, pure=True)(
            source.block_task(c), int(source.starts[c]), excl[c], mode, k, norm, seed, c, sums
        )
        for c in range(source.n_chunks)
    ]
    while len(parts) > 1:
        parts = [
            delayed(_task_merge, pure=True)(parts[i : i + MERGE_FANOUT], k)
            for i in range(0, len(parts), MERGE_FANOUT)
        ]
    (res,) = dask.compute(parts[0])
    if len(source.starts) == 2:  # a single chunk: no merge ran
        res = _task_merge([res], k)
    if traffic is not None:
        traffic.add(phase, to_client=nbytes(res), to_workers=sum(e.nbytes for e in excl), tasks=len(excl))
    return res


def raise_if_bad(res, name="X"):
    if res["bad"] >= 0:
        raise InvalidValueError(
            f"{name} contains NaN or infinity (first at row {res['bad']}); expected finite features."
        )


def centered_source(source, traffic=None):
    """``source`` minus its mean row, and the exponent ``e`` it was rescaled by first: one pass.

    As on one machine (the base class rescales, then ``Centered``): the pass
    validates the rows (NaN or infinity: an error naming the first bad global
    row), measures ``max |X|`` and sums the columns in float64; features of
    extreme magnitude are rescaled by ``2**-e``, and the rows are centred by
    the float64 mean of the rescaled rows as the workers read them.
    """
    from .._validation import rescale_exponent

    res = scan(source, sums=True, traffic=traffic, phase="center")
    raise_if_bad(res)
    e = rescale_exponent(res["max_abs"])
    total = np.zeros(source.d) if res["sum"] is None else np.ldexp(res["sum"], res["sum_e"] - e)
    return (source.scaled(e) if e else source).centered(total / source.n), e


def norm_select(source, budget, excluded, norm, randomized, rng, traffic=None, what=None):
    """``budget`` rows by norm sampling (exact: an exponential race) or the top norms, and their norms.

    Validates the source in the same pass (finite check; features of extreme
    magnitude are rescaled by a power of two and scanned again). Randomized:
    one 128-bit seed is drawn from ``rng``; chunk ``c`` races with the stream
    ``default_rng([seed, c])``, so the result does not depend on the
    scheduler, the number of workers or the order chunks finish in.
    """
    from .._validation import rescale_exponent, scale_scores_back

    mode = "race" if randomized else "top"
    seed = rng.integers(0, 2**63, size=2) if randomized else (0, 0)
    res = scan(
        source, mode=mode, k=budget, norm=norm, seed=seed, excluded=excluded, traffic=traffic, phase="norm"
    )
    raise_if_bad(res)
    e = rescale_exponent(res["max_abs"])
    if e:
        res = scan(
            source.scaled(e),
            mode=mode,
            k=budget,
            norm=norm,
            seed=seed,
            excluded=excluded,
            traffic=traffic,
            phase="norm",
        )
    if randomized and res["n_pos"] < budget:
        warnings.warn(
            f"only {res['n_pos']} rows have positive {what or norm + ' feature norm'}; the other "
            f"{budget - res['n_pos']} picks were drawn uniformly among zero-weight rows.",
            RuntimeWarning,
            stacklevel=4,
        )
    return res["idx"].astype(np.int64), scale_scores_back(res["norm"], e), e


class ValidatedPool:
    """What the Dask pools of one pass per pick share: a validation pass first, traffic, stats.

    :meth:`_start` scans the source once (NaN or infinity: an error naming
    the first bad global row), reads it rescaled by an exact power of two
    ``2**-e`` when its magnitude is extreme, and sets ``source``, ``n``,
    ``d``, ``e``, ``traffic`` and ``stats``.
    """

    def _start(self, source, **counters):
        import time

        import dask
        from dask import delayed

        from .._validation import rescale_exponent
        from ._client import Traffic

        self._dask, self._delayed = dask, delayed
        self.traffic = Traffic()
        self.stats = {"passes": 0, **counters}
        self._t0 = time.perf_counter()
        res = scan(source, traffic=self.traffic, phase="validate")
        raise_if_bad(res)
        self.stats["passes"] += 1
        self.e = rescale_exponent(res["max_abs"])
        self.source = source.scaled(self.e) if self.e else source
        self.n, self.d = source.n, source.d

    def finish_stats(self):
        """``stats`` as the strategy's ``stats_`` reports it: also ``traffic``, ``seconds``, ``chunks``."""
        import time

        self.stats["traffic"] = self.traffic.as_dict()
        self.stats["seconds"] = round(time.perf_counter() - self._t0, 3)
        self.stats["chunks"] = self.source.n_chunks
        return self.stats
