"""Loading checkpoints without arbitrary unpickling."""

from __future__ import annotations

import os
import pickle

from ..errors import InvalidValueError, MissingFileError
from ._torch import require_torch


class UnsafeCheckpointError(InvalidValueError):
    """A checkpoint needs arbitrary unpickling, which could run code: refused."""


def load_state_dict(path, what: str = "checkpoint") -> dict:
    """``torch.load(path, weights_only=True)`` on CPU, refusing anything else.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    UnsafeCheckpointError
        When the file holds objects beyond tensors and plain containers
        (``weights_only`` loading fails): loading it fully would execute
        whatever code its pickle names.
    """
    torch = require_torch()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"{what}: no such file: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "Unsupported global" in line), first[0] if first else "")
        raise UnsafeCheckpointError(
            f"refusing to load {what} {path}: it is not a plain state dict and loading it would need "
            f"arbitrary unpickling, which can run code ({detail.strip()}). In a trusted environment, "
            "re-save just the weights: torch.save(model.state_dict(), 'weights.pth')."
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise InvalidValueError(f"{what}: could not read {path} as a torch checkpoint: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidValueError(
            f"{what}: {path} holds a {type(obj).__name__}; expected a state dict (a dict of tensors)."
        )
    return obj


def unwrap_state_dict(obj: dict, keys=("state_dict", "model", "teacher", "net")) -> dict:
    """The tensors of a training checkpoint: the first of ``keys`` that holds a dict, else ``obj``."""
    for key in keys:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner:
            return inner
    return obj


def strip_prefixes(sd: dict, prefixes) -> dict:
    """Remove any of ``prefixes`` (repeatedly, in order) from each key."""
    out = {}
    for key, value in sd.items():
        changed = True
        while changed:
            changed = False
            for p in prefixes:
                if key.startswith(p):
                    key = key[len(p) :]
                    changed = True
        out[key] = value
    return out
