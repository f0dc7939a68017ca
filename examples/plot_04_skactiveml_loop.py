"""
An active-learning loop in scikit-activeml
==========================================

:func:`subsel_plugins.adapters.skactiveml.adapter_for` returns a
``SingleAnnotatorPoolQueryStrategy`` class for any registered strategy,
generated from its registration; the built-ins also have names
(``GramSchmidt``, ``TypiClustThenNorm``, ...). Unlabeled rows carry
``MISSING_LABEL``; every other row is the labeled set.
"""

import numpy as np
from skactiveml.classifier import SklearnClassifier
from skactiveml.pool import ProbCover
from skactiveml.utils import MISSING_LABEL
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from subsel_plugins import GramSchmidtQuery, ThenQuery
from subsel_plugins.adapters.skactiveml import GramSchmidt, SkactivemlQuery, adapter_for

X, y_true = load_digits(return_X_y=True)
X = X / 16.0

for qs in (GramSchmidt(random_state=0), adapter_for("typiclust_then_norm")(random_state=0)):
    y = np.full(len(X), MISSING_LABEL)
    clf = SklearnClassifier(LogisticRegression(max_iter=500), classes=np.arange(10))
    for _ in range(5):
        idx = qs.query(X, y, batch_size=10)
        y[idx] = y_true[idx]
        clf.fit(X, y)
    print(f"{type(qs).__name__}: 50 labels, accuracy {clf.score(X, y_true):.3f}")

# %%
# The other way round: scikit-activeml's own ProbCover proposes candidates
# and Gram-Schmidt keeps the budget, through :class:`~subsel_plugins.ThenQuery`
# and the :class:`~subsel_plugins.adapters.skactiveml.SkactivemlQuery` wrapper.
pc_then_gs = ThenQuery(SkactivemlQuery(ProbCover(n_classes=10)), GramSchmidtQuery(), random_state=0)
print(pc_then_gs.select(X[:500], budget=10))
