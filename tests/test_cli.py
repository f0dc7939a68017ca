"""The `subsel` command line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from subsel_plugins import get_strategy
from subsel_plugins.cli import main


@pytest.fixture
def feats(tmp_path):
    X = np.random.default_rng(0).normal(size=(80, 12)).astype(np.float32)
    path = tmp_path / "feats.npy"
    np.save(path, X)
    return path, X


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_select_prints_indices_matching_the_python_api(capsys, feats):
    path, X = feats
    code, out, err = run(capsys, "select", path, "--strategy", "gram_schmidt", "--budget", 5, "--seed", 3)
    assert code == 0, err
    printed = [int(v) for v in out.split()]
    np.testing.assert_array_equal(printed, get_strategy("gram_schmidt", random_state=3).select(X, 5))


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".json"])
def test_select_writes_outputs(capsys, feats, tmp_path, suffix):
    path, X = feats
    out_path = tmp_path / f"picked{suffix}"
    labeled = tmp_path / "labeled.txt"
    labeled.write_text("0\n1\n2\n")
    code, _, err = run(
        capsys,
        "select",
        path,
        "-s",
        "probcover_then_gs",
        "-b",
        4,
        "--seed",
        0,
        "--labeled",
        labeled,
        "-p",
        "n_classes=3",
        "-o",
        out_path,
    )
    assert code == 0, err
    if suffix == ".npy":
        idx = np.load(out_path)
    elif suffix == ".csv":
        idx = np.loadtxt(out_path, delimiter=",", skiprows=1, usecols=1).astype(int)
    else:
        doc = json.loads(out_path.read_text())
        idx = np.array(doc["indices"])
        assert doc["strategy"] == "probcover_then_gs" and len(doc["scores"]) == 4
    assert len(idx) == 4 and not set(idx.tolist()) & {0, 1, 2}


def test_csv_and_npz_features(capsys, tmp_path):
    X = np.random.default_rng(1).normal(size=(30, 3))
    np.savetxt(tmp_path / "f.csv", X, delimiter=",", header="a,b,c", comments="")
    np.savez(tmp_path / "f.npz", X=X)
    outs = []
    for name in ("f.csv", "f.npz"):
        code, out, err = run(capsys, "select", tmp_path / name, "-s", "feature_norm", "-b", 3, "--seed", 1)
        assert code == 0, err
        outs.append(out)
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-s", "gram_schmit", "-b", "3"], "Did you mean 'gram_schmidt'"),
        (["-s", "random", "-b", "0"], "budget must be >= 1"),
        (["-s", "random", "-b", "500"], "exceeds the 80 unlabeled rows"),
        (["-s", "feature_norm", "-b", "3", "-p", "norm=l3"], "norm must be one of"),
        (["-s", "random", "-b", "3", "-p", "oops"], "key=value"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(capsys, feats, argv, message):
    code, out, err = run(capsys, "select", feats[0], *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "select", tmp_path / "nope.npy", "-s", "random", "-b", 1)
    assert code == 2 and "no such file" in err


def test_strategies_lists_names_descriptions_and_plugins(capsys):
    code, out, _ = run(capsys, "strategies")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("gram_schmidt "))
    assert "Alg. 1" in line and "builtin_strategies: subsel-plugins" in line
    code, out, _ = run(capsys, "strategies", "--all")
    assert "probcover_then_gs" in out


def test_console_script_help():
    out = subprocess.run(["subsel", "select", "--help"], capture_output=True, text=True)
    if out.returncode != 0:  # console script not on PATH in this environment
        out = subprocess.run(
            [sys.executable, "-m", "subsel_plugins.cli", "select", "--help"], capture_output=True, text=True
        )
    assert out.returncode == 0
    for flag in ("--strategy", "--budget", "--labeled", "--seed", "--param", "--output"):
        assert flag in out.stdout


def test_features_verify_cache_catches_bit_rot(capsys, tmp_path):
    import os

    from subsel_plugins.features import load_or_compute

    cache = tmp_path / "cache"
    out = tmp_path / "x.npy"
    argv = ["features", "digits", "-e", "raw", "-o", out, "--cache-dir", cache, "--limit", 50]
    assert run(capsys, *argv)[0] == 0
    fresh = np.load(out)
    _, entry = load_or_compute("digits", "train", "raw", {}, cache_dir=cache, limit=50, return_path=True)
    stat = os.stat(entry)
    with open(entry, "r+b") as fh:  # flip the last data byte in place, mtime kept: bit rot
        fh.seek(-1, os.SEEK_END)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(entry, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert run(capsys, *argv)[0] == 0
    assert not np.array_equal(np.load(out), fresh)  # a plain hit trusts size, header and mtime
    assert run(capsys, *argv, "--verify-cache")[0] == 0
    np.testing.assert_array_equal(np.load(out), fresh)  # verified: recomputed
