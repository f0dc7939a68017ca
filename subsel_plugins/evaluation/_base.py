"""The evaluator interface every evaluation framework implements.

:class:`EvalData` is what a framework may read; :class:`Evaluator` checks the
inputs once and calls the one override point, ``_evaluate``. A framework says
what it needs as class attributes (``needs`` for the parts of the data,
``needs_device`` for a torch device), so a host such as the benchmark harness
serves a third-party framework exactly as it serves the built-in ones.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidValueError, SubselError


class EvaluatorUnavailable(SubselError, RuntimeError):
    """An evaluation framework cannot run here (a missing extra or adapter); a user error at the doors."""


@dataclass
class EvalData:
    """Everything a framework may train and test on.

    Attributes
    ----------
    train_labels : ndarray of shape (n_train,), int64
        Labels of the whole training pool; a framework reads only the rows it
        is told are labeled (semi-supervised ones use the rest unlabeled).
    test_labels : ndarray of shape (n_test,), int64
    num_classes : int
    train_images, test_images : array-like of shape (n, H, W, C), uint8, optional
        Needed by frameworks that train on images (``supervised``, USB).
    train_features, test_features : ndarray of shape (n, d), optional
        The feature domain in use; needed by ``linear_probe``.
    name : str
        Dataset name, for frameworks that look up dataset-specific settings.
    meta : dict
        Free-form extras (e.g. the feature domain's name).
    """

    train_labels: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    train_images: object = None
    test_images: object = None
    train_features: np.ndarray | None = None
    test_features: np.ndarray | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.train_labels = np.asarray(self.train_labels, dtype=np.int64)
        self.test_labels = np.asarray(self.test_labels, dtype=np.int64)
        for split, labels in (("train", self.train_labels), ("test", self.test_labels)):
            for kind in ("images", "features"):
                arr = getattr(self, f"{split}_{kind}")
                if arr is not None and len(arr) != len(labels):
                    raise InvalidValueError(
                        f"{split}_{kind} has {len(arr)} rows but {split}_labels has {len(labels)}; "
                        "expected one row per label."
                    )
        if int(self.num_classes) < 2:
            raise InvalidValueError(f"num_classes must be >= 2; got {self.num_classes!r}.")


class Evaluator:
    """Base class of evaluation frameworks.

    Subclasses store their constructor arguments unchanged under their own
    names (so :meth:`get_params` records them in a run's manifest), set
    :attr:`needs` (and :attr:`needs_device`) and implement :meth:`_evaluate`.
    """

    #: Which parts of :class:`EvalData` the framework reads: "features", "images".
    needs: frozenset = frozenset()
    #: True when the constructor takes a ``device`` (a torch device string): a
    #: host passes its own device setting (e.g. the harness's ``--device``) to it.
    needs_device: bool = False

    @classmethod
    def is_available(cls) -> tuple[bool, str]:
        """Whether the framework can run here, and why not if it cannot."""
        return True, ""

    def get_params(self) -> dict:
        """Constructor arguments, by name (JSON-friendly values)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def evaluate(self, data: EvalData, labeled, seed: int = 0) -> dict:
        """Train on the labeled rows of ``data`` and test on its test split.

        Parameters
        ----------
        data : EvalData
        labeled : array-like of int, shape (n_labeled,)
            Rows of the training pool whose labels may be used.
        seed : int
            Seeds the initialization, batching and augmentation.

        Returns
        -------
        dict
            ``accuracy`` (test accuracy in [0, 1]) plus framework-specific extras.
        """
        ok, why = self.is_available()
        if not ok:
            raise EvaluatorUnavailable(why)
        for kind in sorted(self.needs):
            if getattr(data, f"train_{kind}") is None or getattr(data, f"test_{kind}") is None:
                raise InvalidValueError(
                    f"{type(self).__name__} trains on {kind}, but data.train_{kind} or "
                    f"data.test_{kind} is None; expected arrays with one row per label."
                )
        lab = np.asarray(labeled, dtype=np.int64).ravel()
        n = len(data.train_labels)
        if lab.size == 0:
            raise InvalidValueError("labeled is empty; expected at least one labeled row.")
        if lab.min() < 0 or lab.max() >= n or np.unique(lab).size != lab.size:
            raise InvalidValueError(
                f"labeled must hold distinct row indices in [0, {n}); got {lab.tolist()[:10]}..."
            )
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidValueError(f"seed must be a non-negative int; got {seed!r}.")
        out = self._evaluate(data, lab, int(seed))
        acc = float(out["accuracy"])
        if not 0.0 <= acc <= 1.0:
            raise RuntimeError(f"{type(self).__name__} returned accuracy {acc}; expected a value in [0, 1].")
        return out

    def _evaluate(self, data: EvalData, labeled: np.ndarray, seed: int) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def resolve_device(device):
    """``"auto"``/None -> CUDA when available, else CPU; anything else is passed to torch."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def require_torch(framework: str) -> None:
    """Fail with the extra to install when torch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:  # pragma: no cover - torch is installed wherever the tests run
        raise EvaluatorUnavailable(
            f"the {framework!r} evaluation needs torch: pip install 'subsel-plugins[torch]'."
        ) from exc


def torch_generator(seed: int, device=None):
    """A seeded torch generator (CPU), so runs repeat without touching global state."""
    import torch

    g = torch.Generator()
    g.manual_seed(int(seed))
    return g
