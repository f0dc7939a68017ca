"""The USB adapter's config: reading YAML, checking the ``subsel_*`` entries, expanding USB's own.

Everything a run can get wrong in its config fails here, naming the entry,
before any data is read or training starts.
"""

from __future__ import annotations

import argparse
import difflib
import math
import numbers
import os
import re
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import InvalidValueError, SubselError

#: Environment variable that overrides ``subsel_device`` (e.g. to run a stock config on the CPU).
DEVICE_ENV = "SUBSEL_USB_DEVICE"

#: The entries this adapter reads, with their defaults (None: required).
SUBSEL_KEYS = {
    "subsel_strategy": None,
    "subsel_params": {},
    "subsel_features": "raw",
    "subsel_feature_params": {},
    "subsel_feature_cache": None,
    "subsel_dataset_params": {},
    "subsel_device": "cuda",
    "subsel_hflip": True,
}

#: Entries the runner writes into the expanded config for the record; ignored when read back.
INFO_KEYS = ("subsel_resolved_device",)

_DEVICE_RE = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")


class USBConfigError(InvalidValueError):
    """A USB config entry is missing or invalid; the message names the entry."""


@dataclass
class SubselConfig:
    """The validated ``subsel_*`` entries of one config (see the package docstring)."""

    strategy: str | None  # None: the caller gives the labeled rows
    params: dict = field(default_factory=dict)
    features: str = "raw"
    feature_params: dict = field(default_factory=dict)
    feature_cache: str | None = None
    dataset_params: dict = field(default_factory=dict)
    device: str = "cuda"
    hflip: bool = True

    def as_entries(self) -> dict:
        """The entries as they go into an expanded config (``subsel_`` prefixed)."""
        return {f"subsel_{k}": v for k, v in asdict(self).items()}


def _none(value):
    # semilearn's YAML loader reads `None` as the string 'None' (USB configs write `gpu: None`)
    return None if value is None or value == "None" else value


def load_config(path) -> dict:
    """Read a USB YAML config with semilearn's own loader (``over_write_args_from_file``).

    Returns
    -------
    dict
        The entries as semilearn reads them (``None`` stays the string ``'None'``).
    """
    from ._compat import import_semilearn

    path = Path(path)
    if path.is_dir():
        raise USBConfigError(f"config file {str(path)!r} is a directory; expected a YAML file.")
    if not path.is_file():
        raise USBConfigError(f"config file {str(path)!r} does not exist.")
    _check_yaml(path)
    import_semilearn()
    from ruamel.yaml.error import YAMLError
    from semilearn.core.utils import over_write_args_from_file

    ns = argparse.Namespace()
    try:
        with warnings.catch_warnings():
            # ruamel.yaml 0.17 announces the removal (in 0.18) of the API semilearn uses
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            over_write_args_from_file(ns, str(path))
    except YAMLError as exc:
        raise USBConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    return dict(vars(ns))


def _check_yaml(path: Path) -> None:
    """Fail with the file and line on what semilearn's loader would trip over: syntax, emptiness, shape."""
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError
    except ImportError:  # pragma: no cover - ruamel.yaml comes with the [usb] extra
        return
    try:
        data = YAML(typ="safe", pure=True).load(path)
    except YAMLError as exc:
        raise USBConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise USBConfigError(f"config file {str(path)!r} cannot be read as UTF-8 text: {exc}") from None
    if data is None:
        raise USBConfigError(f"config file {str(path)!r} is empty; expected a mapping of USB config entries.")
    if not isinstance(data, dict):
        raise USBConfigError(
            f"config file {str(path)!r} holds a {type(data).__name__}; expected a mapping of config entries "
            "(key: value lines)."
        )
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise USBConfigError(f"config file {str(path)!r}: entry names must be strings; got {bad[:3]!r}.")


def _check_dict(cfg, key):
    value = _none(cfg.get(key, SUBSEL_KEYS[key]))
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise USBConfigError(f"{key} must be a mapping of parameter names to values; got {value!r}.")
    return dict(value)


def parse_device(value) -> str:
    """Check a ``subsel_device`` value: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""
    if not isinstance(value, str) or not _DEVICE_RE.match(value.strip().lower()):
        raise USBConfigError(f"subsel_device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {value!r}.")
    return value.strip().lower()


def validate_subsel(cfg: dict, *, need_strategy: bool = True) -> SubselConfig:
    """Validate the ``subsel_*`` entries of a config dict.

    The strategy is built once (with ``random_state`` defaulting to the
    config's ``seed``) so that unknown strategies and invalid parameters fail
    here, before any data is read. With ``need_strategy=False`` (the caller
    gives the labeled rows) ``subsel_strategy`` may be left out.

    Raises
    ------
    USBConfigError
        Naming the entry, the value and what was expected; an unknown strategy
        lists the available ones.
    """
    if not isinstance(cfg, dict):
        raise USBConfigError(f"a USB config must be a mapping of entries; got {type(cfg).__name__}.")
    _check_known_entries(cfg)
    strategy, params = _check_strategy(cfg, need_strategy)
    check_seed(cfg.get("seed", 0))
    features, feature_params = _check_features(cfg)
    cache = _none(cfg.get("subsel_feature_cache"))
    if cache is not None and not isinstance(cache, str):
        raise USBConfigError(f"subsel_feature_cache must be a directory path or None; got {cache!r}.")
    if cache is not None and os.path.exists(cache) and not os.path.isdir(cache):
        raise USBConfigError(f"subsel_feature_cache {cache!r} is a file; expected a directory.")
    dataset_params = _check_dict(cfg, "subsel_dataset_params")
    device = parse_device(
        os.environ.get(DEVICE_ENV) or cfg.get("subsel_device", SUBSEL_KEYS["subsel_device"])
    )
    hflip = cfg.get("subsel_hflip", True)
    if not isinstance(hflip, bool):
        raise USBConfigError(f"subsel_hflip must be true or false; got {hflip!r}.")
    return SubselConfig(strategy, params, features, feature_params, cache, dataset_params, device, hflip)


def _check_known_entries(cfg: dict) -> None:
    """Every ``subsel_*`` entry is one the adapter reads; a typo gets the closest name."""
    unknown = sorted(
        k for k in cfg if k.startswith("subsel_") and k not in SUBSEL_KEYS and k not in INFO_KEYS
    )
    if unknown:
        hints = [difflib.get_close_matches(k, list(SUBSEL_KEYS), n=1) for k in unknown]
        said = ", ".join(
            f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in zip(unknown, hints)
        )
        raise USBConfigError(f"unknown config entries {said}; the adapter reads {sorted(SUBSEL_KEYS)}.")


def _check_strategy(cfg: dict, required: bool) -> tuple[str | None, dict]:
    """``subsel_strategy`` (a registered name; None only when not required) and its ``subsel_params``."""
    from subsel_plugins import available_strategies
    from subsel_plugins.cli import checked_strategy

    strategy = _none(cfg.get("subsel_strategy"))
    if strategy is None and not required:
        return None, _check_dict(cfg, "subsel_params")
    available = available_strategies()
    if strategy is None:
        raise USBConfigError(
            "subsel_strategy is missing: name the strategy that chooses the labeled set, one of: "
            + ", ".join(available)
        )
    if not isinstance(strategy, str) or strategy not in available:
        hint = difflib.get_close_matches(str(strategy), available, n=1)
        did = f" Did you mean {hint[0]!r}?" if hint else ""
        raise USBConfigError(
            f"subsel_strategy: unknown strategy {strategy!r}.{did} Available: {', '.join(available)}."
        )
    params = _check_dict(cfg, "subsel_params")
    seed = check_seed(cfg.get("seed", 0))
    trial = dict(params)
    trial.setdefault("random_state", seed)
    try:
        checked_strategy(strategy, trial)
    except SubselError as exc:
        raise USBConfigError(
            f"subsel_params {params!r} are invalid for strategy {strategy!r}: {exc}"
        ) from None
    return strategy, params


def _check_features(cfg: dict) -> tuple[str, dict]:
    """``subsel_features`` ('raw', a registered extractor or an .npy path) and ``subsel_feature_params``."""
    from subsel_plugins import available_feature_extractors, get_feature_extractor

    features = _none(cfg.get("subsel_features", SUBSEL_KEYS["subsel_features"]))
    if not isinstance(features, str) or not features:
        raise USBConfigError(
            f"subsel_features must be 'raw', a registered feature extractor or a path to an .npy file; "
            f"got {features!r}."
        )
    feature_params = _check_dict(cfg, "subsel_feature_params")
    if _looks_like_path(features):
        check_features_file(features)
    elif features != "raw":
        extractors = available_feature_extractors()
        if features not in extractors:
            raise USBConfigError(
                f"subsel_features: unknown feature extractor {features!r}; expected 'raw', one of "
                f"{extractors} or a path to an .npy file of shape (n_train, d)."
            )
        try:
            get_feature_extractor(features, **feature_params)
        except SubselError as exc:
            raise USBConfigError(
                f"subsel_feature_params {feature_params!r} are invalid for extractor {features!r}: {exc}"
            ) from None
    return features, feature_params


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(".npy") or "/" in text or os.sep in text


def check_seed(value) -> int:
    """USB's ``seed``: an int in [0, 2**32) (it seeds Python, numpy's legacy state and torch)."""
    value = _none(value)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise USBConfigError(f"seed must be an integer in [0, 2**32); got {value!r}.")
    if not 0 <= value < 2**32:
        raise USBConfigError(f"seed must be an integer in [0, 2**32); got {value!r}.")
    return int(value)


def check_features_file(path: str) -> None:
    """``subsel_features`` as a file: an existing, readable, 2-D numeric .npy (only its header is read)."""
    import numpy as np

    if not path.lower().endswith(".npy"):
        raise USBConfigError(
            f"subsel_features: {path!r} is not an .npy file; expected an .npy of shape (n_train, d)."
        )
    if os.path.isdir(path):
        raise USBConfigError(f"subsel_features: {path!r} is a directory; expected an .npy file.")
    if not os.path.isfile(path):
        raise USBConfigError(f"subsel_features: the features file {path!r} does not exist.")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise USBConfigError(f"subsel_features: {path!r} is not a readable .npy file: {exc}") from None
    if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise USBConfigError(
            f"subsel_features: {path!r} holds a {arr.ndim}-D {arr.dtype} array of shape {arr.shape}; "
            "expected a 2-D numeric array of shape (n_train, d)."
        )


def expand_config(cfg: dict, *, need_strategy: bool = True) -> tuple[argparse.Namespace, SubselConfig]:
    """Split a config into USB's full argument namespace and the validated ``subsel_*`` entries.

    USB's entries are expanded with semilearn's own defaults, algorithm
    arguments included (``semilearn.lighting.get_config``), exactly as USB's
    ``train.py`` does.

    Returns
    -------
    args : argparse.Namespace
        Every USB argument, defaults filled in, ``None`` strings turned into
        None, and set for one process (``distributed`` and
        ``multiprocessing_distributed`` False, ``world_size`` 1, ``rank`` 0).
    subsel : SubselConfig
        ``strategy`` is None when ``need_strategy`` is False and the config names none.
    """
    from ._compat import import_semilearn

    subsel = validate_subsel(cfg, need_strategy=need_strategy)
    usb = {k: v for k, v in cfg.items() if not k.startswith("subsel_")}
    import_semilearn()
    from semilearn.algorithms import name2alg
    from semilearn.lighting.config import get_config

    algorithm = usb.get("algorithm", "fixmatch")
    if not isinstance(algorithm, str) or algorithm not in name2alg:
        raise USBConfigError(
            f"algorithm: unknown USB algorithm {algorithm!r}; available: {sorted(name2alg.keys())}."
        )
    if _none(usb.get("imb_algorithm")) is not None:
        raise USBConfigError(
            f"imb_algorithm: {usb['imb_algorithm']!r} is not supported by the subsel USB adapter (the "
            "imbalanced algorithms rebuild semilearn's own datasets); remove the entry."
        )
    usb["imb_algorithm"] = None
    _check_usb_types(usb, vars(get_config({"algorithm": algorithm})))
    args = get_config(usb)
    for key, value in vars(args).items():
        if value == "None":
            setattr(args, key, None)
    # one process on one device: USB's multi-process launcher is not used
    args.multiprocessing_distributed = False
    args.distributed = False
    args.world_size = 1
    args.rank = 0
    _check_usb_args(args)
    return args, subsel


def _check_usb_types(usb: dict, defaults: dict) -> None:
    """Each USB entry the config sets has the type of semilearn's default for it (ints for floats too).

    Entries semilearn does not know, and those whose default is None, are passed on unchecked.
    """
    for key, value in usb.items():
        default = defaults.get(key)
        if default is None or value is None or value == "None" and not isinstance(default, str):
            continue
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, want = isinstance(value, numbers.Integral) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            want = "a finite number"
        elif isinstance(default, str):
            ok, want = isinstance(value, str), "a string"
        else:
            continue
        if not ok:
            raise USBConfigError(
                f"{key} must be {want} (like semilearn's default {default!r}); got {value!r}."
            )


def check_save_path(args) -> str:
    """``save_dir/save_name`` can be created and written, before anything long runs.

    Nothing is created here: the runner makes the folder after selection (as
    USB does), so a config that fails later leaves no empty folder behind.
    """
    save_path = os.path.join(str(args.save_dir), str(args.save_name))
    if os.path.exists(save_path):
        if not os.path.isdir(save_path):
            raise USBConfigError(f"save_dir/save_name {save_path!r} is a file; expected a directory.")
        if not args.overwrite and not args.resume:
            raise USBConfigError(f"save_dir/save_name {save_path!r} exists and overwrite is False.")
    if args.resume and args.load_path is None:
        raise USBConfigError("resume: True needs load_path.")
    existing = Path(save_path).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise USBConfigError(
            f"save_dir/save_name {save_path!r} cannot be created: {str(existing)!r} is a file, "
            "not a directory."
        )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".subsel-probe-", dir=existing))
    except OSError as exc:
        raise USBConfigError(
            f"save_dir/save_name {save_path!r} cannot be created or written: {str(existing)!r}: "
            f"{exc.strerror or exc}."
        ) from None
    return save_path


def _check_usb_args(args) -> None:
    for key in ("num_labels", "num_classes", "num_train_iter", "epoch", "batch_size", "img_size"):
        value = getattr(args, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise USBConfigError(f"{key} must be a positive integer; got {value!r}.")
    if args.num_train_iter % args.epoch:
        raise USBConfigError(
            f"num_train_iter={args.num_train_iter} must be divisible by epoch={args.epoch} "
            "(USB's train.py asserts it)."
        )
    if not isinstance(args.dataset, str):
        raise USBConfigError(f"dataset must be a registered dataset name; got {args.dataset!r}.")
    import semilearn.nets as nets

    if not args.net_from_name and not callable(getattr(nets, str(args.net), None)):
        names = sorted(
            n for n in dir(nets) if not n.startswith("_") and n.islower() and callable(getattr(nets, n))
        )
        raise USBConfigError(f"net: unknown semilearn network {args.net!r}; available: {names}.")
