"""scikit-activeml adapter: subsel strategies as ``SingleAnnotatorPoolQueryStrategy``.

One class per built-in strategy (:class:`GramSchmidt`, :class:`FeatureNorm`,
:class:`TypiClustSubsel`, :class:`ProbCoverSubsel`, :class:`RandomSubsel`) and
per "baseline then norm/GS/random" combination (:class:`ProbCoverThenGS`,
:class:`TypiClustThenNorm`, ...), plus :class:`SubselQueryStrategy` for any
registered strategy by name, third-party plugins included::

    from skactiveml.classifier import SklearnClassifier
    from skactiveml.utils import MISSING_LABEL
    from subsel_plugins.adapters.skactiveml import GramSchmidt

    qs = GramSchmidt(random_state=0)
    y = np.full(len(X), MISSING_LABEL)
    idx = qs.query(X, y, batch_size=10)

They follow scikit-activeml's conventions: ``__init__`` only stores its
arguments; ``query(X, y, candidates=None, batch_size=1,
return_utilities=False)`` validates everything; rows of ``y`` equal to
``missing_label`` are unlabeled, all others form the labeled set the strategy
builds on; ``random_state_`` is derived per query from ``random_state`` and the
number of unlabeled rows (reproducible, different across AL cycles, the
user's object never advanced).

**ProbCover's class count.** ``n_classes`` (the k of the k-means pseudo-labels
that set ProbCover's ball radius) is passed to the strategy only when the user
gives it. With ``n_classes=None`` the strategy's own default applies
(:class:`~subsel_plugins.ProbCoverQuery`: a fixed k of 10), whatever ``y``
holds: unlike scikit-activeml's ``ProbCover``, which counts the distinct labels
in ``y``, the radius does not change from one AL cycle to the next as labels
arrive. When ``y`` already holds labels of more than 10 classes and
``n_classes`` is None, ``query`` warns (the radius then comes from fewer
clusters than classes); pass the number of classes of the task.

:class:`SkactivemlQuery` goes the other way: it wraps a scikit-activeml
strategy (their ``TypiClust`` or ``ProbCover``) as a subsel strategy with
``select(X, budget, labeled)``, so it can be the ``first`` of a
:class:`~subsel_plugins.ThenQuery` ("scikit-activeml's ProbCover, then
Gram-Schmidt").

Tested with scikit-activeml 1.0.1.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone

try:
    from skactiveml.base import SingleAnnotatorPoolQueryStrategy
    from skactiveml.utils import MISSING_LABEL, is_unlabeled, labeled_indices, unlabeled_indices
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "subsel_plugins.adapters.skactiveml needs scikit-activeml: install it with "
        '`pip install "subsel-plugins[skactiveml]"` (scikit-activeml>=1.0.1,<1.1).'
    ) from exc

from .._validation import sklearn_seed
from ..registry import get_strategy
from ..strategies import QueryStrategy

__all__ = [
    "SubselQueryStrategy",
    "RandomSubsel",
    "FeatureNorm",
    "GramSchmidt",
    "TypiClustSubsel",
    "ProbCoverSubsel",
    "TypiClustThenNorm",
    "TypiClustThenGS",
    "TypiClustThenRandom",
    "ProbCoverThenNorm",
    "ProbCoverThenGS",
    "ProbCoverThenRandom",
    "SkactivemlQuery",
    "STRATEGY_CLASSES",
]

# query()'s own arguments, never forwarded to the subsel strategy
_OWN_PARAMS = ("missing_label", "random_state")


class _SubselPoolQueryStrategy(SingleAnnotatorPoolQueryStrategy):
    """Shared ``query`` of every adapter: map (X, y, candidates) onto ``select``.

    Subclasses name the registered strategy in ``_strategy_name`` and take its
    parameters, plus ``missing_label`` and ``random_state``, in ``__init__``.
    """

    _strategy_name: str = ""

    def _registered_name(self) -> str:
        return self._strategy_name

    def _strategy_params(self) -> dict:
        params = self.get_params(deep=False)
        for key in _OWN_PARAMS + ("strategy",):
            params.pop(key, None)
        return params

    def _build_strategy(self) -> QueryStrategy:
        # get_strategy validates the name and the parameter names; each
        # strategy validates the values when it selects
        return get_strategy(self._registered_name(), **self._strategy_params())

    def query(self, X, y, candidates=None, batch_size=1, return_utilities=False):
        """Determine for which candidate samples labels are to be queried.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data set, usually complete, i.e. including the labeled and
            unlabeled samples. With ``features`` set, any array the feature
            map accepts (e.g. images of shape (n_samples, H, W, C)).
        y : array-like of shape (n_samples,)
            Labels of the training data set; ``missing_label`` marks unlabeled
            samples. The labeled samples shape the choice (Gram-Schmidt
            projects their span out, TypiClust counts them in its clusters,
            ProbCover treats their balls as covered); their values are unused.
        candidates : None or array-like of shape (n_candidates,), dtype=int or \
                array-like of shape (n_candidates, n_features), default=None
            - None: the unlabeled samples of ``(X, y)`` are the candidates.
            - 1-D int: indices of candidate samples in ``X``. Labeled ones are
              treated as labeled: never chosen, nan utility.
            - 2-D: the candidate samples themselves (not necessarily in
              ``X``); the labeled samples of ``(X, y)`` still count as labeled.
            Unlabeled samples of ``X`` that are not candidates take no part.
        batch_size : int, default=1
            Number of samples to select. Above the number of candidates it is
            reduced to that number, with a warning.
        return_utilities : bool, default=False
            Also return the utilities.

        Returns
        -------
        query_indices : numpy.ndarray of shape (batch_size,)
            The selected samples in pick order; indices into ``X``, or into
            ``candidates`` when those are 2-D samples.
        utilities : numpy.ndarray of shape (batch_size, n_samples) or \
                (batch_size, n_candidates)
            Only if ``return_utilities``. The subset-selection strategies pick
            a whole batch jointly, so the utilities encode the pick order:
            in row ``b`` the sample picked at step ``k >= b`` has utility
            ``batch_size - k`` (so ``query_indices[b]`` is the argmax of row
            ``b``), every other candidate 0, and labeled samples, non-candidates
            and samples picked before step ``b`` nan.
        """
        X, y, candidates, batch_size, return_utilities = self._validate_data(
            X, y, candidates, batch_size, return_utilities, reset=True
        )
        strategy = self._build_strategy()
        ml = self.missing_label_
        labeled = labeled_indices(y, missing_label=ml)
        _warn_unset_class_count(strategy, y[labeled])

        if candidates is None or candidates.ndim == 1:
            if candidates is None:
                pool = unlabeled_indices(y, missing_label=ml)
            else:
                pool = candidates[is_unlabeled(y[candidates], missing_label=ml)]
            n_out = X.shape[0]
        else:
            pool = np.arange(candidates.shape[0])
            n_out = candidates.shape[0]
        if pool.size < batch_size:
            # only reached when 1-D candidates hold labeled samples: the base
            # class already shrank batch_size to the number of candidates
            warnings.warn(
                f"'batch_size={batch_size}' is larger than number of unlabeled candidates. "
                f"Instead, 'batch_size={pool.size}' was set.",
                stacklevel=2,
            )
            batch_size = int(pool.size)

        query_indices = np.empty(0, dtype=int)
        if batch_size > 0:
            if candidates is not None and candidates.ndim > 1:
                rows = np.concatenate([candidates, X[labeled]])
            else:
                rows = X[np.concatenate([pool, labeled])]
            sub_labeled = np.arange(pool.size, pool.size + labeled.size)
            # random_state_ is derived by _validate_data from random_state and
            # the number of unlabeled samples, so the seed differs per AL cycle
            strategy.set_params(random_state=int(self.random_state_.randint(0, 2**31 - 1)))
            picks = strategy.select(rows, batch_size, sub_labeled if sub_labeled.size else None)
            query_indices = pool[np.asarray(picks, dtype=int)]

        if not return_utilities:
            return query_indices
        utilities = np.full((batch_size, n_out), np.nan)
        for b in range(batch_size):
            utilities[b, pool] = 0.0
            utilities[b, query_indices[:b]] = np.nan
            utilities[b, query_indices[b:]] = batch_size - np.arange(b, batch_size)
        return query_indices, utilities


def _warn_unset_class_count(strategy, labels) -> None:
    """Warn when ``y`` shows more classes than the pseudo-label k an unset ``n_classes`` falls back to.

    ``n_classes`` is never inferred from ``y`` (that would make ProbCover's
    radius depend on the labeled set, changing it from cycle to cycle); only
    the warning reads the labels.
    """
    from ..strategies._probcover import DEFAULT_PSEUDO_CLASSES

    if labels.size == 0 or not callable(getattr(strategy, "get_params", None)):
        return
    params = strategy.get_params(deep=True)
    unset = [
        k
        for k, v in params.items()
        if (k == "n_classes" or k.endswith("__n_classes"))
        and v is None
        and params.get(k[: -len("n_classes")] + "delta") is None  # a given delta needs no k
    ]
    if not unset:
        return
    seen = np.unique(labels).size
    if seen > DEFAULT_PSEUDO_CLASSES:
        warnings.warn(
            f"y holds labels of {seen} classes, but n_classes is None: ProbCover's ball radius comes "
            f"from k-means with {DEFAULT_PSEUDO_CLASSES} clusters, not from the labels. Pass "
            f"n_classes=<number of classes of the task> (at least {seen}).",
            UserWarning,
            stacklevel=3,
        )


# ----------------------------------------------------------------------------
# one class per built-in strategy

_COMMON_DOC = """
    features : callable, scikit-learn transformer or torch module, optional
        Maps raw ``X`` (and 2-D ``candidates``) to features before selection.
    missing_label : scalar or string or np.nan or None, default=np.nan
        Value that marks unlabeled samples in ``y``.
    random_state : None or int or np.random.RandomState, default=None
        As in scikit-activeml: per query, ``random_state_`` is derived from it
        and the number of unlabeled samples; None uses numpy's global state.
"""


def _doc(cls):
    cls.__doc__ = cls.__doc__.replace("    {common}\n", _COMMON_DOC.lstrip("\n"))
    return cls


@_doc
class RandomSubsel(_SubselPoolQueryStrategy):
    """Uniform random sampling (subsel's ``random``).

    Parameters
    ----------
    {common}
    """

    _strategy_name = "random"

    def __init__(self, features=None, missing_label=MISSING_LABEL, random_state=None):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.features = features


@_doc
class FeatureNorm(_SubselPoolQueryStrategy):
    """Sampling proportional to the feature norm (the paper's Eq. 1, ``feature_norm``).

    Parameters
    ----------
    norm : {"l2", "l1", "linf"}, default="l2"
    randomized : bool, default=True
        False takes the largest norms.
    {common}
    """

    _strategy_name = "feature_norm"

    def __init__(
        self, norm="l2", randomized=True, features=None, missing_label=MISSING_LABEL, random_state=None
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.norm = norm
        self.randomized = randomized
        self.features = features


@_doc
class GramSchmidt(_SubselPoolQueryStrategy):
    """Randomized Gram-Schmidt (the paper's Alg. 1, ``gram_schmidt``).

    The labeled samples' span is projected out before the first pick.

    Parameters
    ----------
    norm : {"l2", "l1", "linf"}, default="l2"
    randomized : bool, default=True
        False takes the largest residual (deterministic, pivoted GS).
    method : {"auto", "fast", "plain", "torch"}, default="auto"
        How Alg. 1 is computed (see :class:`~subsel_plugins.GramSchmidtQuery`).
    {common}
    """

    _strategy_name = "gram_schmidt"

    def __init__(
        self,
        norm="l2",
        randomized=True,
        method="auto",
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.norm = norm
        self.randomized = randomized
        self.method = method
        self.features = features


@_doc
class TypiClustSubsel(_SubselPoolQueryStrategy):
    """subsel's TypiClust (``typiclust``), following the authors' code.

    Named apart from scikit-activeml's own ``TypiClust``.

    Parameters
    ----------
    max_clusters : int, default=500
    k_neighbors : int, default=20
    min_cluster_size : int, default=5
    {common}
    """

    _strategy_name = "typiclust"

    def __init__(
        self,
        max_clusters=500,
        k_neighbors=20,
        min_cluster_size=5,
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.max_clusters = max_clusters
        self.k_neighbors = k_neighbors
        self.min_cluster_size = min_cluster_size
        self.features = features


@_doc
class ProbCoverSubsel(_SubselPoolQueryStrategy):
    """subsel's ProbCover (``probcover``): sparse ball graph, data-adaptive delta.

    Named apart from scikit-activeml's own ``ProbCover``.

    Parameters
    ----------
    delta : float, optional
        None chooses it from the data (largest delta with ball purity >= purity).
    purity : float, default=0.95
    n_classes : int, optional
        k of the k-means pseudo-labels that set delta: the number of classes of
        the task (the paper's choice). Passed only when given: None uses a
        fixed k of 10, never the count of labels seen in ``y`` (which would make
        delta change between AL cycles); ``query`` warns when ``y`` already
        shows more than 10 classes.
    {common}
    """

    _strategy_name = "probcover"

    def __init__(
        self,
        delta=None,
        purity=0.95,
        n_classes=None,
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.delta = delta
        self.purity = purity
        self.n_classes = n_classes
        self.features = features


# "<baseline> then <norm|gs|random>": the baseline proposes factor x batch_size
# candidates, the second strategy picks the batch among them.


@_doc
class TypiClustThenNorm(_SubselPoolQueryStrategy):
    """TypiClust proposes ``factor * batch_size`` candidates, feature-norm sampling picks.

    Parameters
    ----------
    factor : float, default=2
    max_clusters, k_neighbors, min_cluster_size
        As :class:`TypiClustSubsel`.
    norm, randomized
        As :class:`FeatureNorm`.
    {common}
    """

    _strategy_name = "typiclust_then_norm"

    def __init__(
        self,
        factor=2,
        max_clusters=500,
        k_neighbors=20,
        min_cluster_size=5,
        norm="l2",
        randomized=True,
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.factor = factor
        self.max_clusters = max_clusters
        self.k_neighbors = k_neighbors
        self.min_cluster_size = min_cluster_size
        self.norm = norm
        self.randomized = randomized
        self.features = features


@_doc
class TypiClustThenGS(_SubselPoolQueryStrategy):
    """TypiClust proposes ``factor * batch_size`` candidates, Gram-Schmidt picks.

    Parameters
    ----------
    factor : float, default=2
    max_clusters, k_neighbors, min_cluster_size
        As :class:`TypiClustSubsel`.
    norm, randomized, method
        As :class:`GramSchmidt`.
    {common}
    """

    _strategy_name = "typiclust_then_gs"

    def __init__(
        self,
        factor=2,
        max_clusters=500,
        k_neighbors=20,
        min_cluster_size=5,
        norm="l2",
        randomized=True,
        method="auto",
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.factor = factor
        self.max_clusters = max_clusters
        self.k_neighbors = k_neighbors
        self.min_cluster_size = min_cluster_size
        self.norm = norm
        self.randomized = randomized
        self.method = method
        self.features = features


@_doc
class TypiClustThenRandom(_SubselPoolQueryStrategy):
    """TypiClust proposes ``factor * batch_size`` candidates, uniform sampling picks (ablation).

    Parameters
    ----------
    factor : float, default=2
    max_clusters, k_neighbors, min_cluster_size
        As :class:`TypiClustSubsel`.
    {common}
    """

    _strategy_name = "typiclust_then_random"

    def __init__(
        self,
        factor=2,
        max_clusters=500,
        k_neighbors=20,
        min_cluster_size=5,
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.factor = factor
        self.max_clusters = max_clusters
        self.k_neighbors = k_neighbors
        self.min_cluster_size = min_cluster_size
        self.features = features


@_doc
class ProbCoverThenNorm(_SubselPoolQueryStrategy):
    """ProbCover proposes ``factor * batch_size`` candidates, feature-norm sampling picks.

    Parameters
    ----------
    factor : float, default=2
    delta, purity, n_classes
        As :class:`ProbCoverSubsel` (``n_classes``: the number of classes, only
        when given; None uses a fixed k of 10, never a count of the labels in ``y``).
    norm, randomized
        As :class:`FeatureNorm`.
    {common}
    """

    _strategy_name = "probcover_then_norm"

    def __init__(
        self,
        factor=2,
        delta=None,
        purity=0.95,
        n_classes=None,
        norm="l2",
        randomized=True,
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.factor = factor
        self.delta = delta
        self.purity = purity
        self.n_classes = n_classes
        self.norm = norm
        self.randomized = randomized
        self.features = features


@_doc
class ProbCoverThenGS(_SubselPoolQueryStrategy):
    """ProbCover proposes ``factor * batch_size`` candidates, Gram-Schmidt picks.

    Parameters
    ----------
    factor : float, default=2
    delta, purity, n_classes
        As :class:`ProbCoverSubsel` (``n_classes``: the number of classes, only
        when given; None uses a fixed k of 10, never a count of the labels in ``y``).
    norm, randomized, method
        As :class:`GramSchmidt`.
    {common}
    """

    _strategy_name = "probcover_then_gs"

    def __init__(
        self,
        factor=2,
        delta=None,
        purity=0.95,
        n_classes=None,
        norm="l2",
        randomized=True,
        method="auto",
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.factor = factor
        self.delta = delta
        self.purity = purity
        self.n_classes = n_classes
        self.norm = norm
        self.randomized = randomized
        self.method = method
        self.features = features


@_doc
class ProbCoverThenRandom(_SubselPoolQueryStrategy):
    """ProbCover proposes ``factor * batch_size`` candidates, uniform sampling picks (ablation).

    Parameters
    ----------
    factor : float, default=2
    delta, purity, n_classes
        As :class:`ProbCoverSubsel` (``n_classes``: the number of classes, only
        when given; None uses a fixed k of 10, never a count of the labels in ``y``).
    {common}
    """

    _strategy_name = "probcover_then_random"

    def __init__(
        self,
        factor=2,
        delta=None,
        purity=0.95,
        n_classes=None,
        features=None,
        missing_label=MISSING_LABEL,
        random_state=None,
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.factor = factor
        self.delta = delta
        self.purity = purity
        self.n_classes = n_classes
        self.features = features


class SubselQueryStrategy(_SubselPoolQueryStrategy):
    """Any registered subsel strategy, by name, as a scikit-activeml strategy.

    Parameters
    ----------
    strategy : str, default="gram_schmidt"
        A name from :func:`subsel_plugins.available_strategies`: a built-in,
        one a third-party plugin registers, or ``"<first>_then_<second>"``.
        Checked when :meth:`query` runs.
    missing_label : scalar or string or np.nan or None, default=np.nan
        Value that marks unlabeled samples in ``y``.
    random_state : None or int or np.random.RandomState, default=None
        As in scikit-activeml: per query, ``random_state_`` is derived from it
        and the number of unlabeled samples; None uses numpy's global state.
    **strategy_params
        The strategy's own parameters (``features``, ``norm``, ``delta``,
        ...; for combinations also ``factor``). Stored as attributes and
        reported by ``get_params``, so the object clones like any estimator.

    Examples
    --------
    >>> qs = SubselQueryStrategy("probcover_then_gs", n_classes=10, random_state=0)  # doctest: +SKIP
    >>> idx = qs.query(X, y, batch_size=10)                                          # doctest: +SKIP
    """

    def __init__(
        self, strategy="gram_schmidt", missing_label=MISSING_LABEL, random_state=None, **strategy_params
    ):
        super().__init__(missing_label=missing_label, random_state=random_state)
        self.strategy = strategy
        for key in strategy_params:
            if hasattr(type(self), key) or key.startswith("_") or key.endswith("_"):
                raise TypeError(
                    f"SubselQueryStrategy got the strategy parameter {key!r}, which clashes with "
                    "an attribute of the adapter; expected a strategy parameter name such as "
                    "'features', 'norm' or 'delta'."
                )
        for key, value in strategy_params.items():
            setattr(self, key, value)
        self._strategy_param_names = tuple(strategy_params)

    def _registered_name(self) -> str:
        if not isinstance(self.strategy, str):
            raise TypeError(
                f"strategy must be the name of a registered strategy (str); got {self.strategy!r}."
            )
        return self.strategy

    def get_params(self, deep=True):
        """Parameters of this adapter, the strategy's own parameters included."""
        params = super().get_params(deep=deep)
        for key in self._strategy_param_names:
            value = getattr(self, key)
            params[key] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{key}__{k}", v) for k, v in value.get_params().items())
        return params


#: Adapter class of each registered built-in name it covers.
STRATEGY_CLASSES = {
    cls._strategy_name: cls
    for cls in (
        RandomSubsel,
        FeatureNorm,
        GramSchmidt,
        TypiClustSubsel,
        ProbCoverSubsel,
        TypiClustThenNorm,
        TypiClustThenGS,
        TypiClustThenRandom,
        ProbCoverThenNorm,
        ProbCoverThenGS,
        ProbCoverThenRandom,
    )
}


# ----------------------------------------------------------------------------
# the other direction: a scikit-activeml strategy as a subsel strategy


class SkactivemlQuery(QueryStrategy):
    """A scikit-activeml pool strategy as a subsel strategy with ``select(X, budget, labeled)``.

    Lets scikit-activeml's own strategies (``TypiClust``, ``ProbCover``, or
    any ``SingleAnnotatorPoolQueryStrategy`` that needs no classifier) serve
    as the ``first`` of a :class:`~subsel_plugins.ThenQuery`, or as a modAL
    strategy.

    Parameters
    ----------
    query_strategy : skactiveml.base.SingleAnnotatorPoolQueryStrategy
        Cloned for every selection (scikit-activeml's ProbCover caches its
        distance matrix on the object). It sees ``y`` with every labeled row
        set to the single label 0 and the rest missing: parts that read label
        values see one class (scikit-activeml's ProbCover then defaults to
        ``n_classes=2``; pass ``n_classes`` to it explicitly).
    random_state : None, int, numpy Generator or RandomState
        When set, the clone's ``random_state`` is replaced by a seed derived
        from it; None leaves ``query_strategy.random_state`` as it is.
    features : callable, transformer or torch module, optional

    Examples
    --------
    >>> from skactiveml.pool import ProbCover                                   # doctest: +SKIP
    >>> q = ThenQuery(SkactivemlQuery(ProbCover(n_classes=10)), GramSchmidtQuery())  # doctest: +SKIP
    >>> idx = q.select(X, budget=20)                                            # doctest: +SKIP
    """

    description = "A scikit-activeml pool query strategy, wrapped."

    def __init__(self, query_strategy, random_state=None, features=None):
        self.query_strategy = query_strategy
        self.random_state = random_state
        self.features = features

    def _check_params(self):
        if not isinstance(self.query_strategy, SingleAnnotatorPoolQueryStrategy):
            raise TypeError(
                "query_strategy must be a scikit-activeml SingleAnnotatorPoolQueryStrategy "
                f"(e.g. skactiveml.pool.ProbCover()); got {type(self.query_strategy).__name__}."
            )

    def _select(self, X, budget, labeled, rng):
        qs = clone(self.query_strategy)
        if self.random_state is not None:
            qs.set_params(random_state=sklearn_seed(rng))
        qs.set_params(missing_label=np.nan)
        y = np.full(X.shape[0], np.nan)
        y[labeled] = 0.0
        idx, utilities = qs.query(X, y, batch_size=budget, return_utilities=True)
        idx = np.asarray(idx, dtype=np.int64)
        return idx, utilities[np.arange(idx.size), idx]
