"""The feature cache: features computed once, stored as ``.npy`` with a JSON sidecar, loaded memory-mapped.

:func:`load_or_compute` is the entry point; trained encoders (SimCLR) are
cached beside the features by the same code. One entry is a data file and its
sidecar ``<file>.json`` holding the key, size, modification time and SHA-256
of the data file (plus shape and dtype for features). Entries are written
atomically, data first and sidecar last, so an entry without a sidecar is a
partial write and never trusted.

A hit is cheap: one stat, the sidecar and the ``.npy`` header, checked against
each other (key, size, shape, dtype, and the modification time the sidecar
recorded); the data itself is memory-mapped, not read. A file rewritten since
its sidecar (a different modification time) has its SHA-256 checked again
before use. What the cheap check cannot catch is data changed in place
without a new modification time (bit rot, a flip on disk, a tool that restores
timestamps): ``load_or_compute(..., verify=True)`` reads and hashes the whole
file. joblib's ``Memory`` was considered and not used: it keys on hashed
Python arguments and pickles, where this cache needs an explicit key
(package version, extractor parameters, file checksums), atomic writes and
plain ``.npy`` files other tools can read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InvalidTypeError, InvalidValueError, MissingDependencyError

#: Bump when the on-disk layout changes. (Sidecars written before ``mtime_ns``
#: existed are still read: their first hit checks the SHA-256 and records it.)
CACHE_FORMAT = 1

_APP = "subsel-plugins"


def default_cache_dir() -> Path:
    """``$SUBSEL_CACHE_DIR``, else the user's cache directory + ``subsel-plugins`` (by platformdirs).

    Linux: ``$XDG_CACHE_HOME`` or ``~/.cache``; macOS: ``~/Library/Caches``;
    Windows: ``%LOCALAPPDATA%``.
    """
    env = os.environ.get("SUBSEL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs  # not in the numpy-only core: only the cache needs it
    except ImportError:  # pragma: no cover - installed with every extra that uses the cache
        raise MissingDependencyError(
            "the feature cache's default location needs platformdirs: pip install platformdirs "
            "(or 'subsel-plugins[torch]'), or set SUBSEL_CACHE_DIR / pass cache_dir (--cache-dir)."
        ) from None
    # opinion=False: no extra "Cache" folder on Windows, as before platformdirs
    return platformdirs.user_cache_path(_APP, appauthor=False, opinion=False)


def _cache_root(cache_dir) -> Path:
    """The cache directory to use, checked before any work.

    The directory, or the nearest of its parents that exists, must be a
    directory. (Whether it is writable shows only when a result is saved: a
    read-only cache that already holds the features is fine.)
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    existing = root.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidValueError(
            f"feature cache directory {str(root)!r}: {str(existing)!r} is a file, not a directory; point "
            "the cache (cache_dir, --cache-dir or SUBSEL_CACHE_DIR) at a directory."
        )
    return root


def _version() -> str:
    from .. import __version__

    return __version__


def _key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


# -- writing -------------------------------------------------------------------


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
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            what = "it is a directory: remove it" if path.is_dir() else f"{exc.strerror or exc}: fix it"
            raise InvalidValueError(
                f"feature cache: cannot write {path} ({what}), or point the cache (cache_dir, --cache-dir "
                "or SUBSEL_CACHE_DIR) at another directory."
            ) from None
        raise


class _HashingWriter:
    """A write-only file object that hashes what passes through it (no second read of the file)."""

    def __init__(self, fh, digest):
        self.fh, self.digest = fh, digest

    def write(self, data):
        self.digest.update(data)
        return self.fh.write(data)


def _write_sidecar(path: Path, meta: dict) -> None:
    _atomic_write(_sidecar(path), lambda fh: fh.write(json.dumps(meta, indent=1, sort_keys=True).encode()))


def _write_entry(path: Path, write, key: dict, **fields) -> None:
    """Write ``path`` through ``write(fileobj)``, then its sidecar: key, size, mtime, SHA-256, ``fields``."""
    digest = hashlib.sha256()
    _atomic_write(path, lambda fh: write(_HashingWriter(fh, digest)))
    st = path.stat()
    meta = {"format": CACHE_FORMAT, "key": key, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    # the sidecar lands last: a data file without a matching sidecar is never trusted
    _write_sidecar(path, {**meta, "sha256": digest.hexdigest(), **fields})


def save_array(path: Path, array: np.ndarray, key: dict) -> None:
    """Store ``array`` at ``path`` (.npy) and its sidecar ``path.json`` (key, shape, dtype, size, ...)."""
    array = np.ascontiguousarray(array)
    fields = {"shape": list(array.shape), "dtype": array.dtype.str}
    _write_entry(path, lambda fh: np.save(fh, array, allow_pickle=False), key, **fields)


# -- reading -------------------------------------------------------------------


def _read_meta(path: Path, key: dict | None) -> tuple[dict | None, str]:
    """The sidecar of ``path`` if it parses and matches ``key`` (and ``path`` exists); else why not."""
    side = _sidecar(path)
    if not path.is_file():
        return None, "no file"
    if not side.is_file():
        return None, "no sidecar (partial write?)"
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        return None, f"unreadable sidecar: {exc}"
    if not isinstance(meta, dict):
        return None, "unreadable sidecar: not a JSON object"
    if meta.get("format") != CACHE_FORMAT:
        return None, f"cache format {meta.get('format')!r}, expected {CACHE_FORMAT}"
    if key is not None and meta.get("key") != key:
        return None, "key mismatch"
    return meta, "ok"


def _check_entry(path: Path, key: dict | None, full: bool) -> tuple[dict | None, str]:
    """The sidecar of ``path`` if the two agree (see :func:`verify_file`), else None; and why."""
    meta, why = _read_meta(path, key)
    if meta is None:
        return None, why
    st = path.stat()
    if st.st_size != meta.get("size"):
        return None, f"size {st.st_size} bytes, sidecar says {meta.get('size')}"
    if not full and st.st_mtime_ns == meta.get("mtime_ns"):
        return meta, "ok (size and time)"
    if _sha256_file(path) != meta.get("sha256"):
        return None, "checksum mismatch"
    if st.st_mtime_ns != meta.get("mtime_ns"):
        meta = {**meta, "mtime_ns": st.st_mtime_ns}
        try:  # best effort: a read-only cache stays usable, it just hashes again next time
            _write_sidecar(path, meta)
        except (OSError, InvalidValueError):
            pass
    return meta, "ok"


def verify_file(path: Path, key: dict | None = None, *, full: bool = True) -> tuple[bool, str]:
    """Whether ``path`` agrees with its sidecar, and why not.

    Always: the sidecar exists and parses, ``key`` (if given) and the size
    match. The SHA-256 of the whole file is checked when ``full``, or when
    the file's modification time is not the one the sidecar recorded (the
    file was rewritten or copied since); a file that passes that check gets
    its new time recorded, so the next cheap check passes without hashing.
    """
    meta, why = _check_entry(path, key, full)
    return meta is not None, why


def load_array(path: Path, key: dict | None = None, *, verify: bool = False) -> np.ndarray | None:
    """The cached array, memory-mapped read-only, or None when missing or failing its checks.

    Cheap by default (see :func:`verify_file`; plus the ``.npy`` header's shape
    and dtype against the sidecar); ``verify=True`` also hashes the whole file.
    """
    side, _why = _check_entry(path, key, full=verify)
    if side is None:
        return None
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)  # reads the header, maps the rest
    except (OSError, ValueError):
        return None
    if list(arr.shape) != side.get("shape") or arr.dtype.str != side.get("dtype"):
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
    verify=False,
):
    """Features of a registered dataset's split by a registered extractor, cached on disk.

    Computed once per (dataset, its parameters, split, ``limit``, extractor,
    its parameters, ``seed``, package version). A hit costs a stat and two
    small reads (sidecar, ``.npy`` header; what that catches, and what only
    ``verify=True`` does: module docstring). Extractors that learn (e.g.
    ``simclr``) are trained on the train split first, their encoder cached too.

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
    verify : bool
        Check a cached file's SHA-256 too (reads the whole file).

    Returns
    -------
    ndarray of shape (n, d), float32, read-only memory map
        (and the path, with ``return_path=True``).
    """
    _check_call(params, dataset_params, limit, seed)
    ext = _extractor(extractor, params, seed)
    root = _cache_root(cache_dir)
    key = _feature_key(dataset, dataset_params, split, limit, ext, seed)
    path = root / "features" / _safe(dataset) / f"{split}-{_safe(extractor)}-{_key_digest(key)}.npy"
    _refuse_directories(path)
    out = load_array(path, key, verify=verify)
    if out is None:
        save_array(path, _compute(ext, dataset, dataset_params, split, limit, key, root), key)
        out = load_array(path, key)
    if out is None:  # pragma: no cover - only if the disk changed under us
        raise OSError(f"feature cache file {path} failed its checks right after it was written.")
    return (out, path) if return_path else out


def _check_call(params, dataset_params, limit, seed) -> None:
    """``load_or_compute``'s own arguments, checked before anything is loaded or computed."""
    from .._validation import check_int

    for name, value in (("params", params), ("dataset_params", dataset_params)):
        if value is not None and not isinstance(value, dict):
            raise InvalidTypeError(
                f"{name} must be a dict of parameters or None; got {value!r} ({type(value).__name__})."
            )
    if limit is not None:
        is_int = isinstance(limit, int | np.integer) and not isinstance(limit, bool | np.bool_)
        if not is_int or limit < 1:
            error = InvalidValueError if is_int else InvalidTypeError
            raise error(f"limit must be a positive integer or None; got {limit!r}.")
    check_int(seed, "seed", 0)


def _refuse_directories(path: Path) -> None:
    """A cache entry or its sidecar replaced by a directory: one error before any work."""
    for p in (path, _sidecar(path)):
        if p.is_dir():
            raise InvalidValueError(
                f"feature cache: {p} is a directory where a cache file belongs; remove it, or point "
                "the cache (cache_dir, --cache-dir or SUBSEL_CACHE_DIR) at another directory."
            )


def _feature_key(dataset, dataset_params, split, limit, ext, seed) -> dict:
    """What the features depend on: the cache key, stored in the sidecar."""
    if split not in ("train", "test"):
        raise InvalidValueError(f"split must be 'train' or 'test'; got {split!r}.")
    return {
        "dataset": dataset,
        "dataset_params": {k: repr(v) for k, v in sorted((dataset_params or {}).items())},
        "split": split,
        "limit": None if limit is None else int(limit),
        "extractor": json.loads(ext.cache_key()),
        "seed": int(seed),
        "version": _version(),
    }


def _extractor(name: str, params: dict | None, seed):
    """The registered extractor ``name`` with ``params``, seeded by ``seed`` unless ``params`` sets one."""
    from ..registry import get_feature_extractor

    params = dict(params or {})
    ext = get_feature_extractor(name, **params)
    if "seed" in ext.get_params() and "seed" not in params:
        ext = get_feature_extractor(name, **params, seed=seed)
    return ext


def _compute(ext, dataset, dataset_params, split, limit, key: dict, root: Path) -> np.ndarray:
    """The features themselves: load the split, train the extractor if it learns, transform."""
    ds = _dataset(dataset, dataset_params)
    if getattr(ext, "requires_fit", False):
        _fit_cached(ext, ds, dataset, key, root)
    images = _limited(_split(ds, split).images, limit)
    return np.asarray(ext.transform(images), dtype=np.float32)


def _fit_cached(ext, ds, dataset: str, key: dict, root: Path) -> None:
    """Train ``ext`` on the train split, or load the encoder a previous run trained and cached."""
    model_key = {k: v for k, v in key.items() if k not in ("split", "limit")}
    path = root / "models" / _safe(dataset) / f"{_safe(ext.name)}-{_key_digest(model_key)}.pt"
    if verify_file(path, model_key, full=True)[0] and hasattr(ext, "load_encoder"):
        ext.load_encoder(path)
        return
    ext.fit(ds.train.images, ds.train.labels)
    if hasattr(ext, "save_encoder"):
        buf = io.BytesIO()  # torch.save wants a seekable file: write through memory
        ext.save_encoder(buf)
        data = buf.getvalue()
        fields = {
            "fit_seconds": getattr(ext, "fit_seconds_", None),
            "loss_history": getattr(ext, "loss_history_", None),
        }
        _write_entry(path, lambda fh: fh.write(data), model_key, **fields)
