"""Which of a JSON-RPC batch's raw transactions go to the admission worker
(node/rpc/jsonrpc.py `raw_transactions`, Node.prechecked): those of a caller who may send.
A caller without rpc:send (an auditor's token, or no token) has every eth_sendRawTransaction
refused one by one; a batch of a thousand of them must not keep the worker, and so the
second core, busy decoding and recovering senders for nothing."""
from __future__ import annotations

from typing import Any

from node.access.http import Principal
from node.rpc.jsonrpc import raw_transactions


def batch(*raws: bytes) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                                    "params": ["0x" + raw.hex()]} for i, raw in enumerate(raws)]
    calls.append({"jsonrpc": "2.0", "id": 99, "method": "eth_blockNumber", "params": []})
    calls.append({"jsonrpc": "2.0", "id": 98, "method": "eth_sendRawTransaction", "params": ["not hex"]})
    return calls


def test_a_sender_s_raw_transactions_go_to_the_worker() -> None:
    for role in ("ADMIN", "TRADING_CENTER", "PARTY"):
        principal = Principal(role=role, subject="s")
        assert raw_transactions(batch(b"\x01\x02", b"\x03"), principal) == [b"\x01\x02", b"\x03"]


def test_a_caller_who_may_not_send_keeps_the_worker_out_of_it() -> None:
    assert raw_transactions(batch(b"\x01\x02"), Principal(role="AUDITOR", subject="a")) == []
    assert raw_transactions(batch(b"\x01\x02"), None) == []
