"""Connecting to a Dask scheduler, and counting the bytes a selection moves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import warnings

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
    if re.match(r"^(tcp|tls|ucx|ws|wss)://[^\s/]+:\d+$", text) or re.match(r"^inproc://[^\s/]+$", text):
        return "address", text
    if re.match(r"^(tcp|tls|ucx|ws|wss)://[^\s/:]+$", text):
        raise InvalidValueError(
            f"--scheduler: {text!r} has no port; give the scheduler's, e.g. {text}:8786 "
            "(`dask scheduler` prints its address as 'Scheduler at: tcp://...')."
        )
    raise InvalidValueError(
        f"--scheduler must be 'local', 'local:N' or a scheduler address like tcp://host:8786; got {text!r}."
    )


@contextlib.contextmanager
def connect(scheduler: str, timeout: float | None = None, *, quiet: bool = False):
    """A ``distributed.Client`` for ``scheduler``, closed (with its LocalCluster) on exit.

    ``local`` starts a LocalCluster on this machine with one single-threaded
    worker process per CPU core (``local:N``: N workers); an address
    (``tcp://host:8786``) connects to a running scheduler, waiting at most
    ``timeout`` seconds. The client becomes the default scheduler inside the
    block, so ``strategy.select(X, budget)`` runs on it.

    Before the client connects, the address gets a Dask handshake and an
    ``identity`` request under one deadline of ``timeout`` seconds: a port
    where nothing listens, a server that is not a Dask scheduler (an HTTP
    server, a listener that never answers or answers other bytes) and a Dask
    worker are each one :class:`~subsel_plugins.errors.InvalidValueError`
    within the timeout, never a hang.

    ``quiet=True`` (the ``subsel`` command without ``--debug``) keeps dask's
    log records and its own warnings off stderr inside the block (the
    LocalCluster's workers included): a failure is then one error, not a
    page of logs.
    """
    kind, value = parse_scheduler(scheduler)
    if timeout is None:
        timeout = _env_timeout()
    from . import _require

    _require()
    from distributed import Client, LocalCluster

    with quiet_dask() if quiet else contextlib.nullcontext():
        if kind == "local":
            n = value or os.cpu_count() or 1
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # its (dashboard-less) HTTP server on a free loopback port, not on 8787:
                # "Port 8787 is already in use" is noise for a cluster nobody browses
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=_SILENT if quiet else logging.ERROR,
            )
            try:
                with Client(cluster) as client:
                    yield client
            finally:
                cluster.close()
            return
        check_scheduler(value, timeout)
        try:
            client = Client(value, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise InvalidValueError(
                f"--scheduler: could not connect to {value} within {timeout:g} s ({_brief(exc)}); "
                "is a scheduler running there (dask scheduler)?"
            ) from None
        try:
            _wait_for_a_worker(client, value, timeout)
            yield client
        finally:
            client.close()


def _wait_for_a_worker(client, address: str, timeout: float) -> None:
    """One error when no worker joins within ``timeout`` seconds (a selection would wait forever).

    ``SUBSEL_DASK_ADAPTIVE=1`` skips the check, for a cluster that starts its
    workers only once tasks arrive (adaptive scaling from zero).
    """
    if os.environ.get("SUBSEL_DASK_ADAPTIVE", "").strip() in ("1", "true", "yes"):
        return
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, asyncio.TimeoutError):
        raise InvalidValueError(
            f"--scheduler: the scheduler at {address} has no workers (none joined within {timeout:g} s), "
            f"so a selection would wait forever; start some (dask worker {address}) and run again, or set "
            "SUBSEL_DASK_ADAPTIVE=1 for a cluster that starts workers only when tasks arrive."
        ) from None


#: A logging level above CRITICAL: nothing passes.
_SILENT = logging.CRITICAL + 10

#: Loggers dask's processes write to stderr through (their handlers are set up by distributed).
_DASK_LOGGERS = ("distributed", "tornado", "bokeh")


@contextlib.contextmanager
def quiet_dask():
    """Keep dask's log records and the warnings ``distributed`` issues off stderr in this process.

    Raises the level of the ``distributed`` (``tornado``, ``bokeh``) loggers and
    of every configured logger below them above CRITICAL, and ignores warnings
    issued from ``distributed`` modules; both are restored on exit.
    """
    manager = logging.Logger.manager
    names = [
        name
        for name in list(manager.loggerDict)
        if any(name == root or name.startswith(root + ".") for root in _DASK_LOGGERS)
    ]
    loggers = {logging.getLogger(name) for name in (*_DASK_LOGGERS, *names)}
    levels = {lg: lg.level for lg in loggers}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"distributed(\.|$)")
        for lg in loggers:
            lg.setLevel(_SILENT)
        try:
            yield
        finally:
            for lg, level in levels.items():
                lg.setLevel(level)


def check_scheduler(address: str, timeout: float) -> None:
    """Check that a Dask scheduler answers at ``address`` within ``timeout`` seconds; one error if not.

    Opens a Dask connection (its handshake) and asks for the server's
    ``identity``, all under one deadline, in a thread of its own (so it works
    from inside a running event loop too). What is refused:

    - nothing accepts the connection: ``could not connect ... within T s``;
    - the connection is accepted but no Dask answer comes (an HTTP server, a
      listener that never answers): ``... did not answer ... not a Dask scheduler``;
    - the peer closes the connection or answers bytes that are not the Dask
      protocol (a length prefix of exabytes: ``MemoryError``, ``ValueError``);
    - a Dask worker or nanny: ``... is a Dask worker, not a scheduler``.

    Raises
    ------
    InvalidValueError
    """
    import threading

    from distributed.security import Security

    try:  # the connection arguments a Client uses (TLS from the dask config)
        args = Security().get_connection_args("client")
    except Exception as exc:  # noqa: BLE001 - unreadable certificate files and the like
        raise InvalidValueError(
            f"--scheduler: could not load the TLS settings of the dask config ({_brief(exc)})."
        ) from None
    if address.startswith("tls://") and args.get("ssl_context") is None:
        raise InvalidValueError(
            f"--scheduler: {address} needs TLS, and the dask config names no client certificate "
            "(distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and .key)."
        )
    box: dict = {}

    def probe():
        try:
            box["identity"] = asyncio.run(_identity(address, timeout, args))
        except BaseException as exc:  # noqa: BLE001 - every failure of the probe is reported below
            box["error"] = exc

    thread = threading.Thread(target=probe, name="subsel-scheduler-probe", daemon=True)
    thread.start()
    # the probe keeps its own deadline (timeout + 1 s); this one is the backstop
    thread.join(timeout + 5.0)
    hint = "check the address and port (`dask scheduler` prints its own as 'Scheduler at: tcp://...')"
    if thread.is_alive() or isinstance(box.get("error"), (TimeoutError, asyncio.TimeoutError)):
        raise InvalidValueError(
            f"--scheduler: {address} accepted the connection but gave no Dask answer within "
            f"{timeout:g} s: what listens there is not a Dask scheduler (or it is stuck); {hint}."
        )
    exc = box.get("error")
    if exc is not None:
        from distributed.comm.core import CommClosedError

        if isinstance(exc, OSError) and not isinstance(exc, CommClosedError):
            # distributed's own retries gave up: nothing accepted the connection in time
            raise InvalidValueError(
                f"--scheduler: could not connect to {address} within {timeout:g} s ({_brief(exc)}); "
                "is a scheduler running there (dask scheduler)?"
            ) from None
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not the peer's doing
            raise exc
        if isinstance(exc, CommClosedError):
            why = "it closed the connection during the Dask handshake"
        else:  # e.g. a length prefix of exabytes: MemoryError, ValueError
            why = f"its reply is not the Dask protocol ({_brief(exc, 120)})"
        raise InvalidValueError(
            f"--scheduler: what answers at {address} is not a Dask scheduler: {why}; {hint}."
        ) from None
    ident = box.get("identity")
    kind = ident.get("type") if isinstance(ident, dict) else None
    if kind != "Scheduler":
        what = f"a Dask {kind.lower()}" if isinstance(kind, str) else "a Dask server of an unknown kind"
        raise InvalidValueError(f"--scheduler: {address} is {what}, not a scheduler; {hint}.")


async def _identity(address: str, timeout: float, args: dict):
    """The ``identity`` reply of the Dask server at ``address``; raises on any failure or at the deadline."""
    from distributed.comm import connect as comm_connect

    async def ask():
        comm = await comm_connect(address, timeout=timeout, **args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    # distributed retries the connection itself until `timeout` and then raises OSError;
    # a TimeoutError here, a second later, means the peer accepted it and never answered
    return await asyncio.wait_for(ask(), timeout + 1.0)


def _brief(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` of an exception, on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}" if text else type(exc).__name__


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


def workers_memory_left():
    """Bytes the Dask workers have left under their memory limits (their limits less their
    processes' memory); None without a distributed client or without limits."""
    try:
        from distributed import get_client

        info = get_client().scheduler_info()
    except (ImportError, ValueError):
        return None
    workers = [w for w in info.get("workers", {}).values() if w.get("memory_limit")]
    if not workers:  # no worker has a memory limit: nothing to read
        return None
    return int(sum(max(0, w["memory_limit"] - w.get("metrics", {}).get("memory", 0)) for w in workers))


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
