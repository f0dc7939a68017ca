"""The semi-supervised check (preset ``semi``): its sanity run and the docs tables, from result files.

``python -m benchmarks.semi sanity [--seeds N] [--labels-per-class K] [--out DIR]``
    FlexMatch (USB's, ``cpu`` preset) and the same network, augmentation and
    schedule on the labeled rows alone (USB's ``fullysupervised``), on the
    same class-balanced random labeled set per seed (K per class from the
    pool of the ``semi`` preset: the first 10,000 Fashion-MNIST training
    images). One JSON line per run in ``DIR/sanity.jsonl``; a rerun skips
    runs already there (resumable), then draws the learning curves.
``python -m benchmarks.semi docs [--run-dir DIR] [--sanity-dir DIR] [--out DIR] [--image PNG]``
    Writes ``semi_table.md`` (accuracies and the paired differences of the
    paper's four claims, from the ``semi`` run's ``results.jsonl``) and
    ``semi_sanity.md`` (from ``sanity.jsonl``) into ``--out``, and the
    learning-curve PNG: what docs/guide/semi_supervised_results.md includes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

#: Where the committed result files of the check live (the docs read them from here).
DOCS_RESULTS = Path("docs/_generated/semi")
#: The algorithms of the sanity run: FlexMatch, and the same network on the labeled rows alone.
SANITY_ALGORITHMS = ("flexmatch", "fullysupervised")
SANITY_FILE = "sanity.jsonl"
#: The pool of the sanity run: the ``semi`` preset's (the first ``train_limit`` training images).
SANITY_POOL = 10000


def sanity_rows(labels, per_class: int, seed: int, num_classes: int) -> np.ndarray:
    """``per_class`` random rows of each class among ``labels`` (seeded by ``[seed, 23]``), sorted.

    Raises
    ------
    InvalidValueError
        When a class has fewer than ``per_class`` rows.
    """
    from subsel_plugins.errors import InvalidValueError

    labels = np.asarray(labels)
    rng = np.random.default_rng([int(seed), 23])
    out = []
    for c in range(num_classes):
        rows = np.flatnonzero(labels == c)
        if rows.size < per_class:
            raise InvalidValueError(
                f"labels_per_class={per_class}, but class {c} has {rows.size} rows in the pool."
            )
        out.append(rng.choice(rows, size=per_class, replace=False))
    return np.sort(np.concatenate(out)).astype(np.int64)


def run_sanity(
    out_dir,
    seeds,
    per_class: int = 4,
    dataset: str = "fashion_mnist",
    overrides=None,
    algorithms=SANITY_ALGORITHMS,
    log=print,
):
    """Run (or resume) the sanity runs; returns the rows of ``out_dir/sanity.jsonl``."""
    from subsel_plugins import get_dataset
    from subsel_plugins.evaluation import EvalData, SemiSupervisedUSB

    from .config import spec_hash
    from .harness import _append, read_jsonl

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SANITY_FILE
    settings = {"preset": "cpu", "overrides": overrides or {}}
    key_hash = spec_hash(settings)
    done = {
        (r["algorithm"], r["seed"], r["labels_per_class"], r["dataset"])
        for r in read_jsonl(path)
        if r.get("settings_hash") == key_hash
    }
    ds = get_dataset(dataset)
    n = min(SANITY_POOL, len(ds.train))
    data = EvalData(
        train_labels=ds.train.labels[:n],
        test_labels=ds.test.labels,
        num_classes=ds.num_classes,
        train_images=ds.train.images[:n],
        test_images=ds.test.images,
        name=dataset,
        meta={"pool_rows": np.arange(n), "dataset_params": {}},
    )
    for seed in seeds:
        rows = sanity_rows(data.train_labels, per_class, seed, ds.num_classes)
        for alg in algorithms:
            if (alg, seed, per_class, dataset) in done:
                continue
            ev = SemiSupervisedUSB(alg, preset="cpu", overrides=overrides, device="cpu")
            t, c = time.perf_counter(), time.process_time()
            res = ev.evaluate(data, rows, seed)
            row = {
                "algorithm": alg,
                "seed": int(seed),
                "labels_per_class": int(per_class),
                "dataset": dataset,
                "settings": settings,
                "settings_hash": key_hash,
                "labeled": rows.tolist(),
                "wall_s": time.perf_counter() - t,
                "cpu_s": time.process_time() - c,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **res,
            }
            _append(path, row)
            log(f"[semi] {alg} seed {seed}: {res['accuracy'] * 100:.1f}% in {row['wall_s']:.0f} s")
    return [r for r in read_jsonl(path) if r.get("settings_hash") == key_hash]


def curve_plot(rows, path, title: str = "") -> Path:
    """Test accuracy against iteration for each run (colour by algorithm), shaded last fifth; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    colours = {"flexmatch": "tab:blue", "fullysupervised": "tab:orange"}
    from subsel_plugins.evaluation._semi import CPU

    from .report import _planned_iterations

    seen = set()
    last = 0
    runs = {}

    def kind(r):
        n = _planned_iterations(r)
        return r["algorithm"] if n == CPU["num_train_iter"] else f"{r['algorithm']}, {n} iterations"

    for r in rows:
        runs[kind(r)] = runs.get(kind(r), 0) + bool(r.get("eval_curve"))
    for r in rows:
        curve = r.get("eval_curve") or []
        if not curve:
            continue
        it, acc = zip(*curve)
        k = kind(r)
        if k == r["algorithm"]:
            last = max(last, it[-1])
        label = None if k in seen else f"{k} ({runs[k]} seed{'s' if runs[k] > 1 else ''})"
        seen.add(k)
        style = "-" if k == r["algorithm"] else "--"
        colour = colours.get(r["algorithm"], "grey")
        ax.plot(it, np.asarray(acc) * 100, style, color=colour, alpha=0.8, lw=1.2, label=label)
    if last:
        ax.axvspan(0.8 * last, last, color="0.9", zorder=0, label=f"last fifth of {last}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_docs(run_dir, sanity_dir, out_dir, image) -> list[Path]:
    """``semi_table.md``, ``semi_sanity.md`` (in ``out_dir``) and the curve PNG ``image``, from results."""
    from .config import SEMI_CLAIMS, BenchConfig, preset
    from .harness import read_jsonl, resolve_strategies
    from .report import current_rows, sanity_table, semi_tables

    run_dir, out = Path(run_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        cfg = BenchConfig(**json.loads(manifest.read_text(encoding="utf-8"))["config"])
    else:
        cfg = preset("semi")
    strategies = resolve_strategies(cfg.strategies)
    rows = current_rows(cfg, run_dir, strategies)
    planned = len(cfg.datasets) * len(cfg.domains) * len(strategies) * len(cfg.budget_multipliers)
    planned *= len(cfg.seeds) * len(cfg.frameworks)
    num_classes = int(rows[0]["num_classes"]) if rows else 10
    written = []
    table = out / "semi_table.md"
    table.write_text(semi_tables(rows, SEMI_CLAIMS, num_classes, planned), encoding="utf-8")
    written.append(table)
    times = [r["eval_time_s"] for r in rows if r.get("eval_time_s")]
    cpu = [r["eval_cpu_s"] for r in rows if r.get("eval_cpu_s")]
    text = (
        f"Wall time per cell (the FlexMatch training and its ten evaluations; selection excluded), over "
        f"the {len(times)} cells done: median {np.median(times) / 60:.1f} min, range "
        f"{min(times) / 60:.1f}-{max(times) / 60:.1f} min; the whole grid of {planned} cells at the "
        f"median: {planned * np.median(times) / 3600:.1f} h."
        if times
        else "No cell of the grid has finished yet."
    )
    if cpu:
        text += (
            f" CPU time per cell (one thread: what a cell costs on an idle core), over {len(cpu)} cell(s) "
            f"that recorded it: median {np.median(cpu) / 60:.1f} min; the whole grid at the median: "
            f"{planned * np.median(cpu) / 3600:.1f} h."
        )
    (out / "semi_times.md").write_text(text + "\n", encoding="utf-8")
    written.append(out / "semi_times.md")
    srows = read_jsonl(Path(sanity_dir) / SANITY_FILE)
    sanity = out / "semi_sanity.md"
    sanity.write_text(sanity_table(srows), encoding="utf-8")
    written.append(sanity)
    if srows:
        per = sorted({r["labels_per_class"] for r in srows})[0]
        # the preset's runs, and a longer run of one cell dashed
        sel = [r for r in srows if r["labels_per_class"] == per]
        written.append(
            curve_plot(
                sel,
                image,
                f"Fashion-MNIST, {per} labels per class, subsel_cnn (USB cpu preset), one line per seed",
            )
        )
    return written


def main(argv=None) -> int:
    from subsel_plugins.cli import DoorParser, run_door

    p = DoorParser(prog="python -m benchmarks.semi", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sanity", help="FlexMatch against supervised training on the same labeled rows")
    s.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    s.add_argument("--labels-per-class", type=int, default=4)
    s.add_argument("--iterations", type=int, help="override the cpu preset's num_train_iter")
    s.add_argument("--out", default=str(DOCS_RESULTS))
    s.add_argument(
        "--algorithms",
        nargs="+",
        default=list(SANITY_ALGORITHMS),
        choices=SANITY_ALGORITHMS,
        help="run only these (e.g. one per process; the rows go to the same file)",
    )
    d = sub.add_parser("docs", help="write the docs tables and the curve from the result files")
    d.add_argument("--run-dir", default=str(DOCS_RESULTS), help="the semi run's directory (results.jsonl)")
    d.add_argument("--sanity-dir", default=str(DOCS_RESULTS))
    d.add_argument("--out", default="docs/_generated")
    d.add_argument("--image", default="docs/images/semi_curve.png")
    args = p.parse_args(argv)

    def run():
        if args.command == "sanity":
            from .cli import _set_threads

            _set_threads(None)
            overrides = {"num_train_iter": args.iterations} if args.iterations else None
            run_sanity(
                args.out,
                range(args.seeds),
                args.labels_per_class,
                overrides=overrides,
                algorithms=args.algorithms,
            )
        else:
            for path in write_docs(args.run_dir, args.sanity_dir, args.out, args.image):
                print(f"[semi] wrote {path}")
        return 0

    return run_door("python -m benchmarks.semi", run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
