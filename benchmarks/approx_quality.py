"""Approximate against exact TypiClust and ProbCover on a subset where exact is feasible.

    python benchmarks/approx_quality.py [--n 100000] [--budgets 100 1000] [--seeds 0 1 2]

On the first ``--n`` rows (a uniform subset) of the 1.28M x 384 ImageNet stand-in
(``benchmarks/speed.py``'s 1000-class mixture; there is no ImageNet here):

- TypiClust: class coverage of the picks (distinct true classes) and their
  typicality, measured the same way for both paths (1 / mean squared distance to
  the 20 nearest rows of the whole subset), mean and spread over seeds.
- ProbCover (``n_classes=1000``), per seed: both radii; the recall of the ball
  edges (the approximate graph's edges at exact's radius over the exact graph's,
  each found edge checked against the exact graph); the coverage of the exact
  graph by the greedy picks on the approximate graph at exact's radius (the
  graph alone), by the approximate path's picks, and by the exact path's picks
  from the next seed (its own spread), as ratios of the exact picks' coverage.
- ``--only probcover-full``: at the full 1.28M, where no exact graph fits, the
  approximate path's radius and the recall of the ball edges of 1,000 sampled
  rows against their exact balls.

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
from subsel_plugins import (  # noqa: E402
    ProbCoverQuery,
    TypiClustQuery,
    kernels,  # noqa: E402
)
from subsel_plugins.strategies import _probcover  # noqa: E402


def pool_typicality(F, idx, k=20):
    """1 / (mean squared distance to the k nearest other rows of the whole pool + 1e-5)."""
    D = kernels.knn_sq_distances(F, F[idx], k + 1)[:, 1:]
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
        cells = _probcover.Cells(*kernels.official_kmeans_on_sample(F, MIXTURE_CLASSES, seed))
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


def probcover_full_recall(F, seeds, m=1000):
    """At the full size, where the exact graph is out of reach: per seed, the approximate
    path's cells (its pseudo-label k-means) and radius (its sampled purity search), and the
    recall of the ball edges of ``m`` sampled rows, whose exact balls are found by brute
    force over every row. The approximate graph holds exactly the edges of an exact ball
    that fall in a cell paired with the row's own (:meth:`Cells.pairs`)."""
    n = F.shape[0]
    lines = [
        f"ProbCover's approximate graph at N={n} (n_classes={MIXTURE_CLASSES}): edge recall on {m} "
        "sampled rows against their exact balls (brute force over every row).",
        "",
        "| seed | delta | mean exact ball | edge recall | rows with every edge found | seconds |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for seed in seeds:
        t0 = time.perf_counter()
        pseudo, centroids = kernels.official_kmeans_on_sample(F, MIXTURE_CLASSES, seed)
        cells = _probcover.Cells(pseudo, centroids)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, min(n, _probcover.PURITY_SAMPLE_ROWS), replace=False))
        d = _probcover.distance_to_other_cluster(F, pseudo, sample)
        delta = _probcover.delta_from_distances(d, 0.95, F)
        paired = np.zeros((len(cells.members),) * 2, dtype=bool)
        for a, probes in enumerate(cells.probes):
            paired[a, probes] = True
        paired |= paired.T
        rows = rng.choice(n, m, replace=False)
        hits, block, d2 = [], _probcover._COL_BLOCK, np.float32(delta**2)
        for s in range(0, n, block):
            i, j = np.nonzero(kernels.pair_sq_distances(F[rows], F[s : s + block]) < d2)
            hits.append((i, j + s))
        i, j = np.concatenate([h[0] for h in hits]), np.concatenate([h[1] for h in hits])
        found = paired[cells.cell[rows[i]], cells.cell[j]]
        per_row = np.bincount(i, minlength=m), np.bincount(i, weights=found, minlength=m)
        lines.append(
            f"| {seed} | {delta:.4f} | {per_row[0].mean():.1f} | {found.mean():.4f} "
            f"| {np.mean(per_row[1] == per_row[0]):.3f} | {time.perf_counter() - t0:.0f} |"
        )
        print(lines[-1], flush=True)
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--budgets", nargs="+", type=int, default=[100, 1000])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--data-dir", default="/work/bench-data")
    p.add_argument("--out", default="bench-results/approx-quality.md")
    p.add_argument("--only", choices=["typiclust", "probcover", "probcover-full"])
    args = p.parse_args(argv)
    X, y = make_mixture(Path(args.data_dir), MIXTURE_N, 384)
    F, y = np.asarray(X[: args.n]), y[: args.n]
    lines = [f"`python benchmarks/approx_quality.py {' '.join(argv or sys.argv[1:])}`, N={args.n}", ""]
    if args.only in (None, "typiclust"):
        lines += typiclust_rows(F, y, args.budgets, args.seeds) + [""]
    if args.only in (None, "probcover"):
        lines += probcover_rows(F, args.budgets, args.seeds) + [""]
    if args.only in (None, "probcover-full"):
        lines += probcover_full_recall(np.asarray(X), args.seeds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
