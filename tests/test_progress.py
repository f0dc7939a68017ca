"""Progress bars: drawn on a terminal (or when forced), silent otherwise, never change results."""

import numpy as np
import pytest

from subsel_plugins import _progress, kernels


def test_off_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("SUBSEL_PROGRESS", raising=False)
    assert not _progress.enabled()  # pytest captures stderr: not a terminal
    assert list(_progress.progress(range(3), desc="x")) == [0, 1, 2]
    with _progress.progress(total=3) as bar:
        bar.update(2)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("flag, on", [("1", True), ("0", False)])
def test_subsel_progress_forces(monkeypatch, flag, on):
    monkeypatch.setenv("SUBSEL_PROGRESS", flag)
    assert _progress.enabled() is on


def test_forced_bar_draws_on_stderr(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    monkeypatch.setenv("SUBSEL_PROGRESS", "1")
    assert list(_progress.progress(range(4), desc="counting", leave=True)) == [0, 1, 2, 3]
    err = capsys.readouterr().err
    assert "counting" in err and "4/4" in err


@pytest.mark.parametrize("flag", ["0", "1"])
def test_blocks_cover_the_rows_once(monkeypatch, capsys, flag):
    monkeypatch.setenv("SUBSEL_PROGRESS", flag)
    assert list(_progress.blocks(10, 4, "rows")) == [0, 4, 8]
    assert list(_progress.blocks(3, 4, "rows")) == [0]
    err = capsys.readouterr().err
    assert ("rows" in err) is (flag == "1")


def test_bars_do_not_change_the_picks(monkeypatch):
    rng = np.random.default_rng(0)
    F = rng.standard_normal((3000, 8)).astype(np.float32)
    out = []
    for flag in ("0", "1"):
        monkeypatch.setenv("SUBSEL_PROGRESS", flag)
        monkeypatch.setattr(kernels, "ASSIGN_BLOCK", 500)
        out.append(kernels.sample_kmeans_labels(F, 6, 3))
    np.testing.assert_array_equal(out[0], out[1])
