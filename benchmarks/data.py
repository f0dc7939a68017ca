"""What the grid selects from and evaluates on: a dataset's pool, test split and per-domain features.

:class:`PreparedDataset` loads a registered dataset once, fixes the pool
(a prefix and/or a seeded random subset of the training split) and hands
the frameworks an :class:`~subsel_plugins.evaluation.EvalData` per feature
domain, with features from the feature cache (raw pixels computed directly).
"""

from __future__ import annotations

import numpy as np

from subsel_plugins import get_dataset
from subsel_plugins.evaluation import EvalData

#: Seed of the pool subset (``pool_size``): fixed, so every seed and strategy sees the same pool.
POOL_SEED = 12345


def raw_features(images) -> np.ndarray:
    """Flattened pixels in [0, 1], float32 of shape (n, H * W * C)."""
    arr = np.asarray(images)
    return (arr.reshape(len(arr), -1).astype(np.float32)) / np.float32(255.0)


def load_features(
    dataset: str, split: str, domain: dict, images, dataset_params=None, limit=None
) -> np.ndarray:
    """Features of one split in one domain.

    Uses :func:`subsel_plugins.features.load_or_compute` (cached, memory-mapped)
    when the features package provides it; the ``raw`` domain falls back to
    flattened pixels so the harness runs without it.
    """
    extractor = domain["extractor"]
    params = dict(domain.get("params") or {})
    seed = int(domain.get("seed", 0))
    try:
        from subsel_plugins.features import load_or_compute
    except ImportError:
        load_or_compute = None
    if extractor == "raw" and (load_or_compute is None or not params):
        # raw pixels need no cache: computing them is cheaper than reading one
        return raw_features(images if limit is None else images[:limit])
    if load_or_compute is None:
        raise RuntimeError(
            f"the feature domain {extractor!r} needs subsel_plugins.features.load_or_compute, which is "
            "not available in this install; use the 'raw' domain or install the features package."
        )
    return load_or_compute(
        dataset,
        split,
        extractor,
        params=params or None,
        seed=seed,
        dataset_params=dataset_params or None,
        limit=limit,
    )


class PreparedDataset:
    """A dataset's pool (optionally a prefix and/or a random subset), test split and per-domain features."""

    def __init__(
        self,
        name: str,
        pool_size: int | None = None,
        params: dict | None = None,
        train_limit: int | None = None,
        test_limit: int | None = None,
        pool_draw: str | int | None = None,
    ):
        self.name = name
        self.params = dict(params or {})
        self.ds = get_dataset(name, **self.params)
        self.train_limit = _check_limit(train_limit, len(self.ds.train), "train_limit")
        self.test_limit = _check_limit(test_limit, len(self.ds.test), "test_limit")
        n = len(self.ds.train) if self.train_limit is None else self.train_limit
        if pool_size is not None and pool_size < n and pool_draw == "first":
            self.pool_rows = np.arange(pool_size)
        elif pool_size is not None and pool_size < n:
            rng = np.random.default_rng(POOL_SEED if pool_draw is None else int(pool_draw))
            self.pool_rows = np.sort(rng.choice(n, size=pool_size, replace=False))
        else:
            self.pool_rows = None
        labels = self.ds.train.labels[:n]
        self.train_labels = labels if self.pool_rows is None else labels[self.pool_rows]
        self.test_labels = self.ds.test.labels[: self.test_limit]
        self.num_classes = self.ds.num_classes
        self._features: dict[str, tuple] = {}

    @property
    def train_images(self):
        imgs = self.ds.train.images
        if self.pool_rows is not None:
            return _Rows(imgs, self.pool_rows)  # rows of the prefix are rows of the split
        return imgs if self.train_limit is None else _Rows(imgs, np.arange(self.train_limit))

    @property
    def test_images(self):
        imgs = self.ds.test.images
        return imgs if self.test_limit is None else _Rows(imgs, np.arange(self.test_limit))

    @property
    def n_pool(self) -> int:
        return len(self.train_labels)

    def features(self, label: str, domain: dict):
        """(train, test) features of a domain; train restricted to the pool."""
        if label not in self._features:
            train = load_features(
                self.name, "train", domain, self.ds.train.images, self.params, self.train_limit
            )
            test = load_features(self.name, "test", domain, self.ds.test.images, self.params, self.test_limit)
            if self.pool_rows is not None:
                train = np.asarray(train[self.pool_rows])
            self._features[label] = (train, test)
        return self._features[label]

    def eval_data(self, label: str, domain: dict) -> EvalData:
        train, test = self.features(label, domain)
        return EvalData(
            train_labels=self.train_labels,
            test_labels=self.test_labels,
            num_classes=self.num_classes,
            train_images=self.train_images,
            test_images=self.test_images,
            train_features=train,
            test_features=test,
            name=self.name,
            meta={
                "domain": label,
                "pool_rows": self.pool_rows
                if self.pool_rows is not None or self.train_limit is None
                else np.arange(self.train_limit),
                "dataset_params": self.params,
            },
        )


def _check_limit(limit, n, name):
    if limit is None or limit >= n:
        return None
    return int(limit)


class _Rows:
    """Lazy view of some rows of an array-like (the pool subset of a lazy split)."""

    def __init__(self, base, rows):
        self.base = base
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    @property
    def shape(self):
        return (len(self.rows), *np.asarray(self.base[self.rows[:1]]).shape[1:])

    def __getitem__(self, key):
        return self.base[self.rows[key]]

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(self.base[self.rows])
        return arr if dtype is None else arr.astype(dtype)
