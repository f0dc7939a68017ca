"""Query strategies: one private module each, re-exported here."""

from ._base import QueryStrategy, apply_features
from ._feature_norm import FeatureNormQuery
from ._gram_schmidt import GramSchmidtQuery
from ._probcover import ProbCoverQuery
from ._random import RandomQuery
from ._then import ThenQuery
from ._typiclust import TypiClustQuery

__all__ = [
    "QueryStrategy",
    "apply_features",
    "RandomQuery",
    "FeatureNormQuery",
    "GramSchmidtQuery",
    "TypiClustQuery",
    "ProbCoverQuery",
    "ThenQuery",
]
