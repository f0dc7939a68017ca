"""Feature-norm sampling (the paper's Eq. 1): rows drawn in proportion to their norm."""

from __future__ import annotations

import numpy as np

from .._validation import check_bool, check_norm
from ..kernels import row_norms, successive_sample, top_k
from ._base import QueryStrategy


class FeatureNormQuery(QueryStrategy):
    """Sample rows with probability proportional to their feature norm (Eq. 1).

    Each pick draws row ``j`` among the unchosen, unlabeled rows with
    probability ``||F_j|| / sum_k ||F_k||``. The paper's pruning view: a
    feature vector's norm plays the role of a weight's magnitude.

    Parameters
    ----------
    norm : {"l2", "l1", "linf"}, default="l2"
        Norm of the (unnormalized) feature vectors.
    randomized : bool, default=True
        False takes the ``budget`` largest norms instead (ablation, Fig. 6c).
    random_state : None, int, numpy Generator or RandomState
    features : callable, transformer or torch module, optional
        Maps raw X to features before selection.

    References
    ----------
    Effective Subset Selection Through The Lens of Neural Network Pruning, Eq. (1).
    """

    description = "Sample proportional to the feature norm (paper Eq. 1)."
    scale_invariant = True
    score_degree = 1

    def __init__(self, norm="l2", randomized=True, random_state=None, features=None):
        self.norm = norm
        self.randomized = randomized
        self.random_state = random_state
        self.features = features

    def _check_params(self):
        check_norm(self.norm)
        check_bool(self.randomized, "randomized")

    def _select(self, X, budget, labeled, rng):
        norms = row_norms(X, self.norm)
        avail = np.ones(X.shape[0], dtype=bool)
        avail[labeled] = False
        pos = np.flatnonzero(avail)
        if self.randomized:
            pick = successive_sample(norms[pos], budget, rng, what=f"{self.norm} feature norm")
        else:
            pick = top_k(norms[pos], budget)
        idx = pos[pick]
        return idx, norms[idx]
