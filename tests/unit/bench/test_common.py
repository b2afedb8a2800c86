"""bench/common: the parts every benchmark shares -- statistics, tables, the block follower,
process footprints, logged child processes, the shared options and the anchoring calldata.
The benchmarks themselves run in tests/integration/test_bench_run_all.py."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode

from bench.common import cli
from bench.common.contracts import anchor_calldata, entry_count_calldata, registry_function
from bench.common.footprint import RssSampler, cpu_seconds, dir_bytes, process_tree, tree_rss_kib
from bench.common.load import BlockFollower, wait_included
from bench.common.machine import machine_info, machine_rows
from bench.common.nodes import LoggedProcess
from bench.common.results import machine_markdown, print_grid, print_table, write_json
from bench.common.stats import median_run, percentile


def test_percentile_is_nearest_rank() -> None:
    values = list(range(100, 0, -1))  # 100..1, any order
    assert [percentile(values, p) for p in (1, 50, 95, 99, 100)] == [1, 50, 95, 99, 100]
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([1.0, 2.0], 50) == 1.0  # a sample, never a mean
    assert percentile([7.0], 99) == 7.0
    for bad in (0, -1, 101):
        with pytest.raises(ValueError, match="percentile"):
            percentile([1.0], bad)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_median_run_is_the_lower_middle() -> None:
    runs = [{"rate": r} for r in (30, 10, 20, 40)]
    assert median_run(runs, key=lambda r: r["rate"]) == {"rate": 20}
    assert median_run(runs[:3], key=lambda r: r["rate"]) == {"rate": 20}
    with pytest.raises(ValueError):
        median_run([], key=lambda r: r)


def test_tables_are_markdown() -> None:
    out = io.StringIO()
    print_table("title", [("a", 1), ("longer name", "x")], file=out)
    assert out.getvalue().splitlines() == [
        "", "title", "| metric      | value |", "|-------------|-------|", "| a           | 1     |", "| longer name | x     |"]
    out = io.StringIO()
    print_grid("grid", ["B", "rate"], [["1", "10.5"], ["100", "2"]], file=out)
    assert out.getvalue().splitlines()[2:] == ["| B   | rate |", "|-----|------|", "| 1   | 10.5 |", "| 100 | 2    |"]
    out = io.StringIO()
    print_grid("nothing", ["B"], [], file=out)
    assert out.getvalue() == ""
    info = machine_info()
    lines = machine_markdown(info)
    assert lines[:2] == ["| machine | |", "|---|---|"] and len(lines) == 2 + len(machine_rows(info))
    assert f"| cores | {info['cores']} |" in lines


def test_write_json_sorts_keys(tmp_path: Path) -> None:
    write_json(tmp_path / "x.json", {"b": 1, "a": [1, 2]})
    text = (tmp_path / "x.json").read_text()
    assert text.index('"a"') < text.index('"b"') and text.endswith("\n") and json.loads(text) == {"a": [1, 2], "b": 1}


class FakeChain:
    """A node's JSON-RPC as the block follower sees it: the head moves one block per
    eth_blockNumber call until `last`; block n holds the hashes in `txs[n]`. A stand-in
    for the node in a unit test of the follower's bookkeeping (the real node is followed
    in every benchmark run of tests/integration/test_bench_run_all.py)."""

    def __init__(self, txs: dict[int, list[str]], first: int, last: int, fail_at: int | None = None) -> None:
        self.txs, self.head, self.last, self.fail_at = txs, first, last, fail_at
        self.calls = 0
        self.closed = False

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise ConnectionError("node went away")
        if method == "eth_blockNumber":
            self.head = min(self.head + 1, self.last)
            return hex(self.head)
        assert method == "eth_getBlockByNumber" and params is not None
        number = int(params[0], 16)
        return {"timestamp": hex(1_000 + number), "transactions": self.txs.get(number, [])}

    def close(self) -> None:
        self.closed = True


def test_wait_included_counts_our_transactions_per_block() -> None:
    chain = FakeChain({3: ["0xAA", "0xbb", "0xother"], 5: ["0xcc"]}, first=1, last=9)
    per_block, seen_at = wait_included(chain, ["0xaa", "0xbb", "0xcc"], 2, time.monotonic() + 30, poll=0)  # type: ignore[arg-type]
    assert per_block == {3: 2, 5: 1} and seen_at > 0
    assert not chain.closed  # the caller's connection stays open
    with pytest.raises(TimeoutError, match="1 of 1 transactions not in a block"):
        wait_included(FakeChain({}, first=1, last=2), ["0xdd"], 0, time.monotonic() - 1, poll=0)  # type: ignore[arg-type]


def test_block_follower_thread_records_blocks_and_raises_its_error() -> None:
    chain = FakeChain({2: ["0x01"], 4: ["0x02", "0x03"]}, first=0, last=6)
    follower = BlockFollower(chain, after=None, poll=0.001)  # type: ignore[arg-type]
    follower.start()
    follower.wait_all(["0x01", "0x02", "0x03"], time.monotonic() + 30)
    follower.stop()
    assert chain.closed
    assert [b.number for b in follower.blocks][:4] == [1, 2, 3, 4]  # from the head it first saw, none twice
    assert follower.blocks[1].timestamp == 1_002 and follower.blocks[3].txs == 2
    assert [s[0] for s in follower.lookup(["0x01", "0x03", "0x99"]) if s] == [2, 4]

    broken = BlockFollower(FakeChain({}, first=0, last=5, fail_at=3), after=0, poll=0.001)  # type: ignore[arg-type]
    broken.start()
    with pytest.raises(RuntimeError, match="block follower failed"):
        broken.wait_all(["0x01"], time.monotonic() + 30)
    broken.stop()

    tolerant = BlockFollower(FakeChain({}, first=0, last=5, fail_at=3), after=0, poll=0.001, keep_going=True)  # type: ignore[arg-type]
    tolerant.start()
    deadline = time.monotonic() + 30
    while tolerant.errors < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    tolerant.stop()
    assert tolerant.errors >= 3 and tolerant.error is None


def test_footprint_of_a_process_tree(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        tree = process_tree(os.getpid())
        assert tree[0] == os.getpid() and child.pid in tree
        assert tree_rss_kib(os.getpid()) > tree_rss_kib(child.pid) > 0
        assert cpu_seconds([os.getpid()]) > 0
        sampler = RssSampler([os.getpid(), child.pid], 0.01)
        sampler.start()
        deadline = time.monotonic() + 30
        while len(sampler.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        sampler.stop()
        count = len(sampler.samples)
        sampler.stop()  # a second stop takes no sample
        assert count >= 4 and len(sampler.samples) == count
        assert all(len(values) == 2 for _, values in sampler.samples)
        peak, hwm = sampler.peak_kib(), sampler.hwm_kib()
        assert peak[0] > peak[1] > 0 and hwm[1] >= peak[1] - 1024 and hwm[0] > 0  # VmHWM: the kernel's own peak
    finally:
        child.communicate(b"")
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"y" * 5)
    assert dir_bytes(tmp_path) == 15


class MarkerProcess(LoggedProcess):
    """A child that is ready once it has written its marker file."""

    what = "marker child"
    ready_check = "marker written"

    def __init__(self, code: str, tmp: Path) -> None:
        self.marker = tmp / "ready"
        super().__init__([sys.executable, "-c", code, str(self.marker)], tmp / "child.log", tmp)

    def ready(self) -> bool:
        return self.marker.exists()


def _fresh(directory: Path) -> Path:
    directory.mkdir()
    return directory


def test_logged_process_start_stop_and_failures(tmp_path: Path) -> None:
    waits = "import sys, time, pathlib; print('hello'); sys.stdout.flush(); pathlib.Path(sys.argv[1]).touch(); time.sleep(120)"
    child = MarkerProcess(waits, _fresh(tmp_path / "waits"))
    child.start(ready_timeout=60)
    try:
        assert child.proc is not None and child.proc.poll() is None
    finally:
        assert child.stop() == -15  # SIGTERM
    assert child.log_tail() == "hello"
    assert child.stop() == -15  # stopping twice is harmless

    dies = MarkerProcess("import sys; print('no config'); sys.exit(3)", _fresh(tmp_path / "dies"))
    with pytest.raises(RuntimeError, match="marker child exited with 3 before it was ready:\nno config"):
        dies.start(ready_timeout=60)
    dies.stop()

    never = MarkerProcess("import time; time.sleep(120)", _fresh(tmp_path / "never"))
    try:
        with pytest.raises(TimeoutError, match=r"marker child not ready \(marker written\) within 0 s"):
            never.start(ready_timeout=0.2)
    finally:
        never.stop()


def test_shared_options(capsys: pytest.CaptureFixture[str]) -> None:
    p = cli.parser("a benchmark")
    cli.add_runs(p, 3, "runs", short=True)
    cli.add_idle_wait(p, 5.0)
    cli.add_quick(p, "tiny", flag="--smoke")
    cli.add_figures_out(p)
    cli.add_node_start(p, ready_timeout=120.0, node_args=True)
    args = p.parse_args(["-r", "2", "--smoke", "--node-arg=--auth", "--node-arg", "off", "--figures-out", "f.json"])
    assert (args.runs, args.idle_wait, args.smoke, args.ready_timeout, args.node_arg) == (2, 5.0, True, 120.0, ["--auth", "off"])
    assert args.figures_out == Path("f.json") and args.ledger.endswith("ledger")
    cli.require_positive(p, args, "runs")
    args.runs = 0
    with pytest.raises(SystemExit) as exc:
        cli.require_positive(p, args, "runs")
    assert exc.value.code == 2 and "--runs must be >= 1" in capsys.readouterr().err


def test_anchor_calldata_follows_the_shipped_abi() -> None:
    selector, types = registry_function("anchor")
    digest = bytes(range(32))
    data = anchor_calldata(digest, 7)
    assert data[:4] == selector
    anchored, leaves, kind, case, algorithm, metadata = decode(list(types), data[4:])
    assert (anchored, leaves, metadata) == (digest, 7, b"\x00" * 32) and kind and case and algorithm
    assert entry_count_calldata() == registry_function("entry_count")[0] and len(entry_count_calldata()) == 4
    with pytest.raises(KeyError):
        registry_function("no_such_function")


def test_a_stopped_follower_stops_its_thread() -> None:
    chain = FakeChain({}, first=0, last=10**9)
    follower = BlockFollower(chain, after=None, poll=0.001)  # type: ignore[arg-type]
    follower.start()
    deadline = time.monotonic() + 30
    while chain.calls < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    follower.stop()
    assert not any(t.name == "block-follower" and t.is_alive() for t in threading.enumerate())
