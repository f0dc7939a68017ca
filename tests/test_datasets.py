"""Dataset loaders: each reads small files written here in its on-disk format."""

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from subsel_plugins import available_datasets, get_dataset
from subsel_plugins.datasets import ImageDataset, Split
from subsel_plugins.datasets._errors import DatasetNotFoundError
from subsel_plugins.datasets._fashion_mnist import DEBIAN_DIR, read_idx


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> None:
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    data = header + arr.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(data)
    else:
        Path(path).write_bytes(data)


def write_fashion(folder: Path, n_train=12, n_test=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, (img, lab), n in (
        ("train", ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), n_train),
        ("test", ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), n_test),
    ):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        write_idx(folder / img, x, gz)
        write_idx(folder / lab, y, gz)
        out[split] = (x, y)
    return out


# digits -----------------------------------------------------------------------


def test_digits_keeps_its_api():
    ds = get_dataset("digits")
    assert isinstance(ds, ImageDataset)
    assert (len(ds.train), len(ds.test)) == (1257, 540)
    assert ds.image_shape == (8, 8, 1) and ds.train.images.dtype == np.uint8


def test_all_builtin_datasets_registered():
    assert {"digits", "fashion_mnist", "cifar10", "cifar100", "imagefolder", "npz"} <= set(
        available_datasets()
    )


# fashion_mnist ------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_reads_idx_files(tmp_path, gz):
    want = write_fashion(tmp_path, gz=gz)
    ds = get_dataset("fashion_mnist", root=tmp_path)
    assert ds.train.images.shape == (12, 28, 28, 1) and ds.test.images.shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(ds.train.images[..., 0], want["train"][0])
    np.testing.assert_array_equal(ds.test.labels, want["test"][1])
    assert ds.train.labels.dtype == np.int64 and ds.classes[9] == "Ankle boot"


def test_fashion_mnist_reads_a_torchvision_root(tmp_path):
    want = write_fashion(tmp_path / "FashionMNIST" / "raw", gz=False)
    ds = get_dataset("fashion_mnist", root=tmp_path)
    np.testing.assert_array_equal(ds.train.labels, want["train"][1])


def test_fashion_mnist_missing_files_say_where_and_how(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError) as err:
        get_dataset("fashion_mnist", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and "t10k-labels-idx1-ubyte" in msg
    assert "apt-get install dataset-fashion-mnist" in msg


def test_idx_reader_rejects_truncated_and_foreign_files(tmp_path):
    write_idx(tmp_path / "x", np.zeros((3, 4, 4)), gz=False)
    data = (tmp_path / "x").read_bytes()
    (tmp_path / "short").write_bytes(data[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "foreign").write_bytes(b"PK\x03\x04" + data[4:])
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "foreign")


@pytest.mark.skipif(not os.path.isdir(DEBIAN_DIR), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package():
    ds = get_dataset("fashion_mnist")
    assert ds.train.images.shape == (60000, 28, 28, 1) and ds.test.images.shape == (10000, 28, 28, 1)
    # the official split is balanced: 6,000 / 1,000 images per class
    assert np.bincount(ds.train.labels).tolist() == [6000] * 10
    assert np.bincount(ds.test.labels).tolist() == [1000] * 10
    assert 60 < ds.train.images[:1000].mean() < 90  # mostly dark background, bright garments


# cifar ------------------------------------------------------------------------


def write_cifar(root: Path, kind: str, n_per_batch=4, bytes_keys=False, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "cifar10":
        folder = root / "cifar-10-batches-py"
        files, test, meta_name, label_key = (
            [f"data_batch_{i}" for i in range(1, 6)],
            "test_batch",
            "batches.meta",
            "labels",
        )
        meta = {"label_names": [f"class{i}" for i in range(10)]}
        k = 10
    else:
        folder = root / "cifar-100-python"
        files, test, meta_name, label_key = ["train"], "test", "meta", "fine_labels"
        meta = {"fine_label_names": [f"fine{i}" for i in range(100)], "coarse_label_names": ["c"] * 20}
        k = 100
    folder.mkdir(parents=True)

    def key(s):
        return s.encode() if bytes_keys else s

    written = {}
    for name in files + [test]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, k, size=n_per_batch).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump(
                {key("data"): data, key(label_key): labels, key("filenames"): ["a"] * n_per_batch},
                fh,
                protocol=2,
            )
        written[name] = (data, labels)
    with open(folder / meta_name, "wb") as fh:
        pickle.dump({key(a): b for a, b in meta.items()}, fh, protocol=2)
    return folder, files, test, written


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_cifar10_reads_torchvision_layout(tmp_path, bytes_keys):
    folder, files, test, written = write_cifar(tmp_path, "cifar10", bytes_keys=bytes_keys)
    ds = get_dataset("cifar10", root=tmp_path)
    assert ds.train.images.shape == (20, 32, 32, 3) and ds.test.images.shape == (4, 32, 32, 3)
    data, labels = written["data_batch_1"]
    # CIFAR rows are 1024 red, 1024 green, 1024 blue values, row-major
    assert ds.train.images[0, 2, 5, 1] == data[0, 1024 + 2 * 32 + 5]
    assert ds.train.labels[:4].tolist() == labels
    assert ds.classes == [f"class{i}" for i in range(10)]
    # the batches folder itself works as root too
    assert len(get_dataset("cifar10", root=folder).train) == 20


def test_cifar100_uses_fine_labels(tmp_path):
    _, _, _, written = write_cifar(tmp_path, "cifar100")
    ds = get_dataset("cifar100", root=tmp_path)
    assert ds.num_classes == 100 and ds.test.labels.tolist() == written["test"][1]


def test_cifar_missing_files_named(tmp_path):
    folder, *_ = write_cifar(tmp_path, "cifar10")
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_3") as err:
        get_dataset("cifar10", root=tmp_path)
    assert "cifar-10-python.tar.gz" in str(err.value)
    with pytest.raises(DatasetNotFoundError, match="root="):
        get_dataset("cifar100")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    folder, *_ = write_cifar(tmp_path, "cifar10")
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({"data": _Evil(), "labels": []}, fh)
    with pytest.raises(ValueError, match="refusing to unpickle posix.system|refusing to unpickle nt.system"):
        get_dataset("cifar10", root=tmp_path)


# imagefolder --------------------------------------------------------------------


def write_tree(root: Path, sizes=((10, 12), (16, 16)), n=3, mode="RGB"):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, cls in enumerate(("cat", "dog")):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                h, w = sizes[(i + c) % len(sizes)]
                shape = (h, w, 3) if mode == "RGB" else (h, w)
                Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(d / f"{i}.png")


def test_imagefolder_reads_lazily_and_resizes(tmp_path):
    pytest.importorskip("PIL")
    write_tree(tmp_path)
    ds = get_dataset("imagefolder", root=tmp_path, size=8)
    assert ds.classes == ["cat", "dog"] and len(ds.train) == 6 and len(ds.test) == 6
    assert ds.train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    batch = ds.train.images[1:4]
    assert batch.shape == (3, 8, 8, 3) and batch.dtype == np.uint8
    assert ds.train.images[np.array([5, 0])].shape == (2, 8, 8, 3)
    assert ds.image_shape == (8, 8, 3)


def test_imagefolder_does_not_decode_at_load_time(tmp_path):
    pytest.importorskip("PIL")
    write_tree(tmp_path, sizes=((8, 8),))
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"not a png")
    ds = get_dataset("imagefolder", root=tmp_path)  # lists files only
    assert len(ds.train) == 7
    assert ds.train.images[0].shape == (8, 8, 3)
    with pytest.raises(ValueError, match="could not decode .*broken.png"):
        ds.train.images[:]


def test_imagefolder_mixed_sizes_need_size(tmp_path):
    pytest.importorskip("PIL")
    write_tree(tmp_path)
    ds = get_dataset("imagefolder", root=tmp_path)
    with pytest.raises(ValueError, match="size="):
        ds.train.images[0:3]


def test_imagefolder_grayscale_and_missing(tmp_path):
    pytest.importorskip("PIL")
    write_tree(tmp_path, sizes=((8, 8),), mode="L")
    ds = get_dataset("imagefolder", root=tmp_path, grayscale=True)
    assert ds.train.images[0:2].shape == (2, 8, 8, 1)
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "nothing" / "train")):
        get_dataset("imagefolder", root=tmp_path / "nothing")


# npz --------------------------------------------------------------------------


def test_npz_reads_user_arrays(tmp_path):
    rng = np.random.default_rng(0)
    xtr = rng.random((6, 5, 5, 3)).astype(np.float32)
    np.savez(
        tmp_path / "mine.npz",
        x_train=xtr,
        y_train=np.arange(6) % 3,
        x_test=rng.integers(0, 256, (2, 5, 5, 3), dtype=np.uint8),
        y_test=[0, 2],
    )
    ds = get_dataset("npz", path=tmp_path / "mine.npz")
    assert ds.train.images.dtype == np.uint8 and ds.train.images.shape == (6, 5, 5, 3)
    np.testing.assert_array_equal(ds.train.images, np.round(xtr * 255).astype(np.uint8))
    assert ds.classes == ["0", "1", "2"] and ds.name == "mine"
    # root= works like every other loader: the file, or a folder holding one .npz
    assert len(get_dataset("npz", root=tmp_path).train) == 6
    assert len(get_dataset("npz", root=tmp_path / "mine.npz").test) == 2


def test_npz_accepts_nchw_and_grey(tmp_path):
    np.savez(tmp_path / "a.npz", X_train=np.zeros((4, 3, 6, 6), np.uint8), y_train=[0, 1, 0, 1])
    ds = get_dataset("npz", path=tmp_path / "a.npz")
    assert ds.train.images.shape == (4, 6, 6, 3) and len(ds.test) == 0
    np.savez(tmp_path / "b.npz", x_train=np.zeros((4, 6, 6), np.uint8), y_train=[0, 1, 0, 1])
    assert get_dataset("npz", path=tmp_path / "b.npz").train.images.shape == (4, 6, 6, 1)


def test_npz_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no such file"):
        get_dataset("npz", path=tmp_path / "nope.npz")
    np.savez(tmp_path / "c.npz", images=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DatasetNotFoundError, match=r"\['images'\].*x_train"):
        get_dataset("npz", path=tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", x_train=np.full((2, 4, 4), 3.0), y_train=[0, 1])
    with pytest.raises(ValueError, match=r"floats in \[3.0, 3.0\]"):
        get_dataset("npz", path=tmp_path / "d.npz")


def test_split_rejects_length_mismatch():
    with pytest.raises(ValueError, match="differ in length"):
        Split(np.zeros((3, 2, 2, 1), np.uint8), [0, 1])
