"""Selection over features no single machine holds: Dask arrays, .npy shards, zarr.

``strategy.select(X, budget, labeled)`` runs here (``subsel_plugins.dispatch``) when ``X`` is a
``dask.array.Array``, a glob or list of ``.npy`` shard files, a zarr array
(or a ``.zarr`` path), or a :class:`RowSource`; indices in and out are global
row indices. The distributed strategies are listed in
``subsel_plugins.dispatch.SUPPORTED``; any other raises one error saying so. The tasks run on the active
``distributed.Client`` (:func:`connect` makes one for ``local``, ``local:N``
or ``tcp://host:port``), or on dask's local scheduler when there is none.

This module imports nothing from dask until a distributed input arrives, so
the core stays numpy-only; ``pip install 'subsel-plugins[dask]'`` brings
dask, distributed and zarr.
"""

from __future__ import annotations

import os

from ..errors import MissingDependencyError

__all__ = [
    "is_distributed_input",
    "connect",
    "ChunkedPool",
    "ChunkedDistancePool",
    "ChunkedClusterPool",
    "ChunkedBallPool",
    "RowSource",
    "NpyShards",
    "ZarrRows",
    "DaskRows",
    "SeededRows",
    "as_source",
]

_LAZY = {
    "ChunkedPool": "._pool",
    "ChunkedDistancePool": "._farthest",
    "ChunkedClusterPool": "._clusters",
    "ChunkedBallPool": "._balls",
    "connect": "._client",
    "RowSource": "._sources",
    "NpyShards": "._sources",
    "ZarrRows": "._sources",
    "DaskRows": "._sources",
    "SeededRows": "._sources",
    "as_source": "._sources",
}


def is_distributed_input(X) -> bool:
    """Whether ``X`` is a distributed input (decided without importing dask).

    True for a dask array, a zarr array, a :class:`RowSource`, a string or
    path (a ``.npy`` file, a glob of them, or a ``.zarr`` store) and a
    non-empty list or tuple of strings or paths. Numeric arrays and lists of
    numbers are not.

    Raises
    ------
    MissingFileError
        For a string or path that names nothing on disk (no file, directory
        or glob match): it was taken as a path, and the error says so
        (``X="hello"`` is not data).
    """
    top = type(X).__module__.split(".")[0]
    if top == "dask" and hasattr(X, "chunks") and hasattr(X, "dask"):
        return True
    if top == "zarr" and hasattr(X, "shape") and hasattr(X, "chunks"):
        return True
    if isinstance(X, (str, os.PathLike)):
        _check_path_exists(X)
        return True
    if isinstance(X, (list, tuple)) and X and all(isinstance(x, (str, os.PathLike)) for x in X):
        for x in X:
            _check_path_exists(x)
        return True
    rs = _loaded_row_source()
    return rs is not None and isinstance(X, rs)


def _check_path_exists(path) -> None:
    import glob

    text = os.fspath(path)
    pattern = any(ch in str(text) for ch in "*?[")
    if os.path.exists(text) or (pattern and glob.glob(str(text))):
        return
    from ..errors import MissingFileError

    missing = "no file matches the glob" if pattern else "no such file or directory exists"
    raise MissingFileError(
        f"X={text!r} was taken as a path (a string X names a .npy file, a glob of .npy shards or a "
        f".zarr store), but {missing}; pass the features as an array, or a path that exists."
    )


def _loaded_row_source():
    import sys

    mod = sys.modules.get(f"{__name__}._sources")
    return getattr(mod, "RowSource", None)


def _require() -> None:
    """Import dask and distributed, or say which extra brings them."""
    try:
        import dask  # noqa: F401
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"distributed inputs (dask arrays, .npy shard globs, zarr) need dask and distributed "
            f"({exc.name} is missing): pip install 'subsel-plugins[dask]'."
        ) from None


def __getattr__(name):
    if name in _LAZY:
        import importlib

        if name != "RowSource" and name not in ("NpyShards", "SeededRows"):
            _require()
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
