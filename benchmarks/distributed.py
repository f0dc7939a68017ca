"""Distributed selection benchmark (docs/guide/distributed.md): `tox -e bench-distributed`.

Cases (each runs in its own process, so its peak memory is its own):

- ``shards-gs`` / ``shards-norm``: Gram-Schmidt (s=380) and feature-norm (s=1000)
  sampling over N x d float32 ``.npy`` shards on disk, on a LocalCluster;
- ``single-gs`` / ``single-norm``: the single-machine path on the same rows,
  one memory-mapped ``.npy`` file (numpy cannot memory-map a list of files as
  one array, so the rows are written twice);
- ``seeded-gs``: Gram-Schmidt (s=380) over rows generated per chunk on the
  workers from a seed (:class:`~subsel_plugins.distributed.SeededRows`, uniform
  law: generation is most of a pass), no disk;
- ``<single|shards|seeded>-kcenter``: k-center greedy (budget 1000: one pass
  per pick), and ``<single|shards|seeded>-typiclust-then-gs``: the paper's
  combination (TypiClust's approximate path proposes 2000, Gram-Schmidt keeps
  1000); ``<single|shards|seeded>-probcover``: ProbCover's approximate path
  (budget 1000; the graph on the workers, the greedy on the client).
  ``--budget`` overrides a case's budget.

Usage::

    python benchmarks/distributed.py generate --root /work/bench-data/distributed --n 10000000
    python benchmarks/distributed.py run --root /work/bench-data/distributed --cases all
    python benchmarks/distributed.py case seeded-gs --n 100000000       # one case, JSON on stdout
    python benchmarks/distributed.py table benchmarks/results/distributed/n1e6.jsonl   # the markdown table

Every case reports wall time, the client's peak resident memory (its own
process: the workers are other processes), and the bytes moved as counted by
the sampler (client <-> workers payloads) and by the workers' own transfer
counters (worker <-> worker).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

if __name__ == "__main__":
    # run as a script, this file's folder comes first on sys.path and this
    # module would shadow the `distributed` package: drop the folder
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]

D = 384
SEED = 0
GS_BUDGET = 380  # <= d: Gram-Schmidt has at most rank(X) <= d real picks (docs/guide/method.md)
NORM_BUDGET = 1000
SHARD_ROWS = 1_000_000


def generate(root: Path, n: int, d: int = D, shard_rows: int = SHARD_ROWS, single: bool = True) -> None:
    """Write SeededRows(n, d, SEED) as shards ``emb_0000.npy``... and (``single``) as ``all.npy``."""
    from subsel_plugins.distributed import SeededRows

    src = SeededRows(n, d, seed=SEED, chunk_rows=shard_rows)
    root.mkdir(parents=True, exist_ok=True)
    if (root / "all.npy").exists():  # written once: later runs reuse it
        shape = np.load(root / "all.npy", mmap_mode="r").shape
        if shape != (n, d):
            raise SystemExit(f"{root / 'all.npy'} holds {shape}, not ({n}, {d}): use another --root")
        single = False
    big = np.lib.format.open_memmap(root / "all.npy.part", "w+", np.float32, (n, d)) if single else None
    for c in range(src.n_chunks):
        a, b = int(src.starts[c]), int(src.starts[c + 1])
        path = root / f"emb_{c:04d}.npy"
        if path.exists() and big is None:
            continue
        block = src.read_block(c)
        if not path.exists():
            tmp = root / f"emb_{c:04d}.npy.part"
            with open(tmp, "wb") as fh:
                np.save(fh, block)
            tmp.rename(path)
        if big is not None:
            big[a:b] = block
        print(f"chunk {c + 1}/{src.n_chunks} written", file=sys.stderr, flush=True)
    if big is not None:
        big.flush()
        del big
        (root / "all.npy.part").rename(root / "all.npy")


def _machine() -> dict:
    """Where a record was measured: the CPU model, cores and the commit (rows of two machines differ
    in time, and the approximate paths' k-means in its float32 BLAS bits, hence in picks)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True
        )
        commit = out.stdout.strip() or None
    except OSError:
        commit = None
    return {"cpu": cpu, "cores": os.cpu_count(), "commit": commit}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _bytes_summary(stats: dict | None, worker_bytes: int) -> dict:
    if not stats:
        return {"worker_to_worker": worker_bytes}
    tr = stats.get("traffic", {})
    scans = tr.get("norm", {})
    picks_phases = [tr.get(p, {}) for p in ("draw", "rows")]
    refresh = tr.get("refresh", {})
    to_client = sum(p.get("to_client", 0) for p in tr.values())
    to_workers = sum(p.get("to_workers", 0) for p in tr.values())
    return {
        "to_client": to_client,
        "to_workers": to_workers,
        "worker_to_worker": worker_bytes,
        "trial_rounds": tr.get("draw", {}).get("rounds", 0),  # batches of trials
        "trial_bytes": sum(p.get("to_client", 0) + p.get("to_workers", 0) for p in picks_phases),
        "refresh_bytes": refresh.get("to_client", 0) + refresh.get("to_workers", 0),
        "norm_pass_bytes": scans.get("to_client", 0) + scans.get("to_workers", 0),
    }


#: What each case runs: (registered strategy name, its default budget).
WHAT = {
    "norm": ("feature_norm", NORM_BUDGET),
    "gs": ("gram_schmidt", GS_BUDGET),
    "kcenter": ("kcenter_greedy", 1000),
    "typiclust-then-gs": ("typiclust_then_gs", 1000),
    "probcover": ("probcover", 1000),
}


def run_case(case: str, root: Path, n: int, workers: int, budget: int | None = None) -> dict:
    """One case in this process; returns its record."""
    from subsel_plugins import get_strategy

    name, default_budget = WHAT[case.split("-", 1)[1]]
    strategy = get_strategy(name, random_state=SEED)
    if name == "typiclust_then_gs":
        strategy.set_params(first__approximate=True)  # the single machine takes the same path as Dask
    if name == "probcover":
        strategy.set_params(approximate=True)
    budget = budget or default_budget
    rec = {"case": case, "strategy": name, "budget": budget, "workers": None}
    if case.startswith("single"):
        X = np.load(root / "all.npy", mmap_mode="r")
        rec.update(n=X.shape[0], d=X.shape[1])
        t0 = time.perf_counter()
        idx = strategy.select(X, budget)
        rec["wall_s"] = time.perf_counter() - t0
        rec["stats"] = getattr(strategy, "stats_", None)
    else:
        from subsel_plugins.distributed import SeededRows, connect
        from subsel_plugins.distributed._client import worker_transfer_bytes

        X = sorted(str(p) for p in root.glob("emb_*.npy")) if case.startswith("shards") else None
        with connect(f"local:{workers}") as client:
            if X is None:
                X = SeededRows(n, D, seed=SEED, law="uniform")  # 3x cheaper to generate than normal
                rec.update(n=n, d=D)
            else:
                rec.update(n=int(sum(np.load(p, mmap_mode="r").shape[0] for p in X)), d=D)
            w0 = worker_transfer_bytes(client)
            t0 = time.perf_counter()
            idx = strategy.select(X, budget)
            rec["wall_s"] = time.perf_counter() - t0
            rec["workers"] = workers
            stats = getattr(strategy, "stats_", None)
            rec["stats"] = {k: v for k, v in (stats or {}).items() if k != "traffic"}
            rec["bytes"] = _bytes_summary(stats, worker_transfer_bytes(client) - w0)
    rec["client_peak_mib"] = _peak_mib()
    rec["machine"] = _machine()
    rec["first_picks"] = [int(i) for i in idx[:5]]
    # every pick, hashed: equal hashes of a single and a shards case are equal selections
    rec["picks_sha256"] = hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]
    return rec


CASES = ("single-norm", "shards-norm", "single-gs", "shards-gs", "seeded-gs") + tuple(
    f"{where}-{what}"
    for what in ("kcenter", "typiclust-then-gs", "probcover")
    for where in ("single", "shards", "seeded")
)


def _fmt_bytes(b) -> str:
    if b is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024.0
    return str(b)


def table(records: list[dict]) -> str:
    rows = [
        "| case | N | budget | workers | wall (s) | client peak (MiB) | passes | trials | "
        "client <-> workers | per batch of trials | per refresh | worker <-> worker | picks (sha256) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        st, by = r.get("stats") or {}, r.get("bytes") or {}
        rounds = by.get("trial_rounds") or 0
        refreshes = st.get("refreshes") or 0
        total = (by["to_client"] + by["to_workers"]) if "to_client" in by else None
        rows.append(
            f"| {r['case']} | {r['n']:.0e} | {r['budget']} | {r['workers'] or 1} | {r['wall_s']:.1f} | "
            f"{r['client_peak_mib']:.0f} | {st.get('passes', '-')} | {st.get('trials', '-')} | "
            f"{_fmt_bytes(total)} | "
            f"{_fmt_bytes(by['trial_bytes'] / rounds) if rounds else '-'} | "
            f"{_fmt_bytes(by['refresh_bytes'] / refreshes) if refreshes else '-'} | "
            f"{_fmt_bytes(by.get('worker_to_worker'))} | {r.get('picks_sha256', '-')} |"
        )
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/distributed.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write the .npy shards (and all.npy) once")
    g.add_argument("--root", type=Path, default=Path("/work/bench-data/distributed"))
    g.add_argument("--n", type=int, default=10_000_000)
    g.add_argument("--no-single", action="store_true", help="shards only (no all.npy)")
    c = sub.add_parser("case", help="run one case in this process, print its JSON record")
    c.add_argument("case", choices=CASES)
    c.add_argument("--root", type=Path, default=Path("/work/bench-data/distributed"))
    c.add_argument("--n", type=int, default=100_000_000, help="rows of seeded-gs")
    c.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    c.add_argument("--budget", type=int, default=None, help="override the case's budget")
    r = sub.add_parser(
        "run", help="run cases, each in a fresh process; append JSON lines and print the table"
    )
    r.add_argument("--cases", default="all", help="comma-separated among " + ", ".join(CASES))
    r.add_argument("--root", type=Path, default=Path("/work/bench-data/distributed"))
    r.add_argument("--n", type=int, default=100_000_000, help="rows of seeded-gs")
    r.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    r.add_argument("--out", type=Path, default=Path("bench-results/distributed.jsonl"))
    r.add_argument("--budget", type=int, default=None, help="override every case's budget")
    t = sub.add_parser("table", help="print the markdown table of a results file (JSON lines)")
    t.add_argument("results", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "table":
        if not args.results.is_file():
            p.error(f"no results file at {args.results}")
        try:
            records = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            p.error(f"{args.results} is not a file of JSON lines ({exc})")
        need = {"case", "n", "budget", "wall_s", "client_peak_mib"}
        if not records or any(not isinstance(r, dict) or not need <= set(r) for r in records):
            p.error(f"{args.results} holds no records of `distributed.py run` (each needs {sorted(need)})")
        print(table(records))
        return 0
    if getattr(args, "budget", None) is not None and args.budget < 1:
        p.error(f"--budget must be a positive integer; got {args.budget}")
    if args.cmd == "generate":
        generate(args.root, args.n, single=not args.no_single)
        return 0
    if args.cmd == "case":
        print(json.dumps(run_case(args.case, args.root, args.n, args.workers, args.budget)))
        return 0
    cases = CASES if args.cases == "all" else tuple(args.cases.split(","))
    bad = [x for x in cases if x not in CASES]
    if bad:
        p.error(f"unknown case(s) {bad}; expected among {', '.join(CASES)}")
    needs_files = any(not x.startswith("seeded") for x in cases)
    if needs_files and not (args.root / "all.npy").exists():
        p.error(
            f"no data under {args.root}: run "
            f"`python benchmarks/distributed.py generate --root {args.root}` first"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for case in cases:
        cmd = [sys.executable, __file__, "case", case, "--root", str(args.root), "--n", str(args.n)]
        cmd += ["--workers", str(args.workers)]
        if args.budget is not None:
            cmd += ["--budget", str(args.budget)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-4000:])
            return out.returncode
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        records.append(rec)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), file=sys.stderr, flush=True)
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
