"""The grid runner: plan the cells, run them (select, evaluate), record one JSON line each, resume.

A :class:`Cell` is one strategy's subset at one budget and seed in one
dataset and feature domain, evaluated by one framework; its fields are its
key in ``results.jsonl``. :func:`run_grid` plans every cell
(:func:`plan_grid`), drops those already recorded (:func:`drop_done`), runs
the rest grouped by selection (:func:`run_cells`: one selection feeds every
framework) and appends one row per cell (:func:`record`), so an interrupted
run resumes where it stopped. The Fig. 7 norm-correlation analysis follows
the same three steps with :class:`NormCell`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from subsel_plugins import available_strategies, get_evaluation, get_strategy
from subsel_plugins.errors import InvalidValueError
from subsel_plugins.evaluation import EvaluatorUnavailable
from subsel_plugins.registry import class_count_parameters, registrations

from . import analysis
from .config import PAPER_COMBINATIONS, BenchConfig, StrategySpec, parse_strategy_entry, spec_hash
from .data import PreparedDataset

RESULTS = "results.jsonl"
NORM_RESULTS = "norm_correlation.jsonl"


class _Keyed:
    """A frozen dataclass whose fields, in order, are its key in a JSONL results file."""

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def key_of(cls, row: dict) -> tuple:
        """The key of a results row (absent fields are None, as in rows of older runs)."""
        return tuple(row.get(f) for f in cls.fields())

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, f) for f in self.fields())


@dataclass(frozen=True)
class Cell(_Keyed):
    """One cell of the grid: a selection evaluated by one framework; its fields are its result key.

    A finished cell is a row of ``results.jsonl`` whose :meth:`key_of` is the
    cell's :attr:`key`: a rerun skips it, and a changed setting (a field or a
    hash) runs it again.
    """

    dataset: str
    domain: str
    domain_hash: str
    strategy: str
    budget: int
    seed: int
    framework: str
    framework_hash: str
    initial_pool: bool
    pool_size: int | None
    train_limit: int | None
    test_limit: int | None
    # None unless the harness passes a strategy parameters of its own (the class
    # count): rows of other strategies keep their old keys, and rows of strategies
    # that now get n_classes (ProbCover and its combinations) from before that
    # change no longer match, so they run again instead of being reused.
    strategy_hash: str | None
    # None (rows of older runs): the fixed random pool subset; see BenchConfig.pool_draw
    pool_draw: str | int | None = None


@dataclass(frozen=True)
class NormCell(_Keyed):
    """One uniformly random subset of the Fig. 7 analysis; its fields are its key."""

    dataset: str
    domain: str
    domain_hash: str
    framework: str
    framework_hash: str
    size: int
    subset: int
    pool_size: int | None
    train_limit: int | None
    test_limit: int | None


#: The result keys' fields, in order.
KEY_FIELDS = Cell.fields()
NORM_KEY_FIELDS = NormCell.fields()


@dataclass(frozen=True)
class Selection:
    """One subset choice (dataset, domain, seed, strategy, budget) and the cells it feeds."""

    dataset: str
    domain: str
    seed: int
    strategy: str
    multiplier: int
    budget: int
    cells: tuple[Cell, ...]
    spec: StrategySpec | None = None


def default_strategies() -> list[str]:
    """Every registered strategy, then the paper's baseline-then-norm/GS combinations."""
    base = available_strategies(combinations=False)
    combos = [c for c in PAPER_COMBINATIONS if c.split("_then_")[0] in base]
    return base + combos


def resolve_specs(entries) -> list[StrategySpec]:
    """The grid's strategy entries as specs: None is the default set, ``['all']`` every name."""
    if entries is None:
        return [StrategySpec(n, n, {}) for n in default_strategies()]
    if list(entries) == ["all"]:
        return [StrategySpec(n, n, {}) for n in available_strategies()]
    specs = [parse_strategy_entry(e, f"strategies[{i}]") for i, e in enumerate(entries)]
    known = available_strategies()
    for s in specs:
        if s.name not in known:
            get_strategy(s.name)  # raises with the close-match hint
    return specs


def resolve_strategies(entries) -> list[str]:
    """The grid's strategy labels, in order (a bare name is its own label)."""
    return [s.label for s in resolve_specs(entries)]


def specs_by_label(entries) -> dict[str, StrategySpec]:
    """label -> spec of the grid's strategy entries."""
    return {s.label: s for s in resolve_specs(entries)}


def class_count_params(strategy, n_classes: int, given=()) -> dict:
    """``{param: n_classes}`` for every parameter of ``strategy`` that takes the class count.

    A parameter named ``n_classes``, or ending in ``__n_classes`` (a part of a
    combination, e.g. ``first__n_classes``), per ``strategy.get_params(deep=True)``:
    ProbCover, its combinations and any third-party strategy with such a
    parameter. Names in ``given`` (set by the user) are left alone; a bare
    ``n_classes`` in ``given`` covers every part.
    """
    if "n_classes" in given:
        return {}
    return {k: int(n_classes) for k in class_count_parameters(strategy) if k not in given}


def build_strategy(name: str, n_classes: int, **params):
    """``get_strategy(name, **params)`` with the class count passed where the strategy takes it.

    Returns the strategy and the parameters the harness added (empty when none;
    a class-count parameter given in ``params`` is left as given).
    """
    strategy = get_strategy(name, **params)
    extra = class_count_params(strategy, n_classes, given=set(params))
    if extra:
        strategy.set_params(**extra)
    return strategy, extra


def spec_params(spec: StrategySpec, n_classes: int) -> dict:
    """The parameters a spec's strategy runs with, besides its seed: the spec's, then the class count's."""
    params = {k: v for k, v in spec.params.items() if k != "random_state"}
    return {**params, **build_strategy(spec.name, n_classes, **params)[1]}


def strategy_hash(params: dict):
    """The resume-key field of a strategy's parameters (the spec's and the harness's): None when none.

    A bare name that the harness passes nothing keeps None, as in rows of
    older runs; changing a spec's parameters under the same label reruns it.
    """
    return spec_hash(params) if params else None


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


# ---------------------------------------------------------------------------
# plan: the grid, and what is already done


class _Datasets(dict):
    """:class:`PreparedDataset` by name, prepared on first use (budgets need the class count)."""

    def __init__(self, config: BenchConfig):
        super().__init__()
        self.config = config

    def __missing__(self, name: str) -> PreparedDataset:
        c = self.config
        self[name] = PreparedDataset(
            name, c.pool_size, c.dataset_params.get(name), c.train_limit, c.test_limit, c.pool_draw
        )
        return self[name]


def _check_budget(mult: int, pds: PreparedDataset) -> None:
    """A budget larger than the pool is a user error, caught before any cell runs."""
    if mult * pds.num_classes > pds.n_pool:
        raise InvalidValueError(
            f"budget multiplier {mult} asks for {mult * pds.num_classes} of the {pds.n_pool} pool "
            f"examples of {pds.name!r}; lower --budgets (or raise --pool-size/--train-limit)."
        )


def plan_grid(config: BenchConfig, strategies, frameworks, specs, datasets) -> list[Selection]:
    """Every selection of the grid, in run order, with one cell per framework label that applies to it.

    ``strategies`` are strategy entries (names, ``"name:key=value"`` strings,
    mappings or :class:`StrategySpec`); a cell's ``strategy`` is the entry's
    label and its ``strategy_hash`` covers the entry's parameters and those
    the harness adds. ``frameworks`` are the labels of the available
    evaluators; ``specs`` is :func:`framework_specs`; ``datasets`` a
    :class:`_Datasets`.
    """
    entries = [parse_strategy_entry(e, f"strategies[{i}]") for i, e in enumerate(strategies)]
    params = functools.cache(lambda i, k: spec_params(entries[i], k))
    plan = []
    grid = itertools.product(
        config.datasets, config.domains.items(), config.seeds, range(len(entries)), config.budget_multipliers
    )
    for dname, (dlabel, dom), seed, i, mult in grid:
        spec = entries[i]
        pds = datasets[dname]
        _check_budget(mult, pds)
        budget = mult * pds.num_classes
        cells = tuple(
            Cell(
                dataset=dname,
                domain=dlabel,
                domain_hash=spec_hash(dom),
                strategy=spec.label,
                budget=budget,
                seed=seed,
                framework=lab,
                framework_hash=specs[lab][1],
                initial_pool=config.initial_pool,
                pool_size=config.pool_size,
                train_limit=config.train_limit,
                test_limit=config.test_limit,
                strategy_hash=strategy_hash(params(i, pds.num_classes)),
                pool_draw=config.pool_draw,
            )
            for lab in frameworks
            if _framework_applies(config.frameworks[lab], spec.label, mult, seed)
        )
        plan.append(Selection(dname, dlabel, seed, spec.label, mult, budget, cells, spec))
    return plan


def drop_done(plan: list[Selection], done: set) -> tuple[list[Selection], int]:
    """The selections with cells still to run (only those cells), and how many cells were done."""
    pending, skipped = [], 0
    for sel in plan:
        todo = tuple(c for c in sel.cells if c.key not in done)
        skipped += len(sel.cells) - len(todo)
        if todo:
            pending.append(dataclasses.replace(sel, cells=todo))
    return pending, skipped


# ---------------------------------------------------------------------------
# record: one JSON line per finished cell; what is in the file is done


def done_keys(path: Path, cls=Cell) -> set:
    """Keys of the rows already in a results file (a torn last line is terminated first)."""
    _end_with_newline(path)
    return {cls.key_of(r) for r in read_jsonl(path)}


def record(path: Path, cell, **fields) -> None:
    """Append the row of a finished cell: its key fields, then ``fields`` (which may override them)."""
    _append(path, {**dataclasses.asdict(cell), **fields})


# ---------------------------------------------------------------------------
# run: build the evaluators, select, evaluate


def build_evaluators(config: BenchConfig, specs: dict, log) -> tuple[dict, dict]:
    """label -> evaluator of every available framework, and label -> reason for optional unavailable ones."""
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
    return evaluators, unavailable


def select(config: BenchConfig, sel: Selection, pds: PreparedDataset, X, frechet) -> tuple[np.ndarray, dict]:
    """Run the selection: the labeled rows (initial pool first) and the row fields describing them.

    ``frechet`` is a dict caching :class:`analysis.PoolFrechet` per (dataset, domain).
    """
    b = pds.num_classes
    init = np.empty(0, dtype=np.int64)
    if config.initial_pool:
        init = np.sort(np.random.default_rng([sel.seed, 7]).choice(pds.n_pool, size=b, replace=False))
    # the class count goes to every parameter that takes it (ProbCover's
    # pseudo-label k, as the paper and the authors' code set it)
    spec = sel.spec or StrategySpec(sel.strategy, sel.strategy, {})
    strat, extra = build_strategy(spec.name, b, **spec.params, random_state=sel.seed)
    params = {**spec.params, **extra}
    t = time.perf_counter()
    picked = strat.select(X, sel.budget - init.size, labeled=init if init.size else None)
    sel_time = time.perf_counter() - t
    labeled = np.concatenate([init, picked]).astype(np.int64)
    fitted = fitted_attributes(strat)
    fd = None
    if config.frechet:
        if (sel.dataset, sel.domain) not in frechet:
            frechet[(sel.dataset, sel.domain)] = analysis.PoolFrechet(X)
        fd = frechet[(sel.dataset, sel.domain)](labeled)
    return labeled, {
        "strategy_name": spec.name,
        "strategy_params": params,
        "strategy_hash": strategy_hash(params),
        "budget_multiplier": sel.multiplier,
        "classes_covered": (covered := analysis.class_coverage(pds.train_labels[labeled], b)),
        "class_coverage": covered / b,
        "frechet": fd,
        "mean_feature_norm": analysis.mean_feature_norm(X, labeled),
        **fitted,
        "ball_coverage": ball_coverage(X, labeled, fitted["delta_"]),
        "selection_time_s": sel_time,
        "labeled": labeled.tolist(),
    }


def evaluate(evaluator, data, labeled, seed: int) -> dict:
    """Row fields of one evaluation: ``accuracy``, the framework's ``extra``, ``eval_time_s``, ``eval_cpu_s``.

    ``eval_cpu_s`` is the process's CPU time (this process's threads): on a
    shared machine, what the cell would cost in wall time on an idle core of
    one thread, where ``eval_time_s`` depends on the load.
    """
    t, c = time.perf_counter(), time.process_time()
    res = evaluator.evaluate(data, labeled, seed)
    return {
        "accuracy": res["accuracy"],
        "extra": {k: v for k, v in res.items() if k != "accuracy"},
        "eval_time_s": time.perf_counter() - t,
        "eval_cpu_s": time.process_time() - c,
    }


def run_cells(config: BenchConfig, pending, evaluators, datasets, path: Path, bar) -> int:
    """Select once per pending selection, evaluate each of its cells, record each row; returns the count."""
    frechet: dict[tuple, analysis.PoolFrechet] = {}
    n_done = 0
    for sel in pending:
        pds = datasets[sel.dataset]
        data = pds.eval_data(sel.domain, config.domains[sel.domain])
        bar.set_postfix_str(f"{sel.dataset}/{sel.domain} {sel.strategy} b={sel.budget} s={sel.seed}")
        labeled, selected = select(config, sel, pds, data.train_features, frechet)
        context = {"n_pool": pds.n_pool, "n_test": len(pds.test_labels), "num_classes": pds.num_classes}
        for cell in sel.cells:
            scored = evaluate(evaluators[cell.framework], data, labeled, sel.seed)
            name = config.frameworks[cell.framework]["name"]
            finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            record(path, cell, framework_name=name, **context, **selected, **scored, finished=finished)
            n_done += 1
            bar.update(1)
    return n_done


def run_grid(config: BenchConfig, out_dir, *, progress: bool = True, log=print) -> dict:
    """Run (or resume) the grid of ``config``, appending results under ``out_dir``.

    Plan (every cell, minus those already in ``results.jsonl``), run (select,
    evaluate) and record (one JSON line per finished cell).

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
    done = done_keys(results_path)
    strategy_specs = resolve_specs(config.strategies)
    strategies = [s.label for s in strategy_specs]
    specs = framework_specs(config)
    evaluators, unavailable = build_evaluators(config, specs, log)
    datasets = _Datasets(config)
    plan = plan_grid(config, strategy_specs, list(evaluators), specs, datasets)
    pending, skipped = drop_done(plan, done)

    t0 = time.perf_counter()
    bar = _progress(sum(len(s.cells) for s in plan), skipped, progress)
    try:
        n_done = run_cells(config, pending, evaluators, datasets, results_path, bar)
    finally:
        bar.close()
    if config.norm_correlation:
        n_done += run_norm_correlation(config, out, datasets, evaluators, specs, progress, log)
    return {
        "done": n_done,
        "skipped": skipped,
        "unavailable": unavailable,
        "strategies": strategies,
        "wall_s": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------------------
# the norm-correlation analysis (Fig. 7): plan, run, record as above


def plan_norm_correlation(config: BenchConfig, specs, datasets) -> list[NormCell]:
    """Every random subset of the analysis: per dataset, domain and size, ``subsets`` of them."""
    nc = config.norm_correlation
    label = nc["framework"]
    grid = itertools.product(
        config.datasets, config.domains.items(), nc.get("size_multipliers", [1]), range(int(nc["subsets"]))
    )
    return [
        NormCell(
            dataset=dname,
            domain=dlabel,
            domain_hash=spec_hash(dom),
            framework=label,
            framework_hash=specs[label][1],
            size=m * datasets[dname].num_classes,
            subset=i,
            pool_size=config.pool_size,
            train_limit=config.train_limit,
            test_limit=config.test_limit,
        )
        for dname, (dlabel, dom), m, i in grid
    ]


def run_norm_correlation(config, out: Path, datasets, evaluators, specs, progress, log) -> int:
    """Fig. 7: accuracy of uniformly random subsets against their mean feature norm; returns the count run."""
    label = config.norm_correlation["framework"]
    if label not in evaluators:
        log(f"[bench] norm correlation skipped: framework {label!r} is unavailable.")
        return 0
    path = out / NORM_RESULTS
    done = done_keys(path, NormCell)
    jobs = [c for c in plan_norm_correlation(config, specs, datasets) if c.key not in done]
    bar = _progress(len(jobs), 0, progress and bool(jobs))
    try:
        for cell in jobs:
            pds = datasets[cell.dataset]
            data = pds.eval_data(cell.domain, config.domains[cell.domain])
            # subset i of a size is the same whatever the strategy list or seeds
            rng = np.random.default_rng([cell.size, cell.subset, 99])
            rows = rng.choice(pds.n_pool, size=cell.size, replace=False)
            res = evaluators[label].evaluate(data, rows, cell.subset)
            record(
                path,
                cell,
                accuracy=res["accuracy"],
                mean_feature_norm=analysis.mean_feature_norm(data.train_features, rows),
                classes_covered=analysis.class_coverage(data.train_labels[rows], pds.num_classes),
            )
            bar.update(1)
    finally:
        bar.close()
    return len(jobs)
