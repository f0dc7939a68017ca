"""A scripted adversarial pass over every door: bad and heavy inputs, each classified.

Run it again after any change (from the repository root)::

    SUBSEL_PROGRESS=0 OMP_NUM_THREADS=1 python -m benchmarks.adversarial --out runs/adversarial.json

Families: the Python API per strategy and parameter (bad parameter values, bad
``X``, ``budget`` and ``labeled``, extreme magnitudes, torch tensors),
distributed inputs (dask arrays, ``.npy`` globs), every command-line door
(``subsel`` as ``python -m subsel_plugins.cli``, ``python -m benchmarks``, as
subprocesses), the feature cache, and the modAL and scikit-activeml adapters.

Each probe is **clean** when it ends in a :class:`~subsel_plugins.errors.SubselError`
whose message names the parameter (at a door: exit 2 and one line on stderr
naming it), or in a correct result (the right number of distinct, in-range,
unlabeled indices and finite scores); otherwise **flagged**: a traceback, an
exception that is not a SubselError, an error not naming the parameter, a
wrong or non-finite result, or a hang past the timeout. The JSON written to
``--out`` lists every probe with its outcome; the summary is printed.
"""

# ruff: noqa: B023 - every probe's lambda is called at once by Probes.call, inside its loop
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


class Hang(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise Hang()


class Probes:
    """Runs probes and keeps their outcomes."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.rows: list[dict] = []

    def record(self, family, name, status, detail):
        self.rows.append({"family": family, "probe": name, "status": status, "detail": detail[:400]})

    def call(self, family, name, fn, param=None, check=None):
        """``fn()`` in-process: clean on a SubselError naming ``param`` or on a result ``check`` accepts."""
        from subsel_plugins.errors import SubselError

        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(int(self.timeout))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = fn()
        except Hang:
            return self.record(family, name, "flagged", f"hang > {self.timeout} s")
        except SubselError as exc:
            msg = " ".join(str(exc).split())
            if param and param not in msg:
                return self.record(family, name, "flagged", f"{type(exc).__name__} not naming {param}: {msg}")
            return self.record(family, name, "clean", f"{type(exc).__name__}: {msg}")
        except Exception as exc:  # noqa: BLE001 - the point: anything else is flagged
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(tb.filename).name}:{tb.lineno}"
            return self.record(family, name, "flagged", f"{type(exc).__name__} at {where}: {exc}")
        finally:
            signal.alarm(0)
        problem = check(out) if check else None
        if problem:
            return self.record(family, name, "flagged", f"wrong result: {problem}")
        return self.record(family, name, "clean", "result")

    def door(self, family, name, argv, needle=None, ok=False, cwd=None, env=None):
        """A subprocess door: clean on exit 2 with one line naming ``needle`` (or exit 0 when ``ok``)."""
        full_env = {**os.environ, "SUBSEL_PROGRESS": "0", "PYTHONPATH": str(REPO), **(env or {})}
        t = time.time()
        try:
            res = subprocess.run(
                [sys.executable, *argv],
                capture_output=True,
                text=True,
                timeout=self.timeout * 4,
                cwd=cwd or REPO,
                env=full_env,
            )
        except subprocess.TimeoutExpired:
            return self.record(family, name, "flagged", f"hang > {self.timeout * 4} s")
        err = res.stderr
        lines = [ln for ln in err.splitlines() if ln.strip() and "Warning" not in ln and "warn(" not in ln]
        detail = f"exit {res.returncode} in {time.time() - t:.1f} s: {' | '.join(lines)[:300]}"
        if "Traceback" in err:
            return self.record(family, name, "flagged", "traceback: " + detail)
        if ok:
            status = "clean" if res.returncode == 0 else "flagged"
        else:
            status = "clean" if res.returncode == 2 and len(lines) == 1 else "flagged"
            if status == "clean" and needle and needle not in lines[0]:
                status, detail = "flagged", f"not naming {needle!r}: " + detail
        return self.record(family, name, status, detail)


def selection_check(n, budget, labeled=()):
    """A ``check`` for ``(indices, scores)`` results of a selection of ``budget`` rows of ``n``."""

    def check(out):
        idx, scores = out if isinstance(out, tuple) else (out, np.zeros(len(out)))
        idx, scores = np.asarray(idx), np.asarray(scores, dtype=float)
        if idx.shape != (budget,):
            return f"{idx.shape[0] if idx.ndim else idx} indices for budget {budget}"
        if np.unique(idx).size != budget:
            return "repeated index"
        if idx.min() < 0 or idx.max() >= n:
            return f"index outside [0, {n})"
        if np.isin(idx, np.asarray(labeled, dtype=int)).any():
            return "a labeled row returned"
        if not np.isfinite(scores).all():
            return f"non-finite scores {scores[~np.isfinite(scores)][:3]}"
        return None

    return check


# --- the Python API -------------------------------------------------------------------------

BAD_PARAM_VALUES = {
    "object": object(),
    "string": "bogus",
    "nan": float("nan"),
    "inf": float("inf"),
    "negative": -1,
    "zero": 0,
    "huge int": 10**30,
    "giant int": 10**400,
    "bool": True,
    "list": [1, 2],
}


def python_api(p: Probes, quick: bool):
    from subsel_plugins import available_strategies, get_strategy

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    names = available_strategies(combinations=False) + ["probcover_then_gs", "typiclust_then_norm"]
    for name in names:
        params = get_strategy(name).get_params(deep=False)
        for param in params:
            if param in ("first", "then"):
                continue
            for label, value in BAD_PARAM_VALUES.items():
                kw = {"random_state": 0, param: value}
                p.call(
                    "api-param",
                    f"{name}({param}={label})",
                    lambda: get_strategy(name, **kw).select_with_scores(X, 4),
                    param=param,
                    check=selection_check(60, 4),
                )
    bad_X = {
        "NaN": np.where(np.arange(300).reshape(60, 5) == 7, np.nan, X),
        "inf": np.where(np.arange(300).reshape(60, 5) == 7, np.inf, X),
        "1-D": X[:, 0],
        "3-D": X.reshape(60, 5, 1),
        "empty": np.empty((0, 5)),
        "no columns": np.empty((60, 0)),
        "strings": np.array([["a"] * 5] * 60),
        "complex": X.astype(np.complex64),
        "object": np.array([[object()] * 5] * 60, dtype=object),
        "ragged list": [[1.0, 2.0], [3.0]],
        "file path that does not exist": "hello",
        "scalar": 3.0,
    }
    ok_X = {
        "near float max": np.full((60, 5), 1.5e308),
        "subnormal": np.full((60, 5), 5e-324) * (1 + np.arange(300).reshape(60, 5) % 3),
        "all zeros": np.zeros((60, 5)),
        "duplicate rows": np.repeat(X[:6], 10, axis=0),
        "int dtype": (X * 10).astype(np.int64),
        "bool dtype": X > 0,
        "float16": X.astype(np.float16),
        "list of lists": X.tolist(),
        "one column": X[:, :1],
        "1e200 scale": X.astype(np.float64) * 1e200,
    }
    try:
        import torch

        ok_X["torch requires_grad"] = torch.tensor(X, requires_grad=True)
        ok_X["torch float64"] = torch.tensor(X, dtype=torch.float64)
    except ImportError:
        pass
    try:
        import scipy.sparse as sp

        bad_X["scipy sparse"] = sp.csr_matrix(X)
    except ImportError:
        pass
    bad_X["masked"] = np.ma.masked_array(X, mask=X > 1)
    for name in names if not quick else names[:5]:
        for label, value in bad_X.items():
            p.call(
                "api-X",
                f"{name}: X {label}",
                lambda: get_strategy(name, random_state=0).select(value, 4),
                "X",
            )
        for label, value in ok_X.items():
            p.call(
                "api-X",
                f"{name}: X {label}",
                lambda: get_strategy(name, random_state=0).select_with_scores(value, 4),
                "X",
                check=selection_check(60, 4),
            )
        for label, b in {
            "0": 0,
            "-1": -1,
            "1.5": 1.5,
            "'3'": "3",
            "n+1": 61,
            "10**30": 10**30,
            "True": True,
            "None": None,
        }.items():
            p.call("api-budget", f"{name}: budget {label}", lambda: get_strategy(name).select(X, b), "budget")
        p.call(
            "api-budget",
            f"{name}: budget np.int64(3)",
            lambda: get_strategy(name, random_state=0).select_with_scores(X, np.int64(3)),
            check=selection_check(60, 3),
        )
        p.call(
            "api-budget",
            f"{name}: budget = every row",
            lambda: get_strategy(name, random_state=0).select_with_scores(X, 60),
            check=selection_check(60, 60),
        )
        for label, lab in {
            "[-1]": [-1],
            "[60]": [60],
            "[1.5]": [1.5],
            "repeated": [3, 3],
            "short mask": [True, False],
            "2-D": [[1, 2]],
            "strings": ["a"],
            "every row": list(range(60)),
            "NaN": [np.nan],
        }.items():
            p.call(
                "api-labeled",
                f"{name}: labeled {label}",
                lambda: get_strategy(name).select(X, 3, lab),
                "labeled",
            )
        p.call(
            "api-labeled",
            f"{name}: labeled [0..9]",
            lambda: get_strategy(name, random_state=0).select_with_scores(X, 5, list(range(10))),
            check=selection_check(60, 5, range(10)),
        )


def probcover_memory(p: Probes):
    from subsel_plugins import ProbCoverQuery

    rng = np.random.default_rng(0)
    C = rng.standard_normal((20, 32)).astype(np.float32)
    X = C[rng.integers(0, 20, 3000)] + 0.7 * rng.standard_normal((3000, 32)).astype(np.float32)
    for approx in (False, True):
        p.call(
            "api-memory",
            f"probcover clustered 3000 rows, max_graph_memory=2MB, approximate={approx}",
            lambda: ProbCoverQuery(n_classes=20, approximate=approx, max_graph_memory="2MB").select(X, 5),
            "max_graph_memory",
        )
    for label, v in {"'lots'": "lots", "0": 0, "-1GB": "-1GB", "True": True}.items():
        p.call(
            "api-memory",
            f"probcover max_graph_memory={label}",
            lambda: ProbCoverQuery(max_graph_memory=v).select(X[:50], 3),
            "max_graph_memory",
        )


# --- distributed ------------------------------------------------------------------------------


def distributed(p: Probes, tmp: Path):
    try:
        import dask.array as da
    except ImportError:
        return p.record("distributed", "dask", "clean", "skipped: dask not installed")
    from subsel_plugins import get_strategy

    X = np.random.default_rng(1).normal(size=(200, 6))
    D = da.from_array(X, chunks=(50, 6))
    nan = X.copy()
    nan[120, 3] = np.nan
    shards = tmp / "shards"
    shards.mkdir()
    for i in range(4):
        np.save(shards / f"s{i}.npy", X[i * 50 : (i + 1) * 50])
    np.save(tmp / "narrow.npy", X[:10, :3])
    (tmp / "notnpy.txt").write_text("x")
    for name in (
        "random",
        "feature_norm",
        "gram_schmidt",
        "feature_norm_then_gs",
        "gram_schmidt_then_random",
    ):
        q = lambda: get_strategy(name, random_state=0)  # noqa: E731
        p.call(
            "distributed",
            f"{name}: dask",
            lambda: q().select_with_scores(D, 5),
            check=selection_check(200, 5),
        )
        p.call(
            "distributed",
            f"{name}: .npy glob",
            lambda: q().select_with_scores(str(shards / "*.npy"), 5),
            check=selection_check(200, 5),
        )
        p.call(
            "distributed",
            f"{name}: dask labeled",
            lambda: q().select_with_scores(D, 5, list(range(20))),
            check=selection_check(200, 5, range(20)),
        )
        p.call(
            "distributed", f"{name}: dask NaN", lambda: q().select(da.from_array(nan, chunks=50), 5), "NaN"
        )
        p.call(
            "distributed",
            f"{name}: dask near float max",
            lambda: q().select_with_scores(da.from_array(np.full((40, 4), 1.5e308), chunks=10), 3),
            check=selection_check(40, 3),
        )
        p.call(
            "distributed",
            f"{name}: glob matching nothing",
            lambda: q().select(str(tmp / "none*.npy"), 3),
            "X",
        )
        p.call(
            "distributed",
            f"{name}: mixed widths",
            lambda: q().select([str(shards / "s0.npy"), str(tmp / "narrow.npy")], 3),
            "X",
        )
        p.call("distributed", f"{name}: a directory", lambda: q().select(str(shards), 3), "X")
        p.call("distributed", f"{name}: not .npy", lambda: q().select(str(tmp / "notnpy.txt"), 3), "X")
        p.call("distributed", f"{name}: budget 201", lambda: q().select(D, 201), "budget")
        p.call("distributed", f"{name}: labeled [200]", lambda: q().select(D, 3, [200]), "labeled")
        p.call("distributed", f"{name}: empty list", lambda: q().select([], 3), "X")
    for name in ("typiclust", "probcover", "typiclust_then_norm"):
        p.call(
            "distributed",
            f"{name}: dask (unsupported)",
            lambda: get_strategy(name).select(D, 3),
            "distributed",
        )


# --- doors ------------------------------------------------------------------------------------


def doors(p: Probes, tmp: Path, quick: bool):
    X = np.random.default_rng(2).normal(size=(40, 5)).astype(np.float32)
    f = tmp / "f.npy"
    np.save(f, X)
    nan = X.copy()
    nan[3, 1] = np.nan
    np.save(tmp / "nan.npy", nan)
    (tmp / "adir").mkdir()
    (tmp / "empty.npy").write_bytes(b"")
    (tmp / "text.txt").write_text("hello")
    (tmp / "lab.txt").write_text("1\n2\n99\n")
    cli = ["-m", "subsel_plugins.cli"]
    sel = [*cli, "select", str(f)]
    cases = {
        "no command": ([*cli], None, False),
        "unknown command": ([*cli, "nosuch"], "nosuch", False),
        "strategy missing": ([*cli, "select", str(f), "-b", "3"], "--strategy", False),
        "unknown strategy": ([*sel, "-s", "nosuch", "-b", "3"], "nosuch", False),
        "budget 0": ([*sel, "-s", "random", "-b", "0"], "budget", False),
        "budget text": ([*sel, "-s", "random", "-b", "x"], "budget", False),
        "budget 10**30": ([*sel, "-s", "random", "-b", str(10**30)], "budget", False),
        "delta 10**30": ([*sel, "-s", "probcover", "-b", "3", "-p", f"delta={10**30}"], "delta", False),
        "purity 10**30": ([*sel, "-s", "probcover", "-b", "3", "-p", f"purity={10**30}"], "purity", False),
        "factor 10**400": (
            [*sel, "-s", "random_then_gs", "-b", "3", "-p", f"factor={10**400}"],
            "factor",
            False,
        ),
        "alpha 10**400": (
            [*sel, "-s", "typiclust_norm", "-b", "3", "-p", f"alpha={10**400}"],
            "alpha",
            False,
        ),
        "delta nan": ([*sel, "-s", "probcover", "-b", "3", "-p", "delta=nan"], "delta", False),
        "max_graph_memory 100": (
            [*sel, "-s", "probcover", "-b", "3", "-p", "max_graph_memory=100"],
            "max_graph_memory",
            False,
        ),
        "param without =": ([*sel, "-s", "random", "-b", "3", "-p", "x"], "key=value", False),
        "unknown param": ([*sel, "-s", "random", "-b", "3", "-p", "nosuch=1"], "nosuch", False),
        "NaN features": (
            [*cli, "select", str(tmp / "nan.npy"), "-s", "gram_schmidt", "-b", "3"],
            "NaN",
            False,
        ),
        "features dir": ([*cli, "select", str(tmp / "adir"), "-s", "random", "-b", "3"], "directory", False),
        "features empty": (
            [*cli, "select", str(tmp / "empty.npy"), "-s", "random", "-b", "3"],
            "empty",
            False,
        ),
        "features text": (
            [*cli, "select", str(tmp / "text.txt"), "-s", "random", "-b", "3"],
            "text.txt",
            False,
        ),
        "features missing": (
            [*cli, "select", str(tmp / "no.npy"), "-s", "random", "-b", "3"],
            "no.npy",
            False,
        ),
        "labeled out of range": (
            [*sel, "-s", "random", "-b", "3", "--labeled", str(tmp / "lab.txt")],
            "99",
            False,
        ),
        "output dir missing": (
            [*sel, "-s", "random", "-b", "3", "-o", str(tmp / "no" / "x.npy")],
            "-o",
            False,
        ),
        "output type": ([*sel, "-s", "random", "-b", "3", "-o", str(tmp / "x.xyz")], "-o", False),
        "seed negative": ([*sel, "-s", "random", "-b", "3", "--seed", "-1"], "random_state", False),
        "good select": ([*sel, "-s", "gram_schmidt", "-b", "3", "--seed", "0"], None, True),
        "good probcover": ([*sel, "-s", "probcover", "-b", "3", "--seed", "0"], None, True),
        "strategies": ([*cli, "strategies"], None, True),
        "features unknown dataset": (
            [*cli, "features", "nosuch", "-e", "raw", "-o", str(tmp / "x.npy")],
            "nosuch",
            False,
        ),
        "features unknown extractor": (
            [*cli, "features", "digits", "-e", "nosuch", "-o", str(tmp / "x.npy")],
            "nosuch",
            False,
        ),
        "features limit -1": (
            [*cli, "features", "digits", "-e", "raw", "-o", str(tmp / "x.npy"), "--limit", "-1"],
            "limit",
            False,
        ),
        "features cache dir is a file": (
            [*cli, "features", "digits", "-e", "raw", "-o", str(tmp / "x.npy"), "--cache-dir", str(f)],
            "cache",
            False,
        ),
        "show missing indices": (
            [*cli, "show", "digits", str(tmp / "no.json"), "-o", str(tmp / "g.png")],
            "no.json",
            False,
        ),
        "bench threads 0": (
            ["-m", "benchmarks", "--threads", "0", "--out", str(tmp / "run")],
            "--threads",
            False,
        ),
        "bench seeds 0": (["-m", "benchmarks", "--seeds", "0", "--out", str(tmp / "run")], "--seeds", False),
        "bench unknown strategy": (
            ["-m", "benchmarks", "--strategies", "nosuch", "--out", str(tmp / "run")],
            "nosuch",
            False,
        ),
        "bench out is a file": (["-m", "benchmarks", "--out", str(f)], "--out", False),
        "subsel-usb no config": (
            ["-m", "subsel_plugins.adapters.usb.runner", str(tmp / "no.yaml")],
            None,
            False,
        ),
    }
    for name, (argv, needle, ok) in cases.items():
        p.door("door", name, argv, needle, ok=ok, cwd=tmp)
    # a cache entry replaced by a directory: compute once, then swap the file for a directory
    cache = tmp / "cache"
    base = [*cli, "features", "digits", "-e", "raw", "--limit", "20", "--cache-dir", str(cache)]
    p.door("door", "features into a fresh cache", [*base, "-o", str(tmp / "a.npy")], ok=True, cwd=tmp)
    entries = sorted(cache.rglob("*.npy"))
    if entries:
        entries[0].unlink()
        entries[0].mkdir()
        p.door(
            "door", "cache file replaced by a directory", [*base, "-o", str(tmp / "b.npy")], "cache", cwd=tmp
        )
        entries[0].rmdir()
        p.door("door", "features recomputed", [*base, "-o", str(tmp / "a.npy")], ok=True, cwd=tmp)
        side = entries[0].with_name(entries[0].name + ".json")
        if side.exists():
            side.unlink()
        side.mkdir()
        p.door(
            "door",
            "cache sidecar replaced by a directory",
            [*base, "-o", str(tmp / "c.npy")],
            "cache",
            cwd=tmp,
        )


# --- the feature cache in Python ---------------------------------------------------------------


def cache(p: Probes, tmp: Path):
    from subsel_plugins.features import load_or_compute

    root = tmp / "pcache"
    for label, kw, param in [
        ("unknown dataset", dict(dataset="nosuch", split="train", extractor="raw"), "nosuch"),
        ("unknown extractor", dict(dataset="digits", split="train", extractor="nosuch"), "nosuch"),
        ("split val", dict(dataset="digits", split="val", extractor="raw"), "split"),
        ("limit -1", dict(dataset="digits", split="train", extractor="raw", limit=-1), "limit"),
        ("limit 'x'", dict(dataset="digits", split="train", extractor="raw", limit="x"), "limit"),
        ("params not a dict", dict(dataset="digits", split="train", extractor="raw", params=[1]), "params"),
        (
            "cache dir is a file",
            dict(dataset="digits", split="train", extractor="raw", cache_dir=__file__),
            "cache",
        ),
    ]:
        kw.setdefault("cache_dir", root)
        p.call("cache", label, lambda: load_or_compute(**kw), param)
    p.call(
        "cache",
        "digits raw limit 30",
        lambda: load_or_compute("digits", "train", "raw", cache_dir=root, limit=30),
        check=lambda a: None if a.shape[0] == 30 and np.isfinite(a).all() else f"shape {a.shape}",
    )


# --- adapters ---------------------------------------------------------------------------------


def adapters(p: Probes):
    X = np.random.default_rng(3).normal(size=(40, 5))
    try:
        from subsel_plugins.adapters.skactiveml import adapter_for
    except ImportError:
        p.record("skactiveml", "import", "clean", "skipped: scikit-activeml not installed")
    else:
        y = np.full(40, np.nan)
        y[:4] = 0
        for name in ("random", "feature_norm", "gram_schmidt", "typiclust", "probcover", "probcover_then_gs"):
            cls = adapter_for(name)
            cases = {
                "candidates [-1, 10]": (dict(candidates=[-1, 10]), "candidates"),
                "candidates [10.0, 11.5]": (dict(candidates=[10.0, 11.5]), "candidates"),
                "candidates [5, 40]": (dict(candidates=[5, 40]), "candidates"),
                "candidates []": (dict(candidates=[]), "candidates"),
                "candidates wrong width": (dict(candidates=np.ones((3, 6))), "candidates"),
                "candidates NaN": (dict(candidates=np.full((3, 5), np.nan)), "candidates"),
                "candidates repeated": (dict(candidates=[6, 6]), "candidates"),
                "batch_size 0": (dict(batch_size=0), "batch_size"),
                "batch_size -1": (dict(batch_size=-1), "batch_size"),
                "batch_size 1.5": (dict(batch_size=1.5), "batch_size"),
                "batch_size '2'": (dict(batch_size="2"), "batch_size"),
                "return_utilities 'yes'": (dict(return_utilities="yes"), "return_utilities"),
            }
            for label, (kw, param) in cases.items():
                p.call("skactiveml", f"{name}: {label}", lambda: cls(random_state=0).query(X, y, **kw), param)
            nan_X = X.copy()
            nan_X[5, 2] = np.nan
            p.call("skactiveml", f"{name}: NaN in X", lambda: cls(random_state=0).query(nan_X, y), "X")
            p.call("skactiveml", f"{name}: y of 30", lambda: cls(random_state=0).query(X, y[:30]), "y")
            p.call(
                "skactiveml",
                f"{name}: good query",
                lambda: (cls(random_state=0).query(X, y, batch_size=3), np.zeros(3)),
                check=selection_check(40, 3, range(4)),
            )
    try:
        from modAL.models import ActiveLearner, Committee
        from sklearn.linear_model import LogisticRegression

        from subsel_plugins.adapters import modal
    except ImportError:
        return p.record("modal", "import", "clean", "skipped: modAL not installed")
    from subsel_plugins import GramSchmidtQuery

    p.call("modal", "query_strategy('nosuch')", lambda: modal.query_strategy("nosuch"), "nosuch")
    p.call(
        "modal",
        "query_strategy bad parameter",
        lambda: modal.query_strategy("gram_schmidt", norm="l9")(
            ActiveLearner(estimator=LogisticRegression()), X, 3
        ),
        "norm",
    )
    yl = np.arange(40) % 2

    def learner():
        return ActiveLearner(
            estimator=LogisticRegression(),
            X_training=X[:4],
            y_training=yl[:4],
            query_strategy=GramSchmidtQuery(),
        )

    p.call("modal", "n_instances 0", lambda: learner().query(X, n_instances=0), "n_instances")
    p.call("modal", "n_instances 41", lambda: learner().query(X, n_instances=41), "budget")
    p.call("modal", "n_instances 3", lambda: learner().query(X, n_instances=3), check=lambda r: None)
    p.call("modal", "pool of another width", lambda: learner().query(X[:, :3], n_instances=3), "X_pool")

    def committee():
        members = [ActiveLearner(estimator=LogisticRegression(), X_training=X[:4], y_training=yl[:4])] * 2
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            Committee(learner_list=members, query_strategy=GramSchmidtQuery(random_state=0)).query(
                X, n_instances=3
            )
        names = [w.category.__name__ for w in seen]
        if "CommitteeWithoutLabeledSetWarning" not in names:
            raise AssertionError(f"no warning that the strategy sees no labeled set (warnings: {names})")

    p.call("modal", "Committee warns that the labeled set is unseen", committee)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.adversarial", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, help="write every probe and its outcome here (JSON)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a probe may take (default: 60)")
    parser.add_argument(
        "--quick", action="store_true", help="fewer strategies for the X/budget/labeled probes"
    )
    parser.add_argument(
        "--families",
        nargs="+",
        default=["api", "memory", "distributed", "doors", "cache", "adapters"],
        help="which families to run (default: all)",
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be > 0; got {args.timeout}")
    os.environ.setdefault("SUBSEL_PROGRESS", "0")
    p = Probes(args.timeout)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        steps = {
            "api": lambda: python_api(p, args.quick),
            "memory": lambda: probcover_memory(p),
            "distributed": lambda: distributed(p, tmp / "dist"),
            "doors": lambda: doors(p, tmp / "doors", args.quick),
            "cache": lambda: cache(p, tmp),
            "adapters": lambda: adapters(p),
        }
        (tmp / "dist").mkdir()
        (tmp / "doors").mkdir()
        for fam in args.families:
            steps[fam]()
    flagged = [r for r in p.rows if r["status"] == "flagged"]
    summary = {
        "command": "python -m benchmarks.adversarial " + " ".join(argv if argv is not None else sys.argv[1:]),
        "probes": len(p.rows),
        "clean": len(p.rows) - len(flagged),
        "flagged": len(flagged),
        "seconds": round(time.time() - t0, 1),
        "by_family": {
            fam: {
                "probes": sum(r["family"] == fam for r in p.rows),
                "flagged": sum(r["family"] == fam and r["status"] == "flagged" for r in p.rows),
            }
            for fam in dict.fromkeys(r["family"] for r in p.rows)
        },
    }
    print(json.dumps(summary, indent=1))
    for r in flagged:
        print(f"FLAGGED [{r['family']}] {r['probe']}: {r['detail']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"summary": summary, "probes": p.rows}, indent=1))
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
