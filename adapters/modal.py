"""modAL adapter: subsel strategies as modAL query strategies.

Every subsel strategy already *is* a modAL query strategy: its
``__call__(learner, X_pool, n_instances)`` returns ``(indices, scores)``, so

>>> from modAL.models import ActiveLearner                       # doctest: +SKIP
>>> learner = ActiveLearner(estimator=LogisticRegression(),
...                         query_strategy=GramSchmidtQuery())   # doctest: +SKIP
>>> idx, rows = learner.query(X_pool, n_instances=10)            # doctest: +SKIP

works with no adapter at all. ``learner.X_training``, when present, is the
already-labeled set (Gram-Schmidt projects its span out, TypiClust counts it in
its clusters, ProbCover treats its balls as covered); a cold-start learner
without training data works too.

This module adds:

- :func:`query_strategy`, building any registered strategy by name,
  third-party plugins and ``"<first>_then_<second>"`` combinations included
  (a third-party strategy needs no adapter code: it is a ``QueryStrategy``,
  so it is modAL-callable);
- the strategy classes of :mod:`subsel_plugins.strategies`, re-exported;
- :func:`patch_modal_check_X_y`, a narrow compatibility fix so that modAL
  0.4.2.1's ``ActiveLearner.teach``/``fit`` run on scikit-learn >= 1.8. It is
  applied when this module is imported (when modAL is installed), and is a
  no-op where the installed scikit-learn still accepts ``force_all_finite``.

Why the fix: modAL 0.4.2.1 (its last release) calls
``sklearn.utils.check_X_y(..., force_all_finite=...)``; scikit-learn 1.6
renamed that argument to ``ensure_all_finite`` and 1.8 removed the old name,
so every ``teach()`` raises ``TypeError``. The fix replaces only the name
``check_X_y`` inside ``modAL.models.learners`` by a wrapper that renames the
argument and calls scikit-learn's own ``check_X_y``; scikit-learn itself and
every other caller are untouched. Tested with modAL-python 0.4.2.1 and
scikit-learn 1.9.1.

Install modAL without its ``skorch==0.9.0`` pin (it is only needed by modAL's
own PyTorch wrappers, which this project never imports)::

    pip install "subsel-plugins[modal]"
    pip install --no-deps modAL-python==0.4.2.1

A quirk of modAL to know about: ``BaseLearner.query`` wraps the strategy call
in a bare ``except:`` and, on *any* exception, calls the strategy a second
time. Subsel strategies return ``(indices, scores)`` and so run exactly once
per query; when they raise (say ``n_instances`` above the pool size) they run
twice and the second error reaches you.

Not covered: ``ActiveLearner(on_transformed=True)`` is not honoured (pass the
transformation as ``features=`` instead), and modAL's ``Committee`` keeps
``X_training = None``, so there the strategy sees no labeled set (every query
is a cold start): ``Committee.query`` then warns
(:class:`CommitteeWithoutLabeledSetWarning`, see
:func:`warn_committee_without_labeled_set`).
"""

from __future__ import annotations

import functools
import inspect

from .. import strategies as _strategies
from ..registry import available_strategies, get_strategy
from ..strategies import QueryStrategy

# the strategy classes themselves are modAL strategies: re-export every one
# subsel_plugins.strategies defines (GramSchmidtQuery, ...), with no list here
_STRATEGY_NAMES = [n for n in _strategies.__all__ if n != "apply_features"]
globals().update({n: getattr(_strategies, n) for n in _STRATEGY_NAMES})

__all__ = [
    "query_strategy",
    "available_strategies",
    "patch_modal_check_X_y",
    "needs_check_X_y_patch",
    *_STRATEGY_NAMES,
]

_INSTALL_HINT = (
    'install it with `pip install "subsel-plugins[modal]"` and '
    "`pip install --no-deps modAL-python==0.4.2.1` (the --no-deps skips modAL's skorch==0.9.0 pin)"
)


def query_strategy(name: str, **params) -> QueryStrategy:
    """A registered strategy, ready to pass as modAL's ``query_strategy``.

    Parameters
    ----------
    name : str
        Any name in :func:`subsel_plugins.available_strategies`: a built-in
        (``"gram_schmidt"``, ``"feature_norm"``, ``"typiclust"``, ...), one a
        third-party plugin registers, or a combination
        ``"<first>_then_<second>"`` such as ``"probcover_then_gs"``.
    **params
        The strategy's parameters (``random_state``, ``features``, ...); see
        :func:`subsel_plugins.get_strategy` for how combinations route them.

    Returns
    -------
    strategy : QueryStrategy
        Callable as ``strategy(learner, X_pool, n_instances)`` returning
        ``(indices of shape (n_instances,), scores of shape (n_instances,))``.

    Examples
    --------
    >>> from modAL.models import ActiveLearner                      # doctest: +SKIP
    >>> learner = ActiveLearner(LogisticRegression(),
    ...     query_strategy=query_strategy("probcover_then_gs", random_state=0))  # doctest: +SKIP
    """
    return get_strategy(name, **params)


def needs_check_X_y_patch() -> bool:
    """True when the installed scikit-learn's ``check_X_y`` lacks ``force_all_finite``.

    That is scikit-learn >= 1.8, where modAL 0.4.2.1's ``teach()`` and ``fit()``
    raise ``TypeError`` without :func:`patch_modal_check_X_y`.
    """
    from sklearn.utils import check_X_y

    return "force_all_finite" not in inspect.signature(check_X_y).parameters


def _compat_check_X_y(check_X_y):
    """Wrap scikit-learn's ``check_X_y`` to accept modAL's ``force_all_finite``."""

    @functools.wraps(check_X_y)
    def wrapper(X, y, *args, force_all_finite=None, **kwargs):
        if force_all_finite is not None:
            if "ensure_all_finite" in kwargs:
                raise TypeError("check_X_y got both force_all_finite and ensure_all_finite; pass only one.")
            # same meaning, new name (True, False or "allow-nan")
            kwargs["ensure_all_finite"] = force_all_finite
        return check_X_y(X, y, *args, **kwargs)

    wrapper._subsel_compat_wrapped = check_X_y
    return wrapper


def patch_modal_check_X_y() -> bool:
    """Make modAL 0.4.2.1's ``teach()``/``fit()`` work on scikit-learn >= 1.8.

    Replaces ``modAL.models.learners.check_X_y`` (modAL's reference to
    scikit-learn's function, nothing else) by a wrapper that passes modAL's
    ``force_all_finite`` on as ``ensure_all_finite``. Idempotent; does nothing
    when the installed scikit-learn still accepts ``force_all_finite``.
    Called automatically when this module is imported with modAL installed.

    Returns
    -------
    patched : bool
        True when the wrapper is in place (now or from an earlier call), False
        when scikit-learn needs no fix.

    Raises
    ------
    ImportError
        When modAL is not installed (the message says how to install it).
    """
    try:
        from modAL.models import learners
    except ImportError as exc:
        raise ImportError(f"subsel_plugins.adapters.modal needs modAL-python: {_INSTALL_HINT}.") from exc
    if getattr(learners.check_X_y, "_subsel_compat_wrapped", None) is not None:
        return True
    if not needs_check_X_y_patch():
        return False
    learners.check_X_y = _compat_check_X_y(learners.check_X_y)
    return True


class CommitteeWithoutLabeledSetWarning(UserWarning):
    """A subsel strategy queried by a modAL Committee sees none of the members' training data."""


def warn_committee_without_labeled_set() -> bool:
    """Make modAL's ``Committee.query`` warn when a subsel strategy cannot see the labeled set.

    modAL's committees keep ``X_training = None`` (the training data lives in
    each member), so ``learner.X_training`` gives a subsel strategy nothing:
    every query is a cold start, and rows the members were trained on can be
    picked again. A docstring alone is easy to miss (the call succeeds and
    returns plausible rows), so the query warns, once per call site, with
    what to do instead. Wraps ``modAL.models.base.BaseCommittee.query`` only
    (idempotent); applied when this module is imported with modAL installed,
    which happens on a subsel strategy's first modAL query.

    Returns
    -------
    bool
        True when the wrapper is in place.
    """
    import warnings

    from modAL.models import base

    if getattr(base.BaseCommittee.query, "_subsel_committee_warning", False):
        return True
    original = base.BaseCommittee.query

    @functools.wraps(original)
    def query(self, X_pool, *args, **kwargs):
        members = getattr(self, "learner_list", ()) or ()
        if (
            isinstance(getattr(self, "query_strategy", None), QueryStrategy)
            and getattr(self, "X_training", None) is None
            and any(getattr(m, "X_training", None) is not None for m in members)
        ):
            warnings.warn(
                f"modAL's {type(self).__name__} keeps X_training=None, so "
                f"{type(self.query_strategy).__name__} sees no labeled set: the members' training rows "
                "do not shape the choice (every query is a cold start). Use an ActiveLearner, or call "
                "strategy.select(X, n, labeled=...) with the labeled rows.",
                CommitteeWithoutLabeledSetWarning,
                stacklevel=2,
            )
        return original(self, X_pool, *args, **kwargs)

    query._subsel_committee_warning = True
    base.BaseCommittee.query = query
    return True


def _patch_on_import() -> None:
    try:
        import modAL  # noqa: F401
    except ImportError:
        # the strategies work as modAL callables without modAL installed here
        # (query_strategy needs nothing from it); patch_modal_check_X_y() says
        # how to install it when called explicitly
        return
    patch_modal_check_X_y()
    warn_committee_without_labeled_set()


_patch_on_import()
