"""Blocks from peers on a real LevelDB: the wire encoding, rebuild-and-compare, sealed import."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp

from evidence import qbft
from evidence.mpt import ordered_trie_root
from node.consensus.sealing import VANITY, with_seals
from node.errors import InvalidBlock
from node.execution.chain import Chain
from node.execution.permissions import Membership
from node.network import importer
from node.storage.store import LevelStore
from tests.unit.node.test_chain import RICH, transfer
from tests.unit.node.votechain import GENESIS_VALIDATORS, A, B, C, D, make_genesis

RICH_ADDRESS = bytes.fromhex(RICH.address[2:])


@pytest.fixture
def chains(tmp_path: Path) -> Iterator[tuple[Chain, Chain]]:
    """Two copies of one 4-validator chain: the proposer's and a follower's."""
    stores = [LevelStore(tmp_path / "a"), LevelStore(tmp_path / "b")]
    genesis = make_genesis()
    yield Chain.initialise(stores[0], genesis), Chain.initialise(stores[1], genesis)
    for s in stores:
        s.close()


def proposal(chain: Chain, txs: list, round_number: int = 0) -> importer.WireBlock:  # type: ignore[type-arg]
    parent = chain.head
    extra = qbft.ExtraData(VANITY, chain.validators_after(parent), None, round_number, ())
    built = chain.build_block(txs, timestamp=parent.timestamp + 1, coinbase=A.address, extra=extra)
    return importer.WireBlock(built.header, built.transactions)


def sealed_by(block: importer.WireBlock, keys: list) -> importer.WireBlock:  # type: ignore[type-arg]
    return importer.WireBlock(with_seals(block.header, [k.commit_seal(block.header) for k in keys]), block.transactions)


def test_wire_round_trip(chains: tuple[Chain, Chain]) -> None:
    proposer, _ = chains
    block = proposal(proposer, [transfer(RICH, 0), transfer(RICH, 1)])
    decoded = importer.decode_block(block.encode())
    assert decoded.header == block.header
    assert [t.hash for t in decoded.transactions] == [t.hash for t in block.transactions]


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xc0", rlp.encode([b"x", [], [], []]), b"\xff" * 40])
def test_malformed_blocks_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidBlock) as info:
        importer.decode_block(data)
    assert info.value.step == "encoding"


def test_oversized_block_is_refused_before_decoding() -> None:
    with pytest.raises(InvalidBlock, match="exceeds"):
        importer.decode_block(b"\x00" * (importer.MAX_BLOCK_BYTES + 1))


def test_follower_rebuilds_the_same_block(chains: tuple[Chain, Chain]) -> None:
    proposer, follower = chains
    block = proposal(proposer, [transfer(RICH, 0)])
    built = importer.execute(follower, block, follower.head)
    assert built.header == block.header


def test_re_stamped_round_keeps_the_block_hash(chains: tuple[Chain, Chain]) -> None:
    proposer, follower = chains
    block = proposal(proposer, [transfer(RICH, 0)])
    later = importer.with_round(block, 3)
    assert importer.round_of(later.header) == 3 and later.header.hash == block.header.hash
    assert qbft.commit_seal_digest(later.header.fields_rlp()) != qbft.commit_seal_digest(block.header.fields_rlp())
    importer.execute(follower, later, follower.head)  # still valid


@pytest.mark.parametrize("field, value, step", [
    ("state_root", b"\x01" * 32, "execution"),
    ("gas_used", 1, "execution"),
    ("receipt_root", b"\x02" * 32, "execution"),
    ("timestamp", 0, "header"),
    ("coinbase", b"\x09" * 20, "proposer"),
    ("parent_hash", b"\x03" * 32, "parent"),
])
def test_a_lying_header_is_caught(chains: tuple[Chain, Chain], field: str, value: object, step: str) -> None:
    proposer, follower = chains
    block = proposal(proposer, [transfer(RICH, 0)])
    forged = importer.WireBlock(block.header.copy(**{field: value}), block.transactions)
    with pytest.raises(InvalidBlock) as info:
        importer.execute(follower, forged, follower.head)
    assert info.value.step == step, info.value
    assert follower.head.block_number == 0  # nothing written


def test_an_invalid_transaction_fails_the_block(chains: tuple[Chain, Chain]) -> None:
    proposer, follower = chains
    block = proposal(proposer, [transfer(RICH, 0)])
    replayed = importer.WireBlock(block.header, (transfer(RICH, 5),))  # nonce gap
    with pytest.raises(InvalidBlock) as info:
        importer.execute(follower, replayed, follower.head)
    assert info.value.step in ("execution", "transactions root")


def test_import_sealed_needs_a_quorum(chains: tuple[Chain, Chain]) -> None:
    proposer, follower = chains
    block = proposal(proposer, [transfer(RICH, 0)])
    with pytest.raises(InvalidBlock) as info:
        importer.import_sealed(follower, sealed_by(block, [A, B]))  # 2 of 4: quorum is 3
    assert info.value.step == "commit seals"
    assert follower.head.block_number == 0
    header = importer.import_sealed(follower, sealed_by(block, [A, B, C]))
    assert follower.head.hash == header.hash == block.header.hash
    assert follower.state_at(follower.head).get_nonce(RICH_ADDRESS) == 1


def test_import_sealed_refuses_a_gap(chains: tuple[Chain, Chain]) -> None:
    proposer, follower = chains
    first = sealed_by(proposal(proposer, []), list(GENESIS_VALIDATORS))
    proposer.commit(first.header, proposer.build_block(
        [], timestamp=first.header.timestamp, coinbase=A.address,
        extra=qbft.ExtraData(VANITY, proposer.validators_after(proposer.head), None, 0, ())), [])
    second = sealed_by(proposal(proposer, []), [B, C, D])
    with pytest.raises(InvalidBlock) as info:
        importer.import_sealed(follower, second)
    assert info.value.step == "parent"


def test_a_swapped_body_is_refused_at_decoding(chains: tuple[Chain, Chain]) -> None:
    """Consensus compares header hashes only; a round change's prepared block is not under
    its author's signature, so a relaying peer could swap the transactions. The body must
    match the header's transaction root before anything else looks at it."""
    proposer, _ = chains
    block = proposal(proposer, [transfer(RICH, 0)])
    swapped = importer.WireBlock(block.header, (transfer(RICH, 1),)).encode()
    with pytest.raises(InvalidBlock) as info:
        importer.decode_block(swapped)
    assert info.value.step == "transactions root"


def test_a_transaction_with_an_unrecoverable_signature_fails_the_block(chains: tuple[Chain, Chain]) -> None:
    proposer, follower = chains
    follower.membership = Membership(follower.state_at)  # the block rule recovers every sender
    good = transfer(RICH, 0)
    broken = good.copy(r=5, s=12345)  # no curve point: recovery raises BadSignature, not a ValidationError
    block = proposal(proposer, [good])
    header = block.header.copy(transaction_root=ordered_trie_root([broken.encode()]))
    with pytest.raises(InvalidBlock) as info:
        importer.execute(follower, importer.WireBlock(header, (broken,)), follower.head)
    assert info.value.step == "execution"
    assert follower.head.block_number == 0


def test_blocks_are_packed_within_the_byte_cap() -> None:
    from node.consensus.backend import _within_bytes
    from node.execution.txpool import PoolEntry

    entries = [PoolEntry(None, b"", size, i, 0.0) for i, size in enumerate([400, 300, 200, 100])]  # type: ignore[arg-type]
    assert [e.seq for e in _within_bytes(entries, 700)] == [0, 1]
    assert [e.seq for e in _within_bytes(entries, 10_000)] == [0, 1, 2, 3]
    assert _within_bytes(entries, 100) == []


def test_execution_budget_learns_seconds_per_gas() -> None:
    from node.consensus.backend import FIRST_BLOCK_GAS, MIN_BLOCK_GAS, ExecutionBudget

    budget = ExecutionBudget(seconds=1.0)
    assert budget.max_gas() == FIRST_BLOCK_GAS
    budget.observe(100, 5.0)  # too small a block to say anything
    assert budget.max_gas() == FIRST_BLOCK_GAS
    budget.observe(10_000_000, 0.5)  # 2e7 gas per second
    assert budget.max_gas() == 20_000_000
    for _ in range(50):
        budget.observe(10_000_000, 100.0)  # a very slow machine: never below the floor
    assert budget.max_gas() == MIN_BLOCK_GAS
