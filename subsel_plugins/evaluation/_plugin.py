"""The built-in evaluation frameworks, registered as a plugin like any third-party one."""

from ..hookspecs import hookimpl
from ._linear import LinearProbe
from ._logistic import LogisticProbe
from ._semi import FlexMatchEvaluator, SimMatchEvaluator
from ._supervised import SupervisedTrainer


@hookimpl
def subsel_register_evaluations(register):
    register("linear_probe", LinearProbe)
    register("logistic_regression", LogisticProbe)
    register("supervised", SupervisedTrainer)
    register("flexmatch", FlexMatchEvaluator)
    register("simmatch", SimMatchEvaluator)
