"""
Reading a benchmark run
=======================

``python -m benchmarks`` (``tox -e bench``) writes a run directory:
``results.jsonl`` (one line per selection and framework, with the chosen
indices), ``table.md``, ``manifest.json`` (config, seeds, package versions,
commit, machine) and plots. This example reads the run committed under
``results/quick`` (the quick preset on digits) with pandas and draws accuracy
against budget, mean ± standard error over the seeds, as the paper's Fig. 2.
"""

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd


def repo_root() -> Path:
    here = Path(globals().get("__file__", "examples/x.py")).resolve().parent
    return next(p for p in (here, *here.parents) if (p / "results" / "quick").is_dir())


run = repo_root() / "results" / "quick"
manifest = json.loads((run / "manifest.json").read_text())
print("command:", " ".join(manifest["argv"][1:]) or "(no arguments)", "| commit", manifest["git_commit"][:10])
print("seeds:", manifest["seeds"], "| wall time: %.0f min" % (manifest["wall_s"] / 60))

rows = pd.read_json(run / "results.jsonl", lines=True)
print(rows.columns.tolist())

# %%
# One row per (strategy, budget, seed, framework). Mean and standard error per
# strategy and budget for the linear probe:
probe = rows[rows["framework"] == "linear_probe"]
stats = probe.groupby(["strategy", "budget"])["accuracy"].agg(["mean", "sem"]).reset_index()
print((stats.pivot(index="strategy", columns="budget", values="mean") * 100).round(1))

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for name in ("random", "feature_norm", "gram_schmidt", "typiclust", "probcover", "typiclust_then_gs"):
    s = stats[stats["strategy"] == name]
    ax.plot(s["budget"], 100 * s["mean"], marker="o", label=name)
    ax.fill_between(s["budget"], 100 * (s["mean"] - s["sem"]), 100 * (s["mean"] + s["sem"]), alpha=0.2)
ax.set_xlabel("labeled examples (budget)")
ax.set_ylabel("test accuracy (%)")
ax.set_title("digits, raw pixels, linear probe (shading: ±1 SE over seeds)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Each row also keeps the chosen indices (`labeled`) and the analyses (classes covered,
# mean feature norm, Frechet distance to the pool, selection time):
print(probe.iloc[0][["strategy", "seed", "budget", "classes_covered", "labeled"]].to_dict())
