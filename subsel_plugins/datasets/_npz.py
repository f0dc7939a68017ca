"""A user's own arrays from an .npz file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InvalidValueError
from ._base import ImageDataset, Split
from ._errors import DatasetNotFoundError

#: Accepted key names, first match wins.
KEYS = {
    "x_train": ("x_train", "X_train", "train_images", "train_x"),
    "y_train": ("y_train", "train_labels", "train_y"),
    "x_test": ("x_test", "X_test", "test_images", "test_x"),
    "y_test": ("y_test", "test_labels", "test_y"),
}


def _images(arr: np.ndarray, key: str, path) -> np.ndarray:
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise InvalidValueError(
            f"npz: {path}[{key!r}] has shape {arr.shape}; expected (n, H, W) or (n, H, W, C) images."
        )
    if arr.shape[-1] not in (1, 3, 4) and arr.shape[1] in (1, 3, 4):
        arr = arr.transpose(0, 2, 3, 1)  # NCHW (torch layout) -> NHWC
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if lo < 0 or hi > 1:
            raise InvalidValueError(
                f"npz: {path}[{key!r}] holds floats in [{lo}, {hi}]; expected [0, 1] or uint8 pixels."
            )
        return np.round(arr * 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer) and arr.min() >= 0 and arr.max() <= 255:
        return arr.astype(np.uint8)
    raise InvalidValueError(
        f"npz: {path}[{key!r}] has dtype {arr.dtype}; expected uint8 pixels or floats in [0, 1]."
    )


def _resolve_path(path, root) -> Path:
    """The .npz file from ``path`` or ``root`` (a file, or a folder holding exactly one)."""
    if path is None and root is not None:
        path = root
        if Path(root).expanduser().is_dir():
            found = sorted(Path(root).expanduser().glob("*.npz"))
            if len(found) != 1:
                raise DatasetNotFoundError(
                    f"npz: root={root} is a folder with {len(found)} .npz files; expected exactly one "
                    "(or pass path= the file)."
                )
            path = found[0]
    if path is None:
        raise DatasetNotFoundError(
            "npz: pass path= an .npz file with arrays x_train, y_train (and x_test, y_test)."
        )
    p = Path(path).expanduser()
    if not p.is_file():
        raise DatasetNotFoundError(
            f"npz: no such file: {p}. Write one with np.savez(path, x_train=..., "
            "y_train=..., x_test=..., y_test=...)."
        )
    return p


def _read_arrays(p: Path):
    """``x_train, y_train, x_test, y_test, classes`` from the file (an empty test split if absent)."""
    with np.load(p, allow_pickle=False) as z:
        files = set(z.files)
        found = {k: next((n for n in names if n in files), None) for k, names in KEYS.items()}
        if found["x_train"] is None or found["y_train"] is None:
            raise DatasetNotFoundError(
                f"npz: {p} holds {sorted(files)}; expected at least x_train and y_train "
                "(also accepted: X_train, train_images/train_labels)."
            )
        if (found["x_test"] is None) != (found["y_test"] is None):
            raise InvalidValueError(f"npz: {p} has only one of x_test / y_test; give both or neither.")
        xtr = _images(z[found["x_train"]], found["x_train"], p)
        ytr = z[found["y_train"]]
        if found["x_test"] is not None:
            xte, yte = _images(z[found["x_test"]], found["x_test"], p), z[found["y_test"]]
        else:
            xte, yte = xtr[:0], ytr[:0]
        file_classes = [str(c) for c in z["classes"]] if "classes" in files else None
    return xtr, ytr, xte, yte, file_classes


def load_npz(path=None, classes=None, root=None) -> ImageDataset:
    """Images and labels from an .npz file: ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Parameters
    ----------
    path : path
        The .npz file. Images (n, H, W), (n, H, W, C) or (n, C, H, W), uint8
        or floats in [0, 1]; labels integers 0..k-1. ``X_train``,
        ``train_images``/``train_labels`` are accepted too. Without test
        arrays the test split is empty. An optional ``classes`` array names the labels.
    classes : list of str or None
        Class names; overrides the file's ``classes``.
    root : path or None
        Same as ``path`` (every loader takes ``root``); a folder holding
        exactly one .npz file is accepted too.

    Returns
    -------
    ImageDataset
    """
    p = _resolve_path(path, root)
    xtr, ytr, xte, yte, file_classes = _read_arrays(p)
    labels = np.concatenate([np.ravel(ytr), np.ravel(yte)])
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise InvalidValueError(f"npz: {p} labels must be non-negative integers; got dtype {labels.dtype}.")
    if xtr.shape[1:] != xte.shape[1:] and len(xte):
        raise InvalidValueError(
            f"npz: {p} train images {xtr.shape[1:]} and test images {xte.shape[1:]} differ in shape."
        )
    n_classes = int(labels.max()) + 1 if labels.size else 0
    names = list(classes) if classes is not None else file_classes or [str(i) for i in range(n_classes)]
    if len(names) < n_classes:
        raise InvalidValueError(
            f"classes names {len(names)} classes but the labels go up to {n_classes - 1}."
        )
    return ImageDataset(
        name=p.stem, train=Split(xtr, ytr), test=Split(xte, yte), classes=names, meta={"source": str(p)}
    )
