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

    The weak and strong crops, flips and normalisation are done on numpy
    arrays (:class:`CropFlip`, :class:`NormalizedTensor`) with torch's random
    draws, as torchvision's ``RandomCrop`` and ``RandomHorizontalFlip`` draw
    them: torchvision's PIL path cost 6 ms per 28 x 28 image on this machine
    (reflect padding round-trips through numpy), most of a CPU iteration.

    Returns
    -------
    weak, strong, evaluation : callables from a PIL image to a (3, img_size, img_size) tensor
    """
    from semilearn.datasets.augmentation import RandAugment
    from torchvision import transforms

    pad = int(img_size * (1 - crop_ratio))
    crop = CropFlip(img_size, pad, hflip)
    tail = NormalizedTensor(mean, std)
    weak = transforms.Compose([crop, tail])
    strong = transforms.Compose([crop, _to_pil, RandAugment(3, 5), np.asarray, tail])
    evaluation = transforms.Compose(
        [
            ToRGB(),
            transforms.Resize(img_size),
            transforms.CenterCrop(img_size),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    return weak, strong, evaluation


def _to_pil(arr):
    from PIL import Image

    return Image.fromarray(arr)


class CropFlip:
    """PIL image or uint8 array -> RGB uint8 array (img_size, img_size, 3), randomly cropped and flipped.

    As torchvision's ``Resize(img_size)`` (only when the image is not
    already ``img_size`` square), ``RandomCrop(img_size, padding=pad,
    padding_mode="reflect")`` and ``RandomHorizontalFlip()``, drawing from
    torch's global generator as they do.
    """

    def __init__(self, img_size: int, pad: int, hflip: bool = True):
        self.img_size, self.pad, self.hflip = int(img_size), int(pad), bool(hflip)

    def __call__(self, img):
        import torch

        s = self.img_size
        arr = np.asarray(img)
        if arr.shape[0] != s or arr.shape[1] != s:
            from torchvision import transforms

            arr = np.asarray(
                transforms.Resize(s)(ToRGB()(_to_pil(arr) if isinstance(img, np.ndarray) else img))
            )
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.shape[-1] == 4:
            arr = arr[..., :3]
        p = self.pad
        if p:
            arr = np.pad(arr, ((p, p), (p, p), (0, 0)), mode="reflect")
        h, w = arr.shape[:2]
        i = int(torch.randint(0, h - s + 1, size=(1,)).item())
        j = int(torch.randint(0, w - s + 1, size=(1,)).item())
        arr = arr[i : i + s, j : j + s]
        if self.hflip and torch.rand(1).item() < 0.5:
            arr = arr[:, ::-1]
        if arr.shape[-1] == 1:
            arr = np.repeat(arr, 3, axis=-1)
        return np.ascontiguousarray(arr)

    def __repr__(self):
        return f"CropFlip(img_size={self.img_size}, pad={self.pad}, hflip={self.hflip})"


class NormalizedTensor:
    """uint8 array (H, W, 3) -> float tensor (3, H, W), scaled to [0, 1] and normalised per channel."""

    def __init__(self, mean, std):
        import torch

        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __call__(self, arr):
        import torch

        x = torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1).div_(255.0)
        return x.sub_(self.mean).div_(self.std)

    def __repr__(self):
        return "NormalizedTensor()"


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
        rows when ``include_lb_to_ulb`` is False), ``eval`` (the test split,
        transformed once: :class:`PretransformedDataset`) and ``test`` (None).
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
    ev = PretransformedDataset(test.images, test.labels, evaluation, args.img_size, mean, std)
    return {"train_lb": lb, "train_ulb": ulb, "eval": ev, "test": None}


class PretransformedDataset:
    """The evaluation split with its (deterministic) evaluation transform applied once, up front.

    USB's ``BasicDataset`` converts, resizes, crops and normalises every test
    image through PIL at every evaluation: on a CPU that cost 26 s per pass
    over Fashion-MNIST's 10,000 test images, twice the network's forward
    pass. Items are what ``BasicDataset`` returns for a labeled example:
    ``{"idx_lb": i, "x_lb": (3, img_size, img_size) float tensor, "y_lb": label}``.

    Images already ``img_size`` square (the resize and centre crop change
    nothing) are converted with array operations (grey to RGB, /255,
    normalise): the same numbers as the PIL pipeline. Others go through
    ``transform`` image by image, once.

    Parameters
    ----------
    images : array-like of shape (n, H, W, C) or (n, H, W), uint8
    labels : ndarray of shape (n,), int
    transform : callable
        The evaluation transform (:func:`usb_transforms`' third).
    img_size : int
    mean, std : sequences of 3 floats
    """

    def __init__(self, images, labels, transform, img_size, mean, std, block: int = 2048):
        import torch

        self.targets = np.asarray(labels, dtype=np.int64)
        n = len(self.targets)
        first = np.asarray(images[:1])
        square = first.ndim in (3, 4) and first.shape[1] == first.shape[2] == img_size
        channels = 1 if first.ndim == 3 else first.shape[-1]
        chunks = []
        if square and channels in (1, 3):
            m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
            sd = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
            for start in range(0, n, block):
                arr = np.asarray(images[start : start + block])
                if arr.ndim == 3:
                    arr = arr[..., None]
                x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float().div(255.0)
                chunks.append((x.expand(-1, 3, -1, -1) - m) / sd)
        else:
            rows = _as_rows(images)
            from PIL import Image

            for i in range(n):
                img = rows[i]
                chunks.append(transform(Image.fromarray(img) if isinstance(img, np.ndarray) else img)[None])
        self.data = torch.cat(chunks).contiguous() if chunks else torch.empty(0, 3, img_size, img_size)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, idx):
        return {"idx_lb": idx, "x_lb": self.data[idx], "y_lb": int(self.targets[idx])}
