"""The paper's analyses: Frechet distance (Table 2), class coverage, feature norms (Fig. 7), stderr, pairs."""

from __future__ import annotations

import numpy as np


def mean_and_stderr(values) -> tuple[float, float]:
    """Mean and standard error of the mean (``std(ddof=1) / sqrt(n)``; 0 for one value)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), 0.0
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def paired_differences(rows, reference: str, budgets=None) -> dict[str, tuple[float, float, int]]:
    """Accuracy minus the reference strategy's at the same seed and budget, per strategy.

    ``rows`` are result rows of one dataset, domain and framework (``strategy``,
    ``seed``, ``budget``, ``accuracy``); ``budgets`` restricts the pairs. Returns
    ``strategy -> (mean, standard error, number of seed x budget pairs)``; the
    reference itself and strategies without a paired row are left out.
    """
    ref = {(r["seed"], r["budget"]): r["accuracy"] for r in rows if r["strategy"] == reference}
    diffs: dict[str, list] = {}
    for r in rows:
        key = (r["seed"], r["budget"])
        if (
            r["strategy"] == reference
            or key not in ref
            or (budgets is not None and r["budget"] not in budgets)
        ):
            continue
        diffs.setdefault(r["strategy"], []).append(r["accuracy"] - ref[key])
    return {s: (*mean_and_stderr(d), len(d)) for s, d in diffs.items()}


def class_coverage(labels, num_classes: int) -> int:
    """Number of distinct classes among ``labels``."""
    labels = np.asarray(labels)
    return int(np.unique(labels[(labels >= 0) & (labels < num_classes)]).size)


def mean_feature_norm(X, rows) -> float:
    """Mean L2 norm of the rows ``rows`` of ``X`` (the quantity of the paper's Fig. 7)."""
    return float(np.linalg.norm(np.asarray(X[np.asarray(rows)], dtype=np.float64), axis=1).mean())


def frechet_distance_sqrtm(A, B) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``A`` and of ``B`` (scipy.linalg.sqrtm).

    ``||mu_A - mu_B||^2 + Tr(S_A + S_B - 2 (S_A S_B)^{1/2})``, the formula of
    FID, here on the features of the domain in use. O(d^3): the reference
    for :class:`PoolFrechet`.
    """
    from scipy import linalg

    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    mu_a, mu_b = A.mean(0), B.mean(0)
    sa = np.cov(A, rowvar=False).reshape(A.shape[1], A.shape[1])
    sb = np.cov(B, rowvar=False).reshape(B.shape[1], B.shape[1])
    covmean = linalg.sqrtm(sa @ sb)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2.0 * np.trace(covmean))


class PoolFrechet:
    """Frechet distance between a subset of a pool and the rest of it, fast.

    The pool's sum and scatter matrix are computed once; for a subset of k
    rows the rest's mean and covariance follow by subtraction. The trace term
    uses ``Tr (S_k S_r)^{1/2} = sum sqrt(eig(A S_r A^T))`` with
    ``S_k = A^T A`` (A the centred subset rows over ``sqrt(k - 1)``): the
    non-zero eigenvalues of ``S_r^{1/2} S_k S_r^{1/2}`` and of the k x k
    matrix ``A S_r A^T`` are the same, so a subset costs O(k d^2) instead of
    a d x d matrix square root. Exact; it equals
    :func:`frechet_distance_sqrtm` up to rounding (tested).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The pool's features.
    """

    def __init__(self, X):
        self.X = X
        n = X.shape[0]
        d = X.shape[1]
        self.n = n
        self.sum = np.zeros(d)
        self.scatter = np.zeros((d, d))
        # in blocks: the pool may be a memory map far larger than a float64 copy
        for start in range(0, n, 8192):
            blk = np.asarray(X[start : start + 8192], dtype=np.float64)
            self.sum += blk.sum(0)
            self.scatter += blk.T @ blk

    def __call__(self, rows) -> float:
        rows = np.asarray(rows, dtype=np.int64)
        k = rows.size
        if k < 2 or self.n - k < 2:
            raise ValueError(
                f"the Frechet distance needs at least 2 rows on each side; got a subset of {k} "
                f"from a pool of {self.n}."
            )
        S = np.asarray(self.X[rows], dtype=np.float64)
        mu_k = S.mean(0)
        A = (S - mu_k) / np.sqrt(k - 1)
        nr = self.n - k
        mu_r = (self.sum - S.sum(0)) / nr
        cov_r = (self.scatter - S.T @ S - nr * np.outer(mu_r, mu_r)) / (nr - 1)
        M = A @ cov_r @ A.T
        eig = np.linalg.eigvalsh((M + M.T) / 2)
        tr_sqrt = np.sqrt(np.clip(eig, 0.0, None)).sum()
        return float(((mu_k - mu_r) ** 2).sum() + (A * A).sum() + np.trace(cov_r) - 2.0 * tr_sqrt)


def norm_accuracy_fit(norms, accuracies) -> dict:
    """Pearson correlation and least-squares line of accuracy on mean feature norm (Fig. 7)."""
    from scipy import stats

    x = np.asarray(norms, dtype=np.float64)
    y = np.asarray(accuracies, dtype=np.float64)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {
            "n": int(x.size),
            "pearson_r": float("nan"),
            "p_value": float("nan"),
            "slope": float("nan"),
            "intercept": float("nan"),
        }
    fit = stats.linregress(x, y)
    return {
        "n": int(x.size),
        "pearson_r": float(fit.rvalue),
        "p_value": float(fit.pvalue),
        "slope": float(fit.slope),
        "intercept": float(fit.intercept),
    }
