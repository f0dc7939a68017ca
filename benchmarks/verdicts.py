"""The verdicts of the documentation, with their errors over seeds, from committed result files.

Two commands (``python -m benchmarks.verdicts ...``):

``export RUN_DIR... [--to DIR]``
    The rows of finished harness runs (``results.jsonl`` and ``manifest.json``
    of each run directory) as one small CSV (``DIR/results.csv``: no picked
    indices, one row per cell) plus each run's manifest (``DIR/manifests/``),
    the files committed under ``benchmarks/results/verdicts/``.
``tables [--results DIR] [--to docs/_generated]``
    The verdict tables of ``docs/guide/evidence.md`` and
    ``docs/guide/which_strategy.md``, generated from that CSV: every number
    in them comes from the committed file, none is typed.

A verdict is a paired difference (strategy minus reference, same seed and
budget), averaged over the budgets within each seed, with its standard error
over seeds (:func:`benchmarks.analysis.paired_differences`), reported under
every probe and on every pool draw.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import analysis

#: Where the committed result files live, relative to the repository root.
RESULTS_DIR = Path("benchmarks/results/verdicts")
#: Where the generated tables go.
GENERATED_DIR = Path("docs/_generated")
CSV_NAME = "results.csv"
CSV_FIELDS = (
    "run",
    "dataset",
    "domain",
    "pool_size",
    "pool_draw",
    "n_pool",
    "n_test",
    "framework",
    "strategy",
    "budget",
    "seed",
    "accuracy",
    "classes_covered",
)

#: Probe labels of the runs, in table order, and how the tables name them.
PROBES = {
    "linear_probe": "SGD probe, L2-normalized (paper)",
    "linear_probe_standard": "SGD probe, standardized",
    "logistic_regression": "scikit-learn LogisticRegression",
}


@dataclass(frozen=True)
class Verdict:
    """One claim: ``strategy`` minus ``reference`` has the sign ``claim`` (+1 ahead, -1 behind)."""

    key: str
    text: str
    strategy: str
    reference: str
    claim: int
    budgets: tuple | None = None  # None: every budget of the run


#: The verdicts the README stated, as claims to test (its wording, shortened).
VERDICTS = (
    Verdict(
        "norm_vs_random", "feature-norm sampling is not better than random", "feature_norm", "random", -1
    ),
    Verdict("gs_vs_random", "Gram-Schmidt beats random on average", "gram_schmidt", "random", +1),
    Verdict("gs_vs_norm", "Gram-Schmidt beats feature-norm sampling", "gram_schmidt", "feature_norm", +1),
    Verdict("typiclust_vs_random", "TypiClust beats random", "typiclust", "random", +1),
    Verdict("probcover_vs_random", "ProbCover is under random on Fashion-MNIST", "probcover", "random", -1),
    Verdict(
        "then_norm_vs_typiclust",
        "typiclust_then_norm is worse than TypiClust alone",
        "typiclust_then_norm",
        "typiclust",
        -1,
    ),
    Verdict(
        "then_gs_vs_probcover",
        "Gram-Schmidt on top of ProbCover improves ProbCover",
        "probcover_then_gs",
        "probcover",
        +1,
    ),
    Verdict(
        "typiclust_norm_vs_typiclust",
        "typiclust_norm lands within about a point of TypiClust",
        "typiclust_norm",
        "typiclust",
        0,
    ),
    Verdict(
        "typiclust_gs_vs_typiclust",
        "typiclust_gs ties TypiClust (not a win)",
        "typiclust_gs",
        "typiclust",
        0,
    ),
    Verdict(
        "typiclust_gs_vs_typiclust_at_b",
        "typiclust_gs vs TypiClust at b = 10 labels",
        "typiclust_gs",
        "typiclust",
        0,
        (10,),
    ),
    Verdict(
        "restart_vs_norm",
        "past the rank, restart is ahead of the norm fill",
        "gram_schmidt:exhausted=restart",
        "gram_schmidt:exhausted=norm",
        +1,
    ),
    Verdict(
        "restart_vs_random",
        "past the rank, Gram-Schmidt (restart) vs random",
        "gram_schmidt:exhausted=restart",
        "random",
        +1,
    ),
)

#: A claimed tie holds when every mean ± 2 SE lies within this many points of 0.
TIE_POINTS = 2.0


# ---------------------------------------------------------------------------
# export: run directories -> one CSV and the manifests


def _draw_name(pool_size, pool_draw, train_limit=None, n_pool=None) -> str:
    """How a row's pool was drawn: "first N", "random N (draw S)", or "whole split"."""
    if not pool_size:
        # a prefix of the split (train_limit) is the first N images
        return f"first {n_pool}" if train_limit and n_pool == train_limit else "whole split"
    if pool_draw == "first":
        return f"first {pool_size}"
    return f"random {pool_size} (draw {pool_draw if pool_draw is not None else 'fixed'})"


def export(run_dirs, to=RESULTS_DIR) -> Path:
    """Write ``to/results.csv`` and ``to/manifests/<run>.json`` from harness run directories."""
    from .config import BenchConfig
    from .harness import resolve_strategies
    from .report import current_rows

    to = Path(to)
    (to / "manifests").mkdir(parents=True, exist_ok=True)
    out_rows = []
    for d in map(Path, run_dirs):
        manifest = d / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(
                f"{d}: no manifest.json; expected a run directory of python -m benchmarks."
            )
        cfg = BenchConfig(**json.loads(manifest.read_text(encoding="utf-8"))["config"])
        rows = current_rows(cfg, d, resolve_strategies(cfg.strategies))
        shutil.copyfile(manifest, to / "manifests" / f"{d.name}.json")
        for r in rows:
            out_rows.append(
                {
                    "run": d.name,
                    **{k: r.get(k) for k in CSV_FIELDS if k not in ("run", "pool_draw", "accuracy")},
                    "pool_draw": _draw_name(
                        r.get("pool_size"), r.get("pool_draw"), r.get("train_limit"), r.get("n_pool")
                    ),
                    "accuracy": f"{r['accuracy']:.6f}",
                }
            )
    out_rows.sort(
        key=lambda r: tuple(str(r[k]) for k in ("run", "framework", "strategy")) + (r["budget"], r["seed"])
    )
    path = to / CSV_NAME
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(out_rows)
    return path


def read_results(path) -> list[dict]:
    """Rows of a results CSV with numeric fields parsed."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["budget"], r["seed"] = int(r["budget"]), int(r["seed"])
        r["accuracy"] = float(r["accuracy"])
    return rows


# ---------------------------------------------------------------------------
# tables: the CSV -> verdict tables


def pooled_pair_stderr(rows, reference, strategy, budgets=None) -> float:
    """The error the old tables reported: over seed x budget pairs as if independent (for comparison)."""
    ref = {(r["seed"], r["budget"]): r["accuracy"] for r in rows if r["strategy"] == reference}
    d = [
        r["accuracy"] - ref[(r["seed"], r["budget"])]
        for r in rows
        if r["strategy"] == strategy
        and (r["seed"], r["budget"]) in ref
        and (budgets is None or r["budget"] in budgets)
    ]
    return analysis.mean_and_stderr(d)[1]


def verdict_cells(rows, verdict: Verdict) -> list[dict]:
    """One cell per (dataset, domain, pool draw, probe) holding both strategies of ``verdict``."""
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["domain"], r["pool_draw"], r["framework"]), []).append(r)
    cells = []
    for (ds, dom, draw, fw), here in groups.items():
        budgets = verdict.budgets
        stats = analysis.paired_differences(here, verdict.reference, budgets).get(verdict.strategy)
        if stats is None:
            continue
        mean, se, n = stats
        cells.append(
            {
                "dataset": ds,
                "domain": dom,
                "pool": draw,
                "probe": fw,
                "mean": 100 * mean,
                "se": 100 * se,
                "n_seeds": n,
                "budgets": sorted({r["budget"] for r in here if budgets is None or r["budget"] in budgets}),
                "pooled_se": 100 * pooled_pair_stderr(here, verdict.reference, verdict.strategy, budgets),
            }
        )
    order = list(PROBES)
    cells.sort(
        key=lambda c: (
            c["dataset"],
            c["domain"],
            c["pool"],
            order.index(c["probe"]) if c["probe"] in order else 99,
        )
    )
    return cells


def status(cells, claim: int) -> str:
    """Whether a verdict holds in every cell (each probe, each pool draw).

    ``claim`` +1/-1: "holds" when every mean has that sign and is at least 2
    standard errors from 0; "same sign, not resolved" when every mean has the
    sign but some within 2 SE; "does not hold" when some cell is resolved
    the other way; else "mixed signs, not resolved". ``claim`` 0 (a tie):
    "holds" when every interval mean ± 2 SE lies within ± :data:`TIE_POINTS`;
    "does not hold (behind|ahead)" when every cell is resolved one way;
    else "not resolved".
    """
    if not cells:
        return "not run"
    m = np.array([c["mean"] for c in cells])
    se = np.array([c["se"] for c in cells])
    if claim == 0:
        if np.all(np.abs(m) + 2 * se <= TIE_POINTS):
            return f"holds (a tie within ±{TIE_POINTS:g} points)"
        if np.all(m + 2 * se < 0):
            return "does not hold (behind)"
        if np.all(m - 2 * se > 0):
            return "does not hold (ahead)"
        return "not resolved"
    signed = claim * m
    if np.all(signed >= 2 * se):
        return "holds"
    if np.any(signed <= -2 * se):
        return "does not hold"
    if np.all(signed > 0):
        return "same sign, not resolved"
    return "mixed signs, not resolved"


def probes_agree(cells) -> str:
    """ "yes" when every probe's mean has the same sign in every pool draw, else which cells differ."""
    signs = {np.sign(round(c["mean"], 1)) for c in cells}
    return "yes" if len(signs) == 1 else "no"


def _pm(c) -> str:
    return f"{c['mean']:+.1f} ± {c['se']:.1f}"


def _budget_text(budgets) -> str:
    return ", ".join(map(str, budgets))


def verdict_table(rows, verdicts=VERDICTS) -> str:
    """Markdown: one row per verdict and pool draw, one column per probe, and the verdict's status."""
    probes = [p for p in PROBES if any(r["framework"] == p for r in rows)]
    head = [
        "verdict (strategy − reference)",
        "data · pool · budgets",
        *(PROBES[p] for p in probes),
        "seeds",
        "probes agree in sign",
        "status (all probes and draws)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in verdicts:
        cells = verdict_cells(rows, v)
        if not cells:
            continue
        st = status(cells, v.claim)
        by_pool: dict[tuple, dict] = {}
        for c in cells:
            by_pool.setdefault((c["dataset"], c["domain"], c["pool"], tuple(c["budgets"])), {})[
                c["probe"]
            ] = c
        for (ds, dom, pool, budgets), per in by_pool.items():
            ns = sorted({c["n_seeds"] for c in per.values()})
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"{v.text}: `{v.strategy}` − `{v.reference}`",
                        f"{ds} · {dom} · {pool} · {_budget_text(budgets)}",
                        *(_pm(per[p]) if p in per else "-" for p in probes),
                        "/".join(map(str, ns)),
                        probes_agree(list(per.values())),
                        st,
                    ]
                )
                + " |"
            )
    return "\n".join(lines) + "\n"


def pooled_table(rows, verdicts=VERDICTS) -> str:
    """Markdown: the SE over seeds beside the SE over seed x budget pairs the old tables reported."""
    head = [
        "verdict",
        "data · pool",
        "probe",
        "mean",
        "SE over seeds",
        "SE over pairs (old)",
        "ratio",
        "seeds",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in verdicts:
        if v.budgets is not None:
            continue
        for c in verdict_cells(rows, v):
            ratio = c["se"] / c["pooled_se"] if c["pooled_se"] > 0 else float("nan")
            lines.append(
                f"| `{v.strategy}` − `{v.reference}` | {c['dataset']} · {c['domain']} · {c['pool']} | "
                f"{c['probe']} | {c['mean']:+.1f} | {c['se']:.2f} | {c['pooled_se']:.2f} | {ratio:.2f} | "
                f"{c['n_seeds']} |"
            )
    return "\n".join(lines) + "\n"


def accuracy_table(rows) -> str:
    """Markdown: mean accuracy over seeds and budgets per strategy, pool and probe (the probes' levels)."""
    probes = [p for p in PROBES if any(r["framework"] == p for r in rows)]
    groups: dict[tuple, dict] = {}
    for r in rows:
        k = (r["dataset"], r["domain"], r["pool_draw"], r["strategy"])
        groups.setdefault(k, {}).setdefault(r["framework"], {}).setdefault(r["seed"], []).append(
            r["accuracy"]
        )
    head = ["data · pool", "strategy", *(PROBES[p] for p in probes)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (ds, dom, pool, strat), per in groups.items():
        vals = []
        for p in probes:
            if p not in per:
                vals.append("-")
                continue
            m, se = analysis.mean_and_stderr([np.mean(a) for a in per[p].values()])
            vals.append(f"{100 * m:.1f} ± {100 * se:.1f} ({len(per[p])})")
        lines.append(f"| {ds} · {dom} · {pool} | `{strat}` | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def holding_list(rows, verdicts=VERDICTS) -> str:
    """Markdown bullets: the verdicts that hold in every cell they were run in (each probe, each draw)."""
    lines = []
    for v in verdicts:
        cells = verdict_cells(rows, v)
        st = status(cells, v.claim)
        if not st.startswith("holds"):
            continue
        where = sorted({f"{c['dataset']} · {c['domain']} · {c['pool']}" for c in cells})
        probes = [p for p in PROBES if any(c["probe"] == p for c in cells)]
        lo = min(cells, key=lambda c: abs(c["mean"]))
        hi = max(cells, key=lambda c: abs(c["mean"]))
        ns = sorted({c["n_seeds"] for c in cells})
        lines.append(
            f"- {v.text} (`{v.strategy}` − `{v.reference}`): {lo['mean']:+.1f} to {hi['mean']:+.1f} points, "
            f"{'/'.join(map(str, ns))} seeds, under {len(probes)} probes, on {'; '.join(where)}."
        )
    return "\n".join(lines or ["- (none)"]) + "\n"


#: The generated files and the function writing each.
TABLES = {
    "verdicts.md": verdict_table,
    "verdicts_pooled_se.md": pooled_table,
    "verdicts_accuracy.md": accuracy_table,
    "verdicts_holding.md": holding_list,
}


def render(rows, results=RESULTS_DIR, to=GENERATED_DIR) -> dict[str, str]:
    """name -> text of each generated file (with its header naming the command and the source)."""
    cmd = "python -m benchmarks.verdicts tables"
    if Path(results) != RESULTS_DIR or Path(to) != GENERATED_DIR:
        cmd += f" --results {results} --to {to}"
    note = f"<!-- generated by `{cmd}` from {Path(results) / CSV_NAME}; do not edit -->\n\n"
    return {name: note + fn(rows) for name, fn in TABLES.items()}


def write_tables(results=RESULTS_DIR, to=GENERATED_DIR) -> list[Path]:
    """Write the generated tables (markdown) from ``results/results.csv``; returns the files written."""
    rows = read_results(Path(results) / CSV_NAME)
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render(rows, results, to).items():
        path = to / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.verdicts", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="run directories -> results.csv and manifests")
    e.add_argument("run_dirs", nargs="+")
    e.add_argument("--to", default=str(RESULTS_DIR))
    t = sub.add_parser("tables", help="results.csv -> generated markdown tables")
    t.add_argument("--results", default=str(RESULTS_DIR))
    t.add_argument("--to", default=str(GENERATED_DIR))
    args = p.parse_args(argv)
    if args.cmd == "export":
        print(export(args.run_dirs, args.to))
    else:
        for path in write_tables(args.results, args.to):
            print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
