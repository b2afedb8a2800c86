"""Blocks that come from elsewhere: the wire encoding, proposal checks and sealed-block import.

A block travels as Ethereum's block RLP, ``[header, [transactions], [], []]`` (the last two
are the ommers and withdrawals QBFT never has), in consensus proposals and in sync
responses. Whatever a peer claims about a block is checked by rebuilding it: the
transactions are executed on our own copy of the parent state and the resulting header
must equal the one received, field for field (state, receipts and transaction roots, gas,
bloom). Commit order is the chain's (node/execution/chain.py): validate, execute, save, update.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import rlp
from eth.abc import SignedTransactionAPI
from eth_utils import ValidationError

from evidence import qbft
from evidence.mpt import ordered_trie_root
from node.errors import InvalidBlock
from node.execution.chain import BuiltBlock, Chain
from node.execution.vm import LedgerBlock, LedgerVM, QBFTHeader

# A block's encoding is bounded in bytes, not only by gas: 150M gas of zero-byte calldata
# buys ~37 MB, more than a consensus message or sync frame may carry (node/network/peers.py
# MAX_FRAME, 16 MiB). Proposers pack at most this much (transactions plus a header margin)
# and a larger block is refused from anyone, so every block that can be decided can also
# be sent, re-proposed in a round change and synced.
MAX_BLOCK_BYTES = 4 * 1024 * 1024
BLOCK_OVERHEAD_BYTES = 64 * 1024  # header with 64 seals, list prefixes: well below this
# How far ahead of our clock a proposed block's timestamp may be (Besu allows a small
# drift for clock skew between validators' machines).
MAX_FUTURE_SECONDS = 2


@dataclass(frozen=True)
class WireBlock:
    header: QBFTHeader
    transactions: tuple[SignedTransactionAPI, ...]

    def encode(self) -> bytes:
        return encode_block(self.header, self.transactions)


def encode_block(header: QBFTHeader, transactions: Sequence[SignedTransactionAPI]) -> bytes:
    return rlp.encode(LedgerBlock(header=header, transactions=list(transactions), uncles=[], withdrawals=[]))


def decode_block(data: bytes, height: int = -1) -> WireBlock:
    """Parse a block from the wire; InvalidBlock if it is oversized or malformed."""
    if len(data) > MAX_BLOCK_BYTES:
        raise InvalidBlock(height, "encoding", f"block of {len(data)} bytes exceeds {MAX_BLOCK_BYTES}")
    try:
        block = rlp.decode(data, sedes=LedgerBlock, strict=True)
    except Exception as exc:  # rlp raises several families; all mean "not a block"
        raise InvalidBlock(height, "encoding", f"not a block: {exc}") from exc
    header = block.header
    if block.uncles or block.withdrawals:
        raise InvalidBlock(header.block_number, "encoding", "QBFT blocks carry no ommers or withdrawals")
    # The body must be the one the header commits to: consensus compares digests (header
    # hashes) only, so a block whose transaction list was swapped in transit (a round
    # change's prepared block is not covered by its signature) is caught here.
    if ordered_trie_root([tx.encode() for tx in block.transactions]) != header.transaction_root:
        raise InvalidBlock(header.block_number, "transactions root", "body does not match the header")
    return WireBlock(header, tuple(block.transactions))


def with_round(block: WireBlock, round_number: int) -> WireBlock:
    """The same block proposed again in a later round: only extraData's round changes."""
    extra = qbft.extra_data_of(block.header.fields_rlp())
    header = block.header.copy(extra_data=qbft.ExtraData(
        extra.vanity, extra.validators, extra.vote, round_number, ()).encode())
    return WireBlock(cast(QBFTHeader, header), block.transactions)


def round_of(header: QBFTHeader) -> int:
    return qbft.extra_data_of(header.fields_rlp()).round


def execute(chain: Chain, block: WireBlock, parent: QBFTHeader) -> BuiltBlock:
    """Rebuild `block` on `parent` and require the result to equal it (seals aside).

    Steps, each named in the InvalidBlock it raises:
    1. link    - the block extends `parent`;
    2. header  - the header rules (number, time, gas, QBFT constants);
    3. extra   - validator list, vote and proposer against the set after the parent;
    4. execute - every transaction applies (none rejected) on the parent's state;
    5. compare - the rebuilt header equals the received one.
    """
    header = block.header
    height = header.block_number
    # 1. link
    if header.parent_hash != parent.hash:
        raise InvalidBlock(height, "parent", f"does not extend 0x{parent.hash.hex()}")
    # 2. header
    try:
        LedgerVM.validate_header(header, parent)
    except ValidationError as exc:
        raise InvalidBlock(height, "header", str(exc)) from exc
    # 3. extra
    chain.check_header_extra(header, parent)
    # 4. execute
    extra = qbft.extra_data_of(header.fields_rlp())
    unsealed = qbft.ExtraData(extra.vanity, extra.validators, extra.vote, extra.round, ())
    try:
        built = chain.build_block(
            block.transactions, timestamp=header.timestamp, coinbase=header.coinbase, extra=unsealed, parent=parent
        )
    except InvalidBlock:
        raise
    except Exception as exc:  # e.g. a transaction whose signature recovers to nobody
        raise InvalidBlock(height, "execution", f"{type(exc).__name__}: {exc}") from exc
    if built.rejected:
        first = built.rejected[0]
        raise InvalidBlock(height, "execution", f"transaction 0x{first.transaction.hash.hex()}: {first.reason}")
    # 5. compare
    expected = header.copy(extra_data=unsealed.encode())
    if built.header != expected:
        differing = [
            name for name, _ in QBFTHeader._meta.fields
            if getattr(built.header, name) != getattr(expected, name)
        ]
        raise InvalidBlock(height, "execution", f"rebuilt header differs in {', '.join(differing)}")
    return built


def import_sealed(chain: Chain, block: WireBlock) -> QBFTHeader:
    """Validate, execute and commit a sealed block from a peer on top of our head."""
    parent = chain.head
    height = block.header.block_number
    if height != parent.block_number + 1:
        raise InvalidBlock(height, "parent", f"not the child of our head {parent.block_number}")
    # Seals first: they are cheap next to execution, and a block without a quorum of the
    # right validators is not worth executing.
    chain.check_seals(block.header, parent)
    built = execute(chain, block, parent)
    chain.commit(block.header, built, [tx.sender for tx in built.transactions])
    return block.header
