"""Harness strategy specs (a name with parameters as its own labeled entry), config files, probe factor."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cli, harness, report  # noqa: E402
from benchmarks.config import BenchConfig, StrategySpec, parse_strategy_entry, preset, spec_hash  # noqa: E402
from subsel_plugins import get_dataset, get_strategy  # noqa: E402
from subsel_plugins.errors import InvalidTypeError, InvalidValueError  # noqa: E402

QUIET = dict(progress=False, log=lambda *a: None)


def _config(**kw):
    cfg = dict(
        preset="test",
        datasets=["digits"],
        domains={"raw": {"extractor": "raw", "params": {}, "seed": 0}},
        strategies=["typiclust_then_norm", "typiclust_then_norm:factor=3", "random"],
        frameworks={"linear_probe": {"name": "linear_probe", "params": {"epochs": 30}}},
        budget_multipliers=[1],
        seeds=[0, 1],
        norm_correlation=None,
        frechet=False,
    )
    cfg.update(kw)
    return BenchConfig(**cfg)


def _digits_pixels():
    images = get_dataset("digits").train.images
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)


# --- parsing ---------------------------------------------------------------------


def test_entries_parse_to_labeled_specs():
    assert parse_strategy_entry("random") == StrategySpec("random", "random", {})
    spec = parse_strategy_entry(" typiclust_then_gs:factor=1.5, then__norm=l1 ")
    assert spec.name == "typiclust_then_gs" and spec.params == {"factor": 1.5, "then__norm": "l1"}
    assert spec.label == "typiclust_then_gs:factor=1.5,then__norm=l1"  # keys sorted
    spec = parse_strategy_entry({"name": "typiclust_then_norm", "params": {"factor": 3}, "label": "tn3"})
    assert (spec.label, spec.name, spec.params) == ("tn3", "typiclust_then_norm", {"factor": 3})
    assert (
        parse_strategy_entry({"name": "gram_schmidt", "params": {"norm": "l1"}}).label
        == "gram_schmidt:norm=l1"
    )


@pytest.mark.parametrize(
    "entry, error, match",
    [
        (":factor=2", InvalidValueError, "no strategy name"),
        ("typiclust_then_norm:", InvalidValueError, "no parameters"),
        ("typiclust_then_norm:factor", InvalidValueError, "'factor' is not KEY=VALUE"),
        ("typiclust_then_norm:factor=2,factor=3", InvalidValueError, "'factor' twice"),
        ({"name": "random", "param": {}}, InvalidValueError, r"unknown key\(s\) \['param'\]"),
        ({"params": {}}, InvalidTypeError, "needs a 'name'"),
        ({"name": "random", "params": [1]}, InvalidTypeError, "'params'"),
        ({"name": "random", "label": ""}, InvalidTypeError, "'label'"),
        (3, InvalidTypeError, "strategy names"),
    ],
)
def test_malformed_entries_name_the_entry(entry, error, match):
    with pytest.raises(error, match=match):
        parse_strategy_entry(entry, "strategies[0]")


@pytest.mark.parametrize(
    "strategies, match",
    [
        (["random", "random"], r"label\(s\) \['random'\] appear more than once"),
        (["typiclust_then_norm:factor=0.5"], "typiclust_then_norm:factor=0.5.*factor"),
        (["typiclust_then_norm:factr=2"], "factr"),
        (["gram_schmit:norm=l1"], "unknown strategy 'gram_schmit'"),
        (["random:random_state=3"], "random_state"),
        ("random", "list of strategy entries"),
    ],
)
def test_config_refuses_bad_specs_before_running(strategies, match):
    with pytest.raises((InvalidValueError, InvalidTypeError), match=match):
        _config(strategies=strategies).validate()


# --- the grid ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-specs")
    cfg = _config()
    summary = harness.run_grid(cfg, out, **QUIET)
    return cfg, out, summary, harness.read_jsonl(out / harness.RESULTS)


def test_each_spec_is_its_own_labeled_row_and_runs_with_its_parameters(spec_run):
    cfg, out, summary, rows = spec_run
    assert summary["strategies"] == ["typiclust_then_norm", "typiclust_then_norm:factor=3", "random"]
    assert len(rows) == 6
    X = _digits_pixels()
    for r in rows:
        if r["strategy"] == "typiclust_then_norm:factor=3":
            assert r["strategy_name"] == "typiclust_then_norm" and r["strategy_params"] == {"factor": 3}
            assert r["strategy_hash"] == spec_hash({"factor": 3})
            expected = get_strategy("typiclust_then_norm", factor=3, random_state=r["seed"]).select(X, 10)
        else:
            # bare names keep the keys of older runs: no parameters, no hash
            assert r["strategy_params"] == {} and r["strategy_hash"] is None
            expected = get_strategy(r["strategy"], random_state=r["seed"]).select(X, 10)
        assert r["labeled"] == expected.tolist()
    by = {(r["strategy"], r["seed"]): r["labeled"] for r in rows}
    assert by[("typiclust_then_norm", 0)] != by[("typiclust_then_norm:factor=3", 0)]


def test_specs_resume_and_changed_parameters_rerun_only_their_cells(spec_run, tmp_path):
    cfg, out, _, rows = spec_run
    (tmp_path / harness.RESULTS).write_bytes((out / harness.RESULTS).read_bytes())
    assert harness.run_grid(cfg, tmp_path, **QUIET)["done"] == 0
    # the same label with other parameters is a different cell: it runs, and the report drops the old rows
    moved = _config(
        strategies=["typiclust_then_norm", {"name": "typiclust_then_norm", "params": {"factor": 1.5},
                                            "label": "typiclust_then_norm:factor=3"}, "random"],
    )  # fmt: skip
    summary = harness.run_grid(moved, tmp_path, **QUIET)
    assert summary["done"] == 2 and summary["skipped"] == 4
    current = report.current_rows(moved, tmp_path, summary["strategies"])
    assert len(current) == 6
    assert {json.dumps(r["strategy_params"]) for r in current if "factor" in r["strategy"]} == {
        '{"factor": 1.5}'
    }
    table = report.markdown_tables(moved, current, summary["strategies"])
    assert "| typiclust_then_norm:factor=3 |" in table and "| typiclust_then_norm |" in table


def test_beyond_preset_holds_the_factor_sweep_and_both_probes():
    cfg = preset("beyond")
    cfg.validate()
    labels = harness.resolve_strategies(cfg.strategies)
    for f in (1.25, 1.5, 3):
        assert f"typiclust_then_norm:factor={f}" in labels and f"typiclust_then_gs:factor={f}" in labels
    assert {"random", "typiclust", "probcover", "probcover_then_gs"} <= set(labels)
    assert cfg.frameworks["linear_probe"]["params"] == {}  # the L2 probe keeps its key of earlier runs
    assert cfg.frameworks["linear_probe_standard"]["params"] == {"normalize": "standard"}
    assert len(cfg.seeds) == 5 and cfg.budget_multipliers == [1, 2, 3, 4, 5, 6]


# --- the command line and config files -----------------------------------------------


def _argv(out, *extra):
    return ["--out", str(out), "--budgets", "1", "--seeds", "1", "--no-norm-correlation", "--no-progress",
            "--no-plots", "--no-frechet", *extra]  # fmt: skip


def test_cli_probe_normalizations_are_separate_frameworks(tmp_path, capsys):
    argv = _argv(tmp_path, "--strategies", "random", "--frameworks", "linear_probe",
                 "--probe-normalize", "l2", "standard", "none")  # fmt: skip
    assert cli.main(argv) == 0
    rows = harness.read_jsonl(tmp_path / harness.RESULTS)
    assert sorted(r["framework"] for r in rows) == [
        "linear_probe",
        "linear_probe_none",
        "linear_probe_standard",
    ]
    assert len({tuple(r["labeled"]) for r in rows}) == 1  # one selection, three probes
    # each probe ran with its normalization: the recorded accuracy is the probe's own on that subset
    from benchmarks.data import PreparedDataset
    from subsel_plugins import get_evaluation

    data = PreparedDataset("digits").eval_data("raw", {"extractor": "raw", "params": {}, "seed": 0})
    for r in rows:
        norm = {"linear_probe": "l2", "linear_probe_standard": "standard", "linear_probe_none": None}
        probe = get_evaluation("linear_probe", normalize=norm[r["framework"]])
        assert r["accuracy"] == probe.evaluate(data, np.asarray(r["labeled"]), 0)["accuracy"]
    assert len({r["accuracy"] for r in rows}) > 1
    table = (tmp_path / "table.md").read_text()
    assert "`linear_probe_standard` (linear_probe)" in table


def _one_line_error(capsys, argv, needle):
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and needle in err, err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--strategies", "typiclust_then_norm:factor=0.5"], "factor"),
        (["--strategies", "random:"], "no parameters"),
        (["--strategies", "random", "random"], "more than once"),
        (
            ["--strategies", "random", "--frameworks", "supervised", "--probe-normalize", "standard"],
            "linear_probe",
        ),
        (["--strategies", "random", "--probe-normalize", "zscore"], "invalid choice"),
    ],
)
def test_cli_spec_and_probe_errors_are_one_line(tmp_path, capsys, extra, needle):
    _one_line_error(capsys, _argv(tmp_path / "run", *extra), needle)
    assert not (tmp_path / "run" / harness.RESULTS).exists()


def test_cli_config_files_json_and_yaml(tmp_path, capsys):
    doc = {
        "strategies": ["random", {"name": "typiclust_then_gs", "params": {"factor": 1.5}, "label": "tgs1.5"}],
        "frameworks": {"linear_probe": {"name": "linear_probe", "params": {"epochs": 20}}},
    }
    (tmp_path / "c.json").write_text(json.dumps(doc))
    yaml_text = (
        "strategies:\n  - random\n  - name: typiclust_then_gs\n    params: {factor: 1.5}\n    label: tgs1.5\n"
        "frameworks:\n  linear_probe: {name: linear_probe, params: {epochs: 20}}\n"
    )
    (tmp_path / "c.yaml").write_text(yaml_text)
    for name in ("c.json", "c.yaml"):
        out = tmp_path / name.replace(".", "_")
        assert cli.main(_argv(out, "--config", str(tmp_path / name))) == 0
        rows = harness.read_jsonl(out / harness.RESULTS)
        assert sorted(r["strategy"] for r in rows) == ["random", "tgs1.5"]
        assert [r["strategy_params"] for r in rows if r["strategy"] == "tgs1.5"] == [{"factor": 1.5}]
    capsys.readouterr()
    # the command line overrides the file
    assert (
        cli.main(_argv(tmp_path / "o", "--config", str(tmp_path / "c.json"), "--strategies", "feature_norm"))
        == 0
    )
    assert [r["strategy"] for r in harness.read_jsonl(tmp_path / "o" / harness.RESULTS)] == ["feature_norm"]


@pytest.mark.parametrize(
    "name, text, needle",
    [
        ("a.json", '{"strategies": ["random"], "seed": [1]}', "unknown field(s) ['seed']"),
        ("b.json", '{"strategies": [', "could not read"),
        ("c.yaml", "strategies: [random\n", "could not parse"),
        ("d.yaml", "- random\n", "must hold a mapping"),
        ("e.toml", "x = 1\n", "not .json, .yaml or .yml"),
        ("f.json", '{"strategies": [{"name": "random", "params": {"x": 1}}]}', "x"),
        ("g.json", '{"pool_size": "abc"}', "pool_size"),
    ],
)
def test_cli_bad_config_files_are_one_line(tmp_path, capsys, name, text, needle):
    (tmp_path / name).write_text(text)
    _one_line_error(capsys, _argv(tmp_path / "run", "--config", str(tmp_path / name)), needle)
    _one_line_error(
        capsys, _argv(tmp_path / "run", "--config", str(tmp_path / "missing.json")), "no such file"
    )
