"""bench/peers.py: our dev node, Ganache and anvil through the same web3.py code.

Ganache and anvil come from npm (bench/peers/package.json).  Where npm or its registry
is unavailable the benchmark records them as ``skipped: <reason>``; our own node's figures
must always be there.  The quick run of all three is run_all's peers step
(tests/integration/test_bench_run_all.py checks it with ``check_quick_run``); here, the
run without npm.  No wall-clock figure is asserted.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
METRICS = ("committed_tx_per_s", "get_logs_ms", "eth_call_per_s")
PEERS = ("ganache", "anvil")
# --quick takes ~20 s with all three nodes (plus ~10 s for a first npm install); the
# cap only keeps a hung node from eating the suite's budget.
DEADLINE_SECONDS = 150


def run_peers(out: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.peers", "--quick", "--figures-out", str(out), *args],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        output, _ = proc.communicate(timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.terminate()  # bench.peers stops the nodes it started on SIGTERM
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        pytest.fail(f"bench.peers --quick did not finish in {DEADLINE_SECONDS} s:\n{output[-4000:]}")
    assert proc.returncode == 0, f"bench.peers exited with {proc.returncode}:\n{output[-6000:]}"
    return json.loads(out.read_text())


def check_quick_run(doc: dict) -> None:
    """What `bench.peers --quick` must report: every node's figures, or why a peer did not
    run. tests/integration/test_bench_run_all.py calls it on run_all's peers step, which is
    the one quick run of the suite."""
    assert doc["quick"] is True
    figures = {f["name"]: f for f in doc["figures"]}
    peers = doc["peers"]

    assert peers["ledger"]["status"] == "ran", peers["ledger"]
    for metric in METRICS:
        fig = figures[f"peers.ledger.{metric}"]
        assert fig["median"] > 0 and len(fig["runs"]) == doc["sizes"]["runs"] == 1
    assert peers["ledger"]["logs"][0]["blocks_scanned"] > 0
    # the node-side cost: a Python node's 100 eth_calls cost it well over one 10 ms clock tick
    assert figures["peers.ledger.node_cpu_ms_per_call"]["median"] > 0
    assert peers["ledger"]["bounds"].startswith("a block every 1 s; gas limit 150,000,000 = ")

    for peer in PEERS:
        status = peers[peer]["status"]
        if status.startswith("skipped: "):
            # npm or its registry unavailable: recorded with a reason, no figures invented
            assert len(status) > len("skipped: ") + 10, status
            assert not [n for n in figures if f".{peer}." in n or f"_over_{peer}." in n]
            continue
        assert status == "ran", f"{peer}: {status}"
        for metric in METRICS:
            assert figures[f"peers.{peer}.{metric}"]["median"] > 0
            ratio = figures[f"peers.ratio.ledger_over_{peer}.{metric}"]
            expected = figures[f"peers.ledger.{metric}"]["runs"][0] / figures[f"peers.{peer}.{metric}"]["runs"][0]
            assert ratio["runs"] == pytest.approx([expected])
            assert ratio["better"] == figures[f"peers.ledger.{metric}"]["better"]
        assert peers[peer]["package_version"] == {"ganache": "7.9.2", "anvil": "1.7.1"}[peer]
        assert peers[peer]["sealing"] and peers[peer]["fee"]
        # a block gas limit that does not bind, given on the command line and read back from the node
        assert peers[peer]["block_gas_limit"] == 1_000_000_000 and "1000000000" in peers[peer]["command"]
        assert "gas limit 1,000,000,000" in peers[peer]["bounds"]


def test_peers_without_npm_are_skipped_with_a_reason(tmp_path: Path) -> None:
    # No node/npm on PATH (vyper and the ledger CLI are found next to sys.executable).
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"))
    doc = run_peers(tmp_path / "peers.json", "--nodes", "ganache", "anvil", env=env)
    for peer in PEERS:
        assert doc["peers"][peer]["status"] == "skipped: node and npm not found on PATH"
    assert doc["figures"] == []
