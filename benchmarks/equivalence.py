"""Record, then compare, what the strategies pick on thousands of seeded cases (issue 19, item 6).

A refactor that must not change behaviour is checked here: ``record`` runs
every case of a backend through the public API and stores, per call, the
indices, the scores (exact float64 bits), the strategy's ``stats_`` and
``restarts_`` (and ProbCover's ``delta_``, TypiClust's ``approximate_``;
nested dicts flattened, wall-clock ``seconds`` left out), the categories of
the warnings it raised, and the error class when it raised. ``compare``
re-runs the recorded cases on the code as it is now and reports, per
backend, how many calls are identical; it exits 1 on any difference.

    python benchmarks/equivalence.py record /work/equiv/before-{backend}.npz --backend all
    python benchmarks/equivalence.py compare /work/equiv/before-{backend}.npz --backend all

``{backend}`` in a path is replaced by the backend's name (with ``--backend
all`` and no ``{backend}`` in the path, ``-<backend>`` is added before the
extension). The script imports ``subsel_plugins`` from the tree it sits in
(its parent folder goes first on ``sys.path``), so run it from the tree
under test. Backends:

- ``numpy``: every built-in strategy and variant on numpy arrays (some on a
  read-only memory map), GramSchmidtQuery with method fast, plain and auto;
- ``torch``: GramSchmidtQuery(method="torch") on the CPU, alone, centred and
  as the second stage of ThenQuery;
- ``dask``: X as a chunked ``dask.array`` on dask's local threaded scheduler
  (no Client) for the strategies that run distributed (random, feature_norm,
  gram_schmidt randomized, <those>_then_<any>), and a few that must refuse.

Cases are generated from ``--seed`` (case ``i`` from ``SeedSequence(seed,
spawn_key=(i,))``) and stored in the recording, so ``compare`` re-runs the
recorded specs whatever this generator becomes. BLAS, OpenMP and torch run
on one thread, so every run of a case computes the same bits.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy: one thread, the same bits every run

import argparse  # noqa: E402
import contextlib  # noqa: E402
import fnmatch  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The tree under test goes ahead of any installed copy; this script's own folder
# goes out (python puts it first): benchmarks/distributed.py would shadow the
# ``distributed`` package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

BACKENDS = ("numpy", "torch", "dask")
FORMAT = 1
# Warnings raised by the libraries underneath (not by a strategy's rule): not part of the record.
_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ResourceWarning)
# Fitted attributes recorded when a strategy (or ThenQuery's first_/then_) has them.
_FITTED = ("stats_", "restarts_", "delta_", "approximate_")


# -- data -------------------------------------------------------------------------------------


def make_data(spec: dict) -> np.ndarray:
    """The feature matrix a data spec describes, shape (n, d), in its dtype (numpy only)."""
    rng = np.random.default_rng(spec["seed"])
    n, d, kind = spec["n"], spec["d"], spec["kind"]
    if kind == "gauss":
        X = rng.standard_normal((n, d))
    elif kind == "lowrank":  # rank-deficient: rank r < d
        X = rng.standard_normal((n, spec["rank"])) @ rng.standard_normal((spec["rank"], d))
    elif kind == "dups":  # only m distinct rows
        base = rng.standard_normal((spec["unique"], d))
        X = base[rng.integers(0, spec["unique"], n)]
    elif kind == "zeros":  # a fraction of all-zero rows
        X = rng.standard_normal((n, d))
        X[rng.random(n) < spec["zero_frac"]] = 0.0
    elif kind == "blobs":
        centres = 4.0 * rng.standard_normal((spec["k"], d))
        X = centres[rng.integers(0, spec["k"], n)] + rng.standard_normal((n, d))
    elif kind == "relu":  # one orthant, some zero rows at small d
        X = np.maximum(rng.standard_normal((n, d)), 0.0)
    elif kind == "heavy":  # row norms over orders of magnitude
        X = rng.standard_normal((n, d)) * np.exp(2.0 * rng.standard_normal((n, 1)))
    elif kind == "ties":  # small integers: many equal norms and residuals
        X = rng.integers(-2, 3, (n, d)).astype(np.float64)
    else:
        raise ValueError(f"unknown data kind {kind!r}")
    X = X * spec.get("scale", 1.0)
    return np.ascontiguousarray(X, dtype=spec["dtype"])


def data_rank(spec: dict) -> int:
    """The rank the spec's rows have (or at most have)."""
    n, d = spec["n"], spec["d"]
    if spec["kind"] == "lowrank":
        return min(n, spec["rank"])
    if spec["kind"] == "dups":
        return min(n, d, spec["unique"])
    return min(n, d)


def make_labeled(spec: dict | None, n: int):
    if spec is None:
        return None
    rng = np.random.default_rng(spec["seed"])
    idx = np.sort(rng.choice(n, size=spec["count"], replace=False))
    if spec["form"] == "mask":
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        return mask
    if spec["form"] == "list":
        return idx.tolist()
    return rng.permutation(idx)  # int indices in no particular order


# -- strategies ---------------------------------------------------------------------------------


def build(spec: dict):
    """The strategy a spec describes, through the public API only."""
    import subsel_plugins as sp

    if "get" in spec:
        return sp.get_strategy(spec["get"], **spec.get("params", {}))
    cls = getattr(sp, spec["cls"])
    params = dict(spec.get("params", {}))
    if spec["cls"] == "ThenQuery":
        return cls(build(spec["first"]), build(spec["then"]), **params)
    return cls(**params)


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            if "seconds" in str(k):
                continue  # wall clock: never the same twice
            _flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    elif isinstance(value, (list, tuple, np.ndarray)):
        for i, v in enumerate(np.asarray(value, dtype=object).ravel().tolist()):
            _flatten(f"{prefix}[{i}]", v, out)
    elif isinstance(value, (bool, np.bool_)):
        out[prefix] = bool(value)
    elif isinstance(value, (int, np.integer)):
        out[prefix] = int(value)
    elif isinstance(value, (float, np.floating)):
        out[prefix] = float(value).hex()  # the exact bits
    elif value is None or isinstance(value, str):
        out[prefix] = value
    else:
        out[prefix] = f"<{type(value).__name__}>"


def fitted(strategy) -> dict:
    """The recorded fitted attributes of ``strategy`` and of ThenQuery's components, flattened."""
    out: dict = {}
    for owner, obj in (
        ("", strategy),
        ("first_.", getattr(strategy, "first_", None)),
        ("then_.", getattr(strategy, "then_", None)),
    ):
        if obj is None:
            continue
        for attr in _FITTED:
            if attr in vars(obj):
                _flatten(owner + attr, vars(obj)[attr], out)
    return out


# -- case generation ----------------------------------------------------------------------------


def _pick(rng, options, weights=None):
    if weights is None:
        return options[int(rng.integers(len(options)))]
    p = np.asarray(weights, dtype=float)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _data_spec(rng, size: str, kinds=None) -> dict:
    """A data spec; ``size`` is "cheap" (up to 20k rows) or "costly" (up to 1.5k rows)."""
    if size == "cheap":
        tier = _pick(rng, ["small", "mid", "large"], [60, 25, 15])
    else:
        tier = _pick(rng, ["small", "mid"], [75, 25])
    if tier == "small":
        n = int(rng.integers(12, 601))
    elif tier == "mid":
        n = int(rng.integers(601, 4001 if size == "cheap" else 1501))
    else:
        n = int(rng.integers(4001, 20001))
    if rng.random() < 0.05 and n <= 200:
        d = int(rng.integers(n, n + 40))  # wide: more features than rows
    else:
        d = int(rng.integers(2, 65 if tier != "large" else 49))
    kind = _pick(rng, kinds or ["gauss", "lowrank", "dups", "zeros", "blobs", "relu", "heavy", "ties"])
    spec = {
        "kind": kind,
        "n": n,
        "d": d,
        "dtype": _pick(rng, ["float64", "float32"]),
        "seed": int(rng.integers(2**31)),
    }
    if kind == "lowrank":
        spec["rank"] = int(rng.integers(1, max(2, min(d, 12))))
    elif kind == "dups":
        spec["unique"] = int(rng.integers(1, max(2, min(n, 40))))
    elif kind == "zeros":
        spec["zero_frac"] = float(_pick(rng, [0.1, 0.5, 0.9]))
    elif kind == "blobs":
        spec["k"] = int(rng.integers(2, 16))
    u = rng.random()
    if u < 0.04:
        spec["scale"] = 2.0**50  # outside [2**-32, 2**32]: the exact power-of-two rescale
    elif u < 0.08:
        spec["scale"] = 2.0**-45
    elif u < 0.12:
        spec["scale"] = 1e-3
    return spec


def _labeled_spec(rng, n: int, p: float = 0.3):
    if rng.random() >= p or n < 8:
        return None
    count = int(rng.integers(1, max(2, min(60, n // 4))))
    return {"count": count, "form": _pick(rng, ["idx", "mask", "list"]), "seed": int(rng.integers(2**31))}


def _budget(rng, data: dict, labeled: dict | None) -> int:
    avail = data["n"] - (labeled["count"] if labeled else 0)
    mode = _pick(rng, ["small", "medium", "large", "past_rank", "all"], [30, 30, 15, 22, 3])
    if mode == "small":
        b = int(rng.integers(1, 11))
    elif mode == "medium":
        b = int(rng.integers(1, 61))
    elif mode == "large":
        b = int(rng.integers(60, 251))
    elif mode == "past_rank":  # past the rank of the features: exhausted='restart' or 'norm' decides
        b = data_rank(data) + int(rng.integers(1, 25))
    else:
        b = avail if avail <= 120 else 120
    return max(1, min(b, avail))


def _gs_params(rng, method_options, *, distributed=False) -> dict:
    p = {
        "norm": _pick(rng, ["l2", "l1", "linf"]),
        "randomized": True if distributed else bool(rng.random() < 0.65),
        "method": _pick(rng, method_options),
        "exhausted": _pick(rng, ["restart", "norm"]),
        "random_state": int(rng.integers(2**31)),
    }
    if not distributed and rng.random() < 0.2:
        p["center"] = True
    return p


def _second_stage(rng, torch_gs=False) -> dict:
    seed = int(rng.integers(2**31))
    kind = _pick(rng, ["norm", "gs", "random"], [35, 50, 15])
    if kind == "norm":
        return {
            "cls": "FeatureNormQuery",
            "params": {
                "norm": _pick(rng, ["l2", "l1", "linf"]),
                "randomized": bool(rng.random() < 0.7),
                "random_state": seed,
            },
        }
    if kind == "random":
        return {"cls": "RandomQuery", "params": {"random_state": seed}}
    return {
        "cls": "GramSchmidtQuery",
        "params": _gs_params(rng, ["torch"] if torch_gs else ["fast", "plain", "auto"]),
    }


def _numpy_strategy(rng):
    """(strategy spec, data size class, data kinds or None, store)."""
    fam = _pick(
        rng,
        [
            "gs",
            "gs_plain",
            "fn",
            "random",
            "then",
            "then_costly",
            "typiclust",
            "probcover",
            "typiclust_norm",
            "typiclust_gs",
            "gs_centered",
        ],
        [26, 8, 10, 4, 12, 6, 7, 7, 5, 5, 10],
    )
    seed = int(rng.integers(2**31))
    store = "memmap" if rng.random() < 0.12 else "array"
    if fam == "gs":
        return {"cls": "GramSchmidtQuery", "params": _gs_params(rng, ["fast", "auto"])}, "cheap", None, store
    if fam == "gs_plain":
        return {"cls": "GramSchmidtQuery", "params": _gs_params(rng, ["plain"])}, "costly", None, store
    if fam == "gs_centered":
        p = _gs_params(rng, ["fast", "plain", "auto"])
        p.pop("center", None)
        size = "costly" if p["method"] == "plain" else "cheap"
        return (
            {"cls": "CenteredGramSchmidtQuery", "params": p},
            size,
            ["relu", "blobs", "gauss", "lowrank", "heavy"],
            store,
        )
    if fam == "fn":
        p = {
            "norm": _pick(rng, ["l2", "l1", "linf"]),
            "randomized": bool(rng.random() < 0.6),
            "random_state": seed,
        }
        return {"cls": "FeatureNormQuery", "params": p}, "cheap", None, store
    if fam == "random":
        return {"cls": "RandomQuery", "params": {"random_state": seed}}, "cheap", None, store
    if fam == "then":
        if rng.random() < 0.5:
            name = _pick(
                rng,
                [
                    "feature_norm_then_gs",
                    "feature_norm_then_norm",
                    "random_then_gs",
                    "gram_schmidt_then_gs",
                    "gram_schmidt_then_norm",
                    "random_then_norm",
                    "feature_norm_then_random",
                    "gram_schmidt_centered_then_gs",
                ],
            )
            params = {"random_state": seed}  # unseeded, ThenQuery's parts would draw fresh numbers each run
            if rng.random() < 0.3:
                params["factor"] = float(_pick(rng, [1.0, 1.5, 3.0]))
            return {"get": name, "params": params}, "cheap", None, store
        first = _pick(
            rng,
            [
                {
                    "cls": "FeatureNormQuery",
                    "params": {
                        "norm": _pick(rng, ["l2", "l1", "linf"]),
                        "randomized": bool(rng.random() < 0.7),
                        "random_state": int(rng.integers(2**31)),
                    },
                },
                {"cls": "RandomQuery", "params": {"random_state": int(rng.integers(2**31))}},
                {"cls": "GramSchmidtQuery", "params": _gs_params(rng, ["fast", "auto"])},
            ],
        )
        params = {"factor": float(_pick(rng, [1.0, 1.5, 2.0, 3.0]))}
        if rng.random() < 0.5:
            params["random_state"] = seed
        return (
            {"cls": "ThenQuery", "first": first, "then": _second_stage(rng), "params": params},
            "cheap",
            None,
            store,
        )
    if fam == "then_costly":
        name = _pick(
            rng,
            [
                "typiclust_then_gs",
                "probcover_then_norm",
                "typiclust_then_norm",
                "probcover_then_gs",
                "typiclust_norm_then_gs",
                "typiclust_gs_then_random",
                "probcover_then_random",
            ],
        )
        return (
            {"get": name, "params": {"random_state": seed}},
            "costly",
            ["blobs", "gauss", "relu", "dups", "heavy"],
            "array",
        )
    if fam == "typiclust":
        p = {"random_state": seed}
        if rng.random() < 0.3:
            p["k_neighbors"] = int(_pick(rng, [3, 7]))
        if rng.random() < 0.2:
            p["min_cluster_size"] = int(_pick(rng, [0, 2]))
        if rng.random() < 0.2:
            p["approximate"] = _pick(rng, [True, False])
        return (
            {"cls": "TypiClustQuery", "params": p},
            "costly",
            ["blobs", "gauss", "relu", "dups", "ties"],
            store,
        )
    if fam == "probcover":
        p = {"random_state": seed}
        if rng.random() < 0.3:
            p["n_classes"] = int(rng.integers(2, 12))
        if rng.random() < 0.2:
            p["purity"] = float(_pick(rng, [0.8, 0.99]))
        if rng.random() < 0.2:
            p["approximate"] = _pick(rng, [True, False])
        return (
            {"cls": "ProbCoverQuery", "params": p},
            "costly",
            ["blobs", "gauss", "relu", "dups", "ties"],
            store,
        )
    p = {
        "random_state": seed,
        "alpha": float(_pick(rng, [0.0, 1.0, 2.5])),
        "center": bool(rng.random() < 0.3),
    }
    if fam == "typiclust_norm":
        p["norm"] = _pick(rng, ["l2", "l1", "linf"])
        return (
            {"cls": "TypiClustNormQuery", "params": p},
            "costly",
            ["blobs", "gauss", "relu", "heavy"],
            store,
        )
    return {"cls": "TypiClustGSQuery", "params": p}, "costly", ["blobs", "gauss", "relu", "lowrank"], store


def _torch_strategy(rng):
    fam = _pick(rng, ["gs", "gs_centered", "then"], [70, 12, 18])
    store = "memmap" if rng.random() < 0.1 else "array"
    if fam == "gs":
        return {"cls": "GramSchmidtQuery", "params": _gs_params(rng, ["torch"])}, "cheap", None, store
    if fam == "gs_centered":
        p = _gs_params(rng, ["torch"])
        p.pop("center", None)
        return (
            {"cls": "CenteredGramSchmidtQuery", "params": p},
            "cheap",
            ["relu", "blobs", "gauss", "lowrank"],
            store,
        )
    first = _pick(
        rng,
        [
            {"cls": "FeatureNormQuery", "params": {"random_state": int(rng.integers(2**31))}},
            {"cls": "RandomQuery", "params": {"random_state": int(rng.integers(2**31))}},
            {"cls": "GramSchmidtQuery", "params": _gs_params(rng, ["torch"])},
        ],
    )
    params = {"factor": float(_pick(rng, [1.0, 2.0, 3.0])), "random_state": int(rng.integers(2**31))}
    return (
        {"cls": "ThenQuery", "first": first, "then": _second_stage(rng, torch_gs=True), "params": params},
        "cheap",
        None,
        store,
    )


def _dask_strategy(rng):
    fam = _pick(rng, ["gs", "fn", "random", "then_get", "then", "refused"], [40, 18, 8, 14, 17, 3])
    seed = int(rng.integers(2**31))
    if fam == "gs":
        p = _gs_params(rng, ["fast", "auto"], distributed=True)
        return {"cls": "GramSchmidtQuery", "params": p}, "cheap", None, "dask"
    if fam == "fn":
        p = {
            "norm": _pick(rng, ["l2", "l1", "linf"]),
            "randomized": bool(rng.random() < 0.6),
            "random_state": seed,
        }
        return {"cls": "FeatureNormQuery", "params": p}, "cheap", None, "dask"
    if fam == "random":
        return {"cls": "RandomQuery", "params": {"random_state": seed}}, "cheap", None, "dask"
    if fam == "then_get":
        name = _pick(
            rng,
            [
                "feature_norm_then_gs",
                "feature_norm_then_norm",
                "random_then_gs",
                "gram_schmidt_then_gs",
                "gram_schmidt_then_norm",
                "random_then_norm",
                "feature_norm_then_random",
                "gram_schmidt_then_random",
            ],
        )
        return {"get": name, "params": {"random_state": seed}}, "cheap", None, "dask"
    if fam == "then":
        first = _pick(
            rng,
            [
                {
                    "cls": "FeatureNormQuery",
                    "params": {
                        "norm": _pick(rng, ["l2", "l1", "linf"]),
                        "randomized": bool(rng.random() < 0.7),
                        "random_state": int(rng.integers(2**31)),
                    },
                },
                {"cls": "RandomQuery", "params": {"random_state": int(rng.integers(2**31))}},
                {"cls": "GramSchmidtQuery", "params": _gs_params(rng, ["fast", "auto"], distributed=True)},
            ],
        )
        params = {"factor": float(_pick(rng, [1.0, 1.5, 2.0, 3.0]))}
        if rng.random() < 0.5:
            params["random_state"] = seed
        return (
            {"cls": "ThenQuery", "first": first, "then": _second_stage(rng), "params": params},
            "cheap",
            None,
            "dask",
        )
    # inputs the distributed path refuses: the error class is part of the record
    refused = _pick(
        rng,
        [
            {"cls": "GramSchmidtQuery", "params": {"randomized": False, "random_state": seed}},
            # (five entries, as before center=True, TypiClust and ProbCover ran on Dask: the same draws)
            {"get": "typiclust_gs", "params": {"random_state": seed}},
            {"cls": "GramSchmidtQuery", "params": {"method": "plain", "random_state": seed}},
            {"cls": "TypiClustQuery", "params": {"approximate": False, "random_state": seed}},
            {"cls": "ProbCoverQuery", "params": {"approximate": False, "random_state": seed}},
        ],
    )
    return refused, "cheap", None, "dask"


def seeded(spec: dict) -> bool:
    """Whether a strategy spec fixes every random stream (else a case cannot repeat)."""
    params = spec.get("params", {})
    if "random_state" in params:
        return True
    if spec.get("cls") == "ThenQuery":
        return seeded(spec["first"]) and seeded(spec["then"])
    return False


def make_case(backend: str, seed: int, i: int) -> dict:
    """Case ``i`` of ``backend``: a JSON-able spec, a pure function of (backend, seed, i)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(BACKENDS.index(backend), i)))
    strategy, size, kinds, store = {
        "numpy": _numpy_strategy,
        "torch": _torch_strategy,
        "dask": _dask_strategy,
    }[backend](rng)
    if backend == "dask" and size == "cheap" and rng.random() < 0.7:
        size = "costly"  # every dask case pays graph overheads: mostly small pools
    data = _data_spec(rng, size, kinds)
    labeled = _labeled_spec(rng, data["n"])
    case = {
        "id": i,
        "backend": backend,
        "data": data,
        "store": store,
        "strategy": strategy,
        "budget": _budget(rng, data, labeled),
        "labeled": labeled,
        "calls": 2 if rng.random() < 0.15 else 1,  # a second call draws from the next random stream
    }
    assert seeded(strategy), strategy
    if store == "dask":
        n = data["n"]
        case["chunk_rows"] = int(rng.integers(max(1, n // 10), n + 1))
    return case


# -- running ----------------------------------------------------------------------------------


class Runner:
    """Runs cases; holds the temporary folder of the memory maps and the backend's setup."""

    def __init__(self, backend: str):
        self.backend = backend
        self.tmp = tempfile.TemporaryDirectory(prefix="subsel-equiv-")
        self.stack = contextlib.ExitStack()
        if backend == "torch":
            import torch

            torch.set_num_threads(1)
        if backend == "dask":
            import dask

            self.stack.enter_context(dask.config.set(scheduler="threads", num_workers=1))

    def close(self):
        self.stack.close()
        self.tmp.cleanup()

    def inputs(self, case: dict):
        X = make_data(case["data"])
        if case["store"] == "memmap":
            path = Path(self.tmp.name) / f"case{case['id']}.npy"
            np.save(path, X)
            X = np.load(path, mmap_mode="r")
        elif case["store"] == "dask":
            import dask.array as da

            X = da.from_array(X, chunks=(case["chunk_rows"], X.shape[1]))
        return X, make_labeled(case["labeled"], case["data"]["n"])

    def run(self, case: dict) -> list[dict]:
        """One record per call: indices, scores, error, warnings, fitted attributes, seconds."""
        X, labeled = self.inputs(case)
        strategy = build(case["strategy"])
        out = []
        for call in range(case["calls"]):
            t0 = time.perf_counter()
            idx = np.empty(0, dtype=np.int64)
            scores = np.empty(0, dtype=np.float64)
            error = None
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    idx, scores = strategy.select_with_scores(X, case["budget"], labeled)
                except Exception as exc:  # the error class is part of the record
                    error = type(exc).__name__
            categories = sorted({w.category.__name__ for w in caught if not issubclass(w.category, _NOISE)})
            out.append(
                {
                    "case": case["id"],
                    "call": call,
                    "indices": np.asarray(idx, dtype=np.int64),
                    "scores": np.asarray(scores, dtype=np.float64),
                    "error": error,
                    "warnings": categories,
                    "fitted": fitted(strategy),
                    "seconds": round(time.perf_counter() - t0, 4),
                }
            )
            if error is not None:
                break
        return out


def family(spec: dict) -> str:
    """A short name of a strategy spec, for the timing and difference reports."""
    if "get" in spec:
        return spec["get"]
    if spec["cls"] == "ThenQuery":
        return f"Then({family(spec['first'])},{family(spec['then'])})"
    p = spec.get("params", {})
    if spec["cls"] in ("GramSchmidtQuery", "CenteredGramSchmidtQuery"):
        return f"{spec['cls']}[{p.get('method', 'auto')},{'rand' if p.get('randomized', True) else 'det'}]"
    return spec["cls"]


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _versions() -> dict:
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    for mod in ("torch", "dask", "sklearn", "scipy", "faiss"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    return out


def run_cases(backend, cases, progress_every=250):
    runner = Runner(backend)
    records = []
    t0 = time.perf_counter()
    try:
        for j, case in enumerate(cases):
            records += runner.run(case)
            if progress_every and (j + 1) % progress_every == 0:
                print(
                    f"  {backend}: {j + 1}/{len(cases)} cases, {time.perf_counter() - t0:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        runner.close()
    return records, time.perf_counter() - t0


def save(path: Path, backend: str, seed: int, cases: list, records: list, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sizes = [r["indices"].size for r in records]
    meta = {
        "format": FORMAT,
        "backend": backend,
        "seed": seed,
        "n_cases": len(cases),
        "commit": _git_commit(),
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(seconds, 1),
    }
    heads = [{k: v for k, v in r.items() if k not in ("indices", "scores")} for r in records]
    np.savez_compressed(
        path,
        meta=np.array(json.dumps(meta)),
        cases=np.array(json.dumps(cases)),
        records=np.array(json.dumps(heads)),
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        indices=np.concatenate([r["indices"] for r in records]) if records else np.empty(0, np.int64),
        scores=np.concatenate([r["scores"] for r in records]) if records else np.empty(0),
    )


def load(path: Path) -> tuple[dict, list, list]:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        cases = json.loads(str(z["cases"]))
        heads = json.loads(str(z["records"]))
        off, idx, sc = z["offsets"], z["indices"], z["scores"]
    for j, h in enumerate(heads):
        h["indices"] = idx[off[j] : off[j + 1]]
        h["scores"] = sc[off[j] : off[j + 1]]
    return meta, cases, heads


def differences(before: dict, after: dict, ignore: list[str]) -> list[str]:
    """What differs between two records of one call (empty: identical)."""
    out = []
    if before["error"] != after["error"]:
        out.append(f"error {before['error']} -> {after['error']}")
    bi, ai = before["indices"], after["indices"]
    if bi.shape != ai.shape or not np.array_equal(bi, ai):
        if bi.shape != ai.shape:
            out.append(f"{bi.size} indices -> {ai.size}")
        else:
            k = int(np.argmax(bi != ai))
            out.append(
                f"indices differ first at pick {k}: {bi[k]} -> {ai[k]} "
                f"({int((bi != ai).sum())} of {bi.size} differ)"
            )
    bs, as_ = before["scores"], after["scores"]
    if bs.shape == as_.shape and not np.array_equal(bs.view(np.uint64), as_.view(np.uint64)):
        k = int(np.argmax(bs.view(np.uint64) != as_.view(np.uint64)))
        rel = np.max(np.abs(bs - as_) / np.maximum(np.abs(bs), np.finfo(float).tiny))
        out.append(
            f"scores differ first at pick {k}: {bs[k]!r} -> {as_[k]!r} "
            f"(largest relative difference {rel:.3g})"
        )
    if before["warnings"] != after["warnings"]:
        out.append(f"warnings {before['warnings']} -> {after['warnings']}")
    bf = {k: v for k, v in before["fitted"].items() if not any(fnmatch.fnmatch(k, g) for g in ignore)}
    af = {k: v for k, v in after["fitted"].items() if not any(fnmatch.fnmatch(k, g) for g in ignore)}
    if bf != af:
        keys = sorted(set(bf) | set(af))
        diff = [
            f"{k}: {bf.get(k, '<absent>')} -> {af.get(k, '<absent>')}"
            for k in keys
            if bf.get(k, "<absent>") != af.get(k, "<absent>")
        ]
        out.append("fitted " + "; ".join(diff[:6]) + (f"; ... ({len(diff)} keys)" if len(diff) > 6 else ""))
    return out


def _path(template: str, backend: str, many: bool) -> Path:
    if "{backend}" in template:
        return Path(template.format(backend=backend))
    p = Path(template)
    return p.with_name(f"{p.stem}-{backend}{p.suffix}") if many else p


def _filter(cases: list, only: str | None, limit: int | None) -> list:
    if only:
        cases = [c for c in cases if only in family(c["strategy"]) or only in json.dumps(c["strategy"])]
    return cases[:limit] if limit else cases


def cmd_record(args) -> int:
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    for b in backends:
        cases = [make_case(b, args.seed, i) for i in range(args.cases)]
        cases = _filter(cases, args.only, args.limit)
        records, seconds = run_cases(b, cases)
        path = _path(args.out, b, len(backends) > 1)
        save(path, b, args.seed, cases, records, seconds)
        errors = sum(r["error"] is not None for r in records)
        warned = sum(bool(r["warnings"]) for r in records)
        print(
            f"{b}: {len(cases)} cases, {len(records)} calls ({errors} raised, {warned} warned) "
            f"in {seconds:.1f} s -> {path}"
        )
        if args.timings:
            index = {c["id"]: c for c in cases}
            by: dict = {}
            for r in records:
                by.setdefault(family(index[r["case"]]["strategy"]), []).append(r["seconds"])
            for k, v in sorted(by.items(), key=lambda kv: -sum(kv[1])):
                print(f"    {k:70s} {len(v):5d} calls {sum(v):8.1f} s")
    return 0


def cmd_compare(args) -> int:
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    failed = False
    for b in backends:
        path = _path(args.before, b, len(backends) > 1)
        meta, cases, before = load(path)
        if meta["backend"] != b:
            print(f"{path} holds backend {meta['backend']!r}, not {b!r}", file=sys.stderr)
            return 2
        cases = _filter(cases, args.only, args.limit)
        wanted = {c["id"] for c in cases}
        before = [r for r in before if r["case"] in wanted]
        after, seconds = run_cases(b, cases)
        index = {c["id"]: c for c in cases}
        by_key = {(r["case"], r["call"]): r for r in after}
        differing = []
        for r in before:
            a = by_key.get((r["case"], r["call"]))
            diff = ["call missing now"] if a is None else differences(r, a, args.ignore)
            if diff:
                differing.append((r, diff))
        bad_cases = sorted({r["case"] for r, _ in differing})
        print(
            f"{b}: {len(cases)} cases ({len(before)} calls) recorded at {meta['commit']} "
            f"[{meta['created']}], "
            f"re-run at {_git_commit()} in {seconds:.1f} s: {len(cases) - len(bad_cases)} identical, "
            f"{len(bad_cases)} differing"
        )
        for r, diff in differing[: args.show]:
            c = index[r["case"]]
            print(
                f"  case {r['case']} call {r['call']}: {family(c['strategy'])}, "
                f"data {json.dumps(c['data'])}, store {c['store']}, budget {c['budget']}, "
                f"labeled {json.dumps(c['labeled'])}"
            )
            for line in diff:
                print(f"      {line}")
            print(f"      spec: {json.dumps(c['strategy'])}")
        if bad_cases:
            failed = True
            fams: dict = {}
            for k in bad_cases:
                fams[family(index[k]["strategy"])] = fams.get(family(index[k]["strategy"]), 0) + 1
            print(
                "  differing cases by strategy: "
                + ", ".join(f"{k} {v}" for k, v in sorted(fams.items(), key=lambda kv: -kv[1]))
            )
        vers = _versions()
        changed = {k: (v, vers.get(k)) for k, v in meta["versions"].items() if vers.get(k) not in (None, v)}
        if changed:
            print(f"  note: library versions changed since the recording: {changed}")
    return 1 if failed else 0


def cmd_show(args) -> int:
    meta, cases, records = load(Path(args.before))
    print(json.dumps(meta, indent=1))
    counts: dict = {}
    for c in cases:
        counts[family(c["strategy"])] = counts.get(family(c["strategy"]), 0) + 1
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {v:5d}  {k}")
    print(
        f"  calls {len(records)}, raised {sum(r['error'] is not None for r in records)}, "
        f"warned {sum(bool(r['warnings']) for r in records)}"
    )
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="run the cases and write the recording")
    r.add_argument("out", help="output .npz ({backend} is replaced by the backend's name)")
    r.add_argument("--cases", type=int, default=2000, help="cases generated per backend (default 2000)")
    r.add_argument("--seed", type=int, default=19)
    r.add_argument("--timings", action="store_true", help="print seconds per strategy family")
    c = sub.add_parser("compare", help="re-run a recording's cases and report every difference")
    c.add_argument("before", help="recording .npz ({backend} is replaced by the backend's name)")
    c.add_argument("--show", type=int, default=5, help="differences printed per backend (default 5)")
    c.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="GLOB",
        help="fitted keys not compared (e.g. 'stats_.traffic.*'); repeatable",
    )
    for q in (r, c):
        q.add_argument("--backend", choices=(*BACKENDS, "all"), default="numpy")
        q.add_argument("--only", help="only the cases whose strategy spec contains this text")
        q.add_argument("--limit", type=int, help="only the first LIMIT cases (after --only)")
    s = sub.add_parser("show", help="summarise a recording")
    s.add_argument("before")
    args = p.parse_args(argv)
    if args.cmd == "record":
        if args.cases < 1:
            p.error(f"--cases must be >= 1; got {args.cases}")
        return cmd_record(args)
    if args.cmd == "compare":
        for b in BACKENDS if args.backend == "all" else (args.backend,):
            path = _path(args.before, b, args.backend == "all")
            if not path.is_file():
                p.error(
                    f"no recording at {path}; make one with: python benchmarks/equivalence.py "
                    f"record {args.before} --backend {args.backend}"
                )
        return cmd_compare(args)
    return cmd_show(args)


if __name__ == "__main__":
    sys.exit(main())
