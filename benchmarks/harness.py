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
from subsel_plugins.errors import InvalidValueError
from subsel_plugins.evaluation import EvaluatorUnavailable
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
    # None unless the harness passes a strategy parameters of its own (the class
    # count): rows of other strategies keep their old keys, and rows of strategies
    # that now get n_classes (ProbCover and its combinations) from before that
    # change no longer match, so they run again instead of being reused.
    "strategy_hash",
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


def class_count_params(strategy, n_classes: int, given=()) -> dict:
    """``{param: n_classes}`` for every parameter of ``strategy`` that takes the class count.

    A parameter named ``n_classes``, or ending in ``__n_classes`` (a part of a
    combination, e.g. ``first__n_classes``), per ``strategy.get_params(deep=True)``:
    ProbCover, its combinations and any third-party strategy with such a
    parameter. Names in ``given`` (set by the user) are left alone; a bare
    ``n_classes`` in ``given`` covers every part.
    """
    get_params = getattr(strategy, "get_params", None)
    if not callable(get_params) or "n_classes" in given:
        return {}
    try:
        names = list(get_params(deep=True))
    except TypeError:  # a get_params without deep=
        names = list(get_params())
    return {
        k: int(n_classes) for k in names if (k == "n_classes" or k.endswith("__n_classes")) and k not in given
    }


def build_strategy(name: str, n_classes: int, **params):
    """``get_strategy(name, **params)`` with the class count passed where the strategy takes it.

    Returns the strategy and the parameters the harness added (empty when none).
    """
    strategy = get_strategy(name, **params)
    extra = class_count_params(strategy, n_classes)
    if extra:
        strategy.set_params(**extra)
    return strategy, extra


def strategy_hash(extra: dict):
    """The resume-key field of the parameters the harness added: None when it added none."""
    return spec_hash(extra) if extra else None


#: Attributes a strategy sets when it selects, recorded in each results row.
FITTED_ATTRS = ("delta_", "purity_", "n_clusters_")


def fitted_attributes(strategy) -> dict:
    """``delta_``, ``purity_``, ``n_clusters_`` of the strategy, or of the fitted part of a combination.

    A :class:`~subsel_plugins.ThenQuery` clones its parts: their fitted state is
    read from ``first_`` / ``then_`` when the combination keeps them (checked
    defensively, depth-first, first found wins); absent attributes are None.
    """
    out = dict.fromkeys(FITTED_ATTRS)
    stack, seen = [strategy], set()
    while stack:
        obj = stack.pop(0)
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        for a in FITTED_ATTRS:
            if out[a] is None:
                v = getattr(obj, a, None)
                if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                    out[a] = v.item() if isinstance(v, np.generic) else v
        stack.extend(getattr(obj, part, None) for part in ("first_", "then_"))
    return out


def ball_coverage(X, labeled, delta) -> float | None:
    """Fraction of the pool within ``delta`` (strictly) of a labeled row, on L2-normalized rows.

    ProbCover's objective for the subset it chose (the coverage of its balls);
    None when ``delta`` is None.
    """
    if delta is None or len(labeled) == 0:
        return None
    from sklearn.preprocessing import normalize

    F = normalize(np.asarray(X, dtype=np.float32))
    L = F[np.asarray(labeled)]
    d2 = float(delta) ** 2
    covered = np.zeros(F.shape[0], dtype=bool)
    for r in range(0, F.shape[0], 4096):
        blk = F[r : r + 4096]
        D2 = (blk * blk).sum(1)[:, None] + (L * L).sum(1)[None, :] - 2.0 * (blk @ L.T)
        covered[r : r + 4096] = (D2 < d2).any(axis=1)
    return float(covered.mean())


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


def needs_device(name: str) -> bool:
    """Whether the registered evaluation ``name`` declares ``needs_device`` (False when unknown)."""
    reg = registrations("evaluations").get(name)
    return bool(getattr(reg.obj, "needs_device", False)) if reg is not None else False


def framework_specs(config: BenchConfig) -> dict:
    """label -> (spec, hash); the hash covers the name and parameters, so changed settings rerun.

    An evaluation that declares ``needs_device`` gets the config's device
    (unless its parameters set one).
    """
    out = {}
    for label, fw in config.frameworks.items():
        core = {"name": fw["name"], "params": fw.get("params") or {}}
        if needs_device(fw["name"]):
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
                raise EvaluatorUnavailable(
                    f"evaluation framework {label!r} ({fw['name']}) cannot run here: {why}"
                )
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

    shash_cache: dict[tuple, str | None] = {}

    def shash(strategy, n_classes):
        if (strategy, n_classes) not in shash_cache:
            shash_cache[(strategy, n_classes)] = strategy_hash(build_strategy(strategy, n_classes)[1])
        return shash_cache[(strategy, n_classes)]

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
            shash(strategy, prep(dname).num_classes),
        )

    # budgets are known only once a dataset's class count is: count per dataset lazily
    total = skipped = 0
    pending = []
    for dname, dlabel, dhash, seed, strategy, mult, fws in plan:
        b = prep(dname).num_classes
        if mult * b > prep(dname).n_pool:  # a user error: caught before any cell runs
            raise InvalidValueError(
                f"budget multiplier {mult} asks for {mult * b} of the {prep(dname).n_pool} pool examples "
                f"of {dname!r}; lower --budgets (or raise --pool-size/--train-limit)."
            )
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
            # the class count goes to every parameter that takes it (ProbCover's
            # pseudo-label k, as the paper and the authors' code set it)
            strat, extra = build_strategy(strategy, b, random_state=seed)
            t = time.perf_counter()
            picked = strat.select(X, budget - init.size, labeled=init if init.size else None)
            sel_time = time.perf_counter() - t
            labeled = np.concatenate([init, picked]).astype(np.int64)
            fitted = fitted_attributes(strat)
            coverage = ball_coverage(X, labeled, fitted["delta_"])

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
                    "strategy_params": extra,
                    "strategy_hash": strategy_hash(extra),
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
                    **fitted,
                    "ball_coverage": coverage,
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
