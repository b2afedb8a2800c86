"""`bench/run_all --quick`: every benchmark at tiny sizes, through the real entry script, so
none of them rots. Its figures mean nothing; what is checked is that every step ran, wrote
figures of the agreed shape, and that the report has the machine, the side-by-side table
and every figure. Timings are never asserted.

The run happens once, in a module fixture; each step's checks are a test of their own, so a
failure names the benchmark that broke. (It also keeps this file out of the suite's tail:
``pytest -n 2 --dist loadfile`` hands out files with the most tests first, and a one-test
file of this length, handed out last, was what the whole suite waited for.)
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_bench_peers import check_quick_run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STEPS = ["throughput", "chaincode", "consensus", "verify", "queries", "scaling", "peers", "pdf_sign"]
RUN_ALL_TIMEOUT_SECONDS = 540  # under pytest's 600 s per test; --quick takes 1-2 min on 2 cores
# The headline figures each step must report (scaling's names carry its batch sizes).
HEADLINES = {
    "throughput": ("throughput.node.committed_tx_per_s", "throughput.ceiling.tx_per_s"),
    "chaincode": ("chaincode.end-to-end.contracts_per_s",),
    "consensus": ("consensus.v4.committed_tx_per_s",),
    "verify": ("chain_verify.workers.blocks_per_s",),
    "queries": ("queries.http.digest.p99.n10000",),
    "scaling": ("scaling.anchor.entries_per_s.", "scaling.receipt.verify_ms."),
    "peers": ("peers.ledger.committed_tx_per_s", "peers.ledger.get_logs_ms", "peers.ledger.eth_call_per_s"),
    "pdf_sign": ("pdf_signing.sign.B-B.party1_rsa2048", "pdf_signing.sign.B-T.party2_p256",
                 "pdf_signing.verify.B-LT.per_signature"),
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path, int, str]]:
    """(run_all.json, the output directory, exit code, stderr) of one ``bench/run_all --quick``."""
    out = tmp_path_factory.mktemp("bench") / "results"
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
    yield json.loads((out / "run_all.json").read_text()), out, proc.returncode, stderr


def test_every_step_ran_in_order(quick_run: tuple[dict[str, Any], Path, int, str]) -> None:
    report, out, code, stderr = quick_run
    failed = {s["name"]: s["error"] for s in report["steps"] if s["status"] != "ok"}
    assert code == 0 and not failed, f"{failed}\n{stderr[-3000:]}"
    assert [s["name"] for s in report["steps"]] == STEPS
    assert report["quick"] is True and report["started"] and report["seconds"] > 0
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["memory_gib"] > 0 and machine["cpu"] and machine["python"].startswith("CPython")


@pytest.mark.parametrize("name", STEPS)
def test_step_wrote_its_figures(quick_run: tuple[dict[str, Any], Path, int, str], name: str) -> None:
    report, out, _, _ = quick_run
    step = next(s for s in report["steps"] if s["name"] == name)
    assert step["status"] == "ok", step["error"]
    assert (out / f"{name}.log").exists() and step["figures"], f"{name} wrote no figures"
    for f in step["figures"]:
        assert f["runs"] and f["min"] <= f["median"] <= f["max"] and f["spread_pct"] >= 0, f
        assert f["better"] in ("higher", "lower") and f["unit"], f
        assert f["median"] > 0, f"{f['name']}: {f['median']}"
    names = [f["name"] for f in step["figures"]]
    for headline in HEADLINES[name]:
        assert any(n == headline or (headline.endswith(".") and n.startswith(headline)) for n in names), \
            f"{headline} missing from {sorted(names)}"


def test_no_figure_is_reported_twice(quick_run: tuple[dict[str, Any], Path, int, str]) -> None:
    report, _, _, _ = quick_run
    names = [f["name"] for s in report["steps"] for f in s["figures"]]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_peers_and_the_markdown_report(quick_run: tuple[dict[str, Any], Path, int, str]) -> None:
    report, out, _, _ = quick_run
    peers = next(s for s in report["steps"] if s["name"] == "peers")
    check_quick_run({"figures": peers["figures"], **peers["details"]})
    text = (out / "run_all.md").read_text()
    assert "| CPU |" in text and "| memory |" in text
    assert "#### Side by side" in text
    for row in ("| (a) Storage.set calls", "| (b) eth_getLogs", "| (c) eth_call"):
        assert row in text
    for step in STEPS:
        assert f"#### {step}" in text


def test_the_baseline_side_runs_the_old_tree(tmp_path: Path) -> None:
    """``--baseline``'s old side: the step process and the ``ledger`` node it starts import the
    exported tree, not the working tree. HEAD is exported and marked (its CLIENT_VERSION
    changed in the export only), then ``bench.common.baseline``'s probe runs the way run_all
    runs an old-side step (without the tree it finds REPO/node and today's version)."""
    from bench import run_all
    from bench.common import baseline

    tree = baseline.prepare("HEAD", parent=tmp_path)
    try:
        methods = tree.tree / "node" / "rpc" / "methods.py"
        text = methods.read_text()
        assert 'CLIENT_VERSION = "' in text
        methods.write_text(text.replace('CLIENT_VERSION = "', 'CLIENT_VERSION = "baseline-marker/', 1))
        probe = run_all.Step("probe", "bench.common.baseline", (), (), 120, "where node comes from")
        old = run_all.run_invocation(probe, (), tmp_path, "probe.old1", quick=False, tree=tree)
    finally:
        tree.remove()
    assert old["status"] == "ok", old["error"]
    old_found = old["details"]["probe"]
    assert old_found["client_version"].startswith("baseline-marker/"), old_found
    assert Path(old_found["node_package"]) == tree.tree / "node" and old_found["baseline"] == tree.commit
