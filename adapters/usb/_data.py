"""semilearn datasets built from a :class:`subsel_plugins.datasets.ImageDataset`.

The labeled set is exactly the chosen rows (in pick order) and the unlabeled
set is every training example, each once, in the dataset's own order, so
``idx_ulb`` is the row of the training split. semilearn's ``split_ssl_data``
is bypassed on purpose: it samples a class-balanced random labeled set first
(and asserts ``num_labels % num_classes == 0``), which a subset chosen by a
strategy, often missing classes, does not satisfy.
"""

from __future__ import annotations

import numpy as np

#: USB's own normalisation constants (semilearn/datasets/cv_datasets/cifar.py).
USB_MEAN_STD = {
    "cifar10": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    "cifar100": ([x / 255 for x in (129.3, 124.1, 112.4)], [x / 255 for x in (68.2, 65.4, 70.4)]),
}
#: Images read for the mean/std of other datasets (a fixed prefix, so it is deterministic).
_STATS_ROWS = 10000


class ToRGB:
    """PIL image -> RGB PIL image (grey and RGBA inputs; semilearn's nets take 3 channels)."""

    def __call__(self, img):
        return img if img.mode == "RGB" else img.convert("RGB")

    def __repr__(self):
        return "ToRGB()"


class ImageRows:
    """Read-only row view of (n, H, W, C) uint8 images, yielding what ``PIL.Image.fromarray`` takes.

    Single-channel images come out as (H, W) arrays. A plain or memory-mapped
    array is sliced without copying; lazy array-likes are read row by row.

    Parameters
    ----------
    images : array-like of shape (n, H, W, C), uint8
    rows : ndarray of int, optional
        Rows to expose, in this order (all rows when None).
    """

    def __init__(self, images, rows=None):
        self.images = images
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self):
        return len(self.images) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        row = int(i) if self.rows is None else int(self.rows[i])
        img = np.asarray(self.images[row])
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        return img


def _as_rows(images, rows=None):
    """A numpy array when ``images`` is one (semilearn's own CIFAR code passes arrays), else a view."""
    if isinstance(images, np.ndarray):
        arr = images if rows is None else images[np.asarray(rows, dtype=np.int64)]
        if arr.ndim == 4 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        return arr
    return ImageRows(images, rows)


def channel_stats(images) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] of RGB-converted images (first 10,000 rows).

    Returns
    -------
    mean, std : lists of 3 floats
    """
    n = min(len(images), _STATS_ROWS)
    block = np.asarray(images[:n], dtype=np.float64) / 255.0
    if block.ndim == 3:
        block = block[..., None]
    if block.shape[-1] == 1:
        block = np.repeat(block, 3, axis=-1)
    block = block[..., :3]
    mean = block.mean(axis=(0, 1, 2))
    std = block.std(axis=(0, 1, 2))
    std = np.where(std > 0, std, 1.0)
    return [float(m) for m in mean], [float(s) for s in std]


def usb_transforms(img_size: int, crop_ratio: float, mean, std, hflip: bool = True):
    """USB's weak, strong and evaluation transforms (its CIFAR pipeline) for any input size.

    Weak: resize to ``img_size``, random crop with reflect padding of
    ``int(img_size * (1 - crop_ratio))``, horizontal flip (unless ``hflip`` is
    False), normalise. Strong: weak plus semilearn's ``RandAugment(3, 5)``.
    Evaluation: resize, centre crop, normalise. Every pipeline first converts
    to RGB.

    Returns
    -------
    weak, strong, evaluation : torchvision transforms
    """
    from semilearn.datasets.augmentation import RandAugment
    from torchvision import transforms

    flip = [transforms.RandomHorizontalFlip()] if hflip else []
    pad = int(img_size * (1 - crop_ratio))
    crop = [
        transforms.Resize(img_size),
        transforms.RandomCrop(img_size, padding=pad, padding_mode="reflect"),
    ]
    tail = [transforms.ToTensor(), transforms.Normalize(mean, std)]
    weak = transforms.Compose([ToRGB(), *crop, *flip, *tail])
    strong = transforms.Compose([ToRGB(), *crop, *flip, RandAugment(3, 5), *tail])
    evaluation = transforms.Compose(
        [ToRGB(), transforms.Resize(img_size), transforms.CenterCrop(img_size), *tail]
    )
    return weak, strong, evaluation


def build_usb_datasets(args, data, labeled, *, hflip: bool = True) -> dict:
    """semilearn ``BasicDataset`` objects for a run: chosen rows labeled, all rows unlabeled.

    Parameters
    ----------
    args : argparse.Namespace
        The expanded USB config (``algorithm``, ``num_classes``, ``img_size``,
        ``crop_ratio``, ``include_lb_to_ulb``, ``dataset``).
    data : subsel_plugins.datasets.ImageDataset
    labeled : ndarray of shape (num_labels,), int
        Rows of ``data.train``, in pick order; labeled example ``i`` is row ``labeled[i]``.
    hflip : bool
        Random horizontal flips in the training augmentations.

    Returns
    -------
    dict
        semilearn's dataset dict: ``train_lb`` (len(labeled) examples),
        ``train_ulb`` (every training row once, in order; without the labeled
        rows when ``include_lb_to_ulb`` is False), ``eval`` (the test split)
        and ``test`` (None).
    """
    from semilearn.datasets.cv_datasets.datasetbase import BasicDataset

    labeled = np.asarray(labeled, dtype=np.int64)
    train, test = data.train, data.test
    if args.dataset in USB_MEAN_STD:
        mean, std = USB_MEAN_STD[args.dataset]
    else:
        mean, std = channel_stats(train.images)
    weak, strong, evaluation = usb_transforms(args.img_size, args.crop_ratio, mean, std, hflip=hflip)
    alg, nc = args.algorithm, args.num_classes
    if args.include_lb_to_ulb:
        ulb_rows = None
        ulb_targets = train.labels
    else:
        ulb_rows = np.setdiff1d(np.arange(len(train)), labeled)
        ulb_targets = train.labels[ulb_rows]
    lb = BasicDataset(
        alg, _as_rows(train.images, labeled), train.labels[labeled], nc, weak, False, strong, False
    )
    ulb = BasicDataset(alg, _as_rows(train.images, ulb_rows), ulb_targets, nc, weak, True, strong, False)
    ev = BasicDataset(alg, _as_rows(test.images), test.labels, nc, evaluation, False, None, False)
    return {"train_lb": lb, "train_ulb": ulb, "eval": ev, "test": None}
