"""A local testnet's node processes: start, stop, restart and status of the processes of
one cluster directory (node/ops/cluster/layout.py), one mutation at a time (`locked`).

Nodes run in their own sessions and outlive the command that started them; their pids
are kept in cluster.json. Before signalling a recorded pid the process is checked to be
a `ledger node start` of that node's data directory (Linux /proc), so a stale pid that
the system has since reused is never signalled (`is_running`).

A node whose recorded pid is not running but which runs all the same (an operator
restarted it with its own `ledger node start --data-dir nodes/NAME` line) is found in
/proc by its data directory and recorded (`adopt_running`): it is a member again, which
`cluster down` stops and `cluster up` does not trip over.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from node.ops.cluster.layout import (
    CLUSTER_FILE,
    LOCK_FILE,
    ClusterError,
    ClusterLayout,
    ClusterNode,
    load_cluster,
    port_free,
    with_pid,
    write_layout,
)
from node.ops.config import FAULTS_ENV, load_node_config

# A node imports py-evm and opens LevelDB before it serves; on a loaded 2-core machine
# several starting at once take a few seconds each.
STARTUP_DEADLINE_SECONDS = 60.0
# A node finishes the block in hand on SIGTERM; after this it is killed.
STOP_DEADLINE_SECONDS = 30.0
KILL_DEADLINE_SECONDS = 10.0
# One /healthz poll of a starting node: loopback answers in milliseconds once it serves.
HEALTH_TIMEOUT_SECONDS = 1.0
POLL_SECONDS = 0.1
LOG_TAIL_BYTES = 4000
PR_SET_PDEATHSIG = 1  # prctl(2)
PROC = Path("/proc")
# The checkout this module runs from (node/ops/cluster/processes.py is three levels
# down): first on a node's PYTHONPATH, so `python -m client.cli` runs this code.
CHECKOUT = Path(__file__).resolve().parents[3]

# Processes this Python process started, so it can reap them (a zombie still has a pid)
# and report their exit codes. A pid the system reuses for a later child replaces its entry.
_children: dict[int, subprocess.Popen[bytes]] = {}


class NodeNotRunningError(ClusterError):
    """The node asked to stop is not running: a usage error (`ledger cluster` exits 2)."""

    def __init__(self, node: str) -> None:
        super().__init__(f"{node} is not running", node)


class NodeStartError(ClusterError):
    """A node exited, or did not answer /healthz by the deadline; `log_tail` is the end of
    its node.log from this start."""

    def __init__(self, node: str, reason: str, log_path: Path, log_tail: str) -> None:
        super().__init__(f"node {node} did not come up: {reason}", node)
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail


def start_cluster(
    dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> ClusterLayout:
    """Start every node that is not running and wait until each answers /healthz.

    `env` is the nodes' environment (default: this process's); `LEDGER_TEST_FAULTS=1` is
    set for the nodes whose node.json has faults and removed for the others. If a node
    fails to come up, the nodes this call started are stopped again and NodeStartError
    says which node and carries its log's tail.

    `die_with_parent` (tests): the nodes get SIGKILL when the thread that started them
    ends or its process dies (Linux prctl PDEATHSIG), so a test run killed by a timeout
    leaves no node behind; call it from a thread that lives as long as the nodes should.
    The CLI leaves it off: its nodes must outlive `ledger cluster up`.
    """
    return start_stopped_nodes(dir, env, deadline=deadline, die_with_parent=die_with_parent)[0]


def start_stopped_nodes(
    dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> tuple[ClusterLayout, list[str]]:
    """start_cluster, also saying which nodes this call started (the others ran already,
    including any started by hand and taken in as members)."""
    with locked(dir):
        layout = adopt_running(load_cluster(dir), write=True)
        names = [n.name for n in layout.nodes if not is_running(n)]
        return start_nodes(layout, names, env, deadline, die_with_parent), names


def start_node(
    dir: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    *,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> ClusterNode:
    """Start one node (a no-op if it runs) and wait until it answers /healthz."""
    with locked(dir):
        layout = adopt_running(load_cluster(dir), write=True)
        node = layout.node(name)
        if is_running(node):
            return node
        return start_nodes(layout, [name], env, deadline, die_with_parent).node(name)


def restart_node(
    dir: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = STOP_DEADLINE_SECONDS,
    deadline: float = STARTUP_DEADLINE_SECONDS,
    die_with_parent: bool = False,
) -> tuple[ClusterNode, bool]:
    """Stop one node if it runs (SIGTERM, SIGKILL after `timeout`), start it again and wait
    for /healthz; one lock held throughout, so no other command starts it in between.
    Returns the node and whether it was running."""
    with locked(dir):
        layout = adopt_running(load_cluster(dir), write=True)
        node = layout.node(name)
        was_running = is_running(node)
        if was_running:
            _terminate([node], kill=False, timeout=timeout)
            layout = with_pid(layout, name, None)
            write_layout(layout, layout.dir)
        return start_nodes(layout, [name], env, deadline, die_with_parent).node(name), was_running


def stop_cluster(dir: Path, *, timeout: float = STOP_DEADLINE_SECONDS) -> list[str]:
    """SIGTERM every running node (those started by hand too), wait up to `timeout`,
    SIGKILL what is left; clear the pids. Idempotent: a stopped cluster stays stopped.
    Returns the names it stopped."""
    with locked(dir):
        layout = adopt_running(load_cluster(dir), write=False)
        running = [n for n in layout.nodes if is_running(n)]
        _terminate(running, kill=False, timeout=timeout)
        write_layout(replace(layout, nodes=tuple(replace(n, pid=None) for n in layout.nodes)), layout.dir)
        return [n.name for n in running]


def stop_node(
    dir: Path, name: str, *, kill: bool = False, timeout: float = STOP_DEADLINE_SECONDS,
    must_be_running: bool = False,
) -> bool:
    """Stop one node: SIGTERM and wait (SIGKILL after `timeout`), or with `kill` SIGKILL at
    once (no shutdown code runs: a crash). Returns whether it was running; with
    `must_be_running` a node that is not raises NodeNotRunningError instead."""
    with locked(dir):
        layout = adopt_running(load_cluster(dir), write=False)
        node = layout.node(name)
        was_running = is_running(node)
        if not was_running and must_be_running:
            raise NodeNotRunningError(name)
        if was_running:
            _terminate([node], kill=kill, timeout=timeout)
        write_layout(with_pid(layout, name, None), layout.dir)
        return was_running


def running_nodes(dir: Path) -> list[str]:
    """The names of the nodes running now, those started by hand included (nothing is
    written)."""
    return [n.name for n in adopt_running(load_cluster(dir), write=False).nodes if is_running(n)]


def start_nodes(
    layout: ClusterLayout, names: list[str], env: Mapping[str, str] | None, deadline: float, die_with_parent: bool
) -> ClusterLayout:
    """Launch the named nodes of `layout` (the caller holds `locked`), record their pids
    and wait until each answers /healthz; if one does not, stop those this call started
    and raise (NodeStartError says which, with its log's tail)."""
    started: list[tuple[ClusterNode, int]] = []
    try:
        for name in names:
            node = layout.node(name)
            for port, what in ((node.rpc_port, "RPC"), (node.p2p_port, "p2p")):
                if not port_free(node.host, port):
                    raise ClusterError(f"{what} port {port} of {name} is in use by another process", name)
            offset = node.log_path.stat().st_size if node.log_path.exists() else 0
            pid = _launch(node, env, die_with_parent)
            started.append((node, offset))
            layout = with_pid(layout, name, pid)
            write_layout(layout, layout.dir)
        _wait_healthy(layout, [(layout.node(n.name), offset) for n, offset in started], deadline)
    except BaseException:
        stopping = [layout.node(n.name) for n, _ in started]
        _terminate([n for n in stopping if is_running(n)], kill=False, timeout=KILL_DEADLINE_SECONDS)
        for node in stopping:
            layout = with_pid(layout, node.name, None)
        write_layout(layout, layout.dir)
        raise
    return layout


def node_environment(node: ClusterNode, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a node process gets: `env` (default this process's) with
    LEDGER_TEST_FAULTS=1 exactly when its node.json has faults, and this checkout first on
    PYTHONPATH so that `python -m client.cli` runs this code even when it is not installed."""
    child_env = dict(os.environ if env is None else env)
    if load_node_config(node.data_dir).faults is not None:
        child_env[FAULTS_ENV] = "1"
    else:
        child_env.pop(FAULTS_ENV, None)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), child_env.get("PYTHONPATH")) if p)
    return child_env


def _launch(node: ClusterNode, env: Mapping[str, str] | None, die_with_parent: bool) -> int:
    child_env = node_environment(node, env)
    # --no-precheck-worker: a local consortium's nodes already share this machine's cores, so
    # the spare core an admission worker needs is not there (4 validators on 2 cores
    # committed 166/232/215/213 tx/s without workers against 148/227/183/203 with them).
    args = [sys.executable, "-m", "client.cli", "node", "start", "--data-dir", str(node.data_dir),
            "--rpc-host", node.host, "--rpc-port", str(node.rpc_port), "--no-precheck-worker"]
    with node.log_path.open("ab") as log:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.write(f"--- {stamp} ledger cluster: starting {node.name}\n".encode())
        log.flush()
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=node.data_dir, env=child_env, start_new_session=True,
                                   preexec_fn=_die_with_parent if die_with_parent else None)
    _children[process.pid] = process
    return process.pid


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _wait_healthy(layout: ClusterLayout, started: list[tuple[ClusterNode, int]], deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    pending = list(started)
    while pending:
        for node, offset in list(pending):
            if not is_running(node):
                code = _exit_code(node.pid)
                reason = "exited" + (f" with code {code}" if code is not None else "")
                raise NodeStartError(node.name, reason, node.log_path, _log_tail(node.log_path, offset))
            health = _get_json(node.rpc_url + "/healthz")
            if health is not None:
                if health.get("chainId") != layout.chain_id:
                    raise NodeStartError(node.name, f"{node.rpc_url} answers for chain {health.get('chainId')}, "
                                         f"not {layout.chain_id}", node.log_path, _log_tail(node.log_path, offset))
                pending.remove((node, offset))
        if pending and time.monotonic() > deadline:
            node, offset = pending[0]
            raise NodeStartError(node.name, f"no answer from {node.rpc_url}/healthz within {deadline_seconds:g} s",
                                 node.log_path, _log_tail(node.log_path, offset))
        if pending:
            time.sleep(POLL_SECONDS)


def _terminate(nodes: list[ClusterNode], *, kill: bool, timeout: float) -> None:
    """Signal each node (SIGTERM, or SIGKILL with `kill`), wait, then SIGKILL leftovers."""
    for node in nodes:
        _signal(node, signal.SIGKILL if kill else signal.SIGTERM)
    if not _wait_gone(nodes, KILL_DEADLINE_SECONDS if kill else timeout):
        for node in nodes:
            _signal(node, signal.SIGKILL)
        if not _wait_gone(nodes, KILL_DEADLINE_SECONDS):
            alive = ", ".join(f"{n.name} (pid {n.pid})" for n in nodes if is_running(n))
            raise ClusterError(f"still running after SIGKILL: {alive}")


def _wait_gone(nodes: list[ClusterNode], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(is_running(n) for n in nodes):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _signal(node: ClusterNode, sig: signal.Signals) -> None:
    if node.pid is not None and is_running(node):
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.pid, sig)


def is_running(node: ClusterNode) -> bool:
    """Whether `node`'s recorded pid runs and is its `ledger node start` (not a pid the
    system has since reused for another process)."""
    pid = node.pid
    if pid is None:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None  # poll() reaps it, and keeps its exit code
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not PROC.is_dir():
        return True  # no /proc (not Linux): trust the recorded pid
    served = _served_data_dir(pid)
    return served is not None and served == os.path.realpath(node.data_dir)


def _served_data_dir(pid: int) -> str | None:
    """If process `pid` is a `ledger node start`, its --data-dir (given absolute or relative
    to the process's working directory) as a real path; None for any other process."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None  # exited, or not ours to read
    # A zombie has an empty command line: it is gone as far as we are concerned.
    if not any(argv[i:i + 2] == [b"node", b"start"] for i in range(len(argv) - 1)):
        return None
    given = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == b"--data-dir"]
    given += [arg[len(b"--data-dir="):] for arg in argv if arg.startswith(b"--data-dir=")]
    if not given:
        return None
    path = Path(os.fsdecode(given[-1]))
    if not path.is_absolute():
        try:
            path = Path(os.readlink(PROC / str(pid) / "cwd")) / path
        except OSError:
            return None
    return os.path.realpath(path)


def adopt_running(layout: ClusterLayout, *, write: bool) -> ClusterLayout:
    """Record the pid of each node that runs without its pid recorded: started by hand with
    `ledger node start --data-dir ...` (one /proc scan). With `write`, cluster.json too."""
    missing = {os.path.realpath(n.data_dir): n.name for n in layout.nodes if not is_running(n)}
    if not missing or not PROC.is_dir():
        return layout
    found: dict[str, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        name = missing.get(_served_data_dir(int(entry.name)) or "")
        if name is not None and name not in found:
            found[name] = int(entry.name)
    for name, pid in found.items():
        layout = with_pid(layout, name, pid)
    if found and write:
        write_layout(layout, layout.dir)
    return layout


def _exit_code(pid: int | None) -> int | None:
    child = _children.get(pid) if pid is not None else None
    return child.returncode if child is not None else None


@contextlib.contextmanager
def locked(dir: Path) -> Iterator[None]:
    """One mutation of a cluster at a time (two `cluster up` must not both start a node)."""
    if not (dir / CLUSTER_FILE).exists():
        load_cluster(dir)  # raises the "holds no cluster" error
    with (dir / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _get_json(url: str) -> dict[str, Any] | None:
    """GET `url` as JSON; None while nothing (or not yet the node) answers there."""
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_SECONDS) as response:
            document = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _log_tail(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(offset, path.stat().st_size - LOG_TAIL_BYTES))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""
