"""The grid runner: select, evaluate, append one JSON line per finished cell, resume."""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from subsel_plugins import available_strategies, get_evaluation, get_strategy
from subsel_plugins.registry import registrations

from . import analysis
from .config import PAPER_COMBINATIONS, BenchConfig, spec_hash
from .data import PreparedDataset

RESULTS = "results.jsonl"
NORM_RESULTS = "norm_correlation.jsonl"
KEY_FIELDS = (
    "dataset",
    "domain",
    "domain_hash",
    "strategy",
    "budget",
    "seed",
    "framework",
    "framework_hash",
    "initial_pool",
    "pool_size",
    "train_limit",
    "test_limit",
)
NORM_KEY_FIELDS = (
    "dataset",
    "domain",
    "domain_hash",
    "framework",
    "framework_hash",
    "size",
    "subset",
    "pool_size",
    "train_limit",
    "test_limit",
)


def default_strategies() -> list[str]:
    """Every registered strategy, then the paper's baseline-then-norm/GS combinations."""
    base = available_strategies(combinations=False)
    combos = [c for c in PAPER_COMBINATIONS if c.split("_then_")[0] in base]
    return base + combos


def resolve_strategies(names) -> list[str]:
    if names is None:
        return default_strategies()
    if list(names) == ["all"]:
        return available_strategies()
    known = available_strategies()
    for n in names:
        if n not in known:
            get_strategy(n)  # raises with the close-match hint
    return list(names)


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file; a torn last line (an interrupted write) is skipped with a warning."""
    rows = []
    if not path.exists():
        return rows
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(
                    f"{path}: line {i + 1} is not valid JSON (an interrupted write?); ignored.", stacklevel=2
                )
    return rows


def _end_with_newline(path: Path) -> None:
    """Terminate a torn last line so the next appended row starts on a line of its own."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            fh.write(b"\n")


def _append(path: Path, row: dict) -> None:
    # One write per line, flushed and fsynced: a kill leaves at most one torn
    # last line, which read_jsonl skips, so the cell simply runs again.
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _key(row: dict, fields=KEY_FIELDS) -> tuple:
    return tuple(row.get(f) for f in fields)


def framework_specs(config: BenchConfig) -> dict:
    """label -> (spec, hash); the hash covers the name and parameters, so changed settings rerun."""
    out = {}
    for label, fw in config.frameworks.items():
        core = {"name": fw["name"], "params": fw.get("params") or {}}
        if fw["name"] in {"supervised", "flexmatch", "simmatch"}:
            core["params"] = {"device": config.device, **core["params"]}
        out[label] = (core, spec_hash(core))
    return out


def _framework_applies(fw: dict, strategy: str, mult: int, seed: int) -> bool:
    only = fw.get("only") or {}
    return (
        ("strategies" not in only or strategy in only["strategies"])
        and ("budget_multipliers" not in only or mult in only["budget_multipliers"])
        and ("seeds" not in only or seed in only["seeds"])
    )


def _progress(total: int, initial: int, enabled: bool):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the bench extra
        tqdm = None
    if tqdm is None or not enabled:
        return _NullBar()
    return tqdm(total=total, initial=initial, desc="bench", unit="cell", dynamic_ncols=True, file=sys.stderr)


class _NullBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


def run_grid(config: BenchConfig, out_dir, *, progress: bool = True, log=print) -> dict:
    """Run (or resume) the grid of ``config``, appending results under ``out_dir``.

    Returns
    -------
    dict
        ``done`` (cells evaluated now), ``skipped`` (already in the results),
        ``unavailable`` (framework label -> reason), ``strategies`` (resolved
        names), ``wall_s``.
    """
    config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS
    _end_with_newline(results_path)
    done_keys = {_key(r) for r in read_jsonl(results_path)}
    strategies = resolve_strategies(config.strategies)
    specs = framework_specs(config)
    eval_regs = registrations("evaluations")

    evaluators, unavailable = {}, {}
    for label, fw in config.frameworks.items():
        if fw["name"] not in eval_regs:
            get_evaluation(fw["name"])  # raises: unknown evaluation, with the available ones
        ev = get_evaluation(fw["name"], **specs[label][0]["params"])
        ok, why = ev.is_available()
        if not ok:
            if not fw.get("optional"):
                raise RuntimeError(f"evaluation framework {label!r} ({fw['name']}) cannot run here: {why}")
            unavailable[label] = why
            log(f"[bench] skipping optional framework {label!r}: {why}")
            continue
        evaluators[label] = ev

    # Plan the grid first so the progress bar knows its total.
    plan = []
    for dname in config.datasets:
        for dlabel, dom in config.domains.items():
            dhash = spec_hash(dom)
            for seed in config.seeds:
                for strategy in strategies:
                    for mult in config.budget_multipliers:
                        fws = [
                            lab
                            for lab in evaluators
                            if _framework_applies(config.frameworks[lab], strategy, mult, seed)
                        ]
                        plan.append((dname, dlabel, dhash, seed, strategy, mult, fws))

    prepared: dict[str, PreparedDataset] = {}

    def prep(dname):
        if dname not in prepared:
            prepared[dname] = PreparedDataset(
                dname,
                config.pool_size,
                config.dataset_params.get(dname),
                config.train_limit,
                config.test_limit,
            )
        return prepared[dname]

    def cell_key(dname, dlabel, dhash, strategy, budget, seed, fw_label):
        return (
            dname,
            dlabel,
            dhash,
            strategy,
            budget,
            seed,
            fw_label,
            specs[fw_label][1],
            config.initial_pool,
            config.pool_size,
            config.train_limit,
            config.test_limit,
        )

    # budgets are known only once a dataset's class count is: count per dataset lazily
    total = skipped = 0
    pending = []
    for dname, dlabel, dhash, seed, strategy, mult, fws in plan:
        b = prep(dname).num_classes
        todo = []
        for lab in fws:
            if cell_key(dname, dlabel, dhash, strategy, mult * b, seed, lab) in done_keys:
                skipped += 1
            else:
                todo.append(lab)
            total += 1
        if todo:
            pending.append((dname, dlabel, dhash, seed, strategy, mult, todo))

    t0 = time.perf_counter()
    bar = _progress(total, skipped, progress)
    frechet_cache: dict[tuple, analysis.PoolFrechet] = {}
    n_done = 0
    try:
        for dname, dlabel, dhash, seed, strategy, mult, todo in pending:
            pds = prep(dname)
            dom = config.domains[dlabel]
            data = pds.eval_data(dlabel, dom)
            X = data.train_features
            b = pds.num_classes
            budget = mult * b
            bar.set_postfix_str(f"{dname}/{dlabel} {strategy} b={budget} s={seed}")

            init = np.empty(0, dtype=np.int64)
            if config.initial_pool:
                init = np.sort(np.random.default_rng([seed, 7]).choice(pds.n_pool, size=b, replace=False))
            t = time.perf_counter()
            picked = get_strategy(strategy, random_state=seed).select(
                X, budget - init.size, labeled=init if init.size else None
            )
            sel_time = time.perf_counter() - t
            labeled = np.concatenate([init, picked]).astype(np.int64)

            covered = analysis.class_coverage(data.train_labels[labeled], b)
            fd = None
            if config.frechet:
                fkey = (dname, dlabel)
                if fkey not in frechet_cache:
                    frechet_cache[fkey] = analysis.PoolFrechet(X)
                fd = frechet_cache[fkey](labeled)
            norm = analysis.mean_feature_norm(X, labeled)

            for lab in todo:
                t = time.perf_counter()
                res = evaluators[lab].evaluate(data, labeled, seed)
                row = {
                    "dataset": dname,
                    "domain": dlabel,
                    "domain_hash": dhash,
                    "strategy": strategy,
                    "budget": budget,
                    "budget_multiplier": mult,
                    "seed": seed,
                    "framework": lab,
                    "framework_name": config.frameworks[lab]["name"],
                    "framework_hash": specs[lab][1],
                    "initial_pool": config.initial_pool,
                    "pool_size": config.pool_size,
                    "train_limit": config.train_limit,
                    "test_limit": config.test_limit,
                    "n_pool": pds.n_pool,
                    "n_test": len(pds.test_labels),
                    "num_classes": b,
                    "accuracy": res["accuracy"],
                    "extra": {k: v for k, v in res.items() if k != "accuracy"},
                    "classes_covered": covered,
                    "class_coverage": covered / b,
                    "frechet": fd,
                    "mean_feature_norm": norm,
                    "selection_time_s": sel_time,
                    "eval_time_s": time.perf_counter() - t,
                    "labeled": labeled.tolist(),
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
                _append(results_path, row)
                n_done += 1
                bar.update(1)
    finally:
        bar.close()

    if config.norm_correlation:
        n_done += run_norm_correlation(config, out, prepared, prep, evaluators, specs, progress, log)

    return {
        "done": n_done,
        "skipped": skipped,
        "unavailable": unavailable,
        "strategies": strategies,
        "wall_s": time.perf_counter() - t0,
    }


def run_norm_correlation(config, out: Path, prepared, prep, evaluators, specs, progress, log) -> int:
    """Fig. 7: accuracy of uniformly random subsets against their mean feature norm."""
    nc = config.norm_correlation
    label = nc["framework"]
    if label not in evaluators:
        log(f"[bench] norm correlation skipped: framework {label!r} is unavailable.")
        return 0
    path = out / NORM_RESULTS
    _end_with_newline(path)
    done = {_key(r, NORM_KEY_FIELDS) for r in read_jsonl(path)}
    K = int(nc["subsets"])
    jobs = []
    for dname in config.datasets:
        b = prep(dname).num_classes
        for dlabel, dom in config.domains.items():
            dhash = spec_hash(dom)
            for m in nc.get("size_multipliers", [1]):
                for i in range(K):
                    key = (
                        dname,
                        dlabel,
                        dhash,
                        label,
                        specs[label][1],
                        m * b,
                        i,
                        config.pool_size,
                        config.train_limit,
                        config.test_limit,
                    )
                    if key not in done:
                        jobs.append((key, dom))
    bar = _progress(len(jobs), 0, progress and bool(jobs))
    try:
        for key, dom in jobs:
            dname, dlabel, dhash, _, fhash, size, i = key[:7]
            pds = prep(dname)
            data = pds.eval_data(dlabel, dom)
            # subset i of a size is the same whatever the strategy list or seeds
            rows = np.random.default_rng([size, i, 99]).choice(pds.n_pool, size=size, replace=False)
            res = evaluators[label].evaluate(data, rows, i)
            _append(
                path,
                {
                    "dataset": dname,
                    "domain": dlabel,
                    "domain_hash": dhash,
                    "framework": label,
                    "framework_hash": fhash,
                    "size": size,
                    "subset": i,
                    "pool_size": config.pool_size,
                    "train_limit": config.train_limit,
                    "test_limit": config.test_limit,
                    "accuracy": res["accuracy"],
                    "mean_feature_norm": analysis.mean_feature_norm(data.train_features, rows),
                    "classes_covered": analysis.class_coverage(data.train_labels[rows], pds.num_classes),
                },
            )
            bar.update(1)
    finally:
        bar.close()
    return len(jobs)
