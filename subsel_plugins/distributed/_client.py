"""Connecting to a Dask scheduler, and counting the bytes a selection moves."""

from __future__ import annotations

import contextlib
import os
import re

import numpy as np

from ..errors import InvalidValueError

#: Seconds to wait for a scheduler (``tcp://...``) before giving up with one line
#: (environment variable ``SUBSEL_DASK_TIMEOUT`` overrides it).
CONNECT_TIMEOUT = 10.0

_LOCAL = re.compile(r"^local(?::(\d+))?$")


def parse_scheduler(text: str):
    """``('local', n_workers or None)`` or ``('address', text)``; a clear error otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidValueError(
            "--scheduler must be 'local', 'local:N' or a scheduler address like tcp://host:8786; "
            f"got {text!r}."
        )
    text = text.strip()
    m = _LOCAL.match(text)
    if m:
        n = int(m.group(1)) if m.group(1) else None
        if n is not None and n < 1:
            raise InvalidValueError(f"--scheduler local:N needs N >= 1 workers; got {text!r}.")
        return "local", n
    if re.match(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/]+$", text):
        return "address", text
    raise InvalidValueError(
        f"--scheduler must be 'local', 'local:N' or a scheduler address like tcp://host:8786; got {text!r}."
    )


@contextlib.contextmanager
def connect(scheduler: str, timeout: float | None = None):
    """A ``distributed.Client`` for ``scheduler``, closed (with its LocalCluster) on exit.

    ``local`` starts a LocalCluster on this machine with one single-threaded
    worker process per CPU core (``local:N``: N workers); an address
    (``tcp://host:8786``) connects to a running scheduler, waiting at most
    ``timeout`` seconds. The client becomes the default scheduler inside the
    block, so ``strategy.select(X, budget)`` runs on it.
    """
    kind, value = parse_scheduler(scheduler)
    if timeout is None:
        timeout = _env_timeout()
    from . import _require

    _require()
    from distributed import Client, LocalCluster

    if kind == "local":
        n = value or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(value, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise InvalidValueError(
            f"--scheduler: could not connect to {value} within {timeout:g} s ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); is a scheduler running there (dask scheduler)?"
        ) from None
    try:
        yield client
    finally:
        client.close()


def _env_timeout() -> float:
    text = os.environ.get("SUBSEL_DASK_TIMEOUT")
    if text is None:
        return CONNECT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise InvalidValueError(f"SUBSEL_DASK_TIMEOUT must be a positive number of seconds; got {text!r}.")
    return value


class Traffic:
    """Bytes a selection moves between the client and the workers, by phase.

    ``to_client`` counts the arrays the client gathers (candidate rows, bounds,
    chunk masses, race winners), ``to_workers`` the arrays it sends in tasks
    (basis vectors, draw positions, picked rows); both are the numpy payloads,
    not counting pickling and protocol overhead (a few hundred bytes per
    task). Worker-to-worker transfers are read from the workers' own counters
    (:func:`worker_transfer_bytes`) by the benchmark.
    """

    def __init__(self):
        self.phases: dict[str, dict[str, int]] = {}

    def add(
        self, phase: str, to_client: int = 0, to_workers: int = 0, tasks: int = 0, rounds: int = 1
    ) -> None:
        p = self.phases.setdefault(phase, {"to_client": 0, "to_workers": 0, "tasks": 0, "rounds": 0})
        p["to_client"] += int(to_client)
        p["to_workers"] += int(to_workers)
        p["tasks"] += int(tasks)
        p["rounds"] += rounds

    def as_dict(self) -> dict:
        return {k: dict(v) for k, v in self.phases.items()}


def nbytes(obj) -> int:
    """Bytes of the numpy arrays in ``obj`` (nested tuples, lists, dicts)."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v) for v in obj)
    if isinstance(obj, (int, float, np.generic)):
        return 8
    return 0


def current_client():
    """The active ``distributed.Client``, or None (dask's local scheduler then runs the tasks)."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is part of the dask extra
        return None
    try:
        return default_client()
    except ValueError:
        return None


def worker_transfer_bytes(client) -> int:
    """Total bytes the workers have sent each other so far (their own counters)."""

    def _sent(dask_worker):
        state = getattr(dask_worker, "state", None)
        for obj in (dask_worker, state):
            for name in ("transfer_outgoing_bytes_total", "outgoing_transfer_bytes_total"):
                if obj is not None and hasattr(obj, name):
                    return int(getattr(obj, name))
        return 0

    return int(sum(client.run(_sent).values()))
