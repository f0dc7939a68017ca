"""The class count reaches ProbCover (and any strategy taking ``n_classes``) from every door.

Benchmark harness (the dataset's class count; ``delta_`` in the results; stale
rows from before are not reused), USB runner (the config's ``num_classes``) and
the scikit-activeml adapter (only an explicit ``n_classes``; never a count of
the labels seen in ``y``).
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness, report  # noqa: E402
from benchmarks.config import BenchConfig  # noqa: E402
from subsel_plugins import ProbCoverQuery, get_dataset, get_strategy, hookimpl  # noqa: E402
from subsel_plugins.strategies import RandomQuery  # noqa: E402

QUIET = dict(progress=False, log=lambda *a: None)


def _config(**kw):
    cfg = dict(
        preset="test",
        datasets=["digits"],
        domains={"raw": {"extractor": "raw", "params": {}, "seed": 0}},
        strategies=["random", "probcover", "probcover_then_gs"],
        frameworks={"linear_probe": {"name": "linear_probe", "params": {"epochs": 50}}},
        budget_multipliers=[1],
        seeds=[0],
        norm_correlation=None,
        frechet=False,
    )
    cfg.update(kw)
    return BenchConfig(**cfg)


def _then_keeps_fitted_parts() -> bool:
    q = get_strategy("probcover_then_gs", random_state=0)
    q.select(np.random.default_rng(0).normal(size=(60, 5)), 4)
    return getattr(q, "first_", None) is not None


@pytest.fixture(scope="module")
def probcover_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-probcover")
    cfg = _config()
    summary = harness.run_grid(cfg, out, **QUIET)
    return cfg, out, summary, harness.read_jsonl(out / harness.RESULTS)


# --- harness ------------------------------------------------------------------


def test_class_count_params_finds_every_part_that_takes_it():
    assert harness.class_count_params(get_strategy("probcover"), 7) == {"n_classes": 7}
    assert harness.class_count_params(get_strategy("probcover_then_gs"), 7) == {"first__n_classes": 7}
    assert harness.class_count_params(get_strategy("gram_schmidt_then_norm"), 7) == {}
    assert harness.class_count_params(get_strategy("random"), 7) == {}
    # user-set names are left alone; a bare n_classes covers every part
    assert harness.class_count_params(get_strategy("probcover_then_gs"), 7, given={"n_classes"}) == {}
    assert harness.class_count_params(get_strategy("probcover"), 7, given={"n_classes"}) == {}
    assert harness.class_count_params(object(), 7) == {}


def test_harness_passes_the_class_count_and_records_delta(probcover_run):
    _, _, summary, rows = probcover_run
    assert summary["done"] == 3
    by = {r["strategy"]: r for r in rows}
    rand, pc, pcgs = by["random"], by["probcover"], by["probcover_then_gs"]
    assert rand["strategy_params"] == {} and rand["strategy_hash"] is None
    assert rand["delta_"] is None and rand["ball_coverage"] is None
    assert pc["strategy_params"] == {"n_classes": 10} and pc["strategy_hash"]
    assert pcgs["strategy_params"] == {"first__n_classes": 10} and pcgs["strategy_hash"]
    # digits has 10 classes: ProbCover's pseudo-labels come from k = 10 clusters
    assert pc["n_clusters_"] == 10 and pc["purity_"] >= 0.95
    assert 0 < pc["delta_"] < 2 and 0 < pc["ball_coverage"] <= 1
    # the recorded delta is the one ProbCover chooses on these features with k = 10
    X = get_dataset("digits").train.images.reshape(1257, -1)
    q = ProbCoverQuery(n_classes=10, random_state=0)
    assert np.array_equal(q.select(X, 10), pc["labeled"])
    assert pc["delta_"] == pytest.approx(q.delta_)
    if _then_keeps_fitted_parts():  # ThenQuery.first_: the fitted ProbCover of the combination
        assert pcgs["n_clusters_"] == 10 and 0 < pcgs["delta_"] < 2 and pcgs["purity_"] >= 0.95


def test_report_shows_the_radius(probcover_run):
    cfg, out, summary, _ = probcover_run
    table = report.markdown_tables(
        cfg, report.current_rows(cfg, out, summary["strategies"]), summary["strategies"]
    )
    assert "Ball radius chosen by ProbCover" in table
    radius = table[table.index("Ball radius chosen by ProbCover") :]
    line = next(s for s in radius.splitlines() if s.startswith("| probcover |"))
    assert "| 10 |" in line  # k


def test_stale_probcover_rows_are_not_reused(probcover_run, tmp_path):
    """Rows written before the harness passed n_classes (no strategy_hash) run again; others resume."""
    cfg, out, _, rows = probcover_run
    old = []
    for r in rows:
        r = dict(r)
        for k in ("strategy_params", "strategy_hash", "delta_", "purity_", "n_clusters_", "ball_coverage"):
            r.pop(k)
        if r["strategy"] != "random":
            r["accuracy"] = -1.0  # a stale number that must not reach a table
        old.append(r)
    (tmp_path / harness.RESULTS).write_text("".join(json.dumps(r) + "\n" for r in old))
    assert {r["strategy"] for r in report.current_rows(cfg, tmp_path, cfg.strategies)} == {"random"}
    summary = harness.run_grid(cfg, tmp_path, **QUIET)
    assert summary["skipped"] == 1 and summary["done"] == 2  # random resumed, the ProbCovers rerun
    current = report.current_rows(cfg, tmp_path, cfg.strategies)
    assert len(current) == 3 and all(r["accuracy"] >= 0 for r in current)


class _TakesClassCount(RandomQuery):
    """A third-party strategy with an n_classes parameter; remembers what it got."""

    seen = []

    def __init__(self, n_classes=None, random_state=None, features=None):
        self.n_classes = n_classes
        super().__init__(random_state=random_state, features=features)

    def _select(self, X, budget, labeled, rng):
        type(self).seen.append(self.n_classes)
        return super()._select(X, budget, labeled, rng)


def test_third_party_strategies_get_the_class_count(fresh_registry, tmp_path):
    class P:
        @hookimpl
        def subsel_register_strategies(self, register):
            register("test_takes_k", _TakesClassCount)

    fresh_registry.register_plugin(P(), name="test-takes-k")
    try:
        _TakesClassCount.seen.clear()
        summary = harness.run_grid(
            _config(strategies=["test_takes_k", "test_takes_k_then_gs"]), tmp_path, **QUIET
        )
        assert summary["done"] == 2 and _TakesClassCount.seen == [10, 10]
        rows = harness.read_jsonl(tmp_path / harness.RESULTS)
        assert sorted(json.dumps(r["strategy_params"]) for r in rows) == [
            '{"first__n_classes": 10}',
            '{"n_classes": 10}',
        ]
    finally:
        fresh_registry.unregister_plugin("test-takes-k")


# --- USB ----------------------------------------------------------------------


def _usb():
    pytest.importorskip("torch")
    if __import__("importlib").util.find_spec("semilearn") is None:
        pytest.skip("semilearn is not installed")
    from subsel_plugins.adapters import usb

    return usb


def test_usb_select_labeled_passes_num_classes(monkeypatch):
    usb = _usb()
    import subsel_plugins

    built, original = [], subsel_plugins.get_strategy

    def spy(name, **params):
        built.append(original(name, **params))
        return built[-1]

    monkeypatch.setattr(subsel_plugins, "get_strategy", spy)
    X = get_dataset("digits").train.images.reshape(1257, -1)[:300]

    def k_params(name, params, num_classes=10):
        usb.select_labeled(usb.SubselConfig(name, params=params), X, 10, 0, num_classes)
        return {k: v for k, v in built[-1].get_params(deep=True).items() if k.endswith("n_classes")}

    assert k_params("probcover", {}) == {"n_classes": 10}
    assert built[-1].n_clusters_ == 10
    assert k_params("probcover_then_gs", {}) == {"first__n_classes": 10}
    assert k_params("probcover_then_norm", {}, num_classes=None) == {"first__n_classes": None}
    # the user's subsel_params win
    assert k_params("probcover", {"n_classes": 4}) == {"n_classes": 4}
    assert k_params("probcover_then_gs", {"n_classes": 4}) == {"first__n_classes": 4}
    assert k_params("probcover_then_gs", {"first__n_classes": 3}) == {"first__n_classes": 3}
    assert k_params("gram_schmidt", {}) == {}


def test_run_usb_hands_the_config_num_classes_to_the_selection(tmp_path, monkeypatch):
    """Stops at the selection: no training."""
    usb = _usb()
    from subsel_plugins.adapters.usb import runner

    class Stop(Exception):
        pass

    got = {}

    def fake_select(subsel, features, num_labels, seed, num_classes=None):
        got.update(strategy=subsel.strategy, num_classes=num_classes, n=num_labels)
        raise Stop

    monkeypatch.setattr(runner, "select_labeled", fake_select)
    monkeypatch.delenv(usb.DEVICE_ENV, raising=False)
    cfg = usb.load_config(
        Path(__file__).resolve().parents[1] / "benchmarks/configs/usb/flexmatch_digits_cpu.yaml"
    )
    cfg.update(subsel_strategy="probcover_then_gs", save_dir=str(tmp_path / "saved"))
    with pytest.raises(Stop):
        usb.run_usb(cfg, device="cpu", verbose=False)
    assert got == {"strategy": "probcover_then_gs", "num_classes": 10, "n": cfg["num_labels"]}


# --- scikit-activeml --------------------------------------------------------------


def _skactiveml():
    pytest.importorskip("skactiveml")
    from subsel_plugins.adapters import skactiveml as adapters

    return adapters


@pytest.fixture(scope="module")
def digits_xy():
    ds = get_dataset("digits")
    X = ds.train.images.reshape(len(ds.train), -1)[:400]
    y_true = ds.train.labels[:400]
    y = np.full(len(X), np.nan)
    y[:30] = y_true[:30]  # 30 labels, of all 10 classes
    return X, y


def test_skactiveml_probcover_uses_only_an_explicit_n_classes(digits_xy):
    adapters = _skactiveml()
    X, y = digits_xy
    seen = np.unique(y[~np.isnan(y)]).size
    assert seen == 10
    for n_classes in (None, 3):
        qs = adapters.ProbCoverSubsel(n_classes=n_classes, random_state=0)
        idx = qs.query(X, y, batch_size=8)
        # the label values are never read: all-zero labels on the same rows pick the same
        y0 = np.where(np.isnan(y), np.nan, 0.0)
        assert np.array_equal(
            adapters.ProbCoverSubsel(n_classes=n_classes, random_state=0).query(X, y0, batch_size=8), idx
        )
    # None is a fixed k = 10 (not the 10 labels seen: see the warning test); 3 changes the radius
    a = adapters.ProbCoverSubsel(n_classes=3, random_state=0).query(X, y, batch_size=8)
    b = adapters.ProbCoverSubsel(random_state=0).query(X, y, batch_size=8)
    c = adapters.ProbCoverSubsel(n_classes=10, random_state=0).query(X, y, batch_size=8)
    assert np.array_equal(b, c) and not np.array_equal(a, b)
    # the generic adapter and the combinations take it the same way
    d = adapters.SubselQueryStrategy("probcover", n_classes=3, random_state=0).query(X, y, batch_size=8)
    assert np.array_equal(a, d)


def test_skactiveml_warns_when_y_shows_more_classes_than_the_default_k(digits_xy):
    adapters = _skactiveml()
    X, y = digits_xy
    y = y.copy()
    y[30:33] = [10, 11, 12]  # 13 classes seen
    with pytest.warns(UserWarning, match=r"labels of 13 classes, but n_classes is None"):
        adapters.ProbCoverSubsel(random_state=0).query(X, y, batch_size=4)
    with pytest.warns(UserWarning, match="n_classes is None"):
        adapters.ProbCoverThenGS(random_state=0).query(X, y, batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapters.ProbCoverSubsel(n_classes=13, random_state=0).query(X, y, batch_size=4)
        adapters.ProbCoverSubsel(delta=0.3, random_state=0).query(X, y, batch_size=4)
        adapters.GramSchmidt(random_state=0).query(X, y, batch_size=4)
        adapters.ProbCoverSubsel(random_state=0).query(
            X, digits_xy[1], batch_size=4
        )  # 10 classes: no warning
