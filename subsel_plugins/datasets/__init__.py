"""Datasets in one common form: :class:`ImageDataset` of train and test :class:`Split`.

Loaders are registered through the ``subsel_register_datasets`` hook and
built with :func:`subsel_plugins.get_dataset`. None downloads anything: a
loader whose files are missing raises :class:`DatasetNotFoundError` naming
what it looked for, where, and how to get it.
"""

from ._base import ImageDataset, Split
from ._cifar import load_cifar10, load_cifar100
from ._digits import load_digits_dataset
from ._errors import DatasetNotFoundError
from ._fashion_mnist import load_fashion_mnist, read_idx
from ._imagefolder import LazyImages, load_imagefolder
from ._npz import load_npz

__all__ = [
    "ImageDataset",
    "Split",
    "DatasetNotFoundError",
    "LazyImages",
    "load_digits_dataset",
    "load_fashion_mnist",
    "load_cifar10",
    "load_cifar100",
    "load_imagefolder",
    "load_npz",
    "read_idx",
]
