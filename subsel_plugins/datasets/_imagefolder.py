"""Any class-per-folder image tree (ImageNet, Tiny-ImageNet, MedMNIST exports), read lazily."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InvalidValueError, MissingDependencyError
from ._base import ImageDataset, Split
from ._errors import DatasetNotFoundError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jpe")


class LazyImages:
    """Images decoded from files on access: ``len``, ``[int]``, ``[slice]``, ``[int array]``.

    Only the requested images are read, so a dataset the size of ImageNet
    never sits in memory. Each image is converted to RGB (or L with
    ``grayscale``) and, with ``size``, resized to ``size x size``.

    Parameters
    ----------
    files : list of path
    size : int or None
        None keeps each image's size; a batch of differing sizes then fails.
    grayscale : bool
    """

    def __init__(self, files, size=None, grayscale=False):
        self.files = [Path(f) for f in files]
        self.size = size
        self.grayscale = grayscale

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self):
        first = self._read(self.files[0]) if self.files else np.zeros((0, 0, 3), np.uint8)
        return (len(self.files), *first.shape)

    @property
    def dtype(self):
        return np.dtype(np.uint8)

    def _read(self, path: Path) -> np.ndarray:
        try:
            from PIL import Image
        except ImportError:
            raise MissingDependencyError(
                "imagefolder needs Pillow to decode images: pip install pillow (the torch extra brings it)."
            ) from None
        try:
            with Image.open(path) as im:
                im = im.convert("L" if self.grayscale else "RGB")
                if self.size is not None:
                    im = im.resize((self.size, self.size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError) as exc:
            raise InvalidValueError(f"imagefolder: could not decode {path}: {exc}") from None
        return arr[..., None] if arr.ndim == 2 else arr

    def __getitem__(self, key):
        if isinstance(key, int | np.integer):
            return self._read(self.files[int(key)])
        if isinstance(key, slice):
            idx = range(*key.indices(len(self.files)))
        else:
            idx = np.asarray(key).ravel()
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
        imgs = [self._read(self.files[int(i)]) for i in idx]
        if not imgs:
            return np.zeros((0, self.size or 0, self.size or 0, 1 if self.grayscale else 3), np.uint8)
        shapes = {im.shape for im in imgs}
        if len(shapes) > 1:
            raise InvalidValueError(
                f"imagefolder: images of different sizes {sorted(shapes)[:3]} in one batch; "
                "pass size= (e.g. size=64) to resize them to one size."
            )
        return np.stack(imgs)

    def __array__(self, dtype=None, copy=None):
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype)


def _scan(folder: Path, classes: list[str] | None):
    found = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = found
    index = {c: i for i, c in enumerate(classes)}
    files, labels = [], []
    for c in found:
        if c not in index:
            raise InvalidValueError(f"imagefolder: class folder {folder / c} is not among the train classes.")
        for f in sorted((folder / c).rglob("*")):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                files.append(f)
                labels.append(index[c])
    return classes, files, np.asarray(labels, dtype=np.int64)


def load_imagefolder(root=None, size=None, grayscale=False, train_dir="train", test_dir=None) -> ImageDataset:
    """A class-per-folder image tree: ``root/train/<class>/*.png``, ``root/val/<class>/*.png``.

    Images are read lazily (see :class:`LazyImages`); labels are the sorted
    train class-folder names' indices.

    Parameters
    ----------
    root : path
    size : int or None
        Resize every image to ``size x size``; needed when image sizes differ.
    grayscale : bool
        Decode as one grey channel instead of RGB.
    train_dir : str
        Train sub-folder.
    test_dir : str or None
        Test sub-folder; None takes ``val`` or ``test``, whichever exists
        (neither: an empty test split).

    Returns
    -------
    ImageDataset
    """
    if root is None:
        raise DatasetNotFoundError(
            "imagefolder: pass root= a folder with train/<class>/<image> (and val/ or test/) sub-folders."
        )
    root = Path(root).expanduser()
    if size is not None and not (isinstance(size, int) and size >= 1):
        raise InvalidValueError(f"size must be a positive integer or None; got {size!r}.")
    train = root / train_dir
    if not train.is_dir():
        raise DatasetNotFoundError(
            f"imagefolder: no train folder {train}; expected {root}/{train_dir}/<class>/"
            "<image files> (one sub-folder per class), e.g. an unpacked ImageNet or "
            "Tiny-ImageNet train tree."
        )
    classes, files, labels = _scan(train, None)
    if not files:
        raise DatasetNotFoundError(
            f"imagefolder: found no images ({', '.join(IMAGE_SUFFIXES)}) in class folders under {train}."
        )
    if test_dir is None:
        test_dir = next((d for d in ("val", "test") if (root / d).is_dir()), None)
    if test_dir is not None:
        if not (root / test_dir).is_dir():
            raise DatasetNotFoundError(f"imagefolder: no test folder {root / test_dir}.")
        _, tfiles, tlabels = _scan(root / test_dir, classes)
    else:
        tfiles, tlabels = [], np.zeros(0, np.int64)
    return ImageDataset(
        name=root.name or "imagefolder",
        train=Split(LazyImages(files, size, grayscale), labels),
        test=Split(LazyImages(tfiles, size, grayscale), tlabels),
        classes=classes,
        meta={"source": str(root), "train_dir": train_dir, "test_dir": test_dir, "size": size},
    )
