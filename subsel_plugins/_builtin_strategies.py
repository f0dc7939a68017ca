"""The built-in strategies, registered as a plugin like any third-party one."""

from .hookspecs import hookimpl
from .strategies import (
    FeatureNormQuery,
    GramSchmidtQuery,
    ProbCoverQuery,
    RandomQuery,
    TypiClustQuery,
)


@hookimpl
def subsel_register_strategies(register):
    register("random", RandomQuery)
    register("feature_norm", FeatureNormQuery)
    register("gram_schmidt", GramSchmidtQuery)
    register("typiclust", TypiClustQuery)
    register("probcover", ProbCoverQuery)
