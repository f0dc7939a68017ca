"""Features computed once, stored as .npy with a checksum sidecar, loaded memory-mapped."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InvalidValueError

#: Bump when the on-disk layout changes.
CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$SUBSEL_CACHE_DIR``, else the user's cache directory + ``subsel-plugins``.

    Linux: ``$XDG_CACHE_HOME`` or ``~/.cache``; macOS: ``~/Library/Caches``;
    Windows: ``%LOCALAPPDATA%``.
    """
    env = os.environ.get("SUBSEL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        base = Path("~/Library/Caches").expanduser()
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path("~/AppData/Local").expanduser())
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser())
    return base / "subsel-plugins"


def _version() -> str:
    from .. import __version__

    return __version__


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(fileobj)`` to a temp file beside ``path``, fsync, then rename over it.

    A reader sees either no file or a whole one; an interrupted writer leaves
    only a ``.tmp`` file that nothing reads.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError as exc:
        raise InvalidValueError(
            f"feature cache: cannot write in {path.parent} ({exc.strerror or exc}); point the cache "
            "(cache_dir, --cache-dir or SUBSEL_CACHE_DIR) at a writable directory."
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_cache_root(root: Path) -> None:
    """Before any work: the cache directory, or the nearest of its parents that exists, is a directory.

    (Whether it is writable shows only when a result is saved: a read-only
    cache that already holds the features is fine.)
    """
    existing = root.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidValueError(
            f"feature cache directory {str(root)!r}: {str(existing)!r} is a file, not a directory; point "
            "the cache (cache_dir, --cache-dir or SUBSEL_CACHE_DIR) at a directory."
        )


def _key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def save_array(path: Path, array: np.ndarray, key: dict) -> None:
    """Store ``array`` at ``path`` (.npy) and its sidecar ``path.json`` (key, shape, dtype, size, SHA-256)."""
    array = np.ascontiguousarray(array)
    _atomic_write(path, lambda fh: np.save(fh, array, allow_pickle=False))
    meta = {
        "format": CACHE_FORMAT,
        "key": key,
        "shape": list(array.shape),
        "dtype": array.dtype.str,
        "size": path.stat().st_size,
        "sha256": _sha256_file(path),
    }
    # the sidecar lands last: an .npy without a matching sidecar is never trusted
    _atomic_write(_sidecar(path), lambda fh: fh.write(json.dumps(meta, indent=1, sort_keys=True).encode()))


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def verify_file(path: Path, key: dict | None = None) -> tuple[bool, str]:
    """Whether ``path`` and its sidecar agree (size and SHA-256, and ``key`` if given); why not."""
    side = _sidecar(path)
    if not path.is_file():
        return False, "no file"
    if not side.is_file():
        return False, "no sidecar (partial write?)"
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        return False, f"unreadable sidecar: {exc}"
    if meta.get("format") != CACHE_FORMAT:
        return False, f"cache format {meta.get('format')!r}, expected {CACHE_FORMAT}"
    if key is not None and meta.get("key") != key:
        return False, "key mismatch"
    size = path.stat().st_size
    if size != meta.get("size"):
        return False, f"size {size} bytes, sidecar says {meta.get('size')}"
    if _sha256_file(path) != meta.get("sha256"):
        return False, "checksum mismatch"
    return True, "ok"


def load_array(path: Path, key: dict | None = None) -> np.ndarray | None:
    """The cached array, memory-mapped read-only, or None when missing or failing verification."""
    ok, _why = verify_file(path, key)
    if not ok:
        return None
    side = json.loads(_sidecar(path).read_text())
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if list(arr.shape) != side["shape"] or arr.dtype.str != side["dtype"]:
        return None
    return arr


def _dataset(name: str, dataset_params: dict | None):
    from ..registry import get_dataset

    return get_dataset(name, **(dataset_params or {}))


def _split(ds, split: str):
    if split not in ("train", "test"):
        raise InvalidValueError(f"split must be 'train' or 'test'; got {split!r}.")
    return getattr(ds, split)


def _limited(images, limit):
    if limit is None:
        return images
    if not (isinstance(limit, int | np.integer) and limit >= 1):
        raise InvalidValueError(f"limit must be a positive integer or None; got {limit!r}.")
    return images[: int(limit)]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def load_or_compute(
    dataset,
    split,
    extractor,
    params=None,
    seed=0,
    cache_dir=None,
    *,
    dataset_params=None,
    limit=None,
    return_path=False,
):
    """Features of a registered dataset's split by a registered extractor, cached on disk.

    Computed once per (dataset, its parameters, split, ``limit``, extractor,
    its parameters, ``seed``, package version); stored as ``.npy`` under
    ``cache_dir`` with a JSON sidecar holding the key, shape, size and SHA-256.
    Files are written atomically (temp file + rename); a file whose size or
    checksum does not match its sidecar, or that lacks one, is recomputed,
    never used. Extractors that learn (``requires_fit``, e.g. ``simclr``) are
    first trained on the dataset's train split; the trained encoder is cached
    too (``models/``).

    Parameters
    ----------
    dataset : str
        Registered dataset name (``subsel_plugins.available_datasets()``).
    split : {"train", "test"}
    extractor : str
        Registered feature-extractor name.
    params : dict or None
        Extractor parameters.
    seed : int
        Passed to the extractor as ``seed`` (random initialisation, training)
        unless ``params`` sets it.
    cache_dir : path or None
        None: ``$SUBSEL_CACHE_DIR`` or the user's cache directory.
    dataset_params : dict or None
        Loader parameters (e.g. ``{"root": "/data/cifar"}``).
    limit : int or None
        Only the first ``limit`` images of the split (None: all).
    return_path : bool
        Also return the cache file's path.

    Returns
    -------
    ndarray of shape (n, d), float32, read-only memory map
        (and the path, with ``return_path=True``).
    """
    from ..registry import get_feature_extractor

    params = dict(params or {})
    ext = get_feature_extractor(extractor, **params)
    if "seed" in ext.get_params() and "seed" not in params:
        ext = get_feature_extractor(extractor, **params, seed=seed)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    _check_cache_root(root)
    if split not in ("train", "test"):
        raise InvalidValueError(f"split must be 'train' or 'test'; got {split!r}.")
    key = {
        "dataset": dataset,
        "dataset_params": {k: repr(v) for k, v in sorted((dataset_params or {}).items())},
        "split": split,
        "limit": None if limit is None else int(limit),
        "extractor": json.loads(ext.cache_key()),
        "seed": int(seed),
        "version": _version(),
    }
    path = root / "features" / _safe(dataset) / f"{split}-{_safe(extractor)}-{_key_digest(key)}.npy"
    cached = load_array(path, key)
    if cached is not None:
        return (cached, path) if return_path else cached
    ds = _dataset(dataset, dataset_params)
    if getattr(ext, "requires_fit", False):
        _fit_cached(ext, ds, dataset, key, root)
    images = _limited(_split(ds, split).images, limit)
    feats = np.asarray(ext.transform(images), dtype=np.float32)
    save_array(path, feats, key)
    out = load_array(path, key)
    if out is None:  # pragma: no cover - only if the disk changed under us
        raise OSError(f"feature cache file {path} failed verification right after it was written.")
    return (out, path) if return_path else out


def _fit_cached(ext, ds, dataset: str, key: dict, root: Path) -> None:
    """Train ``ext`` on the train split, or load the encoder a previous run trained and cached."""
    model_key = {k: v for k, v in key.items() if k not in ("split", "limit")}
    path = root / "models" / _safe(dataset) / f"{_safe(ext.name)}-{_key_digest(model_key)}.pt"
    if verify_file(path, model_key)[0] and hasattr(ext, "load_encoder"):
        ext.load_encoder(path)
        return
    ext.fit(ds.train.images, ds.train.labels)
    if hasattr(ext, "save_encoder"):
        import io

        buf = io.BytesIO()
        ext.save_encoder(buf)
        data = buf.getvalue()
        _atomic_write(path, lambda fh: fh.write(data))
        meta = {
            "format": CACHE_FORMAT,
            "key": model_key,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "fit_seconds": getattr(ext, "fit_seconds_", None),
            "loss_history": getattr(ext, "loss_history_", None),
        }
        _atomic_write(
            _sidecar(path), lambda fh: fh.write(json.dumps(meta, indent=1, sort_keys=True).encode())
        )
