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


def test_paired_differences_pair_by_seed_and_budget():
    rows = _rows("random", [[0.5, 0.6], [0.4, 0.7]]) + _rows("x", [[0.6, 0.6], [0.7, 0.9]])
    rows.append({"strategy": "x", "seed": 9, "budget": 10, "accuracy": 1.0})  # no partner: left out
    d = analysis.paired_differences(rows, "random")
    diffs = np.array([0.1, 0.0, 0.3, 0.2])
    assert set(d) == {"x"} and d["x"][2] == 4
    assert d["x"][0] == pytest.approx(diffs.mean())
    assert d["x"][1] == pytest.approx(diffs.std(ddof=1) / 2)
    only_b = analysis.paired_differences(rows, "random", {10})
    assert only_b["x"][2] == 2 and only_b["x"][0] == pytest.approx(0.2)
    assert analysis.paired_differences(rows, "typiclust") == {}


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
    assert "| x | +1.5 ± 0.3 | +1.5 ± 0.3 | +1.5 ± 0.3 |" in text  # vs typiclust, all budgets


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
