"""The feature-extractor interface every built-in follows."""

from __future__ import annotations

import hashlib
import inspect
import json
import os

import numpy as np

from ..errors import InvalidValueError, MissingFileError

#: Parameters that change how the work runs, never the features: left out of cache keys.
RUNTIME_PARAMS = frozenset({"device", "batch_size", "progress", "num_workers"})


class FeatureExtractor:
    """Maps uint8 NHWC images to float32 (n, d) features (scikit-learn transformer-like).

    Subclasses store their constructor arguments unchanged under their own
    names (so :meth:`get_params` and :meth:`cache_key` see them) and implement
    :meth:`_transform`. Those that learn override :meth:`fit` and set
    ``requires_fit = True``.
    """

    #: registered name, used in cache keys and messages
    name = "feature_extractor"
    #: True when :meth:`fit` trains (features before it would be meaningless)
    requires_fit = False

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments by name (scikit-learn convention, so strategies holding one clone)."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def set_params(self, **params):
        """Set constructor arguments by name; returns self."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise InvalidValueError(f"invalid parameter {key!r} for {self.name}; valid: {sorted(valid)}.")
            setattr(self, key, value)
        return self

    def cache_key(self) -> str:
        """Stable text naming everything that determines the features.

        Runtime-only parameters (device, batch size, progress bar) are left out;
        a checkpoint path is replaced by its content's SHA-256, so moving a file
        keeps the key and changing its content changes it.
        """
        params = {}
        for key, value in sorted(self.get_params().items()):
            if key in RUNTIME_PARAMS:
                continue
            if key in self._file_params() and value is not None:
                value = {"sha256": file_sha256(value)}
            params[key] = value
        return json.dumps({"extractor": self.name, "params": params}, sort_keys=True, default=repr)

    def _file_params(self) -> tuple[str, ...]:
        return ()

    def fit(self, images, y=None):
        """Train on ``images`` where the extractor learns; a no-op otherwise. Returns self."""
        return self

    def transform(self, images) -> np.ndarray:
        """Features of ``images``.

        Parameters
        ----------
        images : array-like of shape (n, height, width, channels) or (n, height, width), uint8
            Any size and channel count; the extractor resizes and replicates
            channels as it needs. A lazy array-like is read batch by batch.

        Returns
        -------
        ndarray of shape (n, d), float32
        """
        out = np.asarray(self._transform(images), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(images):
            raise RuntimeError(
                f"{self.name} returned shape {out.shape} for {len(images)} images; expected (n, d)."
            )
        return out

    def fit_transform(self, images, y=None) -> np.ndarray:
        return self.fit(images, y).transform(images)

    def _transform(self, images) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


_sha_cache: dict[tuple, str] = {}


def file_sha256(path) -> str:
    """SHA-256 of a file's content (memoised on path, size and mtime)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise MissingFileError(f"no such file: {path} ({exc.strerror})") from None
    memo = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if memo not in _sha_cache:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _sha_cache[memo] = h.hexdigest()
    return _sha_cache[memo]
