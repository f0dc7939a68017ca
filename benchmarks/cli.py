"""Command line: ``python -m benchmarks [--preset quick|fashion|paper|beyond|semi] [--config FILE] ...``."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

from subsel_plugins.cli import DEBUG_HELP, DoorParser, one_line, run_door
from subsel_plugins.errors import InvalidValueError, MissingDependencyError

from .config import FRAMEWORK_LABELS, PRESETS, BenchConfig, preset, probe_frameworks
from .harness import NORM_RESULTS, RESULTS, resolve_strategies, run_grid
from .report import write_manifest, write_report

#: Most seeds ``--seeds N`` takes (each seed reruns the whole grid).
MAX_SEEDS = 10_000


def build_parser() -> DoorParser:
    p = DoorParser(
        prog="python -m benchmarks",
        description=(
            "Subset-selection benchmark: datasets x feature domains x strategies x budgets x seeds, "
            "evaluated by the registered frameworks. With no arguments runs the 'quick' preset on digits. "
            "Results are appended per cell to RUN_DIR/results.jsonl; rerunning the same command resumes."
        ),
    )
    p.add_argument(
        "--preset", choices=sorted(PRESETS), default="quick", help="starting config (default: quick)"
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="a .json, .yaml or .yml mapping of config fields (datasets, domains, strategies, frameworks, "
        "...) laid over the preset; the other options override it",
    )
    p.add_argument("--out", help="run directory (default: bench-results/<preset>)")
    p.add_argument("--datasets", nargs="+", help="registered dataset names")
    p.add_argument("--data-root", help="root= for every dataset whose loader takes one (CIFAR, imagefolder)")
    p.add_argument(
        "--domains",
        nargs="+",
        help="feature domains: preset domain labels, or extractor names (e.g. raw, random_resnet18)",
    )
    p.add_argument(
        "--strategies",
        nargs="+",
        help="strategy names, NAME:KEY=VALUE[,KEY=VALUE...] for one with parameters (labeled so in the "
        "results, e.g. typiclust_then_norm:factor=1.5), or 'all' for every registered name and combination",
    )
    p.add_argument(
        "--frameworks",
        nargs="+",
        help="framework labels of the preset, registered evaluation names (flexmatch and simmatch run "
        "their cpu preset), or flexmatch_smoke / simmatch_smoke (USB's 60-iteration plumbing checks, "
        "for CI; their accuracy is at chance)",
    )
    p.add_argument(
        "--probe-normalize",
        nargs="+",
        choices=("l2", "standard", "none"),
        help="run the linear probe once per feature normalization (labels linear_probe, "
        "linear_probe_standard, linear_probe_none); replaces the linear-probe frameworks",
    )
    p.add_argument(
        "--budgets", nargs="+", type=int, help="budget multipliers of the class count (default 1..6)"
    )
    p.add_argument("--seeds", type=int, help="number of seeds (0..N-1)")
    p.add_argument(
        "--initial-pool", action="store_true", help="start from a random labeled pool of b examples (Fig. 5)"
    )
    p.add_argument(
        "--pool-size", type=int, help="use a fixed random subset of the training split as the pool"
    )
    p.add_argument(
        "--pool-draw",
        help="which --pool-size examples: 'first', or an int seed of a random draw (default: the fixed draw)",
    )
    p.add_argument(
        "--train-limit", type=int, help="use only the first N training images (feature cache 'limit')"
    )
    p.add_argument("--test-limit", type=int, help="use only the first N test images")
    p.add_argument("--no-norm-correlation", action="store_true", help="skip the Fig. 7 analysis")
    p.add_argument("--no-frechet", action="store_true", help="skip the Frechet distances")
    p.add_argument("--device", help="'auto' (CUDA when available), 'cpu', 'cuda', ...")
    p.add_argument(
        "--threads",
        type=int,
        help="threads of torch and of the BLAS/OpenMP pools, >= 1 (default: 1 on a CPU-only machine, "
        "where the tiny models and the strategies run faster on one thread; the libraries' defaults "
        "with CUDA)",
    )
    p.add_argument("--fresh", action="store_true", help="delete the run directory's earlier results first")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument(
        "--report-only", action="store_true", help="only rewrite table, plots and manifest from results"
    )
    p.add_argument("--show-config", action="store_true", help="print the resolved config as JSON and exit")
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    return p


def load_config_file(path: str) -> dict:
    """The mapping in a .json/.yaml/.yml config file; a missing or malformed file is a one-line error."""
    p = Path(path)
    if not p.is_file():
        raise InvalidValueError(f"--config: no such file: {path}")
    suffix = p.suffix.lower()
    try:
        text = p.read_text(encoding="utf-8")
        if suffix == ".json":
            doc = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise MissingDependencyError(
                    "--config: reading YAML needs PyYAML (pip install 'subsel-plugins[bench]')."
                ) from None
            doc = yaml.safe_load(text)
        else:
            raise InvalidValueError(f"--config: {path} is not .json, .yaml or .yml.")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, InvalidValueError):
            raise
        raise InvalidValueError(f"--config: could not read {path}: {one_line(exc)}") from None
    except Exception as exc:  # yaml.YAMLError
        if type(exc).__module__.startswith("yaml"):
            raise InvalidValueError(f"--config: could not parse {path}: {one_line(exc)}") from None
        raise
    if not isinstance(doc, dict):
        raise InvalidValueError(
            f"--config: {path} must hold a mapping of config fields; got {type(doc).__name__}."
        )
    return doc


def apply_config_file(cfg: BenchConfig, doc: dict, path: str) -> BenchConfig:
    """``cfg`` with the fields of a config file set (unknown fields are an error naming them)."""
    known = {f.name for f in dataclasses.fields(BenchConfig)}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise InvalidValueError(
            f"--config: {path} has unknown field(s) {unknown}; expected some of {sorted(known)}."
        )
    for key, value in doc.items():
        setattr(cfg, key, value)
    return cfg


def config_from_args(args):
    cfg = preset(args.preset)
    if args.config:
        apply_config_file(cfg, load_config_file(args.config), args.config)
    if args.datasets:
        cfg.datasets = list(args.datasets)
    if args.data_root:
        import inspect

        from subsel_plugins.registry import registrations

        regs = registrations("datasets")
        for name in cfg.datasets:
            if name in regs and "root" in inspect.signature(regs[name].obj).parameters:
                cfg.dataset_params.setdefault(name, {})["root"] = args.data_root
    if args.domains:
        doms = {}
        for d in args.domains:
            doms[d] = cfg.domains.get(d) or {"extractor": d, "params": {}, "seed": 0}
        cfg.domains = doms
    if args.strategies:
        cfg.strategies = list(args.strategies)
    if args.frameworks:
        fws = {}
        for f in args.frameworks:
            fws[f] = (
                cfg.frameworks.get(f) or copy.deepcopy(FRAMEWORK_LABELS.get(f)) or {"name": f, "params": {}}
            )
        cfg.frameworks = fws
        if cfg.norm_correlation and cfg.norm_correlation["framework"] not in fws:
            cfg.norm_correlation = None
    if args.probe_normalize:
        cfg.frameworks = with_probe_normalizations(cfg.frameworks, args.probe_normalize)
        nc = cfg.norm_correlation
        if nc and nc["framework"] not in cfg.frameworks:
            cfg.norm_correlation = {**nc, "framework": next(iter(cfg.frameworks))}
    if args.budgets:
        cfg.budget_multipliers = list(args.budgets)
    if args.seeds is not None:
        if not 1 <= args.seeds <= MAX_SEEDS:
            raise InvalidValueError(f"--seeds must be in 1..{MAX_SEEDS}; got {args.seeds}.")
        cfg.seeds = list(range(args.seeds))
    if args.threads is not None and args.threads < 1:
        raise InvalidValueError(
            f"--threads must be an integer >= 1; got {args.threads} (leave it out for the default: 1 on "
            "a CPU-only machine, the libraries' own with CUDA)."
        )
    if args.initial_pool:
        cfg.initial_pool = True
        if not args.budgets:  # the preset's list: drop 1 (validate() refuses an explicit --budgets 1)
            cfg.budget_multipliers = [m for m in cfg.budget_multipliers if m >= 2] or [2]
    if args.pool_size is not None:
        cfg.pool_size = args.pool_size
    if args.pool_draw is not None:
        cfg.pool_draw = "first" if args.pool_draw == "first" else _int_arg("--pool-draw", args.pool_draw)
    if args.train_limit is not None:
        cfg.train_limit = args.train_limit
    if args.test_limit is not None:
        cfg.test_limit = args.test_limit
    if args.no_norm_correlation:
        cfg.norm_correlation = None
    if args.no_frechet:
        cfg.frechet = False
    if args.device:
        cfg.device = args.device
    cfg.validate()
    return cfg


def _int_arg(option: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidValueError(f"{option} must be 'first' or an int seed >= 0; got {text!r}.") from None


def with_probe_normalizations(frameworks: dict, normalizations) -> dict:
    """The frameworks with every linear probe replaced by one entry per normalization (others kept)."""
    norms = list(dict.fromkeys(None if n == "none" else n for n in normalizations))
    probes = [fw for fw in frameworks.values() if fw.get("name") == "linear_probe"]
    if not probes:
        raise InvalidValueError(
            "--probe-normalize: the config has no linear_probe framework; "
            "add one with --frameworks linear_probe."
        )
    base = {k: v for k, v in (probes[0].get("params") or {}).items() if k != "normalize"}
    out = {lab: fw for lab, fw in frameworks.items() if fw.get("name") != "linear_probe"}
    return {**probe_frameworks(norms, **base), **out}


_limits = None


def _set_threads(threads) -> None:
    """Cap torch's and the BLAS/OpenMP pools' threads (1 by default on a CPU-only machine).

    Measured on 2 shared cores: one thread trains the small CNN in a third of
    the CPU time of two (spin-waiting), and TypiClust's KMeans and ProbCover's
    distances on digits run 5x faster in wall time.
    """
    global _limits
    try:
        import torch
    except ImportError:  # pragma: no cover - the linear probe alone needs numpy only
        torch = None
    cuda = torch is not None and torch.cuda.is_available()
    if threads is None and not cuda:
        threads = 1
    if not threads:
        return
    if torch is not None:
        torch.set_num_threads(int(threads))
    from threadpoolctl import threadpool_limits

    _limits = threadpool_limits(limits=int(threads))


def prepare_run_dir(out: Path) -> Path:
    """Create the run directory (parents too) and check it is writable, before anything runs."""
    if out.exists() and not out.is_dir():
        raise InvalidValueError(f"--out: {str(out)!r} is a file; expected a run directory.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise InvalidValueError(
            f"--out: cannot create or write the run directory {str(out)!r}: {exc.strerror or exc}."
        ) from None
    return out


def main(argv=None) -> int:
    """Exit 0; 2 with one line on stderr for a user error (``--debug``: its traceback too)."""
    args = build_parser().parse_args(argv)
    return run_door("python -m benchmarks", lambda: _run(args, argv), debug=args.debug)


def _run(args, argv) -> int:
    cfg = config_from_args(args)
    if args.show_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    out = prepare_run_dir(Path(args.out or Path("bench-results") / cfg.preset))
    _set_threads(args.threads)
    if args.fresh and out.exists():
        for name in (RESULTS, NORM_RESULTS, "table.md", "manifest.json"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "plots", ignore_errors=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    strategies = resolve_strategies(cfg.strategies)
    if args.report_only:
        summary = {"strategies": strategies, "done": 0, "skipped": None, "wall_s": 0.0}
    else:
        print(
            f"[bench] preset {cfg.preset}: {len(cfg.datasets)} dataset(s) x {len(cfg.domains)} domain(s) x "
            f"{len(strategies)} strategies x {len(cfg.budget_multipliers)} budgets x {len(cfg.seeds)} seeds; "
            f"frameworks {list(cfg.frameworks)}; run dir {out}",
            flush=True,
        )
        summary = run_grid(cfg, out, progress=not args.no_progress)
    written = write_report(cfg, out, strategies, summary.get("unavailable"), make_plots=not args.no_plots)
    manifest = write_manifest(cfg, out, summary, started, argv)
    print(
        f"[bench] {summary.get('done')} cells run, {summary.get('skipped')} resumed, "
        f"{summary.get('wall_s', 0):.0f} s",
        flush=True,
    )
    print(
        f"[bench] table: {written['table']}\n[bench] plots: {len(written['plots'])} in {out / 'plots'}\n"
        f"[bench] manifest: {manifest}",
        flush=True,
    )
    return 0
