"""A second linear probe: scikit-learn's L2-regularized logistic regression on standardized features."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import InvalidValueError
from ._base import EvalData, Evaluator

_STANDARDIZE = ("pool", "labeled")


class LogisticProbe(Evaluator):
    """Linear probe by :class:`sklearn.linear_model.LogisticRegression` (the probe most practitioners use).

    A check on :class:`LinearProbe` (the paper's hand-written SGD recipe): the
    same d x C linear model, fitted to convergence by L-BFGS with an L2
    penalty instead of 400 epochs of momentum SGD. Features are standardized
    first (:class:`sklearn.preprocessing.StandardScaler`), by default with the
    mean and standard deviation of the whole (unlabeled) training pool, which
    a selection setting always has; ``standardize="labeled"`` fits the scaler
    on the labeled rows only (the textbook pipeline; noisy with ten rows).
    The fit is convex and deterministic: ``seed`` does not change it.

    Parameters
    ----------
    C : float, default=1.0
        Inverse L2 strength, scikit-learn's default, fixed for every budget
        and domain (no tuning on the test set; a validation split does not
        exist at 10 labels).
    max_iter : int, default=5000
        L-BFGS iterations; enough to converge on every cell measured here (the
        row's ``extra`` records ``n_iter`` and ``converged``).
    standardize : {"pool", "labeled"}, default="pool"
    """

    needs = frozenset({"features"})

    def __init__(self, C=1.0, max_iter=5000, standardize="pool"):
        self.C = C
        self.max_iter = max_iter
        self.standardize = standardize

    def _check_params(self):
        if isinstance(self.C, bool) or not isinstance(self.C, (int, float)) or not math.isfinite(self.C):
            raise InvalidValueError(f"C must be a finite number > 0; got {self.C!r}.")
        if self.C <= 0:
            raise InvalidValueError(f"C must be a finite number > 0; got {self.C!r}.")
        it = self.max_iter
        if isinstance(it, bool) or not isinstance(it, (int, np.integer)) or it < 1:
            raise InvalidValueError(f"max_iter must be an int >= 1; got {self.max_iter!r}.")
        if self.standardize not in _STANDARDIZE:
            raise InvalidValueError(f"standardize must be one of {_STANDARDIZE}; got {self.standardize!r}.")

    def _scaled(self, pool, test, labeled):
        """Standardized labeled rows (n_labeled, d) and test rows (n_test, d), float64.

        With ``standardize="pool"`` the scaler and the scaled test rows depend
        on the pool and test arrays only: kept for the next call on the same
        arrays (a grid evaluates hundreds of subsets of one pool), held by
        reference so that an identity check cannot match a freed array.
        """
        from sklearn.preprocessing import StandardScaler

        if self.standardize == "labeled":
            scaler = StandardScaler().fit(np.asarray(pool[labeled], dtype=np.float64))
            return scaler.transform(np.asarray(pool[labeled], dtype=np.float64)), scaler.transform(
                np.asarray(test, dtype=np.float64)
            )
        cached = getattr(self, "_pool_cache", None)
        if cached is None or cached[0] is not pool or cached[1] is not test:
            scaler = StandardScaler()
            # in blocks: the pool may be a large memory map
            for start in range(0, pool.shape[0], 16384):
                scaler.partial_fit(np.asarray(pool[start : start + 16384], dtype=np.float64))
            cached = (pool, test, scaler, scaler.transform(np.asarray(test, dtype=np.float64)))
            self._pool_cache = cached
        return cached[2].transform(np.asarray(pool[labeled], dtype=np.float64)), cached[3]

    def _evaluate(self, data: EvalData, labeled: np.ndarray, seed: int) -> dict:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        self._check_params()
        pool, test = data.train_features, data.test_features
        if np.ndim(pool) != 2 or np.ndim(test) != 2 or pool.shape[1] != test.shape[1]:
            raise InvalidValueError(
                f"train_features and test_features must be 2-D with the same width; got shapes "
                f"{np.shape(pool)} and {np.shape(test)}."
            )
        y = data.train_labels[labeled]
        classes = np.unique(y)
        if classes.size == 1:
            # LogisticRegression refuses one class; the only sensible model predicts it
            acc = float(np.mean(data.test_labels == classes[0]))
            return {"accuracy": acc, "n_iter": 0, "converged": True}
        X, T = self._scaled(pool, test, labeled)
        clf = LogisticRegression(C=float(self.C), max_iter=int(self.max_iter))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(X, y)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        acc = float(np.mean(clf.predict(T) == data.test_labels))
        return {"accuracy": acc, "n_iter": int(np.max(clf.n_iter_)), "converged": converged}
