"""The ``subsel`` command line, and what every door (``subsel``, ``subsel-usb``,
``python -m benchmarks``) shares: one line on stderr and exit status 2 for a
user error (a :class:`~subsel_plugins.errors.SubselError`), the traceback for
anything else, and ``--debug`` to see the traceback of a user error too.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .errors import InvalidValueError, SubselError
from .registry import available_strategies, get_strategy, strategy_info

#: Exit status of a user error at every door (argparse's own for usage errors).
USER_ERROR = 2

DEBUG_HELP = "show the full traceback of a user error instead of one line (for bug reports)"


class UsageError(InvalidValueError):
    """A mistake in the command line or its files: one line on stderr, exit 2."""


class DoorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit 2), like every other user error."""

    def error(self, message):
        self.exit(USER_ERROR, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(message) -> str:
    """``message`` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(str(message).split())


def run_door(prog: str, func, *, debug: bool = False) -> int:
    """Call ``func()``; a :class:`SubselError` becomes one line ``prog: error: ...`` on stderr and exit 2.

    Anything else (a bug) propagates with its traceback; ``debug`` re-raises
    user errors too. Ctrl-C ends with exit 130 and one line; a closed stdout
    pipe (``subsel select ... | head``) ends quietly.
    """
    try:
        return func()
    except SubselError as exc:
        if debug:
            raise
        message = one_line(exc) or type(exc).__name__
        sys.stderr.write(f"{prog}: error: {message}\n")
        return USER_ERROR
    except KeyboardInterrupt:
        if debug:
            raise
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except BrokenPipeError:
        # the reader went away: stop writing, and keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def check_output_file(path, suffixes, what: str = "-o") -> Path:
    """Check, before any long work, that ``path`` can be written: known suffix, existing parent directory.

    Suffixes compare case-insensitively. The parent directory must exist (it
    is not created: a typo in it should not silently make new directories);
    an existing file is overwritten.

    Raises
    ------
    UsageError
        Naming the option, the path and what is wrong.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in suffixes:
        raise UsageError(
            f"{what}: unsupported output type {p.suffix or '(none)'!r} in {str(path)!r}; expected "
            + ", ".join(suffixes)
            + "."
        )
    parent = p.parent
    try:
        if p.is_dir():
            raise UsageError(f"{what}: {str(path)!r} is a directory; expected a file name.")
        if not parent.exists():
            raise UsageError(f"{what}: the directory {str(parent)!r} does not exist; create it first.")
        if not parent.is_dir():
            raise UsageError(f"{what}: {str(parent)!r} is not a directory.")
        if p.exists():
            open(p, "ab").close()  # noqa: SIM115 - a probe: appends nothing
        else:
            open(p, "xb").close()  # noqa: SIM115 - a probe, removed at once
            p.unlink()
    except OSError as exc:
        raise UsageError(f"{what}: cannot write {str(path)!r}: {exc.strerror or exc}.") from None
    return p


def check_strategy_params(strategy) -> None:
    """Run a strategy's parameter checks now (a combination's name the failing part: ``then__norm ...``).

    Third-party strategies that predate the public ``check_params`` are checked
    through ``_check_params``.
    """
    check = getattr(strategy, "check_params", None) or getattr(strategy, "_check_params", None)
    if callable(check):
        check()


def with_context(exc: SubselError, prefix: str) -> SubselError:
    """The same error class, its message prefixed (``norm must ...`` -> ``then__norm must ...``)."""
    try:
        return type(exc)(f"{prefix}{exc}")
    except Exception:  # noqa: BLE001 - a subclass with another constructor: keep the original
        return exc


def strategy_origin(name) -> str:
    """``strategy 'name' (plugin 'p' from distribution 'd')`` for error messages; the bare name if unknown."""
    try:
        info = strategy_info(name)
    except Exception:  # noqa: BLE001 - only decorates a message
        return f"strategy {name!r}"
    return f"strategy {name!r} (plugin {info.plugin!r} from distribution {info.distribution!r})"


def run_strategy(strategy, name, X, budget, labeled=None):
    """``strategy.select_with_scores``; a broken contract (PluginError) names the strategy and its plugin."""
    from .registry import PluginError

    try:
        if hasattr(strategy, "select_with_scores"):
            return strategy.select_with_scores(X, budget, labeled)
        idx = np.asarray(strategy.select(X, budget, labeled))
        return idx, np.zeros(idx.shape, dtype=np.float64)
    except PluginError as exc:
        raise with_context(exc, f"{strategy_origin(name)} broke the strategy contract: ") from None


def checked_strategy(name, params: dict | None = None):
    """``get_strategy(name, **params)`` with its parameters checked at once, before any data is read."""
    strategy = get_strategy(name, **dict(params or {}))
    check_strategy_params(strategy)
    return strategy


def _add_dataset_param(p) -> None:
    p.add_argument(
        "--dataset-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset loader parameter, repeatable (e.g. --dataset-param root=/data/cifar)",
    )


def load_matrix(path: str, what: str = "FEATURES") -> np.ndarray:
    """Read an N x d matrix from .npy (memory-mapped), .npz (its only or 'X'/'features' array) or .csv."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what}: {path} is a directory; expected a .npy, .npz or .csv file.")
    if not p.is_file():
        raise UsageError(f"{what}: no such file: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, mmap_mode="r", allow_pickle=False)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                keys = list(z.keys())
                for key in ("X", "features"):
                    if key in keys:
                        return z[key]
                if len(keys) == 1:
                    return z[keys[0]]
                raise UsageError(
                    f"{what}: {path} holds arrays {keys}; expected one array, or one named 'X' or 'features'."
                )
        if suffix in (".csv", ".txt"):
            return _read_csv(p)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{what}: could not read {path}: {exc}") from None
    raise UsageError(f"{what}: unsupported file type {suffix!r}; expected .npy, .npz or .csv.")


def _read_csv(p: Path) -> np.ndarray:
    with open(p) as fh:
        first = fh.readline()
    cells = [c.strip() for c in first.split(",")]
    header = any(c and not _is_number(c) for c in cells)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": refused below
        data = np.loadtxt(p, delimiter=",", skiprows=1 if header else 0, ndmin=2)
    if data.size == 0:
        raise UsageError(f"{p} holds no rows of numbers.")
    return data


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_indices(path: str) -> np.ndarray:
    """Labeled row indices from .npy, .json (a list) or text/.csv (one per line or comma-separated)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--labeled: {path} is a directory; expected a file of row indices.")
    if not p.is_file():
        raise UsageError(f"--labeled: no such file: {path}")
    try:
        if p.suffix.lower() == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif p.suffix.lower() == ".json":
            arr = np.asarray(json.loads(p.read_text()))
        else:
            text = p.read_text().replace(",", " ").split()
            arr = np.asarray([int(t) for t in text], dtype=np.int64)
    except Exception as exc:
        raise UsageError(f"--labeled: could not read integer indices from {path}: {exc}") from None
    arr = np.asarray(arr)
    if arr.ndim > 1:
        raise UsageError(
            f"--labeled: {path} holds an array of shape {arr.shape}; expected a flat list of row indices."
        )
    return arr.reshape(-1)


def parse_param(text: str) -> tuple[str, object]:
    """``key=value``, the value parsed as a Python literal where it is one (``3``, ``True``, ``None``)."""
    if "=" not in text:
        raise UsageError(f"--param expects key=value; got {text!r}.")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise UsageError(f"--param expects key=value; got {text!r}.")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = raw
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"--param {key}={raw}: {value} is not a finite number.")
    return key, value


def parse_params(texts, what: str = "--param") -> dict:
    """``key=value`` strings as a dict; a key given twice is an error."""
    params = {}
    for text in texts:
        key, value = parse_param(text)
        if key in params:
            raise UsageError(f"{what}: {key!r} is given twice ({params[key]!r} and {value!r}).")
        params[key] = value
    return params


def _jsonable(value):
    """A parameter value for the JSON output: numbers, strings, booleans, None and lists stay typed."""
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


#: Output types of ``subsel select -o`` (compared case-insensitively).
SELECT_OUTPUTS = (".npy", ".csv", ".json")


def write_indices(idx: np.ndarray, scores: np.ndarray, out: str | None, meta: dict) -> None:
    """Print the indices, or write them to ``out`` (.npy, .csv or .json, any case)."""
    if out is None:
        sys.stdout.write("\n".join(str(i) for i in idx) + "\n")
        return
    p = Path(out)
    suffix = p.suffix.lower()
    if suffix not in SELECT_OUTPUTS:
        raise UsageError(f"-o: unsupported output type {p.suffix!r}; expected .npy, .csv or .json.")
    try:
        if suffix == ".npy":
            with open(p, "wb") as fh:  # a file object: np.save adds no second '.npy'
                np.save(fh, idx)
        elif suffix == ".csv":
            with open(p, "w") as fh:
                fh.write("rank,index,score\n")
                for rank, (i, s) in enumerate(zip(idx.tolist(), scores.tolist())):
                    fh.write(f"{rank},{i},{s!r}\n")
        else:
            doc = {
                **meta,
                "indices": idx.tolist(),
                "scores": [s if math.isfinite(s) else None for s in scores.tolist()],
            }
            p.write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as exc:
        raise UsageError(f"-o: could not write {out}: {exc.strerror or exc}.") from None


def cmd_strategies(args) -> int:
    names = available_strategies(combinations=args.all)
    width = max(len(n) for n in names)
    for name in names:
        info = strategy_info(name)
        sys.stdout.write(f"{name:<{width}}  {info.description}  [{info.plugin}: {info.distribution}]\n")
    if not args.all:
        sys.stdout.write(
            "\nEvery strategy also combines as <name>_then_norm, <name>_then_gs and "
            "<name>_then_random (subsel strategies --all lists them).\n"
        )
    return 0


def compute_features(args):
    """Features of ``args.dataset``'s ``args.split`` by ``args.extractor`` (cached unless ``--no-cache``)."""
    from .features import load_or_compute
    from .registry import get_dataset, get_feature_extractor

    params = parse_params(args.feature_param, "--feature-param")
    dataset_params = parse_params(args.dataset_param, "--dataset-param")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1; got {args.limit}.")
    if getattr(args, "no_cache", False):
        ext = get_feature_extractor(args.extractor, **params)
        if "seed" in ext.get_params() and "seed" not in params:
            ext.set_params(seed=args.feature_seed)
        ds = get_dataset(args.dataset, **dataset_params)
        if getattr(ext, "requires_fit", False):
            ext.fit(ds.train.images, ds.train.labels)
        images = getattr(ds, args.split).images
        return ext.transform(images if args.limit is None else images[: args.limit])
    return load_or_compute(
        args.dataset,
        args.split,
        args.extractor,
        params,
        seed=args.feature_seed,
        cache_dir=args.cache_dir,
        dataset_params=dataset_params,
        limit=args.limit,
        verify=args.verify_cache,
    )


def cmd_features(args) -> int:
    out = check_output_file(args.output, (".npy",))
    X = compute_features(args)
    try:
        with open(out, "wb") as fh:  # a file object: np.save adds no second '.npy' to OUT.NPY
            np.save(fh, np.asarray(X, dtype=np.float32))
    except OSError as exc:
        raise UsageError(f"-o: could not write {args.output}: {exc.strerror or exc}.") from None
    sys.stdout.write(
        f"wrote {X.shape[0]} x {X.shape[1]} float32 features of {args.dataset} ({args.split}) "
        f"by {args.extractor} to {args.output}\n"
    )
    return 0


def is_distributed_path(features, scheduler) -> bool:
    """Whether ``subsel select`` runs distributed: a glob, a .zarr store, or ``--scheduler`` given."""
    if scheduler is not None:
        if features is None:
            raise UsageError("--scheduler needs FEATURES (.npy shards, a quoted glob or a .zarr store).")
        from .distributed._client import parse_scheduler

        parse_scheduler(scheduler)  # a malformed address fails before anything starts
        return True
    if features is None:
        return False
    return any(ch in features for ch in "*?[") or features.rstrip("/\\").lower().endswith(".zarr")


def select_distributed(strategy, name, features, budget, labeled, scheduler, debug=False):
    """Select over .npy shards or zarr on ``scheduler`` (None: dask's local scheduler, in this process).

    Everything that can be refused without a cluster is refused before one
    starts or is contacted: a strategy that does not run distributed, missing
    or unreadable shards (their headers are read here, and relative paths and
    globs resolved against this directory, not the workers'), labeled rows out
    of range and a budget the unlabeled rows cannot fill. Without ``debug``,
    dask's log lines and warnings are kept off stderr (a failure is one line).
    """
    import contextlib

    from .distributed import _require

    _require()
    from ._validation import check_budget, check_labeled
    from .dispatch import runner_for
    from .distributed import as_source
    from .distributed._client import connect

    runner_for(strategy)
    source = as_source(features)
    lab = check_labeled(labeled, source.n)
    check_budget(budget, source.n - lab.size)
    cluster = connect(scheduler, quiet=not debug) if scheduler is not None else contextlib.nullcontext()
    with cluster:
        return run_strategy(strategy, name, source, budget, labeled)


def cmd_select(args) -> int:
    if (args.features is None) == (args.dataset is None):
        raise UsageError(
            "give either FEATURES (a feature-matrix file) or --dataset NAME --extractor NAME, not both."
        )
    if args.dataset is not None and args.extractor is None:
        raise UsageError("--dataset needs --extractor NAME (see `subsel features --help`).")
    if args.dataset is None and args.extractor is not None:
        raise UsageError("--extractor needs --dataset NAME.")
    # everything that can be checked without the features is checked first:
    # output path, parameters, strategy, labeled file; then features, selection, writing
    if args.output is not None:
        check_output_file(args.output, SELECT_OUTPUTS)
    params = parse_params(args.param)
    if args.seed is not None:
        if "random_state" in params:
            raise UsageError("give either --seed or -p random_state=..., not both.")
        params["random_state"] = args.seed
    strategy = checked_strategy(args.strategy, params)
    labeled = load_indices(args.labeled) if args.labeled else None
    if is_distributed_path(args.features, args.scheduler):
        idx, scores = select_distributed(
            strategy, args.strategy, args.features, args.budget, labeled, args.scheduler, args.debug
        )
    else:
        X = load_matrix(args.features) if args.features is not None else compute_features(args)
        idx, scores = run_strategy(strategy, args.strategy, X, args.budget, labeled)
    meta = {
        "strategy": args.strategy,
        "params": {k: _jsonable(v) for k, v in params.items()},
        "budget": args.budget,
        "features": str(args.features)
        if args.features is not None
        else f"{args.dataset}:{args.split}:{args.extractor}",
        "version": __version__,
    }
    write_indices(idx, scores, args.output, meta)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = DoorParser(
        prog="subsel",
        description="Choose which examples to label first: feature-norm sampling, randomized "
        "Gram-Schmidt, TypiClust, ProbCover and their '<first>_then_<second>' combinations.",
    )
    parser.add_argument("--version", action="version", version=f"subsel-plugins {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("strategies", help="list the registered strategies and the plugins providing them")
    p.add_argument("--all", action="store_true", help="also list every <first>_then_<second> combination")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    p.set_defaults(func=cmd_strategies)
    _add_select_parser(sub)
    _add_features_parser(sub)
    _add_show_parser(sub)
    return parser


def _add_select_parser(sub) -> None:
    p = sub.add_parser(
        "select",
        help="choose a subset of rows of a feature matrix",
        description="Choose BUDGET rows of FEATURES (an N x d matrix) with STRATEGY and print their "
        "indices, in pick order, one per line (or write them with -o).",
    )
    p.add_argument(
        "features",
        metavar="FEATURES",
        nargs="?",
        help="feature matrix: .npy (memory-mapped), .npz or .csv; or use --dataset and --extractor; "
        "a quoted glob of .npy shards ('emb/*.npy') or a .zarr store runs on Dask (see --scheduler)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="run on Dask: 'local' or 'local:N' starts a LocalCluster of N worker processes here, "
        "tcp://host:8786 uses a running scheduler (FEATURES: .npy shards or zarr every worker can read)",
    )
    p.add_argument("--strategy", "-s", required=True, help="strategy name (see `subsel strategies`)")
    p.add_argument("--budget", "-b", required=True, type=int, help="number of rows to choose")
    p.add_argument("--labeled", metavar="FILE", help="already-labeled row indices: .npy, .json list or text")
    p.add_argument("--seed", type=int, help="random seed (sets the strategy's random_state)")
    p.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="strategy parameter, repeatable (e.g. -p norm=l1 -p randomized=False)",
    )
    p.add_argument(
        "--output", "-o", metavar="FILE", help="write .npy (indices), .csv (rank,index,score) or .json"
    )
    _add_feature_args(p, in_select=True)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    p.set_defaults(func=cmd_select)


def _add_features_parser(sub) -> None:
    p = sub.add_parser(
        "features",
        help="compute a dataset's features with a feature extractor",
        description="Map the images of DATASET's split to an N x d float32 feature matrix with EXTRACTOR "
        "and write it as .npy. Features are cached (SUBSEL_CACHE_DIR or the user's cache directory).",
    )
    p.add_argument(
        "dataset", metavar="DATASET", help="dataset name (digits, fashion_mnist, cifar10, npz, ...)"
    )
    _add_feature_args(p, in_select=False)
    p.add_argument("--no-cache", action="store_true", help="compute without reading or writing the cache")
    p.add_argument("--output", "-o", required=True, metavar="FILE", help="write the features here (.npy)")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    p.set_defaults(func=cmd_features)


def _add_feature_args(p, in_select: bool) -> None:
    if in_select:
        p.add_argument("--dataset", metavar="NAME", help="take features of this dataset instead of FEATURES")
        p.add_argument("--extractor", "-e", metavar="NAME", help="feature extractor for --dataset")
        p.add_argument(
            "--feature-param",
            "-f",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="feature-extractor parameter, repeatable (e.g. -f preset=cpu)",
        )
    else:
        p.add_argument(
            "--extractor",
            "-e",
            required=True,
            metavar="NAME",
            help="raw, random_resnet18, simclr, dino_vits16, efficientnet_lite0, or a plugin's",
        )
        p.add_argument(
            "--param",
            "-p",
            dest="feature_param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="extractor parameter, repeatable (e.g. -p preset=cpu -p checkpoint=simclr.pth)",
        )
    _add_dataset_param(p)
    p.add_argument("--split", choices=("train", "test"), default="train", help="which split (default: train)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images of the split")
    p.add_argument(
        "--feature-seed" if in_select else "--seed",
        dest="feature_seed",
        metavar="SEED",
        type=int,
        default=0,
        help="seed of the extractor (random init, SimCLR training); default 0",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="feature cache directory (default: SUBSEL_CACHE_DIR or the user's cache directory)",
    )
    p.add_argument(
        "--verify-cache",
        action="store_true",
        help="re-read a cached entry and check its SHA-256 (a hit otherwise checks size, header and mtime)",
    )


#: Output types of ``subsel show -o`` (compared case-insensitively).
SHOW_OUTPUTS = (".png", ".pdf", ".svg")


def cmd_show(args) -> int:
    from .registry import get_dataset
    from .show import check_in_range, image_grid, read_index_file

    # everything that needs no data first: output path, options, index files; then the dataset
    out = check_output_file(args.output, SHOW_OUTPUTS)
    if args.label and len(args.label) != len(args.indices):
        raise UsageError(
            f"--label is given {len(args.label)} time(s) for {len(args.indices)} INDICES file(s); "
            "give one per file, in order, or none."
        )
    if args.columns is not None and args.columns < 1:
        raise UsageError(f"--columns must be >= 1; got {args.columns}.")
    dataset_params = parse_params(args.dataset_param, "--dataset-param")
    labels = args.label or [Path(p).stem for p in args.indices]
    rows = [(lab, read_index_file(p)) for lab, p in zip(labels, args.indices)]
    ds = get_dataset(args.dataset, **dataset_params)
    split = getattr(ds, args.split)
    for (_, idx), path in zip(rows, args.indices):
        check_in_range(idx, len(split), path, f"the {args.split} split of {args.dataset}")
    title = args.title if args.title is not None else f"{args.dataset} ({args.split} split)"
    image_grid(
        rows, split.images, split.labels, ds.classes, title=title or None, columns=args.columns, path=out
    )
    sys.stdout.write(
        f"wrote {out}: {sum(i.size for _, i in rows)} images of {args.dataset} in {len(rows)} row(s)\n"
    )
    return 0


def _add_show_parser(sub) -> None:
    p = sub.add_parser(
        "show",
        help="draw the images of index files as a grid (one row per file, class label under each image)",
        description="Draw the images at the row indices in each INDICES file of DATASET's split, one row "
        "per file (wrapped every --columns images), the class label under each image, and write the grid "
        "to -o. INDICES: .npy (a 1-D integer array), .json (a list, or an object with an 'indices' list, "
        "as `subsel select -o FILE.json` writes) or text (integers separated by commas, spaces or line "
        "breaks; a CSV with an 'index' column, as `subsel select -o FILE.csv` writes).",
    )
    p.add_argument(
        "dataset", metavar="DATASET", help="dataset name (digits, fashion_mnist, cifar10, npz, ...)"
    )
    p.add_argument("indices", metavar="INDICES", nargs="+", help="index file(s): .npy, .json or text")
    p.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="write the grid here (.png, .pdf, .svg)"
    )
    p.add_argument("--split", choices=("train", "test"), default="train", help="which split (default: train)")
    p.add_argument(
        "--label",
        action="append",
        metavar="TEXT",
        help="row label, one per INDICES file (default: file name)",
    )
    p.add_argument(
        "--columns", type=int, metavar="N", help="images per line (default: the longest row, at most 20)"
    )
    p.add_argument("--title", help="figure title (default: the dataset and split; '' for none)")
    _add_dataset_param(p)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    p.set_defaults(func=cmd_show)


def main(argv=None) -> int:
    """``subsel``: exit 0, or 2 with one line on stderr for a user error (``--debug``: the traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_door(f"subsel {args.command}", lambda: args.func(args), debug=args.debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
