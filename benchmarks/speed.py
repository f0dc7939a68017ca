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
full budget is extrapolated linearly (its cost per pick is constant; past the
rank d each restart round starts as the first pick did), which the table says. The memory
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

from subsel_plugins import GramSchmidtQuery, get_strategy

# Gram-Schmidt cases (d, budgets) per N. Budgets stay within the rank (s <= d):
# past it Gram-Schmidt has no real picks left and fills with norm sampling, so a
# speed-up there measures the fill, not Gram-Schmidt. The one s > d case is
# kept, marked, as an earlier run measured it (d=384, s=1000; docs/guide/speed.md).
FULL_GRID = {
    10_000: [(384, (60, 380, 1000)), (1024, (60, 1000))],
    100_000: [(384, (60, 380, 1000)), (1024, (60, 1000))],
    # 1.28M x 1024 would need a 10 GB float64 residual matrix for the plain path
    300_000: [(1024, (60, 1000))],
    1_280_000: [(384, (60, 380, 1000))],
}
QUICK_GRID = {10_000: [(384, (60, 380))], 100_000: [(384, (60, 380))]}
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


#: The ImageNet stand-in: a mixture of this many clusters (classes), this many rows.
MIXTURE_CLASSES = 1000
MIXTURE_N = 1_280_000


def make_mixture(data_dir: Path, n: int, d: int, n_classes: int = MIXTURE_CLASSES, seed: int = 0):
    """Write (once) and memory-map an ImageNet stand-in: (features (n, d) float32, labels (n,)).

    Unit rows from a mixture of ``n_classes`` clusters (there is no ImageNet
    here): class sizes vary by up to 2x (ImageNet's 732-1300 per class); each
    row is its class centre (a random unit vector) plus noise of a per-class
    scale (0.6-1.2 times the centre's norm) drawn on a low-rank (64-direction,
    power-law) subspace plus 20% isotropic noise, then normalised to unit
    length. The first ``m`` rows of the ``n`` file are a uniform subset
    (rows are in random order), so smaller pools slice it.
    """
    path = data_dir / f"mixture{n_classes}_{n}_{d}_s{seed}.npy"
    lpath = path.with_name(path.stem + "_labels.npy")
    if not path.exists():
        rng = np.random.default_rng(seed)
        weights = rng.uniform(0.5, 1.0, n_classes)
        labels = rng.choice(n_classes, n, p=weights / weights.sum())
        centres = rng.standard_normal((n_classes, d))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        scale = rng.uniform(0.6, 1.2, n_classes)
        r = min(64, d)
        W = np.linalg.qr(rng.normal(size=(d, r)))[0].T * (1.0 / np.arange(1, r + 1) ** 0.5)[:, None]
        W /= np.sqrt((W**2).sum())
        tmp = path.with_suffix(".partial.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
        for s in range(0, n, GEN_BLOCK):
            lab = labels[s : s + GEN_BLOCK]
            b = lab.size
            noise = 0.8 * (rng.standard_normal((b, r), dtype=np.float32) @ W.astype(np.float32))
            noise += (0.2 / np.sqrt(d)) * rng.standard_normal((b, d), dtype=np.float32)
            block = centres[lab].astype(np.float32) + scale[lab, None].astype(np.float32) * noise
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            out[s : s + b] = block
        out.flush()
        del out
        np.save(lpath, labels)
        os.replace(tmp, path)
    return np.load(path, mmap_mode="r"), np.load(lpath)


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
    past the rank d the default ``exhausted="restart"`` runs Alg. 1 again from the
    rows (a round of at most d picks, each starting as the first pick did)."""
    t1, per_pick, _ = model
    rounds = -(-s // X.shape[1])
    return rounds * t1 + per_pick * (s - rounds)


def grid_cases(grid):
    """(n, d, budgets) in grid order."""
    for n, cases in grid.items():
        for d, budgets in cases:
            yield n, d, budgets


def gs_cases(args, grid, rows):
    for kind in args.kinds:
        for n, d, budgets in grid_cases(grid):
            X = make_features(Path(args.data_dir) / f"{kind}_{n}_{d}.npy", kind, n, d)
            model = None
            for s in budgets:
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
                    over_rank=f"yes: {s - d} picks in restart rounds" if s > min(n, d) else "",
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
                            f"x each further pick, per round of d (from 1 and {1 + args.plain_picks} picks)"
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


#: The other strategies at 1.28M: name -> budgets. ProbCover's time is its graph,
#: whatever the budget, so it runs at 1000 only; a "then" strategy costs its first
#: stage at 2b plus the second on 2b rows, so they run at b = 100 only.
BASELINES = {
    "random": (100, 1000),
    "feature_norm": (100, 1000),
    "typiclust": (100, 1000),
    "probcover": (1000,),
    "typiclust_then_norm": (100,),
    "typiclust_then_gs": (100,),
    "probcover_then_norm": (100,),
    "probcover_then_gs": (100,),
    "gram_schmidt_centered": (380,),
}
# Not here: typiclust_norm and typiclust_gs always run TypiClust's exact path
# (minutes per budget at 1.28M); time them with --baselines typiclust_norm.


def baseline_cases(args, grid, rows):
    """Every strategy but Gram-Schmidt (timed in the grid) on the ImageNet stand-in
    (:func:`make_mixture`), at ``--baseline-n`` rows (default 1.28M).

    ``BASELINES`` names the budgets of each, or ``--baseline-s`` sets them for the
    strategies named in ``--baselines``. TypiClust and ProbCover take their
    approximate path there (``approximate="auto"``, above 100k rows), ProbCover
    with ``n_classes=1000`` (the stand-in's class count, as the paper sets k).
    """
    n, d = args.baseline_n, 384
    X, _ = make_mixture(Path(args.data_dir), max(n, MIXTURE_N), d)
    X = X[:n]
    for name in args.baselines:
        params = {"n_classes": MIXTURE_CLASSES} if name.startswith("probcover") else {}
        for s in args.baseline_s or BASELINES.get(name, (100, 1000)):
            page_in(X)
            strategy = get_strategy(name, random_state=0, **params)
            t, peak, _ = measure(lambda strategy=strategy, s=s: strategy.select(X, s))
            row = dict(
                case=name + ("" if not params else f" (n_classes={MIXTURE_CLASSES})"),
                kind=f"mixture{MIXTURE_CLASSES}",
                n=n,
                d=d,
                s=s,
                fast_s=round(t, 3),
                fast_peak_mb=round(peak / 2**20, 1),
                features_mb=round(X.nbytes / 2**20, 1),
                fast_mem_pct=round(100 * peak / X.nbytes, 2),
                plain_how=_baseline_notes(strategy),
            )
            rows.append(row)
            print(_fmt(row), flush=True)


def _baseline_notes(strategy) -> str:
    """Which path ran, and ProbCover's radius and the purity of its graph."""
    strategy = getattr(strategy, "first_", strategy)  # a "then" strategy: its first stage
    notes = ["approximate path" if getattr(strategy, "approximate_", False) else "exact"]
    if getattr(strategy, "delta_", None) is not None:
        notes.append(f"delta {strategy.delta_:.4f}, purity {strategy.purity_:.3f}")
    return "; ".join(notes)


def _skactiveml_query(name: str, path: str, n: int, s: int, queue) -> None:
    """Child process: time scikit-activeml's strategy on the first n rows of the stand-in."""
    from skactiveml.pool import ProbCover, TypiClust
    from skactiveml.utils import MISSING_LABEL

    X = np.asarray(np.load(path, mmap_mode="r")[:n])
    y = np.full(n, MISSING_LABEL)
    strategy = {"typiclust": TypiClust, "probcover": ProbCover}[name](random_state=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        strategy.query(X, y, batch_size=s)
    queue.put(time.perf_counter() - t0)


def skactiveml_cases(args, rows):
    """scikit-activeml's TypiClust and ProbCover on growing N, each run time-boxed.

    What a user would pick instead. A ladder of N per strategy stops at the first
    run past ``--skactiveml-timeout`` seconds (killed; reported as '>'); ProbCover's
    ladder also stops where its dense N x N float64 distance matrix would pass 6 GB.
    """
    import multiprocessing as mp

    d = 384
    X, _ = make_mixture(Path(args.data_dir), MIXTURE_N, d)
    path = str(Path(X.filename))
    ladders = {
        "typiclust": [10_000, 20_000, 50_000, 100_000, 200_000, 400_000, 1_280_000],
        "probcover": [5_000, 10_000, 20_000],  # 8 N^2 bytes: 3.2 GB at 20k, 20 GB at 50k
    }
    ctx = mp.get_context("spawn")
    for name in args.skactiveml:
        for n in ladders[name]:
            queue = ctx.Queue()
            proc = ctx.Process(target=_skactiveml_query, args=(name, path, n, args.skactiveml_s, queue))
            proc.start()
            proc.join(args.skactiveml_timeout)
            timed_out = proc.is_alive()
            if timed_out:
                proc.terminate()
                proc.join()
            finished = not timed_out and proc.exitcode == 0 and not queue.empty()
            t = queue.get() if finished else None
            failed = f"failed (exit code {proc.exitcode})"
            stopped = f"> {args.skactiveml_timeout:g} (stopped)" if timed_out else failed
            row = dict(
                case=f"scikit-activeml {name}",
                kind=f"mixture{MIXTURE_CLASSES}",
                n=n,
                d=d,
                s=args.skactiveml_s,
                fast_s=round(t, 2) if finished else stopped,
                plain_how="scikit-activeml 1.0.1, default parameters",
            )
            rows.append(row)
            print(_fmt(row), flush=True)
            if not finished:
                break


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
    ("plain_how", "plain timing / notes"),
    ("over_rank", "s > rank"),
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
    p.add_argument(
        "--quick",
        action="store_true",
        help="Gram-Schmidt at N in {10k, 100k}, d=384 only, the other strategies at 20k: minutes",
    )
    p.add_argument("--out", default="bench-results/speed")
    p.add_argument("--data-dir", default="/work/bench-data", help="where generated features are cached")
    p.add_argument("--kinds", nargs="*", default=["realistic"], choices=KINDS, help="Gram-Schmidt features")
    p.add_argument("--n", nargs="+", type=int, help="only these N of the Gram-Schmidt grid")
    p.add_argument("--plain-picks", type=int, default=20, help="picks timed where plain is extrapolated")
    p.add_argument("--plain-full-max-n", type=int, default=10_000, help="largest N where plain runs in full")
    p.add_argument("--no-plain", action="store_true")
    p.add_argument("--baselines", nargs="*", default=list(BASELINES), help="strategies timed at --baseline-n")
    p.add_argument("--baseline-n", type=int, default=MIXTURE_N, help="the baselines' N (default 1.28M)")
    p.add_argument("--baseline-s", nargs="+", type=int, help="their budgets (default: BASELINES's)")
    p.add_argument("--skactiveml", nargs="*", default=["typiclust", "probcover"], help="its ladders")
    p.add_argument("--skactiveml-s", type=int, default=100)
    p.add_argument("--skactiveml-timeout", type=float, default=120.0, help="seconds per scikit-activeml run")
    args = p.parse_args(argv)
    for name in args.baselines:
        try:
            get_strategy(name)
        except Exception as exc:  # an unknown name: one line, exit 2
            p.error(f"--baselines: {exc}")
    grid = dict(QUICK_GRID if args.quick else FULL_GRID)
    if args.n:
        grid = {n: cases for n, cases in grid.items() if n in args.n}
    if args.quick:
        args.baseline_n = min(args.baseline_n, 20_000)
        args.skactiveml_timeout = min(args.skactiveml_timeout, 60.0)
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    rows = []
    gs_cases(args, grid, rows)
    if args.baselines:
        baseline_cases(args, grid, rows)
    if args.skactiveml:
        skactiveml_cases(args, rows)
    from threadpoolctl import threadpool_info

    threads = ",".join(str(i["num_threads"]) for i in threadpool_info())
    header = (
        f"Speed benchmark (`python benchmarks/speed.py {' '.join(argv or sys.argv[1:])}`), "
        f"{os.cpu_count()} CPUs, BLAS threads {threads}, numpy {np.__version__}."
    )
    write_tables(rows, Path(args.out), header)


if __name__ == "__main__":
    main()
