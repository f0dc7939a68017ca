"""The built-in datasets, registered as a plugin like any third-party one."""

from ..hookspecs import hookimpl
from ._cifar import load_cifar10, load_cifar100
from ._digits import load_digits_dataset
from ._fashion_mnist import load_fashion_mnist
from ._imagefolder import load_imagefolder
from ._npz import load_npz


@hookimpl
def subsel_register_datasets(register):
    register("digits", load_digits_dataset, "scikit-learn digits, 8x8 grey, 10 classes (embedded default)")
    register(
        "fashion_mnist", load_fashion_mnist, "Fashion-MNIST, 28x28 grey, 10 classes (Debian package or root=)"
    )
    register("cifar10", load_cifar10, "CIFAR-10, 32x32 RGB, 10 classes (torchvision's on-disk format, root=)")
    register(
        "cifar100", load_cifar100, "CIFAR-100, 32x32 RGB, 100 classes (torchvision's on-disk format, root=)"
    )
    register("imagefolder", load_imagefolder, "class-per-folder image tree, read lazily (root=, size=)")
    register("npz", load_npz, "your own arrays in an .npz file (path=)")
