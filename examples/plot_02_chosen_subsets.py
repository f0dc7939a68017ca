"""
Pictures of chosen subsets
==========================

What does each strategy choose? :func:`subsel_plugins.show.image_grid` (the
function behind ``subsel show``) draws the chosen images, one row per
strategy, with the class label under each image.
"""

from subsel_plugins import get_dataset, get_strategy
from subsel_plugins.show import image_grid

ds = get_dataset("digits")  # 1,257 train / 540 test images, 8 x 8 grey, uint8
X = ds.train.images.reshape(len(ds.train.images), -1) / 255.0

rows = []
for name in ("random", "feature_norm", "gram_schmidt", "typiclust", "probcover_then_gs"):
    params = {"first__n_classes": 10} if name.startswith("probcover") else {}
    idx = get_strategy(name, random_state=0, **params).select(X, budget=10)
    rows.append((name, idx))

fig = image_grid(rows, ds.train.images, ds.train.labels, ds.classes, title="10 picks per strategy, seed 0")

# %%
# The same grid from the command line, from index files written by
# ``subsel select ... -o picked.csv``::
#
#     subsel show digits picked.csv other.json -o grid.png
