"""The benchmark harness end to end on digits: a minimal grid, resume, outputs, presets, CLI."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

# benchmarks/ is a runnable package of the source tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cli, harness, report  # noqa: E402
from benchmarks.config import PRESETS, BenchConfig, preset  # noqa: E402
from subsel_plugins import hookimpl  # noqa: E402
from subsel_plugins.evaluation import Evaluator  # noqa: E402


def tiny_config(**kw):
    cfg = dict(
        preset="test",
        datasets=["digits"],
        domains={"raw": {"extractor": "raw", "params": {}, "seed": 0}},
        strategies=["random", "gram_schmidt"],
        frameworks={
            "linear_probe": {"name": "linear_probe", "params": {"epochs": 100}},
            "cnn": {
                "name": "supervised",
                "params": {"arch": "small_cnn", "width": 8, "epochs": 5, "flip": False, "crop_padding": 1},
            },
        },
        budget_multipliers=[2],
        seeds=[0, 1],
        norm_correlation={"framework": "linear_probe", "size_multipliers": [1], "subsets": 4},
    )
    cfg.update(kw)
    return BenchConfig(**cfg)


def run_all(cfg, out):
    summary = harness.run_grid(cfg, out, progress=False, log=lambda *a: None)
    written = report.write_report(cfg, out, summary["strategies"], summary["unavailable"])
    manifest = report.write_manifest(cfg, out, summary, "start", argv=["test"])
    return summary, written, manifest


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cfg = tiny_config()
    summary, written, manifest = run_all(cfg, out)
    return cfg, out, summary, written, manifest


def test_minimal_run_writes_one_row_per_cell(minimal_run):
    cfg, out, summary, _, _ = minimal_run
    rows = harness.read_jsonl(out / harness.RESULTS)
    # 2 strategies x 1 budget x 2 seeds x 2 frameworks
    assert summary["done"] == 8 + 4 and summary["skipped"] == 0
    assert len(rows) == 8
    assert {(r["strategy"], r["seed"], r["framework"]) for r in rows} == {
        (s, seed, f) for s in ("random", "gram_schmidt") for seed in (0, 1) for f in ("linear_probe", "cnn")
    }
    for r in rows:
        assert r["budget"] == 20 and len(r["labeled"]) == 20 and len(set(r["labeled"])) == 20
        assert 0.0 <= r["accuracy"] <= 1.0
        assert 1 <= r["classes_covered"] <= 10 and r["class_coverage"] == r["classes_covered"] / 10
        assert r["frechet"] > 0 and r["mean_feature_norm"] > 0 and r["selection_time_s"] >= 0
    # the selection is shared by the frameworks of a cell
    by = {(r["strategy"], r["seed"], r["framework"]): r["labeled"] for r in rows}
    assert by[("gram_schmidt", 1, "cnn")] == by[("gram_schmidt", 1, "linear_probe")]
    # the linear probe on 2 raw-pixel examples per class is far above chance (10%)
    lp = [r["accuracy"] for r in rows if r["framework"] == "linear_probe"]
    assert np.mean(lp) > 0.4


def test_table_plots_and_manifest(minimal_run):
    cfg, out, _, written, manifest = minimal_run
    table = written["table"].read_text()
    assert "## digits · features `raw` · `linear_probe`" in table
    assert "## digits · features `raw` · `cnn`" in table
    assert "| random |" in table and "| gram_schmidt |" in table and "b=20" in table and "±" in table
    assert "Frechet" in table and "Classes covered" in table and "Fig. 7" in table
    names = sorted(p.name for p in written["plots"])
    assert names == [
        "accuracy_digits_raw_cnn.png",
        "accuracy_digits_raw_linear_probe.png",
        "chosen_digits_raw.png",
        "norm_correlation_digits_raw_linear_probe.png",
    ]
    for p in written["plots"]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = json.loads(manifest.read_text())
    assert m["seeds"] == [0, 1] and m["strategies"] == ["random", "gram_schmidt"]
    assert m["config"]["frameworks"]["cnn"]["params"]["width"] == 8
    assert m["versions"]["numpy"] == np.__version__ and "subsel-plugins" in m["versions"]
    assert m["machine"]["cpu_count"] >= 1 and "python" in m["machine"]
    assert set(m["framework_hashes"]) == {"linear_probe", "cnn"}
    norm_rows = harness.read_jsonl(out / harness.NORM_RESULTS)
    assert len(norm_rows) == 4 and all(r["size"] == 10 for r in norm_rows)


def test_resume_skips_done_cells_and_reruns_missing_ones(minimal_run, tmp_path):
    cfg, out, _, _, _ = minimal_run
    # work on a copy so the module fixture stays intact
    for name in (harness.RESULTS, harness.NORM_RESULTS):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    summary = harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
    assert summary["done"] == 0 and summary["skipped"] == 8
    # an interrupted run: the last line lost, then a torn half line
    lines = (tmp_path / harness.RESULTS).read_text().splitlines()
    lost = json.loads(lines[-1])
    (tmp_path / harness.RESULTS).write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])
    with pytest.warns(UserWarning, match="not valid JSON"):
        summary = harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
    assert summary["done"] == 1 and summary["skipped"] == 7
    with pytest.warns(UserWarning, match="not valid JSON"):
        rows = harness.read_jsonl(tmp_path / harness.RESULTS)
    redone = [r for r in rows if harness.Cell.key_of(r) == harness.Cell.key_of(lost)]
    assert len(redone) == 1
    # the rerun cell reproduces the interrupted one exactly (seeded selection and training)
    assert redone[0]["labeled"] == lost["labeled"] and redone[0]["accuracy"] == lost["accuracy"]


def test_changed_settings_rerun_only_their_cells(minimal_run, tmp_path):
    cfg, out, _, _, _ = minimal_run
    (tmp_path / harness.RESULTS).write_bytes((out / harness.RESULTS).read_bytes())
    cfg2 = tiny_config(norm_correlation=None)
    cfg2.frameworks["linear_probe"]["params"] = {"epochs": 50}
    summary = harness.run_grid(cfg2, tmp_path, progress=False, log=lambda *a: None)
    assert summary["done"] == 4 and summary["skipped"] == 4
    rows = report.current_rows(cfg2, tmp_path, ["random", "gram_schmidt"])
    assert len(rows) == 8  # the 4 old linear-probe rows are ignored by the report


def test_initial_pool_is_shared_and_counted_in_the_budget(tmp_path):
    cfg = tiny_config(
        initial_pool=True,
        frameworks={"linear_probe": {"name": "linear_probe", "params": {"epochs": 50}}},
        seeds=[3],
        strategies=["random", "feature_norm"],
        norm_correlation=None,
        frechet=False,
    )
    harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
    rows = harness.read_jsonl(tmp_path / harness.RESULTS)
    assert len(rows) == 2
    a, b = (r["labeled"] for r in rows)
    assert len(a) == len(b) == 20 and a[:10] == b[:10]  # same random initial pool of b = 10
    assert rows[0]["frechet"] is None and rows[0]["initial_pool"] is True
    with pytest.raises(ValueError, match="initial_pool"):
        tiny_config(initial_pool=True, budget_multipliers=[1, 2]).validate()


class _Unavailable(Evaluator):
    """Never available (stands for a framework whose extra is missing)."""

    def __init__(self):
        pass

    @classmethod
    def is_available(cls):
        return False, "needs the moon"


class _Plugin:
    @hookimpl
    def subsel_register_evaluations(self, register):
        register("never", _Unavailable)


def test_unavailable_frameworks_are_skipped_only_when_optional(fresh_registry, tmp_path):
    fresh_registry.register_plugin(_Plugin(), name="test-never")
    try:
        fws = {
            "linear_probe": {"name": "linear_probe", "params": {"epochs": 20}},
            "never": {"name": "never", "params": {}, "optional": True},
        }
        cfg = tiny_config(frameworks=fws, seeds=[0], strategies=["random"], norm_correlation=None)
        summary, written, manifest = run_all(cfg, tmp_path)
        assert summary["unavailable"] == {"never": "needs the moon"} and summary["done"] == 1
        assert "`never` skipped: needs the moon" in written["table"].read_text()
        assert json.loads(manifest.read_text())["unavailable_frameworks"] == {"never": "needs the moon"}
        fws["never"]["optional"] = False
        with pytest.raises(RuntimeError, match="needs the moon"):
            harness.run_grid(cfg, tmp_path / "b", progress=False)
    finally:
        fresh_registry.unregister_plugin("test-never")


class _DeviceRecorder(Evaluator):
    """A third-party evaluation that declares it needs a device; records the device it got."""

    needs = frozenset({"features"})
    needs_device = True
    seen: list = []

    def __init__(self, device="unset"):
        self.device = device

    def _evaluate(self, data, labeled, seed):
        type(self).seen.append(self.device)
        return {"accuracy": 0.5}


class _DevicePlugin:
    @hookimpl
    def subsel_register_evaluations(self, register):
        register("device_recorder", _DeviceRecorder)


def test_a_plugin_evaluation_that_declares_a_device_gets_one(fresh_registry, tmp_path):
    fresh_registry.register_plugin(_DevicePlugin(), name="test-device-recorder")
    try:
        _DeviceRecorder.seen.clear()
        fws = {"rec": {"name": "device_recorder", "params": {}}}
        cfg = tiny_config(
            frameworks=fws, seeds=[0], strategies=["random"], norm_correlation=None, device="cpu"
        )
        spec, _ = harness.framework_specs(cfg)["rec"]
        assert spec["params"] == {"device": "cpu"}
        summary = harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
        assert summary["done"] == 1 and _DeviceRecorder.seen == ["cpu"]
        # the linear probe declares no device, so its spec (and resume key) stays as it was
        assert harness.framework_specs(tiny_config())["linear_probe"][0]["params"] == {"epochs": 100}
        assert harness.framework_specs(tiny_config())["cnn"][0]["params"]["device"] == "auto"
    finally:
        fresh_registry.unregister_plugin("test-device-recorder")


def test_each_row_is_keyed_by_its_cell(minimal_run):
    cfg, out, _, _, _ = minimal_run
    rows = harness.read_jsonl(out / harness.RESULTS)
    assert harness.KEY_FIELDS == harness.Cell.fields()
    for row in rows:
        cell = harness.Cell(**{f: row[f] for f in harness.Cell.fields()})
        assert cell.key == harness.Cell.key_of(row)
    # planning again finds every cell done
    specs = harness.framework_specs(cfg)
    plan = harness.plan_grid(cfg, cfg.strategies, list(cfg.frameworks), specs, harness._Datasets(cfg))
    pending, skipped = harness.drop_done(plan, harness.done_keys(out / harness.RESULTS))
    assert pending == [] and skipped == len(rows) == sum(len(s.cells) for s in plan)


def test_a_plugin_strategy_joins_the_default_grid(fresh_registry):
    from subsel_plugins.strategies import RandomQuery

    class Mine(RandomQuery):
        """Test strategy."""

    class P:
        @hookimpl
        def subsel_register_strategies(self, register):
            register("mine", Mine)

    fresh_registry.register_plugin(P(), name="test-mine")
    try:
        names = harness.default_strategies()
        assert "mine" in names and "typiclust_then_norm" in names and "probcover_then_gs" in names
    finally:
        fresh_registry.unregister_plugin("test-mine")


def test_presets_are_valid_and_match_the_paper():
    for name in PRESETS:
        preset(name).validate()
    q = preset("quick")
    assert q.datasets == ["digits"] and len(q.seeds) >= 3 and q.budget_multipliers == [1, 2, 3, 4, 5, 6]
    f = preset("fashion")
    assert len(f.seeds) >= 5 and set(f.domains) == {"simclr_cpu", "efficientnet_lite0"}
    p = preset("paper")
    assert p.frameworks["supervised"]["params"]["epochs"] == 200
    assert {"flexmatch", "simmatch", "linear_probe", "supervised"} == set(p.frameworks)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"seeds": [0, 0]}, "distinct"),
        ({"seeds": []}, "seeds"),
        ({"budget_multipliers": [0]}, "budget_multipliers"),
        ({"frameworks": {}}, "frameworks"),
        ({"pool_size": 1}, "pool_size"),
        ({"norm_correlation": {"framework": "nope", "subsets": 5}}, "norm_correlation"),
    ],
)
def test_config_errors_name_the_field(kw, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**kw).validate()


def test_cli_minimal_run_and_resume(tmp_path, capsys):
    argv = [
        "--out", str(tmp_path), "--strategies", "random", "feature_norm", "--budgets", "1",
        "--seeds", "2", "--frameworks", "linear_probe", "--no-norm-correlation", "--no-progress",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    assert "4 cells run, 0 resumed" in capsys.readouterr().out
    assert (tmp_path / "table.md").exists() and (tmp_path / "manifest.json").exists()
    assert (tmp_path / "plots" / "accuracy_digits_raw_linear_probe.png").exists()
    assert cli.main(argv) == 0
    assert "0 cells run, 4 resumed" in capsys.readouterr().out
    assert cli.main([*argv, "--report-only"]) == 0
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["config"]["preset"] == "quick" and m["seeds"] == [0, 1]


def test_cli_rejects_unknown_names(tmp_path, capsys):
    assert cli.main(["--out", str(tmp_path), "--strategies", "gram_schmit", "--no-progress"]) == 2
    assert "unknown strategy 'gram_schmit'" in capsys.readouterr().err
    argv = ["--out", str(tmp_path), "--frameworks", "linear_prob", "--strategies", "random", "--no-progress"]
    assert cli.main(argv) == 2
    assert "unknown evaluation 'linear_prob'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown strategy"):
        cli.main(["--out", str(tmp_path), "--strategies", "gram_schmit", "--debug"])


def test_split_limits_and_pool_subset_resume(tmp_path):
    cfg = tiny_config(
        frameworks={"linear_probe": {"name": "linear_probe", "params": {"epochs": 30}}},
        seeds=[0],
        strategies=["random"],
        train_limit=500,
        test_limit=200,
        pool_size=300,
        norm_correlation={"framework": "linear_probe", "size_multipliers": [1], "subsets": 3},
    )
    first = harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
    assert first["done"] == 1 + 3
    (row,) = harness.read_jsonl(tmp_path / harness.RESULTS)
    assert (row["n_pool"], row["n_test"], row["train_limit"], row["pool_size"]) == (300, 200, 500, 300)
    assert max(row["labeled"]) < 300
    again = harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
    assert again["done"] == 0 and again["skipped"] == 1


def test_paper_preset_uses_the_paper_simclr_recipe():
    assert preset("paper").domains["simclr"]["params"] == {"preset": "paper"}
    assert preset("fashion").domains["simclr_cpu"]["params"] == {"preset": "cpu"}


def test_the_picture_grid_shows_seed_0_at_the_smallest_budget(minimal_run):
    cfg, out, _, _, _ = minimal_run
    rows = report.current_rows(cfg, out, cfg.strategies)
    frame = report._frame([*rows, dict(rows[0], seed=7, budget=10, labeled=[1, 2])])
    # the smallest budget first, then its smallest seed
    assert report.chosen_rows(frame, ["gram_schmidt", "random"]) == (7, 10, [(rows[0]["strategy"], [1, 2])])
    seed, budget, chosen = report.chosen_rows(report._frame(rows), ["gram_schmidt", "random"])
    assert (seed, budget) == (0, 20) and [s for s, _ in chosen] == ["gram_schmidt", "random"]
    want = {(r["strategy"], r["seed"]): r["labeled"] for r in rows}
    assert all(idx == want[(s, 0)] for s, idx in chosen)
