"""`ledger cluster` as an operator drives it: `up --base-port`, one node stopped, started
and restarted by name, a node started by hand with `ledger node start` taken in as a
member (not a stray), `up` over a partly running cluster, and a clean `down` whose node
logs hold no traceback."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node.ops.cluster.layout import load_admin_token, load_cluster
from node.ops.cluster.processes import is_running
from tests.cluster.harness import ledger, rpc, wait_for

pytestmark = pytest.mark.slow

VALIDATORS = 4  # 3 of 4 keep finalising while one is down; 4 nodes make inbound links to cancel at down
DEADLINE = 60.0
FREE_RUN_TRIES = 50


def _free_run(count: int) -> int:
    """The first of `count` consecutive loopback ports that are free now."""
    for _ in range(FREE_RUN_TRIES):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65536:
            continue
        held = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise AssertionError(f"no run of {count} free ports in {FREE_RUN_TRIES} tries")


def cli(directory: Path, *args: str) -> Any:
    result = ledger("cluster", *args, "--dir", str(directory), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def statuses(directory: Path) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in cli(directory, "status")["nodes"]}


def height(directory: Path, name: str) -> int:
    url = load_cluster(directory).node(name).rpc_url
    return int(rpc(url, "eth_blockNumber", token=load_admin_token(directory)), 16)


def test_one_node_by_name_a_hand_started_node_and_a_clean_down(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    by_hand: subprocess.Popen[bytes] | None = None
    try:
        # A run of ports free when probed may be taken by another test's process before the
        # cluster binds it: `up` then refuses it by name (exit 2), and another run is tried.
        for _ in range(FREE_RUN_TRIES):
            base = _free_run(2 * VALIDATORS)
            result = ledger("cluster", "up", "--validators", str(VALIDATORS), "--empty-block-period", "1",
                            "--request-timeout", "2", "--base-port", str(base), "--dir", str(directory), "--json")
            if result.returncode != 2 or "is in use" not in result.stderr:
                break
        assert result.returncode == 0, result.stdout + result.stderr
        up = json.loads(result.stdout)
        assert [(n["rpc_port"], n["p2p_port"]) for n in up["nodes"]] == [
            (base + 2 * i, base + 2 * i + 1) for i in range(VALIDATORS)]
        wait_for("block 2", lambda: height(directory, "validator-0") >= 2, DEADLINE)

        # Stop one by name; stopping it again is refused in one line, exit 2.
        assert cli(directory, "stop", "validator-3")["stopped"] == "validator-3"
        again = ledger("cluster", "stop", "validator-3", "--dir", str(directory))
        assert again.returncode == 2 and again.stderr.strip() == "error: validator-3 is not running"
        assert not statuses(directory)["validator-3"]["alive"]

        # Start it by name: a member, shown by status.
        started = cli(directory, "start", "validator-3")
        assert started["started"] == "validator-3" and started["pid"]
        assert statuses(directory)["validator-3"]["alive"]

        # Restart another: a new process, the chain goes on through it.
        before = statuses(directory)["validator-0"]["pid"]
        restarted = cli(directory, "restart", "validator-0")
        assert restarted["pid"] != before
        mark = height(directory, "validator-1")
        wait_for("validator-0 past the mark", lambda: height(directory, "validator-0") > mark, DEADLINE)

        # A node restarted by hand, as operators did before `cluster start`: taken in, not a stray.
        cli(directory, "stop", "validator-2")
        node = load_cluster(directory).node("validator-2")
        log = (node.data_dir / "node.log").open("ab")
        by_hand = subprocess.Popen(
            [sys.executable, "-m", "client.cli", "node", "start", "--data-dir", "nodes/validator-2",
             "--rpc-host", "127.0.0.1", "--rpc-port", str(node.rpc_port)],
            cwd=directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        log.close()
        wait_for("the hand-started node", lambda: height(directory, "validator-2") >= 0, DEADLINE)
        hand = statuses(directory)["validator-2"]
        assert hand["alive"] and hand["pid"] == by_hand.pid

        # `up` over a running cluster starts nothing and refuses nothing.
        again_up = cli(directory, "up")
        assert again_up["started"] == [] and sorted(again_up["running"]) == [f"validator-{i}" for i in range(VALIDATORS)]
        wait_for("blocks after the restarts", lambda: height(directory, "validator-2") >= mark + 2, DEADLINE)
    finally:
        down = ledger("cluster", "down", "--dir", str(directory), "--json")
        if by_hand is not None and by_hand.poll() is None:
            by_hand.send_signal(signal.SIGKILL)
            by_hand.wait()
    assert down.returncode == 0, down.stderr
    assert sorted(json.loads(down.stdout)["stopped"]) == [f"validator-{i}" for i in range(VALIDATORS)]
    assert by_hand.wait(timeout=DEADLINE) == 0  # stopped by `down` (SIGTERM), a clean exit
    assert not any(is_running(n) for n in load_cluster(directory).nodes)
    for n in load_cluster(directory).nodes:
        text = (n.data_dir / "node.log").read_text()
        assert "Traceback" not in text and "CancelledError" not in text, f"{n.name}:\n{text[-3000:]}"
