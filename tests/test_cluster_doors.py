"""``subsel select --scheduler``: every cluster failure is one line on stderr with exit 2, never a hang.

Real processes on the loopback address only: a ``dask scheduler`` and a ``dask worker`` (started in
another directory than the client), servers that are not Dask schedulers (``python -m http.server``,
listeners that never answer, answer garbage or hang up), a scheduler killed mid-run, a LocalCluster
next to an occupied port 8787. Each subprocess is killed when its test ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
from distributed import KilledWorker  # noqa: E402

import subsel_plugins  # noqa: E402
from subsel_plugins import GramSchmidtQuery  # noqa: E402
from subsel_plugins.dispatch import _cluster_failures, select_with_scores  # noqa: E402
from subsel_plugins.distributed import NpyShards, connect  # noqa: E402
from subsel_plugins.distributed._client import quiet_dask  # noqa: E402
from subsel_plugins.errors import ClusterError, InvalidValueError  # noqa: E402

HOST = "127.0.0.1"
#: SUBSEL_DASK_TIMEOUT of the command lines run here (seconds)
TIMEOUT = 3
#: where the imported subsel_plugins lives: subprocesses (workers in other directories) import the same
PACKAGE_ROOT = str(Path(subsel_plugins.__file__).resolve().parents[1])


# -- helpers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def child_env(**extra) -> dict:
    path = os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "SUBSEL_DASK_TIMEOUT": str(TIMEOUT), **extra}


def start(args, log: Path, cwd=None) -> subprocess.Popen:
    """A subprocess in a session of its own, its output in ``log``."""
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [sys.executable, *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=child_env(),
            start_new_session=True,
        )


def stop(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and what it started (its own process group)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for_text(log: Path, text: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"{text!r} not in {log.name} within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def dask_cluster(tmp: Path, worker_cwd: Path):
    """A scheduler and a one-thread worker (no nanny) started in ``worker_cwd``: (address, scheduler, log)."""
    port = free_port()
    address = f"tcp://{HOST}:{port}"
    slog, wlog = tmp / "scheduler.log", tmp / "worker.log"
    sched = start(
        ["-m", "distributed.cli.dask_scheduler", "--host", HOST, "--port", str(port), "--no-dashboard"], slog
    )
    worker = None
    try:
        wait_for_text(slog, "Scheduler at:", sched)
        worker = start(
            ["-m", "distributed.cli.dask_worker", address, "--host", HOST, "--nthreads", "1"]
            + ["--no-nanny", "--no-dashboard"],
            wlog,
            cwd=worker_cwd,
        )
        wait_for_text(slog, "Register worker", sched)
        yield address, sched, slog
    finally:
        if worker is not None:
            stop(worker)
        stop(sched)


def run_cli(*args, cwd=None, timeout=120, **env):
    """``subsel`` in a subprocess: (completed process, seconds)."""
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "subsel_plugins.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=child_env(**env),
    )
    return out, time.monotonic() - t0


def assert_one_line(out, *needles):
    assert out.returncode == 2, (out.returncode, out.stderr[-3000:])
    err = out.stderr
    assert err.startswith("subsel select: error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def make_shards(root: Path, n_files=4, rows=20000, d=32) -> np.ndarray:
    (root / "emb").mkdir(parents=True)
    X = np.random.default_rng(0).standard_normal((n_files * rows, d), dtype=np.float32)
    for k in range(n_files):
        np.save(root / "emb" / f"part_{k}.npy", X[k * rows : (k + 1) * rows])
    return X


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """``<data>/emb/part_{0..3}.npy`` (4 x 20000 x 32 float32), the same matrix as ``<data>/store.zarr``."""
    root = tmp_path_factory.mktemp("data")
    X = make_shards(root)
    zarr = pytest.importorskip("zarr")
    z = zarr.open(str(root / "store.zarr"), mode="w", shape=X.shape, chunks=(20000, 32), dtype="f4")
    z[:] = X
    return root


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and a worker whose working directory is not the shards' parent: the address."""
    tmp = tmp_path_factory.mktemp("cluster")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    with dask_cluster(tmp, elsewhere) as (address, _, _):
        yield address


class Listener:
    """A TCP listener on the loopback address that is not a Dask scheduler.

    ``mode``: ``"silent"`` accepts and never answers; ``"garbage"`` answers bytes whose first
    eight read as a length of exabytes (``HTTP/1.0``: what an HTTP server answers); ``"hangup"``
    closes each connection at once; ``"backlog"`` never accepts (connections wait in the backlog;
    :meth:`contacted` says whether one came).
    """

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.address = f"tcp://{HOST}:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.closed = False
        if mode != "backlog":
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            with contextlib.suppress(OSError):
                if self.mode == "garbage":
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                elif self.mode == "hangup":
                    conn.close()

    def contacted(self) -> bool:
        self.sock.setblocking(False)
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self):
        self.closed = True
        for c in self.conns:
            c.close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@pytest.fixture
def listener(request):
    lst = Listener(request.param)
    try:
        yield lst
    finally:
        lst.close()


# -- 1. the scheduler killed mid-run -------------------------------------------------------


@pytest.mark.slow
def test_scheduler_killed_mid_selection_is_a_cluster_error(tmp_path, shards):
    """The Python API: the scheduler killed at the first batch of Gram-Schmidt trials raises ClusterError."""
    with dask_cluster(tmp_path, tmp_path) as (address, sched, _):
        killed = []

        def kill_scheduler(event, pool):
            if event == "batch" and not killed:
                os.kill(sched.pid, signal.SIGKILL)
                killed.append(event)

        glob = str(shards / "emb" / "*.npy")
        t0 = time.monotonic()
        with pytest.raises(ClusterError, match="connection to the Dask scheduler was lost") as info:
            with connect(address, timeout=TIMEOUT, quiet=True):
                select_with_scores(GramSchmidtQuery(random_state=0), glob, 3000, progress=kill_scheduler)
        assert killed
        # What distributed raises depends on which side notices first: a cancelled future
        # (its reason is 'scheduler-connection-lost' or, under load, 'unknown') or a closed comm.
        cause = info.value.__cause__
        assert isinstance(cause, _cluster_failures()) and not isinstance(cause, KilledWorker), repr(cause)
        assert type(cause).__name__ in str(info.value)
        # A guard against a hang (the bug was minutes of silence), not a speed claim.
        assert time.monotonic() - t0 < 120


@pytest.mark.slow
def test_cli_scheduler_killed_mid_run_is_one_line(tmp_path, shards):
    with dask_cluster(tmp_path, tmp_path) as (address, sched, slog):
        args = ["select", shards / "emb" / "*.npy", "-s", "gram_schmidt", "-b", "5000", "--seed", "0"]
        cli = subprocess.Popen(
            [sys.executable, "-m", "subsel_plugins.cli", *map(str, args), "--scheduler", address],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            start_new_session=True,
        )
        try:
            wait_for_text(slog, "Receive client connection", sched)
            time.sleep(1.0)  # tasks in flight
            assert cli.poll() is None, "the selection ended before the scheduler was killed"
            os.kill(sched.pid, signal.SIGKILL)
            stdout, stderr = cli.communicate(timeout=TIMEOUT + 60)
        finally:
            stop(cli)
    out = subprocess.CompletedProcess(cli.args, cli.returncode, stdout, stderr)
    assert_one_line(out, "the connection to the Dask scheduler was lost during the selection")
    assert stdout == ""


# -- 2. what answers is not a Dask scheduler ---------------------------------------------


@pytest.mark.parametrize(
    "listener, message",
    [
        ("silent", "accepted the connection but gave no Dask answer within 3 s"),
        ("garbage", "is not a Dask scheduler: its reply is not the Dask protocol (MemoryError"),
        ("hangup", "is not a Dask scheduler: it closed the connection during the Dask handshake"),
    ],
    indirect=["listener"],
)
def test_connect_to_what_is_not_a_scheduler_is_one_error_within_the_timeout(listener, message):
    t0 = time.monotonic()
    with pytest.raises(InvalidValueError, match="--scheduler: ") as info:
        with connect(listener.address, timeout=TIMEOUT):
            pass
    assert time.monotonic() - t0 < TIMEOUT + 10
    assert message in str(info.value) and listener.address in str(info.value)


def test_connect_to_a_worker_says_it_is_a_worker(cluster):
    from distributed import Client

    with Client(cluster, timeout=30) as c:
        worker = next(iter(c.scheduler_info()["workers"]))
    with pytest.raises(InvalidValueError, match=f"{worker} is a Dask worker, not a scheduler"):
        with connect(worker, timeout=TIMEOUT):
            pass


@pytest.mark.parametrize("listener", ["silent"], indirect=True)
def test_cli_silent_listener_is_one_line_within_the_timeout(tmp_path, listener):
    np.save(tmp_path / "x.npy", np.ones((10, 3), dtype=np.float32))
    out, secs = run_cli(
        "select", tmp_path / "x.npy", "-s", "random", "-b", "2", "--scheduler", listener.address
    )
    assert_one_line(out, f"{listener.address} accepted the connection but gave no Dask answer within 3 s")
    assert secs < TIMEOUT + 20


@pytest.mark.parametrize("listener", ["garbage"], indirect=True)
def test_cli_garbage_answer_is_one_line(tmp_path, listener):
    np.save(tmp_path / "x.npy", np.ones((10, 3), dtype=np.float32))
    out, secs = run_cli(
        "select", tmp_path / "x.npy", "-s", "random", "-b", "2", "--scheduler", listener.address
    )
    assert_one_line(out, f"what answers at {listener.address} is not a Dask scheduler")
    assert secs < TIMEOUT + 20


@pytest.mark.slow
def test_cli_http_server_is_one_line_within_the_timeout(tmp_path):
    port = free_port()
    http = start(["-m", "http.server", str(port), "--bind", HOST], tmp_path / "http.log", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:  # until it listens
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and http.poll() is None, "http.server did not start"
                time.sleep(0.1)
        np.save(tmp_path / "x.npy", np.ones((10, 3), dtype=np.float32))
        address = f"tcp://{HOST}:{port}"
        out, secs = run_cli("select", tmp_path / "x.npy", "-s", "random", "-b", "2", "--scheduler", address)
    finally:
        stop(http)
    assert_one_line(out, f"--scheduler: {address} ", "not a Dask scheduler")
    assert secs < TIMEOUT + 20


# -- 3. relative paths are the client's ----------------------------------------------


def test_relative_globs_and_paths_become_absolute(tmp_path, monkeypatch):
    make_shards(tmp_path, n_files=2, rows=10, d=3)
    monkeypatch.chdir(tmp_path)
    expected = [str(tmp_path / "emb" / f"part_{k}.npy") for k in range(2)]
    assert NpyShards("emb/*.npy").files == expected
    assert NpyShards(["emb/part_0.npy", "emb/part_1.npy"]).files == expected
    assert NpyShards("emb/part_1.npy").files == expected[1:]


@pytest.mark.slow
def test_cli_relative_glob_and_zarr_on_a_worker_started_elsewhere(shards, cluster):
    """The worker runs in another directory: the CLI resolves 'emb/*.npy' and 'store.zarr' itself."""
    common = ("-s", "gram_schmidt", "-b", "5", "--seed", "0", "--scheduler", cluster)
    with dask.config.set(scheduler="synchronous"):
        ref = GramSchmidtQuery(random_state=0).select(str(shards / "emb" / "*.npy"), 5).tolist()
    for features in ("emb/*.npy", "store.zarr"):
        out, _ = run_cli("select", features, *common, cwd=shards)
        assert out.returncode == 0 and out.stderr == "", out.stderr[-3000:]
        assert [int(t) for t in out.stdout.split()] == ref, features


# -- 4. a LocalCluster keeps dask's logs to itself ---------------------------------------------


@pytest.mark.slow
def test_cli_local_cluster_prints_no_dask_logs(tmp_path):
    """Port 8787 taken (dask would warn in 4 lines and log): stderr is empty; --debug still runs."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((200, 4)))
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):  # taken already (another cluster): as good
            s = stack.enter_context(socket.socket())
            s.bind((HOST, 8787))
            s.listen(1)
        args = ("select", tmp_path / "x.npy", "-s", "gram_schmidt", "-b", "3", "--seed", "0")
        out, _ = run_cli(*args, "--scheduler", "local:1")
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stderr == ""
        assert len(out.stdout.split()) == 3
        debug, _ = run_cli(*args, "--scheduler", "local:1", "--debug")
        assert debug.returncode == 0, debug.stderr[-3000:]
        assert debug.stdout == out.stdout


def test_quiet_dask_silences_and_restores_the_loggers(capfd):
    log = logging.getLogger("distributed.client")
    child = logging.getLogger("distributed.subsel_test_child")
    before = (logging.getLogger("distributed").level, log.level, child.level)
    with quiet_dask():
        log.error("a dask error")
        child.warning("a dask warning")
        import warnings

        from distributed import node

        warnings.warn_explicit("Port 8787 is already in use", UserWarning, node.__file__, 1, node.__name__)
    assert (logging.getLogger("distributed").level, log.level, child.level) == before
    assert "a dask" not in capfd.readouterr().err


# -- 5. bad inputs are refused before a cluster is contacted ----------------------------------


@pytest.mark.parametrize("listener", ["backlog"], indirect=True)
@pytest.mark.parametrize(
    "case, message",
    [
        ("budget 0", "budget must be >= 1; got 0."),
        ("budget too big", "budget=100 exceeds the 40 unlabeled rows available"),
        ("labeled out of range", "labeled holds index 99, out of range for X with 40 rows"),
        ("labeled file missing", "--labeled: no such file"),
        ("shards missing", "X: no file matches the glob"),
        ("zarr missing", "X: no such zarr store"),
        ("not distributed", "TypiClustGSQuery does not run on distributed inputs"),
    ],
)
def test_cli_bad_inputs_are_refused_before_the_scheduler_is_contacted(tmp_path, listener, case, message):
    make_shards(tmp_path, n_files=2, rows=20, d=3)
    (tmp_path / "lab.txt").write_text("3\n99\n")
    features, budget, extra = str(tmp_path / "emb" / "*.npy"), "5", []
    if case == "budget 0":
        budget = "0"
    elif case == "budget too big":
        budget = "100"
    elif case == "labeled out of range":
        extra = ["--labeled", tmp_path / "lab.txt"]
    elif case == "labeled file missing":
        extra = ["--labeled", tmp_path / "nope.txt"]
    elif case == "shards missing":
        features = str(tmp_path / "nope" / "*.npy")
    elif case == "zarr missing":
        features = str(tmp_path / "nope.zarr")
    strategy = "typiclust_gs" if case == "not distributed" else "gram_schmidt"
    out, _ = run_cli(
        "select", features, "-s", strategy, "-b", budget, *extra, "--scheduler", listener.address
    )
    assert_one_line(out, message)
    assert not listener.contacted(), f"{case}: the scheduler address was contacted before the refusal"


@pytest.mark.slow
def test_a_scheduler_without_workers_is_one_error_not_a_wait(tmp_path):
    """A `dask scheduler` nobody started workers for: the CLI and the Python API answer in one line."""
    port = free_port()
    address = f"tcp://{HOST}:{port}"
    slog = tmp_path / "scheduler.log"
    sched = start(
        ["-m", "distributed.cli.dask_scheduler", "--host", HOST, "--port", str(port), "--no-dashboard"], slog
    )
    try:
        wait_for_text(slog, "Scheduler at:", sched)
        with pytest.raises(InvalidValueError, match=f"the scheduler at {address} has no workers"):
            with connect(address, timeout=TIMEOUT, quiet=True):
                pass
        make_shards(tmp_path, n_files=2, rows=20, d=3)
        glob = str(tmp_path / "emb" / "*.npy")
        out, _ = run_cli("select", glob, "-s", "random", "-b", "3", "--scheduler", address)
        assert_one_line(out, "has no workers (none joined within 3 s)", "SUBSEL_DASK_ADAPTIVE=1")
        # an adaptive cluster starts workers when tasks arrive: the check can be skipped
        os.environ["SUBSEL_DASK_ADAPTIVE"] = "1"
        try:
            with connect(address, timeout=TIMEOUT, quiet=True) as client:
                assert not client.scheduler_info()["workers"]
        finally:
            del os.environ["SUBSEL_DASK_ADAPTIVE"]
    finally:
        stop(sched)


@pytest.mark.parametrize(
    "address, message",
    [
        ("tcp://127.0.0.1", "'tcp://127.0.0.1' has no port; give the scheduler's, e.g. tcp://127.0.0.1:8786"),
        ("tls://127.0.0.1:9", "tls://127.0.0.1:9 needs TLS, and the dask config names no client certificate"),
    ],
)
def test_an_address_dask_cannot_use_is_refused_before_connecting(address, message):
    with pytest.raises(InvalidValueError) as info:
        with connect(address, timeout=TIMEOUT):
            pass
    assert message in str(info.value)
