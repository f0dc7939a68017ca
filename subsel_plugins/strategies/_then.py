"""The paper's "<first> then <second>" combinator: one strategy proposes, another decides."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import clone

from .._validation import check_real, sklearn_seed
from ..errors import InvalidTypeError, SubselError
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
        derived from it (new ones every call); None leaves them as they are.
    features : callable, transformer or torch module, optional
        Applied once, before both components.

    Attributes
    ----------
    first_, then_ : strategies
        The clones of ``first`` and ``then`` used by the last selection, with
        their fitted attributes (e.g. ProbCover's ``delta_``). They persist
        across calls, so components keep drawing fresh numbers from call to
        call; they are cloned again when ``first`` or ``then`` (or their
        parameters) change.
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
                raise InvalidTypeError(
                    f"{name} must be a strategy with select(X, budget, labeled); got {type(part).__name__}."
                )
            check = getattr(part, "check_params", None)
            if callable(check):
                try:
                    check()
                except SubselError as exc:  # name the part, as get_strategy's first__/then__ do
                    raise type(exc)(f"{name}__{exc}") from None
        check_real(self.factor, "factor", 1)

    def _component(self, name, rng):
        template = getattr(self, name)
        params = template.get_params(deep=True) if hasattr(template, "get_params") else None
        key = (id(template), repr(params))
        part = getattr(self, f"{name}_", None)
        if part is None or getattr(self, f"_{name}_key", None) != key:
            part = clone(template)
            setattr(self, f"{name}_", part)
            setattr(self, f"_{name}_key", key)
        if self.random_state is not None and "random_state" in part.get_params(deep=False):
            part.set_params(random_state=sklearn_seed(rng))
        return part

    def _select(self, X, budget, labeled, rng):
        first, then = self._component("first", rng), self._component("then", rng)
        n_avail = X.shape[0] - labeled.size
        # cap before ceil: factor * budget may overflow to inf for an absurd (finite) factor
        n_cand = min(math.ceil(min(self.factor * budget, n_avail)), n_avail)
        cand = np.asarray(first.select(X, n_cand, labeled if labeled.size else None), dtype=np.int64)
        sub = np.concatenate([cand, labeled])
        sub_labeled = np.arange(cand.size, sub.size) if labeled.size else None
        if hasattr(then, "select_with_scores"):
            pick, scores = then.select_with_scores(X[sub], budget, sub_labeled)
        else:
            pick, scores = then.select(X[sub], budget, sub_labeled), np.zeros(budget)
        return sub[np.asarray(pick, dtype=np.int64)], scores
