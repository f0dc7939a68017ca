"""Pictures of chosen subsets: a grid of images, one row per subset, the class label under each image.

:func:`image_grid` draws the grid (matplotlib, the ``show`` extra);
:func:`read_index_file` reads an index file in the formats ``subsel show``
takes (and ``subsel select -o`` writes): ``.npy`` (a 1-D integer array),
``.json`` (a list of integers, or an object whose ``indices`` is one) and
text (``.txt``, ``.csv`` or any other suffix: integers separated by commas,
spaces or line breaks; a first line that is a header, such as
``rank,index,score``, selects its ``index`` column).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import InvalidValueError, MissingDependencyError, MissingFileError

#: Images per grid line before a row wraps onto the next line.
MAX_COLUMNS = 20


def _as_indices(values, source: str) -> np.ndarray:
    """``values`` as a 1-D int64 array; floats must be whole numbers, booleans are refused."""
    arr = np.asarray(values)
    if arr.dtype == bool or arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InvalidValueError(f"{source}: expected integer row indices; got values of type {arr.dtype}.")
    if arr.ndim != 1:
        raise InvalidValueError(
            f"{source}: expected a flat list of row indices; got an array of shape {arr.shape}."
        )
    if arr.size == 0:
        raise InvalidValueError(f"{source}: holds no indices.")
    if not np.issubdtype(arr.dtype, np.integer):
        bad = arr[~np.isfinite(arr) | (arr != np.round(arr))] if arr.size else arr
        if bad.size:
            raise InvalidValueError(f"{source}: {bad[0].item()!r} is not an integer row index.")
    return arr.astype(np.int64)


def _text_indices(text: str, source: str) -> np.ndarray:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise InvalidValueError(f"{source}: holds no indices.")
    header = [c.strip().lower() for c in lines[0].split(",")]
    if any(not _is_number(t) for t in lines[0].replace(",", " ").split()):
        if "index" not in header:
            raise InvalidValueError(
                f"{source}: the first line {lines[0].strip()!r} is a header without an 'index' column; "
                "expected integers, or a CSV with an 'index' column (as `subsel select -o FILE.csv` writes)."
            )
        col = header.index("index")
        cells = []
        for n, ln in enumerate(lines[1:], start=2):
            parts = ln.split(",")
            if len(parts) <= col:
                raise InvalidValueError(f"{source}: line {n} has no 'index' column: {ln.strip()!r}.")
            cells.append(parts[col].strip())
    else:
        cells = " ".join(lines).replace(",", " ").split()
    values = []
    for c in cells:
        try:
            values.append(int(c))
        except ValueError:
            raise InvalidValueError(f"{source}: {c!r} is not an integer row index.") from None
    return _as_indices(values, source)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_index_file(path) -> np.ndarray:
    """Row indices from ``.npy``, ``.json`` (a list, or ``{"indices": [...]}``) or a text file.

    Raises
    ------
    MissingFileError
        The file does not exist.
    InvalidValueError
        It cannot be read as a flat list of integers (the message names the file).
    """
    p = Path(path)
    if p.is_dir():
        raise InvalidValueError(f"{path} is a directory; expected an index file (.npy, .json or text).")
    if not p.is_file():
        raise MissingFileError(f"no such index file: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return _as_indices(np.load(p, allow_pickle=False), str(path))
        text = p.read_text(encoding="utf-8")
    except InvalidValueError:
        raise
    except (OSError, ValueError) as exc:
        raise InvalidValueError(f"{path}: could not read indices: {' '.join(str(exc).split())}") from None
    if suffix == ".json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise InvalidValueError(f"{path}: not valid JSON: {exc}") from None
        if isinstance(doc, dict):
            if "indices" not in doc:
                raise InvalidValueError(
                    f"{path}: a JSON object needs an 'indices' list (as `subsel select -o FILE.json` "
                    f"writes); it has {sorted(doc)}."
                )
            doc = doc["indices"]
        if not isinstance(doc, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in doc
        ):
            raise InvalidValueError(f"{path}: expected a JSON list of integer row indices.")
        return _as_indices(doc, str(path))
    return _text_indices(text, str(path))


def check_in_range(indices: np.ndarray, n: int, source: str, what: str = "the split") -> None:
    """Every index must be a row of a split of ``n`` rows."""
    bad = indices[(indices < 0) | (indices >= n)]
    if bad.size:
        raise InvalidValueError(
            f"{source}: index {int(bad[0])} is out of range; {what} has {n} rows (0..{n - 1}); "
            f"{bad.size} of {indices.size} indices are outside it."
        )


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "drawing image grids needs matplotlib: pip install 'subsel-plugins[show]'."
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _to_display(img) -> tuple[np.ndarray, str | None]:
    """An image as imshow takes it (H x W grey or H x W x 3), and the colormap for grey."""
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return a, "gray"
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        return a, None
    raise InvalidValueError(
        f"cannot draw an image of shape {a.shape}; expected H x W, H x W x 1 or H x W x 3."
    )


def image_grid(rows, images, labels, classes=None, *, title=None, columns=None, path=None, dpi=100):
    """A grid of images: one row per subset (wrapped every ``columns`` images), class label under each.

    Parameters
    ----------
    rows : list of (str, array-like of int)
        ``(row label, indices)`` in drawing order; indices are rows of ``images``.
    images : array-like of shape (n, H, W) or (n, H, W, C)
        Indexable with an integer array (a numpy array, a memory map or a lazy split).
    labels : array-like of int, shape (n,)
        Class label of every row of ``images``.
    classes : sequence of str, optional
        Class names (label ``i`` is ``classes[i]``); the label numbers otherwise.
    title : str, optional
    columns : int, optional
        Images per grid line (default: the longest row, at most :data:`MAX_COLUMNS`).
    path : str or Path, optional
        Write the figure here (the format from the suffix) and close it.

    Returns
    -------
    matplotlib.figure.Figure or Path
        The figure, or ``path`` when it was written.
    """
    plt = _pyplot()
    rows = [(str(lab), np.asarray(idx, dtype=np.int64).reshape(-1)) for lab, idx in rows]
    if not rows or all(idx.size == 0 for _, idx in rows):
        raise InvalidValueError("image_grid: nothing to draw; expected at least one row with indices.")
    longest = max(idx.size for _, idx in rows)
    ncols = int(columns) if columns else min(longest, MAX_COLUMNS)
    if ncols < 1:
        raise InvalidValueError(f"columns must be an int >= 1; got {columns!r}.")
    lines = [
        (lab, idx[s : s + ncols], s == 0) for lab, idx in rows for s in range(0, max(idx.size, 1), ncols)
    ]
    labels = np.asarray(labels)
    label_width = max(len(lab) for lab, _ in rows)
    left = min(0.45, 0.07 * label_width / max(ncols, 1) + 0.02)
    fig, axes = plt.subplots(
        len(lines),
        ncols,
        figsize=(0.85 * ncols / (1 - left), 0.95 * len(lines) + (0.45 if title else 0.05) + 0.2),
        squeeze=False,
    )
    for r, (lab, idx, first) in enumerate(lines):
        pics = np.asarray(images[idx]) if idx.size else ()
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(idx):
                img, cmap = _to_display(pics[c])
                ax.imshow(img, cmap=cmap, interpolation="nearest")
                y = int(labels[idx[c]])
                name = str(classes[y]) if classes is not None and 0 <= y < len(classes) else str(y)
                ax.set_xlabel(name, fontsize=7, labelpad=1)
        if first:
            axes[r, 0].set_ylabel(lab, rotation=0, ha="right", va="center", fontsize=8, labelpad=4)
    if title:
        fig.suptitle(title, fontsize=9)
    # margins in inches: the title above, the last line's class labels below
    height = fig.get_figheight()
    top = 1 - (0.45 if title else 0.05) / height
    fig.subplots_adjust(left=left, right=0.995, bottom=0.2 / height, top=top, wspace=0.05, hspace=0.45)
    if path is None:
        return fig
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)
