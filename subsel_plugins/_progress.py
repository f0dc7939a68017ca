"""Progress bars for the steps that take seconds to minutes at ImageNet size.

A tqdm bar on stderr when stderr is a terminal and tqdm is installed (the
``faiss``, ``bench`` and ``all`` extras carry it); otherwise nothing is
drawn and nothing is imported. ``SUBSEL_PROGRESS=1`` forces the bars on (a
log file, say), ``SUBSEL_PROGRESS=0`` turns them off.
"""

from __future__ import annotations

import os
import sys


def enabled() -> bool:
    """Whether bars are drawn: SUBSEL_PROGRESS if set, else whether stderr is a terminal."""
    flag = os.environ.get("SUBSEL_PROGRESS", "")
    if flag in ("0", "1"):
        return flag == "1"
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class _Silent:
    """The no-op stand-in: same calls as a tqdm bar, draws nothing."""

    def __init__(self, iterable=None):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass

    def set_postfix_str(self, s=""):
        pass

    def close(self):
        pass


def progress(iterable=None, *, total=None, desc=None, unit="it", leave=False):
    """A tqdm bar over ``iterable`` (or a manual one with ``total``), or a silent stand-in.

    Use as an iterable wrapper or as a context manager with ``update(n)``.
    """
    if not enabled():
        return _Silent(iterable)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Silent(iterable)
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr, dynamic_ncols=True)


def blocks(n: int, size: int, desc: str, unit: str = "rows"):
    """``range(0, n, size)`` with a bar counted in rows (no bar for a single block)."""
    starts = range(0, n, size)
    if len(starts) <= 1:
        return starts
    bar = progress(total=n, desc=desc, unit=unit)
    return _counted(starts, n, size, bar)


def _counted(starts, n, size, bar):
    with bar:
        for s in starts:
            yield s
            bar.update(min(size, n - s))
