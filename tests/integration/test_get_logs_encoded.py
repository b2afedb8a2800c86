"""eth_getLogs from a real dev node, served from pre-encoded logs (node/rpc/logcache.py),
checked byte for byte against the logs the node's receipts carry (eth_getBlockReceipts,
which still builds each log object and encodes it the old way), filtered here by an
independent reading of the filter rules, before and after new blocks arrive."""
from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from eth_account import Account

from tests.integration.nodeproc import NodeProcess, rpc
from tests.unit.node.test_log_cache import logger_initcode

pytestmark = pytest.mark.slow

RECEIPT_DEADLINE_SECONDS = 60
TOPICS = ["0x" + (bytes([i]) * 32).hex() for i in (1, 2, 3)]


def raw_call(url: str, payload: Any) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Sender:
    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.account = Account.from_key(node.dev_key)
        self.nonce = int(rpc(node.url, "eth_getTransactionCount", self.account.address, "pending"), 16)

    def send(self, fields: dict[str, Any]) -> str:
        tx = {"nonce": self.nonce, "gasPrice": 0, "chainId": 1337, "value": 0, "gas": 200_000, **fields}
        self.nonce += 1
        return str(rpc(self.node.url, "eth_sendRawTransaction",
                       "0x" + bytes(self.account.sign_transaction(tx).raw_transaction).hex()))

    def wait(self, hashes: list[str]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + RECEIPT_DEADLINE_SECONDS
        receipts: dict[str, dict[str, Any]] = {}
        while len(receipts) < len(hashes):
            assert time.monotonic() < deadline, f"{len(hashes) - len(receipts)} transactions not mined"
            for tx_hash in hashes:
                if tx_hash not in receipts:
                    receipt = rpc(self.node.url, "eth_getTransactionReceipt", tx_hash)
                    if receipt is not None:
                        receipts[tx_hash] = receipt
            time.sleep(0.1)
        return [receipts[h] for h in hashes]


def emits(sender: Sender, loggers: list[str], rounds: int) -> list[str]:
    hashes = []
    for r in range(rounds):
        for k, address in enumerate(loggers):
            topics = [TOPICS[(r + k + i) % len(TOPICS)] for i in range(k)]
            data = "".join(t[2:] for t in topics) + (r.to_bytes(2, "big") * k).hex()
            hashes.append(sender.send({"to": address, "data": "0x" + data}))
    return hashes


def all_logs(url: str) -> list[dict[str, Any]]:
    head = int(rpc(url, "eth_blockNumber"), 16)
    logs: list[dict[str, Any]] = []
    for height in range(head + 1):
        for receipt in rpc(url, "eth_getBlockReceipts", hex(height)):
            logs.extend(receipt["logs"])
    return logs


def wanted(log: dict[str, Any], spec: dict[str, Any]) -> bool:
    addresses = spec.get("address")
    if addresses is not None:
        addresses = [addresses] if isinstance(addresses, str) else addresses
        if log["address"].lower() not in {a.lower() for a in addresses}:
            return False
    for position, options in enumerate(spec.get("topics", [])):
        if position >= len(log["topics"]):
            return False
        if options is not None and log["topics"][position] not in ([options] if isinstance(options, str) else options):
            return False
    lo = int(spec.get("fromBlock", "0x0"), 16)
    hi = int(spec.get("toBlock", hex(2**62)), 16)
    return lo <= int(log["blockNumber"], 16) <= hi


def test_get_logs_equals_the_receipts_logs_byte_for_byte_across_new_blocks(dev_node: NodeProcess) -> None:
    url = dev_node.url
    sender = Sender(dev_node)
    deployed = sender.wait([sender.send({"data": "0x" + logger_initcode(k).hex(), "gas": 300_000}) for k in range(5)])
    loggers = [r["contractAddress"] for r in deployed]
    sender.wait(emits(sender, loggers, rounds=8))

    def check() -> None:
        logs = all_logs(url)
        head = hex(int(rpc(url, "eth_blockNumber"), 16))
        specs: list[dict[str, Any]] = [
            {"fromBlock": "0x0", "toBlock": head},
            {"fromBlock": "0x0", "toBlock": head, "address": loggers[2]},
            {"fromBlock": "0x0", "toBlock": head, "address": [loggers[1], loggers[4]], "topics": [None, TOPICS[0]]},
            {"fromBlock": "0x0", "toBlock": head, "topics": [[TOPICS[1], TOPICS[2]]]},
            {"fromBlock": "0x0", "toBlock": head, "topics": [None, None, None]},
            {"fromBlock": head, "toBlock": head},
        ]
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_getLogs", "params": [spec]} for i, spec in enumerate(specs)]
        expected = [{"jsonrpc": "2.0", "id": i, "result": [log for log in logs if wanted(log, spec)]}
                    for i, spec in enumerate(specs)]
        assert raw_call(url, batch) == b"[" + b",".join(compact(e) for e in expected) + b"]"
        for call, answer in zip(batch, expected):
            assert raw_call(url, call) == compact(answer)
        block_hash = logs[-1]["blockHash"]
        by_hash = {"jsonrpc": "2.0", "id": "h", "method": "eth_getLogs", "params": [{"blockHash": block_hash}]}
        assert raw_call(url, by_hash) == compact(
            {"jsonrpc": "2.0", "id": "h", "result": [log for log in logs if log["blockHash"] == block_hash]})

    check()
    check()  # warm: the same bytes again
    sender.wait(emits(sender, loggers, rounds=2))  # new blocks after the cache was filled
    check()
