"""Speed benchmark: plain vs fast Gram-Schmidt, and the baselines, at up to ImageNet scale.

Run ``tox -e bench-speed`` (or ``python benchmarks/speed.py``). Features are
generated once into ``.npy`` files under ``--data-dir`` and memory-mapped
read-only, as cached real features would be. Two kinds:

- ``realistic``: low effective rank (power-law spectrum on 64 directions plus
  5% isotropic noise) and heavy-tailed (log-normal) row norms;
- ``isotropic``: standard normal rows.

Every Gram-Schmidt case times the fast path in full. The plain path (Alg. 1 on
an N x d float64 residual matrix) is timed in full where it is cheap; elsewhere
it is timed with 1 and 1 + ``--plain-picks`` picks and its time for the
full budget is extrapolated linearly (its cost per pick is constant; picks past
the rank d are the cheap norm-sampling fill), which the table says. The memory
map is paged in before each timing, so no timing pays for the disk. Peak memory is the
peak of numpy/Python allocations (tracemalloc) during the call: the extra
memory on top of the memory-mapped features.

Writes ``speed.csv`` and ``speed.md`` into ``--out`` (default bench-results/speed).
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from subsel_plugins import FeatureNormQuery, GramSchmidtQuery, ProbCoverQuery, TypiClustQuery

FULL_GRID = {"n": [10_000, 100_000, 1_280_000], "d": [384, 512], "s": [60, 1000]}
QUICK_GRID = {"n": [10_000, 100_000], "d": [384], "s": [60, 1000]}
KINDS = ("realistic", "isotropic")
GEN_BLOCK = 65_536


def make_features(path: Path, kind: str, n: int, d: int, seed: int = 0) -> np.ndarray:
    """Write (once) and memory-map an (n, d) float32 feature file."""
    if not path.exists():
        rng = np.random.default_rng(seed)
        tmp = path.with_suffix(".partial.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
        if kind == "realistic":
            r = min(64, d)
            W = np.linalg.qr(rng.normal(size=(d, r)))[0].T * (1.0 / np.arange(1, r + 1))[:, None]
        for s in range(0, n, GEN_BLOCK):
            b = min(GEN_BLOCK, n - s)
            if kind == "isotropic":
                out[s : s + b] = rng.standard_normal((b, d), dtype=np.float32)
                continue
            block = rng.standard_normal((b, r)) @ W
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            block += 0.05 / np.sqrt(d) * rng.standard_normal((b, d))
            block *= rng.lognormal(sigma=1.0, size=(b, 1))
            out[s : s + b] = block
        out.flush()
        del out
        os.replace(tmp, path)
    return np.load(path, mmap_mode="r")


def measure(fn):
    """(seconds, peak extra bytes, result) of one call."""
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # exhaustion fill at s > rank
            result = fn()
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return elapsed, peak, result


def page_in(X):
    """Read every page of a memory map, so that no timing below pays for the disk."""
    for s in range(0, X.shape[0], GEN_BLOCK):
        np.add.reduce(X[s : s + GEN_BLOCK], axis=None)


def plain_model(X, plain_picks: int):
    """Plain path: (seconds for 1 pick, seconds per further pick, peak bytes).

    From two runs, of 1 and of ``1 + plain_picks`` picks, each on a paged-in
    memory map: the difference is the cost of the picks alone.
    """
    page_in(X)
    t1, _, _ = measure(lambda: GramSchmidtQuery(method="plain", random_state=0).select(X, 1))
    page_in(X)
    tp, peak, _ = measure(lambda: GramSchmidtQuery(method="plain", random_state=0).select(X, 1 + plain_picks))
    return t1, max(tp - t1, 0.0) / plain_picks, peak


def plain_time(X, s: int, model):
    """Plain path's time for budget s, extrapolated: its work per pick is constant, and
    picks past the rank (at most d) are the norm-sampling fill, one cheap pass."""
    t1, per_pick, _ = model
    return t1 + per_pick * (min(s, X.shape[1]) - 1)


def gs_cases(args, grid, rows):
    for kind in args.kinds:
        for n in grid["n"]:
            for d in grid["d"]:
                X = make_features(Path(args.data_dir) / f"{kind}_{n}_{d}.npy", kind, n, d)
                model = None
                for s in grid["s"]:
                    fast = GramSchmidtQuery(method="fast", random_state=0)
                    page_in(X)
                    tf, pf, _ = measure(lambda X=X, s=s, fast=fast: fast.select(X, s))
                    row = dict(
                        case="gram_schmidt",
                        kind=kind,
                        n=n,
                        d=d,
                        s=s,
                        fast_s=round(tf, 3),
                        fast_peak_mb=round(pf / 2**20, 1),
                        features_mb=round(X.nbytes / 2**20, 1),
                        fast_mem_pct=round(100 * pf / X.nbytes, 2),
                    )
                    if not args.no_plain:
                        if n <= args.plain_full_max_n:
                            tp, pp, _ = measure(
                                lambda X=X, s=s: GramSchmidtQuery(method="plain", random_state=0).select(X, s)
                            )
                            how = "measured"
                        else:
                            model = model or plain_model(X, args.plain_picks)
                            tp, pp = plain_time(X, s, model), model[2]
                            how = (
                                f"extrapolated: {model[0]:.1f} s for 1 pick + {model[1]:.2f} s "
                                f"x (min(s, d) - 1) (from 1 and {1 + args.plain_picks} picks)"
                            )
                        row.update(
                            plain_s=round(tp, 2),
                            plain_how=how,
                            plain_peak_mb=round(pp / 2**20, 1),
                            speedup=round(tp / tf, 1),
                        )
                    rows.append(row)
                    print(_fmt(row), flush=True)
                del X


def baseline_cases(args, grid, rows):
    """FeatureNorm at the grid's largest N; TypiClust and ProbCover at their own N.

    ProbCover's exact ball graph and purity search are O(N^2 d) (as the
    official code, which runs them on a GPU), so its default N is smaller.
    """
    sizes = {
        "feature_norm": max(grid["n"]),
        "typiclust": args.typiclust_n or (10_000 if args.quick else 100_000),
        "probcover": args.probcover_n or (10_000 if args.quick else 20_000),
    }
    makers = {
        "feature_norm": lambda: FeatureNormQuery(random_state=0),
        "typiclust": lambda: TypiClustQuery(random_state=0),
        "probcover": lambda: ProbCoverQuery(random_state=0),
    }
    d, s = 384, args.baseline_s
    for name in args.baselines:
        n = sizes[name]
        X = make_features(Path(args.data_dir) / f"realistic_{n}_{d}.npy", "realistic", n, d)
        page_in(X)
        t, peak, _ = measure(lambda name=name, X=X: makers[name]().select(X, s))
        row = dict(
            case=name,
            kind="realistic",
            n=n,
            d=d,
            s=s,
            fast_s=round(t, 3),
            fast_peak_mb=round(peak / 2**20, 1),
            features_mb=round(X.nbytes / 2**20, 1),
            fast_mem_pct=round(100 * peak / X.nbytes, 2),
        )
        rows.append(row)
        print(_fmt(row), flush=True)


def _fmt(row):
    return ", ".join(f"{k}={v}" for k, v in row.items())


COLUMNS = [
    ("case", "case"),
    ("kind", "features"),
    ("n", "N"),
    ("d", "d"),
    ("s", "s"),
    ("fast_s", "time (s)"),
    ("fast_peak_mb", "peak extra (MB)"),
    ("fast_mem_pct", "extra / features (%)"),
    ("plain_s", "plain time (s)"),
    ("speedup", "speed-up"),
    ("plain_peak_mb", "plain peak (MB)"),
    ("plain_how", "plain timing"),
]


def write_tables(rows, out: Path, header: str):
    out.mkdir(parents=True, exist_ok=True)
    keys = [k for k, _ in COLUMNS]
    with open(out / "speed.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    lines = [header, "", "| " + " | ".join(t for _, t in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    (out / "speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N in {10k, 100k}, d=384 only: a table in minutes")
    p.add_argument("--out", default="bench-results/speed")
    p.add_argument("--data-dir", default="/tmp/subsel-bench")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--n", nargs="+", type=int, help="override the grid's N")
    p.add_argument("--d", nargs="+", type=int, help="override the grid's d")
    p.add_argument("--s", nargs="+", type=int, help="override the grid's budgets")
    p.add_argument("--plain-picks", type=int, default=5, help="picks timed where plain is extrapolated")
    p.add_argument("--plain-full-max-n", type=int, default=10_000, help="largest N where plain runs in full")
    p.add_argument("--no-plain", action="store_true")
    p.add_argument("--baselines", nargs="*", default=["feature_norm", "typiclust", "probcover"])
    p.add_argument("--typiclust-n", type=int, help="TypiClust's N (default 100k; 10k with --quick)")
    p.add_argument("--probcover-n", type=int, help="ProbCover's N (default 20k; 10k with --quick)")
    p.add_argument("--baseline-s", type=int, default=100)
    args = p.parse_args(argv)
    grid = dict(QUICK_GRID if args.quick else FULL_GRID)
    for key in ("n", "d", "s"):
        if getattr(args, key):
            grid[key] = getattr(args, key)
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    rows = []
    gs_cases(args, grid, rows)
    if args.baselines:
        baseline_cases(args, grid, rows)
    from threadpoolctl import threadpool_info

    threads = ",".join(str(i["num_threads"]) for i in threadpool_info())
    header = (
        f"Speed benchmark (`python benchmarks/speed.py {' '.join(argv or sys.argv[1:])}`), "
        f"{os.cpu_count()} CPUs, BLAS threads {threads}, numpy {np.__version__}."
    )
    write_tables(rows, Path(args.out), header)


if __name__ == "__main__":
    main()
