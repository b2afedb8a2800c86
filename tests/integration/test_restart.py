"""Crash safety: SIGTERM and kill -9 in the middle of transaction bursts lose no block a
client saw, leave a valid head, and every stored block re-executes to its state root."""
from __future__ import annotations

import http.client
import json
import random
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from tests.integration.nodeproc import NodeProcess, free_port, rpc

pytestmark = pytest.mark.slow

KILL_ROUNDS = 20
BURST_TXS = 150
RECEIPT_DEADLINE_SECONDS = 20
SINK = to_checksum_address("0x" + "ab" * 20)




def send_batch(url: str, raws: list[str]) -> list[dict]:
    """Send raw transactions in one batch; returns the error objects of refused ones."""
    calls = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]} for i, raw in enumerate(raws)]
    request = urllib.request.Request(url, json.dumps(calls).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [r["error"] for r in json.loads(response.read()) if "error" in r]


class Burst:
    """Sends signed self-transfers in small batches and records every receipt it sees."""

    def __init__(self, node: NodeProcess, count: int) -> None:
        self.node = node
        account = Account.from_key(node.dev_key)
        start = int(rpc(node.url, "eth_getTransactionCount", account.address, "pending"), 16)  # type: ignore[arg-type]
        self.raws = []
        for nonce in range(start, start + count):
            signed = account.sign_transaction({"to": SINK, "value": nonce, "gas": 21_000,
                                               "gasPrice": 0, "nonce": nonce, "chainId": 1337})
            self.raws.append("0x" + bytes(signed.raw_transaction).hex())
        self.hashes = ["0x" + keccak(bytes.fromhex(r[2:])).hex() for r in self.raws]
        self.seen: dict[str, tuple[int, str]] = {}  # tx hash -> (block number, block hash)
        self.first_receipt = threading.Event()
        self.stop = threading.Event()
        self.refused: list[dict] = []

    def run(self) -> None:
        try:
            for i in range(0, len(self.raws), 10):
                if self.stop.is_set():
                    return
                self.refused += send_batch(self.node.url, self.raws[i : i + 10])
            while not self.stop.is_set():
                self.poll()
                time.sleep(0.05)
        except (OSError, http.client.HTTPException):
            return  # the node was killed under us, mid-response or before: expected

    def poll(self) -> None:
        for tx_hash in self.hashes:
            if tx_hash in self.seen:
                continue
            receipt = rpc(self.node.url, "eth_getTransactionReceipt", tx_hash)
            if receipt is None:
                return  # later nonces cannot be in earlier blocks
            self.seen[tx_hash] = (int(receipt["blockNumber"], 16), receipt["blockHash"])  # type: ignore[index]
            self.first_receipt.set()


def assert_receipts_survived(node: NodeProcess, seen: dict[str, tuple[int, str]]) -> None:
    for tx_hash, (number, block_hash) in seen.items():
        receipt = rpc(node.url, "eth_getTransactionReceipt", tx_hash)
        assert receipt is not None, f"receipt of {tx_hash} (block {number}) was seen, then lost"
        assert receipt["blockHash"] == block_hash and int(receipt["blockNumber"], 16) == number  # type: ignore[index]


def replay_whole_chain(data_dir: Path) -> int:
    """Open the data directory in-process and re-execute every block from genesis."""
    from node.service import NodeConfig, open_node

    node = open_node(NodeConfig(data_dir=data_dir))
    try:
        chain = node.chain
        head = chain.head.block_number
        chain.validate_recent(depth=head + 1)
        for height in range(1, head + 1):
            header = chain.header_by_number(height)
            replayed = chain.replay_block(header)
            assert replayed.state_root == header.state_root, f"state root differs at {height}"
            assert replayed.receipt_root == header.receipt_root, f"receipts root differs at {height}"
            assert replayed.gas_used == header.gas_used
        return head
    finally:
        node.close()


def test_kill_minus_nine_during_bursts_loses_nothing_seen(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    data_dir = tmp_path / "data"
    port = free_port()
    all_seen: dict[str, tuple[int, str]] = {}
    for round_number in range(KILL_ROUNDS):
        node = NodeProcess(data_dir, port).start()
        try:
            assert_receipts_survived(node, all_seen)
            burst = Burst(node, BURST_TXS)
            sender = threading.Thread(target=burst.run, daemon=True)
            sender.start()
            assert burst.first_receipt.wait(RECEIPT_DEADLINE_SECONDS), f"round {round_number}: no receipt"
            time.sleep(rng.uniform(0.0, 1.2))  # kill at a random point of the burst
            node.kill()
            burst.stop.set()
            sender.join(timeout=15)
            all_seen.update(burst.seen)
            assert burst.refused == [], f"round {round_number}: the node refused {burst.refused[:3]}"
        finally:
            node.stop()
    node = NodeProcess(data_dir, port).start()
    try:
        assert_receipts_survived(node, all_seen)
        health = node.wait_healthy()
        assert health["height"] >= max(n for n, _ in all_seen.values())
    finally:
        node.stop()
    assert len(all_seen) >= KILL_ROUNDS  # every round saw at least one receipt
    assert replay_whole_chain(data_dir) >= 1


def test_sigterm_mid_burst_shuts_down_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    node = NodeProcess(data_dir, free_port()).start()
    try:
        burst = Burst(node, BURST_TXS)
        sender = threading.Thread(target=burst.run, daemon=True)
        sender.start()
        assert burst.first_receipt.wait(RECEIPT_DEADLINE_SECONDS)
        assert node.stop(signal.SIGTERM) == 0
        burst.stop.set()
        sender.join(timeout=15)
        assert burst.refused == []
    finally:
        node.stop()
    node = NodeProcess(data_dir, node.port).start()
    try:
        assert_receipts_survived(node, burst.seen)
    finally:
        node.stop()
    replay_whole_chain(data_dir)
