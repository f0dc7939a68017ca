"""scikit-learn's digits, the embedded default data set, with a fixed stratified split."""

from __future__ import annotations

import numpy as np

from ._base import ImageDataset, Split

#: Fixed split of load_digits: stratified, 30% test, seed 0 (1,257 train / 540 test).
DIGITS_TEST_SIZE = 0.3
DIGITS_SPLIT_SEED = 0


def load_digits_dataset() -> ImageDataset:
    """scikit-learn's digits (1,797 8x8 grey images, 10 classes): the embedded default.

    Pixel values 0..16 are scaled to uint8 0..255 (``round(v * 255 / 16)``)
    and given a channel axis: images are (n, 8, 8, 1). The train/test split is
    fixed: stratified, 30% test, ``random_state=0`` (1,257 train, 540 test).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    idx = np.arange(len(images))
    tr, te = train_test_split(
        idx, test_size=DIGITS_TEST_SIZE, stratify=bunch.target, random_state=DIGITS_SPLIT_SEED
    )
    tr, te = np.sort(tr), np.sort(te)
    return ImageDataset(
        name="digits",
        train=Split(images[tr], bunch.target[tr]),
        test=Split(images[te], bunch.target[te]),
        classes=[str(i) for i in range(10)],
        meta={"source": "sklearn.datasets.load_digits", "split": "stratified 70/30, random_state=0"},
    )
