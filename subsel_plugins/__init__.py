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

from . import dispatch as _dispatch  # noqa: F401  (registers the distributed inputs' handler)
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
    KCenterGreedyQuery,
    ProbCoverQuery,
    QueryStrategy,
    RandomQuery,
    ThenQuery,
    TypiClustGSQuery,
    TypiClustNormQuery,
    TypiClustQuery,
    register_modal_query_hook,
)


def _patch_modal_if_loaded() -> None:
    """Apply the modAL teach() fix once modAL is in use (no adapter import needed by the user).

    ``ActiveLearner(query_strategy=GramSchmidtQuery())`` queries through the
    strategy's ``__call__``; modAL 0.4.2.1's ``teach()`` then needs the
    scikit-learn >= 1.8 fix in :mod:`subsel_plugins.adapters.modal`. The
    strategies call this hook before each modAL query; the package, which sits
    above the adapters, imports the adapter.
    """
    if "modAL.models.learners" in _sys.modules:
        import importlib

        importlib.import_module("subsel_plugins.adapters.modal")


register_modal_query_hook(_patch_modal_if_loaded)
_patch_modal_if_loaded()  # modAL already in use: make its teach() work now

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
    "KCenterGreedyQuery",
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
