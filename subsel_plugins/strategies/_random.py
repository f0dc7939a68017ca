"""Uniform random sampling: the baseline every strategy is measured against."""

from __future__ import annotations

import numpy as np

from ._base import QueryStrategy


class RandomQuery(QueryStrategy):
    """Uniform random subset: the baseline the paper finds hard to beat.

    Parameters
    ----------
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional
        Ignored for the choice itself (uniform sampling needs no features),
        kept so every strategy takes the same arguments.
    """

    description = "Uniform random sampling without replacement (baseline)."

    def __init__(self, random_state=None, features=None):
        self.random_state = random_state
        self.features = features

    def _select(self, X, budget, labeled, rng):
        avail = np.setdiff1d(np.arange(X.shape[0]), labeled, assume_unique=True)
        idx = rng.choice(avail, size=budget, replace=False)
        return idx, np.full(budget, 1.0 / avail.size)
