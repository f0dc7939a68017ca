"""The built-in datasets, registered as a plugin like any third-party one."""

from ..hookspecs import hookimpl
from ._digits import load_digits_dataset


@hookimpl
def subsel_register_datasets(register):
    register("digits", load_digits_dataset, "scikit-learn digits, 8x8 grey, 10 classes (embedded default)")
