"""Hook specifications: the one place a plugin author needs to read.

A plugin is a module (or object) with functions marked ``@hookimpl`` and
named like the specs below, advertised under the ``subsel_plugins``
entry-point group::

    # setup.cfg of your distribution
    [options.entry_points]
    subsel_plugins =
        my_strategies = my_package.subsel_plugin

Each hook receives a ``register`` callback owned by the host. Call it once
per thing you provide; a duplicate name or an object of the wrong kind fails
loudly with your plugin's name.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "subsel_plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def subsel_register_strategies(register: Callable[..., None]) -> None:
    """Register query strategies.

    Call ``register(name, cls, description=None)`` where ``cls`` subclasses
    :class:`subsel_plugins.QueryStrategy`. Names are lower-case identifiers and
    must not contain ``_then_``: the host derives ``<name>_then_norm``,
    ``<name>_then_gs`` and ``<name>_then_random`` from every strategy.
    """


@hookspec
def subsel_register_feature_extractors(register: Callable[..., None]) -> None:
    """Register feature extractors.

    Call ``register(name, factory, description=None)``; ``factory(**params)``
    returns an object mapping raw images to an (n_samples, n_features) array.
    """


@hookspec
def subsel_register_datasets(register: Callable[..., None]) -> None:
    """Register datasets.

    Call ``register(name, loader, description=None)``; ``loader(**params)``
    returns the dataset's train and test images with labels.
    """


@hookspec
def subsel_register_evaluations(register: Callable[..., None]) -> None:
    """Register evaluation frameworks for the benchmark harness.

    Call ``register(name, factory, description=None)``; ``factory(**params)``
    returns an evaluator that trains on a labeled subset and reports test accuracy.
    """
