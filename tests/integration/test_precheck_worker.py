"""The precheck worker of a real dev node (node/execution/precheck.py): transactions are
admitted with the refusals they always had, a killed worker does not stall admission (and is
replaced), and neither a stopped nor a killed node leaves a process behind."""
from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from tests.integration.nodeproc import NodeProcess, free_port, rpc

SINK = "0x" + "33" * 20
# A started worker imports py-evm before it answers; on a loaded machine that takes a while.
WORKER_DEADLINE_SECONDS = 90.0
# A batch's answer, even checked in the node after the worker died, comes well within this.
ANSWER_DEADLINE_SECONDS = 30.0


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (/proc/<pid>/task/*/children)."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 64:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            todo.extend(children)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def worker_pids(node: NodeProcess) -> list[int]:
    assert node.proc is not None
    return [p for p in descendants(node.proc.pid) if "node.execution.precheck" in cmdline(p)]


def post(url: str, document: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=ANSWER_DEADLINE_SECONDS) as response:
        return json.loads(response.read())


class Sender:
    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.account = Account.from_key(node.dev_key)
        self.nonce = int(rpc(node.url, "eth_getTransactionCount", self.account.address, "pending"), 16)

    def raw(self, nonce: int | None = None, **overrides: object) -> str:
        tx: dict[str, object] = {"nonce": self.nonce if nonce is None else nonce, "gas": 21_000, "gasPrice": 0,
                                 "to": SINK, "value": 1, "chainId": 1337}
        tx.update(overrides)
        if nonce is None:
            self.nonce += 1
        return "0x" + bytes(self.account.sign_transaction(tx).raw_transaction).hex()

    def send(self) -> str:
        """Two transactions in one JSON-RPC batch (a single one is checked in the node and
        never reaches the worker: node/service.py MIN_PRECHECK_BATCH); the first's hash."""
        answers = post(self.node.url, [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                                        "params": [self.raw()]} for i in range(2)])
        by_id = {a["id"]: a for a in answers}
        assert all("result" in a for a in answers), answers
        return str(by_id[0]["result"])


def test_a_single_transaction_is_checked_in_the_node_without_starting_a_worker(node: NodeProcess) -> None:
    sender = Sender(node)
    for _ in range(3):
        assert str(rpc(node.url, "eth_sendRawTransaction", sender.raw())).startswith("0x")
    assert not worker_pids(node)
    sender.send()  # a batch
    deadline = time.monotonic() + WORKER_DEADLINE_SECONDS
    while not worker_pids(node):
        assert time.monotonic() < deadline, "a batch of transactions started no worker"
        time.sleep(0.1)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    started = NodeProcess(tmp_path / "data", free_port()).start()  # the worker is on by default
    try:
        yield started
    finally:
        started.stop()


def wait_for_worker(node: NodeProcess, sender: Sender, not_pid: int | None = None) -> int:
    """The worker's pid once one (other than `not_pid`) has answered a transaction: each
    round sends one, which is what starts a new worker after a death and what finds it ready."""
    deadline = time.monotonic() + WORKER_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        sender.send()
        pids = [p for p in worker_pids(node) if p != not_pid]
        if pids and f"precheck worker ready (pid {pids[0]})" in node.log_text():
            return pids[0]
        time.sleep(0.2)
    raise AssertionError(f"no precheck worker answered within {WORKER_DEADLINE_SECONDS} s; log: {node.log_text()[-2000:]}")


def test_refusals_are_the_ones_admission_always_gave(node: NodeProcess) -> None:
    assert not worker_pids(node)  # started by the first transaction, not before
    sender = Sender(node)
    wait_for_worker(node, sender)
    deadline = time.monotonic() + ANSWER_DEADLINE_SECONDS
    while int(rpc(node.url, "eth_getTransactionCount", sender.account.address, "latest"), 16) == 0:
        assert time.monotonic() < deadline, "the first transaction was not mined"
        time.sleep(0.1)
    stale = sender.raw(nonce=0, value=2)  # nonce 0 is mined: too low (not "already known")
    calls = [
        sender.raw(chainId=1),
        sender.raw(nonce=sender.nonce + 1000),  # does not move sender.nonce
        stale,
        sender.raw(gas=20_000),
        "0x01",
        sender.raw(),
    ]
    answers = post(node.url, [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
                              for i, raw in enumerate(calls)])
    by_id = {a["id"]: a for a in answers}
    assert by_id[0]["error"]["message"] == "invalid chain id for signer: have 1 want 1337"
    assert by_id[1]["error"]["message"].startswith("nonce too high")
    assert by_id[2]["error"]["message"].startswith("nonce too low")
    assert by_id[3]["error"]["message"] == "intrinsic gas too low: have 20000, want 21000"
    assert by_id[4]["error"]["message"].startswith("transaction could not be decoded") or \
        by_id[4]["error"]["message"].startswith("rlp")
    assert by_id[5]["result"].startswith("0x") and len(by_id[5]["result"]) == 66


def test_a_killed_worker_does_not_stall_admission_and_is_replaced(node: NodeProcess) -> None:
    sender = Sender(node)
    first = wait_for_worker(node, sender)
    os.kill(first, signal.SIGKILL)
    started = time.monotonic()
    hashes = [sender.send() for _ in range(3)]  # checked in the node meanwhile
    assert time.monotonic() - started < ANSWER_DEADLINE_SECONDS
    assert all(h.startswith("0x") for h in hashes)
    assert "checking transactions in the node" in node.log_text()
    second = wait_for_worker(node, sender, not_pid=first)
    assert second != first and not alive(first)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_or_killed_node_leaves_no_process_behind(node: NodeProcess, how: int) -> None:
    sender = Sender(node)
    wait_for_worker(node, sender)
    assert node.proc is not None
    left = descendants(node.proc.pid)
    assert worker_pids(node) and left
    node.stop(how)
    deadline = time.monotonic() + WORKER_DEADLINE_SECONDS
    while time.monotonic() < deadline and any(alive(p) for p in left):
        time.sleep(0.1)
    assert not [p for p in left if alive(p)], [cmdline(p) for p in left if alive(p)]


def test_a_stopped_worker_costs_a_batch_one_deadline_and_does_not_hang_shutdown(node: NodeProcess) -> None:
    sender = Sender(node)
    worker = wait_for_worker(node, sender)
    os.kill(worker, signal.SIGSTOP)  # it stops reading mid-batch: the request blocks mid-write
    try:
        # 1,000 refused ~1.2 KB "transactions" (distinct, so the request is ~1.2 MB, well over
        # a socket pair's buffer): before the fix the node's send to the worker blocked forever.
        calls = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                  "params": ["0x" + "01" * 1200 + i.to_bytes(2, "big").hex()]} for i in range(1000)]
        answers = post(node.url, calls)  # within ANSWER_DEADLINE_SECONDS (urllib's timeout)
        assert len(answers) == 1000 and all("error" in a for a in answers)
        assert "checking transactions in the node" in node.log_text()
        assert not alive(worker)  # the node killed it
    finally:
        if alive(worker):
            os.kill(worker, signal.SIGKILL)
    assert sender.send().startswith("0x")  # admission goes on (in the node until the restart)
    assert node.proc is not None
    proc = node.proc
    node.stop()
    assert proc.returncode == 0, node.log_text()[-2000:]
