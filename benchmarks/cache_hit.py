"""How much a feature-cache hit costs against reading the cached file once.

Writes one cache entry of ``--rows`` x ``--dim`` float32 (default 1,048,576 x
512 = 2 GiB) under ``--dir``, then times: a cache hit (stat, sidecar, .npy
header, memory map), a hit with ``verify=True`` (reads and hashes the whole
file, what every hit cost before), and one plain full read of the file. The
file is usually still in the page cache after writing, so the full read is
a best case for reading. The entry is deleted at the end.

    python benchmarks/cache_hit.py --dir /tmp
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from subsel_plugins.features._cache import load_array, save_array


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _read_all(path: Path) -> None:
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(1 << 24)
        while fh.readinto(buf):
            pass


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default=tempfile.gettempdir(), help="where to write the test entry")
    p.add_argument("--rows", type=int, default=1 << 20)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--repeat", type=int, default=5, help="timings are the best of this many")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="subsel-cache-hit-") as tmp:
        path, key = Path(tmp) / "features.npy", {"bench": "cache_hit"}
        x = np.ones((args.rows, args.dim), dtype=np.float32)
        t = time.perf_counter()
        save_array(path, x, key)
        write = time.perf_counter() - t
        del x
        size = path.stat().st_size
        hit = _best(lambda: load_array(path, key), args.repeat)
        verify = _best(lambda: load_array(path, key, verify=True), max(1, args.repeat // 2))
        read = _best(lambda: _read_all(path), max(1, args.repeat // 2))
    print(f"entry: {args.rows} x {args.dim} float32, {size / 2**30:.2f} GiB; write + SHA-256 {write:.2f} s")
    print(f"cache hit (stat + sidecar + header):  {hit * 1e3:9.3f} ms")
    print(f"hit with verify=True (read + hash):   {verify * 1e3:9.1f} ms  ({verify / hit:,.0f}x a hit)")
    print(f"one full read of the file:            {read * 1e3:9.1f} ms  ({read / hit:,.0f}x a hit)")


if __name__ == "__main__":
    main()
