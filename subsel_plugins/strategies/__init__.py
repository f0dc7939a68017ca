"""Query strategies: one private module each, re-exported here.

A built-in strategy is one private module here (``_my_strategy.py``, defining a
public :class:`QueryStrategy` subclass) plus one registration line in
``subsel_plugins/_builtin_strategies.py``. The classes are found, not listed:
every public ``QueryStrategy`` subclass a private module of this package
defines is exported under its own name, and ``subsel_plugins`` and the modAL
adapter re-export this ``__all__``; the scikit-activeml adapter generates its
classes from the registration.
"""

import importlib as _importlib
import inspect as _inspect
import pkgutil as _pkgutil

from ._base import QueryStrategy, apply_features


def _strategy_classes() -> dict:
    """Public QueryStrategy subclasses defined in this package's private modules, by name."""
    found = {}
    for info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            continue
        module = _importlib.import_module(f"{__name__}.{info.name}")
        for name, obj in vars(module).items():
            if (
                not name.startswith("_")
                and _inspect.isclass(obj)
                and issubclass(obj, QueryStrategy)
                and obj is not QueryStrategy
                and obj.__module__ == module.__name__
            ):
                found[name] = obj
    return found


_found = _strategy_classes()
globals().update(_found)

__all__ = ["QueryStrategy", "apply_features", *_found]
del _found
