"""scikit-activeml adapter: subsel strategies as ``SingleAnnotatorPoolQueryStrategy``.

The classes are generated from the registry, not written by hand:
:func:`adapter_for` turns any registered strategy name (a built-in, one a
third-party plugin registers, or a ``"<first>_then_<second>"`` combination)
into a scikit-activeml class whose ``__init__`` takes the strategy's own
parameters, with its defaults, plus ``missing_label`` and ``random_state``::

    from skactiveml.utils import MISSING_LABEL
    from subsel_plugins.adapters.skactiveml import GramSchmidt, adapter_for

    qs = GramSchmidt(random_state=0)          # the same as adapter_for("gram_schmidt")(...)
    y = np.full(len(X), MISSING_LABEL)
    idx = qs.query(X, y, batch_size=10)
    Mine = adapter_for("my_strategy")         # a third-party plugin's strategy

The built-ins keep the names they have always had (:class:`RandomSubsel`,
:class:`FeatureNorm`, :class:`GramSchmidt`, :class:`TypiClustSubsel`,
:class:`ProbCoverSubsel` and the paper's "baseline then norm/GS/random"
combinations :class:`TypiClustThenNorm`, :class:`ProbCoverThenGS`, ...; all in
:data:`STRATEGY_CLASSES`); they are generated on first use.
:class:`SubselQueryStrategy` takes the name as a parameter instead.

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

import inspect
import re
import threading
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

from .._validation import check_bool, check_features, check_int, check_labeled, sklearn_seed
from ..errors import InvalidTypeError, InvalidValueError
from ..registry import DISTRIBUTION, THEN_ALIASES, available_strategies, get_strategy, registrations
from ..registry import _split_then as split_then
from ..strategies import QueryStrategy

# the generated classes (RandomSubsel, GramSchmidt, ...) and STRATEGY_CLASSES
# come from __getattr__ below, so __all__ is computed there as well
_STATIC_ALL = ["adapter_for", "SubselQueryStrategy", "SkactivemlQuery", "STRATEGY_CLASSES"]

# query()'s own arguments, never forwarded to the subsel strategy
_OWN_PARAMS = ("missing_label", "random_state")


class _SubselPoolQueryStrategy(SingleAnnotatorPoolQueryStrategy):
    """Shared ``query`` of every adapter: map (X, y, candidates) onto ``select``.

    Subclasses name the registered strategy in ``_strategy_name`` and take its
    parameters, plus ``missing_label`` and ``random_state``, in ``__init__``;
    ``_param_keys`` maps an adapter parameter to the name
    :func:`~subsel_plugins.get_strategy` knows it by where they differ.
    """

    _strategy_name: str = ""
    _param_keys: dict = {}

    def _registered_name(self) -> str:
        return self._strategy_name

    def _strategy_params(self) -> dict:
        params = self.get_params(deep=False)
        for key in _OWN_PARAMS + ("strategy",):
            params.pop(key, None)
        return {self._param_keys.get(key, key): value for key, value in params.items()}

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
        candidates, batch_size = _check_query_args(X, y, candidates, batch_size, return_utilities)
        X, y, candidates, batch_size, return_utilities = self._validate_data(
            X, y, candidates, batch_size, return_utilities, reset=True
        )
        strategy = self._build_strategy()
        labeled = labeled_indices(y, missing_label=self.missing_label_)
        _warn_unset_class_count(strategy, y[labeled])
        pool = self._pool(y, candidates)
        batch_size = _shrink_batch(batch_size, pool.size)
        query_indices = self._select(strategy, X, candidates, pool, labeled, batch_size)
        if not return_utilities:
            return query_indices
        n_out = X.shape[0] if candidates is None or candidates.ndim == 1 else candidates.shape[0]
        return query_indices, _utilities(pool, query_indices, batch_size, n_out)

    def _pool(self, y, candidates) -> np.ndarray:
        """The candidates that may be chosen: indices into ``X``, or into 2-D ``candidates``."""
        if candidates is None:
            return unlabeled_indices(y, missing_label=self.missing_label_)
        if candidates.ndim == 1:
            return candidates[is_unlabeled(y[candidates], missing_label=self.missing_label_)]
        return np.arange(candidates.shape[0])

    def _select(self, strategy, X, candidates, pool, labeled, batch_size) -> np.ndarray:
        """Run ``strategy.select`` on the rows [pool, labeled], the labeled ones marked as such."""
        if batch_size == 0:
            return np.empty(0, dtype=int)
        if candidates is not None and candidates.ndim > 1:
            rows = np.concatenate([candidates, X[labeled]])
        else:
            rows = X[np.concatenate([pool, labeled])]
        sub_labeled = np.arange(pool.size, pool.size + labeled.size)
        # random_state_ is derived by _validate_data from random_state and
        # the number of unlabeled samples, so the seed differs per AL cycle
        strategy.set_params(random_state=int(self.random_state_.randint(0, 2**31 - 1)))
        picks = strategy.select(rows, batch_size, sub_labeled if sub_labeled.size else None)
        return pool[np.asarray(picks, dtype=int)]


def _array(value, name: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise InvalidValueError(
            f"{name} could not be read as an array: {' '.join(str(exc).split())}"
        ) from None


def _check_finite(A: np.ndarray, name: str) -> None:
    """NaN or infinity in a numeric array is an error naming ``name`` and the first bad row."""
    if A.ndim == 2:
        check_features(A, name)
    elif np.issubdtype(A.dtype, np.number) and A.size and not np.isfinite(A).all():
        row = int(np.argwhere(~np.isfinite(A))[0, 0])
        raise InvalidValueError(
            f"{name} contains NaN or infinity (first at row {row}); expected finite values."
        )


def _check_query_args(X, y, candidates, batch_size, return_utilities):
    """The adapter's own checks of ``query``'s arguments, each error naming the argument.

    Returns ``(candidates, batch_size)``: 1-D candidates as distinct int64
    indices (a boolean mask of length n_samples becomes its indices; floats
    must be whole numbers), 2-D candidates unchanged, ``batch_size`` as an int.
    scikit-activeml's own checks (``missing_label``, ``random_state``) follow.
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    check_bool(return_utilities, "return_utilities")
    Xa = _array(X, "X")
    if Xa.ndim < 2:
        raise InvalidValueError(
            f"X must be an array of shape (n_samples, n_features) (or (n_samples, ...) raw inputs for "
            f"features=...); got {type(X).__name__} of shape {Xa.shape}."
        )
    if Xa.dtype != object:
        _check_finite(Xa, "X")
    n = Xa.shape[0]
    ya = _array(y, "y")
    if ya.ndim == 0:
        raise InvalidTypeError(
            f"y must be an array-like of shape ({n},): one label per row of X, missing_label for the "
            f"unlabeled rows; got {type(y).__name__} {y!r}."
        )
    if ya.shape != (n,):
        raise InvalidValueError(
            f"y must have shape ({n},): one label per row of X (missing_label for the unlabeled rows); "
            f"got shape {ya.shape}."
        )
    if candidates is None:
        return None, batch_size
    ca = _array(candidates, "candidates")
    if ca.ndim == 0:
        error = InvalidValueError if np.issubdtype(ca.dtype, np.number) else InvalidTypeError
        raise error(
            "candidates must be None, 1-D row indices into X or 2-D candidate samples; got "
            f"{type(candidates).__name__} {candidates!r}."
        )
    if ca.ndim == 1:
        if ca.dtype == np.bool_ and ca.shape != (n,):
            raise InvalidTypeError(
                f"candidates must hold integer row indices (or be a boolean mask of shape ({n},)); "
                f"got {ca.size} booleans."
            )
        if ca.dtype != np.bool_ and ca.size and not np.issubdtype(ca.dtype, np.number):
            raise InvalidTypeError(f"candidates must hold integer row indices; got dtype {ca.dtype}.")
        if ca.dtype.kind == "f" and not np.isfinite(ca).all():
            raise InvalidValueError("candidates holds NaN or infinity; expected integer row indices.")
        if ca.dtype.kind == "f" and not np.all(ca == np.round(ca)):
            bad = ca[ca != np.round(ca)][0]
            raise InvalidTypeError(
                f"candidates must hold integer row indices; got {float(bad)!r} "
                "(a float that is not a whole number)."
            )
        idx = check_labeled(ca, n, "candidates")
        if idx.size == 0:
            raise InvalidValueError(
                "candidates is empty; expected at least one row index into X "
                "(or None for every unlabeled row)."
            )
        return idx, batch_size
    if ca.shape[1:] != Xa.shape[1:]:
        raise InvalidValueError(
            f"candidates as samples must have rows of shape {Xa.shape[1:]}, as X; got shape {ca.shape}."
        )
    if ca.shape[0] == 0:
        raise InvalidValueError("candidates is empty; expected at least one candidate sample.")
    if ca.dtype != object:
        _check_finite(ca, "candidates")
    return candidates, batch_size


def _shrink_batch(batch_size: int, n_pool: int) -> int:
    """``batch_size``, reduced (with scikit-activeml's warning) to the number of unlabeled candidates."""
    if n_pool >= batch_size:
        return batch_size
    # only reached when 1-D candidates hold labeled samples: the base
    # class already shrank batch_size to the number of candidates
    warnings.warn(
        f"'batch_size={batch_size}' is larger than number of unlabeled candidates. "
        f"Instead, 'batch_size={n_pool}' was set.",
        stacklevel=3,
    )
    return int(n_pool)


def _utilities(pool, query_indices, batch_size: int, n_out: int) -> np.ndarray:
    """Utilities of shape (batch_size, n_out) that encode the pick order (see ``query``)."""
    utilities = np.full((batch_size, n_out), np.nan)
    for b in range(batch_size):
        utilities[b, pool] = 0.0
        utilities[b, query_indices[:b]] = np.nan
        utilities[b, query_indices[b:]] = batch_size - np.arange(b, batch_size)
    return utilities


def _warn_unset_class_count(strategy, labels) -> None:
    """Warn when ``y`` shows more classes than the pseudo-label k an unset ``n_classes`` falls back to.

    ``n_classes`` is never inferred from ``y`` (that would make ProbCover's
    radius depend on the labeled set, changing it from cycle to cycle); only
    the warning reads the labels.
    """
    from ..registry import class_count_parameters
    from ..strategies import DEFAULT_PSEUDO_CLASSES

    counts = class_count_parameters(strategy)
    if labels.size == 0 or not counts:
        return
    params = strategy.get_params(deep=True)
    unset = [
        k
        for k, v in counts.items()
        if v is None and params.get(k[: -len("n_classes")] + "delta") is None  # a given delta needs no k
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
# classes generated from the registry

#: The paper's baselines: their "<baseline>_then_<norm|gs|random>" adapters are
#: module attributes and in STRATEGY_CLASSES; every other name is one
#: adapter_for() call away.
_PAPER_BASELINES = ("typiclust", "probcover")

#: Built-in class names that differ from the strategy class minus "Query":
#: kept apart from scikit-activeml's own TypiClust and ProbCover (and a bare "Random").
_LEGACY_NAMES = {"random": "RandomSubsel", "typiclust": "TypiClustSubsel", "probcover": "ProbCoverSubsel"}

#: Short names of the second part in a combination's class name.
_THEN_CLASS_SUFFIX = {"gs": "GS"}

_ADAPTER_DOC = """
    Other Parameters
    ----------------
    missing_label : scalar or string or np.nan or None, default=np.nan
        Value that marks unlabeled samples in ``y``.
    random_state : None or int or np.random.RandomState, default=None
        As in scikit-activeml: per query, ``random_state_`` is derived from it
        and the number of unlabeled samples; None uses numpy's global state.
"""

_N_CLASSES_DOC = """
    Notes
    -----
    ``n_classes`` (the number of classes of the task) is passed to ProbCover
    only when given: None uses a fixed k of 10, never a count of the labels in
    ``y`` (which would make delta change between AL cycles); ``query`` warns
    when ``y`` already shows more than 10 classes.
"""

_adapters: dict[tuple, type] = {}
_adapters_lock = threading.Lock()


def adapter_for(name: str) -> type:
    """The scikit-activeml class of a registered strategy, generated on first use.

    Parameters
    ----------
    name : str
        Any name :func:`subsel_plugins.get_strategy` accepts: a built-in, one a
        third-party plugin registers, or ``"<first>_then_<second>"``.

    Returns
    -------
    cls : type
        A ``SingleAnnotatorPoolQueryStrategy`` subclass whose ``__init__`` takes
        the strategy's parameters with their defaults (for a combination:
        ``factor``, then each part's own parameters; a name both parts take is
        ``first_<name>`` and ``then_<name>``), then ``missing_label`` and
        ``random_state``. The same class is returned while the registration
        behind ``name`` stays the same.

    Raises
    ------
    ValueError
        When ``name`` is not registered (the message lists the names).
    """
    parts = _parts(name)
    key = (name, *(cls for _, _, cls in parts))
    with _adapters_lock:
        if key not in _adapters:
            _adapters[key] = _generate(name, parts)
        return _adapters[key]


def _parts(name: str) -> list[tuple[str, str, type]]:
    """``(role, registered name, strategy class)`` of ``name``: itself, or its ``first`` and ``then``."""
    base = registrations("strategies")
    if name in base:
        return [("", name, base[name].obj)]
    first, then = split_then(name)  # raises, listing the names, when there is no "_then_"
    for part in (first, then):
        if part not in base and "_then_" in part:
            raise InvalidValueError(
                f"adapter_for({name!r}): {part!r} is itself a combination; generated classes take "
                "'<first>_then_<second>' of registered strategies (use SubselQueryStrategy for more)."
            )
        if part not in base:
            split_then(part)  # raises "unknown strategy", listing the names
    return [("first", first, base[first].obj), ("then", then, base[then].obj)]


def _generate(name: str, parts) -> type:
    """Build the adapter class of ``name`` from its strategy classes' signatures."""
    params, keys = _adapter_parameters(parts)
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *_in_valid_order(params)]
    )
    class_name = _class_name(name, parts)
    namespace = {
        "__init__": _make_init(signature, class_name),
        "__doc__": _docstring(name, parts, [p.name for p in params], keys),
        "__module__": __name__,
        "__qualname__": class_name,
        "_strategy_name": name,
        "_param_keys": keys,
    }
    return type(class_name, (_SubselPoolQueryStrategy,), namespace)


def _own_parameters(cls, skip=("random_state", "features")) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(cls).parameters.values()
        if p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _adapter_parameters(parts) -> tuple[list[inspect.Parameter], dict]:
    """The adapter's parameters, and the get_strategy key of each parameter named apart.

    A strategy keeps its signature, ``random_state`` moved behind
    ``missing_label``; a combination's parameters come from
    :func:`_combination_parameters`.
    """
    if len(parts) == 1:
        params, keys = _own_parameters(parts[0][2], skip=("random_state",)), {}
    else:
        params, keys = _combination_parameters(parts)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params += [
        inspect.Parameter("missing_label", kind, default=MISSING_LABEL),
        inspect.Parameter("random_state", kind, default=None),
    ]
    _check_names(params, parts)
    return params, keys


def _combination_parameters(parts) -> tuple[list[inspect.Parameter], dict]:
    """ThenQuery's own parameters (``factor``), each part's own, then ``features``.

    A part's parameter that the other part, ThenQuery or the adapter also
    takes is named ``first_<name>``/``then_<name>`` and passed on as
    ``first__<name>``/``then__<name>`` (get_strategy refuses to guess).
    """
    from ..strategies import ThenQuery

    outer = _own_parameters(ThenQuery, skip=("first", "then", "random_state", "features"))
    (first_role, _, first_cls), (then_role, _, then_cls) = parts
    per_part = [(first_role, _own_parameters(first_cls)), (then_role, _own_parameters(then_cls))]
    taken = {p.name for p in outer} | set(_OWN_PARAMS) | {"features"}
    clashes = {p.name for _, ps in per_part for p in ps if p.name in taken}
    clashes |= {p.name for p in per_part[0][1]} & {p.name for p in per_part[1][1]}
    params, keys = list(outer), {}
    for role, ps in per_part:
        for p in ps:
            if p.name in clashes:
                keys[f"{role}_{p.name}"] = f"{role}__{p.name}"
                p = p.replace(name=f"{role}_{p.name}")
            params.append(p)
    params += _own_parameters(ThenQuery, skip=("first", "then", "random_state", "factor"))
    return params, keys


def _check_names(params, parts) -> None:
    for p in params:
        if p.name not in _OWN_PARAMS and hasattr(_SubselPoolQueryStrategy, p.name):
            names = ", ".join(f"{cls.__module__}.{cls.__qualname__}" for _, _, cls in parts)
            raise TypeError(
                f"strategy parameter {p.name!r} of {names} clashes with an attribute of the "
                "scikit-activeml adapter; rename the parameter or use SubselQueryStrategy."
            )


def _in_valid_order(params) -> list[inspect.Parameter]:
    """Positional-or-keyword parameters, switching to keyword-only where Python needs it.

    (A required parameter of ``then`` after ``factor=2``, or a strategy's own
    keyword-only parameters.)
    """
    out, keyword_only, seen_default = [], False, False
    for p in params:
        empty = p.default is inspect.Parameter.empty
        keyword_only |= p.kind is p.KEYWORD_ONLY or (empty and seen_default)
        seen_default |= not empty
        out.append(p.replace(kind=p.KEYWORD_ONLY if keyword_only else p.POSITIONAL_OR_KEYWORD))
    return out


def _make_init(signature: inspect.Signature, class_name: str):
    """An ``__init__`` with ``signature`` that only stores its arguments (scikit-learn convention)."""

    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{class_name}(): {exc}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        del values["self"]
        SingleAnnotatorPoolQueryStrategy.__init__(
            self, missing_label=values.pop("missing_label"), random_state=values.pop("random_state")
        )
        for key, value in values.items():
            setattr(self, key, value)

    # sklearn's get_params/clone and inspect.signature read this
    __init__.__signature__ = signature
    __init__.__qualname__ = f"{class_name}.__init__"
    return __init__


def _stem(cls) -> str:
    name = cls.__name__
    return name[: -len("Query")] if name.endswith("Query") and name != "Query" else name


def _class_name(name: str, parts) -> str:
    if len(parts) == 1:
        return _LEGACY_NAMES.get(name) or _stem(parts[0][2])
    second = name.rsplit("_then_", 1)[1]
    if second in THEN_ALIASES:
        suffix = _THEN_CLASS_SUFFIX.get(second, second.title())
    else:
        suffix = _stem(parts[1][2])
    return f"{_stem(parts[0][2])}Then{suffix}"


def _docstring(name: str, parts, names: list[str], keys: dict) -> str:
    """The strategy's docstring, introduced as its adapter, with the adapter's own parameters."""
    if len(parts) == 1:
        cls = parts[0][2]
        summary, _, body = (inspect.getdoc(cls) or "").partition("\n")
        intro = f"scikit-activeml adapter of ``{name}``: {summary}"
        # the adapter's random_state means scikit-activeml's: see Other Parameters
        body = re.sub(r"(?m)^random_state :.*\n(?:    .*\n)*", "", body.strip() + "\n")
        body = f"Runs :class:`{_ref(cls)}` on the rows of each query.\n\n{body}"
    else:
        intro = (
            f"scikit-activeml adapter of ``{name}``: ``{parts[0][1]}`` proposes "
            f"``factor * batch_size`` candidates, ``{parts[1][1]}`` picks the batch."
        )
        body = _combination_parameters_doc(parts, names, keys)
    doc = f"{intro}\n\n{body.strip()}\n" + _ADAPTER_DOC.replace("\n    ", "\n")
    if any(n.endswith("n_classes") for n in names):
        doc += _N_CLASSES_DOC.replace("\n    ", "\n")
    return doc


def _combination_parameters_doc(parts, names: list[str], keys: dict) -> str:
    """A numpydoc Parameters section that sends each part's parameters to that part's class."""
    lines = ["Parameters", "----------", "factor : float, default=2", "    Candidates per final pick, >= 1."]
    plain = [n for n in names if n not in keys and n not in ("factor", "features", *_OWN_PARAMS)]
    for role, part, cls in parts:
        own = [n for n in names if keys.get(n, "").startswith(f"{role}__")]
        own += [n for n in plain if n in inspect.signature(cls).parameters]
        if own:
            lines += [", ".join(own), f"    As in ``{part}``: :class:`{_ref(cls)}`."]
    lines += ["features : callable, transformer or torch module, optional", "    Applied before both parts."]
    return "\n".join(lines)


def _ref(cls) -> str:
    """``subsel_plugins.X`` for a class the package exports, else its defining module's path."""
    import subsel_plugins

    if getattr(subsel_plugins, cls.__name__, None) is cls:
        return f"subsel_plugins.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _strategy_classes() -> dict[str, type]:
    """Adapter class of each built-in name: every built-in strategy and the paper's combinations."""
    own = [n for n, reg in registrations("strategies").items() if _is_own(reg.distribution)]
    names = own + [f"{b}_then_{s}" for b in _PAPER_BASELINES if b in own for s in THEN_ALIASES]
    return {name: adapter_for(name) for name in names}


def _is_own(distribution: str) -> bool:
    return distribution.lower().replace("_", "-") == DISTRIBUTION


def __getattr__(attr: str):
    """The generated classes by name (``GramSchmidt``, ...), ``STRATEGY_CLASSES`` and ``__all__``."""
    if attr.startswith("__") and attr != "__all__":
        raise AttributeError(attr)
    classes = _strategy_classes()
    if attr == "STRATEGY_CLASSES":
        return classes
    if attr == "__all__":
        return _STATIC_ALL + [cls.__name__ for cls in classes.values()]
    for cls in classes.values():
        if cls.__name__ == attr:
            return cls
    if attr[:1].isupper():
        # any other registered name's class, so that pickle finds it by its qualified name
        for name in available_strategies():
            if adapter_for(name).__name__ == attr:
                return adapter_for(name)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def __dir__():
    return sorted(set(globals()) | set(__getattr__("__all__")))


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
