"""subsel-plugins: choose which examples to label first.

Feature-norm sampling, randomized Gram-Schmidt and "baseline then norm/GS"
from *Effective Subset Selection Through The Lens of Neural Network Pruning*,
as pluggy-registered query strategies for modAL, scikit-activeml and USB.

This module is the public face: the strategy classes (re-exported from
:mod:`subsel_plugins.strategies`), the registry's ``get_*``/``available_*``
functions and ``hookimpl`` for plugins.
"""

import sys as _sys
from importlib.metadata import PackageNotFoundError, version

from .hookspecs import hookimpl
from .registry import (
    available_datasets,
    available_evaluations,
    available_feature_extractors,
    available_strategies,
    get_dataset,
    get_evaluation,
    get_feature_extractor,
    get_strategy,
    strategy_info,
)
from .strategies import (
    CenteredGramSchmidtQuery,
    FeatureNormQuery,
    GramSchmidtQuery,
    ProbCoverQuery,
    QueryStrategy,
    RandomQuery,
    ThenQuery,
    TypiClustGSQuery,
    TypiClustNormQuery,
    TypiClustQuery,
)
from .strategies import _base as _strategies

if "modAL.models.learners" in _sys.modules:  # modAL already in use: make its teach() work now
    _strategies._patch_modal_if_loaded()

try:
    __version__ = version("subsel-plugins")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

__all__ = [
    "QueryStrategy",
    "RandomQuery",
    "FeatureNormQuery",
    "GramSchmidtQuery",
    "TypiClustQuery",
    "ProbCoverQuery",
    "ThenQuery",
    "TypiClustNormQuery",
    "TypiClustGSQuery",
    "CenteredGramSchmidtQuery",
    "get_strategy",
    "available_strategies",
    "strategy_info",
    "get_feature_extractor",
    "available_feature_extractors",
    "get_dataset",
    "available_datasets",
    "get_evaluation",
    "available_evaluations",
    "hookimpl",
    "__version__",
]
