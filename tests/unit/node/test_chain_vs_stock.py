"""Blocks built and committed by the chain (its code cache, trie-node cache and one-pass
block end) give the state roots, receipts and gas that stock py-evm computes for the same
transactions on the same parent (hypothesis over random Storage-like writes across several
blocks and contracts), through rejected-and-re-executed batches, proposals built and
dropped, and contracts created in one block and read in the next."""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import rlp
from eth.abc import ChainDatabaseAPI
from eth.consensus.context import ConsensusContext
from eth_account import Account
from eth_hash.auto import keccak
from eth_typing import Address
from eth_utils import to_checksum_address
from hypothesis import given, settings, strategies as st

from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.execution.chain import BuiltBlock, Chain, ExecutionDB
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import TRANSACTION_BUILDER, LedgerVM, create_child_header
from node.storage.store import LevelStore, StateOverlay
from tests.unit.node.test_code_cache import StockVM, assemble, push

CHAIN_ID = 1337
VALIDATOR = ValidatorKey(b"\x01" * 32)
SENDERS = [Account.from_key(bytes([0x20 + i]) * 32) for i in range(3)]
SENDER_INDEX = {bytes.fromhex(s.address[2:]): i for i, s in enumerate(SENDERS)}
ADDER_AT, SETTER_AT = b"\xad" * 20, b"\x5e" * 20
CALLDATALOAD, CALLDATASIZE, SLOAD, SSTORE = 0x35, 0x36, 0x54, 0x55
DUP1, DUP2, DUP3, SWAP1, ADD, GT, ISZERO, JUMP, JUMPI, JUMPDEST, STOP = (
    0x80, 0x81, 0x82, 0x90, 0x01, 0x11, 0x15, 0x56, 0x57, 0x5B, 0x00)


def pairs_program(*, add: bool) -> bytes:
    """For each (slot, value) word pair in calldata: SSTORE(slot, SLOAD(slot) + value)
    (`add`), or SSTORE(slot, value): the SLOADs make a stale read change the state root."""
    body: list[Any] = [DUP1, CALLDATALOAD]  # [i, slot]
    if add:
        body += [DUP1, SLOAD, DUP3, push(32), ADD, CALLDATALOAD, ADD]  # [i, slot, cur + value]
    else:
        body += [DUP2, push(32), ADD, CALLDATALOAD]  # [i, slot, value]
    return assemble(
        push(0), ("label", "loop"), JUMPDEST,
        DUP1, CALLDATASIZE, GT, ISZERO, ("to", "end"), JUMPI,
        *body, SWAP1, SSTORE,
        push(64), ADD, ("to", "loop"), JUMP,
        ("label", "end"), JUMPDEST, STOP,
    )


ADDER, SETTER = pairs_program(add=True), pairs_program(add=False)
# initcode: SSTORE(0, 7), then return ADDER as the runtime
INITCODE = assemble(push(7), push(0), SSTORE, push(len(ADDER), 2), DUP1, ("to", "end"), push(0), 0x39,
                    push(0), 0xF3, ("label", "end")) + ADDER


def genesis_document() -> dict[str, Any]:
    senders = [bytes.fromhex(s.address[2:]) for s in SENDERS]
    doc = build_genesis_document(chain_id=CHAIN_ID, validators=[VALIDATOR.address],
                                 alloc=dict.fromkeys(senders, 10 ** 21), members=[(s, "ADMIN") for s in senders],
                                 timestamp=1_800_000_000)
    for address, code in ((ADDER_AT, ADDER), (SETTER_AT, SETTER)):
        doc["alloc"][address.hex()] = {"balance": "0x0", "code": "0x" + code.hex(),
                                       "storage": {"0x01": "0x05", "0x03": "0x09"}}
    return doc


GENESIS = Genesis.parse(genesis_document())


@contextlib.contextmanager
def fresh_chain() -> Iterator[Chain]:
    with tempfile.TemporaryDirectory() as directory:
        store = LevelStore(Path(directory) / "chain")
        try:
            yield Chain.initialise(store, GENESIS)
        finally:
            store.close()


def sign(sender: int, nonce: int, to: bytes | None, data: bytes) -> Any:
    fields: dict[str, Any] = {"nonce": nonce, "gas": 1_000_000, "gasPrice": 0, "value": 0, "data": data,
                              "chainId": CHAIN_ID}
    if to is not None:
        fields["to"] = to_checksum_address(to)
    return TRANSACTION_BUILDER.decode(bytes(SENDERS[sender].sign_transaction(fields).raw_transaction))


def stock_block(chain: Chain, parent: Any, built: BuiltBlock) -> tuple[bytes, int, list[bytes]]:
    """The same transactions on the same parent, executed by stock py-evm with no caches."""
    overlay = StateOverlay(chain._store)
    base = create_child_header(parent, coinbase=Address(VALIDATOR.address), timestamp=built.header.timestamp,
                               extra_data=built.header.extra_data)
    vm: LedgerVM = StockVM(base, cast(ChainDatabaseAPI, ExecutionDB(chain, overlay)), chain.chain_context,
                           ConsensusContext(overlay))
    vm.block_preprocessing(vm.get_block())
    header, receipts, _ = vm.apply_all_transactions(list(built.transactions), base)
    block = vm.set_block_transactions_and_withdrawals(vm.get_block(), header, list(built.transactions), receipts)
    final = vm.finalize_block(vm.pack_block(block)).block.header
    return final.state_root, final.gas_used, [r.encode() for r in receipts]


WRITE = st.tuples(st.sampled_from([ADDER_AT, SETTER_AT, "created"]), st.integers(0, 5),
                  st.one_of(st.just(0), st.integers(1, 3), st.just(2**256 - 1)))
TX = st.tuples(st.integers(0, len(SENDERS) - 1), st.lists(WRITE, min_size=0, max_size=4))
BLOCK = st.tuples(st.sampled_from(["commit", "commit", "drop", "bad nonce", "create"]),
                  st.lists(TX, max_size=5))


def run(chain: Chain, blocks: list[tuple[str, list[Any]]]) -> None:
    nonces = [0] * len(SENDERS)
    created: list[bytes] = []
    for fate, txs in blocks:
        signed, planned = [], list(nonces)
        for sender, writes in txs:
            targets: dict[bytes, bytes] = {}
            for target, slot, value in writes:
                if target == "created":
                    if not created:
                        continue
                    target = created[-1]
                targets[target] = targets.get(target, b"") + slot.to_bytes(32, "big") + value.to_bytes(32, "big")
            for to, data in targets.items():
                signed.append(sign(sender, planned[sender], to, data))
                planned[sender] += 1
        if fate == "bad nonce":  # rejected inside the batch: the chain executes it again
            signed.insert(len(signed) // 2, sign(0, planned[0] + 5, ADDER_AT, b""))
        if fate == "create":
            signed.append(sign(1, planned[1], None, INITCODE))
        parent = chain.head
        built = chain.build_block(signed, timestamp=parent.timestamp + 1, coinbase=VALIDATOR.address,
                                  extra=proposal_extra(chain.validators_after(parent), 0))
        if fate == "bad nonce":
            assert len(built.rejected) == 1
        assert (built.header.state_root, built.header.gas_used, [r.encode() for r in built.receipts]) == \
            stock_block(chain, parent, built)
        if fate == "drop":
            continue
        sealed = with_seals(built.header, [VALIDATOR.commit_seal(built.header)])
        chain.commit(sealed, built, [tx.sender for tx in built.transactions])
        for tx in built.transactions:
            nonces[SENDER_INDEX[tx.sender]] += 1
        if fate == "create":
            created.append(keccak(rlp.encode([bytes.fromhex(SENDERS[1].address[2:]), planned[1]]))[12:])
            assert chain.state_at(chain.head).get_storage(Address(created[-1]), 0) == 7


@settings(max_examples=25, deadline=None)
@given(blocks=st.lists(BLOCK, min_size=2, max_size=5))
def test_random_blocks_match_stock_py_evm(blocks: list[tuple[str, list[Any]]]) -> None:
    with fresh_chain() as chain:
        run(chain, blocks)


def test_created_contract_read_in_the_next_block_and_every_fate() -> None:
    adder_reads = [(0, [(ADDER_AT, 1, 1), (ADDER_AT, 3, 0)])]
    with fresh_chain() as chain:
        check_named_cases(chain, adder_reads)


def check_named_cases(chain: Chain, adder_reads: list[Any]) -> None:
    run(chain, [
        ("commit", adder_reads),
        ("create", adder_reads),
        ("commit", [(0, [("created", 0, 1), ("created", 2, 3)]), (2, [(SETTER_AT, 1, 0)])]),
        ("drop", [(1, [("created", 0, 5)])]),
        ("bad nonce", [(0, [("created", 0, 2)]), (1, [(ADDER_AT, 1, 2)])]),
        ("commit", [(2, [("created", 0, 1), (ADDER_AT, 3, 1)])]),
        ("commit", [(0, [("created", 0, 1), (ADDER_AT, 3, 1), (SETTER_AT, 3, 0)])]),
    ])
