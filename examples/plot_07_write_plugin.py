"""
Writing a plugin
================

A strategy is a :class:`~subsel_plugins.QueryStrategy` subclass with one
override point, ``_select(X, budget, labeled, rng)``, and a hook that
registers it. Installed through an entry point in the ``subsel_plugins`` group,
it shows up in :func:`~subsel_plugins.available_strategies`, ``subsel
strategies``, the modAL and scikit-activeml adapters, USB configs and the
benchmark tables. Here the plugin is registered at run time instead, which is
also how to try one before packaging it.
"""

import numpy as np
from sklearn.datasets import load_digits

from subsel_plugins import QueryStrategy, available_strategies, get_strategy, hookimpl, registry
from subsel_plugins.testing import check_strategy


class FarthestFirst(QueryStrategy):
    """Greedy k-center: each pick is the row farthest from the labeled rows and the picks so far."""

    def __init__(self, random_state=None, features=None):  # store, don't validate
        self.random_state = random_state
        self.features = features

    def _select(self, X, budget, labeled, rng):  # the one override point
        X = np.asarray(X, dtype=np.float64)
        chosen = list(labeled) or [int(rng.integers(len(X)))]
        dist = np.min(((X[:, None, :] - X[None, chosen, :]) ** 2).sum(-1), axis=1)
        picks, scores = [], []
        if not len(labeled):
            picks, scores = [chosen[0]], [np.inf]
        while len(picks) < budget:
            i = int(np.argmax(dist))
            picks.append(i)
            scores.append(dist[i])
            dist = np.minimum(dist, ((X - X[i]) ** 2).sum(1))
        return np.asarray(picks, dtype=np.int64), np.asarray(scores, dtype=np.float64)


class MyPlugin:
    @hookimpl
    def subsel_register_strategies(self, register):
        register("farthest_first", FarthestFirst)


# %%
# In a package, the hook lives in a module named by an entry point::
#
#     # setup.cfg of my_package
#     [options.entry_points]
#     subsel_plugins =
#         farthest_first = my_package.subsel_plugin
#
# Here we register the object directly:
name = registry.register_plugin(MyPlugin(), name="example-farthest-first")
try:
    print([s for s in available_strategies() if s.startswith("farthest_first")])
    X = load_digits().data / 16.0
    print(get_strategy("farthest_first", random_state=0).select(X, budget=8))
    print(get_strategy("farthest_first_then_gs", random_state=0).select(X, budget=8))

    # %%
    # The shared check suite every built-in passes (distinct indices,
    # reproducibility, labeled rows never returned, bad input, clone, the modAL
    # protocol, ...). In a test file, parametrize over
    # ``subsel_plugins.testing.STRATEGY_CHECKS`` instead.
    check_strategy(FarthestFirst)
    print("FarthestFirst passes the shared checks")
finally:
    registry.unregister_plugin(name)
print("farthest_first" in available_strategies())
