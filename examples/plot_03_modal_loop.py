"""
An active-learning loop in modAL
================================

Every strategy is already a modAL query strategy:
``strategy(learner, X_pool, n_instances)`` returns ``(indices, rows)``, and
``learner.X_training`` counts as the labeled set. This is a cold start: the
learner has no training data before its first query.

Importing :mod:`subsel_plugins.adapters.modal` also makes modAL 0.4.2.1's
``teach()`` work on scikit-learn >= 1.8 (see :doc:`/guide/compatibility`).
"""

import matplotlib.pyplot as plt
import numpy as np
from modAL.models import ActiveLearner
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from subsel_plugins.adapters.modal import query_strategy

X, y = load_digits(return_X_y=True)
X = X / 16.0

curves = {}
for name in ("random", "gram_schmidt", "typiclust_then_gs"):
    learner = ActiveLearner(
        estimator=LogisticRegression(max_iter=500),
        query_strategy=query_strategy(name, random_state=0),  # any registered name
    )
    X_pool, y_pool = X.copy(), y.copy()
    sizes, scores = [], []
    for _ in range(6):
        idx, rows = learner.query(X_pool, n_instances=10)
        learner.teach(rows, y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
        sizes.append(len(learner.X_training))
        scores.append(learner.score(X, y))
    curves[name] = (sizes, scores)
    print(f"{name:>18}: " + ", ".join(f"{s:.3f}" for s in scores))

fig, ax = plt.subplots(figsize=(5, 3.2))
for name, (sizes, scores) in curves.items():
    ax.plot(sizes, scores, marker="o", label=name)
ax.set_xlabel("labeled examples")
ax.set_ylabel("accuracy on the whole pool")
ax.legend()
fig.tight_layout()
