"""
First selection on the embedded digits
======================================

The pool is scikit-learn's 1,797 digits, 8 x 8 pixels each, read as 64-d
feature vectors. Which 20 should we label first? We ask four strategies and
count how many of the 10 classes each subset covers, then check how a linear
classifier trained on those 20 labels does on the whole pool.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from subsel_plugins import FeatureNormQuery, GramSchmidtQuery, RandomQuery, get_strategy

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]

strategies = {
    "random": RandomQuery(random_state=0),
    "feature_norm": FeatureNormQuery(random_state=0),
    "gram_schmidt": GramSchmidtQuery(random_state=0),
    "typiclust": get_strategy("typiclust", random_state=0),
}
for name, strategy in strategies.items():
    idx = strategy.select(X, budget=20)  # int64 row indices, in pick order
    clf = LogisticRegression(max_iter=1000).fit(X[idx], y[idx])
    covered = len(np.unique(y[idx]))
    print(f"{name:>13}: {covered:2d} classes covered, accuracy on the pool {clf.score(X, y):.3f}")

# %%
# Rows already labeled are never returned; Gram-Schmidt projects their span
# out first, so the next picks bring new directions.
gs = GramSchmidtQuery(random_state=0)
first = gs.select(X, budget=10)
more = gs.select(X, budget=10, labeled=first)
print("first round:", first)
print("second round:", more)
assert not set(first) & set(more)

# %%
# Any registered name works through :func:`~subsel_plugins.get_strategy`,
# including the ``<first>_then_<second>`` combinations: here ProbCover proposes
# 2 x budget candidates and Gram-Schmidt keeps the budget.
pc_gs = get_strategy("probcover_then_gs", random_state=0, n_classes=10)
print(pc_gs.select(X, budget=10))
