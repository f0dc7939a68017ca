"""Benchmark configuration and the presets ``quick``, ``fashion``, ``paper``, ``beyond`` and ``semi``."""

from __future__ import annotations

import copy
import hashlib
import json
import numbers
import re
from dataclasses import asdict, dataclass, field

from subsel_plugins.errors import InvalidTypeError, InvalidValueError

#: The paper's baselines combined with the norm criterion and with Gram-Schmidt.
PAPER_COMBINATIONS = ("typiclust_then_norm", "probcover_then_norm", "typiclust_then_gs", "probcover_then_gs")

#: The Fashion-MNIST table's strategies (issue 7).
FASHION_STRATEGIES = (
    "random",
    "feature_norm",
    "gram_schmidt",
    "typiclust",
    "probcover",
    "typiclust_then_norm",
    "probcover_then_gs",
)


@dataclass(frozen=True)
class StrategySpec:
    """One strategy entry of a grid: its label in the results, the registered name and its parameters.

    The label is the ``strategy`` field of each results row (its key), so one
    registered strategy can appear several times with different parameters,
    e.g. ``typiclust_then_norm`` at ``factor`` 1.25 and 3. A bare name has no
    parameters and is its own label (rows of older runs keep their keys).
    """

    label: str
    name: str
    params: dict = field(default_factory=dict, hash=False)


#: Keys of a strategy entry given as a mapping (config file).
SPEC_KEYS = ("name", "params", "label")


def spec_label(name: str, params: dict) -> str:
    """``name`` or ``name:key=value,...`` (keys sorted): the default label of an entry with parameters."""
    if not params:
        return name
    return name + ":" + ",".join(f"{k}={params[k]}" for k in sorted(params))


def parse_strategy_entry(entry, where: str = "strategies") -> StrategySpec:
    """A :class:`StrategySpec` from a name, ``"name:key=value,key=value"`` or a mapping.

    A mapping has ``name`` and optionally ``params`` (a mapping) and ``label``;
    values in the text form are Python literals where they are one
    (``factor=1.5``, ``norm='l1'`` or ``norm=l1``).

    Raises
    ------
    InvalidTypeError, InvalidValueError
        Naming ``where`` (the list and position) and what was expected.
    """
    if isinstance(entry, StrategySpec):
        return entry
    if isinstance(entry, str):
        text = entry.strip()
        name, sep, rest = text.partition(":")
        name = name.strip()
        if not name:
            raise InvalidValueError(
                f"{where}: {entry!r} has no strategy name; expected NAME or NAME:KEY=VALUE,..."
            )
        params = {}
        if sep:
            from subsel_plugins.cli import UsageError, parse_param

            items = [t for t in rest.split(",")]
            if not any(t.strip() for t in items):
                raise InvalidValueError(
                    f"{where}: {entry!r} has a ':' but no parameters; expected NAME:KEY=VALUE[,KEY=VALUE...]."
                )
            for item in items:
                try:
                    key, value = parse_param(item)
                except UsageError:
                    raise InvalidValueError(
                        f"{where}: {entry!r}: {item.strip()!r} is not KEY=VALUE; "
                        "expected NAME:KEY=VALUE[,KEY=VALUE...]."
                    ) from None
                if key in params:
                    raise InvalidValueError(f"{where}: {entry!r} gives {key!r} twice.")
                params[key] = value
        return StrategySpec(spec_label(name, params), name, params)
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - set(SPEC_KEYS))
        if unknown:
            raise InvalidValueError(
                f"{where}: unknown key(s) {unknown} in {entry!r}; expected {list(SPEC_KEYS)}."
            )
        name, params, label = entry.get("name"), entry.get("params") or {}, entry.get("label")
        if not isinstance(name, str) or not name.strip():
            raise InvalidTypeError(f"{where}: {entry!r} needs a 'name' (a registered strategy name).")
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise InvalidTypeError(f"{where}: 'params' of {entry!r} must be a mapping of parameter names.")
        if label is not None and (not isinstance(label, str) or not label.strip()):
            raise InvalidTypeError(f"{where}: 'label' of {entry!r} must be a non-empty string.")
        name = name.strip()
        return StrategySpec(label.strip() if label else spec_label(name, params), name, dict(params))
    raise InvalidTypeError(
        f"{where} must hold strategy names, 'NAME:KEY=VALUE,...' strings or mappings "
        f"{{name, params, label}}; got {entry!r}."
    )


def spec_hash(obj) -> str:
    """Short stable hash of a JSON-able spec: part of every result's key."""
    text = json.dumps(obj, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class BenchConfig:
    """One benchmark grid.

    Attributes
    ----------
    preset : str
        Name of the preset this config came from (informational).
    datasets : list of str
        Registered dataset names.
    dataset_params : dict
        Loader parameters by dataset name (e.g. ``{"cifar10": {"root": "/data"}}``).
    domains : dict
        Feature domains by label: ``{"extractor": name, "params": {...}, "seed": int}``.
        Selection runs on these features; the linear probe trains on them.
    strategies : list or None
        Strategy entries: a registered name, ``"name:key=value,..."`` or a
        mapping ``{"name": ..., "params": {...}, "label": ...}`` (see
        :func:`parse_strategy_entry`); the label (by default the name, or
        ``name:key=value,...``) is the strategy's row label in the results,
        so one name may appear with several parameter sets. None means every
        registered strategy plus the paper's baseline-then-norm/GS
        combinations (a plugin's strategy shows up by itself).
    frameworks : dict
        Evaluation frameworks by label: ``{"name": registered name, "params": {...},
        "optional": bool, "only": {"strategies": [...], "budget_multipliers": [...],
        "seeds": [...]}}``. ``optional`` frameworks that cannot run here are
        skipped with a note in the manifest; ``only`` restricts an expensive
        framework to part of the grid (its ``strategies`` are labels).
    budget_multipliers : list of int
        Budgets are ``m * num_classes`` for each ``m`` (the paper: 1..6).
    seeds : list of int
        Each seed drives the strategy, the initial pool and the training.
    initial_pool : bool
        Start from a random labeled pool of ``num_classes`` examples and select
        the rest of each budget on top of it (the paper's Fig. 5).
    train_limit, test_limit : int or None
        Use only the first ``train_limit`` training and ``test_limit`` test
        images (the feature cache's ``limit``: features computed on a prefix
        of a split are reused as they are); None uses the whole split.
    pool_size : int or None
        Use a seeded random subset of this many training examples as the pool
        (to fit a CPU's time); None uses the whole training split.
    pool_draw : None, "first" or int
        Which ``pool_size`` examples: None, a fixed random subset (seed
        ``data.POOL_SEED``); ``"first"``, the first ``pool_size`` (features of
        the whole split, so no second feature cache entry); an int, a random
        subset drawn with that seed. A verdict that holds on one draw may not
        on another: compare at least two.
    norm_correlation : dict or None
        The Fig. 7 analysis: ``{"framework": label, "size_multipliers": [...],
        "subsets": K}`` trains on K uniformly random subsets per size and
        relates accuracy to the subsets' mean feature norm.
    frechet : bool
        Compute the Frechet distance between each subset and the rest of the pool.
    device : str
        Passed to frameworks that take one ("auto": CUDA when available).
    """

    preset: str = "custom"
    datasets: list = field(default_factory=lambda: ["digits"])
    dataset_params: dict = field(default_factory=dict)
    domains: dict = field(default_factory=lambda: {"raw": {"extractor": "raw", "params": {}, "seed": 0}})
    strategies: list | None = None
    frameworks: dict = field(default_factory=lambda: {"linear_probe": {"name": "linear_probe", "params": {}}})
    budget_multipliers: list = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    initial_pool: bool = False
    train_limit: int | None = None
    test_limit: int | None = None
    pool_size: int | None = None
    pool_draw: str | int | None = None
    norm_correlation: dict | None = None
    frechet: bool = True
    device: str = "auto"

    def to_dict(self) -> dict:
        return copy.deepcopy(asdict(self))

    def strategy_specs(self) -> list[StrategySpec] | None:
        """The strategy entries as :class:`StrategySpec` (None: the default set; ``['all']`` as given)."""
        if self.strategies is None:
            return None
        if list(self.strategies) == ["all"]:
            return [StrategySpec("all", "all", {})]
        return [parse_strategy_entry(e, f"strategies[{i}]") for i, e in enumerate(self.strategies)]

    def validate(self) -> None:
        """Check types, values and names before anything runs.

        Errors name the field, the value and what was expected. Names are
        checked against the registries (datasets, feature extractors,
        strategies, evaluations), and every strategy and framework is built
        with its parameters and their checks run, so a typo fails here, not
        after hours of other cells.

        Raises
        ------
        InvalidTypeError, InvalidValueError
            Both :class:`~subsel_plugins.errors.SubselError`\\ s: the bench's
            command line reports them in one line with exit status 2.
        """
        self._check_types()
        self._check_values()
        self._check_names()

    def _check_types(self) -> None:
        def str_list(name, value, allow_none=False):
            if value is None and allow_none:
                return
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise InvalidTypeError(f"{name} must be a list of names; got {value!r}.")

        def int_list(name, value):
            if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
                raise InvalidTypeError(f"{name} must be a list of ints; got {value!r}.")

        def mapping(name, value):
            if not isinstance(value, dict):
                raise InvalidTypeError(f"{name} must be a mapping; got {value!r}.")

        str_list("datasets", self.datasets)
        if self.strategies is not None:
            if not isinstance(self.strategies, (list, tuple)):
                raise InvalidTypeError(
                    f"strategies must be a list of strategy entries; got {self.strategies!r}."
                )
            self.strategy_specs()  # each entry's type and form
        int_list("budget_multipliers", self.budget_multipliers)
        int_list("seeds", self.seeds)
        mapping("dataset_params", self.dataset_params)
        for name, params in self.dataset_params.items():
            mapping(f"dataset_params[{name!r}]", params)
        mapping("domains", self.domains)
        for label, dom in self.domains.items():
            if not isinstance(dom, dict) or not isinstance(dom.get("extractor"), str):
                raise InvalidTypeError(
                    f"domains[{label!r}] must be a dict with an 'extractor' name; got {dom!r}."
                )
            mapping(f"domains[{label!r}]['params']", dom.get("params") or {})
        mapping("frameworks", self.frameworks)
        for label, fw in self.frameworks.items():
            if not isinstance(fw, dict) or not isinstance(fw.get("name"), str):
                raise InvalidTypeError(f"frameworks[{label!r}] must be a dict with a 'name' key; got {fw!r}.")
            mapping(f"frameworks[{label!r}]['params']", fw.get("params") or {})
        for name in ("pool_size", "train_limit", "test_limit"):
            v = getattr(self, name)
            if v is not None and not _is_int(v):
                raise InvalidTypeError(f"{name} must be None or an int >= 2; got {v!r}.")
        for name in ("initial_pool", "frechet"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidTypeError(f"{name} must be true or false; got {getattr(self, name)!r}.")
        if self.pool_draw is not None and self.pool_draw != "first" and not _is_int(self.pool_draw):
            raise InvalidTypeError(
                f"pool_draw must be None, 'first' or an int seed >= 0; got {self.pool_draw!r}."
            )
        if not isinstance(self.device, str):
            raise InvalidTypeError(
                f"device must be a string such as 'auto', 'cpu' or 'cuda'; got {self.device!r}."
            )
        if self.norm_correlation is not None:
            mapping("norm_correlation", self.norm_correlation)

    def _check_values(self) -> None:
        if not self.datasets:
            raise InvalidValueError("datasets is empty; expected at least one registered dataset name.")
        if not self.domains:
            raise InvalidValueError("domains is empty; expected at least one feature domain.")
        if not self.frameworks:
            raise InvalidValueError("frameworks is empty; expected at least one evaluation framework.")
        if self.strategies is not None and not self.strategies:
            raise InvalidValueError(
                "strategies is empty; expected strategy names, or None for the default set."
            )
        if not self.budget_multipliers or any(m < 1 for m in self.budget_multipliers):
            raise InvalidValueError(f"budget_multipliers must be ints >= 1; got {self.budget_multipliers!r}.")
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise InvalidValueError(f"seeds must be non-negative ints; got {self.seeds!r}.")
        for name in ("seeds", "budget_multipliers", "datasets"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise InvalidValueError(f"{name} must be distinct; got {values!r}.")
        labels = [s.label for s in self.strategy_specs() or ()]
        if len(set(labels)) != len(labels):
            twice = sorted({x for x in labels if labels.count(x) > 1})
            raise InvalidValueError(
                f"strategies must be distinct; the label(s) {twice} appear more than once "
                "(give entries with the same name different parameters or a 'label')."
            )
        for name in ("pool_size", "train_limit", "test_limit"):
            v = getattr(self, name)
            if v is not None and v < 2:
                raise InvalidValueError(f"{name} must be None or an int >= 2; got {v!r}.")
        if _is_int(self.pool_draw) and self.pool_draw < 0:
            raise InvalidValueError(
                f"pool_draw must be None, 'first' or an int seed >= 0; got {self.pool_draw!r}."
            )
        if self.pool_draw is not None and self.pool_size is None:
            raise InvalidValueError(
                f"pool_draw={self.pool_draw!r} draws a pool of pool_size examples, but pool_size is None; "
                "set pool_size too."
            )
        if self.initial_pool and min(self.budget_multipliers) < 2:
            raise InvalidValueError(
                "initial_pool=True starts from num_classes labeled examples, so every budget multiplier "
                f"must be >= 2; got {self.budget_multipliers!r}."
            )
        if not _DEVICE_RE.match(self.device):
            raise InvalidValueError(
                f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {self.device!r}."
            )
        nc = self.norm_correlation
        if nc is not None:
            if nc.get("framework") not in self.frameworks:
                raise InvalidValueError(
                    f"norm_correlation['framework'] must be one of the frameworks {list(self.frameworks)}; "
                    f"got {nc.get('framework')!r}."
                )
            subsets = nc.get("subsets", 0)
            if not _is_int(subsets) or subsets < 3:
                raise InvalidValueError(f"norm_correlation['subsets'] must be an int >= 3; got {subsets!r}.")
            sizes = nc.get("size_multipliers", [1])
            if (
                not isinstance(sizes, (list, tuple))
                or not sizes
                or not all(_is_int(m) and m >= 1 for m in sizes)
            ):
                raise InvalidValueError(
                    f"norm_correlation['size_multipliers'] must be a list of ints >= 1; got {sizes!r}."
                )

    def _check_names(self) -> None:
        from subsel_plugins import available_datasets, get_evaluation, get_feature_extractor
        from subsel_plugins.cli import checked_strategy, with_context
        from subsel_plugins.errors import SubselError

        known = available_datasets()
        for name in self.datasets:
            if name not in known:
                raise InvalidValueError(f"datasets: unknown dataset {name!r}; available: {', '.join(known)}.")
        for label, dom in self.domains.items():
            try:
                get_feature_extractor(dom["extractor"], **(dom.get("params") or {}))
            except SubselError as exc:
                raise with_context(exc, f"domains[{label!r}]: ") from None
            seed = dom.get("seed", 0)
            if not _is_int(seed) or seed < 0:
                raise InvalidValueError(f"domains[{label!r}]['seed'] must be an int >= 0; got {seed!r}.")
        if self.strategies is not None and list(self.strategies) != ["all"]:
            for spec in self.strategy_specs():
                if "random_state" in spec.params:
                    raise InvalidValueError(
                        f"strategies: {spec.label!r} sets random_state; the harness seeds every strategy "
                        "from the grid's seeds."
                    )
                try:
                    checked_strategy(spec.name, {**spec.params, "random_state": self.seeds[0]})
                except SubselError as exc:
                    prefix = f"strategies: {spec.label!r}: " if spec.params else "strategies: "
                    raise with_context(exc, prefix) from None
        for label, fw in self.frameworks.items():
            try:
                ev = get_evaluation(fw["name"], **(fw.get("params") or {}))
                check = getattr(ev, "check_params", None) or getattr(ev, "_check_params", None)
                if callable(check):
                    check()
            except SubselError as exc:
                raise with_context(exc, f"frameworks[{label!r}]: ") from None


_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _quick() -> BenchConfig:
    # FlexMatch/SimMatch (framework iii) are not in the quick grid: a cell that
    # learns costs minutes on a CPU (the `semi` preset runs them). The 60-iteration
    # plumbing check, for CI only (its accuracy is at chance), is the framework
    # label `flexmatch_smoke`: `--frameworks flexmatch_smoke --strategies random --budgets 2`.
    return BenchConfig(
        preset="quick",
        datasets=["digits"],
        domains={"raw": {"extractor": "raw", "params": {}, "seed": 0}},
        strategies=None,
        frameworks={
            "linear_probe": {"name": "linear_probe", "params": {}},
            # A small CNN stands in for ResNet-18 on 8 x 8 digits: ResNet-18
            # costs minutes per cell on two cores. No flip (it changes digits),
            # a 1-pixel crop jitter.
            "supervised_cnn": {
                "name": "supervised",
                "params": {
                    "arch": "small_cnn",
                    "epochs": 60,
                    "lr": 0.05,
                    "flip": False,
                    "crop_padding": 1,
                },
            },
        },
        budget_multipliers=[1, 2, 3, 4, 5, 6],
        seeds=[0, 1, 2],
        norm_correlation={"framework": "linear_probe", "size_multipliers": [1, 3], "subsets": 30},
    )


def _fashion() -> BenchConfig:
    return BenchConfig(
        preset="fashion",
        datasets=["fashion_mnist"],
        domains={
            "simclr_cpu": {"extractor": "simclr", "params": {"preset": "cpu"}, "seed": 0},
            "efficientnet_lite0": {"extractor": "efficientnet_lite0", "params": {}, "seed": 0},
        },
        strategies=list(FASHION_STRATEGIES),
        frameworks={"linear_probe": {"name": "linear_probe", "params": {}}},
        # The cached CPU features cover the first 10,000 training and 2,000 test
        # images (the SimCLR cpu preset trains on 10k images too); ProbCover's
        # ball graph and TypiClust's KMeans on a 60k pool cost far more than the
        # linear probe on two cores. `--train-limit 60000 --test-limit 10000` for all.
        train_limit=10000,
        test_limit=2000,
        budget_multipliers=[1, 2, 3, 4, 5, 6],
        seeds=[0, 1, 2, 3, 4],
        norm_correlation={"framework": "linear_probe", "size_multipliers": [2, 3], "subsets": 50},
    )


def _paper() -> BenchConfig:
    supervised = {"name": "supervised", "params": {"arch": "resnet18", "epochs": 200}}
    return BenchConfig(
        preset="paper",
        # Tiny-ImageNet: add `imagefolder` with dataset_params {"imagefolder": {"root": ...}}.
        # CIFAR loaders read torchvision's download folder: `--data-root DIR`.
        datasets=["cifar10", "cifar100"],
        domains={"simclr": {"extractor": "simclr", "params": {"preset": "paper"}, "seed": 0}},
        strategies=["random", "feature_norm", "gram_schmidt", "typiclust", "probcover", *PAPER_COMBINATIONS],
        frameworks={
            "supervised": supervised,
            "linear_probe": {"name": "linear_probe", "params": {"lr": 2.5, "epochs": 400}},
            "flexmatch": {"name": "flexmatch", "params": {"preset": "paper"}},
            "simmatch": {"name": "simmatch", "params": {"preset": "paper"}},
        },
        budget_multipliers=[1, 2, 3, 4, 5, 6],
        seeds=[0, 1, 2],
        norm_correlation={"framework": "supervised", "size_multipliers": [2, 3, 20, 30], "subsets": 100},
    )


#: Factors of the "then" sweep (issue 14): the first stage proposes factor x budget candidates.
THEN_FACTORS = (1.25, 1.5, 3)


def probe_frameworks(normalizations=("l2", "standard"), **params) -> dict:
    """Linear-probe framework entries, one per feature normalization (the probe as a grid factor).

    ``"l2"`` keeps the label ``linear_probe`` and the probe's default
    parameters (so its results key is the one of earlier runs); the others
    are ``linear_probe_<normalization>`` with ``normalize`` set.
    """
    out = {}
    for norm in normalizations:
        if norm == "l2":
            out["linear_probe"] = {"name": "linear_probe", "params": dict(params)}
        else:
            out[f"linear_probe_{norm or 'none'}"] = {
                "name": "linear_probe",
                "params": {**params, "normalize": norm},
            }
    return out


#: The variants of issue 14 that keep TypiClust's coverage, and Gram-Schmidt past the rank of the features.
BEYOND_VARIANTS = (
    "typiclust_norm",
    "typiclust_gs",
    "gram_schmidt_centered",
    "gram_schmidt:exhausted=restart",
)


def _beyond() -> BenchConfig:
    sweep = [
        {"name": f"typiclust_then_{second}", "params": {"factor": f}}
        for second in ("norm", "gs")
        for f in THEN_FACTORS
    ]
    return BenchConfig(
        preset="beyond",
        datasets=["digits", "fashion_mnist"],
        domains={
            "raw": {"extractor": "raw", "params": {}, "seed": 0},
            "efficientnet_lite0": {"extractor": "efficientnet_lite0", "params": {}, "seed": 0},
        },
        # the paper's combinations run at the default factor 2; the sweep adds 1.25, 1.5 and 3
        strategies=[
            "random",
            "feature_norm",
            "gram_schmidt",
            "typiclust",
            "probcover",
            *PAPER_COMBINATIONS,
            *BEYOND_VARIANTS,
            *sweep,
        ],
        frameworks=probe_frameworks(("l2", "standard")),
        # Fashion-MNIST: the cached 10k/2k prefix, and a fixed random 2,000 of it as
        # the pool (TypiClust's KMeans and ProbCover's graph on the whole 10k cost
        # 6-10 s per selection on one core); digits' 1,257 training images are all pool
        train_limit=10000,
        test_limit=2000,
        pool_size=2000,
        budget_multipliers=[1, 2, 3, 4, 5, 6],
        seeds=[0, 1, 2, 3, 4],
        norm_correlation=None,
    )


#: The strategies of the semi-supervised check of the paper's Table 1 (issue 23).
SEMI_STRATEGIES = (
    "random",
    "feature_norm",
    "gram_schmidt",
    "typiclust",
    "typiclust_then_gs",
    "probcover",
    "probcover_then_gs",
)

#: The paper's four semi-supervised claims, as (better, baseline) strategy pairs.
SEMI_CLAIMS = (
    ("feature_norm", "random"),
    ("gram_schmidt", "feature_norm"),
    ("probcover_then_gs", "probcover"),
    ("typiclust_then_gs", "typiclust"),
)


#: Framework labels that ``--frameworks`` knows besides a preset's own labels and the
#: registered evaluation names: USB's 60-iteration plumbing checks, for CI (their
#: accuracy is at chance: no table is made from them).
FRAMEWORK_LABELS = {
    "flexmatch_smoke": {"name": "flexmatch", "params": {"preset": "smoke"}},
    "simmatch_smoke": {"name": "simmatch", "params": {"preset": "smoke"}},
}


def _semi() -> BenchConfig:
    # The paper's Table 1 in direction, on a CPU: FlexMatch's `cpu` preset (a small
    # CNN through the USB adapter, converging on one core in minutes) on
    # Fashion-MNIST, 1 and 2 labels per class, selecting on EfficientNet-Lite0
    # features of the cached first 10,000 training images (as the fashion preset);
    # the unlabeled set is the whole training split and the test split is whole
    # (the adapter's rules), so test_limit is None. Every cell costs minutes: no
    # Fig. 7 analysis, and `--seeds 2` for a quick look.
    return BenchConfig(
        preset="semi",
        datasets=["fashion_mnist"],
        domains={"efficientnet_lite0": {"extractor": "efficientnet_lite0", "params": {}, "seed": 0}},
        strategies=list(SEMI_STRATEGIES),
        frameworks={"flexmatch": {"name": "flexmatch", "params": {"preset": "cpu"}}},
        train_limit=10000,
        test_limit=None,
        budget_multipliers=[1, 2],
        seeds=[0, 1, 2, 3, 4],
        norm_correlation=None,
    )


PRESETS = {"quick": _quick, "fashion": _fashion, "paper": _paper, "beyond": _beyond, "semi": _semi}


def preset(name: str) -> BenchConfig:
    """A fresh copy of the preset ``name``."""
    if name not in PRESETS:
        raise InvalidValueError(f"preset must be one of {sorted(PRESETS)}; got {name!r}.")
    return PRESETS[name]()
