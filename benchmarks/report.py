"""The run's outputs: markdown tables, Fig. 2-style plots, Fig. 7 scatters, manifest.

The rows of the current config (:func:`current_rows`) go into one pandas
DataFrame; each table is a ``pivot_table`` of it (strategy x budget), formatted
cell by cell, and the plots read the same frame.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import analysis
from .config import BenchConfig, StrategySpec, spec_hash
from .harness import (
    NORM_RESULTS,
    RESULTS,
    framework_specs,
    read_jsonl,
    spec_params,
    specs_by_label,
    strategy_hash,
)

PACKAGES = (
    "subsel-plugins",
    "numpy",
    "scipy",
    "scikit-learn",
    "pluggy",
    "torch",
    "torchvision",
    "matplotlib",
    "tqdm",
    "pandas",
    "semilearn",
    "scikit-activeml",
    "modAL-python",
)


def current_rows(config: BenchConfig, out_dir, strategies) -> list[dict]:
    """Result rows of this config (rows of earlier configs in the same run dir are ignored)."""
    specs = framework_specs(config)
    fw_hash = {lab: h for lab, (_, h) in specs.items()}
    dom_hash = {lab: spec_hash(d) for lab, d in config.domains.items()}
    shash: dict[tuple, str | None] = {}
    labels = [s.label if isinstance(s, StrategySpec) else s for s in strategies]
    by_label = specs_by_label(config.strategies) if config.strategies is not None else {}
    by_label.update({s.label: s for s in strategies if isinstance(s, StrategySpec)})

    def expected_strategy_hash(r):
        # what the harness passes this strategy now (its spec's parameters, and the
        # class count where it takes one): rows from before that change
        # (ProbCover without n_classes) or of other parameters drop out
        key = (r["strategy"], r.get("num_classes"))
        if key not in shash:
            spec = by_label.get(key[0]) or StrategySpec(key[0], key[0], {})
            shash[key] = strategy_hash(spec_params(spec, key[1])) if isinstance(key[1], int) else None
        return shash[key]

    keep = []
    for r in read_jsonl(Path(out_dir) / RESULTS):
        if (
            r.get("dataset") in config.datasets
            and dom_hash.get(r.get("domain")) == r.get("domain_hash")
            and fw_hash.get(r.get("framework")) == r.get("framework_hash")
            and r.get("strategy") in labels
            and r.get("seed") in config.seeds
            and r.get("budget_multiplier") in config.budget_multipliers
            and r.get("initial_pool") == config.initial_pool
            and r.get("pool_size") == config.pool_size
            and r.get("pool_draw") == config.pool_draw
            and r.get("train_limit") == config.train_limit
            and r.get("test_limit") == config.test_limit
            and r.get("strategy_hash") == expected_strategy_hash(r)
        ):
            keep.append(r)
    return keep


def _frame(rows) -> pd.DataFrame:
    """Result rows as a DataFrame of Python objects (ints stay ints, None stays None)."""
    return pd.DataFrame(list(rows), dtype=object)


def _pivot(frame: pd.DataFrame, index, columns, value: str) -> pd.DataFrame:
    """The non-missing values of ``value`` as a list per ``index`` x ``columns`` cell (NaN where none)."""
    sub = frame[frame[value].notna()] if value in frame else frame.iloc[:0]
    if sub.empty:
        return pd.DataFrame()
    return sub.pivot_table(index=index, columns=columns, values=value, aggfunc=list, sort=False)


def _cells(pivot: pd.DataFrame, index, columns, fmt) -> pd.DataFrame:
    """``fmt(values)`` for every cell of ``pivot`` laid out as ``index`` x ``columns``; "-" where none."""
    full = pivot.reindex(index=index, columns=columns)
    return full.map(lambda v: fmt(v) if isinstance(v, list) and v else "-")


def _markdown(table: pd.DataFrame, first: str) -> list[str]:
    """A DataFrame as markdown table lines: the index as the first column, headed ``first``."""
    lines = ["| " + " | ".join([first, *map(str, table.columns)]) + " |"]
    lines.append("|---|" + "---|" * len(table.columns))
    lines += [
        "| " + " | ".join([str(i), *map(str, vals)]) + " |" for i, vals in zip(table.index, table.values)
    ]
    return lines


def _fmt(mean, se, scale=100.0, digits=1):
    if np.isnan(mean):
        return "-"
    return f"{mean * scale:.{digits}f} ± {se * scale:.{digits}f}"


def _pool_sentence(config: BenchConfig) -> str:
    prefix = f"the first {config.train_limit} training images" if config.train_limit else "the training split"
    draw = getattr(config, "pool_draw", None)
    if config.pool_size and draw == "first":
        return f" Pool: the first {config.pool_size} of {prefix}."
    if config.pool_size and draw is not None:
        return f" Pool: a random {config.pool_size} of {prefix} (draw seed {draw})."
    if config.pool_size:
        return f" Pool: a fixed random {config.pool_size} of {prefix}."
    return f" Pool: {prefix}." if config.train_limit else ""


def _preamble(config: BenchConfig, unavailable) -> list[str]:
    seeds = ", ".join(map(str, config.seeds))
    lines = [f"# Benchmark results (preset `{config.preset}`)", ""]
    lines.append(
        f"Test accuracy in %, mean ± standard error over seeds {seeds}; budgets are multiples of the "
        "number of classes."
        + (
            " Each subset starts from b uniformly random labeled "
            "examples (b = number of classes; the paper's Fig. 5)."
            if config.initial_pool
            else ""
        )
        + _pool_sentence(config)
        + (f" Test: the first {config.test_limit} test images." if config.test_limit else "")
    )
    lines += ["Best mean per budget in **bold**.", ""]
    lines += [f"- framework `{lab}` skipped: {why}" for lab, why in (unavailable or {}).items()]
    return lines + ([""] if unavailable else [])


def _accuracy_table(config: BenchConfig, here: pd.DataFrame, strategies) -> list[str]:
    """Mean ± standard error per strategy and budget of one dataset, domain and framework."""
    dname, dlabel, fw = here.iloc[0][["dataset", "domain", "framework"]]
    budgets = sorted(set(here["budget"]))
    acc = _pivot(here, "strategy", "budget", "accuracy")
    strat = [s for s in strategies if s in acc.index]
    stats = acc.reindex(index=strat, columns=budgets).map(
        lambda v: analysis.mean_and_stderr(v) if isinstance(v, list) else None
    )
    best = {b: max((m for m, _ in stats[b].dropna()), default=None) for b in budgets}

    def cell(b, ms):
        if ms is None:
            return "-"
        txt = _fmt(*ms)
        return f"**{txt}**" if best[b] is not None and np.isclose(ms[0], best[b]) else txt

    table = pd.DataFrame({f"b={b}": [cell(b, ms) for ms in stats[b]] for b in budgets}, index=strat)
    means = stats.map(lambda ms: np.nan if ms is None else ms[0])
    table["mean"] = [f"{np.mean(m) * 100:.1f}" if not np.isnan(m).any() else "-" for m in means.values]
    seeds = sorted({len(v) for v in acc.values.ravel() if isinstance(v, list)})
    fw_name = config.frameworks[fw]["name"]
    head = [f"## {dname} · features `{dlabel}` · `{fw}` ({fw_name})", ""]
    return head + _markdown(table, "strategy") + ["", f"Seeds per cell: {seeds}.", ""]


#: The references of the paired-difference tables.
REFERENCES = ("random", "typiclust")


def _diff(ms) -> str:
    return "-" if ms is None else f"{ms[0] * 100:+.1f} ± {ms[1] * 100:.1f}"


def paired_stats(here: pd.DataFrame) -> dict:
    """column -> {strategy: (mean, se, n)}: accuracy minus random's and TypiClust's, all budgets, b, 2b."""
    rows = here[["strategy", "seed", "budget", "accuracy", "num_classes"]].to_dict("records")
    b = int(here.iloc[0]["num_classes"])
    cols = {}
    for ref in (r for r in REFERENCES if r in set(here["strategy"])):
        cols[f"vs {ref}"] = analysis.paired_differences(rows, ref)
        if ref == "typiclust":
            cols["vs typiclust at b"] = analysis.paired_differences(rows, ref, {b})
            cols["vs typiclust at 2b"] = analysis.paired_differences(rows, ref, {2 * b})
    return cols


def paired_columns(here: pd.DataFrame, strategies) -> pd.DataFrame | None:
    """:func:`paired_stats` as formatted cells (points), one row per strategy; None without a reference."""
    cols = paired_stats(here)
    if not cols:
        return None
    b = int(here.iloc[0]["num_classes"])
    strat = [s for s in strategies if s in set(here["strategy"])]
    names = {
        "vs typiclust at b": f"vs typiclust at b={b}",
        "vs typiclust at 2b": f"vs typiclust at b={2 * b}",
    }
    return pd.DataFrame(
        {names.get(c, c): [_diff(d.get(s)) for s in strat] for c, d in cols.items()}, index=strat
    )


def _seed_count(stats: dict) -> str:
    """'N seeds' (or 'N-M seeds') over the cells of a :func:`paired_stats` result."""
    ns = sorted({v[2] for col in stats.values() for v in col.values()})
    if not ns:
        return "no seeds"
    return f"{ns[0]} seeds" if len(ns) == 1 else f"{ns[0]}-{ns[-1]} seeds"


def beats_typiclust(stats: dict) -> set:
    """Strategies with a mean difference to TypiClust > 0 at both b and 2b, from one :func:`paired_stats`."""
    at_b, at_2b = stats.get("vs typiclust at b", {}), stats.get("vs typiclust at 2b", {})
    return {s for s in at_b if s in at_2b and at_b[s][0] > 0 and at_2b[s][0] > 0}


def _paired_table(here: pd.DataFrame, strategies) -> list[str]:
    table = paired_columns(here, strategies)
    if table is None:
        return []
    return [
        "Paired differences in accuracy points (strategy minus reference at the same seed and budget), "
        "mean ± standard error over seeds (each seed's differences averaged over the budgets first; "
        f"{_seed_count(paired_stats(here))}):",
        "",
        *_markdown(table, "strategy"),
        "",
    ]


def _analysis_tables(here: pd.DataFrame, strategies) -> list[str]:
    """Frechet distance, classes covered, mean norm, selection time and radius of one dataset and domain."""
    dname, dlabel = here.iloc[0][["dataset", "domain"]]
    budgets = sorted(set(here["budget"]))
    strat = [s for s in strategies if s in set(here["strategy"])]
    fd = _cells(_pivot(here, "strategy", "budget", "frechet"), strat, budgets, lambda v: f"{np.mean(v):.3g}")
    cov = _cells(
        _pivot(here, "strategy", "budget", "classes_covered"), strat, budgets, lambda v: f"{np.mean(v):.1f}"
    )
    fd.columns = [f"b={b}" for b in budgets]
    cov.columns = [f"cov b={b}" for b in budgets]
    per_strategy = {s: here[here["strategy"] == s] for s in strat}
    # norms in budget order, as the mean was always taken
    norms = {
        s: _values(per_strategy[s].sort_values("budget", kind="stable"), "mean_feature_norm") for s in strat
    }
    cov["mean norm"] = [f"{np.mean(norms[s]):.3g}" for s in strat]
    times = {s: _values(per_strategy[s], "selection_time_s") for s in strat}
    cov["selection s (mean / max)"] = [
        f"{np.mean(t):.3f} / {np.max(t):.3f}" if t else "-" for t in times.values()
    ]
    return [
        f"## Subset analyses: {dname} · features `{dlabel}`",
        "",
        "Frechet distance between the subset's features and the rest of the pool (the paper's "
        "Table 2, in this feature domain; lower = closer to the pool), mean over seeds:",
        "",
        *_markdown(fd, "strategy"),
        "",
        f"Classes covered (of {here.iloc[0]['num_classes']}), mean over seeds; mean feature norm of the "
        "subset; selection time:",
        "",
        *_markdown(cov, "strategy"),
        "",
        *_delta_table(here, strat, budgets),
    ]


def _values(frame: pd.DataFrame, column: str) -> list:
    """The non-missing values of a column, in row order."""
    return [v for v in frame[column] if v is not None and not pd.isna(v)] if column in frame else []


def _norm_table(norm_rows) -> list[str]:
    """Pearson r and slope of accuracy against the mean feature norm of random subsets (Fig. 7)."""
    body = []
    for key, sub in _frame(norm_rows).groupby(["dataset", "domain", "framework", "size"]):
        fit = analysis.norm_accuracy_fit(list(sub["mean_feature_norm"]), list(sub["accuracy"]))
        body.append(
            [*key, fit["n"], f"{fit['pearson_r']:.3f}", f"{fit['p_value']:.3g}", f"{fit['slope'] * 100:.3g}"]
        )
    head = ["features", "framework", "size", "subsets", "Pearson r", "p-value", "slope (acc %/norm)"]
    table = pd.DataFrame([r[1:] for r in body], index=[r[0] for r in body], columns=head)
    return [
        "## Accuracy against mean feature norm of uniformly random subsets (the paper's Fig. 7)",
        "",
        *_markdown(table, "dataset"),
        "",
    ]


def markdown_tables(config: BenchConfig, rows, strategies, norm_rows=(), unavailable=None) -> str:
    """Mean ± standard error of test accuracy per strategy and budget, plus the analyses."""
    lines = _preamble(config, unavailable)
    frame = _frame(rows)
    if not frame.empty:
        order = {
            "dataset": config.datasets.index,
            "domain": list(config.domains).index,
            "framework": list(config.frameworks).index,
        }
        combos = frame.groupby(list(order), sort=False).groups
        for combo in sorted(combos, key=lambda c: tuple(f(v) for f, v in zip(order.values(), c))):
            lines += _accuracy_table(config, frame.loc[combos[combo]], strategies)
            lines += _paired_table(frame.loc[combos[combo]], strategies)
        # the analyses are the same in every framework: one row per selection
        sel = frame.drop_duplicates(["dataset", "domain", "strategy", "budget", "seed"])
        for dname in config.datasets:
            for dlabel in config.domains:
                here = sel[(sel["dataset"] == dname) & (sel["domain"] == dlabel)]
                if not here.empty:
                    lines += _analysis_tables(here, strategies)
    if norm_rows:
        lines += _norm_table(norm_rows)
    return "\n".join(lines) + "\n"


def _delta_table(rows: pd.DataFrame, strategies, budgets) -> list[str]:
    """ProbCover's radius (``delta_``), purity and pseudo-label k, and its balls' coverage per budget."""
    per_strategy = {s: rows[rows["strategy"] == s] for s in strategies}
    with_delta = [s for s in strategies if _values(per_strategy[s], "delta_")]
    if not with_delta:
        return []
    cover = _cells(
        _pivot(rows, "strategy", "budget", "ball_coverage"),
        with_delta,
        budgets,
        lambda v: f"{np.mean(v) * 100:.1f}%",
    )
    cover.columns = [f"cover b={b}" for b in budgets]
    d = {s: _values(per_strategy[s], "delta_") for s in with_delta}
    p = {s: _values(per_strategy[s], "purity_") for s in with_delta}
    k = {s: sorted(set(_values(per_strategy[s], "n_clusters_"))) for s in with_delta}
    cover.insert(
        0, "delta", [f"{np.mean(d[s]):.3f} ({np.min(d[s]):.3f}-{np.max(d[s]):.3f})" for s in with_delta]
    )
    cover.insert(1, "purity", [f"{np.mean(p[s]):.4f}" if p[s] else "-" for s in with_delta])
    cover.insert(2, "k", [", ".join(map(str, k[s])) if k[s] else "-" for s in with_delta])
    return [
        "Ball radius chosen by ProbCover (`delta_`, mean over seeds and budgets; it does not depend on the "
        "budget), purity of the balls w.r.t. the k-means pseudo-labels (`purity_`), their k "
        "(`n_clusters_`), and the fraction of the pool within `delta_` of the labeled subset "
        "(ball coverage, mean over seeds):",
        "",
        *_markdown(cover, "strategy"),
        "",
    ]


def current_norm_rows(config: BenchConfig, out_dir) -> list[dict]:
    nc = config.norm_correlation
    if not nc:
        return []
    specs = framework_specs(config)
    dom_hash = {lab: spec_hash(d) for lab, d in config.domains.items()}
    fw = nc["framework"]
    return [
        r
        for r in read_jsonl(Path(out_dir) / NORM_RESULTS)
        if r.get("dataset") in config.datasets
        and dom_hash.get(r.get("domain")) == r.get("domain_hash")
        and r.get("framework") == fw
        and r.get("framework_hash") == specs[fw][1]
        and r.get("pool_size") == config.pool_size
        and r.get("train_limit") == config.train_limit
        and r.get("test_limit") == config.test_limit
        and r.get("subset", 10**9) < int(nc["subsets"])
    ]


def plots(config: BenchConfig, rows, strategies, norm_rows, out_dir) -> list[Path]:
    """Fig. 2-style accuracy-vs-budget plots (shaded standard error) and Fig. 7 scatters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pdir = Path(out_dir) / "plots"
    pdir.mkdir(exist_ok=True)
    written = []
    frame = _frame(rows)
    for combo, here in frame.groupby(["dataset", "domain", "framework"]) if not frame.empty else ():
        fig = _accuracy_plot(plt, here, strategies, combo)
        path = pdir / "accuracy_{}_{}_{}.png".format(*combo)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    written += chosen_grids(config, frame, strategies, pdir)
    norm = _frame(norm_rows)
    for combo, sub in norm.groupby(["dataset", "domain", "framework"]) if not norm.empty else ():
        fig = _norm_plot(plt, sub, combo)
        path = pdir / "norm_correlation_{}_{}_{}.png".format(*combo)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def _accuracy_plot(plt, here: pd.DataFrame, strategies, combo):
    """Accuracy against budget, one line per strategy (dashed for combinations), the standard error shaded.

    The legend's handles are long enough to show the dashes; the figure says
    what the shading is (one standard error over the seeds of each point).
    """
    acc = _pivot(here, "strategy", "budget", "accuracy")
    shown = [s for s in strategies if s in acc.index]
    fig, ax = plt.subplots(figsize=(6.4 + (2.4 if len(shown) > 10 else 0), 4.4))
    cmap = plt.get_cmap("tab10" if len(shown) <= 10 else "tab20")
    seeds = set()
    for i, s in enumerate(shown):
        pts = sorted((b, v) for b, v in acc.loc[s].items() if isinstance(v, list))
        seeds.update(len(p[1]) for p in pts)
        b = np.array([p[0] for p in pts])
        ms = np.array([analysis.mean_and_stderr(p[1]) for p in pts]) * 100
        style = "--" if "_then_" in s else "-"
        color = cmap(i % cmap.N)
        ax.plot(b, ms[:, 0], style, marker="o", ms=3, color=color, label=s)
        ax.fill_between(b, ms[:, 0] - ms[:, 1], ms[:, 0] + ms[:, 1], color=color, alpha=0.2)
    ax.set_xticks(sorted(acc.columns))
    ax.set_xlabel("budget (labeled examples)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("{} · {} · {}".format(*combo))
    ax.grid(alpha=0.3)
    n = "-".join(map(str, sorted(seeds)[:: max(len(seeds) - 1, 1)])) if seeds else "0"
    legend = dict(fontsize=7, handlelength=3.5, title="dashed: <first>_then_<second>", title_fontsize=7)
    if len(shown) > 10:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), **legend)
    else:
        ax.legend(ncol=2, **legend)
    fig.text(0.01, 0.01, f"shading: ±1 standard error of the mean over {n} seeds", fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def chosen_rows(here: pd.DataFrame, strategies) -> tuple[int, int, list]:
    """The smallest budget of a dataset and domain, its smallest seed, and ``[(strategy, labeled rows)]``."""
    budget = int(min(here["budget"]))
    seed = int(min(here.loc[here["budget"] == budget, "seed"]))
    sel = here[(here["seed"] == seed) & (here["budget"] == budget)].drop_duplicates("strategy")
    chosen = {r["strategy"]: r["labeled"] for _, r in sel.iterrows() if isinstance(r.get("labeled"), list)}
    return seed, budget, [(s, chosen[s]) for s in strategies if s in chosen]


def chosen_grids(config: BenchConfig, frame: pd.DataFrame, strategies, pdir: Path) -> list[Path]:
    """Per dataset and domain, ``chosen_<dataset>_<domain>.png``: the images each strategy chose.

    Seed: the smallest in the rows (0), budget: the smallest; one row per
    strategy in the grid's order, the class label under each image.
    """
    from subsel_plugins.show import image_grid

    from .data import PreparedDataset

    written = []
    datasets: dict[str, PreparedDataset] = {}
    for (dname, dlabel), here in frame.groupby(["dataset", "domain"], sort=False) if not frame.empty else ():
        seed, budget, rows = chosen_rows(here, strategies)
        if not rows:
            continue
        if dname not in datasets:
            c = config
            datasets[dname] = PreparedDataset(
                dname, c.pool_size, c.dataset_params.get(dname), c.train_limit, c.test_limit
            )
        pds = datasets[dname]
        title = f"{dname} · {dlabel}: the {budget} images each strategy chose (seed {seed})"
        if config.initial_pool:
            title += f"; the first {pds.num_classes} are the random initial pool"
        path = pdir / f"chosen_{dname}_{dlabel}.png"
        image_grid(rows, pds.train_images, pds.train_labels, pds.ds.classes, title=title, path=path)
        written.append(path)
    return written


def _norm_plot(plt, sub: pd.DataFrame, combo):
    """One scatter per subset size of accuracy against mean feature norm, with the least-squares line."""
    sizes = sorted(set(sub["size"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.8), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        pts = sub[sub["size"] == size]
        x = np.array(list(pts["mean_feature_norm"]), dtype=float)
        y = np.array(list(pts["accuracy"]), dtype=float) * 100
        ax.scatter(x, y, s=10, alpha=0.7)
        fit = analysis.norm_accuracy_fit(x, y / 100)
        if np.isfinite(fit["slope"]):
            xs = np.linspace(x.min(), x.max(), 50)
            ax.plot(xs, (fit["intercept"] + fit["slope"] * xs) * 100, "r-", lw=1.5)
        ax.set_title(f"{size} random examples, r = {fit['pearson_r']:.2f}")
        ax.set_xlabel("mean feature norm of the subset")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle("{} · {} · {}".format(*combo))
    fig.tight_layout()
    return fig


def _versions() -> dict:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        res = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "hostname_hash": spec_hash(platform.node()),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
        if info["cuda"]:
            info["cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["cuda"] = False
    return info


def write_manifest(config: BenchConfig, out_dir, summary: dict, started: str, argv=None) -> Path:
    """manifest.json: config, resolved strategies, seeds, hashes, versions, machine, timings."""
    specs = framework_specs(config)
    manifest = {
        "config": config.to_dict(),
        "strategies": summary.get("strategies"),
        "seeds": config.seeds,
        "framework_hashes": {lab: h for lab, (_, h) in specs.items()},
        "framework_specs": {lab: s for lab, (s, _) in specs.items()},
        "domain_hashes": {lab: spec_hash(d) for lab, d in config.domains.items()},
        "unavailable_frameworks": summary.get("unavailable", {}),
        "cells_run_now": summary.get("done"),
        "cells_resumed": summary.get("skipped"),
        "wall_s": summary.get("wall_s"),
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": list(argv if argv is not None else sys.argv),
        "git_commit": _git_commit(),
        "versions": _versions(),
        "machine": machine(),
    }
    path = Path(out_dir) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=repr) + "\n", encoding="utf-8")
    return path


def write_report(config: BenchConfig, out_dir, strategies, unavailable=None, make_plots=True) -> dict:
    """table.md and the plots from the run dir's results; returns the paths written."""
    rows = current_rows(config, out_dir, strategies)
    norm_rows = current_norm_rows(config, out_dir)
    table = Path(out_dir) / "table.md"
    table.write_text(markdown_tables(config, rows, strategies, norm_rows, unavailable), encoding="utf-8")
    written = {"table": table, "plots": []}
    if make_plots and (rows or norm_rows):
        written["plots"] = plots(config, rows, strategies, norm_rows, out_dir)
    return written


# ---------------------------------------------------------------------------
# across run directories: paired differences per domain, side by side


def summary_markdown(frame: pd.DataFrame, strategies) -> str:
    """Per framework: paired differences against random and TypiClust, one column per dataset · domain.

    Ends with the strategies whose mean difference to TypiClust is positive at
    both b and 2b on at least two domains (or says there are none).
    """
    lines = []
    for fw, sub in frame.groupby("framework", sort=False):
        here = {
            f"{d} · {dom}": sub[(sub["dataset"] == d) & (sub["domain"] == dom)]
            for d, dom in dict.fromkeys(zip(sub["dataset"], sub["domain"]))
        }
        stats = {k: paired_stats(h) for k, h in here.items()}
        strat = [s for s in strategies if s in set(sub["strategy"])]
        lines += [f"## `{fw}`", ""]
        for ref in REFERENCES:
            col = f"vs {ref}"
            table = pd.DataFrame(
                {k: [_diff(st.get(col, {}).get(s)) for s in strat] for k, st in stats.items()}, index=strat
            )
            n = _seed_count({k: st.get(col, {}) for k, st in stats.items()})
            lines += [
                f"Paired difference vs {ref}, all budgets (points, mean ± SE over seeds of each seed's "
                f"mean over the budgets; {n}):",
                "",
            ]
            lines += [*_markdown(table[table.index != ref], "strategy"), ""]

        def at(st, s):
            return (
                _diff(st.get("vs typiclust at b", {}).get(s))
                + " / "
                + _diff(st.get("vs typiclust at 2b", {}).get(s))
            )

        table = pd.DataFrame({k: [at(st, s) for s in strat] for k, st in stats.items()}, index=strat)
        n = _seed_count({k: st.get("vs typiclust at b", {}) for k, st in stats.items()})
        lines += [f"Paired difference vs typiclust at b / 2b (points, mean ± SE over seeds; {n}):", ""]
        lines += [*_markdown(table[table.index != "typiclust"], "strategy"), ""]
        wins = {s: [k for k, st in stats.items() if s in beats_typiclust(st)] for s in strat}
        hits = {s: ks for s, ks in wins.items() if len(ks) >= 2}
        lines.append(
            "Beat TypiClust (mean difference > 0) at both b and 2b on two or more domains: "
            + "; ".join(f"`{s}` ({', '.join(ks)})" for s, ks in hits.items())
            if hits
            else "No strategy beats TypiClust (mean difference > 0) at both b and 2b on two or more domains."
        )
        lines.append("")
    return "\n".join(lines) + "\n"


def summary_main(argv=None) -> int:
    """``python -m benchmarks.report RUN_DIR...``: the paired-difference summary of run directories."""
    from subsel_plugins.cli import DoorParser, run_door

    from .harness import resolve_strategies

    p = DoorParser(
        prog="python -m benchmarks.report",
        description="Paired differences against random and TypiClust, one column per dataset and domain, "
        "from the results of run directories (each read with the config of its manifest.json).",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--output", "-o", help="also write the markdown here")

    def run(args):
        frames, order = [], []
        for d in args.run_dirs:
            path = Path(d) / "manifest.json"
            if not path.is_file():
                from subsel_plugins.errors import MissingFileError

                raise MissingFileError(
                    f"{d}: no manifest.json; expected a run directory of python -m benchmarks."
                )
            cfg = BenchConfig(**json.loads(path.read_text(encoding="utf-8"))["config"])
            strategies = resolve_strategies(cfg.strategies)
            order += [s for s in strategies if s not in order]
            frames.append(_frame(current_rows(cfg, d, strategies)))
        text = summary_markdown(pd.concat(frames, ignore_index=True), order)
        sys.stdout.write(text)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        return 0

    args = p.parse_args(argv)
    return run_door("python -m benchmarks.report", lambda: run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(summary_main())


# ---------------------------------------------------------------------------
# the semi-supervised check of the paper's Table 1 (preset `semi`, issue 23)


def claim_differences(rows, better: str, baseline: str) -> dict:
    """Paired differences ``better - baseline`` (same seed and budget) of result rows, per budget and pooled.

    ``rows`` are result rows of one dataset, domain and framework (``strategy``,
    ``seed``, ``budget``, ``accuracy``). The pooled entry (key ``"all"``)
    averages each seed's differences over the budgets it has first, so its
    standard error is over seeds, the independent units (the same seed's
    budgets share a data order and an initialisation).

    Returns
    -------
    dict
        budget (int) or ``"all"`` -> ``{"mean", "se", "n_seeds", "up", "down", "tie", "diffs"}``
        (accuracy fractions; ``up``: seeds where ``better`` scored higher).
        Budgets without a pair are left out.
    """
    acc = {(r["strategy"], r["seed"], r["budget"]): float(r["accuracy"]) for r in rows}
    per_budget: dict = {}
    for (s, seed, b), a in sorted(acc.items(), key=lambda kv: (kv[0][2], kv[0][1])):
        if s == better and (baseline, seed, b) in acc:
            per_budget.setdefault(b, {})[seed] = a - acc[(baseline, seed, b)]
    by_seed: dict = {}
    for diffs in per_budget.values():
        for seed, d in diffs.items():
            by_seed.setdefault(seed, []).append(d)
    out = {b: _claim_stats(d) for b, d in per_budget.items()}
    if per_budget:
        out["all"] = _claim_stats({seed: float(np.mean(ds)) for seed, ds in by_seed.items()})
    return out


def _claim_stats(diffs: dict) -> dict:
    vals = np.array(list(diffs.values()), dtype=np.float64)
    mean, se = analysis.mean_and_stderr(vals)
    return {
        "mean": mean,
        "se": se,
        "n_seeds": int(vals.size),
        "up": int((vals > 0).sum()),
        "down": int((vals < 0).sum()),
        "tie": int((vals == 0).sum()),
        "diffs": diffs,
    }


def _claim_cell(st) -> str:
    if st is None:
        return "-"
    se = f" ± {st['se'] * 100:.1f}" if st["n_seeds"] > 1 else ""  # one seed has no standard error
    return (
        f"{st['mean'] * 100:+.1f}{se} (n={st['n_seeds']}; "
        f"{st['up']} up, {st['down']} down" + (f", {st['tie']} tied" if st["tie"] else "") + ")"
    )


def semi_tables(rows, claims, num_classes: int, planned: int | None = None) -> str:
    """Markdown: the accuracy table and the paired differences of ``claims`` ((better, baseline) pairs).

    ``rows`` are the result rows of one dataset, domain and framework;
    ``planned`` (the grid's cell count) makes the first line say how much of
    the grid they are.
    """
    frame = _frame(rows)
    lines = []
    done = len(frame)
    if planned is not None:
        state = "complete" if done >= planned else "partial"
        lines += [f"Cells done: {done} of {planned} ({state}).", ""]
    if frame.empty:
        return "\n".join(lines + ["No result rows yet.", ""])
    budgets = sorted(set(frame["budget"]))
    order = list(dict.fromkeys([s for pair in claims for s in pair[::-1]] + list(frame["strategy"])))
    acc = _pivot(frame, "strategy", "budget", "accuracy").reindex(
        index=[s for s in order if s in set(frame["strategy"])], columns=budgets
    )

    def fmt_acc(v):
        if not isinstance(v, list) or not v:
            return "-"
        m, se = analysis.mean_and_stderr(v)
        return f"{_fmt(m, se)} (n={len(v)})" if len(v) > 1 else f"{m * 100:.1f} (n=1)"

    table = acc.map(fmt_acc)
    table.columns = [f"{b // num_classes} per class (b={b})" for b in budgets]
    lines += ["Test accuracy in %, mean ± SE over seeds (n = seeds done):", ""]
    lines += [*_markdown(table, "strategy"), ""]
    head = [f"{b // num_classes} per class (b={b})" for b in budgets] + ["both budgets"]
    body = {}
    for better, base in claims:
        st = claim_differences(rows, better, base)
        body[f"{better} - {base}"] = [_claim_cell(st.get(b)) for b in budgets] + [_claim_cell(st.get("all"))]
    lines += [
        "Paired differences in points (same seed, same budget), mean ± SE over seeds, with the number "
        "of seeds and how many point each way; *both budgets* averages each seed's two differences "
        "first:",
        "",
    ]
    lines += [*_markdown(pd.DataFrame(body, index=head).T, "claim"), ""]
    return "\n".join(lines)


def sanity_table(rows) -> str:
    """Markdown: FlexMatch against the same network on the labeled rows alone, per seed and on average.

    ``rows`` are the rows of ``benchmarks.semi sanity`` (``algorithm``,
    ``seed``, ``accuracy``, ``labels_per_class``, ``eval_curve``).
    """
    frame = _frame(rows)
    if frame.empty:
        return "No sanity rows yet.\n"
    lines = []
    # runs of other lengths (a longer run of the same cell) get a table of their own
    frame["planned_iterations"] = [_planned_iterations(r) for r in frame.to_dict("records")]
    for (per, iters), sub in frame.groupby(["labels_per_class", "planned_iterations"], sort=True):
        acc = {(r["algorithm"], r["seed"]): r for r in sub.to_dict("records")}
        algs = list(dict.fromkeys(sub["algorithm"]))
        seeds = sorted(set(sub["seed"]))
        table = pd.DataFrame(
            {
                a: [f"{acc[(a, s)]['accuracy'] * 100:.1f}" if (a, s) in acc else "-" for s in seeds]
                for a in algs
            },
            index=[str(s) for s in seeds],
        )
        if {"flexmatch", "fullysupervised"} <= set(algs):
            diffs = [
                acc[("flexmatch", s)]["accuracy"] - acc[("fullysupervised", s)]["accuracy"]
                for s in seeds
                if ("flexmatch", s) in acc and ("fullysupervised", s) in acc
            ]
            table["flexmatch - fullysupervised"] = [
                f"{(acc[('flexmatch', s)]['accuracy'] - acc[('fullysupervised', s)]['accuracy']) * 100:+.1f}"
                if ("flexmatch", s) in acc and ("fullysupervised", s) in acc
                else "-"
                for s in seeds
            ]
        else:
            diffs = []
        means = {
            a: analysis.mean_and_stderr([acc[(a, s)]["accuracy"] for s in seeds if (a, s) in acc])
            for a in algs
        }
        counts = {a: sum((a, s) in acc for s in seeds) for a in algs}
        summary = {
            a: f"{_fmt(*means[a])} (n={counts[a]})" if counts[a] > 1 else f"{means[a][0] * 100:.1f} (n=1)"
            for a in algs
        }
        if diffs:
            m, se = analysis.mean_and_stderr(diffs)
            se_txt = f" ± {se * 100:.1f}" if len(diffs) > 1 else ""
            summary["flexmatch - fullysupervised"] = f"{m * 100:+.1f}{se_txt} (n={len(diffs)})"
        table.loc["mean ± SE"] = [summary.get(c, "-") for c in table.columns]
        lines += [f"{per} labeled images per class, {iters} iterations (test accuracy in %, by seed):", ""]
        lines += [*_markdown(table, "seed"), ""]
        for a in algs:
            walls = [r["wall_s"] for r in sub[sub["algorithm"] == a].to_dict("records") if r.get("wall_s")]
            if walls:
                lines.append(
                    f"- `{a}`: wall time per run {np.median(walls) / 60:.1f} min (median of {len(walls)}; "
                    f"range {min(walls) / 60:.1f}-{max(walls) / 60:.1f})."
                )
        for a in algs:
            tails = [_tail_change(r.get("eval_curve")) for r in sub[sub["algorithm"] == a].to_dict("records")]
            tails = [t for t in tails if t is not None]
            if tails:
                lines.append(
                    f"- `{a}`: best test accuracy in the last fifth of the iterations minus the best "
                    f"before it: {min(tails) * 100:+.1f} to {max(tails) * 100:+.1f} points across "
                    f"{len(tails)} seed(s) (mean {float(np.mean(tails)) * 100:+.1f})."
                )
        lines.append("")
    return "\n".join(lines)


def _planned_iterations(row) -> int:
    """The iterations a sanity row's run was set to: its override, else the cpu preset's."""
    from subsel_plugins.evaluation._semi import CPU

    settings = row.get("settings")
    overrides = (settings.get("overrides") if isinstance(settings, dict) else None) or {}
    return int(overrides.get("num_train_iter", CPU["num_train_iter"]))


def _tail_change(curve):
    """How much a learning curve still rose in its last fifth: its best there minus its best before.

    None when either part has no point. Negative or about zero: the accuracy
    had stopped rising before the last fifth of the iterations.
    """
    if not curve or len(curve) < 2:
        return None
    last_it = curve[-1][0]
    before = [acc for it, acc in curve if it <= 0.8 * last_it]
    tail = [acc for it, acc in curve if it > 0.8 * last_it]
    return max(tail) - max(before) if before and tail else None
