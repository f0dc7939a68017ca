"""Approximate against exact TypiClust and ProbCover on a subset where exact is feasible.

    python benchmarks/approx_quality.py [--n 100000] [--budgets 100 1000] [--seeds 0 1 2]

On the first ``--n`` rows (a uniform subset) of the 1.28M x 384 ImageNet stand-in
(``benchmarks/speed.py``'s 1000-class mixture; there is no ImageNet here):

- TypiClust: class coverage of the picks (distinct true classes) and their
  typicality, measured the same way for both paths (1 / mean squared distance to
  the 20 nearest rows of the whole subset), mean and spread over seeds.
- ProbCover (``n_classes=1000``): both deltas; the recall of the ball edges (the
  approximate search's edges at exact's delta over the exact graph's edges;
  every approximate edge is a true one); the coverage of the approximate picks
  on the exact graph and on their own graph, as a ratio of the exact picks'
  coverage of the exact graph.

Prints markdown tables and writes them to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.speed import MIXTURE_CLASSES, MIXTURE_N, make_mixture  # noqa: E402
from subsel_plugins import ProbCoverQuery, TypiClustQuery  # noqa: E402
from subsel_plugins.strategies import _probcover, _typiclust  # noqa: E402


def pool_typicality(F, idx, k=20):
    """1 / (mean squared distance to the k nearest other rows of the whole pool + 1e-5)."""
    D = _typiclust.knn_sq_distances(F, F[idx], k + 1)[:, 1:]
    return 1.0 / (D.mean(axis=1) + 1e-5)


def coverage(A, idx):
    return np.unique(A[np.asarray(idx)].indices).size / A.shape[0]


def typiclust_rows(F, y, budgets, seeds):
    lines = [
        "| budget | path | classes covered (mean ± sd) | typicality of picks (mean ± sd) | seconds (mean) |",
        "|---:|---|---:|---:|---:|",
    ]
    for b in budgets:
        for approx in (False, True):
            cls, typ, secs = [], [], []
            for seed in seeds:
                t0 = time.perf_counter()
                idx = TypiClustQuery(random_state=seed, approximate=approx).select(F, b)
                secs.append(time.perf_counter() - t0)
                cls.append(len(set(y[idx])))
                typ.append(pool_typicality(F, idx).mean())
            lines.append(
                f"| {b} | {'approximate' if approx else 'exact'} | {np.mean(cls):.1f} ± {np.std(cls):.1f} "
                f"| {np.mean(typ):.3f} ± {np.std(typ):.3f} | {np.mean(secs):.1f} |"
            )
            print(lines[-1], flush=True)
    return lines


def probcover_rows(F, budgets, seeds):
    """Per seed: exact and approximate ProbCover, the approximate graph alone at exact's radius,
    and exact from the next seed as the noise reference."""
    b = max(budgets)  # greedy picks for a smaller budget are a prefix
    runs = []
    for seed in seeds:
        run = {"seed": seed}
        for name, approx in (("exact", False), ("approx", True)):
            q = ProbCoverQuery(n_classes=MIXTURE_CLASSES, random_state=seed, approximate=approx)
            t0 = time.perf_counter()
            run[name] = q.select(F, b)
            run[f"{name}_s"] = time.perf_counter() - t0
            run[f"{name}_delta"], run[f"{name}_purity"] = q.delta_, q.purity_
        print(f"seed {seed}: exact {run['exact_s']:.0f} s, approximate {run['approx_s']:.0f} s", flush=True)
        run["A"] = _probcover.ball_graph(F, run["exact_delta"])
        # the approximate graph alone: the approximate path's cells (its pseudo-label
        # k-means), exact's radius, the same greedy
        cells = _probcover.Cells(*_typiclust.sample_kmeans(F, MIXTURE_CLASSES, seed))
        A_s = _probcover.ball_graph_approx(F, run["exact_delta"], cells)
        run["true_edges"], run["found_edges"] = A_s.multiply(run["A"]).nnz, A_s.nnz
        run["recall"] = A_s.nnz / run["A"].nnz
        rng = np.random.default_rng(seed)
        run["graph"] = _probcover.greedy_cover(A_s, b, np.empty(0, int), rng, AT=A_s)[0]
        runs.append(run)
    lines = [
        f"ProbCover, n_classes={MIXTURE_CLASSES}, N={F.shape[0]}. Radius and purity (w.r.t. each path's own "
        "pseudo-labels), edge recall of the approximate graph at exact's radius (every found edge is checked "
        "against the exact graph), seconds for one selection of the largest budget:",
        "",
        "| seed | exact delta (purity) | approximate delta (purity) | mean ball at exact delta "
        "| edge recall | found edges that are true | exact (s) | approximate (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['seed']} | {r['exact_delta']:.4f} ({r['exact_purity']:.3f}) | {r['approx_delta']:.4f} "
            f"({r['approx_purity']:.3f}) | {r['A'].nnz / F.shape[0]:.1f} | {r['recall']:.4f} "
            f"| {r['true_edges']} of {r['found_edges']} | {r['exact_s']:.0f} | {r['approx_s']:.0f} |"
        )
    lines += [
        "",
        "Coverage of the exact graph (at exact's radius) by each pick set, as a ratio of the exact picks' "
        "coverage. *graph alone*: greedy on the approximate graph at exact's radius (the issue's measure); "
        "*approximate path*: the approximate selection, its own pseudo-labels and radius; "
        "*exact, next seed*: the exact path's picks from the next seed (its own seed-to-seed spread).",
        "",
        "| budget | seed | exact picks | graph alone | approximate path | exact, next seed |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for budget in budgets:
        for i, r in enumerate(runs):
            c_e = coverage(r["A"], r["exact"][:budget])
            cells = [coverage(r["A"], r[key][:budget]) / c_e for key in ("graph", "approx")]
            other = runs[(i + 1) % len(runs)]["exact"][:budget] if len(runs) > 1 else None
            ref = f"{coverage(r['A'], other) / c_e:.4f}" if other is not None else "-"
            lines.append(f"| {budget} | {r['seed']} | {c_e:.4f} | {cells[0]:.4f} | {cells[1]:.4f} | {ref} |")
    print("\n".join(lines), flush=True)
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--budgets", nargs="+", type=int, default=[100, 1000])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--data-dir", default="/work/bench-data")
    p.add_argument("--out", default="bench-results/approx-quality.md")
    p.add_argument("--only", choices=["typiclust", "probcover"])
    args = p.parse_args(argv)
    X, y = make_mixture(Path(args.data_dir), MIXTURE_N, 384)
    F, y = np.asarray(X[: args.n]), y[: args.n]
    lines = [f"`python benchmarks/approx_quality.py {' '.join(argv or sys.argv[1:])}`, N={args.n}", ""]
    if args.only != "probcover":
        lines += typiclust_rows(F, y, args.budgets, args.seeds) + [""]
    if args.only != "typiclust":
        lines += probcover_rows(F, args.budgets, args.seeds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
