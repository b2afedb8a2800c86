"""The code and jump-analysis cache (node/execution/codecache.py) gives py-evm's answers.

Consensus depends on JUMP/JUMPI accepting exactly the targets py-evm accepts, so:
`AnalysedCode` is checked against py-evm's `CodeStream` at every position of random code
(hypothesis) and of every system contract, with marks shared across streams and asked in
other orders; `CodeCache` for its content addressing, byte bound and threads; and whole
blocks (system contracts, CALL/DELEGATECALL/STATICCALL/EXTCODE* into shared code, jumps
into PUSH data, contract creation, random jumping programs) run on our VM with a cold, a
warm and a constantly evicting cache against a twin built on stock py-evm (its AccountDB
and CodeStream): outputs, gas, errors, logs, receipts and state roots must all agree.
"""
from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import rlp
from eth.abc import ChainDatabaseAPI
from eth.consensus.context import ConsensusContext
from eth.db.account import AccountDB
from eth.vm.code_stream import CodeStream
from eth.vm.forks.cancun.computation import CancunComputation
from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_typing import Address
from eth_utils import function_signature_to_4byte_selector as selector, to_checksum_address
from hypothesis import given, settings, strategies as st

from chaincode import ACTION_GRANT_ROLES, CONTRACT_REGISTRY, IDENTITY_REGISTRY, ROLE_BITS, SYSTEM_CONTRACTS
from node.consensus.sealing import ValidatorKey, proposal_extra
from node.execution import codecache
from node.execution.chain import Chain, ExecutionDB
from node.execution.codecache import CODE_CACHE, ENTRY_OVERHEAD_BYTES, AnalysedCode, CodeCache
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import (
    TRANSACTION_BUILDER,
    LedgerAccountDB,
    LedgerComputation,
    LedgerState,
    LedgerVM,
    create_child_header,
)
from node.storage.store import LevelStore, StateOverlay

PUSH1, PUSH32, JUMPDEST, JUMP, JUMPI = 0x60, 0x7F, 0x5B, 0x56, 0x57
CHAIN_ID = 1337
VALIDATOR = ValidatorKey(b"\x01" * 32)
SENDER = Account.from_key(b"\x02" * 32)
PARTY_A, PARTY_B = b"\x0a" * 20, b"\x0b" * 20


def positions_agree(code: bytes, marks: bytearray, order: list[int]) -> None:
    """A stream on shared `marks` answers every position in `order` as fresh py-evm does."""
    analysed, stock = AnalysedCode(code, marks), CodeStream(code)
    for position in order:
        assert analysed.is_valid_opcode(position) == stock.is_valid_opcode(position), (code.hex(), position)


# -- AnalysedCode against py-evm's CodeStream ------------------------------------------------

# Bytes that matter to the look-back: every PUSH width, JUMPDEST, PUSH0 and a few others.
CODE_BYTES = st.one_of(st.sampled_from([JUMPDEST, PUSH1, 0x61, 0x62, 0x70, 0x7E, PUSH32, 0x5F, 0x00, JUMP, JUMPI]),
                       st.integers(0, 255))


@settings(max_examples=400, deadline=None)
@given(code=st.lists(CODE_BYTES, max_size=160).map(bytes), data=st.data())
def test_every_position_matches_py_evm_in_any_order_with_shared_marks(code: bytes, data: st.DataObject) -> None:
    positions = list(range(-2, len(code) + 34))
    marks = bytearray(len(code))
    for _ in range(3):  # later streams start from what earlier ones learnt, in another order
        positions_agree(code, marks, data.draw(st.permutations(positions)))
    assert set(marks) <= {codecache.UNKNOWN, codecache.OPCODE, codecache.PUSH_DATA}


@pytest.mark.parametrize("name", sorted(SYSTEM_CONTRACTS))
def test_every_position_of_every_system_contract(name: str) -> None:
    genesis = Genesis.parse(build_genesis_document(chain_id=7, validators=[b"\x01" * 20], alloc={}, members=[]))
    code = genesis.alloc[SYSTEM_CONTRACTS[name]].code
    assert len(code) > 1000
    rng = random.Random(name)
    marks = bytearray(len(code))
    jumpdests = [p for p, byte in enumerate(code) if byte == JUMPDEST]
    positions_agree(code, marks, jumpdests)  # what JUMP asks first, as a contract runs
    everything = list(range(len(code) + 33))
    for _ in range(2):
        rng.shuffle(everything)
        positions_agree(code, marks, everything)
    assert codecache.UNKNOWN not in marks


def test_marks_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="3 jump marks for 2 bytes"):
        AnalysedCode(b"\x60\x5b", bytearray(3))


# -- CodeCache ------------------------------------------------------------------------------


def test_content_addressed_and_shared_by_identity() -> None:
    cache = CodeCache()
    code = bytes([PUSH1, JUMPDEST, JUMPDEST])
    copy = bytes(bytearray(code))
    kept = cache.remember(keccak(code), copy)
    assert kept is copy and cache.code(keccak(code)) is copy
    assert cache.remember(keccak(code), bytes(bytearray(code))) is copy  # the first object stays
    marks = cache.marks_for(code)
    assert marks is cache.marks_for(copy) and len(marks) == 3
    assert cache.size_bytes == 2 * 3 + ENTRY_OVERHEAD_BYTES


def test_code_that_does_not_hash_to_its_key_is_not_kept() -> None:
    cache = CodeCache()
    assert cache.remember(keccak(b"\x00"), b"\x01") == b"\x01"
    assert cache.code(keccak(b"\x00")) is None and len(cache) == 0
    assert cache.marks_for(b"\x01") is not cache.marks_for(b"\x01")  # not cached: fresh, unshared


def test_bounded_in_bytes_least_recently_used_first() -> None:
    codes = [bytes([i]) * 100 for i in range(5)]
    cache = CodeCache(max_bytes=3 * (200 + ENTRY_OVERHEAD_BYTES))
    for code in codes[:3]:
        cache.remember(keccak(code), code)
    assert cache.code(keccak(codes[0])) is not None  # 0 is now the most recent
    cache.remember(keccak(codes[3]), codes[3])
    assert [cache.code(keccak(c)) is not None for c in codes[:4]] == [True, False, True, True]
    assert cache.size_bytes == 3 * (200 + ENTRY_OVERHEAD_BYTES) and len(cache) == 3
    big = b"\x5b" * (cache.max_bytes // 2)
    assert cache.remember(keccak(big), big) is big and cache.code(keccak(big)) is None  # never fits


def test_threads_keep_both_maps_consistent() -> None:
    codes = [bytes([i, JUMPDEST]) * 50 for i in range(40)]
    cache = CodeCache(max_bytes=10 * (200 + ENTRY_OVERHEAD_BYTES))

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(2000):
            code = rng.choice(codes)
            kept = cache.remember(keccak(code), code)
            assert kept == code
            positions_agree(code, cache.marks_for(kept), [rng.randrange(len(code))])

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert len(cache) <= 10 and cache.size_bytes == len(cache) * (200 + ENTRY_OVERHEAD_BYTES)
    assert all(cache.code(keccak(code)) in (None, code) for code in codes)


# -- blocks on our VM against stock py-evm ----------------------------------------------------


def assemble(*items: Any) -> bytes:
    """Bytecode from opcodes (int), ("push", value, width), ("label", name) and
    ("to", name): a PUSH2 of the label's offset (two passes; every reference is 3 bytes)."""
    labels: dict[str, int] = {}
    for final in (False, True):
        out = bytearray()
        for item in items:
            if isinstance(item, int):
                out.append(item)
            elif item[0] == "push":
                out.append(PUSH1 + item[2] - 1)
                out += item[1].to_bytes(item[2], "big")
            elif item[0] == "label":
                labels[item[1]] = len(out)
            else:
                out += bytes([0x61]) + (labels[item[1]] if final else 0).to_bytes(2, "big")
    return bytes(out)


def push(value: int, width: int = 1) -> tuple[str, int, int]:
    return ("push", value, width)


CALLEE_AT, CALLER_AT, PROBE_AT = b"\xc0" * 20, b"\xc1" * 20, b"\xc2" * 20
RANDOM_BASE = 0xD0 << 152
# Fake JUMPDESTs inside PUSH32 data, then a loop counting CALLDATA[0] (default 12) down:
# calldata byte 0xff jumps into the push data (an invalid jump: the call fails).
FAKE_JUMPDESTS = int.from_bytes(bytes([JUMPDEST, 0x60, JUMPDEST] * 10 + [JUMPDEST, JUMPDEST]), "big")
CALLEE = assemble(
    push(FAKE_JUMPDESTS, 32), 0x50,                                        # PUSH32 ...; POP
    push(0), 0x35, push(248), 0x1C, 0x80, push(0xFF), 0x14, ("to", "bad"), JUMPI,
    0x80, 0x15, ("to", "default"), JUMPI, ("to", "loop"), JUMP,
    ("label", "default"), JUMPDEST, 0x50, push(12),
    ("label", "loop"), JUMPDEST, 0x80, 0x15, ("to", "done"), JUMPI,
    push(1), 0x90, 0x03, ("to", "loop"), JUMP,                             # n - 1
    ("label", "done"), JUMPDEST, 0x50, 0x30, 0x3B, push(0), 0x52, push(32), push(0), 0xF3,  # return EXTCODESIZE(self)
    ("label", "bad"), JUMPDEST, push(3),                                   # a jump into the PUSH32 data
    JUMP,
)
# The probe from the issue-22 study: with calldata it jumps to a JUMPDEST and returns 1,
# without it jumps to a 0x5b that is PUSH1 data.
PROBE = bytes.fromhex("36600a57600856605b005b60015f5260205ff3")


def call_into(address: bytes, *, opcode: int = 0xF1, data_byte: int | None = None) -> list[Any]:
    """CALL-family into `address` (one byte of calldata if given), 32 bytes of output at
    memory 0, success on the stack."""
    items: list[Any] = []
    if data_byte is not None:
        items += [push(data_byte), push(248), 0x1B, push(0), 0x52]   # MSTORE(0, byte << 248)
    items += [push(32), push(0), push(0 if data_byte is None else 1), push(0)]
    if opcode in (0xF1, 0xF2):  # CALL and CALLCODE take a value
        items.append(push(0))
    # 100k gas each, not all of it: a failing call (a jump into PUSH data) burns what it got
    return items + [push(int.from_bytes(address, "big"), 20), push(100_000, 3), opcode]


def caller_code() -> bytes:
    """Five CALLs into CALLEE (one jumping into push data), a DELEGATECALL, a STATICCALL,
    a CALL into PROBE with no data, EXTCODESIZE/HASH/COPY of CALLEE; every result stored."""
    items: list[Any] = []
    slot = 0

    def keep() -> None:
        nonlocal slot
        items.extend([push(slot), 0x55, push(0), 0x51, push(slot + 100), 0x55])  # success, output word
        slot += 1

    for data_byte in (None, 1, 5, 0xFF, 30):
        items.extend(call_into(CALLEE_AT, data_byte=data_byte))
        keep()
    items.extend(call_into(CALLEE_AT, opcode=0xF4, data_byte=3))
    keep()
    items.extend(call_into(CALLEE_AT, opcode=0xFA, data_byte=2))
    keep()
    items.extend(call_into(PROBE_AT))
    keep()
    callee = push(int.from_bytes(CALLEE_AT, "big"), 20)
    items.extend([callee, 0x3B, push(50), 0x55, callee, 0x3F, push(51), 0x55])
    items.extend([push(64), push(40), push(0), callee, 0x3C, push(0), 0x51, push(52), 0x55])
    items.extend([push(0), 0x54, push(32), push(0), 0xA1, 0x00])  # LOG1(slot 0) and stop
    return assemble(*items)


def random_program(rng: random.Random) -> bytes:
    """Code that jumps about: most targets are 0x5b bytes (JUMPDESTs or PUSH data), the
    rest anywhere (other opcodes, data, past the end)."""
    size = rng.randrange(40, 160)
    out = bytearray()
    targets = []  # offsets of the PUSH1 operands that hold jump targets
    while len(out) < size:
        kind = rng.randrange(6)
        if kind in (0, 1):
            out += bytes([0x36]) if kind == 1 else b""  # JUMPI taken when there is calldata
            targets.append(len(out) + 1)
            out += bytes([PUSH1, 0, JUMPI if kind == 1 else JUMP])
        elif kind == 2:
            width = rng.randrange(1, 33)
            out += bytes([PUSH1 + width - 1]) + bytes(rng.choice([JUMPDEST, JUMPDEST, PUSH1, PUSH32, rng.randrange(256)])
                                                      for _ in range(width)) + b"\x50"
        elif kind == 3:
            out += bytes([JUMPDEST, 0x58, 0x80, 0x54, 0x01, 0x58, 0x55])  # SSTORE(pc, sload(pc) + pc)
        else:
            out.append(JUMPDEST)
    fives = [p for p, byte in enumerate(out) if byte == JUMPDEST and p < 256]
    for at in targets:
        out[at] = rng.choice(fives) if fives and rng.random() < 0.8 else rng.randrange(min(256, len(out) + 8))
    return bytes(out)


RANDOM_PROGRAMS = [random_program(random.Random(seed)) for seed in range(30)]


def genesis_document() -> dict[str, Any]:
    sender = bytes.fromhex(SENDER.address[2:])
    doc = build_genesis_document(
        chain_id=CHAIN_ID, validators=[VALIDATOR.address], alloc={sender: 10**21},
        members=[(sender, "ADMIN"), (PARTY_A, "PARTY"), (PARTY_B, "PARTY")], timestamp=1_800_000_000)
    extra = {CALLEE_AT: CALLEE, CALLER_AT: caller_code(), PROBE_AT: PROBE}
    for index, program in enumerate(RANDOM_PROGRAMS):
        extra[(RANDOM_BASE + index).to_bytes(20, "big")] = program
    for address, code in extra.items():
        doc["alloc"][address.hex()] = {"balance": "0x0", "code": "0x" + code.hex()}
    return doc


def transactions() -> list[Any]:
    sender = bytes.fromhex(SENDER.address[2:])
    runtime = CALLEE
    # initcode: copy the runtime that follows it to memory and return it
    initcode = assemble(push(len(runtime), 2), 0x80, ("to", "end"), push(0), 0x39, push(0), 0xF3, ("label", "end"))
    initcode += runtime
    register = selector("register(string,bytes32,uint8,address[],uint256,bytes32)")
    grant = selector("propose(uint8,bytes32,uint256)")
    bits = ROLE_BITS["TRADING_CENTER"] | ROLE_BITS["REGULATOR"]
    calls: list[tuple[bytes | None, bytes, int]] = [
        (IDENTITY_REGISTRY, grant + encode(["uint8", "bytes32", "uint256"],
                                           [ACTION_GRANT_ROLES, sender.rjust(32, b"\x00"), bits]), 400_000),
    ]
    for project in ("P-1", "P-2", "P-1", ""):  # a duplicate and an empty code revert
        calls.append((CONTRACT_REGISTRY, register + encode(
            ["string", "bytes32", "uint8", "address[]", "uint256", "bytes32"],
            [project, keccak(project.encode()), 1, [PARTY_A, PARTY_B], 5, b"\x01" * 32]), 1_500_000))
    calls.append((IDENTITY_REGISTRY, selector("is_active(address)") + sender.rjust(32, b"\x00"), 100_000))
    calls += [(CALLER_AT, b"", 2_000_000), (PROBE_AT, b"\x01", 50_000), (PROBE_AT, b"", 50_000)]
    calls += [(CALLEE_AT, bytes([n]), 100_000) for n in (0, 7, 0xFF)]
    created = []
    for _ in range(2):  # the same runtime twice, each called in the same block
        created.append(keccak(rlp.encode([sender, len(calls)]))[12:])
        calls.append((None, initcode, 300_000))
    for index in range(len(RANDOM_PROGRAMS)):
        to = (RANDOM_BASE + index).to_bytes(20, "big")
        calls += [(to, b"", 150_000), (to, b"\x01", 150_000)]
    calls.append((CALLER_AT, b"", 2_000_000))  # again, everything warm
    calls += [(address, b"\x04", 100_000) for address in created]
    out = []
    for nonce, (target, data, gas) in enumerate(calls):
        fields: dict[str, Any] = {"nonce": nonce, "gas": gas, "gasPrice": 0, "value": 0, "data": data, "chainId": CHAIN_ID}
        if target is not None:
            fields["to"] = to_checksum_address(target)
        out.append(TRANSACTION_BUILDER.decode(bytes(SENDER.sign_transaction(fields).raw_transaction)))
    return out


class StockComputation(CancunComputation):
    """Our precompiles on py-evm's own computation: a fresh CodeStream per message."""

    _precompiles = LedgerComputation._precompiles


class StockState(LedgerState):
    account_db_class = AccountDB  # type: ignore[assignment]
    computation_class = StockComputation  # type: ignore[assignment]


class StockVM(LedgerVM):
    _state_class = StockState


TINY_CACHE = CodeCache(max_bytes=2 * len(CALLEE) + ENTRY_OVERHEAD_BYTES + 200)  # ~one contract: always evicting


class TinyAccountDB(LedgerAccountDB):
    code_cache = TINY_CACHE


class TinyComputation(LedgerComputation):
    code_cache = TINY_CACHE


class TinyState(LedgerState):
    account_db_class = TinyAccountDB
    computation_class = TinyComputation


class TinyVM(LedgerVM):
    _state_class = TinyState


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    store = LevelStore(Path(tmp_path_factory.mktemp("codecache")) / "chain")
    yield Chain.initialise(store, Genesis.parse(genesis_document()))
    store.close()


def run_block(chain: Chain, vm_class: type[LedgerVM], txs: list[Any]) -> dict[str, Any]:
    """Execute `txs` as block 1 with `vm_class` (nothing is committed); what consensus sees."""
    overlay = StateOverlay(chain._store)
    base = create_child_header(chain.head, coinbase=Address(VALIDATOR.address), timestamp=chain.head.timestamp + 1,
                               extra_data=proposal_extra(chain.validators_after(chain.head), 0).encode())
    vm = vm_class(base, cast(ChainDatabaseAPI, ExecutionDB(chain, overlay)), chain.chain_context, ConsensusContext(overlay))
    vm.block_preprocessing(vm.get_block())
    header, receipts, computations = vm.apply_all_transactions(txs, base)
    return {
        "state_root": header.state_root, "gas_used": header.gas_used, "bloom": header.bloom,
        "receipts": [r.encode() for r in receipts],
        "computations": [(c.is_error, repr(c.error) if c.is_error else None, c.output, c.get_gas_remaining(),
                          c.get_gas_refund(), c.get_log_entries()) for c in computations],
    }


def test_blocks_match_stock_py_evm_with_a_cold_warm_and_evicting_cache(chain: Chain) -> None:
    txs = transactions()
    stock = run_block(chain, StockVM, txs)
    errors = [c[1] for c in stock["computations"] if c[0]]
    # the workload does what it claims: successes, reverts and invalid jumps
    assert sum(not c[0] for c in stock["computations"]) >= 12
    assert any("Revert" in e for e in errors) and any("InvalidJumpDestination" in e for e in errors)
    assert any("Jump resulted in invalid instruction" in e for e in errors)  # a 0x5b in PUSH data
    assert stock["computations"][-1][2] == len(CALLEE).to_bytes(32, "big")  # the created contract ran
    CODE_CACHE.clear()
    cold = run_block(chain, LedgerVM, txs)
    warm = run_block(chain, LedgerVM, txs)
    evicting = run_block(chain, TinyVM, txs)
    for name, ours in (("cold", cold), ("warm", warm), ("evicting", evicting)):
        for key in stock:
            assert ours[key] == stock[key], (name, key)
    assert len(CODE_CACHE) >= 5 + len(RANDOM_PROGRAMS)
    # every mark the runs learnt is py-evm's answer
    for entry in list(CODE_CACHE._by_hash.values()):
        stock_stream = CodeStream(entry.code)
        for position, mark in enumerate(entry.marks):
            if mark != codecache.UNKNOWN:
                assert (mark == codecache.OPCODE) == stock_stream.is_valid_opcode(position)


def test_states_share_one_code_object(chain: Chain) -> None:
    first = chain.state_at(chain.head).get_code(Address(CALLEE_AT))
    assert first == CALLEE and chain.state_at(chain.head).get_code(Address(CALLEE_AT)) is first
    assert chain.state_at(chain.head).get_code(Address(b"\x99" * 20)) == b""
