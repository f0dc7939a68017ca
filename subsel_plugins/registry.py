"""Plugin manager and the named registries built from it.

Everything nameable (strategies, feature extractors, datasets, evaluation
frameworks) comes from ``subsel_register_*`` hooks of plugins loaded from the
``subsel_plugins`` entry-point group. The built-ins are entry points of this
distribution and load exactly like third-party plugins.

Environment:

``SUBSEL_DISABLE_PLUGIN_AUTOLOAD=1``
    Load only this distribution's own entry points (for tests, or to rule out
    a broken third-party plugin).
``SUBSEL_BLOCK_PLUGINS=name1,name2``
    Skip the entry points with these names.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .errors import InvalidTypeError, InvalidValueError, PluginError

ENTRY_POINT_GROUP = "subsel_plugins"
DISTRIBUTION = "subsel-plugins"
KINDS = ("strategies", "feature_extractors", "datasets", "evaluations")

#: ``<first>_then_<second>`` short names of the second strategy.
THEN_ALIASES = {"norm": "feature_norm", "gs": "gram_schmidt", "random": "random"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Registration:
    """One registered thing and where it came from."""

    kind: str
    name: str
    obj: Any
    description: str
    plugin: str
    distribution: str


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_dists: dict[str, str] = {}
_cache: dict[str, dict[str, Registration]] = {}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _is_own(ep) -> bool:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else ""
    return re.sub(r"[-_.]+", "-", (name or "").lower()) == DISTRIBUTION


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loading entry points on first use."""
    global _pm
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            pm.add_hookspecs(hookspecs)
            _load_entry_points(pm)
            pm.check_pending()
            _pm = pm
        return _pm


def load_plugins() -> pluggy.PluginManager:
    """Load the plugins now (idempotent); returns the plugin manager."""
    return get_plugin_manager()


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    autoload = not _truthy(os.environ.get("SUBSEL_DISABLE_PLUGIN_AUTOLOAD"))
    blocked = {b.strip() for b in os.environ.get("SUBSEL_BLOCK_PLUGINS", "").split(",") if b.strip()}
    own_found = False
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        own = _is_own(ep)
        own_found |= own
        if (not autoload and not own) or ep.name in blocked:
            continue
        dist = ep.dist.metadata["Name"] if ep.dist is not None else "<unknown distribution>"
        if pm.has_plugin(ep.name):
            # the same distribution seen twice on sys.path (e.g. a stale
            # egg-info beside an install) registers once
            if _dists.get(ep.name) == dist:
                continue
            raise PluginError(
                f"plugin name {ep.name!r} is provided by two distributions, "
                f"{_dists[ep.name]!r} and {dist!r}; uninstall one or block it with "
                "SUBSEL_BLOCK_PLUGINS."
            )
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {ep.name!r} ({ep.value}) from distribution {dist!r} failed to import: "
                f"{type(exc).__name__}: {exc}. Fix or uninstall it, or set "
                f"SUBSEL_BLOCK_PLUGINS={ep.name} to skip it."
            ) from exc
        if pm.is_registered(plugin):
            continue
        try:
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            raise PluginError(f"plugin {ep.name!r} from distribution {dist!r} is invalid: {exc}") from exc
        _dists[ep.name] = dist
    if not own_found:
        raise PluginError(
            "no entry points of the subsel-plugins distribution were found, so not even "
            "the built-in strategies are available: install the package "
            "(pip install -e . from a source checkout) instead of importing it from the tree."
        )


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object at run time (tests, notebooks); returns its name."""
    with _lock:
        pm = get_plugin_manager()
        registered = pm.register(plugin, name=name)
        pm.check_pending()
        _cache.clear()
        return registered


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with :func:`register_plugin`."""
    with _lock:
        get_plugin_manager().unregister(name=name)
        _cache.clear()


def reset() -> None:
    """Forget all loaded plugins; the next call reloads entry points."""
    global _pm
    with _lock:
        _pm = None
        _dists.clear()
        _cache.clear()


def _check_strategy_class(obj, name, plugin):
    from .strategies import QueryStrategy

    if not (inspect.isclass(obj) and issubclass(obj, QueryStrategy)):
        raise PluginError(
            f"plugin {plugin!r} registered strategy {name!r} as {obj!r}, which is not a "
            "subclass of subsel_plugins.QueryStrategy."
        )


def _check_callable(obj, name, plugin):
    if not callable(obj):
        raise PluginError(f"plugin {plugin!r} registered {name!r} as {obj!r}, which is not callable.")


_VALIDATORS = {
    "strategies": _check_strategy_class,
    "feature_extractors": _check_callable,
    "datasets": _check_callable,
    "evaluations": _check_callable,
}


def registrations(kind: str) -> dict[str, Registration]:
    """All registrations of one kind, by name (for strategies: base names only)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
    with _lock:
        if kind in _cache:
            return _cache[kind]
        pm = get_plugin_manager()
        found: dict[str, Registration] = {}
        hook = getattr(pm.hook, f"subsel_register_{kind}")
        for impl in hook.get_hookimpls():
            plugin = impl.plugin_name
            dist = _dists.get(plugin, "<registered at run time>")

            def register(name, obj, description=None, _plugin=plugin, _dist=dist):
                if not isinstance(name, str) or not _NAME_RE.match(name):
                    raise PluginError(
                        f"plugin {_plugin!r} ({_dist}) registered the name {name!r}; expected a "
                        "lower-case identifier such as 'my_strategy'."
                    )
                if kind == "strategies" and "_then_" in name:
                    raise PluginError(
                        f"plugin {_plugin!r} ({_dist}) registered strategy {name!r}; names containing "
                        "'_then_' are reserved for combinations the host derives."
                    )
                if name in found:
                    other = found[name]
                    raise PluginError(
                        f"{kind[:-1].replace('_', ' ')} {name!r} is registered twice: by plugin "
                        f"{other.plugin!r} ({other.distribution}) and by plugin {_plugin!r} ({_dist})."
                    )
                _VALIDATORS[kind](obj, name, _plugin)
                if description is None:
                    describe = getattr(obj, "short_description", None)
                    description = describe() if callable(describe) else _first_line(obj)
                found[name] = Registration(kind, name, obj, description, _plugin, _dist)

            try:
                impl.function(register=register)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin!r} ({dist}) failed in subsel_register_{kind}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        _cache[kind] = dict(sorted(found.items()))
        return _cache[kind]


def _first_line(obj) -> str:
    doc = (inspect.getdoc(obj) or "").strip().splitlines()
    return doc[0] if doc else ""


# strategies -----------------------------------------------------------------


def available_strategies(*, combinations: bool = True) -> list[str]:
    """Names accepted by :func:`get_strategy`.

    The registered strategies, then every ``<first>_then_<second>`` with
    ``second`` in ``norm``, ``gs``, ``random`` (unless ``combinations=False``).
    """
    base = list(registrations("strategies"))
    if not combinations:
        return base
    return base + [f"{b}_then_{s}" for b in base for s in THEN_ALIASES]


def strategy_info(name: str) -> Registration:
    """Registration of a strategy name, combinations included."""
    base = registrations("strategies")
    if name in base:
        return base[name]
    first, second = _split_then(name)
    f, s = strategy_info(first), strategy_info(second)
    from .strategies import ThenQuery

    return Registration(
        "strategies",
        name,
        ThenQuery,
        f"{first} picks 2x budget candidates, then {second} picks the budget.",
        f.plugin if f.plugin == s.plugin else f"{f.plugin}+{s.plugin}",
        f.distribution,
    )


def _split_then(name: str) -> tuple[str, str]:
    if not isinstance(name, str) or "_then_" not in name:
        _unknown("strategy", name, available_strategies())
    first, second = name.rsplit("_then_", 1)
    second = THEN_ALIASES.get(second, second)
    return first, second


def _unknown(kind: str, name, available) -> None:
    hint = difflib.get_close_matches(str(name), available, n=1)
    did = f" Did you mean {hint[0]!r}?" if hint else ""
    raise InvalidValueError(f"unknown {kind} {name!r}.{did} Available: {', '.join(available)}.")


def _construct(cls, params: dict, name: str):
    try:
        return cls(**params)
    except TypeError as exc:
        valid = sorted(inspect.signature(cls).parameters)
        raise InvalidTypeError(
            f"invalid parameters for {name!r}: {exc}. Valid parameters: {valid}."
        ) from None


def class_count_parameters(strategy) -> dict:
    """``{name: value}`` of every parameter of ``strategy`` that takes the task's number of classes.

    A parameter named ``n_classes``, or ending in ``__n_classes`` (a part of a
    combination, e.g. ``first__n_classes``), per ``strategy.get_params(deep=True)``:
    ProbCover, its combinations and any third-party strategy with such a
    parameter. Empty for an object without ``get_params``.
    """
    get_params = getattr(strategy, "get_params", None)
    if not callable(get_params):
        return {}
    try:
        params = get_params(deep=True)
    except TypeError:  # a get_params without deep=
        params = get_params()
    return {k: v for k, v in params.items() if k == "n_classes" or k.endswith("__n_classes")}


def get_strategy(name: str, **params):
    """Build a strategy by name.

    ``<first>_then_<second>`` builds a :class:`ThenQuery`; its own parameters
    (``factor``, ``random_state``, ``features``) stay on it, ``first__x`` and
    ``then__x`` go to a component, and any other parameter goes to the one
    component that accepts it. A parameter both components accept (``norm`` in
    ``gram_schmidt_then_norm``) is an error asking for ``first__`` or
    ``then__``: silently routing it to one of them would be a guess.
    """
    base = registrations("strategies")
    if name in base:
        return _construct(base[name].obj, params, name)
    first_name, second_name = _split_then(name)
    first, then = get_strategy(first_name), get_strategy(second_name)
    from .strategies import ThenQuery

    own = {k: params.pop(k) for k in ("factor", "random_state", "features") if k in params}
    strategy = ThenQuery(first, then, **own)
    for key, value in params.items():
        if "__" in key:
            target = key
        else:
            targets = [
                p for p, part in (("first", first), ("then", then)) if key in part.get_params(deep=False)
            ]
            if len(targets) > 1:
                raise InvalidTypeError(
                    f"parameter {key!r} for {name!r} is accepted by both {first_name} and "
                    f"{second_name}; say which: first__{key}= or then__{key}=."
                )
            if not targets:
                raise InvalidTypeError(
                    f"invalid parameter {key!r} for {name!r}: neither {first_name} nor "
                    f"{second_name} takes it. Valid: {sorted(strategy.get_params(deep=True))}."
                )
            target = f"{targets[0]}__{key}"
        try:
            strategy.set_params(**{target: value})
        except ValueError as exc:
            raise InvalidTypeError(f"invalid parameter {key!r} for {name!r}: {exc}") from None
    return strategy


# the other kinds --------------------------------------------------------------


def _getter(kind: str, label: str):
    def available() -> list[str]:
        return list(registrations(kind))

    def get(name: str, **params):
        regs = registrations(kind)
        if name not in regs:
            _unknown(label, name, list(regs))
        return _construct(regs[name].obj, params, name)

    available.__name__ = f"available_{kind}"
    get.__name__ = f"get_{label.replace(' ', '_')}"
    available.__doc__ = f"Names of the registered {label}s."
    get.__doc__ = f"Build the {label} registered as ``name`` with ``params``."
    return available, get


available_feature_extractors, get_feature_extractor = _getter("feature_extractors", "feature extractor")
available_datasets, get_dataset = _getter("datasets", "dataset")
available_evaluations, get_evaluation = _getter("evaluations", "evaluation")
