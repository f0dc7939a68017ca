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


def per_seed_differences(rows, reference: str, budgets=None) -> dict[str, dict]:
    """Accuracy minus the reference's at the same seed and budget, averaged over the budgets, per seed.

    ``rows`` are result rows of one dataset, domain and framework (``strategy``,
    ``seed``, ``budget``, ``accuracy``); ``budgets`` restricts the pairs.
    Returns ``strategy -> {seed: mean difference over that seed's paired
    budgets}``; the reference itself and strategies without a paired row are
    left out. One value per seed because the budgets of one seed are not
    independent: a nested strategy keeps its picks from one budget to the next
    and every budget is tested on the same test set.
    """
    ref = {(r["seed"], r["budget"]): r["accuracy"] for r in rows if r["strategy"] == reference}
    diffs: dict[str, dict] = {}
    for r in rows:
        key = (r["seed"], r["budget"])
        if (
            r["strategy"] == reference
            or key not in ref
            or (budgets is not None and r["budget"] not in budgets)
        ):
            continue
        diffs.setdefault(r["strategy"], {}).setdefault(r["seed"], []).append(r["accuracy"] - ref[key])
    return {s: {seed: float(np.mean(v)) for seed, v in sorted(d.items())} for s, d in diffs.items()}


def bootstrap_stderr(values, n_boot: int = 2000, random_state=0) -> float:
    """Standard error of the mean by a bootstrap over ``values`` (the seeds): std of resampled means."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return 0.0 if v.size == 1 else float("nan")
    rng = np.random.default_rng(random_state)
    means = v[rng.integers(0, v.size, size=(int(n_boot), v.size))].mean(axis=1)
    return float(means.std(ddof=1))


def paired_differences(
    rows, reference: str, budgets=None, *, bootstrap: int = 0, random_state=0
) -> dict[str, tuple[float, float, int]]:
    """Mean paired difference to the reference and its standard error over seeds, per strategy.

    Each seed's differences are averaged over the budgets pooled first
    (:func:`per_seed_differences`); the mean and the standard error are over
    those per-seed values, the independent units (seeds draw the strategy's
    randomness; the budgets of one seed share picks and the test set, so an
    error over seed x budget pairs would be too small). ``bootstrap`` > 0
    gives the error of a bootstrap over seeds with that many resamples
    instead of ``std(ddof=1) / sqrt(n)``.

    Returns
    -------
    dict
        ``strategy -> (mean, standard error, number of seeds)``.
    """
    out = {}
    for s, per_seed in per_seed_differences(rows, reference, budgets).items():
        vals = list(per_seed.values())
        mean, se = mean_and_stderr(vals)
        if bootstrap:
            se = bootstrap_stderr(vals, bootstrap, random_state)
        out[s] = (mean, se, len(vals))
    return out


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
