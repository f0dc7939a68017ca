from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import clone

from .._validation import sklearn_seed
from ._base import QueryStrategy


class ThenQuery(QueryStrategy):
    """The paper's "<method> then norm/GS": ``first`` proposes, ``then`` decides.

    ``first`` picks ``ceil(factor * budget)`` candidates (capped by the pool),
    and ``then`` picks ``budget`` of them. With ``then`` a FeatureNormQuery this
    is "TypiClust/ProbCover then norm" (factor 2 in the paper); with a
    GramSchmidtQuery it is "... then GS" (Appx. D); with a RandomQuery it is
    the ablation of Fig. 6a/6b.

    Parameters
    ----------
    first : strategy
        Any object with ``select(X, budget, labeled)``; cloned before use.
    then : strategy
        Same; it sees the candidates and the labeled rows (as labeled).
    factor : float, default=2
        Candidates per final pick, >= 1.
    random_state : None, int, numpy Generator or RandomState
        When set, overrides both components' ``random_state`` with seeds
        derived from it; None leaves them as they are.
    features : callable, transformer or torch module, optional
        Applied once, before both components.
    """

    description = "First strategy picks factor x budget candidates, second picks the budget."

    def __init__(self, first, then, factor=2, random_state=None, features=None):
        self.first = first
        self.then = then
        self.factor = factor
        self.random_state = random_state
        self.features = features

    def _check_params(self):
        for name in ("first", "then"):
            part = getattr(self, name)
            if not callable(getattr(part, "select", None)):
                raise TypeError(
                    f"{name} must be a strategy with select(X, budget, labeled); got {type(part).__name__}."
                )
        if isinstance(self.factor, bool) or not isinstance(self.factor, numbers.Real) or not self.factor >= 1:
            raise ValueError(f"factor must be a number >= 1; got {self.factor!r}.")

    def _component(self, name, rng):
        part = clone(getattr(self, name))
        if self.random_state is not None and "random_state" in part.get_params(deep=False):
            part.set_params(random_state=sklearn_seed(rng))
        return part

    def _select(self, X, budget, labeled, rng):
        first, then = self._component("first", rng), self._component("then", rng)
        n_cand = min(math.ceil(self.factor * budget), X.shape[0] - labeled.size)
        cand = np.asarray(first.select(X, n_cand, labeled if labeled.size else None), dtype=np.int64)
        sub = np.concatenate([cand, labeled])
        sub_labeled = np.arange(cand.size, sub.size) if labeled.size else None
        if hasattr(then, "select_with_scores"):
            pick, scores = then.select_with_scores(X[sub], budget, sub_labeled)
        else:
            pick, scores = then.select(X[sub], budget, sub_labeled), np.zeros(budget)
        return sub[np.asarray(pick)], scores
