"""Framework (iii): semi-supervised training (FlexMatch, SimMatch) through the USB adapter.

The adapter, :mod:`subsel_plugins.adapters.usb`, owns everything that touches
semilearn; this module only builds its config and reads back the accuracy,
and imports it lazily so the other frameworks work without semilearn.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np

from ._base import EvalData, Evaluator, EvaluatorUnavailable

ADAPTER = "subsel_plugins.adapters.usb"


def _adapter():
    try:
        return importlib.import_module(ADAPTER)
    except ImportError as exc:
        raise EvaluatorUnavailable(
            f"the semi-supervised frameworks need {ADAPTER} and semilearn "
            f"(pip install 'subsel-plugins[usb]'): {exc}"
        ) from exc


class SemiSupervisedUSB(Evaluator):
    """Semi-supervised training of a USB algorithm on the subset plus the unlabeled rest.

    The paper trains FlexMatch and SimMatch with a WRN-28-10, SGD with
    momentum, lr 0.03, batch 64, weight decay 5e-4 for 1,000k iterations;
    ``preset="paper"`` asks the adapter for those settings, ``preset="smoke"``
    for a run that finishes on a CPU.

    Parameters
    ----------
    algorithm : str, default="flexmatch"
        A USB algorithm name (``flexmatch``, ``simmatch``, ...).
    preset : {"smoke", "paper"}, default="smoke"
    overrides : dict or None
        Extra USB config entries (e.g. ``{"num_train_iter": 200}``), passed through.
    device : str, default="auto"
    """

    needs = frozenset({"images"})

    def __init__(self, algorithm="flexmatch", preset="smoke", overrides=None, device="auto"):
        self.algorithm = algorithm
        self.preset = preset
        self.overrides = overrides
        self.device = device

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        for mod in (ADAPTER, "semilearn"):
            try:
                found = importlib.util.find_spec(mod) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return False, f"{mod} is not installed (the semi-supervised frameworks need it)."
        adapter = _adapter()
        if not hasattr(adapter, "run_usb"):
            return False, f"{ADAPTER} has no run_usb(config) entry point yet."
        return True, ""

    def _evaluate(self, data: EvalData, labeled: np.ndarray, seed: int) -> dict:
        if self.preset not in ("smoke", "paper"):
            raise ValueError(f"preset must be 'smoke' or 'paper'; got {self.preset!r}.")
        if self.overrides is not None and not isinstance(self.overrides, dict):
            raise TypeError(f"overrides must be a dict or None; got {type(self.overrides).__name__}.")
        adapter = _adapter()
        config = {
            "algorithm": self.algorithm,
            "preset": self.preset,
            "seed": seed,
            "device": self.device,
            "num_classes": int(data.num_classes),
            "train_images": data.train_images,
            "train_labels": data.train_labels,
            "test_images": data.test_images,
            "test_labels": data.test_labels,
            "labeled_indices": np.asarray(labeled, dtype=np.int64),
            "dataset": data.name,
        }
        config.update(self.overrides or {})
        result = adapter.run_usb(config)
        acc = result["accuracy"] if isinstance(result, dict) else float(result)
        if acc > 1.0:  # USB reports percentages in places
            acc = acc / 100.0
        out = {"accuracy": float(acc)}
        if isinstance(result, dict):
            out.update({k: v for k, v in result.items() if k != "accuracy" and np.isscalar(v)})
        return out


class FlexMatchEvaluator(SemiSupervisedUSB):
    """FlexMatch through the USB adapter (the paper's framework iii)."""

    def __init__(self, preset="smoke", overrides=None, device="auto"):
        super().__init__("flexmatch", preset, overrides, device)

    def get_params(self) -> dict:
        return {"preset": self.preset, "overrides": self.overrides, "device": self.device}


class SimMatchEvaluator(SemiSupervisedUSB):
    """SimMatch through the USB adapter (the paper's framework iii)."""

    def __init__(self, preset="smoke", overrides=None, device="auto"):
        super().__init__("simmatch", preset, overrides, device)

    def get_params(self) -> dict:
        return {"preset": self.preset, "overrides": self.overrides, "device": self.device}
