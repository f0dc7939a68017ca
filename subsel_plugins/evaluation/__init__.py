"""Evaluation frameworks of the benchmark harness: train on a labeled subset, report test accuracy.

The paper evaluates a selected subset in three frameworks, each registered
through the ``subsel_register_evaluations`` hook (so a plugin can add more)
and built with :func:`subsel_plugins.get_evaluation`:

``linear_probe``
    (ii) a d x C linear classifier on the subset's (self-supervised) features.
``logistic_regression``
    (ii, checked) scikit-learn's L2 logistic regression on standardized
    features, a second probe for every linear-probe verdict.
``supervised``
    (i) a network trained from scratch on the subset's images (ResNet-18 in
    the paper; a small CNN for CPU runs).
``flexmatch``, ``simmatch``
    (iii) semi-supervised training through the USB adapter
    (:mod:`subsel_plugins.adapters.usb`).

torch is imported lazily: importing this package needs numpy only.
"""

from ._base import EvalData, Evaluator, EvaluatorUnavailable, resolve_device
from ._linear import LinearProbe
from ._logistic import LogisticProbe
from ._semi import FlexMatchEvaluator, SemiSupervisedUSB, SimMatchEvaluator
from ._supervised import SupervisedTrainer

__all__ = [
    "EvalData",
    "Evaluator",
    "EvaluatorUnavailable",
    "resolve_device",
    "LinearProbe",
    "LogisticProbe",
    "SupervisedTrainer",
    "SemiSupervisedUSB",
    "FlexMatchEvaluator",
    "SimMatchEvaluator",
]
