"""k-center greedy (Sener and Savarese, 2018): farthest-first traversal from the labeled rows.

The diversity baseline of the core-set approach to active learning: each pick
is the unlabeled row farthest (Euclidean) from every labeled and already
chosen row, a 2-approximation of the k-center problem. scikit-activeml
(``CoreSet``), lightly ("diversity") and DeepCore (``kCenterGreedy``) ship it.

The traversal (:func:`farthest_first`) is written once against
:class:`~subsel_plugins.backends.DistancePool`: in memory
(:class:`~subsel_plugins.backends.ArrayDistancePool`) or on Dask chunks
(:class:`~subsel_plugins.distributed.ChunkedDistancePool`, one reduction per
pick), chosen at the door.
"""

from __future__ import annotations

import numpy as np

from .._progress import progress
from ..backends import ArrayDistancePool
from ._base import QueryStrategy

#: Labeled rows folded into the distances per pass (bounds the client's copy of them).
LABELED_GROUP = 4096


def farthest_first(pool, budget: int, labeled: np.ndarray, rng: np.random.Generator):
    """``budget`` picks of farthest-first traversal over ``pool``, and their distances.

    The labeled rows are the first centers (folded ``LABELED_GROUP`` at a time).
    With none, the first pick is uniform among all rows (one draw from ``rng``;
    nothing else is random) and its score is ``inf``: no center is nearer.
    Every later pick is the free row whose nearest center is farthest, the
    lowest index among ties; its score is that distance.

    Returns
    -------
    indices : ndarray of shape (budget,), int64
    scores : ndarray of shape (budget,), float64
        Euclidean distance of each pick to its nearest center when it was picked.
    """
    chosen = np.empty(budget, dtype=np.int64)
    sq = np.empty(budget)
    if labeled.size:
        for s in range(0, labeled.size, LABELED_GROUP):
            group = labeled[s : s + LABELED_GROUP]
            i, d2 = pool.fold(pool.rows(group), group)
    else:
        i, d2 = int(rng.integers(pool.n)), np.inf
    with progress(total=budget, desc="k-center greedy", unit="pick") as bar:
        for t in range(budget):
            chosen[t], sq[t] = i, d2
            bar.update()
            if t + 1 < budget:
                i, d2 = pool.fold(pool.rows([i]), [i])
    return chosen, np.sqrt(sq)


class KCenterGreedyQuery(QueryStrategy):
    """k-center greedy (core-set): each pick is the row farthest from every labeled and chosen row.

    Farthest-first traversal in Euclidean distance (Sener and Savarese, ICLR
    2018), the diversity baseline of scikit-activeml's ``CoreSet`` and
    DeepCore's ``kCenterGreedy``. The labeled rows are the starting centers;
    with none, the first pick is uniform at random. Each pick costs one pass
    over the rows (O(N d)), so a budget ``b`` costs ``b`` passes and ``N``
    floats of memory beyond X; on Dask each pick is one task per chunk and
    one reduction.

    Parameters
    ----------
    random_state : None, int, numpy Generator or RandomState
        Used only for the first pick when nothing is labeled.
    features : callable, transformer or torch module, optional

    Attributes
    ----------
    stats_ : dict
        ``passes`` over the rows in the last selection.

    Notes
    -----
    Scores are each pick's distance to its nearest center at the time it was
    picked (non-increasing; ``inf`` for a first pick with nothing labeled).
    Distances are computed in float64 whatever the features' precision. Rows
    identical to a center have distance 0 and are picked last, lowest index
    first.
    """

    description = "k-center greedy: farthest-first traversal from the labeled rows (core-set)."
    scale_invariant = True
    score_degree = 1

    def __init__(self, random_state=None, features=None):
        self.random_state = random_state
        self.features = features

    def _select(self, X, budget, labeled, rng):
        pool = ArrayDistancePool(X)
        idx, scores = farthest_first(pool, budget, labeled, rng)
        self.stats_ = dict(pool.stats)
        return idx, scores
