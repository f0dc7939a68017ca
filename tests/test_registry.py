"""Plugin loading and the named registries."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from subsel_plugins import (
    GramSchmidtQuery,
    ProbCoverQuery,
    QueryStrategy,
    ThenQuery,
    available_strategies,
    get_strategy,
    hookimpl,
    strategy_info,
)
from subsel_plugins.registry import PluginError, register_plugin, unregister_plugin


class EveryOther(QueryStrategy):
    """Take every other unlabeled row (a toy third-party strategy)."""

    def __init__(self, random_state=None, features=None):
        self.random_state = random_state
        self.features = features

    def _select(self, X, budget, labeled, rng):
        free = np.setdiff1d(np.arange(X.shape[0]), labeled)
        idx = np.concatenate([free[::2], free[1::2]])[:budget]
        return idx, np.zeros(budget)


class InlinePlugin:
    @hookimpl
    def subsel_register_strategies(self, register):
        register("every_other", EveryOther)


def test_builtins_come_from_the_entry_point():
    info = strategy_info("gram_schmidt")
    assert info.plugin == "builtin_strategies"
    assert info.distribution == "subsel-plugins"
    assert info.obj is GramSchmidtQuery
    assert "Gram-Schmidt" in info.description


def test_inline_plugin_shows_up_everywhere():
    register_plugin(InlinePlugin(), name="inline_test_plugin")
    try:
        names = available_strategies()
        assert "every_other" in names
        assert {"every_other_then_norm", "every_other_then_gs", "every_other_then_random"} <= set(names)
        assert strategy_info("every_other").plugin == "inline_test_plugin"
        X = np.arange(40, dtype=float).reshape(20, 2)
        np.testing.assert_array_equal(get_strategy("every_other").select(X, 3), [0, 2, 4])
        combo = get_strategy("every_other_then_gs", random_state=0)
        assert isinstance(combo, ThenQuery) and isinstance(combo.first, EveryOther)
        assert set(combo.select(X, 2).tolist()) <= set(range(0, 8, 2))
    finally:
        unregister_plugin("inline_test_plugin")
    assert "every_other" not in available_strategies()


def _plugin_registering(*pairs):
    class P:
        @hookimpl
        def subsel_register_strategies(self, register):
            for name, obj in pairs:
                register(name, obj)

    return P()


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([("random", EveryOther)], "registered twice"),
        ([("not_a_strategy", dict)], "not a subclass of subsel_plugins.QueryStrategy"),
        ([("Bad-Name", EveryOther)], "lower-case identifier"),
        ([("x_then_y", EveryOther)], "reserved"),
    ],
)
def test_invalid_registrations_fail_loudly_naming_the_plugin(pairs, message):
    register_plugin(_plugin_registering(*pairs), name="bad_test_plugin")
    try:
        with pytest.raises(PluginError, match=message) as info:
            available_strategies()
        assert "bad_test_plugin" in str(info.value)
    finally:
        unregister_plugin("bad_test_plugin")


def test_misspelled_hookimpl_fails_loudly():
    class Typo:
        @hookimpl
        def subsel_register_strategy(self, register):  # missing "ies"
            pass

    with pytest.raises(Exception, match="subsel_register_strategy"):
        register_plugin(Typo(), name="typo_plugin")
    from subsel_plugins.registry import get_plugin_manager

    pm = get_plugin_manager()
    if pm.has_plugin("typo_plugin"):
        pm.unregister(name="typo_plugin")


def test_unknown_strategy_lists_the_available_ones():
    with pytest.raises(ValueError, match="unknown strategy 'gram_schmit'") as info:
        get_strategy("gram_schmit")
    assert "Did you mean 'gram_schmidt'" in str(info.value)
    assert "probcover_then_gs" in str(info.value)
    with pytest.raises(ValueError, match="unknown strategy"):
        get_strategy("nope_then_gs")


def test_then_names_route_parameters():
    s = get_strategy("probcover_then_gs", random_state=0, n_classes=3, norm="l1", factor=3)
    assert isinstance(s.first, ProbCoverQuery) and s.first.n_classes == 3
    assert isinstance(s.then, GramSchmidtQuery) and s.then.norm == "l1"
    assert s.factor == 3 and s.random_state == 0
    s = get_strategy("typiclust_then_norm", then__randomized=False)
    assert s.then.randomized is False
    nested = get_strategy("probcover_then_gs_then_random")
    assert isinstance(nested.first, ThenQuery)
    with pytest.raises(TypeError, match="neither"):
        get_strategy("probcover_then_gs", bogus=1)
    with pytest.raises(TypeError, match="Valid parameters"):
        get_strategy("gram_schmidt", bogus=1)


DIST_PLUGIN = textwrap.dedent(
    """
    import numpy as np
    from subsel_plugins import QueryStrategy, hookimpl

    class FirstRows(QueryStrategy):
        '''Take the first unlabeled rows (installed third-party plugin).'''
        def __init__(self, random_state=None, features=None):
            self.random_state = random_state
            self.features = features
        def _select(self, X, budget, labeled, rng):
            free = np.setdiff1d(np.arange(X.shape[0]), labeled)[:budget]
            return free, np.zeros(budget)

    @hookimpl
    def subsel_register_strategies(register):
        register("first_rows", FirstRows)
    """
)


def _install_fake_distribution(root, module_source, entry="first_rows_plugin = firstrows_plugin"):
    (root / "firstrows_plugin.py").write_text(module_source)
    info = root / "subsel_firstrows-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: subsel-firstrows\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[subsel_plugins]\n{entry}\n")


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch, fresh_registry):
    _install_fake_distribution(tmp_path, DIST_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("firstrows_plugin", None)


def test_installed_distribution_is_discovered(installed_plugin):
    assert "first_rows" in available_strategies()
    info = strategy_info("first_rows")
    assert info.plugin == "first_rows_plugin" and info.distribution == "subsel-firstrows"
    assert "first_rows_then_gs" in available_strategies()


def test_autoload_can_be_disabled(installed_plugin, monkeypatch):
    monkeypatch.setenv("SUBSEL_DISABLE_PLUGIN_AUTOLOAD", "1")
    names = available_strategies()
    assert "first_rows" not in names and "gram_schmidt" in names


def test_plugins_can_be_blocked_by_name(installed_plugin, monkeypatch):
    monkeypatch.setenv("SUBSEL_BLOCK_PLUGINS", "first_rows_plugin")
    assert "first_rows" not in available_strategies()


def test_installed_plugin_in_cli(installed_plugin):
    env = {**os.environ, "PYTHONPATH": str(installed_plugin)}
    out = subprocess.run(
        [sys.executable, "-m", "subsel_plugins.cli", "strategies"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("first_rows "))
    assert "first_rows_plugin: subsel-firstrows" in line
    assert "Take the first unlabeled rows" in line


def test_plugin_that_fails_to_import_names_itself(tmp_path, monkeypatch, fresh_registry):
    _install_fake_distribution(tmp_path, "raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="first_rows_plugin.*subsel-firstrows.*needs libfoo"):
        available_strategies()
    sys.modules.pop("firstrows_plugin", None)


def test_every_strategy_class_is_exported():
    """A public QueryStrategy subclass in a private strategies module is in both public __all__s."""
    import importlib
    import inspect
    import pkgutil

    import subsel_plugins
    import subsel_plugins.strategies as strategies

    found = set()
    for info in pkgutil.iter_modules(strategies.__path__):
        module = importlib.import_module(f"subsel_plugins.strategies.{info.name}")
        for name, obj in vars(module).items():
            if (
                not name.startswith("_")
                and inspect.isclass(obj)
                and issubclass(obj, subsel_plugins.QueryStrategy)
                and obj.__module__ == module.__name__
            ):
                found.add(name)
    assert found <= set(strategies.__all__), found - set(strategies.__all__)
    assert found <= set(subsel_plugins.__all__), found - set(subsel_plugins.__all__)
    assert {"GramSchmidtQuery", "ThenQuery", "QueryStrategy"} <= found
