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


def probcover_rows(F, budgets, seed):
    q_e = ProbCoverQuery(n_classes=MIXTURE_CLASSES, random_state=seed, approximate=False)
    q_a = ProbCoverQuery(n_classes=MIXTURE_CLASSES, random_state=seed, approximate=True)
    # one selection per path: greedy picks for a smaller budget are a prefix
    t0 = time.perf_counter()
    all_e = q_e.select(F, max(budgets))
    t_e = time.perf_counter() - t0
    t0 = time.perf_counter()
    all_a = q_a.select(F, max(budgets))
    t_a = time.perf_counter() - t0
    picks_e = {b: all_e[:b] for b in budgets}
    picks_a = {b: all_a[:b] for b in budgets}
    A_e = _probcover.ball_graph(F, q_e.delta_)
    A_a = _probcover.ball_graph(F, q_a.delta_)  # the approximate delta's exact graph
    cells = _probcover.Cells(*_typiclust.sample_kmeans(F, MIXTURE_CLASSES, seed))
    A_search = _probcover.ball_graph_approx(F, q_e.delta_, cells)
    true_edges = A_search.multiply(A_e).nnz
    lines = [
        f"ProbCover, n_classes={MIXTURE_CLASSES}, seed {seed}: delta exact {q_e.delta_:.4f} "
        f"(purity {q_e.purity_:.3f}), approximate {q_a.delta_:.4f} (purity {q_a.purity_:.3f}); "
        f"mean ball size at exact delta {A_e.nnz / F.shape[0]:.1f}; edge recall of the approximate "
        f"search at exact's delta {A_search.nnz / A_e.nnz:.4f} ({true_edges} of {A_search.nnz} "
        f"found edges true); {t_e:.0f} s exact, {t_a:.0f} s approximate (budget {max(budgets)}).",
        "",
        "| budget | exact picks, exact graph | approx picks, exact graph (ratio) "
        "| approx picks, approx-delta graph (ratio) |",
        "|---:|---:|---:|---:|",
    ]
    for b in budgets:
        c_e = coverage(A_e, picks_e[b])
        c_ae = coverage(A_e, picks_a[b])
        c_aa = coverage(A_a, picks_a[b])
        lines.append(f"| {b} | {c_e:.4f} | {c_ae:.4f} ({c_ae / c_e:.4f}) | {c_aa:.4f} ({c_aa / c_e:.4f}) |")
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
        lines += probcover_rows(F, args.budgets, args.seeds[0])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
