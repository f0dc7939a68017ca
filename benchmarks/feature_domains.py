"""How informative is each feature domain? kNN and logistic-regression accuracy on Fashion-MNIST.

Reproduces the table of docs/guide/datasets.md ("Datasets and feature domains")::

    nice -n 10 python benchmarks/feature_domains.py --n-train 10000 --n-test 2000

Features come from (and are left in) the feature cache (``$SUBSEL_CACHE_DIR``
or the user's cache directory), so a second run only re-fits the classifiers.
The SimCLR ``cpu`` encoder is trained on the train split first (cached too).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

DEFAULT_DOMAINS = ["raw", "raw16", "simclr", "efficientnet_lite0", "random_resnet18"]
#: Extractor parameters per domain (everything else at its default).
DOMAIN_PARAMS = {"simclr": {"preset": "cpu"}, "raw16": {"image_size": 16}}
#: Extra rows: a registered extractor under another name and parameters (raw pixels at the
#: 16x16 resolution the cpu SimCLR preset sees).
ALIASES = {"raw16": "raw"}


def evaluate(train_x, train_y, test_x, test_y, k: int = 20) -> dict:
    """kNN (cosine, k neighbours) and logistic-regression test accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler, normalize

    knn = KNeighborsClassifier(n_neighbors=k, weights="distance")
    knn.fit(normalize(train_x), train_y)
    knn_acc = float((knn.predict(normalize(test_x)) == test_y).mean())
    scaler = StandardScaler().fit(train_x)
    lr = LogisticRegression(max_iter=2000, C=0.1)
    lr.fit(scaler.transform(train_x), train_y)
    lr_acc = float((lr.predict(scaler.transform(test_x)) == test_y).mean())
    return {"knn": knn_acc, "logreg": lr_acc}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument(
        "--domains", default=",".join(DEFAULT_DOMAINS), help="comma-separated extractor names"
    )
    parser.add_argument("--n-train", type=int, default=10000, help="first N train images (0: all)")
    parser.add_argument("--n-test", type=int, default=2000, help="first N test images (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 is fastest on a shared 2-core machine: more threads spin)",
    )
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    return parser


def measure_domain(args, dom: str, ytr, yte, n_tr: int, n_te: int) -> dict:
    """Features of one domain (through the cache) and the accuracy of the two probes on them."""
    from subsel_plugins.features import load_or_compute

    params = DOMAIN_PARAMS.get(dom, {})
    ext = ALIASES.get(dom, dom)
    t0 = time.perf_counter()
    xtr, path = load_or_compute(
        args.dataset,
        "train",
        ext,
        params,
        seed=args.seed,
        cache_dir=args.cache_dir,
        limit=n_tr,
        return_path=True,
    )
    xte = load_or_compute(
        args.dataset, "test", ext, params, seed=args.seed, cache_dir=args.cache_dir, limit=n_te
    )
    t_feat = time.perf_counter() - t0
    acc = evaluate(np.asarray(xtr), ytr, np.asarray(xte), yte)
    return {
        "domain": dom,
        "params": params,
        "dim": int(xtr.shape[1]),
        **acc,
        "features_seconds": round(t_feat, 1),
        "cache_file": str(path),
    }


def main(argv=None) -> int:
    args = _parser().parse_args(argv)

    import torch

    from subsel_plugins import get_dataset

    torch.set_num_threads(args.threads)
    ds = get_dataset(args.dataset)
    n_tr = args.n_train or len(ds.train)
    n_te = args.n_test or len(ds.test)
    ytr, yte = ds.train.labels[:n_tr], ds.test.labels[:n_te]
    rows = []
    for dom in [d.strip() for d in args.domains.split(",") if d.strip()]:
        rows.append(measure_domain(args, dom, ytr, yte, n_tr, n_te))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.dataset}: {n_tr} train / {n_te} test images, seed {args.seed}\n")
    print("| domain | dim | kNN (k=20, cosine) | logistic regression |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['domain']} | {r['dim']} | {r['knn']:.3f} | {r['logreg']:.3f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"dataset": args.dataset, "n_train": n_tr, "n_test": n_te, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
