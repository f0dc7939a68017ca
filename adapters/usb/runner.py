"""``subsel-usb`` and :func:`run_usb`: one USB (semilearn) run on a labeled set.

The labeled set is given by the caller (``run_usb(config, labeled=rows)``) or
chosen by the config's subsel strategy on its features. The steps: read and
check the config, load the dataset, select (when no rows are given), record
the inputs beside USB's checkpoint, train, and write the final metrics.
See :mod:`subsel_plugins.adapters.usb` for the config entries and outputs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import sys
import time
import warnings

import numpy as np

from ...errors import InvalidTypeError
from ._compat import cpu_device, import_semilearn
from ._config import (
    SubselConfig,
    USBConfigError,
    check_save_path,
    expand_config,
    load_config,
    parse_device,
)
from ._data import build_usb_datasets

#: Files the runner writes into ``save_dir/save_name`` beside USB's own.
LABELED_FILE = "subsel_labeled_idx.npy"
LABELED_INFO_FILE = "subsel_labeled.json"
CONFIG_FILE = "subsel_config.yaml"
METRICS_FILE = "subsel_metrics.json"


# ---------------------------------------------------------------------------
# features and selection


def dataset_params(args, subsel: SubselConfig) -> dict:
    """Loader parameters: ``subsel_dataset_params``, plus USB's data layout as the default root.

    USB keeps a dataset under ``data_dir/<dataset>`` (torchvision's download
    folder for CIFAR); when that folder exists and the loader takes ``root``,
    it is the default, so USB's stock configs find their data unchanged.
    """
    import inspect

    from subsel_plugins.registry import registrations

    params = dict(subsel.dataset_params)
    loader = registrations("datasets").get(args.dataset)
    folder = os.path.join(str(args.data_dir), str(args.dataset))
    if loader is not None and "root" not in params and os.path.isdir(folder):
        try:
            takes_root = "root" in inspect.signature(loader.obj).parameters
        except (TypeError, ValueError):
            takes_root = False
        if takes_root:
            params["root"] = folder
    return params


def load_features(
    subsel: SubselConfig, data, dataset_name: str, seed: int, dataset_params: dict | None = None
) -> np.ndarray:
    """Features of the training split that the strategy selects from.

    ``raw``: flattened pixels scaled to [0, 1]. A path: an .npy file
    (memory-mapped). Otherwise a registered extractor, through the feature
    cache ``subsel_plugins.features.load_or_compute`` (or, where that module
    is not installed, the extractor itself: ``fit`` when it has one, then
    ``transform``).

    Returns
    -------
    ndarray of shape (n_train, d)
    """
    n = len(data.train)
    spec = subsel.features
    if spec == "raw":
        F = np.asarray(data.train.images, dtype=np.float32).reshape(n, -1) / np.float32(255.0)
    elif spec.lower().endswith(".npy") or "/" in spec or os.sep in spec:
        try:
            F = np.load(spec, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise USBConfigError(f"subsel_features: {spec!r} is not a readable .npy file: {exc}") from None
    else:
        try:
            from subsel_plugins.features import load_or_compute
        except ImportError:
            load_or_compute = None
        if load_or_compute is not None:
            F = load_or_compute(
                dataset_name,
                "train",
                spec,
                subsel.feature_params,
                seed,
                cache_dir=subsel.feature_cache,
                dataset_params=dataset_params or None,
            )
        else:
            from subsel_plugins import get_feature_extractor

            extractor = get_feature_extractor(spec, **subsel.feature_params)
            if callable(getattr(extractor, "fit", None)):
                extractor.fit(data.train.images)
            F = extractor.transform(data.train.images)
    if F.ndim != 2 or F.shape[0] != n:
        raise USBConfigError(
            f"subsel_features {spec!r} gave an array of shape {F.shape}; expected ({n}, d), one row per "
            f"training example of dataset {dataset_name!r}."
        )
    _check_finite(F, spec)
    return F


def _check_finite(F, spec: str, block: int = 65536) -> None:
    """NaN or infinity in the features is an error naming ``subsel_features`` and the first bad row."""
    if not (np.issubdtype(F.dtype, np.floating) or np.issubdtype(F.dtype, np.complexfloating)):
        return
    for start in range(0, F.shape[0], block):
        finite = np.isfinite(F[start : start + block])
        if not finite.all():
            row = start + int(np.argwhere(~finite)[0, 0])
            raise USBConfigError(
                f"subsel_features {spec!r} holds NaN or infinity (first at row {row}); "
                "expected finite features."
            )


def select_labeled(
    subsel: SubselConfig, features, num_labels: int, seed: int, num_classes: int | None = None
) -> np.ndarray:
    """Rows to label, chosen by ``subsel.strategy`` (``random_state`` defaults to ``seed``).

    ``num_classes`` (the config's) goes to every strategy parameter named
    ``n_classes`` or ``<part>__n_classes`` (ProbCover's pseudo-label k, as the
    paper sets it), unless ``subsel_params`` sets ``n_classes`` or that key.

    Returns
    -------
    ndarray of shape (num_labels,), int64
        Distinct training rows, in pick order. No class balance is assumed.
    """
    from subsel_plugins import get_strategy

    params = dict(subsel.params)
    params.setdefault("random_state", seed)
    strategy = get_strategy(subsel.strategy, **params)
    if (
        num_classes is not None
        and "n_classes" not in params
        and callable(getattr(strategy, "get_params", None))
    ):
        keys = [k for k in strategy.get_params(deep=True) if k == "n_classes" or k.endswith("__n_classes")]
        if keys := [k for k in keys if k not in params]:
            strategy.set_params(**dict.fromkeys(keys, int(num_classes)))
    from subsel_plugins.cli import run_strategy

    idx, _ = run_strategy(strategy, subsel.strategy, features, num_labels)
    return np.asarray(idx, dtype=np.int64)


# ---------------------------------------------------------------------------
# running semilearn


def _resolve_device(subsel: SubselConfig, args) -> str:
    import torch

    device = subsel.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise USBConfigError(
                f"subsel_device is {subsel.device!r} but torch sees no CUDA device; set subsel_device: cpu "
                "(or SUBSEL_USB_DEVICE=cpu) to train on the CPU."
            )
        if ":" in device:
            args.gpu = int(device.split(":", 1)[1])
        elif not isinstance(args.gpu, int):
            args.gpu = 0
        if args.gpu >= torch.cuda.device_count():
            raise USBConfigError(
                f"gpu={args.gpu}, but torch sees {torch.cuda.device_count()} CUDA device(s)."
            )
        return f"cuda:{args.gpu}"
    if args.amp:
        raise USBConfigError("amp: True needs CUDA; set amp: False to train on the CPU.")
    args.gpu = None
    return "cpu"


def _with_datasets(alg_cls, dataset_dict):
    """A subclass of a semilearn algorithm whose ``set_dataset`` returns ``dataset_dict``."""

    class WithChosenLabels(alg_cls):
        def set_dataset(self):
            self.args.ulb_dest_len = (
                len(dataset_dict["train_ulb"]) if dataset_dict["train_ulb"] is not None else 0
            )
            self.args.lb_dest_len = len(dataset_dict["train_lb"])
            self.print_fn(
                f"unlabeled data number: {self.args.ulb_dest_len}, "
                f"labeled data number {self.args.lb_dest_len}"
            )
            return dataset_dict

    WithChosenLabels.__name__ = WithChosenLabels.__qualname__ = alg_cls.__name__
    return WithChosenLabels


def _make_logger(save_path: str, name: str, verbose: bool):
    logger = logging.getLogger(f"subsel_plugins.usb.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fmt = logging.Formatter("[%(asctime)s %(levelname)s] %(message)s")
    handlers = [logging.FileHandler(os.path.join(save_path, "log.txt"))]
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    return logger, handlers


def _prepare_save_path(args, labeled: np.ndarray) -> str:
    """USB's overwrite/resume rules, plus: resuming needs the same labeled set."""
    save_path = check_save_path(args)
    if os.path.exists(save_path) and args.overwrite and not args.resume:
        shutil.rmtree(save_path)
    if args.resume:
        old = os.path.join(save_path, LABELED_FILE)
        if os.path.exists(args.load_path) and os.path.exists(old):
            previous = np.load(old)
            if not np.array_equal(previous, labeled):
                raise USBConfigError(
                    f"resume: the checkpoint in {save_path!r} was trained on another labeled set than "
                    "the one chosen now; set resume: False (or another save_name) to start afresh."
                )
    os.makedirs(save_path, exist_ok=True)
    return save_path


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _write_yaml(path: str, data: dict) -> None:
    import ruamel.yaml as yaml

    with open(path, "w", encoding="utf-8") as fh, warnings.catch_warnings():
        # the same ruamel.yaml 0.17 API semilearn reads configs with (0.18 removed it)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        yaml.dump(_plain(data), fh, Dumper=yaml.RoundTripDumper, default_flow_style=False)


def run_usb(config, labeled=None, *, device: str | None = None, verbose: bool = True) -> dict:
    """Run one semi-supervised USB training on a given labeled set, or on one a strategy chooses.

    Parameters
    ----------
    config : dict or path-like
        A USB config (as a dict, or the path of its YAML file) with the
        ``subsel_*`` entries (see :mod:`subsel_plugins.adapters.usb`).
    labeled : array-like of int, shape (num_labels,), optional
        Training rows to label, in order. When given, no selection runs and
        ``subsel_strategy`` may be left out; when None, ``subsel_strategy``
        chooses them on ``subsel_features``.
    device : str, optional
        Overrides ``subsel_device`` and ``SUBSEL_USB_DEVICE``: ``cpu``,
        ``cuda``, ``cuda:N`` or ``auto``.
    verbose : bool
        Also log to stderr (the log always goes to ``save_dir/save_name/log.txt``).

    Returns
    -------
    dict
        Final metrics (also written to ``subsel_metrics.json``): the final EMA
        model's ``eval/top-1-acc``, ``eval/balanced_acc``, ``eval/precision``,
        ``eval/recall``, ``eval/F1``, ``eval/loss``; USB's ``eval/best_acc``
        and ``eval/best_it``; ``eval_curve`` (``[iteration, top-1 accuracy]``
        of every evaluation during training, every ``num_eval_iter``
        iterations and at the last); and ``num_labels``, ``labeled_classes``
        (classes present in the labeled set), ``iterations``, ``device``,
        ``train_seconds``, ``save_path``.
    """
    args, subsel = _read_config(config, device, need_strategy=labeled is None)
    import_semilearn()
    resolved = _resolve_device(subsel, args)
    # everything checkable is checked before the data is read and selection and training run
    check_save_path(args)
    data, ds_params = _load_dataset(args, subsel)
    if labeled is not None:
        labeled = check_labeled(labeled, args.num_labels, len(data.train))
    _seed_like_usb(args.seed)
    if labeled is None:
        features = load_features(subsel, data, args.dataset, args.seed, ds_params)
        labeled = select_labeled(subsel, features, args.num_labels, args.seed, args.num_classes)
        del features
    save_path = _record_inputs(args, subsel, data, labeled, resolved)
    dataset_dict = build_usb_datasets(args, data, labeled, hflip=subsel.hflip)
    logger, handlers = _make_logger(save_path, args.save_name, verbose)
    try:
        metrics = _train(args, dataset_dict, resolved, save_path, logger)
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
    metrics.update(
        num_labels=int(len(labeled)),
        labeled_classes=int(np.unique(data.train.labels[labeled]).size),
        device=resolved,
        save_path=save_path,
    )
    metrics = _plain(metrics)
    with open(os.path.join(save_path, METRICS_FILE), "w") as fh:
        json.dump(metrics, fh, indent=2)
    return metrics


def _read_config(config, device, *, need_strategy: bool):
    """The expanded config of a dict or YAML path, with ``device`` (when given) as ``subsel_device``."""
    if device is not None:
        parse_device(device)
    if isinstance(config, dict):
        cfg = dict(config)
    elif isinstance(config, (str, os.PathLike)):
        cfg = load_config(config)
    else:
        raise InvalidTypeError(
            f"config must be a dict or the path of a YAML file; got {type(config).__name__}."
        )
    args, subsel = expand_config(cfg, need_strategy=need_strategy)
    if device is not None:
        subsel.device = parse_device(device)
    return args, subsel


def _load_dataset(args, subsel: SubselConfig):
    """The registered dataset ``args.dataset`` and its loader parameters, checked against the config."""
    from subsel_plugins import available_datasets, get_dataset

    if args.dataset not in available_datasets():
        raise USBConfigError(
            f"dataset: {args.dataset!r} is not a registered dataset; available: {available_datasets()} "
            "(register more through the subsel_register_datasets hook)."
        )
    ds_params = dataset_params(args, subsel)
    data = get_dataset(args.dataset, **ds_params)
    if data.num_classes != args.num_classes:
        raise USBConfigError(
            f"num_classes={args.num_classes}, but dataset {args.dataset!r} has {data.num_classes} classes."
        )
    n_train = len(data.train)
    if args.num_labels > n_train:
        raise USBConfigError(
            f"num_labels={args.num_labels} exceeds the {n_train} training examples of {args.dataset!r}."
        )
    return data, ds_params


def check_labeled(labeled, num_labels: int, n_train: int) -> np.ndarray:
    """``labeled`` as distinct int64 training rows, as many as the config's ``num_labels``."""
    arr = np.asarray(labeled)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise InvalidTypeError(
            f"labeled must be a 1-D array of int row indices; got {arr.dtype} of shape {arr.shape}."
        )
    arr = arr.astype(np.int64)
    if arr.size != num_labels:
        raise USBConfigError(f"labeled holds {arr.size} rows but num_labels={num_labels}; expected as many.")
    if arr.size and (arr.min() < 0 or arr.max() >= n_train or np.unique(arr).size != arr.size):
        raise USBConfigError(
            f"labeled must hold distinct training rows in [0, {n_train}); got {arr.tolist()[:10]}..."
        )
    return arr


def _seed_like_usb(seed: int) -> None:
    """Seed Python, numpy's legacy state and torch, as USB's train.py does before building data and model."""
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - semilearn's own code draws from the legacy global state
    torch.manual_seed(seed)


def _record_inputs(args, subsel: SubselConfig, data, labeled: np.ndarray, resolved: str) -> str:
    """Write the labeled set and the expanded config into the run's save path; returns that path."""
    save_path = _prepare_save_path(args, labeled)
    np.save(os.path.join(save_path, LABELED_FILE), labeled)
    lab_labels = data.train.labels[labeled]
    with open(os.path.join(save_path, LABELED_INFO_FILE), "w") as fh:
        json.dump(
            {
                "strategy": subsel.strategy,
                "indices": labeled.tolist(),
                "labels": lab_labels.tolist(),
                "class_counts": np.bincount(lab_labels, minlength=data.num_classes).tolist(),
            },
            fh,
        )
    expanded = {**vars(args), **subsel.as_entries(), "subsel_resolved_device": resolved}
    _write_yaml(os.path.join(save_path, CONFIG_FILE), expanded)
    return save_path


def build_algorithm(args, dataset_dict, device: str = "cpu", *, tb_log=None, logger=None):
    """semilearn's ``args.algorithm``, built on ``dataset_dict`` and placed on ``device``.

    Call it inside :func:`~subsel_plugins.adapters.usb.cpu_device` when
    ``device`` is ``"cpu"`` (semilearn builds CUDA tensors in some algorithms'
    constructors). ``alg.dataset_dict`` is ``dataset_dict`` itself.

    Parameters
    ----------
    args : argparse.Namespace
        Expanded config (:func:`~subsel_plugins.adapters.usb.expand_config`).
    dataset_dict : dict
        From :func:`~subsel_plugins.adapters.usb.build_usb_datasets`.
    device : str
        ``"cpu"`` or ``"cuda:N"``.
    """
    from semilearn.algorithms import name2alg
    from semilearn.core.utils import get_net_builder, send_model_cuda

    net_builder = get_net_builder(args.net, args.net_from_name)
    alg = _with_datasets(name2alg[args.algorithm], dataset_dict)(
        args=args, net_builder=net_builder, tb_log=tb_log, logger=logger
    )
    if device != "cpu":
        alg.model = send_model_cuda(args, alg.model)
        alg.ema_model = send_model_cuda(args, alg.ema_model)
    return alg


def _train(args, dataset_dict, device, save_path, logger) -> dict:
    import torch.backends.cudnn as cudnn
    from semilearn.core.utils import TBLog, count_parameters

    on_cpu = device == "cpu"
    if not on_cpu:
        cudnn.deterministic = True
        cudnn.benchmark = True
    tb_log = TBLog(save_path, "tensorboard", use_tensorboard=args.use_tensorboard)
    logger.info(f"Use device {device} for training")
    with cpu_device() if on_cpu else contextlib.nullcontext(), warnings.catch_warnings():
        # semilearn's evaluation computes macro precision over classes an early model never predicts
        warnings.filterwarnings("ignore", message="Precision is ill-defined")
        alg = build_algorithm(args, dataset_dict, device, tb_log=tb_log, logger=logger)
        logger.info(f"Number of Trainable Params: {count_parameters(alg.model)}")
        logger.info(f"Arguments: {alg.args}")
        if args.resume and args.load_path and os.path.exists(args.load_path):
            alg.load_model(args.load_path)
        curve = _record_eval_curve(alg)
        if hasattr(alg, "warmup"):
            alg.warmup()
        start = time.perf_counter()
        alg.train()
        if hasattr(alg, "finetune"):
            alg.finetune()
        seconds = time.perf_counter() - start
        alg.save_model("latest_model.pth", save_path)
        last = getattr(alg, "log_dict", None) or {}
        if "eval/top-1-acc" in last and not hasattr(alg, "finetune"):
            # USB's EvaluationHook evaluated the final (EMA) model at the last iteration
            final = {k: v for k, v in last.items() if k.startswith("eval/")}
        else:
            final = alg.evaluate("eval")
    results = getattr(alg, "results_dict", {})
    for key, item in results.items():
        logger.info(f"Model result - {key} : {item}")
    metrics = {k: float(v) for k, v in final.items() if np.ndim(v) == 0}
    metrics.update(results)
    metrics["iterations"] = int(alg.it)
    metrics["train_seconds"] = round(seconds, 3)
    metrics["eval_curve"] = curve
    return metrics


def _record_eval_curve(alg) -> list:
    """Record ``[iteration, top-1 accuracy]`` of every evaluation on the eval split during training.

    USB's EvaluationHook calls ``alg.evaluate("eval")`` every ``num_eval_iter``
    iterations and at the last one, on the EMA weights; the instance's
    ``evaluate`` is wrapped to keep each result (the list is filled in place).
    """
    curve: list = []
    evaluate = alg.evaluate

    def recording(eval_dest="eval", *args, **kwargs):
        out = evaluate(eval_dest, *args, **kwargs)
        if eval_dest == "eval" and isinstance(out, dict) and "eval/top-1-acc" in out:
            # the hook runs before alg.it counts the step just taken
            curve.append([int(alg.it) + 1, float(out["eval/top-1-acc"])])
        return out

    alg.evaluate = recording
    return curve


# ---------------------------------------------------------------------------
# command line


def main(argv=None) -> int:
    """``subsel-usb --c config.yaml``: run :func:`run_usb` on a YAML config.

    Exit status 0; 2 with one line on stderr for a user error (config, files,
    missing extras), checked before selection and training start; any other
    error keeps its traceback. ``--debug`` shows the traceback of user errors too.
    """
    from subsel_plugins.cli import DEBUG_HELP, DoorParser, run_door

    parser = DoorParser(
        prog="subsel-usb",
        description="Semi-supervised training with USB (semilearn) on a labeled set chosen by a subsel "
        "strategy. The config is a USB YAML config plus subsel_* entries.",
    )
    parser.add_argument("--c", "--config", dest="config", required=True, help="USB YAML config file")
    parser.add_argument(
        "--device",
        default=None,
        help="override subsel_device and SUBSEL_USB_DEVICE: cpu, cuda, cuda:N or auto",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log to log.txt only")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    ns = parser.parse_args(argv)

    def run() -> int:
        metrics = run_usb(ns.config, device=ns.device, verbose=not ns.quiet)
        print(json.dumps(metrics, indent=2))
        return 0

    return run_door("subsel-usb", run, debug=ns.debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
