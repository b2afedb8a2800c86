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
from bench.common.baseline import BaselineTree
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


# --------------------------------------------------------------------------
# --baseline: the order of the sides, the merging, the before/after table
# --------------------------------------------------------------------------
def test_side_order_alternates_per_run() -> None:
    assert run_all.side_order(3, True) == ["old", "new", "new", "old", "old", "new"]
    assert run_all.side_order(1, True) == ["old", "new"]
    assert run_all.side_order(3, False) == ["old", "new"]
    assert run_all.runs_of(("--contracts", "60", "--runs", "3", "--idle-wait", "5")) == 3
    assert run_all.runs_of(("--smoke",)) == 1
    assert run_all.with_one_run(("--runs", "3", "-n", "600")) == ("--runs", "1", "-n", "600")


class FakeInvocations:
    """Stands in for run_invocation: records each call; the old side's figure is 10 per run
    plus the call's position, the new side's 20 plus it, so the merge can be checked run by run."""

    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.calls: list[tuple[str, tuple[str, ...], bool]] = []
        self.fail = fail

    def __call__(self, step: run_all.Step, args: tuple[str, ...], out: Path, label: str, *, quick: bool,
                 tree: object = None) -> dict:
        self.calls.append((label, tuple(args), tree is not None))
        value = (10.0 if tree is not None else 20.0) + len(self.calls)
        failed = label in self.fail
        figures = [] if failed else [
            figure("t.rate", "tx/s", [value], group="g", note="n"),
            figure("t.latency_ms", "ms", [100.0 / value], better="lower"),
        ] + ([figure("t.peer_only", "x", [1.0])] if tree is None else [])
        return {"argv": ["-m", step.module, *args], "status": "failed" if failed else "ok", "seconds": 1.0,
                "error": "exit code 1\nboom" if failed else "", "figures": figures,
                "details": {"which": label}, "log": f"{label}.log"}


def _tree(tmp_path: Path) -> BaselineTree:
    return BaselineTree(commit="57a5956" + "0" * 33, ref="57a5956", root=tmp_path, tree=tmp_path / "tree")


def test_baseline_runs_alternate_and_merge_per_side(tmp_path: Path) -> None:
    step = run_all.Step("t", "bench.t", ("--runs", "3", "--idle-wait", "5"), ("--quick",), 60, "things",
                        alternate=True, baseline_args=("--nodes", "ledger"))
    fake = FakeInvocations()
    result = run_all.run_step_with_baseline(step, tmp_path, _tree(tmp_path), quick=False, invoke=fake)
    assert [c[0] for c in fake.calls] == ["t.old1", "t.new1", "t.new2", "t.old2", "t.old3", "t.new3"]
    for label, args, on_tree in fake.calls:
        assert on_tree == label.startswith("t.old")  # the old side, and only it, runs on the exported tree
        assert args == (("--runs", "1", "--idle-wait", "5", "--nodes", "ledger") if on_tree
                        else ("--runs", "1", "--idle-wait", "5"))
    new = {f["name"]: f for f in result["figures"]}
    old = {f["name"]: f for f in result["baseline"]["figures"]}
    # calls 2, 3, 6 were new (20 + position), calls 1, 4, 5 old (10 + position): every run kept, in order
    assert new["t.rate"]["runs"] == [22.0, 23.0, 26.0] and new["t.rate"]["median"] == 23.0
    assert old["t.rate"]["runs"] == [11.0, 14.0, 15.0] and old["t.rate"]["median"] == 14.0
    assert new["t.rate"]["unit"] == "tx/s" and new["t.rate"]["group"] == "g" and new["t.rate"]["note"] == "n"
    assert old["t.latency_ms"]["better"] == "lower" and old["t.latency_ms"]["median"] == 100.0 / 14
    assert result["status"] == "ok" and result["baseline"]["status"] == "ok" and result["seconds"] == 6.0
    assert result["details"] == {"which": "t.new1"} and result["order"][0] == "t.old1"
    rows = {r["name"]: r for r in run_all.before_after_rows([result])}
    assert set(rows) == {"t.rate", "t.latency_ms"}  # a figure only the new side has is not compared
    assert rows["t.rate"]["ratio"] == 23.0 / 14.0

    report = _report([result])
    report["baseline"] = {"ref": "57a5956", "commit": "57a5956" + "0" * 33}
    table = run_all.before_after_markdown(report)
    assert "| t | old1, new1, new2, old2, old3, new3 | ok | ok |" in table
    assert "| `t.rate` | tx/s ↑ | 14.0 (11.0, 14.0, 15.0) | 23.0 (22.0, 23.0, 26.0) | **1.64×** |" in table
    assert "#### Before/after: 57a5956 (old) and abc123 (new)" in run_all.markdown(report)


def test_baseline_per_step_quick_and_a_failing_old_side(tmp_path: Path) -> None:
    step = run_all.Step("p", "bench.p", ("--runs", "3"), ("--quick",), 60, "peers", baseline_args=("--nodes", "ledger"))
    fake = FakeInvocations(fail={"p.old1"})
    result = run_all.run_step_with_baseline(step, tmp_path, _tree(tmp_path), quick=False, invoke=fake)
    # not alternating: old with its full runs, then new
    assert [(c[0], c[1]) for c in fake.calls] == [("p.old1", ("--runs", "3", "--nodes", "ledger")), ("p.new1", ("--runs", "3"))]
    assert result["status"] == "ok" and result["baseline"]["status"] == "failed"
    assert result["baseline"]["error"].startswith("p.old1.log: exit code 1") and result["baseline"]["figures"] == []
    report = _report([result])
    report["baseline"] = {"ref": "57a5956", "commit": "57a5956" + "0" * 33}
    assert "p on the old side failed" in run_all.before_after_markdown(report)
    # --quick: one invocation a side, whatever the step
    quick = FakeInvocations()
    alt = run_all.Step("q", "bench.q", ("--runs", "3"), ("--quick", "--runs", "1"), 60, "q", alternate=True)
    run_all.run_step_with_baseline(alt, tmp_path, _tree(tmp_path), quick=True, invoke=quick)
    assert [(c[0], c[1]) for c in quick.calls] == [("q.old1", ("--quick", "--runs", "1")), ("q.new1", ("--quick", "--runs", "1"))]


def test_baseline_markers_are_their_own(tmp_path: Path) -> None:
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n")
    run_all.update_benchmarks_md(md, "tables\n")
    run_all.update_benchmarks_md(md, "before/after 1\n", begin=run_all.BASELINE_BEGIN_MARK, end=run_all.BASELINE_END_MARK,
                                 heading="## Before and after")
    run_all.update_benchmarks_md(md, "tables 2\n")
    run_all.update_benchmarks_md(md, "before/after 2\n", begin=run_all.BASELINE_BEGIN_MARK, end=run_all.BASELINE_END_MARK,
                                 heading="## Before and after")
    doc = md.read_text()
    assert "tables 2" in doc and "before/after 2" in doc and "before/after 1" not in doc and "tables\n" not in doc
    assert doc.count(run_all.BASELINE_BEGIN_MARK) == 1 and doc.count("## Before and after") == 1


def test_baseline_export_is_read_only_and_refuses_unknown_commits(tmp_path: Path) -> None:
    from bench.common import baseline

    tree = baseline.prepare("57a5956", parent=tmp_path)
    try:
        assert tree.commit.startswith("57a5956") and len(tree.commit) == 40
        assert (tree.tree / "node" / "execution" / "chain.py").is_file()
        assert not (tree.tree / "node" / "execution" / "codecache.py").exists()  # issue 22's step 2a came after
        assert (tree.tree / "bench").resolve() == baseline.REPO_ROOT / "bench"  # today's workload
        env = tree.env({"PATH": "/usr/bin", "PYTHONPATH": "/x"})
        assert env["PYTHONPATH"] == f"{tree.tree}:/x" and env["PATH"] == f"{tree.root / 'bin'}:/usr/bin"
        assert os.access(tree.root / "bin" / "ledger", os.X_OK)
    finally:
        tree.remove()
    assert not tree.root.exists()
    with pytest.raises(baseline.BaselineError, match="not a commit"):
        baseline.prepare("no-such-commit-anywhere", parent=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing left behind by the refused one


def test_main_with_a_baseline_writes_only_the_before_after_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_all's main with --baseline: the tree is prepared and removed, each step runs through
    run_step_with_baseline, the report carries the before/after rows, and --update-benchmarks-md
    touches the baseline markers only (a partial run must not replace the full run's tables)."""
    from bench.common import baseline

    md = tmp_path / "BENCHMARKS.md"
    md.write_text(f"# B\n\n{run_all.BEGIN_MARK}\nthe full run's tables\n{run_all.END_MARK}\n")
    removed: list[bool] = []
    tree = _tree(tmp_path)
    monkeypatch.setattr(baseline, "prepare", lambda ref: tree)
    monkeypatch.setattr(baseline.BaselineTree, "remove", lambda self: removed.append(True))
    monkeypatch.setattr(run_all, "REPO_ROOT", tmp_path)
    fake = FakeInvocations(fail={"throughput.old1"})
    real = run_all.run_step_with_baseline
    monkeypatch.setattr(run_all, "run_step_with_baseline",
                        lambda step, out, t, *, quick: real(step, out, t, quick=quick, invoke=fake))
    code = run_all.main(["--quick", "--only", "throughput", "--baseline", "57a5956", "--out", str(tmp_path / "out"),
                         "--update-benchmarks-md"])
    assert code == 1  # the old side failed: the run says so
    assert removed == [True] and [c[0] for c in fake.calls] == ["throughput.old1", "throughput.new1"]
    report = json.loads((tmp_path / "out" / "run_all.json").read_text())
    assert report["baseline"]["commit"] == tree.commit and report["steps"][0]["baseline"]["status"] == "failed"
    doc = md.read_text()
    assert "the full run's tables" in doc and run_all.BASELINE_BEGIN_MARK in doc
    assert "throughput on the old side failed" in doc
    assert "Before/after" in (tmp_path / "out" / "run_all.md").read_text()
