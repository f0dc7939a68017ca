"""The run's outputs: markdown table, Fig. 2-style plots, Fig. 7 scatter, manifest."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import analysis
from .config import BenchConfig, spec_hash
from .harness import NORM_RESULTS, RESULTS, build_strategy, framework_specs, read_jsonl, strategy_hash

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

    def expected_strategy_hash(r):
        # what the harness passes this strategy now (the class count, where it
        # takes one): rows from before that change (ProbCover without n_classes) drop out
        key = (r["strategy"], r.get("num_classes"))
        if key not in shash:
            shash[key] = strategy_hash(build_strategy(key[0], key[1])[1]) if isinstance(key[1], int) else None
        return shash[key]

    keep = []
    for r in read_jsonl(Path(out_dir) / RESULTS):
        if (
            r.get("dataset") in config.datasets
            and dom_hash.get(r.get("domain")) == r.get("domain_hash")
            and fw_hash.get(r.get("framework")) == r.get("framework_hash")
            and r.get("strategy") in strategies
            and r.get("seed") in config.seeds
            and r.get("budget_multiplier") in config.budget_multipliers
            and r.get("initial_pool") == config.initial_pool
            and r.get("pool_size") == config.pool_size
            and r.get("train_limit") == config.train_limit
            and r.get("test_limit") == config.test_limit
            and r.get("strategy_hash") == expected_strategy_hash(r)
        ):
            keep.append(r)
    return keep


def _group(rows, keys, value):
    out = defaultdict(list)
    for r in rows:
        v = r.get(value)
        if v is not None:
            out[tuple(r[k] for k in keys)].append(v)
    return out


def _fmt(mean, se, scale=100.0, digits=1):
    if np.isnan(mean):
        return "-"
    return f"{mean * scale:.{digits}f} ± {se * scale:.{digits}f}"


def _pool_sentence(config: BenchConfig) -> str:
    prefix = f"the first {config.train_limit} training images" if config.train_limit else "the training split"
    if config.pool_size:
        return f" Pool: a fixed random {config.pool_size} of {prefix}."
    return f" Pool: {prefix}." if config.train_limit else ""


def markdown_tables(config: BenchConfig, rows, strategies, norm_rows=(), unavailable=None) -> str:
    """Mean ± standard error of test accuracy per strategy and budget, plus the analyses."""
    lines = [f"# Benchmark results (preset `{config.preset}`)", ""]
    seeds = ", ".join(map(str, config.seeds))
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
    lines.append("Best mean per budget in **bold**.")
    lines.append("")
    for lab, why in (unavailable or {}).items():
        lines.append(f"- framework `{lab}` skipped: {why}")
    if unavailable:
        lines.append("")
    acc = _group(rows, ("dataset", "domain", "framework", "strategy", "budget"), "accuracy")
    combos = sorted(
        {(r["dataset"], r["domain"], r["framework"]) for r in rows},
        key=lambda c: (
            config.datasets.index(c[0]),
            list(config.domains).index(c[1]),
            list(config.frameworks).index(c[2]),
        ),
    )
    for dname, dlabel, fw in combos:
        budgets = sorted(
            {r["budget"] for r in rows if (r["dataset"], r["domain"], r["framework"]) == (dname, dlabel, fw)}
        )
        strat_here = [s for s in strategies if any((dname, dlabel, fw, s, b) in acc for b in budgets)]
        fw_name = config.frameworks[fw]["name"]
        lines.append(f"## {dname} · features `{dlabel}` · `{fw}` ({fw_name})")
        lines.append("")
        lines.append("| strategy | " + " | ".join(f"b={b}" for b in budgets) + " | mean |")
        lines.append("|---|" + "---|" * (len(budgets) + 1))
        best = {}
        for b in budgets:
            means = [
                np.mean(acc[(dname, dlabel, fw, s, b)])
                for s in strat_here
                if (dname, dlabel, fw, s, b) in acc
            ]
            best[b] = max(means) if means else None
        for s in strat_here:
            cells, means = [], []
            for b in budgets:
                v = acc.get((dname, dlabel, fw, s, b))
                if not v:
                    cells.append("-")
                    continue
                m, se = analysis.mean_and_stderr(v)
                means.append(m)
                txt = _fmt(m, se)
                cells.append(f"**{txt}**" if best[b] is not None and np.isclose(m, best[b]) else txt)
            overall = f"{np.mean(means) * 100:.1f}" if len(means) == len(budgets) else "-"
            lines.append(f"| {s} | " + " | ".join(cells) + f" | {overall} |")
        n = {len(v) for k, v in acc.items() if k[:3] == (dname, dlabel, fw)}
        lines.append("")
        lines.append(f"Seeds per cell: {sorted(n)}.")
        lines.append("")

    # analyses: identical across frameworks, so read one row per selection
    sel = {}
    for r in rows:
        sel.setdefault((r["dataset"], r["domain"], r["strategy"], r["budget"], r["seed"]), r)
    sel_rows = list(sel.values())
    for dname in config.datasets:
        for dlabel in config.domains:
            here = [r for r in sel_rows if r["dataset"] == dname and r["domain"] == dlabel]
            if not here:
                continue
            budgets = sorted({r["budget"] for r in here})
            strat_here = [s for s in strategies if any(r["strategy"] == s for r in here)]
            lines.append(f"## Subset analyses: {dname} · features `{dlabel}`")
            lines.append("")
            lines.append(
                "Frechet distance between the subset's features and the rest of the pool (the paper's "
                "Table 2, in this feature domain; lower = closer to the pool), mean over seeds:"
            )
            lines.append("")
            lines.append("| strategy | " + " | ".join(f"b={b}" for b in budgets) + " |")
            lines.append("|---|" + "---|" * len(budgets))
            fd = _group(here, ("strategy", "budget"), "frechet")
            cov = _group(here, ("strategy", "budget"), "classes_covered")
            tim = _group(here, ("strategy",), "selection_time_s")
            nrm = _group(here, ("strategy", "budget"), "mean_feature_norm")
            for s in strat_here:
                cells = [f"{np.mean(fd[(s, b)]):.3g}" if fd.get((s, b)) else "-" for b in budgets]
                lines.append(f"| {s} | " + " | ".join(cells) + " |")
            lines.append("")
            ncls = here[0]["num_classes"]
            lines.append(
                f"Classes covered (of {ncls}), mean over seeds; mean feature norm of the subset; "
                "selection time:"
            )
            lines.append("")
            lines.append(
                "| strategy | "
                + " | ".join(f"cov b={b}" for b in budgets)
                + " | mean norm | selection s (mean / max) |"
            )
            lines.append("|---|" + "---|" * (len(budgets) + 2))
            for s in strat_here:
                cells = [f"{np.mean(cov[(s, b)]):.1f}" if cov.get((s, b)) else "-" for b in budgets]
                norms = [v for b in budgets for v in nrm.get((s, b), [])]
                t = tim.get((s,), [])
                lines.append(
                    f"| {s} | "
                    + " | ".join(cells)
                    + f" | {np.mean(norms):.3g} | "
                    + (f"{np.mean(t):.3f} / {np.max(t):.3f}" if t else "-")
                    + " |"
                )
            lines.append("")
            lines.extend(_delta_table(here, strat_here, budgets))

    if norm_rows:
        lines.append("## Accuracy against mean feature norm of uniformly random subsets (the paper's Fig. 7)")
        lines.append("")
        lines.append(
            "| dataset | features | framework | size | subsets | Pearson r | p-value | slope (acc %/norm) |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        groups = _group(norm_rows, ("dataset", "domain", "framework", "size"), "accuracy")
        for key in sorted(groups):
            sub = [r for r in norm_rows if (r["dataset"], r["domain"], r["framework"], r["size"]) == key]
            fit = analysis.norm_accuracy_fit(
                [r["mean_feature_norm"] for r in sub], [r["accuracy"] for r in sub]
            )
            lines.append(
                f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {fit['n']} | {fit['pearson_r']:.3f} | "
                f"{fit['p_value']:.3g} | {fit['slope'] * 100:.3g} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def _delta_table(rows, strategies, budgets) -> list[str]:
    """ProbCover's radius (``delta_``), purity and pseudo-label k, and its balls' coverage per budget."""
    with_delta = [
        s for s in strategies if any(r["strategy"] == s and r.get("delta_") is not None for r in rows)
    ]
    if not with_delta:
        return []
    lines = [
        "Ball radius chosen by ProbCover (`delta_`, mean over seeds and budgets; it does not depend on the "
        "budget), purity of the balls w.r.t. the k-means pseudo-labels (`purity_`), their k "
        "(`n_clusters_`), and the fraction of the pool within `delta_` of the labeled subset "
        "(ball coverage, mean over seeds):",
        "",
        "| strategy | delta | purity | k | " + " | ".join(f"cover b={b}" for b in budgets) + " |",
        "|---|---|---|---|" + "---|" * len(budgets),
    ]
    dl = _group(rows, ("strategy",), "delta_")
    pu = _group(rows, ("strategy",), "purity_")
    kk = _group(rows, ("strategy",), "n_clusters_")
    cv = _group(rows, ("strategy", "budget"), "ball_coverage")
    for s in with_delta:
        d, p, k = dl.get((s,), []), pu.get((s,), []), sorted(set(kk.get((s,), [])))
        cells = [f"{np.mean(cv[(s, b)]) * 100:.1f}%" if cv.get((s, b)) else "-" for b in budgets]
        lines.append(
            f"| {s} | {np.mean(d):.3f} ({np.min(d):.3f}-{np.max(d):.3f}) | "
            + (f"{np.mean(p):.4f}" if p else "-")
            + " | "
            + (", ".join(map(str, k)) if k else "-")
            + " | "
            + " | ".join(cells)
            + " |"
        )
    lines.append("")
    return lines


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
    acc = _group(rows, ("dataset", "domain", "framework", "strategy", "budget"), "accuracy")
    combos = sorted({(r["dataset"], r["domain"], r["framework"]) for r in rows})
    cmap = plt.get_cmap("tab10")
    for dname, dlabel, fw in combos:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for i, s in enumerate(strategies):
            pts = sorted((k[4], v) for k, v in acc.items() if k[:4] == (dname, dlabel, fw, s))
            if not pts:
                continue
            b = np.array([p[0] for p in pts])
            ms = np.array([analysis.mean_and_stderr(p[1]) for p in pts]) * 100
            style = "--" if "_then_" in s else "-"
            ax.plot(b, ms[:, 0], style, marker="o", ms=3, color=cmap(i % 10), label=s)
            ax.fill_between(b, ms[:, 0] - ms[:, 1], ms[:, 0] + ms[:, 1], color=cmap(i % 10), alpha=0.2)
        ax.set_xticks(sorted({k[4] for k in acc if k[:3] == (dname, dlabel, fw)}))
        ax.set_xlabel("budget (labeled examples)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{dname} · {dlabel} · {fw}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = pdir / f"accuracy_{dname}_{dlabel}_{fw}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    groups = sorted({(r["dataset"], r["domain"], r["framework"]) for r in norm_rows})
    for dname, dlabel, fw in groups:
        sub = [r for r in norm_rows if (r["dataset"], r["domain"], r["framework"]) == (dname, dlabel, fw)]
        sizes = sorted({r["size"] for r in sub})
        fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.8), squeeze=False)
        for ax, size in zip(axes[0], sizes):
            pts = [r for r in sub if r["size"] == size]
            x = np.array([r["mean_feature_norm"] for r in pts])
            y = np.array([r["accuracy"] for r in pts]) * 100
            ax.scatter(x, y, s=10, alpha=0.7)
            fit = analysis.norm_accuracy_fit(x, y / 100)
            if np.isfinite(fit["slope"]):
                xs = np.linspace(x.min(), x.max(), 50)
                ax.plot(xs, (fit["intercept"] + fit["slope"] * xs) * 100, "r-", lw=1.5)
            ax.set_title(f"{size} random examples, r = {fit['pearson_r']:.2f}")
            ax.set_xlabel("mean feature norm of the subset")
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
        fig.suptitle(f"{dname} · {dlabel} · {fw}")
        fig.tight_layout()
        path = pdir / f"norm_correlation_{dname}_{dlabel}_{fw}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


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
