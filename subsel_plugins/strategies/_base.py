"""The base class every strategy derives from: one override point, ``_select``."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from .._validation import (
    RandomStream,
    check_budget,
    check_features,
    check_int,
    check_labeled,
    rescale_exponent,
    scale_scores_back,
)
from ..errors import InvalidTypeError, InvalidValueError, PluginError

# Handlers for inputs that are not arrays, registered by the layer above (subsel_plugins.dispatch):
# handler(strategy, X, budget, labeled, rng_of) -> None (not mine) or (idx, scores, budget, labeled, n).
_INPUT_HANDLERS: list = []
# Called before a modAL query (registered by subsel_plugins: the fix modAL's teach() needs).
_MODAL_QUERY_HOOKS: list = []


def register_input_handler(handler) -> None:
    """Let ``handler`` take the inputs it recognises before a strategy treats X as an array.

    ``handler(strategy, X, budget, labeled, rng_of)`` returns None for an input
    it does not handle, else ``(indices, scores, budget, labeled, n_samples)``
    with ``budget`` and ``labeled`` as it validated them; ``rng_of()`` gives the
    strategy's random stream for this call. The base class checks the result as
    for arrays. ``subsel_plugins.dispatch`` registers the distributed inputs'.
    """
    if handler not in _INPUT_HANDLERS:
        _INPUT_HANDLERS.append(handler)


def register_modal_query_hook(hook) -> None:
    """Call ``hook()`` before each modAL query made through a strategy's ``__call__``."""
    if hook not in _MODAL_QUERY_HOOKS:
        _MODAL_QUERY_HOOKS.append(hook)


def apply_features(features, X):
    """Map raw ``X`` to features with ``features``.

    ``features`` may be None (use X as is), a scikit-learn transformer (its
    ``transform`` is called), a torch module (run under ``torch.no_grad`` on a
    float32 tensor, output flattened to (n_samples, -1)) or any callable.
    """
    if features is None:
        return X
    if hasattr(features, "transform") and callable(features.transform):
        return features.transform(X)
    if _is_torch_module(features):
        import torch

        param = next(features.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu()  # a model's output that requires grad: selection never backpropagates
        with torch.no_grad():
            t = torch.as_tensor(np.asarray(X), dtype=torch.float32, device=device)
            out = features(t)
        return out.reshape(out.shape[0], -1).detach().cpu().numpy()
    if callable(features):
        return features(X)
    raise InvalidTypeError(
        "features must be None, a callable, a scikit-learn transformer or a torch "
        f"module mapping raw X to an (n_samples, n_features) array; got {type(features).__name__}."
    )


def _is_torch_module(obj) -> bool:
    for cls in type(obj).__mro__:
        if cls.__module__.startswith("torch.nn") and cls.__name__ == "Module":
            return True
    return False


class QueryStrategy(BaseEstimator):
    """Base class of subset-selection strategies.

    Subclasses store their constructor arguments unchanged (scikit-learn
    convention), implement :meth:`_select`, and may override
    :meth:`_check_params` to validate them. The base class handles the feature
    mapping, input validation, random state, result checks and the modAL
    protocol.

    Every strategy takes ``random_state`` (None, int, numpy Generator or
    RandomState; never mutated) and ``features`` (see :func:`apply_features`).

    Randomness: each call of :meth:`select` (or of the strategy as a modAL
    query strategy) draws from a new stream (:class:`RandomStream`): with an
    int seed, the first call draws exactly as ``numpy.random.default_rng(seed)``
    and call ``k`` from ``SeedSequence(seed, spawn_key=(k,))``. A strategy reused
    across active-learning rounds therefore draws fresh numbers each round, and
    the same seed reproduces the whole sequence of rounds; ``sklearn.clone`` (or
    a new object) starts the sequence over.
    """

    #: One line shown by ``subsel strategies``; defaults to the docstring's first line.
    description: str | None = None

    #: True when the choice does not change if every feature is multiplied by
    #: the same positive number (norm sampling, Gram-Schmidt, anything on
    #: L2-normalized rows). Such strategies get features whose largest
    #: magnitude is outside [2**-32, 2**32] rescaled by an exact power of two,
    #: so huge or tiny values pick exactly as the rescaled matrix does.
    scale_invariant: bool = False

    #: How scores scale with the features (1: a norm; 0: unchanged). Scores of
    #: rescaled features are scaled back by ``2**(e * score_degree)``.
    score_degree: int = 0

    def select(self, X, budget, labeled=None) -> np.ndarray:
        """Choose ``budget`` rows of ``X`` to label.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a distributed input
            Features (or raw inputs when ``features`` is set). Memory-mapped
            arrays are read without copying. A ``dask.array.Array``, a glob
            or list of ``.npy`` shards, a zarr array or a ``.zarr`` path runs
            distributed (:mod:`subsel_plugins.distributed`: random,
            feature_norm, gram_schmidt and ThenQuery with one of them first).
        budget : int
            Number of rows to choose, ``1 <= budget <= n_samples - len(labeled)``.
        labeled : array-like of int or bool mask, optional
            Rows of ``X`` that are already labeled. They are never returned and
            shape the choice (Gram-Schmidt projects their span out, TypiClust
            counts them in clusters, ProbCover treats their balls as covered).

        Returns
        -------
        indices : ndarray of shape (budget,), int64
            Chosen rows, in pick order.
        """
        return self.select_with_scores(X, budget, labeled)[0]

    def select_with_scores(self, X, budget, labeled=None):
        """Like :meth:`select`, also returning each pick's score.

        Returns
        -------
        indices : ndarray of shape (budget,), int64
        scores : ndarray of shape (budget,), float64
            The strategy's score of each pick at the time it was made (e.g. the
            feature norm, the residual norm, the typicality, the ball's new coverage).
        """
        self._check_params()
        for handler in _INPUT_HANDLERS:
            handled = handler(self, X, budget, labeled, self._next_rng)
            if handled is not None:
                idx, scores, budget, lab, n = handled
                idx = np.asarray(idx, dtype=np.int64)
                scores = np.asarray(scores, dtype=np.float64)
                self._check_result(idx, scores, budget, lab, n)
                return idx, scores
        F = self._features(X)
        F, max_abs = check_features(F, "X" if self.features is None else "features(X)", return_max_abs=True)
        lab = check_labeled(labeled, F.shape[0])
        budget = check_budget(budget, F.shape[0] - lab.size)
        e = rescale_exponent(max_abs) if self.scale_invariant else 0
        if e:
            F = np.ldexp(F, -e)  # exact: a power of two (a copy, only for such extreme inputs)
        idx, scores = self._select(F, budget, lab, self._next_rng())
        idx = np.asarray(idx, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64)
        self._check_result(idx, scores, budget, lab, F.shape[0])
        if e and self.score_degree:
            scores = scale_scores_back(scores, e * self.score_degree)
        return idx, scores

    def check_params(self) -> None:
        """Validate the constructor parameters now (doors call it before long work).

        Raises
        ------
        InvalidTypeError, InvalidValueError
            Naming the parameter, the value and what was expected.
        """
        self._check_params()

    def _features(self, X):
        """``features(X)``, checked to keep one row per row of ``X``."""
        if self.features is None:
            return X
        F = apply_features(self.features, X)
        n_in, n_out = _n_rows(X), _n_rows(F)
        if n_in is not None and n_out is not None and n_in != n_out:
            raise InvalidValueError(
                f"features(X) returned {n_out} rows for the {n_in} rows of X; expected one "
                "feature row per row of X."
            )
        return F

    def _next_rng(self) -> np.random.Generator:
        stream = getattr(self, "_random_stream", None)
        if stream is None or not stream.matches(self.random_state):
            stream = self._random_stream = RandomStream(self.random_state)
        return stream.next()

    def _select(self, X, budget, labeled, rng):
        """Override point.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features), float32 or float64
            Validated, finite features. Possibly a read-only memory map: do not
            write to it.
        budget : int
            Validated, ``<= n_samples - len(labeled)``.
        labeled : ndarray of int64
            Distinct indices of already-labeled rows (possibly empty).
        rng : numpy.random.Generator
            The only source of randomness.

        Returns
        -------
        indices, scores : ndarrays of shape (budget,)
        """
        raise NotImplementedError

    def _check_params(self) -> None:
        """Validate constructor parameters; called at the start of every selection."""

    def _check_result(self, idx, scores, budget, labeled, n_samples) -> None:
        name = f"{type(self).__module__}.{type(self).__name__}"
        if idx.shape != (budget,) or scores.shape != (budget,):
            raise PluginError(
                f"{name}._select returned {idx.shape[0] if idx.ndim else idx} indices and "
                f"scores of shape {scores.shape}; expected exactly budget={budget} of each."
            )
        if idx.size and (idx.min() < 0 or idx.max() >= n_samples):
            raise PluginError(f"{name}._select returned an index outside [0, {n_samples}).")
        if np.unique(idx).size != idx.size:
            raise PluginError(f"{name}._select returned a repeated index.")
        if labeled.size and np.isin(idx, labeled).any():
            raise PluginError(f"{name}._select returned an already-labeled row.")
        if np.isnan(scores).any():
            raise PluginError(f"{name}._select returned a NaN score.")

    # modAL protocol -------------------------------------------------------
    def __call__(self, learner, X_pool, n_instances=1, **kwargs):
        """modAL query strategy: ``ActiveLearner(query_strategy=strategy)``.

        ``learner.X_training``, when present, is the already-labeled set: it is
        appended to the pool and passed as ``labeled``, so it shapes the choice
        without ever being returned.

        Returns
        -------
        indices : ndarray of shape (n_instances,)
            Distinct positions in ``X_pool``.
        scores : ndarray of shape (n_instances,)
        """
        for hook in _MODAL_QUERY_HOOKS:
            hook()
        if kwargs:
            raise InvalidTypeError(
                f"{type(self).__name__} as a modAL query strategy takes n_instances only; "
                f"got unexpected keyword arguments {sorted(kwargs)}."
            )
        n_instances = check_int(n_instances, "n_instances", 1)
        X_train = getattr(learner, "X_training", None)
        if X_train is None or len(X_train) == 0:
            return self.select_with_scores(X_pool, n_instances)
        pool = np.asarray(X_pool)
        train = np.asarray(X_train)
        if pool.shape[1:] != train.shape[1:]:
            raise InvalidValueError(
                f"X_pool rows have shape {pool.shape[1:]} but learner.X_training rows have "
                f"{train.shape[1:]}; expected the same."
            )
        X = np.concatenate([pool, train.astype(pool.dtype, copy=False)])
        labeled = np.arange(len(pool), len(X))
        return self.select_with_scores(X, n_instances, labeled)

    @classmethod
    def short_description(cls) -> str:
        if cls.description:
            return cls.description
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0].strip() if doc else cls.__name__


def _n_rows(A):
    """Number of rows of an array-like (None when it has no length)."""
    shape = getattr(A, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    try:
        return len(A)
    except TypeError:
        return None
