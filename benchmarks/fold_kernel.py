"""k-center greedy's one-center fold: computed directly against screened by a matrix-vector product.

    python benchmarks/fold_kernel.py [--out benchmarks/results/fold_kernel]

One run, one thread (a Dask worker's share here). For N rows of d = 384
(standard normal, float32: the law of ``benchmarks/distributed.py``'s shards,
where no row is near another, the screen's hardest case short of rows far from
the origin) the pool first folds ``centers`` picks of farthest-first traversal;
then one more center is folded both ways into copies of the same distances:

- ``direct``: every row's difference to the center squared in float64
  (:func:`subsel_plugins.kernels.fold_min_sq_distances` without the rows'
  squared norms, the kernel before);
- ``screened``: one float32 matrix-vector product gives every row's distance
  within a rigorous bound; only the rows that may get nearer are computed
  directly (with the squared norms).

Both give the same bits (checked here on every shape, and by the tests);
the table gives the milliseconds per fold (best of ``--repeat``), their ratio,
and the share of rows the screen computed directly. Also: the same fold
with the rows far from the origin (``+ 100`` on every feature), where the
float32 product cancels and the screen must compute almost every row.

Writes ``fold_kernel.json`` (every number) and ``fold_kernel.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from subsel_plugins import kernels  # noqa: E402

SHAPES = [  # (rows, centers folded before, offset of every feature)
    (200_000, 1, 0.0),
    (200_000, 10, 0.0),
    (200_000, 100, 0.0),
    (200_000, 10, 100.0),
]


def _best(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def one(n, centers, offset, d, repeat, seed):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) + offset).astype(np.float32)
    sq = kernels.sq_row_norms64(X)
    mind = np.full(n, np.inf)
    i = int(rng.integers(n))
    for _ in range(centers):  # farthest-first: the state a real traversal reaches
        mind[i] = -np.inf
        kernels.fold_min_sq_distances(mind, X, X[i][None], sq)
        i = int(np.argmax(mind))
    c = X[i][None]
    calls = []
    real = kernels._fold_one_direct

    def counting(m, b, cc):
        calls.append(len(m))
        real(m, b, cc)

    out = {}
    for name, sq_arg in (("direct", None), ("screened", sq)):
        got = mind.copy()
        kernels.fold_min_sq_distances(got, X, c, sq_arg)
        out[name] = got
    assert np.array_equal(out["direct"], out["screened"]), "the screened fold changed a distance"
    kernels._fold_one_direct = counting
    try:
        kernels.fold_min_sq_distances(mind.copy(), X, c, sq)
    finally:
        kernels._fold_one_direct = real
    t_direct = _best(lambda: kernels.fold_min_sq_distances(mind.copy(), X, c, None), repeat)
    t_screen = _best(lambda: kernels.fold_min_sq_distances(mind.copy(), X, c, sq), repeat)
    return {
        "n": n,
        "d": d,
        "centers_before": centers,
        "offset": offset,
        "direct_ms": 1e3 * t_direct,
        "screened_ms": 1e3 * t_screen,
        "speedup": t_direct / t_screen,
        "computed_directly": sum(calls) / n,
        "same_bits": True,
    }


def table(rows) -> str:
    lines = [
        "| rows | centers before | features | direct (ms) | screened (ms) | speedup "
        "| rows computed directly |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        where = "standard normal" if r["offset"] == 0 else f"standard normal + {r['offset']:g}"
        lines.append(
            f"| {r['n']:,} | {r['centers_before']} | {where} | {r['direct_ms']:.1f} | "
            f"{r['screened_ms']:.1f} | {r['speedup']:.2f}x | {100 * r['computed_directly']:.2f}% |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/fold_kernel.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/fold_kernel"))
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.d < 1 or args.repeat < 1:
        p.error("--d and --repeat must be positive integers")
    rows = [one(n, c, off, args.d, args.repeat, args.seed) for n, c, off in SHAPES]
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": "python benchmarks/fold_kernel.py",
        "machine": platform.processor() or platform.machine(),
    }
    (args.out / "fold_kernel.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    md = table(rows)
    (args.out / "fold_kernel.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
