"""USB (semilearn 0.3.2) adapter: semi-supervised training on a labeled set chosen by a strategy.

Add a few entries to any USB config and run it with ``subsel-usb --c config.yaml``
(or ``python -m subsel_plugins.adapters.usb --c config.yaml``)::

    subsel_strategy: probcover_then_gs   # any name from `subsel strategies`
    subsel_params: {random_state: 0}
    subsel_features: raw                 # or a registered extractor, or path/to/features.npy
    subsel_device: cpu                   # semilearn hard-codes CUDA; this runs it on the CPU

The runner loads the config with semilearn's own loader, builds the dataset
named by USB's ``dataset`` entry from the subsel dataset registry, computes or
loads the features, lets the strategy choose ``num_labels`` training examples
(no class balance assumed), hands exactly those to semilearn as the labeled set
and every training example as the unlabeled set, and trains USB's
``algorithm`` (FlexMatch, SimMatch, FixMatch, ... any of semilearn's
``name2alg``), evaluating on the dataset's test split.

Config entries
--------------
``subsel_strategy`` (required, unless ``run_usb`` is given the labeled rows)
    A registered strategy, ``<first>_then_<second>`` combinations included.
``subsel_params`` (mapping, default ``{}``)
    Its parameters. ``random_state`` defaults to the config's ``seed``.
``subsel_features`` (default ``raw``)
    ``raw`` (flattened pixels in [0, 1]), a registered feature extractor
    (computed once through the feature cache, ``subsel_plugins.features``), or
    the path of an .npy file of shape (n_train, d).
``subsel_feature_params`` (mapping, default ``{}``)
    Passed to the feature extractor.
``subsel_feature_cache`` (directory, default the feature cache's own)
    Where extracted features are cached.
``subsel_dataset_params`` (mapping, default ``{}``)
    Passed to the dataset loader and the feature cache (e.g. ``{root: /data/cifar}``).
    When it sets no ``root``, the loader takes one and USB's folder
    ``data_dir/<dataset>`` exists, that folder is the root (so a stock CIFAR
    config finds the data USB downloaded).
``subsel_device`` (``cuda`` (default, as USB), ``cuda:N``, ``cpu`` or ``auto``)
    ``cpu`` runs semilearn on the CPU with the temporary shim in
    :mod:`._compat`; the ``SUBSEL_USB_DEVICE`` environment variable and
    ``subsel-usb --device`` override it. ``amp`` must be False on the CPU.
``subsel_hflip`` (bool, default true)
    Random horizontal flips in the weak and strong augmentations (false for
    digits, where a flip changes the class).

Everything is checked before data is read, the labeled set chosen or training
started (YAML syntax, entry types against semilearn's defaults, ``seed``, the
strategy's parameters, a features file's shape and values, that
``save_dir/save_name`` can be written); ``subsel-usb`` reports a user error
(any :class:`~subsel_plugins.errors.SubselError`) in one line on stderr with
exit status 2, and shows its traceback with ``--debug``.

Everything else is USB's own, expanded with semilearn's defaults. The runner
trains in one process on one device (USB's ``multiprocessing_distributed``
launcher is not used); ``imb_algorithm`` is not supported.

Outputs, in ``save_dir/save_name`` beside USB's ``log.txt``,
``latest_model.pth`` and ``model_best.pth``: ``subsel_labeled_idx.npy`` (the
chosen training rows, in pick order; labeled example ``i`` is row ``i`` of
it), ``subsel_labeled.json`` (the same with their labels and class counts),
``subsel_config.yaml`` (the fully expanded config that ran) and
``subsel_metrics.json`` (what :func:`run_usb` returns).

Python API
----------
``run_usb(config, labeled=None, *, device=None, verbose=True) -> dict``
    ``config`` is a dict or a YAML path; ``labeled`` (training rows, as many
    as ``num_labels``) skips selection and trains on exactly those rows;
    returns the final metrics
    (``eval/top-1-acc``, ``eval/balanced_acc``, ``eval/F1``, ``eval/best_acc``,
    ``eval_curve``, ``num_labels``, ``labeled_classes``, ``train_seconds``, ...).

Networks
--------
Besides semilearn's own (``wrn_28_2``, ...), ``net: subsel_cnn`` is a small
CNN that converges on a CPU (:mod:`._nets`; registered with semilearn's
network builder when :func:`import_semilearn` runs).

Dependencies: ``pip install 'subsel-plugins[usb]'`` then
``pip install --no-deps semilearn==0.3.2`` (its declared dependencies pin
wandb, aim, torchaudio and transformers, which image SSL never calls; see
:mod:`._compat` for how their import-time use is handled).
"""

from ._compat import MissingOptionalDependency, cpu_device, import_semilearn
from ._config import (
    DEVICE_ENV,
    SUBSEL_KEYS,
    SubselConfig,
    USBConfigError,
    expand_config,
    load_config,
    validate_subsel,
)
from ._data import build_usb_datasets, usb_transforms
from .runner import build_algorithm, load_features, main, run_usb, select_labeled

__all__ = [
    "run_usb",
    "main",
    "load_config",
    "expand_config",
    "validate_subsel",
    "select_labeled",
    "load_features",
    "build_usb_datasets",
    "build_algorithm",
    "usb_transforms",
    "import_semilearn",
    "cpu_device",
    "SubselConfig",
    "USBConfigError",
    "MissingOptionalDependency",
    "SUBSEL_KEYS",
    "DEVICE_ENV",
]
