"""Bad input against a real dev node process: malformed JSON, wrong types, unknown methods,
oversized bodies, garbage RLP, wrongly signed and wrong-chain transactions, WebSocket junk.

Every case must get a JSON-RPC error with the right code (and, for refused transactions,
the geth/Besu reason text clients match on), and afterwards the node must still answer
`eth_blockNumber` with the state committed before the bad input untouched. Inputs that
might kill the process (deeply nested JSON) are sent to a throwaway node of their own.
"""
from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import rlp
import websockets
from eth_account import Account
from eth_hash.auto import keccak

from node.api import MAX_BATCH_CALLS
from node.execution.txpool import MAX_NONCE_GAP
from node.execution.vm import MAX_TX_BYTES
from node.rpc.filters import MAX_ADDRESSES, MAX_TOPIC_POSITIONS
from node.rpc.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_BODY_BYTES,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    SERVER_ERROR,
)
from node.rpc.methods import MAX_PROOF_KEYS
from node.rpc.params import MAX_QUANTITY
from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow

HTTP_TIMEOUT = httpx.Timeout(15.0)
WS_TIMEOUT = 10.0
MINE_TIMEOUT = 20.0
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

RECIPIENT = "0x" + "22" * 20
SOME_ADDRESS = "0x" + "11" * 20
SOME_HASH = "0x" + "ab" * 32


# -- plumbing ---------------------------------------------------------------------------

def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} in a response")


def strict_json(text: str) -> Any:
    """Parse a response as RFC 8259 JSON: NaN / Infinity in a response are a bug."""
    return json.loads(text, parse_constant=_reject_constant)


# No keep-alive: every request gets a fresh connection, so one bad exchange (a 500 that
# closes the socket) cannot spoil the next; one client, because building one costs ~40 ms.
_HTTP = httpx.Client(timeout=HTTP_TIMEOUT, limits=httpx.Limits(max_keepalive_connections=0))


def post_raw(node: NodeProcess, body: bytes | Iterator[bytes], headers: dict[str, str] | None = None) -> httpx.Response:
    return _HTTP.post(node.url, content=body, headers={"content-type": "application/json", **(headers or {})})


def rpc_doc(node: NodeProcess, body: bytes) -> Any:
    """Send a raw body; the node must answer HTTP 200 with a strict JSON document."""
    response = post_raw(node, body)
    assert response.status_code == 200, f"HTTP {response.status_code} for {body[:200]!r}: {response.text[:500]}"
    return strict_json(response.text)


def call(node: NodeProcess, method: str, *params: Any, req_id: Any = 1) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": list(params)}).encode()
    return rpc_doc(node, body)


def result(node: NodeProcess, method: str, *params: Any) -> Any:
    doc = call(node, method, *params)
    assert "error" not in doc, f"{method}{list(params)!r}: {doc}"
    return doc["result"]


def assert_error(doc: Any, code: int, reason: str | tuple[str, ...] | None = None, req_id: Any = ...) -> dict[str, Any]:
    """`doc` is a JSON-RPC error response with `code` and, if given, one of the reason texts."""
    assert isinstance(doc, dict), f"expected one error object, got {doc!r}"
    assert doc.get("jsonrpc") == "2.0", doc
    assert "result" not in doc, f"expected error {code}, got a result: {doc}"
    error = doc.get("error")
    assert isinstance(error, dict), doc
    assert error.get("code") == code, f"expected code {code}, got {error.get('code')}: {doc}"
    message = error.get("message")
    assert isinstance(message, str) and message, doc
    if reason is not None:
        reasons = (reason,) if isinstance(reason, str) else reason
        assert any(r.lower() in message.lower() for r in reasons), f"expected one of {reasons} in {message!r}"
    if req_id is not ...:
        assert doc.get("id") == req_id, doc
    return error


def wait_receipt(node: NodeProcess, tx_hash: str, timeout: float = MINE_TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = result(node, "eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return receipt
        time.sleep(0.1)
    raise AssertionError(f"transaction {tx_hash} not mined within {timeout}s")


# -- the committed state every test must leave intact -----------------------------------------

@dataclass
class Ledger:
    """What the dev account and chain must look like; tests that mine valid txs update it."""

    node: NodeProcess
    committed_raw: bytes = b""
    committed_hash: str = ""
    committed_block: int = 0
    committed_block_hash: str = ""
    nonce: int = 0
    balance: int = 0
    recipient_balance: int = 0
    gas_limit: int = 0
    height: int = 0

    def sign(self, **overrides: Any) -> bytes:
        tx: dict[str, Any] = {"nonce": self.nonce, "gasPrice": 0, "gas": 21_000, "to": RECIPIENT, "value": 1,
                              "chainId": self.node.chain_id}
        tx.update(overrides)
        tx = {k: v for k, v in tx.items() if v is not None}
        return bytes(Account.sign_transaction(tx, self.node.dev_key).raw_transaction)

    def mine(self, raw: bytes) -> dict[str, Any]:
        """Submit a valid transfer, wait for it, and record its effect on the dev account."""
        return self.mined(result(self.node, "eth_sendRawTransaction", "0x" + raw.hex()))

    def mined(self, tx_hash: str) -> dict[str, Any]:
        receipt = wait_receipt(self.node, tx_hash)
        assert receipt["status"] == "0x1", receipt
        tx = result(self.node, "eth_getTransactionByHash", tx_hash)
        self.nonce += 1
        self.balance -= int(tx["value"], 16)  # gas is free on the dev chain (gasPrice 0)
        self.recipient_balance += int(tx["value"], 16)
        self.height = max(self.height, int(receipt["blockNumber"], 16))
        return receipt

    def assert_intact(self) -> None:
        """The node still serves, and nothing committed was lost or changed by bad input."""
        node = self.node
        assert node.proc is not None and node.proc.poll() is None, \
            f"node process died (exit {node.proc.poll() if node.proc else None}); log: {node.log_text()[-3000:]}"
        dev = node.dev_address
        checks = [
            ("eth_blockNumber", []),
            ("eth_chainId", []),
            ("eth_getBlockByNumber", [hex(self.committed_block), False]),
            ("eth_getTransactionReceipt", [self.committed_hash]),
            ("eth_getBalance", [dev, "latest"]),
            ("eth_getTransactionCount", [dev, "latest"]),
            ("eth_getTransactionCount", [dev, "pending"]),  # nothing refused was parked in the pool
            ("eth_getBalance", [RECIPIENT, "latest"]),
        ]
        batch = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(checks)]
        docs = sorted(rpc_doc(node, json.dumps(batch).encode()), key=lambda d: d["id"])
        assert [d["id"] for d in docs] == list(range(len(checks))) and all("result" in d for d in docs), docs
        height, chain_id, block, receipt, balance, nonce, pending, recipient = (d["result"] for d in docs)
        assert int(height, 16) >= self.height
        assert chain_id == hex(node.chain_id)
        assert block["hash"] == self.committed_block_hash and self.committed_hash in block["transactions"]
        assert receipt["status"] == "0x1" and receipt["blockHash"] == self.committed_block_hash
        assert (int(balance, 16), int(nonce, 16), int(pending, 16)) == (self.balance, self.nonce, self.nonce)
        assert int(recipient, 16) == self.recipient_balance


@pytest.fixture(scope="module")
def ledger(dev_node: NodeProcess) -> Ledger:
    state = Ledger(dev_node)
    state.balance = int(result(dev_node, "eth_getBalance", dev_node.dev_address, "latest"), 16)
    state.nonce = int(result(dev_node, "eth_getTransactionCount", dev_node.dev_address, "latest"), 16)
    state.recipient_balance = int(result(dev_node, "eth_getBalance", RECIPIENT, "latest"), 16)
    state.gas_limit = int(result(dev_node, "eth_getBlockByNumber", "latest", False)["gasLimit"], 16)
    assert state.balance > 10**18
    raw = state.sign(value=10**15)
    receipt = state.mine(raw)
    state.committed_raw = raw
    state.committed_hash = receipt["transactionHash"]
    state.committed_block = int(receipt["blockNumber"], 16)
    state.committed_block_hash = receipt["blockHash"]
    state.assert_intact()
    return state


# -- request envelope: JSON, batches, JSON-RPC 2.0 shape ------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"',
    b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}}',
    b"{'jsonrpc':'2.0','id':1,'method':'eth_blockNumber'}",
    b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber",}',
    b'[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}',
    b"}",
    b"garbage",
    b"\x00\x01\x02",
    b"",
    b"   \r\n\t ",
    b"\xff\xfe\xfd",
    b'{"jsonrpc":"2.0","id":1,"method":"eth_\xff\xfeblockNumber"}',
    b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":["\xc3\x28"]}',
], ids=["unterminated", "trailing-brace", "single-quotes", "trailing-comma", "unterminated-batch", "lone-brace",
        "bare-word", "control-bytes", "empty", "whitespace", "non-utf8", "non-utf8-in-method", "invalid-utf8-seq"])
def test_unparseable_body_is_a_parse_error(ledger: Ledger, body: bytes) -> None:
    assert_error(rpc_doc(ledger.node, body), PARSE_ERROR, req_id=None)
    ledger.assert_intact()


@pytest.mark.parametrize("body", [b"42", b'"x"', b"null", b"true", b"1.5", b"{}", b'"eth_blockNumber"'],
                         ids=["number", "string", "null", "bool", "float", "empty-object", "method-name-string"])
def test_json_that_is_not_a_call_is_an_invalid_request(ledger: Ledger, body: bytes) -> None:
    assert_error(rpc_doc(ledger.node, body), INVALID_REQUEST, req_id=None)
    ledger.assert_intact()


@pytest.mark.parametrize("call_obj", [
    {"jsonrpc": "1.0", "id": 7, "method": "eth_blockNumber"},
    {"jsonrpc": 2.0, "id": 7, "method": "eth_blockNumber"},
    {"id": 7, "method": "eth_blockNumber"},
    {"jsonrpc": "2.0", "id": 7},
    {"jsonrpc": "2.0", "id": 7, "method": 42},
    {"jsonrpc": "2.0", "id": 7, "method": None},
    {"jsonrpc": "2.0", "id": 7, "method": ["eth_blockNumber"]},
    {"jsonrpc": "2.0", "id": 7, "method": {"name": "eth_blockNumber"}},
], ids=["version-1.0", "version-number", "no-version", "no-method", "method-number", "method-null",
        "method-list", "method-object"])
def test_malformed_call_object_is_an_invalid_request(ledger: Ledger, call_obj: dict[str, Any]) -> None:
    assert_error(rpc_doc(ledger.node, json.dumps(call_obj).encode()), INVALID_REQUEST, req_id=7)
    ledger.assert_intact()


@pytest.mark.parametrize("bad_id", [{"a": 1}, [1]], ids=["object", "array"])
def test_id_of_wrong_type_is_an_invalid_request(ledger: Ledger, bad_id: Any) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": bad_id, "method": "eth_blockNumber"}).encode()
    assert_error(rpc_doc(ledger.node, body), INVALID_REQUEST, req_id=None)
    ledger.assert_intact()


@pytest.mark.parametrize("method", ["eth_doesNotExist", "", "ETH_BLOCKNUMBER", "eth_blockNumber ", "__init__",
                                    "eth_" + "x" * 10_000, "eth_subscribe", "admin_addPeer"])
def test_unknown_method(ledger: Ledger, method: str) -> None:
    error = assert_error(call(ledger.node, method), METHOD_NOT_FOUND, req_id=1)
    assert len(error["message"]) < 500, "the error must not echo an unbounded method name"
    ledger.assert_intact()


@pytest.mark.parametrize("params", [{"address": SOME_ADDRESS}, "latest", 5, True],
                         ids=["object", "string", "number", "bool"])
def test_params_not_an_array(ledger: Ledger, params: Any) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": params}).encode()
    assert_error(rpc_doc(ledger.node, body), INVALID_PARAMS, req_id=1)
    ledger.assert_intact()


@pytest.mark.parametrize("method,params", [
    ("eth_blockNumber", [1]),
    ("eth_chainId", ["latest"]),
    ("eth_getBalance", []),
    ("eth_getBalance", [SOME_ADDRESS, "latest", "extra"]),
    ("eth_getStorageAt", [SOME_ADDRESS]),
    ("eth_getStorageAt", [SOME_ADDRESS, "0x0", "latest", 1]),
    ("eth_getBlockByNumber", []),
    ("eth_getBlockByNumber", ["latest", False, False]),
    ("eth_call", []),
    ("eth_call", [{"to": SOME_ADDRESS}, "latest", {}, 1]),
    ("eth_getLogs", []),
    ("eth_getLogs", [{}, {}]),
    ("eth_getProof", [SOME_ADDRESS]),
    ("eth_sendRawTransaction", []),
    ("eth_sendRawTransaction", ["0x00", "0x00"]),
], ids=lambda v: v if isinstance(v, str) else f"{len(v)}-params")
def test_wrong_param_count(ledger: Ledger, method: str, params: list[Any]) -> None:
    assert_error(call(ledger.node, method, *params), INVALID_PARAMS, req_id=1)
    ledger.assert_intact()


def test_batch_with_mixed_valid_and_invalid_entries(ledger: Ledger) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
        42,
        {"jsonrpc": "2.0", "id": 3, "method": "eth_nope"},
        {"jsonrpc": "1.0", "id": 4, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 5, "method": "eth_getBalance", "params": ["0x1234", "latest"]},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},  # a notification: no response
        {"jsonrpc": "2.0", "id": 6, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 7, "method": "eth_sendRawTransaction", "params": ["0xdeadbeef"]},
        {"jsonrpc": "2.0", "id": "eight", "method": "eth_getBalance", "params": [ledger.node.dev_address, "latest"]},
    ]
    docs = rpc_doc(ledger.node, json.dumps(batch).encode())
    assert isinstance(docs, list) and len(docs) == len(batch) - 1, docs
    by_id = {doc["id"]: doc for doc in docs}
    assert set(by_id) == {1, None, 3, 4, 5, 6, 7, "eight"}
    assert int(by_id[1]["result"], 16) >= ledger.height
    assert_error(by_id[None], INVALID_REQUEST)
    assert_error(by_id[3], METHOD_NOT_FOUND)
    assert_error(by_id[4], INVALID_REQUEST)
    assert_error(by_id[5], INVALID_PARAMS)
    assert by_id[6]["result"] == hex(ledger.node.chain_id)
    assert_error(by_id[7], SERVER_ERROR, ("rlp", "decod"))
    assert int(by_id["eight"]["result"], 16) == ledger.balance
    ledger.assert_intact()


def test_empty_batch(ledger: Ledger) -> None:
    assert_error(rpc_doc(ledger.node, b"[]"), INVALID_REQUEST, "empty", req_id=None)
    ledger.assert_intact()


def test_batch_over_the_limit_and_at_the_limit(ledger: Ledger) -> None:
    one = {"jsonrpc": "2.0", "method": "eth_chainId"}
    too_many = [dict(one, id=i) for i in range(MAX_BATCH_CALLS + 1)]
    assert_error(rpc_doc(ledger.node, json.dumps(too_many).encode()), INVALID_REQUEST, "batch too large", req_id=None)
    at_limit = [dict(one, id=i) for i in range(MAX_BATCH_CALLS)]
    docs = rpc_doc(ledger.node, json.dumps(at_limit).encode())
    assert isinstance(docs, list) and len(docs) == MAX_BATCH_CALLS
    assert all(doc["result"] == hex(ledger.node.chain_id) for doc in docs)
    ledger.assert_intact()


# Not JSON per RFC 8259 but accepted by Python's decoder; the answer must still be a
# JSON-RPC error in valid JSON, never an HTTP 500.
NON_STANDARD_NUMBERS = [
    b'{"jsonrpc":"2.0","id":NaN,"method":"eth_blockNumber"}',
    b'{"jsonrpc":"2.0","id":Infinity,"method":"eth_blockNumber"}',
    b'{"jsonrpc":"2.0","id":-Infinity,"method":"eth_blockNumber"}',
    b'{"jsonrpc":"2.0","id":1e400,"method":"eth_blockNumber"}',
    b'{"jsonrpc":"2.0","id":' + b"1" * 5000 + b',"method":"eth_blockNumber"}',
    b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x' + b"11" * 20 + b'",' + b"9" * 5000 + b"]}",
]
NON_STANDARD_IDS = ["id-NaN", "id-Infinity", "id-minus-Infinity", "id-1e400", "id-5000-digit-int",
                    "param-5000-digit-int"]


@pytest.mark.parametrize("body", NON_STANDARD_NUMBERS, ids=NON_STANDARD_IDS)
def test_non_standard_json_numbers_get_an_error_not_a_500(ledger: Ledger, body: bytes) -> None:
    doc = rpc_doc(ledger.node, body)  # asserts HTTP 200 and a strict-JSON body
    error = doc.get("error") if isinstance(doc, dict) else None
    assert isinstance(error, dict) and error.get("code") in (PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS), doc
    ledger.assert_intact()


# -- wrong parameter types, per method ---------------------------------------------------------

A = SOME_ADDRESS
TOPIC = SOME_HASH
BAD_PARAMS: list[tuple[str, list[Any], str]] = [
    # eth_getBalance: the address, then the block tag
    ("eth_getBalance", ["0x1234", "latest"], "address-too-short"),
    ("eth_getBalance", ["0x" + "11" * 21, "latest"], "address-too-long"),
    ("eth_getBalance", ["0x" + "1" * 39, "latest"], "address-odd-hex"),
    ("eth_getBalance", ["0x" + "zz" * 20, "latest"], "address-non-hex"),
    ("eth_getBalance", ["11" * 20, "latest"], "address-no-0x"),
    ("eth_getBalance", [int("11" * 20, 16), "latest"], "address-number"),
    ("eth_getBalance", [None, "latest"], "address-null"),
    ("eth_getBalance", [True, "latest"], "address-bool"),
    ("eth_getBalance", [[A], "latest"], "address-list"),
    ("eth_getBalance", [A, "0x" + "f" * 65], "block-quantity-over-256-bits"),
    ("eth_getBalance", [A, MAX_QUANTITY + 1], "block-json-number-over-256-bits"),
    ("eth_getBalance", [A, -1], "block-negative"),
    ("eth_getBalance", [A, "-0x1"], "block-negative-hex"),
    ("eth_getBalance", [A, "0x-1"], "block-0x-negative"),
    ("eth_getBalance", [A, True], "block-bool"),
    ("eth_getBalance", [A, 1.5], "block-float"),
    ("eth_getBalance", [A, "0xzz"], "block-non-hex"),
    ("eth_getBalance", [A, "0x"], "block-empty-hex"),
    ("eth_getBalance", [A, "12"], "block-decimal-string"),
    ("eth_getBalance", [A, "0x_1"], "block-underscore"),
    ("eth_getBalance", [A, "0x1 "], "block-trailing-space"),
    ("eth_getBalance", [A, "latestt"], "block-unknown-tag"),
    ("eth_getBalance", [A, []], "block-list"),
    ("eth_getBalance", [A, {}], "block-empty-object"),
    ("eth_getBalance", [A, {"blockHash": "0x1234"}], "block-short-hash"),
    ("eth_getBalance", [A, {"blockNumber": True}], "block-object-bool"),
    # eth_getBlockByNumber
    ("eth_getBlockByNumber", ["0xzz", False], "number-non-hex"),
    ("eth_getBlockByNumber", [True, False], "number-bool"),
    ("eth_getBlockByNumber", [-1, False], "number-negative"),
    ("eth_getBlockByNumber", ["0x" + "f" * 65, False], "number-over-256-bits"),
    ("eth_getBlockByNumber", [[], False], "number-list"),
    ("eth_getBlockByNumber", ["latest", "yes"], "full-string"),
    ("eth_getBlockByNumber", ["latest", 1], "full-number"),
    ("eth_getBlockByNumber", ["latest", None], "full-null"),
    # eth_call
    ("eth_call", ["not an object"], "spec-string"),
    ("eth_call", [[{"to": A}]], "spec-list"),
    ("eth_call", [{"to": "0x1234"}], "to-too-short"),
    ("eth_call", [{"to": 42}], "to-number"),
    ("eth_call", [{"to": A, "from": "0x" + "1" * 39}], "from-odd-hex"),
    ("eth_call", [{"to": A, "data": "0x123"}], "data-odd-hex"),
    ("eth_call", [{"to": A, "data": "0xzz"}], "data-non-hex"),
    ("eth_call", [{"to": A, "input": 5}], "input-number"),
    ("eth_call", [{"to": A, "value": -1}], "value-negative"),
    ("eth_call", [{"to": A, "value": "0x" + "f" * 65}], "value-over-256-bits"),
    ("eth_call", [{"to": A, "gas": True}], "gas-bool"),
    ("eth_call", [{"to": A, "gas": "0xzz"}], "gas-non-hex"),
    ("eth_call", [{"to": A}, "0xzz"], "block-non-hex"),
    ("eth_call", [{"to": A}, False], "block-bool"),
    # eth_getLogs: topics and the rest of the filter
    ("eth_getLogs", ["not an object"], "filter-string"),
    ("eth_getLogs", [{"topics": TOPIC}], "topics-not-a-list"),
    ("eth_getLogs", [{"topics": ["0x12"]}], "topic-too-short"),
    ("eth_getLogs", [{"topics": ["0x" + "ab" * 33]}], "topic-too-long"),
    ("eth_getLogs", [{"topics": ["0x" + "zz" * 32]}], "topic-non-hex"),
    ("eth_getLogs", [{"topics": ["0x" + "a" * 63]}], "topic-odd-hex"),
    ("eth_getLogs", [{"topics": [5]}], "topic-number"),
    ("eth_getLogs", [{"topics": [True]}], "topic-bool"),
    ("eth_getLogs", [{"topics": [[TOPIC, "0x12"]]}], "topic-alternative-too-short"),
    ("eth_getLogs", [{"topics": [[[TOPIC]]]}], "topic-nested-list"),
    ("eth_getLogs", [{"topics": [TOPIC] * (MAX_TOPIC_POSITIONS + 1)}], "too-many-topic-positions"),
    ("eth_getLogs", [{"address": "0x1234"}], "address-too-short"),
    ("eth_getLogs", [{"address": [A] * (MAX_ADDRESSES + 1)}], "too-many-addresses"),
    ("eth_getLogs", [{"fromBlock": "0xzz"}], "fromBlock-non-hex"),
    ("eth_getLogs", [{"toBlock": True}], "toBlock-bool"),
    ("eth_getLogs", [{"fromBlock": -1}], "fromBlock-negative"),
    ("eth_getLogs", [{"blockHash": "0x12"}], "blockHash-too-short"),
    ("eth_getLogs", [{"blockHash": TOPIC, "fromBlock": "0x0"}], "blockHash-with-range"),
    # eth_getProof
    ("eth_getProof", ["0x1234", []], "address-too-short"),
    ("eth_getProof", [A, "0x00"], "keys-not-a-list"),
    ("eth_getProof", [A, ["0xzz"]], "key-non-hex"),
    ("eth_getProof", [A, ["0x" + "g" * 64]], "key-32-bytes-non-hex"),
    ("eth_getProof", [A, ["0x" + "1" * 65]], "key-over-256-bits"),
    ("eth_getProof", [A, [-1]], "key-negative"),
    ("eth_getProof", [A, [True]], "key-bool"),
    ("eth_getProof", [A, ["0x0"] * (MAX_PROOF_KEYS + 1)], "too-many-keys"),
    ("eth_getProof", [A, [], "0xzz"], "block-non-hex"),
    ("eth_getProof", [A, [], True], "block-bool"),
    # eth_getStorageAt
    ("eth_getStorageAt", ["0x1234", "0x0"], "address-too-short"),
    ("eth_getStorageAt", [A, "0xzz"], "slot-non-hex"),
    ("eth_getStorageAt", [A, "0x" + "g" * 64], "slot-32-bytes-non-hex"),
    ("eth_getStorageAt", [A, -1], "slot-negative"),
    ("eth_getStorageAt", [A, MAX_QUANTITY + 1], "slot-json-number-over-256-bits"),
    ("eth_getStorageAt", [A, "0x" + "1" * 65], "slot-over-256-bits"),
    ("eth_getStorageAt", [A, True], "slot-bool"),
    ("eth_getStorageAt", [A, None], "slot-null"),
    ("eth_getStorageAt", [A, "0x0", "0xzz"], "block-non-hex"),
    # a few more
    ("eth_getTransactionByHash", ["0x12"], "hash-too-short"),
    ("eth_getTransactionReceipt", [42], "hash-number"),
    ("eth_getBlockByHash", ["0x" + "zz" * 32, False], "hash-non-hex"),
    ("eth_getTransactionByBlockNumberAndIndex", ["latest", -1], "index-negative"),
    ("web3_sha3", ["0x123"], "data-odd-hex"),
    ("eth_sendRawTransaction", [42], "raw-number"),
    ("eth_sendRawTransaction", ["deadbeef"], "raw-no-0x"),
    ("eth_sendRawTransaction", ["0x123"], "raw-odd-hex"),
    ("eth_sendRawTransaction", ["0xzz"], "raw-non-hex"),
    ("eth_sendRawTransaction", [["0x00"]], "raw-list"),
]


@pytest.mark.parametrize("method,params", [(m, p) for m, p, _ in BAD_PARAMS],
                         ids=[f"{m}-{label}" for m, _, label in BAD_PARAMS])
def test_wrong_param_types(ledger: Ledger, method: str, params: list[Any]) -> None:
    error = assert_error(call(ledger.node, method, *params), INVALID_PARAMS, req_id=1)
    assert len(error["message"]) < 1_000, "the error must not echo unbounded input"
    ledger.assert_intact()


def test_well_formed_but_absent_blocks_and_objects(ledger: Ledger) -> None:
    """Valid syntax naming things that do not exist: a null result or -32000, never -32603."""
    beyond = "0x" + "f" * 64
    assert_error(call(ledger.node, "eth_getBalance", A, beyond), SERVER_ERROR, "not found", req_id=1)
    assert_error(call(ledger.node, "eth_getBalance", A, {"blockHash": SOME_HASH}), SERVER_ERROR, "hash", req_id=1)
    assert_error(call(ledger.node, "eth_getProof", A, [], beyond), SERVER_ERROR, "not found", req_id=1)
    assert_error(call(ledger.node, "eth_getLogs", {"blockHash": SOME_HASH}), SERVER_ERROR, req_id=1)
    assert_error(call(ledger.node, "eth_getFilterChanges", "0xdeadbeef"), SERVER_ERROR, "filter not found", req_id=1)
    assert result(ledger.node, "eth_getBlockByNumber", beyond, False) is None
    assert result(ledger.node, "eth_getBlockByHash", SOME_HASH, False) is None
    assert result(ledger.node, "eth_getTransactionByHash", SOME_HASH) is None
    assert result(ledger.node, "eth_getTransactionReceipt", SOME_HASH) is None
    assert result(ledger.node, "eth_uninstallFilter", "0xdeadbeef") is False
    ledger.assert_intact()


@pytest.mark.parametrize("method,reason", [
    ("eth_call", ("intrinsic gas too low",)),
    ("eth_estimateGas", ("intrinsic gas too low", "gas required exceeds allowance")),
], ids=["eth_call", "eth_estimateGas"])
@pytest.mark.parametrize("gas", ["0x0", "0x1", hex(20_999)], ids=["gas-0", "gas-1", "gas-20999"])
def test_call_with_gas_below_intrinsic(ledger: Ledger, method: str, reason: tuple[str, ...], gas: str) -> None:
    doc = call(ledger.node, method, {"from": ledger.node.dev_address, "to": RECIPIENT, "gas": gas})
    assert_error(doc, SERVER_ERROR, reason, req_id=1)
    ledger.assert_intact()


def test_call_with_value_above_balance(ledger: Ledger) -> None:
    spec = {"from": ledger.node.dev_address, "to": RECIPIENT, "value": hex(ledger.balance + 1)}
    assert_error(call(ledger.node, "eth_call", spec), SERVER_ERROR, "insufficient funds", req_id=1)
    assert_error(call(ledger.node, "eth_estimateGas", spec), SERVER_ERROR, "insufficient funds", req_id=1)
    ledger.assert_intact()


# -- oversized bodies ------------------------------------------------------------------------------

def _assert_too_large(status: int, text: str) -> None:
    assert status == 413, f"HTTP {status}: {text[:300]}"
    assert_error(strict_json(text), INVALID_REQUEST, "too large", req_id=None)


def test_oversized_body_declared_by_content_length(ledger: Ledger) -> None:
    """Only the headers are sent: the node must refuse on the declared length alone."""
    host, port = "127.0.0.1", ledger.node.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall((f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n").encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without a response: {received!r}"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed mid-response"
            body += chunk
    status = int(head.split(b" ", 2)[1])
    _assert_too_large(status, body.decode())
    ledger.assert_intact()


def test_oversized_body_streamed_without_content_length(ledger: Ledger) -> None:
    """A chunked body has no declared length: the node must stop reading past the limit."""
    def chunks() -> Iterator[bytes]:
        piece = b" " * 65536
        for _ in range(MAX_BODY_BYTES // len(piece) + 2):
            yield piece
    response = post_raw(ledger.node, chunks())
    _assert_too_large(response.status_code, response.text)
    ledger.assert_intact()


def test_body_of_exactly_the_limit_is_served(ledger: Ledger) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    doc = rpc_doc(ledger.node, body)
    assert int(doc["result"], 16) >= ledger.height
    ledger.assert_intact()


# -- eth_sendRawTransaction with bad transactions ------------------------------------------------------

def _legacy_fields(raw: bytes) -> list[bytes]:
    fields = rlp.decode(raw)
    assert len(fields) == 9  # nonce, gasPrice, gas, to, value, data, v, r, s
    return list(fields)


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _other_recovery_id(v: bytes) -> bytes:
    """EIP-155 v is chain_id * 2 + 35 + y_parity: the same chain id with the other parity."""
    value = int.from_bytes(v, "big")
    return _int_bytes(value + 1 if (value - 35) % 2 == 0 else value - 1)


def flipped_v(ledger: Ledger) -> bytes:
    """Same r, s with the other recovery id: recovers to some other, unfunded account."""
    fields = _legacy_fields(ledger.sign())
    fields[6] = _other_recovery_id(fields[6])
    return rlp.encode(fields)


def high_s(ledger: Ledger) -> bytes:
    """The malleable twin signature (n - s, other v): refused since EIP-2 (Homestead)."""
    fields = _legacy_fields(ledger.sign())
    fields[6] = _other_recovery_id(fields[6])
    fields[8] = _int_bytes(SECP256K1_N - int.from_bytes(fields[8], "big"))
    return rlp.encode(fields)


def corrupted_r(ledger: Ledger) -> bytes:
    fields = _legacy_fields(ledger.sign())
    r = bytearray(fields[7])
    r[5] ^= 0xFF
    fields[7] = bytes(r)
    return rlp.encode(fields)


def zero_r(ledger: Ledger) -> bytes:
    fields = _legacy_fields(ledger.sign())
    fields[7] = b""
    return rlp.encode(fields)


def s_over_n(ledger: Ledger) -> bytes:
    fields = _legacy_fields(ledger.sign())
    fields[8] = b"\xff" * 32
    return rlp.encode(fields)


def tampered_value(ledger: Ledger) -> bytes:
    """The signed value changed after signing: the signature no longer covers the payload."""
    fields = _legacy_fields(ledger.sign(value=1))
    fields[4] = _int_bytes(10**30)
    return rlp.encode(fields)


def huge_field(index: int) -> Callable[[Ledger], bytes]:
    def build(ledger: Ledger) -> bytes:
        fields = _legacy_fields(ledger.sign())
        fields[index] = _int_bytes(2**300)
        return rlp.encode(fields)
    return build


DECODE_ERRORS = ("rlp", "decod", "too short", "empty", "typed transaction")
UNKNOWN_TYPE = ("transaction type not supported", "unknown transaction type")
# A signature that no longer matches: recovery fails, or it recovers some unfunded account.
BAD_SIGNATURE = ("invalid sender", "invalid transaction", "insufficient funds", "not authorized")
MALFORMED_SIGNATURE = ("invalid sender", "invalid transaction")


@dataclass(frozen=True)
class TxCase:
    build: Callable[[Ledger], bytes]
    reason: tuple[str, ...] | None
    unknown_afterwards: bool = True  # the hash must not be known to the node after the refusal


TX_CASES: dict[str, TxCase] = {
    "garbage-bytes": TxCase(lambda s: b"\xde\xad\xbe\xef", DECODE_ERRORS),
    "empty": TxCase(lambda s: b"", DECODE_ERRORS),
    "single-zero-byte": TxCase(lambda s: b"\x00", DECODE_ERRORS + ("type",)),
    "truncated-valid-tx": TxCase(lambda s: s.sign()[:-5], DECODE_ERRORS),
    "valid-tx-plus-trailing-bytes": TxCase(lambda s: s.sign() + b"\x00\x00", DECODE_ERRORS),
    "rlp-list-of-wrong-length": TxCase(lambda s: rlp.encode([b"a", b"b", b"c"]), DECODE_ERRORS),
    "rlp-empty-list": TxCase(lambda s: rlp.encode([]), DECODE_ERRORS),
    "rlp-string-not-list": TxCase(lambda s: rlp.encode(b"hello world"), DECODE_ERRORS),
    "rlp-nested-lists": TxCase(lambda s: rlp.encode([[[[]]]] * 9), DECODE_ERRORS),
    "typed-0x02-wrong-shape": TxCase(lambda s: b"\x02" + rlp.encode([1, 2, 3]), DECODE_ERRORS),
    "typed-0x02-prefix-only": TxCase(lambda s: b"\x02", DECODE_ERRORS),
    "unknown-type-0x7f": TxCase(lambda s: b"\x7f" + s.sign(), UNKNOWN_TYPE),
    "unknown-type-0x05": TxCase(lambda s: b"\x05" + rlp.encode([1]), UNKNOWN_TYPE),
    "wrong-chain-id": TxCase(lambda s: s.sign(chainId=1), ("invalid chain id",)),
    "wrong-chain-id-typed": TxCase(lambda s: s.sign(chainId=s.node.chain_id + 1, type=2, gasPrice=None, maxFeePerGas=0,
                                                    maxPriorityFeePerGas=0), ("invalid chain id",)),
    "pre-eip155-legacy": TxCase(lambda s: s.sign(chainId=None), ("only replay-protected",)),
    "signature-other-recovery-id": TxCase(flipped_v, BAD_SIGNATURE),
    "signature-high-s": TxCase(high_s, MALFORMED_SIGNATURE),
    "signature-corrupted-r": TxCase(corrupted_r, BAD_SIGNATURE),
    "signature-zero-r": TxCase(zero_r, MALFORMED_SIGNATURE),
    "signature-s-over-curve-order": TxCase(s_over_n, MALFORMED_SIGNATURE),
    "payload-tampered-after-signing": TxCase(tampered_value, BAD_SIGNATURE),
    "nonce-above-uint64": TxCase(huge_field(0), None),
    "gas-above-uint256": TxCase(huge_field(2), None),
    "value-above-uint256": TxCase(huge_field(4), None),
    "nonce-too-low": TxCase(lambda s: s.sign(nonce=s.nonce - 1, value=2), ("nonce too low",)),
    "nonce-too-far-ahead": TxCase(lambda s: s.sign(nonce=s.nonce + MAX_NONCE_GAP), ("nonce too high",)),
    "replay-of-committed-tx": TxCase(lambda s: s.committed_raw, ("already known", "nonce too low"),
                                     unknown_afterwards=False),
    "gas-above-block-gas-limit": TxCase(lambda s: s.sign(gas=s.gas_limit + 1), ("exceeds block gas limit",)),
    "gas-below-intrinsic": TxCase(lambda s: s.sign(gas=20_999), ("intrinsic gas too low",)),
    "gas-below-intrinsic-with-calldata": TxCase(lambda s: s.sign(gas=21_000, data=b"\x01" * 100),
                                                ("intrinsic gas too low",)),
    "over-max-tx-bytes": TxCase(lambda s: s.sign(gas=30_000_000, data=b"\x01" * MAX_TX_BYTES), ("oversized",)),
    "value-above-balance": TxCase(lambda s: s.sign(value=s.balance + 1), ("insufficient funds",)),
    "priority-fee-above-max-fee": TxCase(
        lambda s: s.sign(type=2, gasPrice=None, maxFeePerGas=1, maxPriorityFeePerGas=2),
        ("max priority fee per gas higher than max fee per gas",)),
}


@pytest.mark.parametrize("case", list(TX_CASES.values()), ids=list(TX_CASES))
def test_bad_raw_transaction(ledger: Ledger, case: TxCase) -> None:
    raw = case.build(ledger)
    assert_error(call(ledger.node, "eth_sendRawTransaction", "0x" + raw.hex()), SERVER_ERROR, case.reason, req_id=1)
    if case.unknown_afterwards and raw:
        assert result(ledger.node, "eth_getTransactionByHash", "0x" + keccak(raw).hex()) is None
    ledger.assert_intact()


def test_duplicate_of_a_pending_transaction(ledger: Ledger) -> None:
    """Both submissions arrive in one batch, so the first is certainly still pending."""
    raw = "0x" + ledger.sign(value=3).hex()
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]} for i in (1, 2)]
    first, second = sorted(rpc_doc(ledger.node, json.dumps(batch).encode()), key=lambda d: d["id"])
    assert "error" not in first, first
    assert_error(second, SERVER_ERROR, "already known", req_id=2)
    ledger.mined(first["result"])
    # ...and once it is committed, sending it again is refused without a trace either.
    assert_error(call(ledger.node, "eth_sendRawTransaction", raw), SERVER_ERROR, ("already known", "nonce too low"))
    ledger.assert_intact()


# -- WebSocket ------------------------------------------------------------------------------------

async def _ws_exchange(ws: Any, message: str | bytes) -> Any:
    await ws.send(message)
    return strict_json(await asyncio.wait_for(ws.recv(), WS_TIMEOUT))


def test_websocket_bad_input_keeps_the_connection_usable(ledger: Ledger) -> None:
    async def scenario() -> None:
        async with websockets.connect(ledger.node.ws_url, open_timeout=WS_TIMEOUT, max_size=None) as ws:
            for text in ["garbage", "{", '{"jsonrpc":"2.0","id":1,', "\x00\x01", "}{"]:
                assert_error(await _ws_exchange(ws, text), PARSE_ERROR, req_id=None)
            assert_error(await _ws_exchange(ws, b"\xff\xfe{not utf-8"), PARSE_ERROR, req_id=None)
            for text in ["42", "null", '"x"']:
                assert_error(await _ws_exchange(ws, text), INVALID_REQUEST, req_id=None)
            assert_error(await _ws_exchange(ws, "[]"), INVALID_REQUEST, "empty", req_id=None)

            def sub(req_id: int, method: str, params: Any) -> str:
                return json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})

            assert_error(await _ws_exchange(ws, sub(10, "eth_subscribe", ["bogus"])), INVALID_PARAMS, req_id=10)
            assert_error(await _ws_exchange(ws, sub(11, "eth_subscribe", [])), INVALID_PARAMS, req_id=11)
            assert_error(await _ws_exchange(ws, sub(12, "eth_subscribe", [42])), INVALID_PARAMS, req_id=12)
            assert_error(await _ws_exchange(ws, sub(13, "eth_subscribe", "newHeads")), INVALID_PARAMS, req_id=13)
            assert_error(await _ws_exchange(ws, sub(14, "eth_subscribe", ["logs", 5])), INVALID_PARAMS, req_id=14)
            assert_error(await _ws_exchange(ws, sub(15, "eth_subscribe", ["logs", {"topics": ["0x12"]}])),
                         INVALID_PARAMS, req_id=15)
            assert_error(await _ws_exchange(ws, sub(16, "eth_subscribe", ["logs", {"address": "0x1234"}])),
                         INVALID_PARAMS, req_id=16)
            # Unsubscribing an id this socket never had: geth answers -32000 "subscription not
            # found", other clients `false`; either way nothing is unsubscribed.
            for req_id, params in [(20, ["0xdeadbeef"]), (21, ["0x" + "00" * 16]), (22, []), (23, [[1]]), (24, [None])]:
                doc = await _ws_exchange(ws, sub(req_id, "eth_unsubscribe", params))
                assert doc.get("id") == req_id, doc
                if "error" in doc:
                    assert doc["error"]["code"] in (SERVER_ERROR, INVALID_PARAMS), doc
                else:
                    assert doc["result"] is False, doc
            assert_error(await _ws_exchange(ws, sub(30, "eth_nope", [])), METHOD_NOT_FOUND, req_id=30)
            assert_error(await _ws_exchange(ws, sub(31, "eth_getBalance", ["0x1234"])), INVALID_PARAMS, req_id=31)
            assert_error(await _ws_exchange(ws, sub(32, "eth_sendRawTransaction", ["0xdeadbeef"])),
                         SERVER_ERROR, ("rlp", "decod"), req_id=32)
            assert_error(await _ws_exchange(ws, " " * (MAX_BODY_BYTES + 1)), INVALID_REQUEST, "too large")

            # The same socket still works for calls and for a real subscription.
            doc = await _ws_exchange(ws, sub(40, "eth_blockNumber", []))
            assert int(doc["result"], 16) >= ledger.height
            doc = await _ws_exchange(ws, sub(41, "eth_getBalance", [ledger.node.dev_address, "latest"]))
            assert int(doc["result"], 16) == ledger.balance
            sub_id = (await _ws_exchange(ws, sub(42, "eth_subscribe", ["newHeads"])))["result"]
            assert isinstance(sub_id, str) and sub_id.startswith("0x")
            assert (await _ws_exchange(ws, sub(43, "eth_unsubscribe", [sub_id])))["result"] is True
            assert (await _ws_exchange(ws, sub(44, "eth_unsubscribe", [sub_id])))["result"] is not True

    asyncio.run(scenario())
    ledger.assert_intact()


@pytest.mark.parametrize("text", [b.decode() for b in NON_STANDARD_NUMBERS], ids=NON_STANDARD_IDS)
def test_websocket_non_standard_json_numbers(ledger: Ledger, text: str) -> None:
    """An error in valid JSON on the same socket; the socket is not dropped."""
    async def scenario() -> None:
        async with websockets.connect(ledger.node.ws_url, open_timeout=WS_TIMEOUT) as ws:
            doc = await _ws_exchange(ws, text)
            error = doc.get("error") if isinstance(doc, dict) else None
            assert isinstance(error, dict) and error.get("code") in (PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS), doc
            doc = await _ws_exchange(ws, json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"}))
            assert int(doc["result"], 16) >= ledger.height

    asyncio.run(scenario())
    ledger.assert_intact()


# -- inputs that may take a node down: each on a throwaway node of its own --------------------------

class ScratchNode:
    """A dev node of its own for inputs that may kill one; replaced when a test killed it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.runs = 0
        self.node: NodeProcess | None = None

    def live(self) -> NodeProcess:
        if self.node is not None and self.node.proc is not None and self.node.proc.poll() is None:
            return self.node
        if self.node is not None:
            self.node.stop()
        self.runs += 1
        self.node = NodeProcess(self.base / f"data{self.runs}", free_port()).start()
        return self.node

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchNode]:
    holder = ScratchNode(tmp_path_factory.mktemp("scratch"))
    try:
        yield holder
    finally:
        holder.stop()


@pytest.fixture
def scratch_node(scratch: ScratchNode) -> NodeProcess:
    return scratch.live()


def _exit_code(node: NodeProcess) -> int | None:
    """The node's exit code, allowing a dying process a moment to finish dying."""
    if node.proc is None:
        return None
    try:
        return node.proc.wait(2)
    except subprocess.TimeoutExpired:
        return None


def _assert_scratch_alive(node: NodeProcess, what: str) -> None:
    code = node.proc.poll() if node.proc else None
    assert code is None, f"node process died on {what} (exit code {code}); log tail: {node.log_text()[-1500:]}"
    assert int(result(node, "eth_blockNumber"), 16) >= 0


DEPTH = 100_000
DEEP_BODIES = {
    "unclosed-arrays": b"[" * DEPTH,
    "closed-arrays": b"[" * DEPTH + b"]" * DEPTH,
    "objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "deep-params": b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":' + b"[" * DEPTH + b"]" * DEPTH + b"}",
}


@pytest.mark.parametrize("body", list(DEEP_BODIES.values()), ids=list(DEEP_BODIES))
def test_deeply_nested_json_over_http(scratch_node: NodeProcess, body: bytes) -> None:
    try:
        doc = rpc_doc(scratch_node, body)
    except httpx.TransportError as exc:
        pytest.fail(f"no HTTP response to {len(body)} bytes of nested JSON ({exc!r}); node exit code "
                    f"{_exit_code(scratch_node)} (-11: SIGSEGV); log: {scratch_node.log_text()[-1500:]}")
    error = doc.get("error") if isinstance(doc, dict) else None
    assert isinstance(error, dict) and error.get("code") in (PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS), doc
    _assert_scratch_alive(scratch_node, "deeply nested JSON over HTTP")


def test_deeply_nested_json_over_websocket(scratch_node: NodeProcess) -> None:
    async def scenario() -> Any:
        async with websockets.connect(scratch_node.ws_url, open_timeout=WS_TIMEOUT) as ws:
            return await _ws_exchange(ws, "[" * DEPTH)

    try:
        doc = asyncio.run(scenario())
    except (TimeoutError, websockets.exceptions.ConnectionClosed, OSError) as exc:
        pytest.fail(f"no WebSocket answer to {DEPTH} nested '[' ({exc!r}); node exit code "
                    f"{_exit_code(scratch_node)} (-11: SIGSEGV); log: {scratch_node.log_text()[-1500:]}")
    assert_error(doc, PARSE_ERROR, req_id=None)
    _assert_scratch_alive(scratch_node, "deeply nested JSON over WebSocket")


# -- and after all of that ---------------------------------------------------------------------------

def test_valid_transaction_still_mined_after_all_bad_input(ledger: Ledger) -> None:
    """A new valid transaction is admitted, mined and announced to a WebSocket subscriber."""
    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with websockets.connect(ledger.node.ws_url, open_timeout=WS_TIMEOUT) as ws:
            request = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            sub_id = (await _ws_exchange(ws, json.dumps(request)))["result"]
            raw = ledger.sign(value=12345)
            tx_hash = result(ledger.node, "eth_sendRawTransaction", "0x" + raw.hex())
            assert tx_hash == "0x" + keccak(raw).hex()
            receipt = await asyncio.to_thread(ledger.mined, tx_hash)
            heads: list[dict[str, Any]] = []
            deadline = time.monotonic() + WS_TIMEOUT
            while not any(h["number"] == receipt["blockNumber"] for h in heads):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no newHeads notification for block {receipt['blockNumber']}: {heads}"
                message = strict_json(await asyncio.wait_for(ws.recv(), remaining))
                assert message["method"] == "eth_subscription" and message["params"]["subscription"] == sub_id
                heads.append(message["params"]["result"])
            return receipt, heads

    receipt, heads = asyncio.run(scenario())
    head = next(h for h in heads if h["number"] == receipt["blockNumber"])
    assert head["hash"] == receipt["blockHash"]
    assert int(receipt["blockNumber"], 16) > ledger.committed_block
    ledger.assert_intact()
    assert result(ledger.node, "eth_getTransactionByHash", receipt["transactionHash"])["value"] == hex(12345)
