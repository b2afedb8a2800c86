"""The processes a benchmark starts: a ``--dev`` node, a QBFT cluster, any logged child.

Every process listens on a free loopback port, logs to a file (whose tail a failure
shows) and is stopped by the benchmark that started it: SIGTERM, then SIGKILL after a
deadline. A child also gets SIGKILL from the kernel if the benchmark dies without its
``finally`` blocks (PR_SET_PDEATHSIG), so no node outlives a killed run.
"""
from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from node.ops.cluster.create import create_cluster
from node.ops.cluster.layout import ClusterLayout, load_cluster
from node.ops.cluster.processes import start_cluster, stop_cluster

# How often a starting process is asked whether it is ready.
READY_POLL_SECONDS = 0.1
# A child gets this long to exit after SIGTERM, and after SIGKILL, before stop gives up.
STOP_TIMEOUT_SECONDS = 20.0
KILL_TIMEOUT_SECONDS = 10.0
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get_status(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    """The status of ``GET path``; None when nothing answers."""
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status
    except (OSError, http.client.HTTPException):
        return None


def die_with_parent() -> None:
    """Linux, in the child before exec: SIGKILL it if this process dies first."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def find_ledger(ledger: str) -> str:
    """The absolute path of the ``ledger`` CLI; SystemExit if it is not there."""
    if Path(ledger).exists():
        return str(Path(ledger).resolve())
    found = shutil.which(ledger)
    if not found:
        raise SystemExit(f"ledger CLI not found at {ledger} (pip install -e '.[test]')")
    return found


class LoggedProcess:
    """A child process whose output goes to ``log_path``: started until ``ready()`` says
    so, the tail of its log, and a stop that escalates from SIGTERM to SIGKILL."""

    what = "process"  # names it in errors
    ready_check = "ready"  # what `ready` asks, for the error when it never says yes

    def __init__(self, argv: list[str], log_path: Path, cwd: Path) -> None:
        self.argv, self.log_path, self.cwd = argv, log_path, cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, ready_timeout: float) -> None:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=str(self.cwd), preexec_fn=die_with_parent)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.what} exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(READY_POLL_SECONDS)
        raise TimeoutError(f"{self.what} not ready ({self.ready_check}) within {ready_timeout:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None, "started"
        return self.proc.pid

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=KILL_TIMEOUT_SECONDS)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode


class NodeProcess(LoggedProcess):
    """``ledger node start --dev`` in ``data_dir`` on a loopback port; ready when
    ``GET /healthz`` answers 200. Its log is ``node.log`` next to the data dir."""

    what = "node"
    ready_check = "GET /healthz"

    def __init__(self, ledger: str, data_dir: Path, port: int, extra_args: list[str] | None = None) -> None:
        self.data_dir, self.port = data_dir, port
        cmd = [
            ledger, "node", "start", "--dev",
            "--data-dir", str(data_dir),
            "--rpc-host", "127.0.0.1",
            "--rpc-port", str(port),
            *(extra_args or []),
        ]
        super().__init__(cmd, data_dir.parent / "node.log", data_dir.parent)

    @property
    def cmd(self) -> list[str]:
        return self.argv

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def ready(self) -> bool:
        return http_get_status("127.0.0.1", self.port, "/healthz") == 200

    def dev_key(self, timeout: float = 10.0) -> tuple[str, str]:
        """(address, private key) of the funded dev account written by ``--dev``."""
        deadline = time.monotonic() + timeout
        path = self.data_dir / "dev-account.json"
        while time.monotonic() < deadline:
            if path.exists():
                try:
                    d = json.loads(path.read_text())
                    return d["address"], d["private_key"]
                except (ValueError, KeyError):
                    pass
            time.sleep(READY_POLL_SECONDS)
        found = sorted(str(p.relative_to(self.data_dir)) for p in self.data_dir.rglob("*") if p.is_file())[:50]
        raise RuntimeError(f"{path} not found or unreadable; data dir holds: {found}")

    def block_period(self) -> str:
        """The genesis block period, as the reports state it."""
        try:
            q = json.loads((self.data_dir / "genesis.json").read_text())["config"]["qbft"]
            return f"{q['blockperiodseconds']} s (empty blocks every {q.get('emptyblockperiodseconds', '?')} s)"
        except (OSError, ValueError, KeyError, TypeError):
            return "unknown"


@contextlib.contextmanager
def dev_node(ledger: str, *, prefix: str, ready_timeout: float, extra_args: Sequence[str] = (),
             keep_data: bool = False) -> Iterator[NodeProcess]:
    """A started ``--dev`` node in a new temporary directory, stopped when the block ends
    (its log's tail on stderr if the block raised); the directory is removed unless
    ``keep_data``."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    node = NodeProcess(find_ledger(ledger), tmp / "data", free_port(), list(extra_args))
    try:
        node.start(ready_timeout)
        yield node
    except BaseException:
        print("---- node log (tail) ----\n" + node.log_tail(), file=sys.stderr)
        raise
    finally:
        rc = node.stop()
        print(f"node stopped (exit code {rc})", file=sys.stderr)
        if keep_data:
            print(f"node data and log kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(validators: int, *, prefix: str, deadline: float | None = None,
                    **options: Any) -> Iterator[tuple[Path, ClusterLayout]]:
    """A QBFT cluster of ``validators`` node processes in a temporary directory
    (``node.ops.cluster.create.create_cluster`` with ``options``), started and, whatever
    happens, stopped: yields (its directory, its layout)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        directory = Path(tmp) / "cluster"
        create_cluster(directory, validators, **options)
        try:
            if deadline is None:
                start_cluster(directory, die_with_parent=True)
            else:
                start_cluster(directory, die_with_parent=True, deadline=deadline)
            yield directory, load_cluster(directory)
        finally:
            stop_cluster(directory)
