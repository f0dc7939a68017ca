"""Picture grids of chosen subsets: index files, the grid's content, ``subsel show``."""

import json

import numpy as np
import pytest

from subsel_plugins import get_dataset
from subsel_plugins.cli import main
from subsel_plugins.errors import InvalidValueError, MissingFileError
from subsel_plugins.show import image_grid, read_index_file

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


# --- index files ------------------------------------------------------------------


def test_index_formats_read_back_what_subsel_select_writes(tmp_path, capsys):
    feats = tmp_path / "X.npy"
    np.save(feats, np.random.default_rng(0).normal(size=(80, 6)).astype(np.float32))
    want = None
    for suffix in (".npy", ".json", ".csv"):
        out = tmp_path / f"pick{suffix}"
        argv = ["select", str(feats), "-s", "gram_schmidt", "-b", "5", "--seed", "3", "-o", str(out)]
        assert main(argv) == 0
        got = read_index_file(out)
        assert got.dtype == np.int64 and got.shape == (5,)
        want = got if want is None else want
        assert got.tolist() == want.tolist()
    capsys.readouterr()


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("a.txt", "3\n1\n4\n", [3, 1, 4]),
        ("b.txt", "3, 1,4 1\n\n5", [3, 1, 4, 1, 5]),
        ("c", "9 2", [9, 2]),
        ("d.json", "[5, 0, 2.0]", [5, 0, 2]),
        ("e.json", '{"strategy": "x", "indices": [8, 6]}', [8, 6]),
        ("f.csv", "index,score\n4,0.5\n2,0.25\n", [4, 2]),
    ],
)
def test_text_and_json_index_files(tmp_path, name, content, expected):
    (tmp_path / name).write_text(content)
    assert read_index_file(tmp_path / name).tolist() == expected


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("a.txt", "1\n2.5\n", "'2.5' is not an integer"),
        ("b.txt", "\n \n", "no indices"),
        ("c.csv", "rank,score\n0,1.0\n", "without an 'index' column"),
        ("d.json", '{"picked": [1]}', "needs an 'indices' list"),
        ("e.json", "[1, true]", "JSON list of integer"),
        ("f.json", "[1, 2.5]", "2.5 is not an integer"),
        ("g.json", "[1,", "not valid JSON"),
        ("h.json", "[]", "no indices"),
    ],
)
def test_malformed_index_files_name_the_file(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(InvalidValueError, match=match) as info:
        read_index_file(tmp_path / name)
    assert name in str(info.value)


def test_npy_index_files_must_be_flat_integers(tmp_path):
    np.save(tmp_path / "ok.npy", np.array([2, 0], dtype=np.int32))
    assert read_index_file(tmp_path / "ok.npy").tolist() == [2, 0]
    np.save(tmp_path / "bool.npy", np.array([True, False]))
    np.save(tmp_path / "flat2d.npy", np.zeros((2, 2), dtype=np.int64))
    np.save(tmp_path / "frac.npy", np.array([1.0, 1.5]))
    for name, match in (("bool.npy", "integer"), ("flat2d.npy", r"shape \(2, 2\)"), ("frac.npy", "1.5")):
        with pytest.raises(InvalidValueError, match=match):
            read_index_file(tmp_path / name)
    with pytest.raises(MissingFileError, match="no such index file"):
        read_index_file(tmp_path / "nope.npy")
    with pytest.raises(InvalidValueError, match="is a directory"):
        read_index_file(tmp_path)


# --- the grid ---------------------------------------------------------------------------


def test_grid_shows_the_chosen_images_with_their_class_labels(digits):
    import matplotlib.pyplot as plt

    rows = [("first", [5, 0, 17]), ("second", np.arange(100, 125))]
    fig = image_grid(rows, digits.train.images, digits.train.labels, digits.classes, columns=10)
    try:
        axes = np.array(fig.axes).reshape(-1, 10)
        assert axes.shape == (1 + 3, 10)  # 3 images on one line, 25 wrapped onto three
        lines = [("first", [5, 0, 17])] + [
            ("second", list(range(100 + s, min(125, 110 + s)))) for s in (0, 10, 20)
        ]
        for ax_row, (_, idx) in zip(axes, lines):
            for c, ax in enumerate(ax_row):
                if c < len(idx):
                    shown = np.asarray(ax.images[0].get_array())
                    assert np.array_equal(shown, digits.train.images[idx[c]][..., 0])
                    assert ax.get_xlabel() == digits.classes[digits.train.labels[idx[c]]]
                else:
                    assert not ax.images and ax.get_xlabel() == ""
        assert axes[0, 0].get_ylabel() == "first" and axes[1, 0].get_ylabel() == "second"
        assert axes[2, 0].get_ylabel() == ""  # a wrapped line carries no second label
    finally:
        plt.close(fig)


def test_grid_draws_colour_images_and_numbers_without_class_names(tmp_path):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 5, 5, 3), dtype=np.uint8)
    fig = image_grid([("rgb", [4, 1])], images, np.array([0, 1, 2, 3, 4, 5]))
    try:
        assert np.array_equal(np.asarray(fig.axes[0].images[0].get_array()), images[4])
        assert [ax.get_xlabel() for ax in fig.axes] == ["4", "1"]
    finally:
        plt.close(fig)
    path = image_grid([("rgb", [4])], images, np.arange(6), path=tmp_path / "g.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidValueError, match="nothing to draw"):
        image_grid([], images, np.arange(6))


# --- subsel show -------------------------------------------------------------------------


def test_subsel_show_draws_index_files(tmp_path, capsys, digits):
    np.save(tmp_path / "a.npy", np.array([0, 1, 2]))
    (tmp_path / "b.json").write_text(json.dumps({"indices": [10, 11]}))
    out = tmp_path / "grid.png"
    argv = ["show", "digits", str(tmp_path / "a.npy"), str(tmp_path / "b.json"), "-o", str(out)]
    assert main([*argv, "--label", "mine", "--label", "theirs"]) == 0
    assert "5 images of digits in 2 row(s)" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        main(["show", "digits", str(tmp_path / "a.npy"), "--split", "test", "-o", str(tmp_path / "t.svg")])
        == 0
    )
    assert (tmp_path / "t.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "files, extra, needle",
    [
        (["big.txt"], [], "index 5000 is out of range; the train split of digits has 1257 rows"),
        (["ok.txt"], ["--split", "test", "--columns", "0"], "--columns must be >= 1"),
        (["ok.txt"], ["--label", "a", "--label", "b"], "--label is given 2 time(s) for 1 INDICES"),
        (["nope.txt"], [], "no such index file"),
        (["bad.txt"], [], "'x' is not an integer"),
        (["ok.txt"], ["--dataset-param", "root"], "key=value"),
    ],
)
def test_subsel_show_user_errors_are_one_line(tmp_path, capsys, files, extra, needle):
    (tmp_path / "big.txt").write_text("1\n5000\n")
    (tmp_path / "ok.txt").write_text("1 2\n")
    (tmp_path / "bad.txt").write_text("1\nx\n")
    out = tmp_path / "grid.png"
    code = main(["show", "digits", *[str(tmp_path / f) for f in files], "-o", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    assert not out.exists()


def test_subsel_show_usage_errors(tmp_path, capsys):
    (tmp_path / "ok.txt").write_text("1\n")
    for argv, needle in (
        (["show", "nosuch", str(tmp_path / "ok.txt"), "-o", str(tmp_path / "g.png")], "nosuch"),
        (
            ["show", "digits", str(tmp_path / "ok.txt"), "-o", str(tmp_path / "g.jpg")],
            "unsupported output type",
        ),
        (
            ["show", "digits", str(tmp_path / "ok.txt"), "-o", str(tmp_path / "no" / "g.png")],
            "does not exist",
        ),
    ):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and needle in err, err
