"""eth_call and eth_estimateGas on states kept by CallStates (node/rpc/callstates.py) answer
exactly as on a fresh state per call: a probe contract that reads, then writes, every kind
of state a call can leave behind (storage, transient storage, the EIP-2929 warm set, its
balance, its nonce) is called again and again, across new blocks and at older ones."""
from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from eth.vm.spoof import SpoofTransaction
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings, strategies as st

from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.errors import ExecutionReverted, InvalidTransaction
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import TRANSACTION_BUILDER, LedgerVM
from node.rpc import app as app_module
from node.rpc.callstates import CallStates
from node.rpc.context import RpcContext
from node.rpc.filters import FilterRegistry
from node.rpc.simulate import eth_call, eth_estimate_gas
from node.service import Node, NodeConfig
from node.storage.store import LevelStore

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works fine here
    warnings.filterwarnings("ignore", message=".*httpx")
    from fastapi.testclient import TestClient

VALIDATOR = ValidatorKey(b"\x01" * 32)
RICH = Account.from_key(b"\x02" * 32)
RICH_ADDRESS = bytes.fromhex(RICH.address[2:])
RICH_BALANCE = 10**21
PROBE = "0x" + "0b" * 20
REVERTER = "0x" + "0e" * 20
CHAIN_ID = 1337

# Reads slot 0, transient slot 0, the gas of reading slot 1 (2,100 cold, 100 warm), its
# balance and the address CREATE gives (its nonce); then writes slot 0 and transient slot
# 0, and returns the five reads as words. A write that survived a call changes the next
# call's answer.
PROBE_CODE = bytes.fromhex(
    "5f54"        # SLOAD(0)
    "5f5c"        # TLOAD(0)
    "5a60015450"  # GAS, SLOAD(1), POP
    "5a9003"      # GAS, SWAP1, SUB: the gas SLOAD(1) took
    "47"          # SELFBALANCE
    "5f5f5ff0"    # CREATE(0, 0, 0): the address depends on this contract's nonce
    "60015f55"    # SSTORE(0, 1)
    "60015f5d"    # TSTORE(0, 1)
    "608052606052604052602052" "5f52"  # the five words to memory 0x00..0xa0
    "60a05ff3"    # RETURN(0, 0xa0)
)
# Writes slot 0, then reverts with Error("no").
REVERTER_CODE = bytes.fromhex(
    "60015f55"
    "7f08c379a0000000000000000000000000000000000000000000000000000000005f52"
    "602060045260026024527f6e6f000000000000000000000000000000000000000000000000000000000000604452"
    "60645ffd"
)
# Initcode that deploys its own address as code: an eth_call of it answers the address
# the sender's nonce gives.
ADDRESS_INITCODE = "0x305f5260205ff3"
# What a probe call answers on an untouched state at the genesis block: the cold SLOAD(1)
# (2,100, plus the PUSH1, POP and GAS around it) and the first CREATE address.
COLD_SLOAD_GAS = 2_100 + 3 + 2 + 2


@dataclass
class _ChainNode:
    """The part of Node that eth_call uses: its chain."""

    chain: Chain


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    document = build_genesis_document(chain_id=CHAIN_ID, validators=[VALIDATOR.address],
                                      alloc={RICH_ADDRESS: RICH_BALANCE}, members=[(RICH_ADDRESS, "ADMIN")])
    document["alloc"][PROBE[2:]] = {"balance": "0x0", "code": "0x" + PROBE_CODE.hex()}
    document["alloc"][REVERTER[2:]] = {"balance": "0x0", "code": "0x" + REVERTER_CODE.hex()}
    store = LevelStore(tmp_path / "chain")
    yield Chain.initialise(store, Genesis.parse(document))
    store.close()


def contexts(chain: Chain, **pool: Any) -> tuple[RpcContext, RpcContext, CallStates]:
    """A context whose calls share kept states, and one that builds a fresh state per call."""
    states = CallStates(chain.state_at, lambda: chain.head, **pool)
    node = cast(Node, _ChainNode(chain))
    fresh = RpcContext(node, FilterRegistry())
    return RpcContext(node, FilterRegistry(), call_states=states), fresh, states


def words(answer: str) -> list[int]:
    raw = bytes.fromhex(answer[2:])
    return [int.from_bytes(raw[i:i + 32], "big") for i in range(0, len(raw), 32)]


def probe(ctx: RpcContext, tag: Any = "latest", **call: Any) -> list[int]:
    return words(eth_call(ctx.for_caller("a", "a"), {"to": PROBE, **call}, tag))


def commit_block(chain: Chain, txs: list[Any]) -> None:
    built = chain.build_block(txs, timestamp=chain.head.timestamp + 1, coinbase=VALIDATOR.address,
                              extra=proposal_extra(chain.validators_after(chain.head), 0))
    sealed = with_seals(built.header, [VALIDATOR.commit_seal(built.header)])
    chain.commit(sealed, built, [RICH_ADDRESS] * len(txs))


def call_probe_tx(nonce: int, value: int = 0) -> Any:
    signed = RICH.sign_transaction({"nonce": nonce, "gas": 200_000, "gasPrice": 0, "to": to_checksum_address(PROBE),
                                    "value": value, "data": b"", "chainId": CHAIN_ID})
    return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))


def test_the_probe_would_see_a_leaked_write(chain: Chain) -> None:
    """Without the revert, a second call on the same state answers differently in every word:
    the probe is able to catch each kind of leak the tests below look for."""
    state = chain.state_at(chain.head)
    answers = []
    for nonce in range(2):
        unsigned = LedgerVM.create_unsigned_transaction(
            nonce=nonce, gas_price=0, gas=1_000_000, to=bytes.fromhex(PROBE[2:]), value=7, data=b"")
        computation = state.costless_execute_transaction(SpoofTransaction(unsigned, from_=RICH_ADDRESS))
        answers.append(words("0x" + computation.output.hex()))
    first, second = answers
    assert first[:4] == [0, 0, COLD_SLOAD_GAS, 7]
    # the transient write is cleared by py-evm at the end of every transaction
    assert [second[0], second[3]] == [1, 14] and second[4] != first[4]


def test_repeated_calls_on_a_kept_state_answer_as_a_fresh_state(chain: Chain) -> None:
    pooled, fresh, states = contexts(chain)
    expected = probe(fresh)
    assert expected[:4] == [0, 0, COLD_SLOAD_GAS, 0]
    for _ in range(5):
        assert probe(pooled) == expected
    assert states.built == 1 and states.idle() == 1  # the calls did share one state


def test_value_transfers_do_not_stay(chain: Chain) -> None:
    pooled, fresh, states = contexts(chain)
    everything = hex(RICH_BALANCE)
    expected = probe(fresh, **{"from": RICH.address, "value": everything})
    assert expected[3] == RICH_BALANCE
    for _ in range(3):  # a leaked transfer would leave RICH too poor to send it again
        assert probe(pooled, **{"from": RICH.address, "value": everything}) == expected
    assert states.built == 1


def test_the_sender_nonce_does_not_move(chain: Chain) -> None:
    pooled, fresh, states = contexts(chain)
    expected = eth_call(fresh.for_caller("a", "a"), {"from": RICH.address, "data": ADDRESS_INITCODE})
    for _ in range(3):
        assert eth_call(pooled.for_caller("a", "a"), {"from": RICH.address, "data": ADDRESS_INITCODE}) == expected
    assert states.built == 1


def test_a_new_block_is_seen_and_an_older_block_is_not_served_the_head_state(chain: Chain) -> None:
    pooled, fresh, states = contexts(chain)
    assert probe(pooled)[0] == 0
    commit_block(chain, [call_probe_tx(0, value=3)])  # slot 0 becomes 1, the probe holds 3
    after = probe(pooled)
    assert after == probe(fresh) and after[0] == 1 and after[3] == 3
    assert states.built == 2 and states.idle() == 1  # the genesis state was dropped
    # At the genesis block, after the head's state is warm in the pool: genesis's answer,
    # from a state of its own that is not kept.
    at_genesis = probe(pooled, "0x0")
    assert at_genesis == probe(fresh, "0x0") and at_genesis[0] == 0 and at_genesis[3] == 0
    assert states.built == 3 and states.idle() == 1
    assert probe(pooled) == after and states.built == 3


def test_estimates_on_a_kept_state_match_fresh_ones(chain: Chain) -> None:
    pooled, fresh, states = contexts(chain)
    spec = {"from": RICH.address, "to": PROBE, "value": "0x5"}
    expected = eth_estimate_gas(fresh.for_caller("a", "a"), spec)
    for _ in range(3):
        assert eth_estimate_gas(pooled.for_caller("a", "a"), spec) == expected
        assert probe(pooled) == probe(fresh)
    assert states.built == 1


def test_a_call_that_raises_drops_its_state(chain: Chain) -> None:
    pooled, fresh, states = contexts(chain)
    probe(pooled)
    with pytest.raises(InvalidTransaction):
        probe(pooled, **{"from": RICH.address, "value": hex(RICH_BALANCE + 1)})
    assert states.idle() == 0
    # a reverted call is an answer, not an exception of the lease: its state is kept
    with pytest.raises(ExecutionReverted, match="execution reverted: no"):
        eth_call(pooled.for_caller("a", "a"), {"to": REVERTER})
    assert states.idle() == 1
    assert probe(pooled) == probe(fresh)


def test_a_state_is_dropped_after_serving_its_gas(chain: Chain) -> None:
    pooled, fresh, states = contexts(chain, gas_per_state=150_000)
    for _ in range(6):  # ~75k gas a probe call: a state serves two
        assert probe(pooled) == probe(fresh)
    assert states.built == 3


def test_concurrent_leases_get_their_own_states(chain: Chain) -> None:
    states = CallStates(chain.state_at, lambda: chain.head, keep=2)
    held = threading.Barrier(4)  # the three leases and this thread
    seen: list[int] = []

    def lease() -> None:
        with states.lease(chain.head) as leased:
            seen.append(id(leased.state))
            held.wait(timeout=30)

    threads = [threading.Thread(target=lease) for _ in range(3)]
    for thread in threads:
        thread.start()
    held.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=30)
    assert len(set(seen)) == 3 and states.built == 3
    assert states.idle() == 2  # no more than `keep` come back


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["probe", "create", "revert", "poor"]), st.integers(0, 10**6)),
                min_size=1, max_size=8))
def test_any_sequence_of_calls_matches_fresh_states(chain: Chain, calls: list[tuple[str, int]]) -> None:
    pooled, fresh, _ = contexts(chain)

    def outcome(ctx: RpcContext, kind: str, value: int) -> Any:
        spec: dict[str, Any] = {"from": RICH.address, "value": hex(value)}
        if kind == "probe":
            spec["to"] = PROBE
        elif kind == "create":
            spec["data"] = ADDRESS_INITCODE
        elif kind == "revert":
            spec = {"to": REVERTER}
        else:
            spec = {"from": "0x" + "99" * 20, "to": PROBE, "value": hex(value + 1)}
        try:
            return eth_call(ctx.for_caller("a", "a"), spec)
        except (InvalidTransaction, ExecutionReverted) as exc:
            return type(exc).__name__

    for kind, value in calls:
        assert outcome(pooled, kind, value) == outcome(fresh, kind, value)


# -- the HTTP path: a small body parsed on the event loop answers as one parsed in a worker --


@pytest.fixture
def dev_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    document = build_genesis_document(chain_id=CHAIN_ID, validators=[VALIDATOR.address],
                                      alloc={RICH_ADDRESS: RICH_BALANCE}, members=[(RICH_ADDRESS, "ADMIN")])
    document["alloc"][PROBE[2:]] = {"balance": "0x0", "code": "0x" + PROBE_CODE.hex()}
    genesis = Genesis.parse(document)
    store = LevelStore(tmp_path / "chain")
    Chain.initialise(store, genesis)
    store.close()
    node = Node(NodeConfig(data_dir=tmp_path, dev=True, open_permissioning=True, precheck_worker=False), genesis, None)
    app = app_module.create_app(node)
    try:
        with TestClient(app, base_url="http://127.0.0.1:8545") as client:  # a host the Origin checks admit
            yield client, monkeypatch
    finally:
        for pool in app.state.rpc_pools:
            pool.shutdown(wait=True)
        node.store.close()


def test_small_bodies_parsed_inline_answer_as_parsed_in_a_worker(dev_app: Any) -> None:
    client, monkeypatch = dev_app
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": PROBE}, "latest"]}
    bodies = [
        b'{"jsonrpc":', b"[]", b"[" * 70 + b"]" * 70, b'{"jsonrpc": "2.0", "id": 1, "method": 5}',
        b'{"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []}',
        b'{"jsonrpc": "2.0", "method": "eth_chainId", "params": []}',  # a notification: 204
        json.dumps(call).encode(),
        json.dumps([call, {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber"}, {**call, "id": 4}]).encode(),
        json.dumps({**call, "params": [{"to": PROBE, "value": "0x1"}, "latest"]}).encode(),  # insufficient funds
    ]
    assert all(len(body) <= app_module.INLINE_PARSE_BYTES for body in bodies)

    def answers(inline_bytes: int) -> list[tuple[int, bytes]]:
        monkeypatch.setattr(app_module, "INLINE_PARSE_BYTES", inline_bytes)
        return [(r.status_code, r.content) for r in (client.post("/", content=body) for body in bodies)]

    inline = answers(app_module.INLINE_PARSE_BYTES)
    assert inline == answers(0)
    assert [status for status, _ in inline] == [200, 200, 200, 200, 200, 204, 200, 200, 200]
    assert b"parse error" in inline[0][1] and b"nested deeper" in inline[2][1]
    assert words(json.loads(inline[6][1])["result"])[:3] == [0, 0, COLD_SLOAD_GAS]
