"""Query strategies: one private module each, re-exported here.

A built-in strategy is one private module here (``_my_strategy.py``, defining a
public :class:`QueryStrategy` subclass), its export line below and one
registration line in ``subsel_plugins/_builtin_strategies.py``. The exports are
written out so that IDEs and type checkers see the public API;
``tests/test_registry.py`` fails if a strategy class is missing from them. The
modAL adapter re-exports this ``__all__``; the scikit-activeml adapter generates
its classes from the registration.
"""

from ._base import QueryStrategy, apply_features
from ._base import register_input_handler as register_input_handler
from ._base import register_modal_query_hook as register_modal_query_hook
from ._feature_norm import FeatureNormQuery
from ._gram_schmidt import GramSchmidtQuery
from ._kcenter import KCenterGreedyQuery
from ._probcover import DEFAULT_PSEUDO_CLASSES as DEFAULT_PSEUDO_CLASSES
from ._probcover import ProbCoverQuery
from ._random import RandomQuery
from ._then import ThenQuery
from ._typiclust import TypiClustQuery
from ._variants import CenteredGramSchmidtQuery, TypiClustGSQuery, TypiClustNormQuery

__all__ = [
    "QueryStrategy",
    "apply_features",
    "FeatureNormQuery",
    "GramSchmidtQuery",
    "ProbCoverQuery",
    "RandomQuery",
    "ThenQuery",
    "TypiClustQuery",
    "TypiClustNormQuery",
    "TypiClustGSQuery",
    "CenteredGramSchmidtQuery",
    "KCenterGreedyQuery",
]
