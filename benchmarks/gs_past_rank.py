"""Gram-Schmidt past the rank on a principal-axis projection of cached features (docs/guide/evidence.md).

The harness has no projection domain, so this loop does what it does for one
cell: features of the pool (the first ``--train-limit`` training images, from
the feature cache) projected on their top ``--dims`` principal axes (fitted on
the pool; uncentred coordinates, so the features keep their own origin), a
strategy picks ``budget`` rows, and the linear probe trains on them and tests
on the first ``--test-limit`` test images. One JSON line per cell goes to
``--out``; at the end, paired differences (same seed and budget) against the
norm fallback and against random.

    python benchmarks/gs_past_rank.py --dims 64 --budgets 80 120 160 240 320 --seeds 20 --out runs/pca64.jsonl
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
from sklearn.decomposition import PCA

from subsel_plugins import get_dataset, get_evaluation, get_strategy
from subsel_plugins.evaluation import EvalData
from subsel_plugins.features import load_or_compute

STRATEGIES = {
    "random": ("random", {}),
    "gram_schmidt": ("gram_schmidt", {"exhausted": "norm"}),
    "gram_schmidt:exhausted=restart": ("gram_schmidt", {"exhausted": "restart"}),
    "gram_schmidt_centered": ("gram_schmidt_centered", {"exhausted": "norm"}),
    "gram_schmidt_centered:exhausted=restart": ("gram_schmidt_centered", {"exhausted": "restart"}),
}


def projected(dataset, extractor, dims, train_limit, test_limit):
    """(train, test) features on the pool's top ``dims`` principal axes (all of them for 0)."""
    tr = np.asarray(load_or_compute(dataset, "train", extractor, limit=train_limit), dtype=np.float64)
    te = np.asarray(load_or_compute(dataset, "test", extractor, limit=test_limit), dtype=np.float64)
    if dims:
        axes = PCA(n_components=dims, random_state=0).fit(tr).components_
        tr, te = tr @ axes.T, te @ axes.T
    return tr.astype(np.float32), te.astype(np.float32)


def paired(rows, reference):
    """``{strategy: (mean, se, n seeds)}``: accuracy points minus ``reference``'s, same seed and budget.

    Per seed first (mean over the budgets), then the mean and standard error
    over seeds (:func:`benchmarks.analysis.paired_differences`).
    """
    from benchmarks.analysis import paired_differences

    return {
        s: (100 * m, 100 * se, n) for s, (m, se, n) in paired_differences(rows, reference).items() if n > 1
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--extractor", default="efficientnet_lite0")
    p.add_argument("--dims", type=int, default=64, help="principal axes kept (0: the features as they are)")
    p.add_argument("--train-limit", type=int, default=10_000)
    p.add_argument("--test-limit", type=int, default=2_000)
    p.add_argument("--budgets", type=int, nargs="+", default=[80, 120, 160, 240, 320])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--normalize", default="l2", help="the linear probe's feature normalization")
    p.add_argument(
        "--framework",
        default="linear_probe",
        help="registered evaluation: linear_probe (with --normalize) or logistic_regression",
    )
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    tr, te = projected(args.dataset, args.extractor, args.dims, args.train_limit, args.test_limit)
    ds = get_dataset(args.dataset)
    labels = ds.train.labels[: len(tr)], ds.test.labels[: len(te)]
    data = EvalData(*labels, ds.num_classes, train_features=tr, test_features=te)
    probe = (
        get_evaluation("linear_probe", normalize=args.normalize)
        if args.framework == "linear_probe"
        else get_evaluation(args.framework)
    )
    rows = []
    with open(args.out, "a") as f:
        for seed in range(args.seeds):
            for budget in args.budgets:
                for label in args.strategies:
                    name, params = STRATEGIES[label]
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # the norm fallback's notice
                        idx = get_strategy(name, random_state=seed, **params).select(tr, budget)
                    acc = probe.evaluate(data, idx, seed=seed)["accuracy"]
                    rows.append(dict(strategy=label, seed=seed, budget=budget, accuracy=acc))
                    f.write(
                        json.dumps(
                            dict(rows[-1], dims=args.dims, normalize=args.normalize, framework=args.framework)
                        )
                        + "\n"
                    )
    for reference in ("gram_schmidt", "random"):
        for s, (m, se, n) in paired(rows, reference).items():
            print(f"{s} - {reference}: {m:+.2f} ± {se:.2f} over {n} seeds")


if __name__ == "__main__":
    main()
