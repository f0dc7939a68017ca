import pytest

from subsel_plugins import registry


@pytest.fixture
def fresh_registry(monkeypatch):
    """Reload plugins from scratch for the test, and again afterwards."""
    registry.reset()
    yield registry
    registry.reset()
