"""The ``subsel_*`` config entries: parsing, validation, and USB's own config expansion."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import InvalidValueError

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

    strategy: str
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
    if not path.is_file():
        raise USBConfigError(f"config file {str(path)!r} does not exist.")
    import_semilearn()
    from semilearn.core.utils import over_write_args_from_file

    ns = argparse.Namespace()
    with warnings.catch_warnings():
        # ruamel.yaml 0.17 announces the removal (in 0.18) of the API semilearn uses
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        over_write_args_from_file(ns, str(path))
    return dict(vars(ns))


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


def validate_subsel(cfg: dict) -> SubselConfig:
    """Validate the ``subsel_*`` entries of a config dict.

    The strategy is built once (with ``random_state`` defaulting to the
    config's ``seed``) so that unknown strategies and invalid parameters fail
    here, before any data is read.

    Raises
    ------
    USBConfigError
        Naming the entry, the value and what was expected; an unknown strategy
        lists the available ones.
    """
    from subsel_plugins import available_feature_extractors, available_strategies, get_strategy

    unknown = sorted(
        k for k in cfg if k.startswith("subsel_") and k not in SUBSEL_KEYS and k not in INFO_KEYS
    )
    if unknown:
        hints = [difflib.get_close_matches(k, list(SUBSEL_KEYS), n=1) for k in unknown]
        said = ", ".join(
            f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in zip(unknown, hints)
        )
        raise USBConfigError(f"unknown config entries {said}; the adapter reads {sorted(SUBSEL_KEYS)}.")

    strategy = _none(cfg.get("subsel_strategy"))
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
    seed = _none(cfg.get("seed"))
    trial = dict(params)
    if "random_state" not in trial and isinstance(seed, int):
        trial["random_state"] = seed
    try:
        get_strategy(strategy, **trial)
    except (TypeError, ValueError) as exc:
        raise USBConfigError(
            f"subsel_params {params!r} are invalid for strategy {strategy!r}: {exc}"
        ) from None

    features = _none(cfg.get("subsel_features", SUBSEL_KEYS["subsel_features"]))
    if not isinstance(features, str) or not features:
        raise USBConfigError(
            f"subsel_features must be 'raw', a registered feature extractor or a path to an .npy file; "
            f"got {features!r}."
        )
    if _looks_like_path(features):
        if not Path(features).is_file():
            raise USBConfigError(f"subsel_features: the features file {features!r} does not exist.")
    elif features != "raw":
        extractors = available_feature_extractors()
        if features not in extractors:
            raise USBConfigError(
                f"subsel_features: unknown feature extractor {features!r}; expected 'raw', one of "
                f"{extractors} or a path to an .npy file of shape (n_train, d)."
            )
    feature_params = _check_dict(cfg, "subsel_feature_params")
    cache = _none(cfg.get("subsel_feature_cache"))
    if cache is not None and not isinstance(cache, str):
        raise USBConfigError(f"subsel_feature_cache must be a directory path or None; got {cache!r}.")
    dataset_params = _check_dict(cfg, "subsel_dataset_params")
    device = parse_device(
        os.environ.get(DEVICE_ENV) or cfg.get("subsel_device", SUBSEL_KEYS["subsel_device"])
    )
    hflip = cfg.get("subsel_hflip", True)
    if not isinstance(hflip, bool):
        raise USBConfigError(f"subsel_hflip must be true or false; got {hflip!r}.")
    return SubselConfig(strategy, params, features, feature_params, cache, dataset_params, device, hflip)


def _looks_like_path(text: str) -> bool:
    return text.endswith(".npy") or "/" in text or os.sep in text


def expand_config(cfg: dict) -> tuple[argparse.Namespace, SubselConfig]:
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
    """
    from ._compat import import_semilearn

    subsel = validate_subsel(cfg)
    usb = {k: v for k, v in cfg.items() if not k.startswith("subsel_")}
    import_semilearn()
    from semilearn.algorithms import name2alg
    from semilearn.lighting.config import get_config

    algorithm = usb.get("algorithm", "fixmatch")
    if algorithm not in name2alg:
        raise USBConfigError(
            f"algorithm: unknown USB algorithm {algorithm!r}; available: {sorted(name2alg.keys())}."
        )
    if _none(usb.get("imb_algorithm")) is not None:
        raise USBConfigError(
            f"imb_algorithm: {usb['imb_algorithm']!r} is not supported by the subsel USB adapter (the "
            "imbalanced algorithms rebuild semilearn's own datasets); remove the entry."
        )
    usb["imb_algorithm"] = None
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
