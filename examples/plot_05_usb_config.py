"""
USB: a stock FlexMatch config plus the project's entries
========================================================

`USB <https://github.com/microsoft/Semi-supervised-learning>`_ (the
``semilearn`` package) trains FlexMatch, SimMatch and other semi-supervised
methods from a YAML config. Adding a few ``subsel_*`` entries makes a subsel
strategy choose the labeled set instead of USB's class-balanced random draw.

This example builds the config and checks it the way ``subsel-usb`` does
before any training (training needs a GPU, or minutes per hundred iterations
on a CPU; see :doc:`/guide/usb`). The stock entries come from the shipped
``benchmarks/configs/usb/flexmatch_cifar10_10_0.yaml`` (USB's
``classic_cv/flexmatch/flexmatch_cifar10_40_0.yaml`` with ``num_labels``,
``save_name`` and ``load_path`` changed).
"""

import tempfile
from pathlib import Path

import yaml

from subsel_plugins.adapters.usb import SUBSEL_KEYS, USBConfigError, expand_config, load_config


def repo_root() -> Path:
    here = Path(globals().get("__file__", "examples/x.py")).resolve().parent
    return next(p for p in (here, *here.parents) if (p / "benchmarks" / "configs").is_dir())


shipped = load_config(repo_root() / "benchmarks/configs/usb/flexmatch_cifar10_10_0.yaml")
stock = {k: v for k, v in shipped.items() if not k.startswith("subsel_")}
print(
    f"stock FlexMatch entries: {len(stock)}, e.g. algorithm={stock['algorithm']}, "
    f"net={stock['net']}, num_labels={stock['num_labels']}"
)

# %%
# The project's entries and their defaults (``None``: required):
for key, default in SUBSEL_KEYS.items():
    print(f"{key:24} {default!r}")

# %%
# Add them, then let the adapter expand USB's defaults and validate everything
# (the strategy and its parameters are built once, here).
cfg = dict(stock)
cfg.update(
    subsel_strategy="probcover_then_gs",
    subsel_params={"first__n_classes": 10},
    subsel_features="raw",
    subsel_device="cpu",
)
args, subsel = expand_config(cfg)
print(subsel)
print(
    f"USB arguments after expansion: {len(vars(args))}; p_cutoff={args.p_cutoff}, "
    f"num_train_iter={args.num_train_iter}"
)

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "flexmatch_subsel.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    print(
        f"written {path.name}: {len(path.read_text().splitlines())} lines; "
        f"run it with: subsel-usb --c {path.name}"
    )

# %%
# A mistake in the entries is one clear error before anything runs:
try:
    expand_config({**cfg, "subsel_strategy": "gram_schmit"})
except USBConfigError as exc:
    print("USBConfigError:", exc)
