"""CIFAR-10 and CIFAR-100 in torchvision's on-disk format (the official python pickles)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import InvalidValueError
from ._base import ImageDataset, Split
from ._errors import DatasetNotFoundError

_LAYOUT = {
    "cifar10": dict(
        folder="cifar-10-batches-py",
        train=[f"data_batch_{i}" for i in range(1, 6)],
        test=["test_batch"],
        meta="batches.meta",
        label_key="labels",
        names_key="label_names",
        archive="cifar-10-python.tar.gz",
    ),
    "cifar100": dict(
        folder="cifar-100-python",
        train=["train"],
        test=["test"],
        meta="meta",
        label_key="fine_labels",
        names_key="fine_label_names",
        archive="cifar-100-python.tar.gz",
    ),
}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles the CIFAR batches -- dicts of bytes, lists and numpy arrays -- and nothing else.

    The batches are pickles; a plain ``pickle.load`` of a file from elsewhere
    would run any code it names. Only numpy's array reconstruction is allowed.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: a CIFAR batch holds only arrays."
        )


def _load_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _ArraysOnly(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise InvalidValueError(f"{path} is not a readable CIFAR batch: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidValueError(f"{path} holds a {type(obj).__name__}; expected a CIFAR batch dict.")
    # python-2 pickles decode their keys as latin-1 str already; python-3 ones may keep bytes
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _load(kind: str, root) -> ImageDataset:
    lay = _LAYOUT[kind]
    if root is None:
        raise DatasetNotFoundError(
            f"{kind}: pass root= the folder holding {lay['folder']}/ (torchvision's download folder, e.g. "
            f"torchvision.datasets.{'CIFAR10' if kind == 'cifar10' else 'CIFAR100'}(root, download=True) on "
            f"a machine with internet, or {lay['archive']} from the CIFAR page unpacked there)."
        )
    root = Path(root).expanduser()
    folder = next(
        (f for f in (root / lay["folder"], root) if (f / lay["meta"]).is_file()), root / lay["folder"]
    )
    names = lay["train"] + lay["test"] + [lay["meta"]]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{kind}: missing {', '.join(missing)} in {folder} "
            f"(looked in {root / lay['folder']} and {root}). "
            f"Expected torchvision's layout, {lay['folder']}/ with {', '.join(names)}: unpack "
            f"{lay['archive']} there, or let torchvision download it on a machine with internet."
        )

    def split(files):
        imgs, labels = [], []
        for f in files:
            b = _load_batch(folder / f)
            if "data" not in b or lay["label_key"] not in b:
                raise InvalidValueError(
                    f"{folder / f} lacks 'data' or {lay['label_key']!r}; keys: {sorted(b)}."
                )
            imgs.append(np.asarray(b["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(b[lay["label_key"]], dtype=np.int64))
        return Split(np.ascontiguousarray(np.concatenate(imgs)), np.concatenate(labels))

    meta = _load_batch(folder / lay["meta"])
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta[lay["names_key"]]]
    return ImageDataset(
        name=kind,
        train=split(lay["train"]),
        test=split(lay["test"]),
        classes=classes,
        meta={"source": str(folder), "split": "official train/test"},
    )


def load_cifar10(root=None) -> ImageDataset:
    """CIFAR-10: 50,000 train / 10,000 test 32x32 RGB images, 10 classes.

    Parameters
    ----------
    root : path
        Folder holding ``cifar-10-batches-py/`` (or that folder itself), as
        torchvision's ``CIFAR10(root, download=True)`` leaves it.

    Returns
    -------
    ImageDataset
        Images (n, 32, 32, 3) uint8.
    """
    return _load("cifar10", root)


def load_cifar100(root=None) -> ImageDataset:
    """CIFAR-100: 50,000 train / 10,000 test 32x32 RGB images, 100 fine classes.

    Parameters
    ----------
    root : path
        Folder holding ``cifar-100-python/`` (or that folder itself).

    Returns
    -------
    ImageDataset
        Images (n, 32, 32, 3) uint8; labels are the fine labels.
    """
    return _load("cifar100", root)
