"""The feature cache: hit, miss, corrupt and partial files, atomic writes, trained encoders."""

import json
import os
import shutil

import numpy as np
import pytest

import subsel_plugins
from subsel_plugins import registry
from subsel_plugins.errors import InvalidValueError
from subsel_plugins.features import FeatureExtractor, _cache, default_cache_dir, load_or_compute
from subsel_plugins.hookspecs import hookimpl


class CountingMean(FeatureExtractor):
    """Per-image channel means times ``scale``; counts how often it really computes."""

    name = "counting_mean"
    calls = 0
    fail = False

    def __init__(self, scale=1.0):
        self.scale = scale

    def _transform(self, images):
        type(self).calls += 1
        if type(self).fail:
            raise RuntimeError("extractor crashed half-way")
        x = np.asarray(images[:], dtype=np.float32)
        return x.reshape(len(x), -1, x.shape[-1]).mean(axis=1) * self.scale


class CountingPlugin:
    @hookimpl
    def subsel_register_feature_extractors(self, register):
        register("counting_mean", CountingMean, "test extractor")


@pytest.fixture
def counting():
    registry.register_plugin(CountingPlugin(), name="counting_test_plugin")
    CountingMean.calls = 0
    CountingMean.fail = False
    try:
        yield CountingMean
    finally:
        registry.unregister_plugin("counting_test_plugin")


def test_miss_then_hit_is_memory_mapped(tmp_path, counting):
    a, path = load_or_compute("digits", "train", "counting_mean", cache_dir=tmp_path, return_path=True)
    assert counting.calls == 1 and a.shape == (1257, 1) and a.dtype == np.float32
    b = load_or_compute("digits", "train", "counting_mean", cache_dir=tmp_path)
    assert counting.calls == 1
    assert isinstance(b, np.memmap) and not b.flags.writeable
    np.testing.assert_array_equal(a, b)
    ds = subsel_plugins.get_dataset("digits")
    np.testing.assert_allclose(b[:, 0], ds.train.images.reshape(1257, -1).mean(axis=1), rtol=1e-5)
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    assert meta["key"]["dataset"] == "digits" and meta["key"]["version"] == subsel_plugins.__version__
    assert meta["size"] == path.stat().st_size and len(meta["sha256"]) == 64
    assert not list(tmp_path.rglob("*.tmp"))


def test_every_key_part_makes_its_own_entry(tmp_path, counting):
    load_or_compute("digits", "train", "counting_mean", cache_dir=tmp_path)
    load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    load_or_compute("digits", "test", "counting_mean", {"scale": 2.0}, cache_dir=tmp_path)
    load_or_compute("digits", "test", "counting_mean", {"scale": 2.0}, seed=1, cache_dir=tmp_path)
    x = load_or_compute(
        "digits", "test", "counting_mean", {"scale": 2.0}, seed=1, cache_dir=tmp_path, limit=7
    )
    assert counting.calls == 5 and x.shape == (7, 1)
    assert len(list(tmp_path.rglob("*.npy"))) == 5


def test_package_version_is_part_of_the_key(tmp_path, counting, monkeypatch):
    load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    monkeypatch.setattr(subsel_plugins, "__version__", "99.0")
    load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    assert counting.calls == 2


def _corrupt_flip(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))


def _keeping_mtime(corrupt):
    """``corrupt`` that leaves the file's modification time as it was (bit rot, restored timestamps)."""

    def run(path):
        st = path.stat()
        corrupt(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    return run


def _corrupt_rewrite(path):
    # A rewrite gets a new modification time; set one explicitly so the test
    # does not rest on the clock's granularity.
    st = path.stat()
    _corrupt_flip(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _corrupt_header(path):
    # same size, same time, other shape: only the .npy header tells
    data = path.read_bytes()
    assert b"(540, 1)" in data[:128]
    _keeping_mtime(lambda p: p.write_bytes(data.replace(b"(540, 1)", b"(1, 540)", 1)))(path)


def _corrupt_truncate(path):
    path.write_bytes(path.read_bytes()[:-40])


def _corrupt_no_sidecar(path):
    path.with_name(path.name + ".json").unlink()


def _corrupt_bad_sidecar(path):
    path.with_name(path.name + ".json").write_text("{not json")


@pytest.mark.parametrize(
    "corrupt",
    [_corrupt_rewrite, _corrupt_header, _corrupt_truncate, _corrupt_no_sidecar, _corrupt_bad_sidecar],
)
def test_corrupt_or_partial_files_are_recomputed_never_used(tmp_path, counting, corrupt):
    good, path = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path, return_path=True)
    good = np.array(good)
    corrupt(path)
    again = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    assert counting.calls == 2
    np.testing.assert_array_equal(again, good)
    load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    assert counting.calls == 2  # the rewritten file verifies again


@pytest.mark.parametrize("which", ["file", "sidecar"])
def test_an_entry_replaced_by_a_directory_is_one_error_before_any_work(tmp_path, counting, which):
    # Issue 22: an IsADirectoryError traceback from the cache, after the features were computed again.
    _, path = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path, return_path=True)
    target = path if which == "file" else path.with_name(path.name + ".json")
    target.unlink()
    target.mkdir()
    with pytest.raises(InvalidValueError, match=r"is a directory where a cache file belongs") as info:
        load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    assert str(target) in str(info.value) and "\n" not in str(info.value)
    assert counting.calls == 1  # refused before computing again


def test_a_write_over_a_directory_is_one_error(tmp_path):
    target = tmp_path / "x.npy"
    target.mkdir()
    with pytest.raises(InvalidValueError, match=r"cannot write .*x.npy \(it is a directory: remove it\)"):
        _cache.save_array(target, np.zeros((2, 2)), {"k": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]  # no temp file left behind


def _no_full_reads(monkeypatch):
    def refuse(path):
        raise AssertionError(f"{path} was read whole")

    monkeypatch.setattr(_cache, "_sha256_file", refuse)


def test_a_hit_reads_no_data(tmp_path, counting, monkeypatch):
    load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    _no_full_reads(monkeypatch)
    x = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    assert counting.calls == 1 and isinstance(x, np.memmap)


def test_bit_rot_passes_the_cheap_check_and_verify_catches_it(tmp_path, counting):
    good, path = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path, return_path=True)
    good = np.array(good)
    _keeping_mtime(_corrupt_flip)(path)
    # the documented limit: same size, header and time; the data is not read
    rotten = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    assert counting.calls == 1 and not np.array_equal(rotten, good)
    again = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path, verify=True)
    assert counting.calls == 2
    np.testing.assert_array_equal(again, good)


def test_a_copied_cache_is_hashed_once_then_hits_cheaply(tmp_path, counting, monkeypatch):
    a, path = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path / "a", return_path=True)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # copies keep the data, not necessarily the time
    copy = tmp_path / "b" / path.relative_to(tmp_path / "a")
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    b = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path / "b")
    assert counting.calls == 1
    np.testing.assert_array_equal(a, b)
    meta = json.loads(copy.with_name(copy.name + ".json").read_text())
    assert meta["mtime_ns"] == copy.stat().st_mtime_ns  # recorded after the checksum passed
    _no_full_reads(monkeypatch)
    load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path / "b")
    assert counting.calls == 1


def test_sidecars_without_a_recorded_time_are_still_used(tmp_path, counting):
    _, path = load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path, return_path=True)
    side = path.with_name(path.name + ".json")
    meta = json.loads(side.read_text())
    del meta["mtime_ns"]  # as written before the cheap hit existed
    side.write_text(json.dumps(meta))
    load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    assert counting.calls == 1 and "mtime_ns" in json.loads(side.read_text())


def test_a_crash_leaves_no_file_behind(tmp_path, counting):
    counting.fail = True
    with pytest.raises(RuntimeError, match="half-way"):
        load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path)
    assert not list(tmp_path.rglob("*.npy")) and not list(tmp_path.rglob("*.tmp"))
    counting.fail = False
    assert load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path).shape == (540, 1)


def test_cache_dir_from_environment(tmp_path, counting, monkeypatch):
    monkeypatch.setenv("SUBSEL_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    load_or_compute("digits", "test", "counting_mean")
    assert len(list((tmp_path / "env").rglob("*.npy"))) == 1
    monkeypatch.delenv("SUBSEL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "subsel-plugins"


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'val'"):
        load_or_compute("digits", "val", "raw", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown feature extractor 'rwa'.*Did you mean 'raw'"):
        load_or_compute("digits", "train", "rwa", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_or_compute("digitz", "train", "raw", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        load_or_compute("digits", "train", "raw", cache_dir=tmp_path, limit=0)


def test_dataset_params_reach_the_loader(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (5, 4, 4, 1), dtype=np.uint8), y_train=[0] * 5)
    x = load_or_compute(
        "npz", "train", "raw", dataset_params={"path": str(tmp_path / "d.npz")}, cache_dir=tmp_path / "c"
    )
    assert x.shape == (5, 16)


def test_simclr_trains_once_and_caches_its_encoder(tmp_path):
    pytest.importorskip("torch")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params = dict(epochs=1, width=4, n_train=64, train_batch_size=32, image_size=8, progress=False)
        test = load_or_compute("digits", "test", "simclr", params, cache_dir=tmp_path)
        models = list((tmp_path / "models").rglob("*.pt"))
        assert len(models) == 1 and test.shape == (540, 32)
        side = json.loads(models[0].with_name(models[0].name + ".json").read_text())
        assert side["fit_seconds"] > 0 and len(side["loss_history"]) == 1
        mtime = models[0].stat().st_mtime_ns
        # the train split reuses the cached encoder, and so does a recomputation of the test split
        load_or_compute("digits", "train", "simclr", params, cache_dir=tmp_path, limit=50)
        for f in (tmp_path / "features").rglob("test-*"):
            f.unlink()
        again = load_or_compute("digits", "test", "simclr", params, cache_dir=tmp_path)
        assert models[0].stat().st_mtime_ns == mtime
        np.testing.assert_allclose(again, test, rtol=1e-4, atol=1e-5)
        # a damaged encoder file is retrained, not loaded
        _corrupt_flip(models[0])
        for f in (tmp_path / "features").rglob("test-*"):
            f.unlink()
        load_or_compute("digits", "test", "simclr", params, cache_dir=tmp_path)
        assert models[0].stat().st_mtime_ns != mtime
    finally:
        torch.set_num_threads(threads)


def test_lazy_imagefolder_features_through_the_cache(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / "tree" / split / cls).mkdir(parents=True)
            for i in range(3):
                arr = rng.integers(0, 256, (9 + i, 7, 3), dtype=np.uint8)
                Image.fromarray(arr).save(tmp_path / "tree" / split / cls / f"{i}.png")
    dp = {"root": str(tmp_path / "tree"), "size": 5}
    x = load_or_compute("imagefolder", "test", "raw", dataset_params=dp, cache_dir=tmp_path / "c")
    assert x.shape == (6, 75)
    other = load_or_compute(
        "imagefolder", "test", "raw", dataset_params={**dp, "size": 4}, cache_dir=tmp_path / "c"
    )
    assert other.shape == (6, 48)


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(limit="x"), TypeError, r"^limit must be a positive integer or None; got 'x'"),
        (dict(limit=True), TypeError, r"^limit must be a positive integer or None; got True"),
        (dict(params=[1]), TypeError, r"^params must be a dict of parameters or None; got \[1\]"),
        (dict(dataset_params="root"), TypeError, r"^dataset_params must be a dict"),
        (dict(seed=-1), ValueError, r"^seed must be an integer >= 0"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(tmp_path, counting, kw, error, match):
    # Issue 22 (adversarial pass): limit="x" and params=[1] ended in int()/dict() tracebacks.
    with pytest.raises(error, match=match):
        load_or_compute("digits", "test", "counting_mean", cache_dir=tmp_path, **kw)
    assert counting.calls == 0
