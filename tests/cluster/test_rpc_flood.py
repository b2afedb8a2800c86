"""Consensus does not share fate with the RPC: four real validators, one of them flooded
with what a client can send (a million fee-history percentiles, gas-burning eth_calls,
batches of a thousand calls, many WebSockets) while transactions sent through that same
node must be committed and the chain must keep its block schedule.

Before consensus had its own thread and loop, one such eth_feeHistory stopped block
production for 25 s: the answer was encoded on the loop that also ran the QBFT timers.
"""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cluster.harness import Cluster, rpc_batch, running_cluster

pytestmark = pytest.mark.slow

FLOOD_SECONDS = 15.0
DEADLINE = 90.0
LOOP = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: burns all the gas it is given
# The chain's empty-block period is 2 s and its block period 1 s (the harness). A gap of
# more than this many seconds between two blocks' timestamps means consensus stalled: a
# round change (1 s timer) on a busy machine stays well inside it; a 25 s stall does not.
MAX_GAP_SECONDS = 8


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory, "flood", validators=4) as c:
        yield c


def _post(url: str, body: Any, token: str | None) -> None:
    """Send one request and read the answer, whatever it is (refusals are expected)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
    except (urllib.error.URLError, OSError):
        pass  # 429, 413, a reset: the flood does not care


def _flooder(stop: threading.Event, send: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        for _ in range(10_000):  # bounded; stopped long before
            if stop.is_set():
                return
            send()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_consensus_keeps_its_schedule_while_a_validators_rpc_is_flooded(cluster: Cluster) -> None:
    target = cluster.url("validator-0")
    token = cluster.token
    start = max(1, cluster.height("validator-1"))  # genesis carries no wall-clock time
    call = {"jsonrpc": "2.0", "id": 1}
    floods: list[Callable[[], None]] = [
        lambda: _post(target, {**call, "method": "eth_feeHistory", "params": ["0x400", "latest", [1] * 1_000_000]}, token),
        # A batch whose answer is blocks x 1,000 x 1,000 strings (refused now: > 100 percentiles)...
        lambda: _post(target, [{**call, "id": i, "method": "eth_feeHistory", "params": ["0x400", "latest", list(range(1000))]}
                               for i in range(1000)], token),
        # ...and one that is allowed, blocks x 1,000 x 100 strings, encoded in a worker thread.
        lambda: _post(target, [{**call, "id": i, "method": "eth_feeHistory", "params": ["0x400", "latest", list(range(100))]}
                               for i in range(1000)], token),
        lambda: _post(target, {**call, "method": "eth_call", "params": [{"data": LOOP}]}, token),
        lambda: _post(target, [{**call, "id": i, "method": "eth_call", "params": [{"data": LOOP, "gas": "0x2dc6c0"}]}
                               for i in range(3)], token),
        lambda: _post(target, [{**call, "id": i, "method": "eth_getBlockByNumber", "params": [hex(i % 5), True]}
                               for i in range(1000)], token),
        lambda: _post(target, [{**call, "id": i, "method": "eth_blockNumber", "params": []} for i in range(1000)], None),
    ]
    stop = threading.Event()
    threads = [_flooder(stop, send) for send in floods]
    try:
        # Transactions go in through the flooded node and must come out in blocks.
        hashes: list[str] = []
        for _ in range(int(FLOOD_SECONDS)):
            hashes += cluster.send(5, via=["validator-0"])
            stop.wait(1.0)  # paces the sends over the flood; the assertions below poll
        receipts = cluster.receipts(hashes, "validator-1", DEADLINE)
    finally:
        stop.set()
        for thread in threads:
            thread.join(DEADLINE)
    assert all(int(r["status"], 16) == 1 for r in receipts)
    end = cluster.height("validator-1")
    blocks = rpc_batch(cluster.url("validator-1"), [("eth_getBlockByNumber", [hex(h), False])
                                                    for h in range(start, end + 1)], token=token)
    stamps = [int(b["timestamp"], 16) for b in blocks]
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:])]
    assert end - start >= FLOOD_SECONDS / 2, f"only {end - start} blocks in {FLOOD_SECONDS:.0f} s of flood"
    assert max(gaps) <= MAX_GAP_SECONDS, f"block timestamps {stamps}: a {max(gaps)} s gap"
    # The flooded validator kept up with the chain, and its RPC still answers.
    cluster.wait_same_height(cluster.names, end, DEADLINE)
    assert cluster.assert_safety() >= end
