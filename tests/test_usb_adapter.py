"""The USB (semilearn) adapter: config entries, the labeled set semilearn trains on, CPU runs.

semilearn is installed with --no-deps (tox's commands_pre); these tests use the
real package on the CPU, on scikit-learn's digits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
if __import__("importlib").util.find_spec("semilearn") is None:
    pytest.skip(
        "semilearn is not installed (pip install --no-deps semilearn==0.3.2)", allow_module_level=True
    )

from subsel_plugins import available_strategies, get_dataset, get_strategy  # noqa: E402
from subsel_plugins.adapters import usb  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "benchmarks" / "configs" / "usb"
DIGITS_CPU = CONFIGS / "flexmatch_digits_cpu.yaml"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # two torch threads on a shared 2-core machine run several times slower than one
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch):
    monkeypatch.delenv(usb.DEVICE_ENV, raising=False)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


def tiny(tmp_path, **changes) -> dict:
    """The shipped digits CPU config, shrunk to a few iterations and saved under tmp_path."""
    cfg = usb.load_config(DIGITS_CPU)
    cfg.update(
        subsel_strategy="feature_norm",
        save_dir=str(tmp_path / "saved"),
        num_train_iter=4,
        num_eval_iter=2,
        num_log_iter=2,
        batch_size=4,
        uratio=2,
        eval_batch_size=540,
    )
    cfg.update(changes)
    return cfg


# --- config entries -------------------------------------------------------


def test_loader_reads_usb_yaml_with_semilearn(tmp_path):
    cfg = usb.load_config(DIGITS_CPU)
    assert cfg["subsel_strategy"] == "probcover_then_gs"
    assert cfg["subsel_device"] == "cpu"
    assert cfg["gpu"] == "None"  # semilearn's loader keeps USB's `None` as a string
    args, sub = usb.expand_config(cfg)
    assert args.gpu is None
    assert sub.strategy == "probcover_then_gs" and sub.device == "cpu" and sub.hflip is False
    # expanded with semilearn's defaults, algorithm arguments included
    assert args.algorithm == "flexmatch" and args.thresh_warmup is True and args.p_cutoff == 0.95
    assert not any(k.startswith("subsel_") for k in vars(args))


def test_unknown_strategy_lists_the_available_ones(tmp_path):
    cfg = tiny(tmp_path, subsel_strategy="gram_shmidt")
    with pytest.raises(usb.USBConfigError) as err:
        usb.validate_subsel(cfg)
    msg = str(err.value)
    assert "subsel_strategy" in msg and "'gram_shmidt'" in msg
    assert "Did you mean 'gram_schmidt'?" in msg
    for name in available_strategies():
        assert name in msg


def test_missing_strategy(tmp_path):
    cfg = tiny(tmp_path)
    del cfg["subsel_strategy"]
    with pytest.raises(usb.USBConfigError, match="subsel_strategy is missing.*random"):
        usb.validate_subsel(cfg)


@pytest.mark.parametrize(
    "entry, value, match",
    [
        ("subsel_params", {"no_such_param": 1}, "subsel_params .* invalid for strategy 'feature_norm'"),
        ("subsel_params", [1, 2], "subsel_params must be a mapping"),
        ("subsel_features", "no_such_extractor", "unknown feature extractor 'no_such_extractor'"),
        ("subsel_features", "missing/features.npy", "features file 'missing/features.npy' does not exist"),
        ("subsel_features", 3, "subsel_features must be"),
        ("subsel_feature_params", "x", "subsel_feature_params must be a mapping"),
        ("subsel_dataset_params", 1, "subsel_dataset_params must be a mapping"),
        ("subsel_device", "gpu", "subsel_device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got 'gpu'"),
        ("subsel_hflip", "yes", "subsel_hflip must be true or false"),
        (
            "subsel_strategi",
            "random",
            "unknown config entries 'subsel_strategi' .did you mean 'subsel_strategy'",
        ),
    ],
)
def test_invalid_entries_name_the_entry(tmp_path, entry, value, match):
    cfg = tiny(tmp_path, **{entry: value})
    with pytest.raises(usb.USBConfigError, match=match):
        usb.validate_subsel(cfg)


def test_usb_entries_are_checked(tmp_path):
    with pytest.raises(usb.USBConfigError, match="algorithm: unknown USB algorithm 'flexmatc'"):
        usb.expand_config(tiny(tmp_path, algorithm="flexmatc"))
    with pytest.raises(usb.USBConfigError, match="imb_algorithm"):
        usb.expand_config(tiny(tmp_path, imb_algorithm="abc"))
    with pytest.raises(usb.USBConfigError, match="divisible by epoch=3"):
        usb.expand_config(tiny(tmp_path, epoch=3))
    with pytest.raises(usb.USBConfigError, match="net: unknown semilearn network 'wrn_99'"):
        usb.expand_config(tiny(tmp_path, net="wrn_99"))
    with pytest.raises(usb.USBConfigError, match="num_labels must be a positive integer"):
        usb.expand_config(tiny(tmp_path, num_labels=0))


def test_device_environment_overrides_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv(usb.DEVICE_ENV, "auto")
    assert usb.validate_subsel(tiny(tmp_path)).device == "auto"
    monkeypatch.setenv(usb.DEVICE_ENV, "tpu")
    with pytest.raises(usb.USBConfigError, match="got 'tpu'"):
        usb.validate_subsel(tiny(tmp_path))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_says_how_to_run_on_the_cpu(tmp_path):
    with pytest.raises(usb.USBConfigError, match="subsel_device: cpu"):
        usb.run_usb(tiny(tmp_path, subsel_device="cuda"), verbose=False)


def test_dataset_must_be_registered(tmp_path):
    with pytest.raises(
        usb.USBConfigError, match="dataset: 'stl10' is not a registered dataset; available: .*digits"
    ):
        usb.run_usb(tiny(tmp_path, dataset="stl10"), verbose=False)


def test_num_classes_must_match_the_dataset(tmp_path):
    with pytest.raises(usb.USBConfigError, match="num_classes=7, but dataset 'digits' has 10"):
        usb.run_usb(tiny(tmp_path, num_classes=7), verbose=False)


def test_shipped_configs_validate():
    files = sorted(CONFIGS.glob("*.yaml"))
    assert len(files) >= 6
    seen = set()
    for path in files:
        args, sub = usb.expand_config(usb.load_config(path))
        assert sub.strategy in available_strategies()
        seen.add((args.algorithm, args.dataset))
        if args.dataset in ("cifar10", "cifar100"):
            # the paper's Table 1 budget: one label per class, on USB's stock GPU settings
            assert args.num_labels == args.num_classes
            assert sub.device == "cuda" and args.num_train_iter == 1048576
    for alg in ("flexmatch", "simmatch"):
        for ds in ("cifar10", "cifar100", "digits", "fashion_mnist"):
            assert (alg, ds) in seen


# --- selection and features -------------------------------------------------


def test_random_state_defaults_to_the_config_seed(digits):
    sub = usb.SubselConfig(strategy="random")
    X = digits.train.images.reshape(len(digits.train), -1)
    got = usb.select_labeled(sub, X, 10, seed=3)
    assert np.array_equal(got, get_strategy("random", random_state=3).select(X, 10))
    assert not np.array_equal(got, usb.select_labeled(sub, X, 10, seed=4))
    pinned = usb.SubselConfig(strategy="random", params={"random_state": 3})
    assert np.array_equal(usb.select_labeled(pinned, X, 10, seed=4), got)


def test_features_raw_and_npy(tmp_path, digits):
    raw = usb.load_features(usb.SubselConfig("random", features="raw"), digits, "digits", 0)
    assert raw.shape == (1257, 64) and raw.dtype == np.float32 and 0 <= raw.min() and raw.max() <= 1
    path = tmp_path / "f.npy"
    np.save(path, raw[:, ::-1])
    loaded = usb.load_features(usb.SubselConfig("random", features=str(path)), digits, "digits", 0)
    assert np.array_equal(loaded, raw[:, ::-1])
    np.save(path, raw[:100])
    with pytest.raises(usb.USBConfigError, match=r"shape \(100, 64\); expected \(1257, d\)"):
        usb.load_features(usb.SubselConfig("random", features=str(path)), digits, "digits", 0)


@pytest.mark.slow  # a ResNet-18 over the training split: about a minute on a busy CPU
def test_registered_extractor_features_come_through_the_cache(tmp_path, digits):
    from subsel_plugins.features import load_or_compute

    cache = tmp_path / "cache"
    params = {"device": "cpu"}
    sub = usb.validate_subsel(
        {
            "subsel_strategy": "random",
            "subsel_features": "random_resnet18",
            "subsel_feature_params": params,
            "subsel_feature_cache": str(cache),
        }
    )
    F = usb.load_features(sub, digits, "digits", 0)
    assert F.shape == (len(digits.train), 512)
    assert list(cache.rglob("*.npy"))  # computed once, kept in the cache
    assert np.array_equal(
        F, load_or_compute("digits", "train", "random_resnet18", params, 0, cache_dir=cache)
    )


# --- the labeled set semilearn trains on ---------------------------------------


def _semilearn_objects(tmp_path, digits, labeled, **changes):
    args, sub = usb.expand_config(tiny(tmp_path, **changes))
    dd = usb.build_usb_datasets(args, digits, labeled, hflip=sub.hflip)
    with usb.cpu_device():
        alg = usb.build_algorithm(args, dd, "cpu")
    return args, alg


def test_semilearn_trains_on_exactly_the_chosen_rows(tmp_path, digits):
    from semilearn.datasets.cv_datasets.datasetbase import BasicDataset

    # 13 rows (not a multiple of 10 classes) that miss classes 0 and 1: split_ssl_data would refuse
    pool = np.flatnonzero(digits.train.labels >= 2)
    labeled = np.random.default_rng(0).choice(pool, size=13, replace=False)
    args, alg = _semilearn_objects(tmp_path, digits, labeled, num_labels=13)
    lb, ulb, ev = (alg.dataset_dict[k] for k in ("train_lb", "train_ulb", "eval"))
    assert all(isinstance(d, BasicDataset) for d in (lb, ulb))
    # the test split, transformed once up front (the same tensors as USB's PIL evaluation transform)
    assert isinstance(ev, usb._data.PretransformedDataset)
    assert np.array_equal(ev.targets, digits.test.labels)
    images = digits.train.images[..., 0]
    # labeled: the chosen rows, in pick order
    assert len(lb) == 13 and args.lb_dest_len == 13
    assert np.array_equal(lb.data, images[labeled])
    assert np.array_equal(lb.targets, digits.train.labels[labeled])
    # unlabeled: every training example once, in order (idx_ulb is the training row)
    n = len(digits.train)
    assert len(ulb) == n and args.ulb_dest_len == n
    assert np.array_equal(ulb.data, images)
    assert np.array_equal(ulb.targets, digits.train.labels)
    assert len(ev) == len(digits.test)
    # what the labeled loader yields comes from the chosen rows only
    batch = next(iter(alg.loader_dict["train_lb"]))
    assert set(batch["y_lb"].tolist()) <= set(digits.train.labels[labeled].tolist())
    assert set(batch["idx_lb"].tolist()) <= set(range(13))
    item = ulb[7]
    assert item["idx_ulb"] == 7 and item["x_ulb_w"].shape == (3, 8, 8)
    item = ev[3]
    assert item["idx_lb"] == 3 and item["y_lb"] == digits.test.labels[3] and item["x_lb"].shape == (3, 8, 8)


def test_include_lb_to_ulb_false_leaves_the_rest_unlabeled(tmp_path, digits):
    labeled = np.array([5, 900, 17])
    args, alg = _semilearn_objects(tmp_path, digits, labeled, num_labels=3, include_lb_to_ulb=False)
    ulb = alg.dataset_dict["train_ulb"]
    rest = np.setdiff1d(np.arange(len(digits.train)), labeled)
    assert len(ulb) == len(rest)
    assert np.array_equal(ulb.data, digits.train.images[rest][..., 0])


def test_cpu_shim_is_confined_to_its_block():
    original = (torch.Tensor.cuda, torch.nn.Module.cuda, torch.cuda.Event, torch.cuda.set_device)
    t = torch.ones(2)
    with usb.cpu_device():
        assert t.cuda(0) is t
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        end.record()
        assert start.elapsed_time(end) >= 0
        with pytest.raises(RuntimeError, match="boom"):
            with usb.cpu_device():
                raise RuntimeError("boom")
    assert (torch.Tensor.cuda, torch.nn.Module.cuda, torch.cuda.Event, torch.cuda.set_device) == original


def test_import_shim_leaves_no_stub_behind(tmp_path):
    # a fresh interpreter: the first `import semilearn` is the one that needs the shim
    code = textwrap.dedent(
        """
        import importlib.util, json, sys
        from subsel_plugins.adapters.usb import import_semilearn, MissingOptionalDependency
        from subsel_plugins.adapters.usb._compat import missing_optional_modules
        missing = missing_optional_modules()
        import_semilearn()
        import torch.utils
        out = {"missing": missing,
               "left": [m for m in sys.modules if m.split(".")[0] in missing or m in missing],
               "tb_attr": type(getattr(torch.utils, "tensorboard", None)).__name__}
        for name in missing:
            try:
                __import__(name)
                out.setdefault("imported", []).append(name)
            except ImportError:
                pass
        if "wandb" in missing:
            from semilearn.core.hooks import wandb as hook
            try:
                hook.wandb.init()
            except MissingOptionalDependency as exc:
                out["message"] = str(exc)
        print(json.dumps(out))
        """
    )
    # run outside the repository root, whose subsel_plugins/ source dir would shadow the install
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(tmp_path)
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["left"] == [] and "imported" not in out
    assert out["tb_attr"] != "_StubModule"
    if "wandb" in out["missing"]:
        assert "pip install wandb" in out["message"]


# --- CPU runs --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["flexmatch", "simmatch"])
def test_cpu_run_writes_its_outputs(tmp_path, digits, algorithm):
    cfg = tiny(tmp_path, algorithm=algorithm, save_name=f"{algorithm}_digits")
    metrics = usb.run_usb(cfg, verbose=False)
    out = tmp_path / "saved" / f"{algorithm}_digits"
    assert {"log.txt", "latest_model.pth", "subsel_labeled_idx.npy", "subsel_labeled.json"} <= set(
        os.listdir(out)
    )
    labeled = np.load(out / "subsel_labeled_idx.npy")
    X = digits.train.images.reshape(len(digits.train), -1).astype(np.float32) / 255
    assert np.array_equal(labeled, get_strategy("feature_norm", random_state=0).select(X, 10))
    info = json.loads((out / "subsel_labeled.json").read_text())
    assert info["indices"] == labeled.tolist() and sum(info["class_counts"]) == 10
    assert json.loads((out / "subsel_metrics.json").read_text()) == metrics
    assert metrics["iterations"] == 4 and metrics["num_labels"] == 10 and metrics["device"] == "cpu"
    assert 0.0 <= metrics["eval/top-1-acc"] <= 1.0 and 0.0 <= metrics["eval/best_acc"] <= 1.0
    expanded = usb.load_config(out / "subsel_config.yaml")
    assert expanded["algorithm"] == algorithm and expanded["subsel_strategy"] == "feature_norm"
    assert expanded["subsel_resolved_device"] == "cpu" and expanded["multiprocessing_distributed"] is False
    # the expanded config runs again as it is
    args, sub = usb.expand_config(expanded)
    assert args.num_train_iter == 4 and sub.strategy == "feature_norm"


def test_given_labeled_rows_are_trained_on_without_a_strategy(tmp_path, digits):
    from subsel_plugins import available_strategies

    before = available_strategies()
    cfg = tiny(tmp_path, save_name="given", num_labels=7)
    del cfg["subsel_strategy"]
    rows = np.array([5, 900, 17, 3, 1200, 44, 600])
    metrics = usb.run_usb(cfg, labeled=rows, verbose=False)
    out = tmp_path / "saved" / "given"
    assert np.array_equal(np.load(out / "subsel_labeled_idx.npy"), rows)
    info = json.loads((out / "subsel_labeled.json").read_text())
    assert info["strategy"] is None and info["indices"] == rows.tolist()
    assert metrics["num_labels"] == 7 and metrics["iterations"] == 4
    assert available_strategies() == before  # no registry side channel
    with pytest.raises(usb.USBConfigError, match="subsel_strategy is missing"):
        usb.run_usb(cfg, verbose=False)  # without rows a strategy must choose them


@pytest.mark.parametrize(
    "rows, match",
    [([1, 2], "holds 2 rows but num_labels=3"), ([1, 1, 2], "distinct"), ([1, 2, 10**6], "distinct")],
)
def test_given_labeled_rows_are_checked(tmp_path, rows, match):
    with pytest.raises(usb.USBConfigError, match=match):
        usb.run_usb(tiny(tmp_path, num_labels=3), labeled=rows, verbose=False)


def test_command_line(tmp_path, capsys):
    from ruamel.yaml import YAML

    cfg = tiny(tmp_path, save_name="cli", subsel_strategy="random", subsel_device="cuda")
    path = tmp_path / "c.yaml"
    with open(path, "w") as fh:
        YAML().dump(cfg, fh)
    assert usb.main(["--c", str(path), "--device", "cpu", "-q"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["device"] == "cpu" and metrics["iterations"] == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("subsel_strategy: random", "subsel_strategy: nope"))
    assert usb.main(["--c", str(bad)]) == 2
    assert "unknown strategy 'nope'" in capsys.readouterr().err
