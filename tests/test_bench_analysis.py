"""The harness's analyses: Frechet distance, coverage, standard error, norm-accuracy fit."""

import sys
from pathlib import Path

import numpy as np
import pytest

# benchmarks/ is a runnable package of the source tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import analysis  # noqa: E402


@pytest.mark.parametrize("n, d, k", [(300, 8, 40), (200, 30, 12), (150, 5, 3)])
def test_pool_frechet_equals_sqrtm_reference(n, d, k):
    rng = np.random.default_rng(n + d + k)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    rows = rng.choice(n, k, replace=False)
    rest = np.setdiff1d(np.arange(n), rows)
    fast = analysis.PoolFrechet(X.astype(np.float32))(rows)
    ref = analysis.frechet_distance_sqrtm(X[rows].astype(np.float32), X[rest].astype(np.float32))
    assert fast == pytest.approx(ref, rel=1e-5, abs=1e-6)


def test_frechet_is_small_for_a_representative_subset_and_large_for_a_biased_one():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6))
    pf = analysis.PoolFrechet(X)
    uniform = np.mean([pf(rng.choice(2000, 200, replace=False)) for _ in range(5)])
    biased = pf(np.argsort(X[:, 0])[-200:])  # the 200 rows with the largest first coordinate
    assert uniform < 0.2 < 1.0 < biased


def test_frechet_rejects_degenerate_subsets():
    pf = analysis.PoolFrechet(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        pf([4])


def test_mean_and_stderr():
    m, se = analysis.mean_and_stderr([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert analysis.mean_and_stderr([0.7]) == (0.7, 0.0)
    assert all(np.isnan(analysis.mean_and_stderr([])))


def test_class_coverage_and_mean_norm():
    assert analysis.class_coverage([0, 0, 3, 9, 3], 10) == 3
    X = np.array([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]])
    assert analysis.mean_feature_norm(X, [0, 2]) == pytest.approx(7.5)


def test_norm_accuracy_fit_finds_a_seeded_positive_correlation():
    rng = np.random.default_rng(1)
    norms = rng.uniform(1, 2, size=200)
    acc = 0.3 + 0.2 * norms + rng.normal(scale=0.05, size=200)
    fit = analysis.norm_accuracy_fit(norms, acc)
    assert fit["pearson_r"] > 0.7 and fit["p_value"] < 1e-6
    assert fit["slope"] == pytest.approx(0.2, abs=0.05)
    flat = analysis.norm_accuracy_fit([1.0, 1.0, 1.0], [0.1, 0.2, 0.3])
    assert np.isnan(flat["pearson_r"])


def _rows(strategy, accs, budgets=(10, 20), dataset="d", domain="raw"):
    """Rows of one strategy: ``accs[seed][i]`` at ``budgets[i]``."""
    return [
        {"dataset": dataset, "domain": domain, "framework": "lp", "strategy": strategy, "seed": seed,
         "budget": b, "accuracy": a, "num_classes": 10}
        for seed, per in enumerate(accs) for b, a in zip(budgets, per)
    ]  # fmt: skip


def test_paired_differences_pair_by_seed_and_budget_and_average_per_seed():
    rows = _rows("random", [[0.5, 0.6], [0.4, 0.7]]) + _rows("x", [[0.6, 0.6], [0.7, 0.9]])
    rows.append({"strategy": "x", "seed": 9, "budget": 10, "accuracy": 1.0})  # no partner: left out
    d = analysis.paired_differences(rows, "random")
    per_seed = np.array([(0.1 + 0.0) / 2, (0.3 + 0.2) / 2])  # each seed's mean over its budgets
    assert set(d) == {"x"} and d["x"][2] == 2  # the count is of seeds, not of seed x budget pairs
    assert d["x"][0] == pytest.approx(per_seed.mean())
    assert d["x"][1] == pytest.approx(per_seed.std(ddof=1) / np.sqrt(2))
    only_b = analysis.paired_differences(rows, "random", {10})
    assert only_b["x"][2] == 2 and only_b["x"][0] == pytest.approx(0.2)
    assert analysis.per_seed_differences(rows, "random")["x"] == pytest.approx({0: 0.05, 1: 0.25})
    assert analysis.paired_differences(rows, "typiclust") == {}


def _nested_experiment(rng, n_seeds=10, budgets=(10, 12, 14, 16, 18, 20)):
    """Rows of two strategies whose picks are nested across budgets, scored by nearest centroid.

    For each seed a strategy orders the pool once and takes the first b rows
    at budget b (as ``feature_norm`` does: share 1.00 from one budget to the
    next), so one seed's accuracies at all budgets share most of their picks;
    every budget is tested on the same test set.
    """
    centers = rng.normal(scale=1.2, size=(5, 4))
    y = rng.integers(0, 5, size=600)
    X = centers[y] + rng.normal(size=(600, 4))
    yt = rng.integers(0, 5, size=400)
    Xt = centers[yt] + rng.normal(size=(400, 4))

    def accuracy(rows):
        mu = np.array(
            [X[rows][y[rows] == c].mean(0) if np.any(y[rows] == c) else np.full(4, 1e9) for c in range(5)]
        )
        pred = np.argmin(((Xt[:, None, :] - mu[None]) ** 2).sum(-1), axis=1)
        return float(np.mean(pred == yt))

    rows = []
    for seed in range(n_seeds):
        for name in ("reference", "nested"):
            order = rng.permutation(600)
            rows += [
                {"strategy": name, "seed": seed, "budget": b, "accuracy": accuracy(order[:b])}
                for b in budgets
            ]
    return rows


def test_the_error_is_over_seeds_not_over_nested_seed_x_budget_pairs():
    rng = np.random.default_rng(2024)
    rows = _nested_experiment(rng)
    mean, se, n = analysis.paired_differences(rows, "reference")["nested"]
    per_seed = list(analysis.per_seed_differences(rows, "reference")["nested"].values())
    assert n == 10 and se == pytest.approx(np.std(per_seed, ddof=1) / np.sqrt(10))
    ref = {(r["seed"], r["budget"]): r["accuracy"] for r in rows if r["strategy"] == "reference"}
    pairs = [r["accuracy"] - ref[(r["seed"], r["budget"])] for r in rows if r["strategy"] == "nested"]
    pooled = np.std(pairs, ddof=1) / np.sqrt(len(pairs))
    assert se > 1.5 * pooled  # the pooled error pretends 60 independent pairs

    # over many independent experiments the reported error matches the spread of
    # the reported mean; the pooled one is far too small
    means, ses, pooled_ses = [], [], []
    for _ in range(100):
        rows = _nested_experiment(rng)
        m, s, _ = analysis.paired_differences(rows, "reference")["nested"]
        ref = {(r["seed"], r["budget"]): r["accuracy"] for r in rows if r["strategy"] == "reference"}
        pairs = [r["accuracy"] - ref[(r["seed"], r["budget"])] for r in rows if r["strategy"] == "nested"]
        means.append(m)
        ses.append(s)
        pooled_ses.append(np.std(pairs, ddof=1) / np.sqrt(len(pairs)))
    spread = np.std(means, ddof=1)
    assert 0.75 < np.mean(ses) / spread < 1.3
    assert np.mean(pooled_ses) / spread < 0.6


def test_bootstrap_over_seeds_agrees_with_the_formula():
    rng = np.random.default_rng(7)
    rows = _nested_experiment(rng, n_seeds=20)
    _, se, n = analysis.paired_differences(rows, "reference")["nested"]
    _, boot, n_boot = analysis.paired_differences(rows, "reference", bootstrap=4000, random_state=1)["nested"]
    # the bootstrap's SE is the plug-in one: sqrt((n - 1) / n) of the formula, up to resampling noise
    assert n_boot == n == 20 and boot == pytest.approx(se * np.sqrt(19 / 20), rel=0.06)
    assert analysis.bootstrap_stderr([0.3]) == 0.0 and np.isnan(analysis.bootstrap_stderr([]))


def test_summary_names_what_beats_typiclust_at_b_and_2b_on_two_domains():
    from benchmarks import report

    rows = []
    for dom, y_gain in (("raw", 0.02), ("eff", -0.01), ("sim", 0.03)):
        rows += _rows("typiclust", [[0.5, 0.6], [0.5, 0.6]], domain=dom)
        rows += _rows("random", [[0.3, 0.4], [0.3, 0.4]], domain=dom)
        rows += _rows("x", [[0.51, 0.61], [0.52, 0.62]], domain=dom)  # +1.5 points at b and 2b everywhere
        rows += _rows("y", [[0.5 + y_gain, 0.7], [0.5 + y_gain, 0.7]], domain=dom)
        rows += _rows("z", [[0.6, 0.5], [0.6, 0.5]], domain=dom)  # ahead at b, behind at 2b
    frame = report._frame(rows)
    stats = report.paired_stats(frame[frame["domain"] == "eff"])
    assert report.beats_typiclust(stats) == {"x"}
    assert stats["vs random"]["typiclust"][0] == pytest.approx(0.2)
    text = report.summary_markdown(frame, ["random", "typiclust", "x", "y", "z"])
    assert "`x` (d · raw, d · eff, d · sim); `y` (d · raw, d · sim)" in text and "`z`" not in text
    # vs typiclust, all budgets: per seed +1 and +2 points, so ± 0.5 over the 2 seeds (not 0.3 over 4 pairs)
    assert "| x | +1.5 ± 0.5 | +1.5 ± 0.5 | +1.5 ± 0.5 |" in text
    assert "2 seeds" in text and "seed x budget" not in text


def test_summary_command_reads_run_directories(tmp_path, capsys):
    from benchmarks import cli, report

    argv = ["--out", str(tmp_path / "run"), "--strategies", "random", "typiclust", "gram_schmidt",
            "--budgets", "1", "2", "--seeds", "2", "--frameworks", "linear_probe", "--no-norm-correlation",
            "--no-progress", "--no-plots", "--no-frechet"]  # fmt: skip
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert report.summary_main([str(tmp_path / "run"), "-o", str(tmp_path / "s.md")]) == 0
    out = capsys.readouterr().out
    assert out == (tmp_path / "s.md").read_text()
    assert "## `linear_probe`" in out and "| gram_schmidt |" in out and "digits · raw" in out
    assert report.summary_main([str(tmp_path / "nope")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
