"""bench/run_all's own parts: figures, the report, BENCHMARKS.md markers, a failing step,
and bench/profile_node's reading of py-spy stacks. The whole script runs, at tiny sizes, in
tests/integration/test_bench_run_all.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import run_all
from bench.common.machine import machine_info
from bench.common.profiling import read_stacks, top_functions
from bench.common.results import figure, number, write_figures
from bench.profile_node import cross_shares, part_shares, self_top


def test_figure_median_and_spread() -> None:
    f = figure("x.rate", "tx/s", [100, 300, 200], group="g", note="n")
    assert f["median"] == 200 and f["min"] == 100 and f["max"] == 300
    assert f["spread_pct"] == 100.0  # (300 - 100) / 200
    assert f["runs"] == [100.0, 300.0, 200.0] and f["better"] == "higher"
    assert figure("one", "ms", [4.0], better="lower")["spread_pct"] == 0.0
    with pytest.raises(ValueError, match="no runs"):
        figure("none", "ms", [])
    with pytest.raises(ValueError, match="better"):
        figure("bad", "ms", [1.0], better="faster")


def test_write_figures_carries_the_machine(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    write_figures(path, "demo", [figure("a", "s", [1, 2, 3], better="lower")], n=7)
    doc = json.loads(path.read_text())
    assert doc["bench"] == "demo" and doc["n"] == 7
    assert {"cpu", "cores", "memory_gib", "python", "date"} <= set(doc["machine"])
    assert doc["figures"][0]["median"] == 2


def _report(steps: list[dict]) -> dict:
    return {"command": "bench/run_all", "commit": "abc123", "machine": machine_info(), "started": "s", "finished": "f",
            "seconds": 60.0, "steps": steps}


def _step(name: str, figures: list[dict], status: str = "ok", error: str = "") -> dict:
    return {"name": name, "what": f"{name} things", "status": status, "seconds": 1.0, "error": error, "figures": figures}


def test_markdown_side_by_side_ratios_and_failures() -> None:
    peers = [
        figure("peers.ledger.committed_tx_per_s", "tx/s", [100, 110, 90]),
        figure("peers.ganache.committed_tx_per_s", "tx/s", [200, 210, 190]),
        figure("peers.anvil.committed_tx_per_s", "tx/s", [1000, 1100, 900]),
        figure("peers.ratio.ledger_over_ganache.committed_tx_per_s", "×", [0.5, 0.52, 0.47]),
        figure("peers.ratio.ledger_over_anvil.committed_tx_per_s", "×", [0.1, 0.1, 0.1]),
    ]
    text = run_all.markdown(_report([_step("peers", peers), _step("queries", [], "failed", "exit code 1\nTraceback: boom")]))
    assert "| CPU |" in text and "| cores |" in text and "| memory |" in text and "| Python |" in text
    row = next(line for line in text.splitlines() if line.startswith("| (a) Storage.set calls"))
    assert "100 (±20 %)" in row and "200 (±10 %)" in row and "1,000 (±20 %)" in row
    assert "**0.50×**" in row and "**0.10×**" in row
    # a peer that did not run is said so, not left blank
    assert "not run" in next(line for line in text.splitlines() if line.startswith("| (c) eth_call"))
    assert "| queries | **failed**: exit code 1 |" in text and "Traceback: boom" in text
    assert "| `peers.ledger.committed_tx_per_s` | **100** | tx/s ↑ | 20 % | 100, 110, 90.0 |" in text


def test_number_formatting() -> None:
    assert [number(v) for v in (12345.6, 123.4, 12.34, 1.234, 0.01234)] == ["12,346", "123", "12.3", "1.23", "0.0123"]
    assert number(float("nan")) == "n/a"


def test_update_benchmarks_md_replaces_only_between_markers(tmp_path: Path) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nintro\n")
    run_all.update_benchmarks_md(md, "first table\n")
    once = md.read_text()
    assert once.startswith("# Benchmarks\n\nintro\n") and "first table" in once
    md.write_text(once + "\n## after\n\nkept\n")
    run_all.update_benchmarks_md(md, "second table\n")
    twice = md.read_text()
    assert "second table" in twice and "first table" not in twice
    assert twice.count(run_all.BEGIN_MARK) == 1 and twice.endswith("## after\n\nkept\n")


def test_a_failing_step_is_reported_with_its_log(tmp_path: Path) -> None:
    # A real process that exits 2 (run_all takes no --figures-out): reported, not raised.
    bad = run_all.Step("bad", "bench.run_all", ("--only", "no-such-step"), ("--only", "no-such-step"), 60, "fails")
    result = run_all.run_step(bad, tmp_path, quick=False)
    assert result["status"] == "failed" and result["figures"] == []
    assert result["error"].startswith("exit code 2") and "unrecognized arguments: --figures-out" in result["error"]
    assert (tmp_path / "bad.log").exists()


def test_unknown_step_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_all.main(["--only", "nope"])
    assert exc.value.code == 2 and "the steps are: throughput" in capsys.readouterr().err


RAW = """\
process 1:"ledger";thread (0x1);_on_thread (node/consensus/driver.py:10);Chain.build_block (node/execution/chain.py:5);VM.apply_transaction (eth/vm/base.py:7);HexaryTrie.get (trie/hexary.py:3) 6
process 1:"ledger";thread (0x1);_on_thread (node/consensus/driver.py:10);Chain.build_block (node/execution/chain.py:5);VM.finalize_block (eth/vm/base.py:9);BaseState.persist (eth/vm/state.py:2) 2
process 1:"ledger";thread (0x2);first_pass (node/rpc/jsonrpc.py:1);answer_document (node/rpc/jsonrpc.py:2);eth_send_raw_transaction (node/rpc/methods.py:4);BaseState.persist (eth/vm/state.py:2) 2
"""


def test_profile_parts_count_within_their_parent(tmp_path: Path) -> None:
    raw = tmp_path / "p.raw"
    raw.write_text(RAW)
    stacks = read_stacks(raw)
    assert sum(c for _, c in stacks) == 10
    shares = {label: share for _, label, share in part_shares(stacks)}
    assert shares["block building (Chain.build_block)"] == 80.0
    assert shares["EVM: executing the transactions (VM.apply_transaction)"] == 60.0
    # persist under finalize counts; the persist frame under eth_sendRawTransaction does not
    assert shares["of which writing accounts and storage into the tries (BaseState.persist)"] == 20.0
    assert shares["eth_sendRawTransaction (admission)"] == 20.0
    cross = dict(cross_shares(stacks))
    assert cross["trie library (HexaryTrie: state and storage tries)"] == 60.0
    assert self_top(stacks, 1) == [("HexaryTrie.get (trie/hexary.py)", 60.0)]
    # inclusive shares leave the thread and framework plumbing out; self shares are leaves only
    top = {f: (inclusive, own) for f, inclusive, own in top_functions(raw, 10)}
    assert top["Chain.build_block (node/execution/chain.py)"] == (80.0, 0.0)
    assert top["BaseState.persist (eth/vm/state.py)"] == (40.0, 40.0)
    assert not any(f.startswith(("thread ", "process ")) for f in top)


def test_a_stopped_run_all_stops_its_running_step(tmp_path: Path) -> None:
    # run_all runs each step in a session of its own; SIGTERM to run_all must not orphan it.
    script = tmp_path / "slow_step.py"
    pid_file = tmp_path / "step.pid"
    script.write_text(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n")
    code = (
        "import sys; from pathlib import Path; from bench import run_all\n"
        f"step = run_all.Step('slow', 'x', (), (), 300, 'sleeps')\n"
        "import signal\n"
        "signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(SystemExit(143)))\n"
        "orig = run_all.subprocess.Popen\n"
        f"run_all.subprocess.Popen = lambda argv, **kw: orig([sys.executable, {str(script)!r}], **kw)\n"
        f"run_all.run_step(step, Path({str(tmp_path)!r}), quick=False)\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", code], cwd=Path(run_all.__file__).parent.parent)
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    step_pid = int(pid_file.read_text())
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=60) == 143
    with pytest.raises(ProcessLookupError):  # the step is gone, not orphaned
        for _ in range(100):
            os.kill(step_pid, 0)
            time.sleep(0.05)
