"""Every door answers a user error in one line on stderr with exit status 2, before long work starts.

The doors: ``subsel`` (subsel_plugins.cli), ``subsel-usb`` (subsel_plugins.adapters.usb)
and ``python -m benchmarks``. A user error is a SubselError; anything else (a bug) keeps
its traceback, and ``--debug`` shows the traceback of a user error too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from subsel_plugins import QueryStrategy, hookimpl, registry
from subsel_plugins.cli import main as subsel_main
from subsel_plugins.errors import SubselError

REPO = Path(__file__).resolve().parents[1]


def call(capsys, main, argv):
    """Run a door's main(argv) in-process: (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, *needles):
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1 and err.strip(), repr(err)
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def feats(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    path = tmp_path / "feats.npy"
    np.save(path, X)
    return path


@pytest.fixture
def files(tmp_path, feats):
    """Careless inputs: a 2-D labeled file, NaN features, an empty file, a directory, a plain file."""
    np.save(tmp_path / "lab2d.npy", np.array([[0, 1], [2, 3]]))
    X = np.random.default_rng(1).normal(size=(60, 5))
    X[7, 2] = np.nan
    np.save(tmp_path / "nan.npy", X)
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "adir").mkdir()
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "labels.json").write_text("[1, 2.5]")
    return tmp_path


# --- subsel ----------------------------------------------------------------------------------


SELECT_CASES = {
    "unknown strategy": (["-s", "nosuch", "-b", "3"], "unknown strategy 'nosuch'"),
    "negative budget": (["-s", "random", "-b", "-1"], "budget"),
    "budget not a number": (["-s", "random", "-b", "abc"], "invalid int value: 'abc'"),
    "huge budget": (["-s", "random", "-b", str(10**30)], "budget"),
    "negative seed": (["-s", "random", "-b", "3", "--seed", "-1"], "random_state"),
    "inf factor": (["-s", "random_then_gs", "-b", "3", "-p", "factor=1e999"], "factor"),
    # an int too large for a float used to crash in np.isfinite (issue 22)
    "huge int delta": (["-s", "probcover", "-b", "3", "-p", f"delta={10**30}"], "delta must be a finite"),
    "huge int purity": (["-s", "probcover", "-b", "3", "-p", f"purity={10**30}"], "purity must be a finite"),
    "huge int factor": (["-s", "random_then_gs", "-b", "3", "-p", f"factor={10**400}"], "(401 digits)"),
    "huge int alpha": (
        ["-s", "typiclust_norm", "-b", "3", "-p", f"alpha={10**400}"],
        "alpha must be a finite",
    ),
    "graph memory": (["-s", "probcover", "-b", "3", "-p", "max_graph_memory=lots"], "max_graph_memory"),
    "graph over memory": (
        ["-s", "probcover", "-b", "3", "-p", "max_graph_memory=100"],
        "max_graph_memory=100 B (given)",
    ),
    "combination part's value": (
        ["-s", "gram_schmidt_then_norm", "-b", "3", "-p", "then__norm=l9"],
        "then__norm",
    ),
    "unknown parameter": (["-s", "random", "-b", "3", "-p", "nosuch=1"], "nosuch"),
    "parameter twice": (["-s", "random", "-b", "3", "-p", "norm=l1", "-p", "norm=l2"], "given twice"),
    "seed twice": (["-s", "random", "-b", "3", "--seed", "1", "-p", "random_state=2"], "--seed"),
    "param without =": (["-s", "random", "-b", "3", "-p", "oops"], "key=value"),
    "output dir missing": (["-s", "random", "-b", "3", "-o", "{tmp}/nodir/out.npy"], "does not exist"),
    "output under a file": (["-s", "random", "-b", "3", "-o", "{tmp}/plain.txt/out.npy"], "not a directory"),
    "output is a directory": (["-s", "random", "-b", "3", "-o", "{tmp}/adir"], "-o"),
    "output type": (["-s", "random", "-b", "3", "-o", "{tmp}/out.txt"], "unsupported output type '.txt'"),
    "labeled 2-D": (["-s", "random", "-b", "3", "--labeled", "{tmp}/lab2d.npy"], "shape (2, 2)"),
    "labeled missing": (["-s", "random", "-b", "3", "--labeled", "{tmp}/nope.txt"], "no such file"),
    "labeled directory": (["-s", "random", "-b", "3", "--labeled", "{tmp}/adir"], "is a directory"),
    "labeled floats": (["-s", "random", "-b", "3", "--labeled", "{tmp}/labels.json"], "labeled"),
    "labeled out of range": (["-s", "random", "-b", "3", "--labeled", "{tmp}/big.txt"], "out of range"),
}


@pytest.mark.parametrize("case", list(SELECT_CASES))
def test_select_user_errors(capsys, files, feats, case):
    (files / "big.txt").write_text("5\n999\n")
    argv, needle = SELECT_CASES[case]
    argv = [a.replace("{tmp}", str(files)) for a in argv]
    code, out, err = call(capsys, subsel_main, ["select", feats, *argv])
    assert_one_line(code, err, needle)
    assert out == ""


@pytest.mark.parametrize(
    "features, needle",
    [
        ("nope.npy", "no such file"),
        ("adir", "is a directory"),
        ("empty.npy", "could not read"),
        ("nan.npy", "NaN"),
        ("plain.txt", "no rows of numbers"),
        ("lab2d.npy", "budget"),  # a 2x2 integer matrix: 2 rows cannot give 3
    ],
)
def test_select_bad_feature_files(capsys, files, features, needle):
    code, _, err = call(capsys, subsel_main, ["select", files / features, "-s", "feature_norm", "-b", "3"])
    assert_one_line(code, err, needle)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_select_unwritable_output(capsys, feats):
    code, _, err = call(
        capsys, subsel_main, ["select", feats, "-s", "random", "-b", "3", "-o", "/proc/x.npy"]
    )
    assert_one_line(code, err, "cannot write '/proc/x.npy'")


def test_output_and_parameters_are_checked_before_the_features_load(capsys, tmp_path, monkeypatch):
    import subsel_plugins.cli as cli

    def no(*a, **k):
        raise AssertionError("features were loaded before the checks")

    monkeypatch.setattr(cli, "load_matrix", no)
    monkeypatch.setattr(cli, "compute_features", no)
    for extra in (["-o", tmp_path / "nodir" / "x.npy"], ["-p", "norm=l9"], ["-p", "factor=inf"]):
        code, _, err = call(capsys, subsel_main, ["select", "f.npy", "-s", "feature_norm", "-b", 3, *extra])
        assert_one_line(code, err)
    code, _, err = call(
        capsys, subsel_main, ["select", "--dataset", "digits", "-e", "raw", "-s", "nosuch", "-b", 3]
    )
    assert_one_line(code, err, "nosuch")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["features", "nosuch", "-e", "raw", "-o", "{tmp}/x.npy"], "unknown dataset 'nosuch'"),
        (["features", "digits", "-e", "nosuch", "-o", "{tmp}/x.npy"], "nosuch"),
        (["features", "digits", "-e", "raw", "-o", "{tmp}/x.npy", "--limit", "-3"], "--limit"),
        (["features", "digits", "-e", "raw", "-o", "{tmp}/x.csv"], "expected .npy"),
        (["features", "digits", "-e", "raw", "-o", "{tmp}/nodir/x.npy"], "does not exist"),
        (
            ["features", "npz", "-e", "raw", "-o", "{tmp}/x.npy", "--dataset-param", "path={tmp}/no.npz"],
            "no.npz",
        ),
        (["features", "cifar10", "-e", "raw", "-o", "{tmp}/x.npy", "--dataset-param", "root={tmp}"], "cifar"),
        (["features", "digits", "-e", "raw", "-o", "{tmp}/x.npy", "-p", "image_size=-2"], "image_size"),
        (
            ["select", "--dataset", "nosuch", "-e", "raw", "-s", "random", "-b", "3"],
            "unknown dataset 'nosuch'",
        ),
        (["features", "digits", "-e", "raw", "-o", "{tmp}/x.npy", "--cache-dir", "{tmp}/afile"], "is a file"),
        (
            [
                "features",
                "digits",
                "-e",
                "raw",
                "-o",
                "{tmp}/y.npy",
                "--cache-dir",
                "/proc/c",
                "--limit",
                "5",
            ],
            "cache",
        ),
    ],
)
def test_features_user_errors(capsys, tmp_path, argv, needle):
    (tmp_path / "afile").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = call(capsys, subsel_main, argv)
    assert_one_line(code, err, needle)


def test_missing_torch_names_the_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    argv = [
        "features",
        "digits",
        "-e",
        "random_resnet18",
        "--no-cache",
        "--limit",
        4,
        "-o",
        tmp_path / "x.npy",
    ]
    code, _, err = call(capsys, subsel_main, argv)
    assert_one_line(code, err, "subsel-plugins[torch]")


def test_gram_schmidt_method_torch_without_torch(capsys, feats, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    argv = ["select", feats, "-s", "gram_schmidt", "-b", 3, "-p", "method=torch"]
    code, _, err = call(capsys, subsel_main, argv)
    assert_one_line(code, err, "torch")


def test_outputs_case_insensitive_numeric_and_typed(capsys, feats, tmp_path):
    base = ["select", feats, "-s", "feature_norm_then_gs", "-b", 4, "--seed", 0]
    params = ["-p", "factor=2.5", "-p", "then__norm=l1", "-p", "first__randomized=False"]
    for name in ("OUT.NPY", "Out.Csv", "OUT.JSON"):
        code, _, err = call(capsys, subsel_main, [*base, *params, "-o", tmp_path / name])
        assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "feats.npy") == [
        "OUT.JSON",
        "OUT.NPY",
        "Out.Csv",
    ]
    idx = np.load(tmp_path / "OUT.NPY")
    rows = (tmp_path / "Out.Csv").read_text().splitlines()
    assert rows[0] == "rank,index,score" and "np." not in "".join(rows)
    assert [int(r.split(",")[1]) for r in rows[1:]] == idx.tolist()
    scores = [float(r.split(",")[2]) for r in rows[1:]]
    doc = json.loads((tmp_path / "OUT.JSON").read_text())
    assert doc["indices"] == idx.tolist() and np.allclose(doc["scores"], scores)
    assert doc["params"] == {"factor": 2.5, "then__norm": "l1", "first__randomized": False, "random_state": 0}


class _BrokenQuery(QueryStrategy):
    """Breaks the contract in the way ``mode`` says (a third-party strategy for the tests)."""

    def __init__(self, mode="short", random_state=None, features=None):
        self.mode = mode
        self.random_state = random_state
        self.features = features

    def _select(self, X, budget, labeled, rng):
        idx = np.arange(budget)
        if self.mode == "short":
            idx = idx[:-1]
        elif self.mode == "out_of_range":
            idx[-1] = X.shape[0] + 5
        elif self.mode == "repeated":
            idx[-1] = idx[0]
        return idx, np.zeros(idx.size)


class _BrokenPlugin:
    @hookimpl
    def subsel_register_strategies(self, register):
        register("test_broken", _BrokenQuery)


@pytest.fixture
def broken_plugin():
    name = registry.register_plugin(_BrokenPlugin(), name="test-broken-plugin")
    try:
        yield "test_broken"
    finally:
        registry.unregister_plugin(name)


@pytest.mark.parametrize("mode", ["short", "out_of_range", "repeated"])
def test_a_plugin_breaking_the_contract_is_one_line(capsys, feats, broken_plugin, mode):
    code, _, err = call(
        capsys, subsel_main, ["select", feats, "-s", broken_plugin, "-b", 3, "-p", f"mode={mode}"]
    )
    assert_one_line(code, err, "test_broken")


def test_debug_shows_the_traceback(capsys, feats):
    with pytest.raises(SubselError, match="then__norm"):
        subsel_main(
            [
                "select",
                str(feats),
                "-s",
                "gram_schmidt_then_norm",
                "-b",
                "3",
                "-p",
                "then__norm=l9",
                "--debug",
            ]
        )
    with pytest.raises(SubselError):
        subsel_main(["--debug", "select", str(feats), "-s", "nosuch", "-b", "3"])


def test_internal_errors_keep_their_traceback(capsys, feats, monkeypatch):
    import subsel_plugins.cli as cli

    def bug(*a, **k):
        raise RuntimeError("an internal bug")

    monkeypatch.setattr(cli, "checked_strategy", bug)
    with pytest.raises(RuntimeError, match="an internal bug"):
        subsel_main(["select", str(feats), "-s", "random", "-b", "3"])


def test_subprocess_one_line_and_debug_traceback(tmp_path, feats):
    # outside the repository root, whose subsel_plugins/ source dir could shadow the install
    cmd = [sys.executable, "-m", "subsel_plugins.cli", "select", str(feats), "-s", "random", "-b", "-1"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert_one_line(res.returncode, res.stderr, "subsel select: error: budget")
    res = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode not in (0, 2) and "Traceback" in res.stderr


# --- python -m benchmarks ----------------------------------------------------------------------


@pytest.fixture
def bench_main():
    sys.path.insert(0, str(REPO))
    try:
        from benchmarks import cli

        yield cli.main
    finally:
        sys.path.remove(str(REPO))


BENCH_CASES = {
    "unknown strategy": (["--strategies", "nosuch"], "unknown strategy 'nosuch'"),
    "strategy parameter": (["--strategies", "random", "gram_schmit"], "gram_schmit"),
    "negative budget": (["--budgets", "-1"], "budget_multipliers"),
    "budget twice": (["--budgets", "2", "2"], "distinct"),
    "initial pool with budget b": (["--initial-pool", "--budgets", "1"], "initial_pool"),
    "budget not a number": (["--budgets", "abc"], "invalid int value: 'abc'"),
    "negative seeds": (["--seeds", "-1"], "--seeds"),
    "zero seeds": (["--seeds", "0"], "--seeds"),
    "huge seeds": (["--seeds", str(10**12)], "--seeds"),
    "unknown dataset": (["--datasets", "nosuch"], "unknown dataset 'nosuch'"),
    "unknown framework": (["--frameworks", "nosuch"], "unknown evaluation 'nosuch'"),
    "unknown domain": (["--domains", "nosuch"], "nosuch"),
    "device": (["--device", "tpu"], "device"),
    "pool size": (["--pool-size", "1"], "pool_size"),
    "threads": (["--threads", "-2"], "--threads"),
    "zero threads": (["--threads", "0"], "--threads must be an integer >= 1; got 0"),
    "preset": (["--preset", "nosuch"], "invalid choice"),
    "out under a file": (["--out", "{tmp}/plain.txt/run", "--strategies", "random"], "--out"),
    "out is a file": (["--out", "{tmp}/plain.txt", "--strategies", "random"], "is a file"),
}


@pytest.mark.parametrize("case", list(BENCH_CASES))
def test_bench_user_errors(capsys, tmp_path, bench_main, monkeypatch, case):
    from benchmarks import harness

    def no(*a, **k):
        raise AssertionError("the grid started before the checks")

    monkeypatch.setattr("benchmarks.cli.run_grid", no)
    (tmp_path / "plain.txt").write_text("x")
    argv, needle = BENCH_CASES[case]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    code, _, err = call(capsys, bench_main, [*argv, "--no-progress"])
    assert_one_line(code, err, needle)
    assert not (tmp_path / "run" / harness.RESULTS).exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--budgets", "1000"], "budget multiplier 1000"),
        (["--datasets", "cifar10", "--data-root", "{tmp}"], "cifar"),
        (["--strategies", "test_broken"], "_BrokenQuery"),
    ],
)
def test_bench_errors_found_while_running_stop_before_any_cell(
    capsys, tmp_path, bench_main, broken_plugin, argv, needle
):
    from benchmarks import harness

    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--strategies" not in argv:
        argv += ["--strategies", "random"]
    common = [
        "--out",
        tmp_path / "run",
        "--seeds",
        1,
        "--frameworks",
        "linear_probe",
        "--no-norm-correlation",
    ]
    code, _, err = call(capsys, bench_main, [*argv, *common, "--no-progress", "--no-plots"])
    assert_one_line(code, err, needle)
    assert harness.read_jsonl(tmp_path / "run" / harness.RESULTS) == []


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_bench_unwritable_run_dir(capsys, bench_main):
    code, _, err = call(capsys, bench_main, ["--out", "/proc/nosuch/run", "--strategies", "random"])
    assert_one_line(code, err, "--out")


def test_bench_debug_and_internal_errors(capsys, tmp_path, bench_main, monkeypatch):
    with pytest.raises(SubselError, match="nosuch"):
        bench_main(["--strategies", "nosuch", "--out", str(tmp_path), "--debug"])

    def bug(*a, **k):
        raise RuntimeError("an internal bug")

    monkeypatch.setattr("benchmarks.cli.run_grid", bug)
    with pytest.raises(RuntimeError, match="an internal bug"):
        bench_main(["--strategies", "random", "--out", str(tmp_path), "--no-progress"])


# --- subsel-usb ----------------------------------------------------------------------------------

_HAS_USB = importlib.util.find_spec("semilearn") is not None and importlib.util.find_spec("torch") is not None
usb_only = pytest.mark.skipif(not _HAS_USB, reason="semilearn/torch not installed")

DIGITS_CPU = REPO / "benchmarks" / "configs" / "usb" / "flexmatch_digits_cpu.yaml"


@pytest.fixture
def usb(monkeypatch, tmp_path):
    from subsel_plugins.adapters import usb
    from subsel_plugins.adapters.usb import runner

    def no(*a, **k):
        raise AssertionError("training started before the checks")

    monkeypatch.setattr(runner, "_train", no)
    monkeypatch.delenv(usb.DEVICE_ENV, raising=False)
    return usb


def _config(tmp_path, *replace):
    text = DIGITS_CPU.read_text().replace(
        "save_dir: ./saved_models/subsel_cpu", f"save_dir: {tmp_path}/saved"
    )
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


USB_CASES = {
    "combination part's value": (("subsel_params: {}", "subsel_params: {then__norm: l9}"), "then__norm"),
    "seed a string": (("seed: 0", "seed: abc"), "seed"),
    "seed negative": (("seed: 0", "seed: -1"), "seed"),
    "params a list": (("subsel_params: {}", "subsel_params: [1, 2]"), "subsel_params must be a mapping"),
    "unknown subsel entry": (("subsel_hflip: false", "subsel_hflp: false"), "subsel_hflp"),
    "unknown strategy": (("subsel_strategy: probcover_then_gs", "subsel_strategy: nosuch"), "nosuch"),
    "strategy a list": (
        ("subsel_strategy: probcover_then_gs", "subsel_strategy: [random]"),
        "subsel_strategy",
    ),
    "lr a list": (("lr: 0.03", "lr: [0.03]"), "lr must be a finite number"),
    "lr NaN": (("lr: 0.03", "lr: .nan"), "lr must be a finite number"),
    "iterations a float": (("num_train_iter: 300", "num_train_iter: 300.5"), "num_train_iter"),
    "bool a string": (("amp: False", "amp: 'no'"), "amp must be true or false"),
    "YAML syntax": (("lr: 0.03", "lr: [0.03"), "not valid YAML"),
    "YAML duplicate key": (("lr: 0.03", "lr: 0.03\nlr: 0.1"), "not valid YAML"),
    "unknown dataset": (("dataset: digits", "dataset: nosuch"), "nosuch"),
    "dataset files missing": (("dataset: digits", "dataset: cifar10"), "cifar"),
    "too many labels": (("num_labels: 10", "num_labels: 100000"), "num_labels"),
    "features file missing": (
        ("subsel_features: raw", "subsel_features: /nonexistent/f.npy"),
        "does not exist",
    ),
    "features a list": (("subsel_features: raw", "subsel_features: [raw]"), "subsel_features"),
    "algorithm a list": (("algorithm: flexmatch", "algorithm: [flexmatch]"), "algorithm"),
    "save_dir under a file": (("save_dir: {tmp}/saved", "save_dir: {tmp}/c.yaml/saved"), "is a file"),
}


@usb_only
@pytest.mark.parametrize("case", list(USB_CASES))
def test_usb_user_errors(capsys, tmp_path, usb, case):
    (old, new), needle = USB_CASES[case]
    path = _config(tmp_path, (old.replace("{tmp}", str(tmp_path)), new.replace("{tmp}", str(tmp_path))))
    code, out, err = call(capsys, usb.main, ["--c", path, "-q"])
    assert_one_line(code, err, needle)
    assert out == ""


@usb_only
@pytest.mark.parametrize("what", ["nan", "one_d", "empty", "npz"])
def test_usb_bad_features_file(capsys, tmp_path, usb, what):
    f = tmp_path / ("f.npz" if what == "npz" else "f.npy")
    X = np.random.default_rng(0).normal(size=(1257, 3)).astype(np.float32)
    if what == "nan":
        X[40, 1] = np.nan
        np.save(f, X)
    elif what == "one_d":
        np.save(f, X[:, 0])
    elif what == "npz":
        np.savez(f, X=X)
    else:
        f.write_bytes(b"")
    path = _config(tmp_path, ("subsel_features: raw", f"subsel_features: {f}"))
    code, _, err = call(capsys, usb.main, ["--c", path, "-q"])
    assert_one_line(code, err, "subsel_features")
    if what == "nan":
        assert "row 40" in err


@usb_only
@pytest.mark.parametrize(
    "content, needle",
    [
        ("", "is empty"),
        ("- a\n- b\n", "holds a list"),
        ("a: !!python/object:os.system {}\n", "not valid YAML"),
    ],
)
def test_usb_bad_yaml_files(capsys, tmp_path, usb, content, needle):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    code, _, err = call(capsys, usb.main, ["--c", path])
    assert_one_line(code, err, needle)


@usb_only
def test_usb_paths_and_options(capsys, tmp_path, usb):
    for argv, needle in [
        (["--c", tmp_path / "nope.yaml"], "does not exist"),
        (["--c", tmp_path], "is a directory"),
        ([], "--c"),
        (["--c", _config(tmp_path), "--device", "tpu"], "tpu"),
    ]:
        code, _, err = call(capsys, usb.main, argv)
        assert_one_line(code, err, needle)
    if os.path.isdir("/proc"):
        path = _config(tmp_path, (f"save_dir: {tmp_path}/saved", "save_dir: /proc/nosuch"))
        code, _, err = call(capsys, usb.main, ["--c", path, "-q"])
        assert_one_line(code, err, "cannot be created")


@usb_only
def test_usb_plugin_breaking_the_contract(capsys, tmp_path, usb, broken_plugin):
    path = _config(tmp_path, ("subsel_strategy: probcover_then_gs", f"subsel_strategy: {broken_plugin}"))
    code, _, err = call(capsys, usb.main, ["--c", path, "-q"])
    assert_one_line(code, err, broken_plugin)


@usb_only
def test_usb_missing_semilearn_names_the_extra(capsys, tmp_path, usb, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.delitem(sys.modules, "semilearn")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "semilearn" else real(name, *a)
    )
    code, _, err = call(capsys, usb.main, ["--c", _config(tmp_path)])
    assert_one_line(code, err, "subsel-plugins[usb]")


@usb_only
def test_usb_debug_and_internal_errors(capsys, tmp_path, usb, monkeypatch):
    path = _config(tmp_path, ("seed: 0", "seed: abc"))
    with pytest.raises(SubselError, match="seed"):
        usb.main(["--c", str(path), "--debug"])
    from subsel_plugins.adapters.usb import runner

    def bug(*a, **k):
        raise RuntimeError("an internal bug")

    monkeypatch.setattr(runner, "run_usb", bug)
    with pytest.raises(RuntimeError, match="an internal bug"):
        usb.main(["--c", str(_config(tmp_path))])


@pytest.mark.parametrize(
    "strategy", [["-s", "typiclust_gs"], ["-s", "probcover", "-p", "approximate=False"]], ids=["gs", "exact"]
)
def test_a_strategy_that_is_not_distributed_is_refused_before_a_cluster_starts(
    capsys, tmp_path, monkeypatch, strategy
):
    # issue 20's door: the refusal must not wait for `--scheduler local` to start workers
    pytest.importorskip("distributed")
    from subsel_plugins.distributed import _client

    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(size=(30, 4)))
    started = []
    monkeypatch.setattr(_client, "connect", lambda *a, **k: started.append(a))
    argv = ["select", tmp_path / "*.npy", *strategy, "-b", "3", "--scheduler", "local"]
    code, out, err = call(capsys, subsel_main, argv)
    assert_one_line(code, err, "does not run on distributed inputs")
    assert not started
