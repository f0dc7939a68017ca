"""What a loader returns: ``ImageDataset`` with its ``Split``s (arrays or lazy image lists)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidValueError


@dataclass
class Split:
    """Images and labels of one split.

    Attributes
    ----------
    images : array-like of shape (n, height, width, channels), uint8
        A numpy array, a read-only memory map, or a lazy array-like (``len``
        and ``__getitem__`` with an int, slice or integer array) for data
        that does not fit in memory.
    labels : ndarray of shape (n,), int64
    """

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise InvalidValueError(
                f"images and labels differ in length: {len(self.images)} images, {len(self.labels)} labels."
            )

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ImageDataset:
    """A labeled image dataset: train and test splits plus class names.

    Attributes
    ----------
    name : str
    train, test : Split
    classes : list of str
        Class names; label ``i`` is ``classes[i]``.
    meta : dict
        Provenance (source files, split rule, license).
    """

    name: str
    train: Split
    test: Split
    classes: Sequence[str]
    meta: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(np.asarray(self.train.images[0]).shape)
