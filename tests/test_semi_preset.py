"""The semi-supervised check (issue 23): the `semi` preset, the CPU network, the fast transforms, resume.

The semilearn parts use the real package on the CPU with tiny sizes (a few
iterations on scikit-learn's digits).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cli, harness, report, semi  # noqa: E402
from benchmarks.config import (  # noqa: E402
    FRAMEWORK_LABELS,
    SEMI_CLAIMS,
    SEMI_STRATEGIES,
    BenchConfig,
    preset,
)
from subsel_plugins import get_dataset, get_evaluation  # noqa: E402
from subsel_plugins.errors import InvalidValueError  # noqa: E402

# --- the preset and the command line (no training) ---------------------------


def test_semi_preset_is_the_papers_table_1_grid():
    cfg = preset("semi")
    cfg.validate()
    assert cfg.datasets == ["fashion_mnist"]
    assert [d["extractor"] for d in cfg.domains.values()] == ["efficientnet_lite0"]
    assert cfg.strategies == list(SEMI_STRATEGIES) and len(SEMI_STRATEGIES) == 7
    assert cfg.budget_multipliers == [1, 2] and len(cfg.seeds) >= 5
    assert cfg.frameworks == {"flexmatch": {"name": "flexmatch", "params": {"preset": "cpu"}}}
    assert cfg.norm_correlation is None
    # every claim compares two strategies of the grid
    assert {s for pair in SEMI_CLAIMS for s in pair} <= set(SEMI_STRATEGIES)
    assert ("gram_schmidt", "feature_norm") in SEMI_CLAIMS and len(SEMI_CLAIMS) == 4


def test_semi_preset_runs_with_fewer_seeds_for_a_quick_look():
    args = cli.build_parser().parse_args(["--preset", "semi", "--seeds", "2"])
    cfg = cli.config_from_args(args)
    assert cfg.seeds == [0, 1]
    assert cfg.frameworks == preset("semi").frameworks and cfg.strategies == preset("semi").strategies


def test_the_smoke_configuration_is_named_as_one():
    args = cli.build_parser().parse_args(
        ["--preset", "quick", "--frameworks", "flexmatch_smoke", "--strategies", "random", "--budgets", "2"]
    )
    cfg = cli.config_from_args(args)
    assert cfg.frameworks == {"flexmatch_smoke": {"name": "flexmatch", "params": {"preset": "smoke"}}}
    # the table entry is a copy: changing a run's config leaves the known labels alone
    cfg.frameworks["flexmatch_smoke"]["params"]["preset"] = "paper"
    assert FRAMEWORK_LABELS["flexmatch_smoke"]["params"]["preset"] == "smoke"
    # a bare `flexmatch` is the configuration that learns
    assert get_evaluation("flexmatch").preset == "cpu"
    assert get_evaluation("simmatch").get_params()["preset"] == "cpu"


def test_an_unknown_usb_preset_fails_before_any_cell():
    cfg = BenchConfig(
        datasets=["digits"],
        frameworks={"fm": {"name": "flexmatch", "params": {"preset": "fast"}}},
        strategies=["random"],
        budget_multipliers=[1],
        seeds=[0],
    )
    with pytest.raises(InvalidValueError, match=r"frameworks\['fm'\].*preset must be one of .*'fast'"):
        cfg.validate()


# --- the docs tables: paired differences per seed ------------------------------


def _rows(acc):
    """Result rows from {(strategy, seed, budget): accuracy}."""
    return [{"strategy": s, "seed": seed, "budget": b, "accuracy": a} for (s, seed, b), a in acc.items()]


def test_claim_differences_pair_by_seed_and_average_budgets_per_seed_first():
    acc = {}
    diffs = {10: [0.02, 0.04, -0.01], 20: [0.00, 0.06, 0.01]}
    for b, ds in diffs.items():
        for seed, d in enumerate(ds):
            acc[("random", seed, b)] = 0.5 + 0.1 * seed
            acc[("feature_norm", seed, b)] = 0.5 + 0.1 * seed + d
    acc[("feature_norm", 7, 10)] = 0.9  # no random row at seed 7: not a pair
    st = report.claim_differences(_rows(acc), "feature_norm", "random")
    assert st[10]["n_seeds"] == 3 and (st[10]["up"], st[10]["down"], st[10]["tie"]) == (2, 1, 0)
    assert st[10]["mean"] == pytest.approx(np.mean(diffs[10]))
    assert st[10]["se"] == pytest.approx(np.std(diffs[10], ddof=1) / np.sqrt(3))
    assert (st[20]["up"], st[20]["down"], st[20]["tie"]) == (2, 0, 1)
    per_seed = np.mean([diffs[10], diffs[20]], axis=0)  # [0.01, 0.05, 0.0]
    assert st["all"]["n_seeds"] == 3 and st["all"]["mean"] == pytest.approx(per_seed.mean())
    assert st["all"]["se"] == pytest.approx(np.std(per_seed, ddof=1) / np.sqrt(3))
    assert report.claim_differences(_rows(acc), "gram_schmidt", "random") == {}


def test_semi_tables_say_how_much_of_the_grid_is_done():
    acc = {
        (s, seed, 10): 0.5 + 0.01 * i + 0.001 * seed for i, s in enumerate(SEMI_STRATEGIES) for seed in (0, 1)
    }
    one = report.semi_tables(_rows({k: v for k, v in acc.items() if k[1] == 0}), SEMI_CLAIMS, 10)
    assert "| feature_norm - random | +1.0 (n=1; 1 up, 0 down) |" in one and "| random | 50.0 (n=1) |" in one
    text = report.semi_tables(_rows(acc), SEMI_CLAIMS, 10, planned=70)
    assert "Cells done: 14 of 70 (partial)" in text
    # feature_norm is 1 point above random at both seeds
    assert "| feature_norm - random | +1.0 ± 0.0 (n=2; 2 up, 0 down) |" in text
    assert "1 per class (b=10)" in text and "both budgets" in text
    assert "(complete)" in report.semi_tables(_rows(acc), SEMI_CLAIMS, 10, planned=14)


def test_sanity_rows_are_class_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 7)
    rows = semi.sanity_rows(labels, 4, seed=3, num_classes=10)
    assert len(np.unique(rows)) == 40 and np.all(np.bincount(labels[rows], minlength=10) == 4)
    assert np.array_equal(rows, semi.sanity_rows(labels, 4, seed=3, num_classes=10))
    assert not np.array_equal(rows, semi.sanity_rows(labels, 4, seed=4, num_classes=10))
    with pytest.raises(InvalidValueError, match="labels_per_class=8.*class 0 has 7"):
        semi.sanity_rows(labels, 8, seed=0, num_classes=10)


def test_sanity_table_and_curve_tail():
    curve = [[i * 10, 0.1 + 0.005 * i] for i in range(1, 11)]  # best after 80 minus best up to 80: +0.010
    rows = [
        {"algorithm": "flexmatch", "seed": 0, "labels_per_class": 4, "accuracy": 0.70, "eval_curve": curve},
        {
            "algorithm": "fullysupervised",
            "seed": 0,
            "labels_per_class": 4,
            "accuracy": 0.55,
            "eval_curve": curve,
        },
    ]
    text = report.sanity_table(rows)
    assert "| 0 | 70.0 | 55.0 | +15.0 |" in text
    assert "4 labeled images per class, 600 iterations" in text
    longer = {
        **rows[0],
        "settings": {"preset": "cpu", "overrides": {"num_train_iter": 1200}},
        "accuracy": 0.72,
    }
    text2 = report.sanity_table([*rows, longer])
    assert "4 labeled images per class, 1200 iterations" in text2 and "| 0 | 72.0 |" in text2
    assert "best before it: +1.0 to +1.0 points across 1 seed(s)" in text
    # one seed has no standard error
    assert "| mean ± SE | 70.0 (n=1) | 55.0 (n=1) | +15.0 (n=1) |" in text
    # a curve that peaked before its last fifth has stopped rising
    assert report._tail_change([[10, 0.5], [20, 0.7], [30, 0.6], [40, 0.65], [50, 0.66]]) == pytest.approx(
        -0.04
    )


# --- semilearn: the small CNN, the transforms, a tiny resumable grid ----------------

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
needs_semilearn = pytest.mark.skipif(
    __import__("importlib").util.find_spec("semilearn") is None, reason="semilearn is not installed"
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@needs_semilearn
def test_small_cnn_is_registered_with_semilearns_net_builder():
    from subsel_plugins.adapters import usb

    usb.import_semilearn()
    from semilearn.core.utils import get_net_builder

    builder = get_net_builder("subsel_cnn", False)
    net = builder(num_classes=7)
    for size in (8, 28, 32):
        out = net(torch.zeros(3, 3, size, size))
        assert out["logits"].shape == (3, 7) and out["feat"].shape == (3, net.num_features)
    feat = net(torch.zeros(2, 3, 28, 28), only_feat=True)
    assert net(feat, only_fc=True).shape == (2, 7)
    nwd = set(net.no_weight_decay())
    assert "classifier.bias" in nwd and "classifier.weight" not in nwd
    assert any(n.endswith("1.weight") for n in nwd)  # a BatchNorm weight: no decay, as WRN's
    assert not any(n.startswith("features.0.") for n in nwd)  # a conv weight decays
    assert sum(p.numel() for p in net.parameters()) < 100_000
    # expand_config accepts it; an unknown name still lists it among the available ones
    cfg = {"algorithm": "flexmatch", "net": "subsel_cnn", "dataset": "digits", "num_classes": 10}
    args, _ = usb.expand_config(cfg, need_strategy=False)
    assert args.net == "subsel_cnn"
    with pytest.raises(usb.USBConfigError, match="unknown semilearn network 'subsel_nn'.*subsel_cnn"):
        usb.expand_config({**cfg, "net": "subsel_nn"}, need_strategy=False)


@needs_semilearn
@pytest.mark.parametrize("name", ["fashion_mnist", "digits"])
def test_fast_transforms_draw_exactly_what_torchvisions_pil_pipeline_draws(name):
    from PIL import Image
    from torchvision import transforms as T

    from subsel_plugins.adapters import usb

    usb.import_semilearn()  # before any semilearn import: it serves the optional modules semilearn imports
    from semilearn.datasets.augmentation import RandAugment

    from subsel_plugins.adapters.usb._data import PretransformedDataset, ToRGB, usb_transforms

    d = get_dataset(name)
    imgs = np.asarray(d.test.images[:12])[..., 0]
    s = imgs.shape[1]
    mean, std = [0.3, 0.4, 0.5], [0.2, 0.25, 0.3]
    weak, strong, evaluation = usb_transforms(s, 0.875, mean, std, hflip=True)
    pad = int(s * (1 - 0.875))
    crop = [T.Resize(s), T.RandomCrop(s, padding=pad, padding_mode="reflect"), T.RandomHorizontalFlip()]
    tail = [T.ToTensor(), T.Normalize(mean, std)]
    ref = {
        "weak": T.Compose([ToRGB(), *crop, *tail]),
        "strong": T.Compose([ToRGB(), *crop, RandAugment(3, 5), *tail]),
    }
    for kind, fast in (("weak", weak), ("strong", strong)):
        torch.manual_seed(5), random.seed(5), np.random.seed(5)  # noqa: NPY002 - RandAugment draws from all three
        want = torch.stack([ref[kind](Image.fromarray(im)) for im in imgs])
        torch.manual_seed(5), random.seed(5), np.random.seed(5)  # noqa: NPY002
        got = torch.stack([fast(Image.fromarray(im)) for im in imgs])
        assert torch.allclose(got, want, atol=1e-6), kind
    ev = PretransformedDataset(imgs[..., None], d.test.labels[:12], evaluation, s, mean, std)
    want = torch.stack([evaluation(Image.fromarray(im)) for im in imgs])
    assert torch.allclose(ev.data, want, atol=1e-6)


def tiny_semi(**kw):
    overrides = {"num_train_iter": 4, "batch_size": 4, "uratio": 1, "eval_batch_size": 540}
    cfg = dict(
        preset="semi-test",
        datasets=["digits"],
        domains={"raw": {"extractor": "raw", "params": {}, "seed": 0}},
        strategies=["random", "feature_norm"],
        frameworks={"flexmatch": {"name": "flexmatch", "params": {"preset": "cpu", "overrides": overrides}}},
        budget_multipliers=[1],
        seeds=[0],
        norm_correlation=None,
        frechet=False,
        device="cpu",
    )
    cfg.update(kw)
    return BenchConfig(**cfg)


@needs_semilearn
@pytest.mark.slow  # two FlexMatch cells of 4 iterations with real semilearn: about 20 s on a busy CPU
def test_a_killed_semi_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    cfg = tiny_semi()
    calls = []
    real = harness.evaluate

    def dies_on_the_second_cell(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is killed during the second cell
        return real(*a, **k)

    monkeypatch.setattr(harness, "evaluate", dies_on_the_second_cell)
    with pytest.raises(KeyboardInterrupt):
        harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
    rows = harness.read_jsonl(tmp_path / harness.RESULTS)
    assert [r["strategy"] for r in rows] == ["random"]
    monkeypatch.setattr(harness, "evaluate", real)
    summary = harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
    assert summary["done"] == 1 and summary["skipped"] == 1
    rows = harness.read_jsonl(tmp_path / harness.RESULTS)
    assert [r["strategy"] for r in rows] == ["random", "feature_norm"]
    for r in rows:
        extra = r["extra"]
        assert extra["iterations"] == 4 and 0.0 <= r["accuracy"] <= 1.0
        # ten points when num_train_iter is overridden (every 4 // 10 -> 1 iteration here)
        assert [it for it, _ in extra["eval_curve"]] == [1, 2, 3, 4]
        assert extra["eval_curve"][-1][1] == pytest.approx(r["accuracy"])
        assert 0 < r["eval_cpu_s"] and r["eval_time_s"] > 0
    # the report and the docs tables read the same rows
    summary = harness.run_grid(cfg, tmp_path, progress=False, log=lambda *a: None)
    assert summary["done"] == 0 and summary["skipped"] == 2
    report.write_manifest(cfg, tmp_path, summary, "start", argv=["test"])
    out = tmp_path / "docs"
    semi.write_docs(tmp_path, tmp_path, out, tmp_path / "curve.png")
    text = (out / "semi_table.md").read_text()
    assert "Cells done: 2 of 2 (complete)" in text and "feature_norm - random" in text
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"]["frameworks"] == cfg.frameworks


@needs_semilearn
@pytest.mark.parametrize("algorithm", ["flexmatch", "simmatch", "fullysupervised"])
def test_usb_algorithms_train_the_small_cnn_and_record_the_curve(tmp_path, algorithm):
    from subsel_plugins.evaluation import SemiSupervisedUSB
    from subsel_plugins.evaluation._base import EvalData

    d = get_dataset("digits")
    data = EvalData(d.train.labels, d.test.labels, 10, d.train.images, d.test.images, name="digits")
    rows = semi.sanity_rows(d.train.labels, 1, seed=0, num_classes=10)
    ev = SemiSupervisedUSB(
        algorithm,
        preset="cpu",
        overrides={"num_train_iter": 4, "num_eval_iter": 2, "batch_size": 4, "uratio": 1},
        device="cpu",
    )
    res = ev.evaluate(data, rows, seed=0)
    assert res["iterations"] >= 4
    its = [it for it, _ in res["eval_curve"]]
    assert its[:2] == [2, 4]
    assert 0.0 <= res["accuracy"] <= 1.0
