"""The built-in strategies, registered as a plugin like any third-party one."""

from .hookspecs import hookimpl
from .strategies import (
    CenteredGramSchmidtQuery,
    FeatureNormQuery,
    GramSchmidtQuery,
    KCenterGreedyQuery,
    ProbCoverQuery,
    RandomQuery,
    TypiClustGSQuery,
    TypiClustNormQuery,
    TypiClustQuery,
)


@hookimpl
def subsel_register_strategies(register):
    register("random", RandomQuery)
    register("feature_norm", FeatureNormQuery)
    register("gram_schmidt", GramSchmidtQuery)
    register("typiclust", TypiClustQuery)
    register("probcover", ProbCoverQuery)
    # the core-set diversity baseline (Sener and Savarese 2018)
    register("kcenter_greedy", KCenterGreedyQuery)
    # beyond the paper (docs/guide/evidence.md)
    register("typiclust_norm", TypiClustNormQuery)
    register("typiclust_gs", TypiClustGSQuery)
    register("gram_schmidt_centered", CenteredGramSchmidtQuery)
