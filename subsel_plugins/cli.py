"""The ``subsel`` command line."""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .registry import PluginError, available_strategies, get_strategy, strategy_info


class UsageError(Exception):
    """A mistake in the command line or its files: one line on stderr, exit 2."""


def load_matrix(path: str, what: str = "FEATURES") -> np.ndarray:
    """Read an N x d matrix from .npy (memory-mapped), .npz (its only or 'X'/'features' array) or .csv."""
    p = Path(path)
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
    data = np.loadtxt(p, delimiter=",", skiprows=1 if header else 0, ndmin=2)
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
    return np.asarray(arr).ravel()


def parse_param(text: str) -> tuple[str, object]:
    """``key=value``, the value parsed as a Python literal where it is one (``3``, ``True``, ``None``)."""
    if "=" not in text:
        raise UsageError(f"--param expects key=value; got {text!r}.")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise UsageError(f"--param expects key=value; got {text!r}.")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key, value


def write_indices(idx: np.ndarray, scores: np.ndarray, out: str | None, meta: dict) -> None:
    if out is None:
        sys.stdout.write("\n".join(str(i) for i in idx) + "\n")
        return
    p = Path(out)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        np.save(p, idx)
    elif suffix == ".csv":
        with open(p, "w") as fh:
            fh.write("rank,index,score\n")
            for rank, (i, s) in enumerate(zip(idx, scores)):
                fh.write(f"{rank},{i},{s!r}\n")
    elif suffix == ".json":
        p.write_text(
            json.dumps({**meta, "indices": idx.tolist(), "scores": scores.tolist()}, indent=2) + "\n"
        )
    else:
        raise UsageError(f"-o: unsupported output type {suffix!r}; expected .npy, .csv or .json.")


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


def compute_features(args, what: str):
    """Features of ``args.dataset``'s ``args.split`` by ``args.extractor`` (cached unless ``--no-cache``)."""
    from .features import load_or_compute
    from .registry import get_dataset, get_feature_extractor

    params = dict(parse_param(p) for p in args.feature_param)
    dataset_params = dict(parse_param(p) for p in args.dataset_param)
    try:
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
        )
    except (FileNotFoundError, ImportError, RuntimeError) as exc:
        raise UsageError(f"{what}: {exc}") from None


def cmd_features(args) -> int:
    if not args.output.lower().endswith(".npy"):
        raise UsageError(f"-o: unsupported output type {Path(args.output).suffix!r}; expected .npy.")
    X = compute_features(args, f"{args.dataset} / {args.extractor}")
    np.save(args.output, np.asarray(X, dtype=np.float32))
    sys.stdout.write(
        f"wrote {X.shape[0]} x {X.shape[1]} float32 features of {args.dataset} ({args.split}) "
        f"by {args.extractor} to {args.output}\n"
    )
    return 0


def cmd_select(args) -> int:
    if (args.features is None) == (args.dataset is None):
        raise UsageError(
            "give either FEATURES (a feature-matrix file) or --dataset NAME --extractor NAME, not both."
        )
    if args.dataset is not None and args.extractor is None:
        raise UsageError("--dataset needs --extractor NAME (see `subsel features --help`).")
    if args.dataset is None and args.extractor is not None:
        raise UsageError("--extractor needs --dataset NAME.")
    X = load_matrix(args.features) if args.features is not None else compute_features(args, "--dataset")
    params = dict(parse_param(p) for p in args.param)
    if args.seed is not None:
        params["random_state"] = args.seed
    labeled = load_indices(args.labeled) if args.labeled else None
    strategy = get_strategy(args.strategy, **params)
    idx, scores = strategy.select_with_scores(X, args.budget, labeled)
    meta = {
        "strategy": args.strategy,
        "params": {k: repr(v) for k, v in params.items()},
        "budget": args.budget,
        "features": str(args.features)
        if args.features is not None
        else f"{args.dataset}:{args.split}:{args.extractor}",
        "version": __version__,
    }
    write_indices(idx, scores, args.output, meta)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subsel",
        description="Choose which examples to label first: feature-norm sampling, randomized "
        "Gram-Schmidt, TypiClust, ProbCover and their '<first>_then_<second>' combinations.",
    )
    parser.add_argument("--version", action="version", version=f"subsel-plugins {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("strategies", help="list the registered strategies and the plugins providing them")
    p.add_argument("--all", action="store_true", help="also list every <first>_then_<second> combination")
    p.set_defaults(func=cmd_strategies)

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
        help="feature matrix: .npy (memory-mapped), .npz or .csv; or use --dataset and --extractor",
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
    p.set_defaults(func=cmd_select)

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
    p.set_defaults(func=cmd_features)
    return parser


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
    p.add_argument(
        "--dataset-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset loader parameter, repeatable (e.g. --dataset-param root=/data/cifar)",
    )
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ValueError, TypeError, PluginError) as exc:
        sys.stderr.write(f"subsel {args.command}: error: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
