"""Errors a user can act on, kept apart from internal failures.

Every check of user input (arrays, parameters, files, configs, plugins) raises
a subclass of :class:`SubselError`. The doors (``subsel``, ``subsel-usb``,
``python -m benchmarks``) catch exactly this class and print its message as one
line with exit status 2; anything else is a bug and keeps its traceback.

The concrete classes also derive from the built-in exception a Python user
expects, following scikit-learn's ``check_scalar`` convention: a wrong *type*
is a :class:`TypeError`, a wrong *value* a :class:`ValueError`, so
``except ValueError`` and ``pytest.raises(TypeError)`` keep working.
"""

from __future__ import annotations


class SubselError(Exception):
    """Base of every error caused by the user's input, files, configuration or plugins."""


class InvalidValueError(SubselError, ValueError):
    """A parameter or input has the right type but a wrong value (shape, range, NaN...)."""


class InvalidTypeError(SubselError, TypeError):
    """A parameter or input has the wrong type."""


class MissingDependencyError(SubselError, ImportError):
    """An optional dependency (an extra) is needed and not installed; the message names it."""


class MissingFileError(SubselError, FileNotFoundError):
    """A data set, checkpoint or input file is missing; the message says how to get it."""


class PluginError(SubselError, RuntimeError):
    """A plugin failed to load or registered something invalid (or a strategy broke its contract)."""


class ClusterError(SubselError, RuntimeError):
    """The cluster failed (workers killed repeatedly, connection lost): one clear error, no partial result."""


class ResourceLimitError(SubselError, MemoryError):
    """A computation would need more memory than allowed; refused before allocating.

    The message gives the estimate, the limit and the parameters that change either.
    """


__all__ = [
    "SubselError",
    "PluginError",
    "ClusterError",
    "InvalidValueError",
    "InvalidTypeError",
    "MissingDependencyError",
    "MissingFileError",
    "ResourceLimitError",
]
