"""`bench/run_all --quick`: every benchmark at tiny sizes, through the real entry script, so
none of them rots. Its figures mean nothing; what is checked is that every step ran, wrote
figures of the agreed shape, and that the report has the machine, the side-by-side table
and every figure. Timings are never asserted."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_bench_peers import check_quick_run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STEPS = ["throughput", "chaincode", "consensus", "verify", "queries", "scaling", "peers"]
RUN_ALL_TIMEOUT_SECONDS = 540  # under pytest's 600 s per test; --quick takes ~100 s


def test_run_all_quick_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results"
    # Its own process group, so that a hung step (nodes, peers and all) is stopped with it.
    proc = subprocess.Popen([str(REPO / "bench" / "run_all"), "--quick", "--out", str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=RUN_ALL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # run_all stops the running step's group, then exits
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
        pytest.fail(f"bench/run_all --quick did not finish in {RUN_ALL_TIMEOUT_SECONDS} s:\n{stderr[-3000:]}")
    report = json.loads((out / "run_all.json").read_text())
    failed = {s["name"]: s["error"] for s in report["steps"] if s["status"] != "ok"}
    assert proc.returncode == 0 and not failed, f"{failed}\n{stderr[-3000:]}"

    assert [s["name"] for s in report["steps"]] == STEPS
    assert report["quick"] is True and report["started"] and report["seconds"] > 0
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["memory_gib"] > 0 and machine["cpu"] and machine["python"].startswith("CPython")

    names = set()
    for step in report["steps"]:
        assert step["figures"], f"{step['name']} wrote no figures"
        for f in step["figures"]:
            assert f["name"] not in names, f"figure {f['name']} reported twice"
            names.add(f["name"])
            assert f["runs"] and f["min"] <= f["median"] <= f["max"] and f["spread_pct"] >= 0, f
            assert f["better"] in ("higher", "lower") and f["unit"], f
            assert f["median"] > 0, f"{f['name']}: {f['median']}"

    # the headline figures of each step are there
    for name in ("throughput.node.committed_tx_per_s", "throughput.ceiling.tx_per_s", "chaincode.end-to-end.contracts_per_s",
                 "consensus.v4.committed_tx_per_s", "chain_verify.workers.blocks_per_s", "queries.http.digest.p99.n10000",
                 "peers.ledger.committed_tx_per_s", "peers.ledger.get_logs_ms", "peers.ledger.eth_call_per_s"):
        assert name in names, f"{name} missing from {sorted(names)}"
    assert any(n.startswith("scaling.anchor.entries_per_s.") for n in names)
    assert any(n.startswith("scaling.receipt.verify_ms.") for n in names)

    peers = next(s for s in report["steps"] if s["name"] == "peers")
    check_quick_run({"figures": peers["figures"], **peers["details"]})

    text = (out / "run_all.md").read_text()
    assert "| CPU |" in text and "| memory |" in text
    assert "#### Side by side" in text
    for row in ("| (a) Storage.set calls", "| (b) eth_getLogs", "| (c) eth_call"):
        assert row in text
    for step in STEPS:
        assert (out / f"{step}.log").exists()
