"""The k-nearest kernel of TypiClust's approximate path: faiss's search against ``knn_sq_distances``.

    python benchmarks/knn_kernel.py [--out benchmarks/results/knn_kernel]

Two questions, one run, one thread (a Dask worker's share here):

- **split invariance**: TypiClust on Dask merges the k nearest of each group
  of chunks and must get the bits the single machine gets over the whole
  cluster. For random shapes at each ``d``, the k nearest squared distances
  over the whole base are compared bit for bit with those merged from two
  parts of it (a random cut), and over the whole query set with those of two
  parts of it. Counted for faiss's ``IndexFlatL2.search`` (the kernel before)
  and for :func:`subsel_plugins.kernels.knn_sq_distances` (exact per pair).
- **speed**: milliseconds per call on unit rows (d = 384) at the shapes of
  the typicality's two distance rounds on Dask (a cluster's members in one
  group of chunks against 512 references, k' + 1 = 3; 128 candidates against
  a group's members, k + 1 = 21) and of the single machine's candidates
  (128 against a whole cluster), with the ratio of the two in the same run.

Writes ``knn_kernel.json`` (every number) and ``knn_kernel.md`` (the tables).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from subsel_plugins import kernels  # noqa: E402

SPEED_SHAPES = [  # (what, rows of the base, queries, k)
    ("coarse: 128 members x 512 refs", 512, 128, 3),
    ("coarse: 500 members x 512 refs", 512, 500, 3),
    ("coarse: 2000 members x 512 refs", 512, 2000, 3),
    ("candidates: 128 x 500 members", 500, 128, 21),
    ("candidates: 128 x 5000 members", 5000, 128, 21),
    ("one machine: 128 x 200000 members", 200_000, 128, 21),
]


def faiss_search(base, queries, k):
    import faiss

    index = faiss.IndexFlatL2(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    dist, _ = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return np.maximum(dist.astype(np.float64), 0.0)


KERNELS = {"faiss IndexFlatL2.search": faiss_search, "knn_sq_distances": kernels.knn_sq_distances}


def invariance(d_values, trials, seed):
    """Per kernel and d: trials whose merged k nearest differ from the whole's (base cut, query cut)."""
    rng = np.random.default_rng(seed)
    out = []
    for d in d_values:
        counts = {name: [0, 0] for name in KERNELS}
        for _ in range(trials):
            nb, nq = int(rng.integers(40, 700)), int(rng.integers(2, 300))
            k = int(rng.integers(1, 21))
            B = rng.standard_normal((nb, d)).astype(np.float32)
            B /= np.linalg.norm(B, axis=1, keepdims=True)
            Q = rng.standard_normal((nq, d)).astype(np.float32)
            Q /= np.linalg.norm(Q, axis=1, keepdims=True)
            cut = int(rng.integers(k, nb - k + 1)) if nb >= 2 * k else nb // 2
            qcut = int(rng.integers(1, nq))
            for name, knn in KERNELS.items():
                whole = knn(B, Q, k)
                if cut >= k and nb - cut >= k:
                    merged = np.sort(np.concatenate([knn(B[:cut], Q, k), knn(B[cut:], Q, k)], axis=1), axis=1)
                    counts[name][0] += not np.array_equal(merged[:, :k], whole)
                split = np.concatenate([knn(B, Q[:qcut], k), knn(B, Q[qcut:], k)])
                counts[name][1] += not np.array_equal(split, whole)
        for name, (b, q) in counts.items():
            out.append(
                {"d": d, "kernel": name, "trials": trials, "base_cut_differs": b, "query_cut_differs": q}
            )
    return out


def speed(seed, repeats):
    rng = np.random.default_rng(seed)
    out = []
    for what, nb, nq, k in SPEED_SHAPES:
        B = rng.standard_normal((nb, 384)).astype(np.float32)
        B /= np.linalg.norm(B, axis=1, keepdims=True)
        Q = rng.standard_normal((nq, 384)).astype(np.float32)
        Q /= np.linalg.norm(Q, axis=1, keepdims=True)
        r = max(2, min(repeats, int(repeats * 2e6 / (nb * nq))))
        ms = {}
        for name, knn in KERNELS.items():
            knn(B, Q, k)
            t = time.perf_counter()
            for _ in range(r):
                knn(B, Q, k)
            ms[name] = (time.perf_counter() - t) / r * 1e3
        equal = bool(np.array_equal(faiss_search(B, Q, k), kernels.knn_sq_distances(B, Q, k)))
        out.append(
            {"shape": what, "base": nb, "queries": nq, "k": k, "repeats": r, "ms": ms, "bits_equal": equal}
        )
    return out


def markdown(res):
    names = list(KERNELS)
    lines = [
        "Split invariance: trials (random shapes, unit rows) whose merged k nearest differ from the whole's",
        "",
        "| d | kernel | trials | base cut in two | queries cut in two |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in res["invariance"]:
        cells = [r["d"], r["kernel"], r["trials"], r["base_cut_differs"], r["query_cut_differs"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += [
        "",
        "Speed: ms per call, d = 384, one thread, same run",
        "",
        f"| shape | k | {names[0]} | {names[1]} | ratio | same bits |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in res["speed"]:
        a, b = r["ms"][names[0]], r["ms"][names[1]]
        lines.append(f"| {r['shape']} | {r['k']} | {a:.2f} | {b:.2f} | {b / a:.2f} | {r['bits_equal']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/knn_kernel"))
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    with threadpool_limits(1):
        res = {
            "command": "python benchmarks/knn_kernel.py",
            "faiss": faiss.__version__,
            "numpy": np.__version__,
            "machine": platform.processor() or platform.machine(),
            "invariance": invariance([384, 512, 768, 1024], args.trials, args.seed),
            "speed": speed(args.seed, args.repeats),
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "knn_kernel.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / "knn_kernel.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
