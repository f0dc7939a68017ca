"""Framework (iii): semi-supervised training (FlexMatch, SimMatch) through the USB adapter.

The adapter, :mod:`subsel_plugins.adapters.usb`, owns everything that touches
semilearn; this module builds its config, passes it the labeled rows the
harness chose (``run_usb(config, labeled=rows)``), and reads back the
accuracy. The adapter is imported lazily so the other frameworks work
without semilearn.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import tempfile

import numpy as np

from ..errors import InvalidTypeError, InvalidValueError
from ._base import EvalData, Evaluator, EvaluatorUnavailable, resolve_device

ADAPTER = "subsel_plugins.adapters.usb"

#: USB entries of the ``smoke`` preset: 60 iterations of WRN-28-2 at batch 8, a
#: check that the plumbing runs (CI), not a measurement: with EMA 0.999 the
#: evaluated weights are still 0.999^60 = 94% their random initialisation, and
#: every strategy scores at chance.
SMOKE = {
    "net": "wrn_28_2",
    "epoch": 1,
    "num_train_iter": 60,
    "num_eval_iter": 60,
    "num_log_iter": 20,
    "batch_size": 8,
    "eval_batch_size": 256,
    "uratio": 3,
    "lr": 0.03,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "ema_m": 0.999,
    "crop_ratio": 0.875,
    "amp": False,
    "num_workers": 0,
    "use_tensorboard": False,
}

#: Iterations of the ``cpu`` preset (see :data:`CPU`).
CPU_ITERATIONS = 600

#: USB entries of the ``cpu`` preset: a run that learns on one CPU core.
#: ``subsel_cnn`` (the adapter's 4-conv CNN, 0.06M parameters) instead of
#: WRN-28-2, batch 16 with 3 unlabeled per labeled example, EMA 0.99 (an
#: average over about the last 100 of the iterations; USB's 0.999 suits 1M)
#: and evaluation every tenth of the run, so the result row carries the
#: learning curve. The benchmark README page gives the measured time per
#: cell and the accuracy against supervised training on the same rows.
CPU = {
    "net": "subsel_cnn",
    "epoch": 1,
    "num_train_iter": CPU_ITERATIONS,
    "num_eval_iter": CPU_ITERATIONS // 10,
    "num_log_iter": CPU_ITERATIONS // 10,
    "batch_size": 16,
    "eval_batch_size": 1000,
    "uratio": 3,
    "lr": 0.03,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "ema_m": 0.99,
    "crop_ratio": 0.875,
    "amp": False,
    "num_workers": 0,
    "use_tensorboard": False,
}

#: The paper's settings: WRN-28-10, SGD with momentum, lr 0.03, batch 64,
#: weight decay 5e-4, 1,000k (2^20) iterations.
PAPER = {
    "net": "wrn_28_10",
    "epoch": 1024,
    "num_train_iter": 1024 * 1024,
    "num_eval_iter": 5000,
    "num_log_iter": 256,
    "batch_size": 64,
    "eval_batch_size": 256,
    "uratio": 7,
    "lr": 0.03,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "ema_m": 0.999,
    "crop_ratio": 0.875,
    "amp": False,
    "num_workers": 4,
    "use_tensorboard": False,
}

#: Settings by preset name.
PRESETS = {"cpu": CPU, "smoke": SMOKE, "paper": PAPER}


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
    ``preset="paper"`` asks the adapter for those settings. ``preset="cpu"``
    (:data:`CPU`) trains a small CNN that converges on one CPU core in
    minutes; ``preset="smoke"`` (:data:`SMOKE`) only checks that the
    plumbing runs (60 iterations; its accuracy is at chance).

    Parameters
    ----------
    algorithm : str, default="flexmatch"
        A USB algorithm name (``flexmatch``, ``simmatch``, ``fullysupervised``
        for the same network on the labeled rows alone, ...).
    preset : {"cpu", "smoke", "paper"}, default="cpu"
    overrides : dict or None
        Extra USB config entries (e.g. ``{"num_train_iter": 200}``), passed through.
    device : str, default="auto"
    """

    needs = frozenset({"images"})
    needs_device = True

    def __init__(self, algorithm="flexmatch", preset="cpu", overrides=None, device="auto"):
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

    def check_params(self) -> None:
        """``preset`` and ``overrides`` (the harness calls this before any cell runs)."""
        if self.preset not in PRESETS:
            raise InvalidValueError(f"preset must be one of {sorted(PRESETS)}; got {self.preset!r}.")
        if self.overrides is not None and not isinstance(self.overrides, dict):
            raise InvalidTypeError(f"overrides must be a dict or None; got {type(self.overrides).__name__}.")

    def _evaluate(self, data: EvalData, labeled: np.ndarray, seed: int) -> dict:
        self.check_params()
        if not data.name:
            raise InvalidValueError(
                "data.name is empty; the USB adapter loads the dataset by its registered name."
            )
        adapter = _adapter()
        # The adapter loads the full training split; a pool subset maps back to its rows.
        pool_rows = data.meta.get("pool_rows")
        rows = labeled if pool_rows is None else np.asarray(pool_rows)[labeled]
        shape = np.asarray(data.train_images[0]).shape
        device = resolve_device(self.device).type
        save_dir = tempfile.mkdtemp(prefix="subsel-usb-")
        config = {
            **PRESETS[self.preset],
            "algorithm": self.algorithm,
            "dataset": data.name,
            "num_classes": int(data.num_classes),
            "num_labels": int(len(rows)),
            "img_size": int(shape[0]),
            "seed": int(seed),
            "save_dir": save_dir,
            "save_name": f"{self.algorithm}_{len(rows)}_{seed}",
            "overwrite": True,
            "resume": False,
            "subsel_dataset_params": dict(data.meta.get("dataset_params") or {}),
            "subsel_device": device,
            # a flip turns one digit into another; natural images keep USB's flips
            "subsel_hflip": data.name not in ("digits", "mnist"),
        }
        config.update(self.overrides or {})
        if self.preset == "cpu" and "num_eval_iter" not in (self.overrides or {}):
            # the learning curve keeps ten points when the iterations are overridden
            config["num_eval_iter"] = config["num_log_iter"] = max(1, config["num_train_iter"] // 10)
        try:
            # the rows go to the adapter as data: no strategy chooses them again
            metrics = adapter.run_usb(config, labeled=np.asarray(rows, dtype=np.int64), verbose=False)
        finally:
            shutil.rmtree(save_dir, ignore_errors=True)
        acc = float(metrics["eval/top-1-acc"])
        out = {"accuracy": acc}
        for key in (
            "eval/balanced_acc",
            "eval/best_acc",
            "eval/best_it",
            "iterations",
            "train_seconds",
            "eval_curve",
        ):
            if key in metrics:
                out[key.replace("eval/", "")] = metrics[key]
        return out


class FlexMatchEvaluator(SemiSupervisedUSB):
    """FlexMatch through the USB adapter (the paper's framework iii)."""

    def __init__(self, preset="cpu", overrides=None, device="auto"):
        super().__init__("flexmatch", preset, overrides, device)

    def get_params(self) -> dict:
        return {"preset": self.preset, "overrides": self.overrides, "device": self.device}


class SimMatchEvaluator(SemiSupervisedUSB):
    """SimMatch through the USB adapter (the paper's framework iii)."""

    def __init__(self, preset="cpu", overrides=None, device="auto"):
        super().__init__("simmatch", preset, overrides, device)

    def get_params(self) -> dict:
        return {"preset": self.preset, "overrides": self.overrides, "device": self.device}
