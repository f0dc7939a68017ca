"""Datasets in one common form: :class:`ImageDataset` of train and test :class:`Split`.

Loaders are registered through the ``subsel_register_datasets`` hook and
built with :func:`subsel_plugins.get_dataset`.
"""

from ._base import ImageDataset, Split
from ._digits import load_digits_dataset

__all__ = ["ImageDataset", "Split", "load_digits_dataset"]
