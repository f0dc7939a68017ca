"""Tables of published numbers, generated from the result files a benchmark run wrote.

The committed run directories under ``results/`` are what ``python -m
benchmarks`` wrote (``results.jsonl``, ``table.md``, ``manifest.json``). The
site includes their ``table.md``; the README carries one compact table
generated here, between ``<!-- BEGIN generated:NAME -->`` and ``<!-- END
generated:NAME -->`` markers. ``tests/test_docs.py`` fails when the README's
block differs from what this module generates now, and
``python docs/_ext/published.py --write`` rewrites it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
README = ROOT / "README.md"

#: The committed run of ``tox -e bench`` (the quick preset, ``python -m benchmarks`` with no arguments).
QUICK = RESULTS / "quick"
#: The reduced, deterministic variant a test reruns on every CI run.
QUICK_CI = RESULTS / "quick-ci"
#: Its command line (arguments of ``python -m benchmarks``); also in its manifest.json.
QUICK_CI_ARGS = [
    "--frameworks",
    "linear_probe",
    "--seeds",
    "1",
    "--budgets",
    "1",
    "3",
    "6",
    "--no-norm-correlation",
    "--no-plots",
    "--no-progress",
]


def _benchmarks():
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from benchmarks import report
    from benchmarks.config import BenchConfig

    return report, BenchConfig


def load_run(run_dir: Path):
    """(config, manifest, rows) of a committed run directory, rows as the report reads them."""
    report, BenchConfig = _benchmarks()
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text(encoding="utf-8"))
    config = BenchConfig(**manifest["config"])
    rows = report.current_rows(config, run_dir, manifest["strategies"])
    return config, manifest, rows


def _mean_se(values):
    from benchmarks.analysis import mean_and_stderr

    return mean_and_stderr(values)


def compact_table(run_dir: Path = QUICK, framework: str = "linear_probe", budgets=(10, 30, 60)) -> str:
    """Markdown: test accuracy (%) per strategy at a few budgets and the mean over all budgets."""
    config, manifest, rows = load_run(run_dir)
    rows = [r for r in rows if r["framework"] == framework]
    strategies = [s for s in manifest["strategies"] if any(r["strategy"] == s for r in rows)]
    all_budgets = sorted({r["budget"] for r in rows})
    acc = {(r["strategy"], r["budget"]): [] for r in rows}
    for r in rows:
        acc[(r["strategy"], r["budget"])].append(r["accuracy"])
    stats = {k: _mean_se(v) for k, v in acc.items()}
    best = {b: max(stats[(s, b)][0] for s in strategies) for b in budgets}
    head = ["strategy", *[f"b={b}" for b in budgets], f"mean, b={all_budgets[0]}..{all_budgets[-1]}"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for s in strategies:
        cells = []
        for b in budgets:
            m, se = stats[(s, b)]
            txt = f"{100 * m:.1f} ± {100 * se:.1f}"
            cells.append(f"**{txt}**" if abs(m - best[b]) < 1e-12 else txt)
        overall = sum(stats[(s, b)][0] for b in all_budgets) / len(all_budgets)
        lines.append(f"| `{s}` | " + " | ".join(cells) + f" | {100 * overall:.1f} |")
    seeds = ", ".join(map(str, manifest["seeds"]))
    commit = (manifest.get("git_commit") or "unknown")[:12]
    minutes = manifest.get("wall_s") or 0
    dataset, domain = rows[0]["dataset"], rows[0]["domain"]
    resumed, run_now = manifest.get("cells_resumed") or 0, manifest.get("cells_run_now") or 0
    cores = manifest["machine"]["cpu_count"]
    if resumed:  # a resumed run: only its new cells ran at this commit
        when = (
            f"{run_now} cells run at commit `{commit}` in {minutes:.0f} s on {cores} cores, "
            f"{resumed} resumed from the directory's earlier run"
        )
    else:
        when = f"commit `{commit}`, {minutes / 60:.0f} min of wall time on {cores} cores"
    note = (
        f"Test accuracy in % on the {_test_size(rows)} test images of `{dataset}`, `{framework}` on "
        f"the `{domain}` features, mean ± standard error over seeds {seeds}; best per budget in "
        f"bold. Generated from `{run_dir.relative_to(ROOT)}/results.jsonl` ({when})."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"


def _test_size(rows) -> str:
    n = {r.get("n_test") for r in rows} - {None}
    return f"{n.pop():,}" if len(n) == 1 else "held-out"


#: What ``python -m benchmarks.semi docs`` wrote from the committed semi-supervised grid.
SEMI_DOCS = ROOT / "docs" / "_generated"


def semi_results() -> str:
    """The semi-supervised grid's paired differences, its times and the sanity check's first table.

    Taken from the files ``python -m benchmarks.semi docs`` writes from
    ``docs/_generated/semi/`` (a test checks those against the results).
    """
    table = (SEMI_DOCS / "semi_table.md").read_text(encoding="utf-8")
    done = table.splitlines()[0]
    claims = table[table.index("Paired differences") :].strip()
    times = (SEMI_DOCS / "semi_times.md").read_text(encoding="utf-8").strip()
    sanity = (SEMI_DOCS / "semi_sanity.md").read_text(encoding="utf-8").split("\n\n")
    return (
        f"{done} {times}\n\n{claims}\n\nSanity check, FlexMatch against the same network trained on the "
        f"labeled rows alone: {sanity[0].strip()[0].lower() + sanity[0].strip()[1:]}\n\n{sanity[1].strip()}\n"
    )


GENERATED = {"quick-results": compact_table, "semi-results": semi_results}
_BLOCK = re.compile(
    r"(<!-- BEGIN generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated:(?P=name) -->)", re.S
)


def readme_blocks(text: str) -> dict[str, str]:
    """The generated blocks of a markdown text, by name."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


def render_readme(text: str) -> str:
    """``text`` with every generated block rewritten from the result files."""

    def sub(m):
        return m.group(1) + GENERATED[m["name"]]() + m.group(4)

    return _BLOCK.sub(sub, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Regenerate the README's generated tables from results/.")
    p.add_argument("--write", action="store_true", help="rewrite README.md (default: print the tables)")
    args = p.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = render_readme(text)
    if args.write:
        README.write_text(new, encoding="utf-8")
    else:
        for name, fn in GENERATED.items():
            print(f"<!-- {name} -->\n{fn()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
