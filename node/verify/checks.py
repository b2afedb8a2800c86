"""The checks of one block of `ledger chain verify`, on values only: header rules, seals, roots, senders, and a header's link to its parent.

Pure: every function takes what a block source handed over - raw header RLP, transaction
and receipt encodings (`RawBlock`) - and raises `InvalidBlock` naming the step that failed;
no store, no network, no clock. They build no py-evm objects (decoding one py-evm header
costs ~180 µs, a third of the per-block budget): header rules are checked on the RLP field
list, seals with `evidence.qbft`, roots with `evidence.mpt`. The step numbers in the
comments are those of node/verify/chain.py's docstring, which walks a chain with them;
`inspect_block` (every step that needs no other block) runs in worker processes, so what
it returns is plain data.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH, GENESIS_PARENT_HASH, ZERO_HASH32
from eth_hash.auto import keccak
from rlp.sedes import raw

from evidence import qbft
from evidence.mpt import ordered_trie_root
from node.errors import InvalidBlock
from node.execution.vm import MAX_EXTRA_DATA_BYTES, QBFT_DIFFICULTY, QBFT_NONCE

# Positions in a Cancun header's field list (py-evm's `CancunBlockHeader.fields` order).
PARENT_HASH, UNCLES_HASH, COINBASE, STATE_ROOT, TRANSACTIONS_ROOT, RECEIPTS_ROOT, BLOOM = range(7)
DIFFICULTY, NUMBER, GAS_LIMIT, GAS_USED, TIMESTAMP, EXTRA_DATA, MIX_HASH, NONCE = range(7, 15)
BASE_FEE, WITHDRAWALS_ROOT, BLOB_GAS_USED, EXCESS_BLOB_GAS, PARENT_BEACON_ROOT = range(15, 20)
HEADER_FIELDS = 20
FIELD_NAMES = (
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
    "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce",
    "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot",
)
FIELD_SIZES = {
    PARENT_HASH: 32, UNCLES_HASH: 32, COINBASE: 20, STATE_ROOT: 32, TRANSACTIONS_ROOT: 32,
    RECEIPTS_ROOT: 32, BLOOM: 256, MIX_HASH: 32, NONCE: 8, WITHDRAWALS_ROOT: 32, PARENT_BEACON_ROOT: 32,
}
INTEGER_FIELDS = (DIFFICULTY, NUMBER, GAS_LIMIT, GAS_USED, TIMESTAMP, BASE_FEE, BLOB_GAS_USED, EXCESS_BLOB_GAS)
# Every field of a QBFT header that has one allowed value (zero base fee; no uncles,
# withdrawals or blobs; Besu's mixHash; difficulty 1; zero nonce).
CONSTANT_FIELDS = {
    DIFFICULTY: QBFT_DIFFICULTY.to_bytes(1, "big"), NONCE: QBFT_NONCE, MIX_HASH: qbft.MIX_HASH,
    UNCLES_HASH: EMPTY_UNCLE_HASH, BASE_FEE: b"", WITHDRAWALS_ROOT: BLANK_ROOT_HASH, BLOB_GAS_USED: b"",
    EXCESS_BLOB_GAS: b"", PARENT_BEACON_ROOT: ZERO_HASH32,
}

# A legacy transaction's v: 27/28 without a chain id, 35 + 2 * chainId + parity with one.
LEGACY_V_BASE = 27
EIP155_V_BASE = 35


@dataclass(frozen=True)
class StoredIndex:
    """What a data directory keeps beside a block; an RPC source has none of it."""

    canonical_hash: bytes  # n ‖ height -> this hash; the header, body and receipts are stored under it
    senders: tuple[bytes, ...]  # the body's sender list (the `from` the RPC serves)
    tx_locations: tuple[bytes | None, ...]  # t ‖ tx hash -> RLP([height, index]), per transaction
    vote_link: bytes | None = None  # v ‖ height -> the previous vote-carrying height; None: no entry


@dataclass(frozen=True)
class RawBlock:
    """One block as a source holds it: encodings only, nothing decoded or trusted."""

    height: int  # the height it was read at
    header: bytes  # RLP of the header, seals included
    transactions: tuple[bytes, ...]  # network encodings (typed: type ‖ RLP, legacy: RLP list)
    receipts: tuple[bytes, ...]  # network encodings
    stored: StoredIndex | None = None


@dataclass(frozen=True)
class HeaderFacts:
    """What the walk needs of a decoded header to check its child and the link to it."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    gas_limit: int
    excess_blob_gas: int
    blob_gas_used: int
    state_root: bytes
    validators: tuple[bytes, ...]
    proposer: bytes
    vote: qbft.Vote | None
    transactions: int


@dataclass(frozen=True)
class Inspection:
    """The block-local steps of one block: its facts (None if it does not decode) and the
    first failed step as (step, detail), with the number of the check it belongs to (as
    node/verify/chain.py's docstring numbers them). Plain data: it travels back from
    worker processes."""

    height: int
    facts: HeaderFacts | None
    failure: tuple[str, str] | None
    check: int = 0


def decode_header(height: int, raw: bytes) -> list[bytes]:
    """The header's field list; raises InvalidBlock("header") unless it is a well-formed
    Cancun header (field sizes, canonical integers)."""
    try:
        fields = rlp.decode(raw, strict=True)
    except rlp.DecodingError as exc:
        raise InvalidBlock(height, "header", f"not RLP: {exc}") from exc
    if not isinstance(fields, list) or len(fields) != HEADER_FIELDS or not all(isinstance(f, bytes) for f in fields):
        raise InvalidBlock(height, "header", f"not a list of {HEADER_FIELDS} byte strings")
    for index, size in FIELD_SIZES.items():
        if len(fields[index]) != size:
            raise InvalidBlock(height, "header", f"{FIELD_NAMES[index]} is {len(fields[index])} bytes, not {size}")
    for index in INTEGER_FIELDS:
        if fields[index][:1] == b"\x00" or len(fields[index]) > 32:
            raise InvalidBlock(height, "header", f"{FIELD_NAMES[index]} is not a canonical integer")
    return cast("list[bytes]", fields)


def _integer(data: bytes) -> int:
    return int.from_bytes(data, "big")


def decode_header_facts(height: int, raw: bytes) -> tuple[list[bytes], qbft.ExtraData, HeaderFacts]:
    """Step 1: fields, extraData and the facts (hash included) of a header."""
    fields = decode_header(height, raw)
    try:
        extra = qbft.extra_data_of(fields)
        block_hash = qbft.block_hash(fields)
    except qbft.HeaderFormatError as exc:
        raise InvalidBlock(height, "extraData", str(exc)) from exc
    facts = HeaderFacts(
        number=_integer(fields[NUMBER]), hash=block_hash, parent_hash=fields[PARENT_HASH],
        timestamp=_integer(fields[TIMESTAMP]), gas_limit=_integer(fields[GAS_LIMIT]),
        excess_blob_gas=_integer(fields[EXCESS_BLOB_GAS]), blob_gas_used=_integer(fields[BLOB_GAS_USED]),
        state_root=fields[STATE_ROOT], validators=extra.validators, proposer=fields[COINBASE], vote=extra.vote,
        transactions=0,
    )
    return fields, extra, facts


def inspect_block(block: RawBlock) -> Inspection:
    """The steps of `block` that need no other block (1, 3-7, the indexes of 8), the
    proposer and seals against the validator list the header carries (the walk checks
    that list)."""
    height, facts, check = block.height, None, 1
    try:
        # 1. decode
        fields, extra, facts = decode_header_facts(height, block.header)
        check = 3
        facts = replace(facts, transactions=len(block.transactions))
        # 3. header rules that need no parent (LedgerVM.validate_header's, on the raw fields)
        gas_limit, gas_used = _integer(fields[GAS_LIMIT]), _integer(fields[GAS_USED])
        if gas_used > gas_limit:
            raise InvalidBlock(height, "gas used", f"{gas_used} above the limit {gas_limit}")
        if len(fields[EXTRA_DATA]) > MAX_EXTRA_DATA_BYTES:
            raise InvalidBlock(height, "header", f"extraData longer than {MAX_EXTRA_DATA_BYTES} bytes")
        for index, value in CONSTANT_FIELDS.items():
            if fields[index] != value:
                raise InvalidBlock(height, "header", f"{FIELD_NAMES[index]} 0x{fields[index].hex()} is not QBFT's 0x{value.hex()}")
        # 4. a validator (of the list the header carries) proposed
        check = 4
        validators = extra.validators
        if fields[COINBASE] not in validators:
            raise InvalidBlock(height, "proposer", f"coinbase 0x{fields[COINBASE].hex()} is not a validator")
        # 5. commit seals: a quorum of distinct validators over this header
        check = 5
        try:
            qbft.verify_commit_seals(fields, validators)
        except (qbft.SealError, qbft.HeaderFormatError) as exc:
            raise InvalidBlock(height, "commit seals", str(exc)) from exc
        check = 6
        # 6. body: the transactions root, then what a data directory stores beside the body
        if ordered_trie_root(block.transactions) != fields[TRANSACTIONS_ROOT]:
            raise InvalidBlock(height, "transactions root", "the transactions do not match the header")
        if block.stored is not None:
            check_stored_body(height, block.transactions, block.stored)
        # 7. receipts: the root, then the header's gas used and bloom against them
        check = 7
        if ordered_trie_root(block.receipts) != fields[RECEIPTS_ROOT]:
            raise InvalidBlock(height, "receipts root", "the receipts do not match the header")
        check_receipts(height, block.receipts, gas_used, fields[BLOOM])
        # 8. storage: the canonical index names this block, the vote index its vote
        check = 8
        if block.stored is not None and block.stored.canonical_hash != facts.hash:
            raise InvalidBlock(height, "canonical index", f"indexed as 0x{block.stored.canonical_hash.hex()}, "
                                                           f"the stored header hashes to 0x{facts.hash.hex()}")
        if block.stored is not None and (block.stored.vote_link is not None) != (extra.vote is not None):
            raise InvalidBlock(height, "vote index", "the header carries a vote the index does not list"
                               if extra.vote is not None else "indexed as carrying a vote, the header carries none")
    except InvalidBlock as exc:
        return Inspection(height, facts, (exc.step, exc.detail), check)
    return Inspection(height, facts, None)


def inspect_chunk(blocks: Sequence[RawBlock]) -> list[Inspection]:
    """`inspect_block` over consecutive blocks, up to and including the first that fails."""
    inspections = []
    for block in blocks:
        inspections.append(inspect_block(block))
        if inspections[-1].failure is not None:
            break
    return inspections


def link_block(height: int, facts: HeaderFacts, parent: HeaderFacts) -> None:
    """Steps 2 and 3's parent rules: block `height` (`facts`) follows `parent`."""
    # 2. number and parent link
    if facts.number != height or height != parent.number + 1:
        raise InvalidBlock(height, "number", f"header says {facts.number}, expected {parent.number + 1}")
    if facts.parent_hash != parent.hash:
        raise InvalidBlock(height, "parent hash", f"0x{facts.parent_hash.hex()} is not the hash of block "
                                                   f"{parent.number} (0x{parent.hash.hex()})")
    # 3. header rules against the parent
    if facts.timestamp <= parent.timestamp:
        raise InvalidBlock(height, "timestamp", f"{facts.timestamp} is not after the parent's {parent.timestamp}")
    if facts.gas_limit != parent.gas_limit:
        raise InvalidBlock(height, "gas limit", f"{facts.gas_limit} differs from the parent's {parent.gas_limit}")
    # calc_excess_blob_gas_cancun is zero while no block uses blob gas (checked constant).
    if parent.excess_blob_gas + parent.blob_gas_used != 0:
        raise InvalidBlock(height, "header", "the parent's blob gas is not zero")


def check_genesis(block: RawBlock, genesis_hash: bytes | None) -> HeaderFacts:
    """Block 0: the shape of a genesis header, and its hash when the genesis file is known."""
    # 1. decode
    fields, extra, facts = decode_header_facts(0, block.header)
    # 2. number and (no) parent
    if facts.number != 0 or facts.parent_hash != GENESIS_PARENT_HASH:
        raise InvalidBlock(0, "genesis", "block 0 must have number 0 and a zero parent hash")
    # 4. what genesis carries: validators; no vote, round, seals or transactions
    if not extra.validators or extra.vote is not None or extra.seals or extra.round:
        raise InvalidBlock(0, "genesis", "extraData must name validators and carry no vote, round or seals")
    if block.transactions or block.receipts or (block.stored is not None and block.stored.senders):
        raise InvalidBlock(0, "genesis", "the genesis block carries transactions or receipts")
    # The hash of the block the genesis file builds covers every other field.
    if genesis_hash is not None and facts.hash != genesis_hash:
        raise InvalidBlock(0, "genesis", f"block 0 is 0x{facts.hash.hex()}, the genesis file builds 0x{genesis_hash.hex()}")
    # 8. storage: the canonical index names this block
    if block.stored is not None and block.stored.canonical_hash != facts.hash:
        raise InvalidBlock(0, "canonical index", f"indexed as 0x{block.stored.canonical_hash.hex()}, "
                                                  f"the stored header hashes to 0x{facts.hash.hex()}")
    return facts


def check_stored_body(height: int, transactions: Sequence[bytes], stored: StoredIndex) -> None:
    """The body's sender list and the transaction index agree with the transactions."""
    if len(stored.senders) != len(transactions):
        raise InvalidBlock(height, "senders", f"{len(stored.senders)} senders for {len(transactions)} transactions")
    for index, (encoded, sender) in enumerate(zip(transactions, stored.senders)):
        try:
            signer = recover_sender(encoded)
        except ValueError as exc:
            raise InvalidBlock(height, "senders", f"transaction {index}: {exc}") from exc
        if signer != sender:
            raise InvalidBlock(height, "senders", f"transaction {index} is signed by 0x{signer.hex()}, "
                                                  f"stored as from 0x{sender.hex()}")
    for index, (encoded, location) in enumerate(zip(transactions, stored.tx_locations)):
        if location != rlp.encode([height, index]):
            raise InvalidBlock(height, "transaction index",
                               f"transaction {index} (0x{keccak(encoded).hex()}) is not indexed at ({height}, {index})")


def check_receipts(height: int, receipts: Sequence[bytes], gas_used: int, bloom: bytes) -> None:
    """The last cumulative gas is the header's gas used; the header's bloom is the union
    of the receipts' blooms (both fields clients read instead of the receipts)."""
    cumulative, union = 0, 0
    for index, encoded in enumerate(receipts):
        try:
            payload = encoded if encoded[:1] >= b"\xc0" else encoded[1:]  # legacy, or type ‖ RLP
            _status, receipt_gas, receipt_bloom, _logs = rlp.decode(payload, strict=True)
            union |= int.from_bytes(receipt_bloom, "big")
            receipt_cumulative = _integer(receipt_gas)
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise InvalidBlock(height, "receipts", f"receipt {index} is not a receipt: {exc}") from exc
        if receipt_cumulative < cumulative:
            raise InvalidBlock(height, "gas used", f"receipt {index}'s cumulative gas decreases")
        cumulative = receipt_cumulative
    if cumulative != gas_used:
        raise InvalidBlock(height, "gas used", f"header says {gas_used}, the receipts add up to {cumulative}")
    if union != int.from_bytes(bloom, "big"):
        raise InvalidBlock(height, "logs bloom", "the header's bloom is not the union of the receipts' blooms")


def recover_sender(encoded: bytes) -> bytes:
    """The address that signed a transaction (its network encoding), under the node's
    signature rules (EIP-2 low s, parity 0/1); ValueError if it is not a signed transaction."""
    try:
        if encoded[:1] >= b"\xc0":  # legacy: RLP([nonce, gasPrice, gas, to, value, data, v, r, s])
            fields = rlp.decode(encoded, strict=True)
            if not isinstance(fields, list) or len(fields) != 9 or not all(isinstance(f, bytes) for f in fields):
                raise ValueError("a legacy transaction is a list of 9 byte strings")
            v = _integer(fields[6])
            if v in (LEGACY_V_BASE, LEGACY_V_BASE + 1):
                parity, unsigned = v - LEGACY_V_BASE, fields[:6]
            elif v >= EIP155_V_BASE:  # EIP-155: the chain id is signed too
                chain_id, parity = divmod(v - EIP155_V_BASE, 2)
                unsigned = [*fields[:6], chain_id.to_bytes((chain_id.bit_length() + 7) // 8, "big"), b"", b""]
            else:
                raise ValueError(f"legacy transaction v = {v}")
            digest = keccak(rlp.encode(unsigned, sedes=raw))
            r, s = fields[7], fields[8]
        else:  # typed (EIP-2718): type ‖ RLP([..., yParity, r, s]), signed as type ‖ RLP([...])
            if not encoded:
                raise ValueError("an empty transaction")
            payload = rlp.decode(encoded[1:], strict=True)
            if not isinstance(payload, list) or len(payload) < 4:
                raise ValueError("a typed transaction is type ‖ RLP list")
            y_parity, r, s = payload[-3:]
            if not all(isinstance(x, bytes) for x in (y_parity, r, s)) or len(y_parity) > 1:
                raise ValueError("a typed transaction's yParity, r and s are integers")
            parity = _integer(y_parity)
            digest = keccak(encoded[:1] + rlp.encode(payload[:-3], sedes=raw))
    except rlp.DecodingError as exc:
        raise ValueError(f"not RLP: {exc}") from exc
    if len(r) > 32 or len(s) > 32 or parity > 1:
        raise ValueError("signature values out of range")
    try:
        return qbft.recover_signer(r.rjust(32, b"\x00") + s.rjust(32, b"\x00") + bytes([parity]), digest)
    except qbft.SealError as exc:
        raise ValueError(str(exc)) from exc
