"""Fashion-MNIST from IDX files: Debian's dataset-fashion-mnist or a torchvision root."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidValueError
from ._base import ImageDataset, Split
from ._errors import DatasetNotFoundError

#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files.
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): the MNIST container format.

    Header: two zero bytes, a type code, the number of dimensions, then one
    big-endian uint32 per dimension.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise InvalidValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    offset = 4 + 4 * ndim
    if len(data) - offset != expected:
        raise InvalidValueError(
            f"{path} is truncated or corrupt: header says {tuple(dims)} ({expected} bytes of data), "
            f"the file holds {len(data) - offset}."
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=offset).reshape(tuple(dims)).astype(dtype.newbyteorder("="))
    )


def _candidates(root) -> list[Path]:
    """Folders that may hold the IDX files, in search order."""
    roots = [Path(root)] if root is not None else []
    if root is None:
        env = os.environ.get("SUBSEL_DATA_DIR")
        if env:
            roots.append(Path(env))
        roots.append(Path(DEBIAN_DIR))
    out = []
    for r in roots:
        # a torchvision root keeps them under FashionMNIST/raw
        out += [r, r / "FashionMNIST" / "raw", r / "raw", r / "fashion-mnist"]
    return out


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_fashion_mnist(root=None) -> ImageDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train / 10,000 test 28x28 grey images, 10 classes, MIT.

    Parameters
    ----------
    root : path or None
        A folder with the four IDX files (``train-images-idx3-ubyte[.gz]``...),
        or a torchvision root (``root/FashionMNIST/raw``). None searches
        ``$SUBSEL_DATA_DIR`` and then Debian's ``/usr/share/datasets/fashion-mnist``
        (``apt-get install dataset-fashion-mnist``).

    Returns
    -------
    ImageDataset
        Images (n, 28, 28, 1) uint8, the official train/test split.
    """
    searched = _candidates(root)
    for folder in searched:
        paths = {split: [_find(folder, s) for s in stems] for split, stems in FILES.items()}
        if all(p is not None for ps in paths.values() for p in ps):
            break
    else:
        needed = ", ".join(s + "[.gz]" for stems in FILES.values() for s in stems)
        raise DatasetNotFoundError(
            f"fashion_mnist: could not find the IDX files ({needed}); looked in "
            f"{', '.join(str(p) for p in searched)}. Get them with `apt-get install dataset-fashion-mnist` "
            "(Debian/Ubuntu, installs to /usr/share/datasets/fashion-mnist), or pass root= a folder holding "
            "them (a torchvision FashionMNIST root works too)."
        )
    splits = {}
    for split, (img_path, lab_path) in paths.items():
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3 or labels.ndim != 1:
            raise InvalidValueError(
                f"fashion_mnist: {img_path} has shape {images.shape} and {lab_path} {labels.shape}; "
                "expected (n, 28, 28) images and (n,) labels."
            )
        splits[split] = Split(images[..., None], labels.astype(np.int64))
    return ImageDataset(
        name="fashion_mnist",
        train=splits["train"],
        test=splits["test"],
        classes=list(CLASSES),
        meta={"source": str(folder), "split": "official 60,000 / 10,000", "license": "MIT"},
    )
