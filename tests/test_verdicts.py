"""Issue 24: scikit-learn's logistic-regression probe, pool draws, and the verdict tables."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import subsel_plugins
from subsel_plugins import available_evaluations, get_evaluation
from subsel_plugins.errors import SubselError
from subsel_plugins.evaluation import EvalData, LinearProbe, LogisticProbe

# benchmarks/ is a runnable package of the source tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cli, harness, verdicts  # noqa: E402
from benchmarks.config import BenchConfig  # noqa: E402
from benchmarks.data import POOL_SEED, PreparedDataset  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    ds = subsel_plugins.get_dataset("digits")

    def flat(images):
        return images.reshape(len(images), -1).astype(np.float32) / 255.0

    return EvalData(
        train_labels=ds.train.labels,
        test_labels=ds.test.labels,
        num_classes=10,
        train_features=flat(ds.train.images),
        test_features=flat(ds.test.images),
        name="digits",
    )


def balanced(labels, per_class, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    )


# ---------------------------------------------------------------------------
# the probe


def test_logistic_probe_is_registered_with_documented_defaults():
    assert "logistic_regression" in available_evaluations()
    probe = get_evaluation("logistic_regression")
    assert isinstance(probe, LogisticProbe)
    assert probe.get_params() == {"C": 1.0, "max_iter": 5000, "standardize": "pool"}


def test_logistic_probe_is_scikit_learns_model_on_pool_standardized_features(digits):
    lab = balanced(digits.train_labels, 3)
    out = LogisticProbe().evaluate(digits, lab)
    scaler = StandardScaler().fit(digits.train_features.astype(np.float64))
    clf = LogisticRegression(C=1.0, max_iter=5000).fit(
        scaler.transform(digits.train_features[lab].astype(np.float64)), digits.train_labels[lab]
    )
    expected = np.mean(
        clf.predict(scaler.transform(digits.test_features.astype(np.float64))) == digits.test_labels
    )
    assert out["accuracy"] == pytest.approx(expected)
    assert out["converged"] and 0 < out["n_iter"] < 5000


def test_logistic_probe_options_change_the_model(digits):
    lab = balanced(digits.train_labels, 3)
    base = LogisticProbe().evaluate(digits, lab)["accuracy"]
    # a tiny C shrinks the weights towards zero: a different, worse model
    assert LogisticProbe(C=1e-6).evaluate(digits, lab)["accuracy"] < base - 0.05
    scaler = StandardScaler().fit(digits.train_features[lab].astype(np.float64))
    clf = LogisticRegression(C=1.0, max_iter=5000).fit(
        scaler.transform(digits.train_features[lab].astype(np.float64)), digits.train_labels[lab]
    )
    expected = np.mean(
        clf.predict(scaler.transform(digits.test_features.astype(np.float64))) == digits.test_labels
    )
    assert LogisticProbe(standardize="labeled").evaluate(digits, lab)["accuracy"] == pytest.approx(expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not LogisticProbe(max_iter=1).evaluate(digits, lab)["converged"]


def test_logistic_probe_beats_chance_and_learns_from_more_labels(digits):
    small = LogisticProbe().evaluate(digits, balanced(digits.train_labels, 1))["accuracy"]
    large = LogisticProbe().evaluate(digits, balanced(digits.train_labels, 10))["accuracy"]
    assert 0.3 < small < large and large > 0.85


def test_logistic_probe_with_one_labeled_class_predicts_it(digits):
    lab = np.flatnonzero(digits.train_labels == 3)[:4]
    out = LogisticProbe().evaluate(digits, lab)
    assert out["accuracy"] == pytest.approx(np.mean(digits.test_labels == 3))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"C": 0}, "C must"),
        ({"C": float("nan")}, "C must"),
        ({"max_iter": 0}, "max_iter"),
        ({"standardize": "x"}, "standardize"),
    ],
)
def test_logistic_probe_rejects_bad_params(digits, params, match):
    with pytest.raises(ValueError, match=match):
        LogisticProbe(**params).evaluate(digits, balanced(digits.train_labels, 1))


@pytest.mark.parametrize("probe", [LogisticProbe(), LinearProbe(normalize="standard", epochs=50)])
def test_the_pool_statistics_kept_between_calls_follow_the_pool(digits, probe):
    """A second pool (another array) must not be scaled with the first pool's statistics."""
    lab = balanced(digits.train_labels, 2)
    shifted = EvalData(
        train_labels=digits.train_labels,
        test_labels=digits.test_labels,
        num_classes=10,
        train_features=digits.train_features * 3.0 + 1.0,  # same rows, other statistics
        test_features=digits.test_features,
    )
    first = probe.evaluate(digits, lab)["accuracy"]
    again = probe.evaluate(digits, lab)["accuracy"]
    other = probe.evaluate(shifted, lab)["accuracy"]
    fresh = type(probe)(**probe.get_params()).evaluate(shifted, lab)["accuracy"]
    assert first == again and other == fresh and other != first


# ---------------------------------------------------------------------------
# pool draws


def test_pool_draws_first_seeded_and_the_fixed_default():
    first = PreparedDataset("digits", 300, pool_draw="first")
    assert np.array_equal(first.pool_rows, np.arange(300))
    a, b = PreparedDataset("digits", 300, pool_draw=1), PreparedDataset("digits", 300, pool_draw=2)
    assert not np.array_equal(a.pool_rows, b.pool_rows)
    assert np.array_equal(a.pool_rows, PreparedDataset("digits", 300, pool_draw=1).pool_rows)
    fixed = np.sort(np.random.default_rng(POOL_SEED).choice(len(first.ds.train), 300, replace=False))
    assert np.array_equal(PreparedDataset("digits", 300).pool_rows, fixed)
    assert np.array_equal(first.train_labels, first.ds.train.labels[:300])


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"pool_draw": "last", "pool_size": 300}, "pool_draw must be None, 'first' or an int"),
        ({"pool_draw": -1, "pool_size": 300}, "pool_draw must be"),
        ({"pool_draw": "first"}, "pool_size is None"),
    ],
)
def test_pool_draw_errors_name_the_field(kw, match):
    cfg = BenchConfig(datasets=["digits"], strategies=["random"], seeds=[0], budget_multipliers=[1], **kw)
    with pytest.raises(SubselError, match=match):
        cfg.validate()


def test_cli_pool_draw_is_one_line_on_bad_input(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--strategies", "random", "--pool-size", "300", "--pool-draw", "x"]
    assert cli.main(argv) == 2
    assert "--pool-draw must be 'first' or an int seed" in capsys.readouterr().err


def test_a_run_per_pool_draw_and_probe_and_the_verdict_tables(tmp_path):
    def run(draw):
        cfg = BenchConfig(
            preset="test",
            datasets=["digits"],
            strategies=["random", "feature_norm"],
            frameworks={
                "linear_probe": {"name": "linear_probe", "params": {"epochs": 30}},
                "logistic_regression": {"name": "logistic_regression", "params": {}},
            },
            budget_multipliers=[1, 2],
            seeds=[0, 1, 2],
            pool_size=400,
            pool_draw=draw,
            norm_correlation=None,
            frechet=False,
        )
        out = tmp_path / f"run-{draw}"
        summary = harness.run_grid(cfg, out, progress=False, log=lambda *a: None)
        from benchmarks import report

        report.write_manifest(cfg, out, summary, "start", argv=["test"])
        return out

    first, drawn = run("first"), run(5)
    rows = harness.read_jsonl(first / harness.RESULTS)
    assert {r["pool_draw"] for r in rows} == {"first"} and len(rows) == 2 * 2 * 3 * 2
    assert max(max(r["labeled"]) for r in rows) < 400
    # rows of another draw in the same run directory are not this run's
    with open(first / harness.RESULTS, "a", encoding="utf-8") as fh:
        fh.write((drawn / harness.RESULTS).read_text(encoding="utf-8"))
    csv_path = verdicts.export([first, drawn], tmp_path / "results")
    table_rows = verdicts.read_results(csv_path)
    assert {r["pool_draw"] for r in table_rows} == {"first 400", "random 400 (draw 5)"}
    assert len(table_rows) == 2 * len(rows)
    assert "labeled" not in csv_path.read_text().splitlines()[0]
    assert (tmp_path / "results" / "manifests" / "run-first.json").is_file()
    written = verdicts.write_tables(tmp_path / "results", tmp_path / "gen")
    text = (tmp_path / "gen" / "verdicts.md").read_text()
    assert "generated by `python -m benchmarks.verdicts tables --results" in text
    (cell,) = [
        c
        for c in verdicts.verdict_cells(table_rows, verdicts.VERDICTS[0])
        if c["pool"] == "first 400" and c["probe"] == "logistic_regression"
    ]
    assert cell["n_seeds"] == 3 and f"{cell['mean']:+.1f} ± {cell['se']:.1f}" in text
    header, rule, *body = [line for line in text.splitlines() if line.startswith("|")]
    assert all(line.count("|") == header.count("|") == rule.count("|") for line in body)
    assert len(written) == 4


def _cells(means, ses):
    return [{"mean": m, "se": s} for m, s in zip(means, ses)]


@pytest.mark.parametrize(
    "means, ses, claim, expected",
    [
        ([3.0, 2.5], [1.0, 1.0], +1, "holds"),
        ([3.0, 0.5], [1.0, 1.0], +1, "same sign, not resolved"),
        ([3.0, -2.5], [1.0, 1.0], +1, "does not hold"),
        ([3.0, -0.5], [1.0, 1.0], +1, "mixed signs, not resolved"),
        ([-3.0, -2.5], [1.0, 1.0], -1, "holds"),
        ([0.4, -0.5], [0.5, 0.5], 0, "holds (a tie within ±2 points)"),
        ([0.4, -1.5], [0.5, 0.5], 0, "not resolved"),
        ([-4.0, -3.0], [0.5, 0.5], 0, "does not hold (behind)"),
        ([4.0, 3.0], [0.5, 0.5], 0, "does not hold (ahead)"),
    ],
)
def test_verdict_status(means, ses, claim, expected):
    assert verdicts.status(_cells(means, ses), claim) == expected


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    not (ROOT / verdicts.RESULTS_DIR / verdicts.CSV_NAME).is_file(), reason="no committed verdict results"
)
def test_the_committed_tables_are_what_the_committed_results_give(monkeypatch):
    monkeypatch.chdir(ROOT)
    rows = verdicts.read_results(verdicts.RESULTS_DIR / verdicts.CSV_NAME)
    for name, text in verdicts.render(rows).items():
        committed = (verdicts.GENERATED_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: rerun python -m benchmarks.verdicts tables"


def test_pool_names():
    assert verdicts._draw_name(20000, "first") == "first 20000"
    assert verdicts._draw_name(20000, 1) == "random 20000 (draw 1)"
    assert verdicts._draw_name(20000, None) == "random 20000 (draw fixed)"
    assert verdicts._draw_name(None, None, 20000, 20000) == "first 20000"
    assert verdicts._draw_name(None, None, None, 1257) == "whole split"
