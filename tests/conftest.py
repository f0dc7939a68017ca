import numpy as np
import pytest

from subsel_plugins import QueryStrategy, available_strategies, hookimpl, registry


@pytest.fixture
def fresh_registry(monkeypatch):
    """Reload plugins from scratch for the test, and again afterwards."""
    registry.reset()
    yield registry
    registry.reset()


class LargestSumQuery(QueryStrategy):
    """Largest row sum first (a third-party strategy for the tests)."""

    def __init__(self, random_state=None, features=None):
        self.random_state = random_state
        self.features = features

    def _select(self, X, budget, labeled, rng):
        sums = X.sum(axis=1)
        order = np.argsort(-sums, kind="stable")
        order = order[~np.isin(order, labeled)][:budget]
        return order, sums[order]


class _LargestSumPlugin:
    @hookimpl
    def subsel_register_strategies(self, register):
        register("test_largest_sum", LargestSumQuery)


@pytest.fixture
def largest_sum_plugin():
    """Register the third-party strategy ``test_largest_sum`` for one test, then remove it."""
    name = registry.register_plugin(_LargestSumPlugin(), name="test-third-party-largest-sum")
    try:
        yield "test_largest_sum"
    finally:
        registry.unregister_plugin(name)
    assert "test_largest_sum" not in available_strategies()
