"""eth_getLogs and log filters served from pre-encoded logs (node/rpc/logcache.py) give,
byte for byte, the responses of the path they replace: decode each block's receipts,
build a LogRecord per log, match, `to_json` each, json-encode the response.

The chain is real (LevelDB in a temporary directory, blocks built and committed by
Chain): logger contracts emit LOG0..LOG4 with topics drawn from a small pool, so that
filters by address, by topic, by position and by null positions all match some logs and
miss others; blocks with logs, with only transfers (bloom 0) and with nothing sit side
by side.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import rlp
from eth._utils.address import generate_contract_address
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.cancun.receipts import CancunTypedReceipt
from eth_account import Account
from eth_hash.auto import keccak
from eth_typing import Address
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings, strategies as st

from node.access.http import Principal
from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import TRANSACTION_BUILDER, LedgerBlock
from node.rpc import jsonrpc, methods
from node.rpc.context import RpcContext
from node.rpc.filters import FilterRegistry, LogCriteria
from node.rpc.format import LogRecord, block_logs
from node.rpc.logcache import (
    LOG_CACHE,
    BlockLogCache,
    EncodedLog,
    TransactionLogs,
    encode_block_logs,
    logs_of_objects,
    logs_of_stored_block,
    stored_block_logs,
)
from node.rpc.rawjson import EncodedJSON
from node.storage.store import LevelStore

VALIDATOR = ValidatorKey(b"\x01" * 32)
SENDER = Account.from_key(b"\x02" * 32)
SENDER_ADDRESS = bytes.fromhex(SENDER.address[2:])
SINK = "0x" + "11" * 20
ADMIN = Principal("ADMIN", "test", anonymous=True)
CHAIN_ID = 1337
# Topics the logger contracts are given: few, so that topic filters hit some logs.
# Zero and leading-zero topics, which an RLP integer would shorten (py-evm stores 32 bytes).
TOPIC_POOL = [bytes([i]) * 32 for i in range(1, 4)] + [b"\x00" * 32, b"\x00" * 31 + b"\x05"]
ABSENT_TOPIC = b"\xee" * 32
ABSENT_ADDRESS = b"\xee" * 20
RECEIPTS = LedgerBlock.get_receipt_builder()


def logger_initcode(topic_count: int) -> bytes:
    """A contract that emits LOG<topic_count> once per call: its topics are the call
    data's first words, its data the rest."""
    offset = 32 * topic_count
    runtime = bytes([0x36, 0x60, 0x00, 0x60, 0x00, 0x37])  # CALLDATACOPY(0, 0, CALLDATASIZE)
    for i in reversed(range(topic_count)):
        runtime += bytes([0x60, 32 * i, 0x51])  # MLOAD(32 i): topic i, last pushed = topic 0
    runtime += bytes([0x60, offset, 0x36, 0x03])  # CALLDATASIZE - 32 k: the data's size
    runtime += bytes([0x60, offset, 0xA0 + topic_count, 0x00])  # LOGk(32 k, size, topics...); STOP
    prefix = bytes([0x60, len(runtime), 0x80, 0x60, 0x0B, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3])
    return prefix + runtime


class LedgerBuilder:
    """A real chain in `path` and the sender's nonce, with helpers to add blocks."""

    def __init__(self, path: Path) -> None:
        self.store = LevelStore(path)
        genesis = Genesis.parse(build_genesis_document(
            chain_id=CHAIN_ID, validators=[VALIDATOR.address], alloc={SENDER_ADDRESS: 10**21},
            members=[(SENDER_ADDRESS, "ADMIN")]))
        self.chain = Chain.initialise(self.store, genesis)
        self.nonce = 0
        self.loggers: list[bytes] = []

    def _sign(self, fields: dict[str, Any]) -> Any:
        """A signed transaction of the next nonce: legacy, access-list and dynamic-fee in
        turn, so that receipts of every encoding are stored."""
        choices: list[dict[str, Any]] = [{"gasPrice": 0}, {"gasPrice": 0, "accessList": []},
                                         {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0}]
        fees = choices[self.nonce % 3]
        signed = SENDER.sign_transaction({"nonce": self.nonce, "chainId": CHAIN_ID, "value": 0, **fees, **fields})
        self.nonce += 1
        return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))

    def emit(self, logger: int, topics: list[bytes], data: bytes) -> Any:
        address = self.loggers[logger]
        return self._sign({"gas": 200_000, "to": to_checksum_address(address), "data": b"".join(topics) + data})

    def transfer(self) -> Any:
        return self._sign({"gas": 21_000, "to": SINK, "value": 1, "data": b""})

    def commit(self, txs: list[Any]) -> None:
        chain = self.chain
        built = chain.build_block(txs, timestamp=chain.head.timestamp + 1, coinbase=VALIDATOR.address,
                                  extra=proposal_extra(chain.validators_after(chain.head), 0))
        assert not built.rejected, built.rejected
        chain.commit(with_seals(built.header, [VALIDATOR.commit_seal(built.header)]), built,
                     [SENDER_ADDRESS] * len(built.transactions))

    def random_emits(self, rng: random.Random, count: int) -> list[Any]:
        txs = []
        for _ in range(count):
            logger = rng.randrange(len(self.loggers))
            topics = [rng.choice(TOPIC_POOL) for _ in range(logger % 5)]
            txs.append(self.emit(logger, topics, rng.randbytes(rng.choice([0, 1, 32, 70]))))
            if rng.random() < 0.2:
                txs.append(self.transfer())
        return txs

    def populate(self, seed: int) -> None:
        """Block 1 deploys ten loggers (two per topic count); then blocks of many logs,
        an empty block, a block of transfers only, and more logs."""
        first = self.nonce
        self.commit([self._sign({"gas": 200_000, "data": logger_initcode(i % 5)}) for i in range(10)])
        self.loggers = [generate_contract_address(Address(SENDER_ADDRESS), first + i) for i in range(10)]
        rng = random.Random(seed)
        self.commit(self.random_emits(rng, 40))
        self.commit([])
        self.commit([self.transfer(), self.transfer()])
        self.commit(self.random_emits(rng, 25))
        self.commit(self.random_emits(rng, 3))

    def close(self) -> None:
        self.store.close()


def context(chain: Chain) -> RpcContext:
    """A handler's context over `chain` (the node's store is the chain's, as in Node)."""
    counter = SimpleNamespace(labels=lambda *_: SimpleNamespace(inc=lambda: None))
    node = SimpleNamespace(chain=chain, store=chain._store,
                           metrics=SimpleNamespace(rpc_requests=counter, rpc_errors=counter))
    return RpcContext(node=cast(Any, node), filters=FilterRegistry())


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerBuilder]:
    builder = LedgerBuilder(tmp_path_factory.mktemp("logs") / "chain")
    builder.populate(seed=22)
    yield builder
    builder.close()


# -- the path the cache replaces, kept here as the reference --------------------------

def old_collect_logs(chain: Chain, criteria: LogCriteria, start: int, end: int) -> list[LogRecord]:
    """methods.collect_logs before pre-encoding (its limits are checked by the tests below)."""
    found: list[LogRecord] = []
    for height in range(start, end + 1):
        header = chain.header_by_number(height)
        if header.bloom == 0 or not criteria.may_match_bloom(header.bloom):
            continue
        txs, _ = chain.block_transactions(header)
        found.extend(log for log in block_logs(header, txs, chain.block_receipts(header)) if criteria.matches(log))
    return found


def old_response(req_id: Any, logs: list[LogRecord]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": req_id, "result": [log.to_json() for log in logs]},
                      separators=(",", ":"), allow_nan=False).encode()


def new_response(ctx: RpcContext, call: dict[str, Any]) -> bytes:
    answer = jsonrpc.answer_document(ctx, call, ADMIN)
    assert answer is not None
    return answer


def get_logs_call(spec: dict[str, Any], req_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "method": "eth_getLogs", "params": [spec]}


# -- criteria, drawn --------------------------------------------------------------------

def topic_position(pool: list[bytes]) -> st.SearchStrategy[Any]:
    hexes = [("0x" + t.hex()) for t in pool + [ABSENT_TOPIC]]
    return st.one_of(st.none(), st.sampled_from(hexes), st.lists(st.sampled_from(hexes), max_size=3))


@st.composite
def filter_specs(draw: st.DrawFn, loggers: list[bytes], head: int) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    addresses = [to_checksum_address(a) for a in loggers + [ABSENT_ADDRESS]]
    choice = draw(st.sampled_from(["none", "one", "list"]))
    if choice == "one":
        spec["address"] = draw(st.sampled_from(addresses))
    elif choice == "list":
        spec["address"] = draw(st.lists(st.sampled_from(addresses), max_size=4))
    if draw(st.booleans()):
        spec["topics"] = draw(st.lists(topic_position(TOPIC_POOL), max_size=4))
    block_tag = st.one_of(st.integers(0, head + 1).map(hex), st.sampled_from(["earliest", "latest"]), st.none())
    spec["fromBlock"] = draw(block_tag)
    spec["toBlock"] = draw(block_tag)
    return {k: v for k, v in spec.items() if v is not None}


def reference_range(chain: Chain, spec: dict[str, Any]) -> tuple[int, int]:
    head = chain.head.block_number

    def number(tag: Any, default: int) -> int:
        if tag is None:
            return default
        return {"latest": head, "earliest": 0}[tag] if tag in ("latest", "earliest") else int(tag, 16)

    return number(spec.get("fromBlock"), head), min(number(spec.get("toBlock"), head), head)


# -- the tests ----------------------------------------------------------------------------

def test_the_chain_has_the_shapes_the_tests_need(ledger: LedgerBuilder) -> None:
    chain = ledger.chain
    per_block = []
    for height in range(chain.head.block_number + 1):
        header = chain.header_by_number(height)
        txs, _ = chain.block_transactions(header)
        per_block.append((len(txs), len(block_logs(header, txs, chain.block_receipts(header))), header.bloom != 0))
    assert per_block[3] == (0, 0, False)  # empty
    assert per_block[4] == (2, 0, False)  # transfers only
    assert per_block[2][1] >= 40 and per_block[5][1] >= 25
    topic_counts = {len(log.topics) for log in old_collect_logs(chain, LogCriteria.parse({}), 0, 6)}
    assert topic_counts == {0, 1, 2, 3, 4}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), cold=st.booleans(), recent=st.sampled_from([0, 3, methods.DECODED_BLOCK_CACHE]))
def test_get_logs_answers_equal_the_old_path_byte_for_byte(ledger: LedgerBuilder, data: st.DataObject,
                                                           cold: bool, recent: int) -> None:
    """`recent`: how many blocks below the head are read through the chain's decoded
    blocks rather than with plain RLP (0: every block with plain RLP)."""
    chain = ledger.chain
    spec = data.draw(filter_specs(ledger.loggers, chain.head.block_number))
    if cold:
        LOG_CACHE.clear()
    start, end = reference_range(chain, spec)
    expected = old_response(7, old_collect_logs(chain, LogCriteria.parse(spec), start, end))
    saved, methods.DECODED_BLOCK_CACHE = methods.DECODED_BLOCK_CACHE, recent
    try:
        assert new_response(context(chain), get_logs_call(spec, req_id=7)) == expected
    finally:
        methods.DECODED_BLOCK_CACHE = saved


@pytest.mark.parametrize("height", [1, 2, 3, 4, 5, 6])
def test_block_hash_queries_equal_the_old_path(ledger: LedgerBuilder, height: int) -> None:
    chain = ledger.chain
    header = chain.header_by_number(height)
    for spec in ({}, {"address": to_checksum_address(ledger.loggers[3])}, {"topics": [None, "0x" + TOPIC_POOL[0].hex()]}):
        expected = old_response("q", old_collect_logs(chain, LogCriteria.parse(spec), height, height))
        call = get_logs_call({**spec, "blockHash": "0x" + header.hash.hex()}, req_id="q")
        assert new_response(context(chain), call) == expected


def test_a_batch_splices_each_answer(ledger: LedgerBuilder) -> None:
    chain = ledger.chain
    specs: list[dict[str, Any]] = [{}, {"address": to_checksum_address(ledger.loggers[4])}, {"fromBlock": "0x3", "toBlock": "0x4"}]
    batch = [get_logs_call(spec, req_id=i) for i, spec in enumerate(specs)]
    batch.append({"jsonrpc": "2.0", "id": "n", "method": "eth_blockNumber", "params": []})
    parts = [old_response(i, old_collect_logs(chain, LogCriteria.parse(s), *reference_range(chain, s)))
             for i, s in enumerate(specs)]
    parts.append(json.dumps({"jsonrpc": "2.0", "id": "n", "result": hex(chain.head.block_number)},
                            separators=(",", ":")).encode())
    assert jsonrpc.answer_document(context(chain), batch, ADMIN) == b"[" + b",".join(parts) + b"]"


def test_the_result_and_range_limits_still_apply(ledger: LedgerBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = ledger.chain
    total = len(old_collect_logs(chain, LogCriteria.parse({}), 0, chain.head.block_number))
    monkeypatch.setattr(methods, "MAX_LOG_RESULTS", total)
    assert len(json.loads(new_response(context(chain), get_logs_call({"fromBlock": "0x0"})))["result"]) == total
    monkeypatch.setattr(methods, "MAX_LOG_RESULTS", total - 1)
    error = json.loads(new_response(context(chain), get_logs_call({"fromBlock": "0x0"})))["error"]
    assert error["code"] == jsonrpc.INVALID_PARAMS and f"more than {total - 1} results" in error["message"]
    monkeypatch.setattr(methods, "MAX_LOG_BLOCK_RANGE", 2)
    error = json.loads(new_response(context(chain), get_logs_call({"fromBlock": "0x1", "toBlock": "0x3"})))["error"]
    assert error["code"] == jsonrpc.INVALID_PARAMS and "exceeds the limit of 2 blocks" in error["message"]


def test_the_response_size_cap_applies_to_spliced_answers(ledger: LedgerBuilder,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonrpc, "MAX_RESPONSE_BYTES", 1_000)
    error = json.loads(new_response(context(ledger.chain), get_logs_call({"fromBlock": "0x0"})))["error"]
    assert error["code"] == jsonrpc.LIMIT_EXCEEDED and error["data"]["limit"] == "MAX_RESPONSE_BYTES"


def test_a_new_block_is_served_and_nothing_stale(tmp_path: Path) -> None:
    """Queries by 'latest' before and after a block arrives, with the cache warm, and log
    filters polled across it: each answer equals the old path's over the chain as it is."""
    builder = LedgerBuilder(tmp_path / "chain")
    try:
        builder.populate(seed=5)
        chain, ctx = builder.chain, context(builder.chain)
        everything = {"fromBlock": "earliest", "toBlock": "latest"}
        by_topic = {"topics": [None, "0x" + TOPIC_POOL[1].hex()]}
        filter_ids = {}
        for name, spec in (("all", {}), ("topic", by_topic)):
            call = {"jsonrpc": "2.0", "id": 1, "method": "eth_newFilter", "params": [{**spec, "fromBlock": "0x1"}]}
            filter_ids[name] = json.loads(new_response(ctx, call))["result"]
        polled: dict[str, list[Any]] = {name: [] for name in filter_ids}

        def poll() -> None:
            for name, filter_id in filter_ids.items():
                call = {"jsonrpc": "2.0", "id": 2, "method": "eth_getFilterChanges", "params": [filter_id]}
                polled[name].extend(json.loads(new_response(ctx, call))["result"])

        def check() -> None:
            head = chain.head.block_number
            for spec in (everything, by_topic, {"fromBlock": "latest"}):
                start, end = reference_range(chain, spec)
                expected = old_response(1, old_collect_logs(chain, LogCriteria.parse(spec), start, end))
                assert new_response(ctx, get_logs_call(spec)) == expected
            for name, spec in (("all", {}), ("topic", by_topic)):
                expected_logs = old_collect_logs(chain, LogCriteria.parse(spec), 1, head)
                assert polled[name] == [log.to_json() for log in expected_logs]
                call = {"jsonrpc": "2.0", "id": 3, "method": "eth_getFilterLogs", "params": [filter_ids[name]]}
                assert new_response(ctx, call) == old_response(3, expected_logs)

        poll()
        check()
        before = json.loads(new_response(ctx, get_logs_call({"fromBlock": "latest"})))["result"]
        rng = random.Random(9)
        builder.commit(builder.random_emits(rng, 12))
        poll()
        check()
        after = json.loads(new_response(ctx, get_logs_call({"fromBlock": "latest"})))["result"]
        assert after and after != before and {log["blockNumber"] for log in after} == {hex(chain.head.block_number)}
        builder.commit([])
        poll()
        check()
    finally:
        builder.close()


def test_two_chains_in_one_process_never_see_each_others_logs(ledger: LedgerBuilder, tmp_path: Path) -> None:
    """The process-wide cache is keyed by block hash: another chain's block at the same
    height (here with other logs) is never served from it."""
    other = LedgerBuilder(tmp_path / "other")
    try:
        other.populate(seed=99)
        for builder in (ledger, other, ledger):
            chain = builder.chain
            expected = old_response(1, old_collect_logs(chain, LogCriteria.parse({}), 0, chain.head.block_number))
            assert new_response(context(chain), get_logs_call({"fromBlock": "0x0"})) == expected
    finally:
        other.close()


def test_the_cache_is_bounded_and_evicts_least_recently_used(ledger: LedgerBuilder) -> None:
    chain = ledger.chain
    headers = [chain.header_by_number(h) for h in (2, 5, 6)]

    def load(block_hash: bytes) -> list[TransactionLogs]:
        loads.append(chain.header_by_hash(block_hash).block_number)
        return stored_block_logs(ledger.store, block_hash)

    def logs(cache: BlockLogCache, header: Any) -> tuple[EncodedLog, ...]:
        return cache.logs(header.block_number, header.hash, lambda: load(header.hash))

    loads: list[int] = []
    probe = BlockLogCache(max_bytes=10**9)
    costs = []
    for header in headers:
        before = probe.size_bytes
        logs(probe, header)
        costs.append(probe.size_bytes - before)
    cache = BlockLogCache(max_bytes=costs[0] + costs[2])  # room for blocks 2 and 6, not 5 as well
    loads.clear()
    logs(cache, headers[0])
    logs(cache, headers[2])
    logs(cache, headers[0])  # a hit: block 2 is now the most recently used
    assert loads == [2, 6]
    logs(cache, headers[1])  # block 5 evicts block 6 (least recent), maybe more
    assert cache.size_bytes <= cache.max_bytes
    logs(cache, headers[2])
    assert loads[:3] == [2, 6, 5] and loads[3] == 6
    tiny = BlockLogCache(max_bytes=costs[0] - 1)  # block 2 alone is over the bound
    first = logs(tiny, headers[0])
    assert tiny.size_bytes == 0 and logs(tiny, headers[0]) == first


@settings(max_examples=200, deadline=None)
@given(
    logs=st.lists(st.lists(st.tuples(st.sampled_from([b"\x01" * 20, b"\xab\xcd" * 10, bytes(range(20))]),
                                     st.lists(st.integers(0, 2**256 - 1), max_size=4),
                                     st.binary(max_size=80)),
                           max_size=5), max_size=6),
    number=st.integers(0, 2**63 - 1),
)
def test_encoded_logs_equal_to_json_for_any_log(logs: list[list[tuple[bytes, list[int], bytes]]], number: int) -> None:
    """The encoder against LogRecord.to_json over arbitrary addresses, topics, data and
    heights (py-evm's own Log and Receipt objects; the header and transactions only
    need their hashes and height)."""
    header = SimpleNamespace(block_number=number, hash=bytes([number % 256]) * 32)
    txs = [SimpleNamespace(hash=bytes([i]) * 32) for i in range(len(logs))]
    receipts = [Receipt(state_root=b"\x01", gas_used=21_000, logs=[Log(a, tuple(t), d) for a, t, d in tx_logs]) for tx_logs in logs]
    encoded = encode_block_logs(number, header.hash, logs_of_objects(cast(Any, txs), receipts))
    records = block_logs(cast(Any, header), cast(Any, txs), receipts)
    assert [e.json for e in encoded] == [json.dumps(r.to_json(), separators=(",", ":")).encode() for r in records]
    assert [(e.address, e.topics) for e in encoded] == [(r.address, r.topics) for r in records]


@pytest.mark.parametrize("req_id", [1, "a\udc80b", None, 2.5, "x" * 50])
def test_encode_splices_an_encoded_result_as_json_dumps_would(req_id: Any) -> None:
    value = [{"a": "0x1", "b": [1, 2, None], "c": False}, "z"]
    raw = EncodedJSON(json.dumps(value, separators=(",", ":")).encode())
    document = {"jsonrpc": "2.0", "id": req_id, "result": raw}
    assert jsonrpc.encode(document) == jsonrpc.encode({**document, "result": value})
    assert EncodedJSON.array([]).value() == []


def test_stored_logs_read_with_plain_rlp_equal_py_evms_decoding(ledger: LedgerBuilder) -> None:
    """Every block of the chain (legacy, access-list and dynamic-fee transactions and
    their receipts): hashes, addresses, padded topics and data as py-evm decodes them."""
    chain = ledger.chain
    types: set[int] = set()
    for height in range(chain.head.block_number + 1):
        header = chain.header_by_number(height)
        txs, _ = chain.block_transactions(header)
        types.update(tx.type_id or 0 for tx in txs)
        assert stored_block_logs(ledger.store, header.hash) == logs_of_objects(txs, chain.block_receipts(header))
    assert types == {0, 1, 2}


@settings(max_examples=200, deadline=None)
@given(
    receipts=st.lists(st.tuples(
        st.sampled_from([0, 1, 2, 3]),
        st.lists(st.tuples(st.binary(min_size=20, max_size=20),
                           st.lists(st.one_of(st.integers(0, 300), st.integers(0, 2**256 - 1)), max_size=4),
                           st.binary(max_size=80)), max_size=4)), max_size=5),
)
def test_plain_rlp_reading_equals_py_evm_for_any_receipt(receipts: list[tuple[int, list[Any]]]) -> None:
    """Receipts of every type with any topics (small ones stored shortened) and data."""
    objects = []
    for type_id, logs in receipts:
        receipt = Receipt(state_root=b"\x01", gas_used=21_000, logs=[Log(a, tuple(t), d) for a, t, d in logs])
        objects.append(receipt if type_id == 0 else CancunTypedReceipt(type_id, receipt))
    encoded_txs = [bytes([i]) * 40 for i in range(len(objects))]  # only hashed here
    body = rlp.encode([encoded_txs, []])
    stored = rlp.encode([r.encode() for r in objects])
    txs = [SimpleNamespace(hash=keccak(t)) for t in encoded_txs]
    decoded = [RECEIPTS.decode(r) for r in rlp.decode(stored)]  # as Chain reads them
    assert logs_of_stored_block(body, stored) == logs_of_objects(cast(Any, txs), decoded)
