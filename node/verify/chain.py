"""Walking a chain from genesis and checking every block: links, roots, seals, optional replay.

The checks work on what a block source hands over - raw header RLP, transaction and
receipt encodings - and build no py-evm objects (decoding one py-evm header costs ~180 µs,
a third of the per-block budget): header rules are checked on the RLP field list, seals
with `evidence.qbft`, roots with `evidence.mpt`. Two sources:

* `DataDirSource` reads a data directory's LevelDB with the keys of `node.schema`. LevelDB
  has no read-only mode and rewrites its log files whenever it is opened, so the source
  opens a private copy in a temporary directory (`storage.copy_database`: table files
  hard-linked where the file system allows, the few small mutable files copied) and
  deletes it on close: the directory verified is left as it was, byte for byte. A running
  node's directory (its LOCK held) is refused. No key is ever written.
* `RpcSource` asks a running node: `debug_getRawHeader`, `debug_getRawBlock` and
  `debug_getRawReceipts` in JSON-RPC batches.

Checks of block n (the step names are what an `InvalidBlock` carries):

1. decode      - "header", "extraData": RLP of 20 byte strings of the right sizes, canonical
                 integers, a QBFT extraData;
2. link        - "number", "parent hash": n, and the hash of block n-1 as parentHash;
3. header      - "timestamp", "gas limit", "gas used", "header": after the parent's, the
                 parent's, within it, and QBFT's constant fields (`LedgerVM.validate_header`);
4. validators  - "validators", "proposer": extraData lists the set after the parent - the
                 validator set followed from genesis through the header votes with Besu's
                 rules (`evidence.qbft.VoteTally`, the genesis file's epoch length) - and
                 one of them proposed (and cast the header's vote, if any);
5. seals       - "commit seals": a quorum of distinct validators sealed the header;
6. body        - "transactions root", then (data directory) "senders", recovered from the
                 signatures, and "transaction index";
7. receipts    - "receipts root", "gas used", "logs bloom";
8. storage     - "canonical index", "vote index", "state root" (data directory): the
                 indexes name the block (and, for a vote-carrying header, link to the
                 previous one), the state trie's root node is stored;
9. replay      - "re-execution: ..." with a `Replayer`: the same state root, receipts, gas.

Block 0 is checked against the genesis file: its hash must be that of the block
`node.chain.build_genesis_block` builds from it. The first failure ends the walk.

Every step but the link (2), the validator set (4), the vote index link and state root
lookup (8) and the replay (9) depends on nothing but the block: an `InspectionPool` runs
those inspections in worker processes while the walk does the rest in height order. A
worker checks the seals against the set the header itself lists; the walk then requires
that list to be the set the votes give, which makes the two checks one.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import weakref
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence, cast

import plyvel
import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH, GENESIS_PARENT_HASH, ZERO_HASH32
from eth.exceptions import PyEVMError
from eth_hash.auto import keccak
from eth_utils import ValidationError
from rlp.exceptions import RLPException
from rlp.sedes import raw

from evidence import qbft
from evidence.mpt import ordered_trie_root
from node.storage import schema
from node.execution.chain import Chain, build_genesis_block
from node.errors import InvalidBlock, LedgerError, StorageError
from node.execution.genesis import Genesis
from node.execution.permissions import Membership
from node.storage.store import DatabaseLocked, LevelStore, copy_database, holding_shared_lock, private_umask
from node.execution.vm import MAX_EXTRA_DATA_BYTES, QBFT_DIFFICULTY, QBFT_NONCE, QBFTHeader

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

# Blocks a worker inspects per task, and tasks in flight per worker (bounds the memory
# the walk holds ahead of the block it is at).
INSPECT_CHUNK_BLOCKS = 256
CHUNKS_IN_FLIGHT_PER_WORKER = 2
# Blocks per JSON-RPC batch: 3 calls a block, and the node takes at most 1,000 calls.
RPC_BATCH_BLOCKS = 100
# A JSON-RPC response is read up to this size; a larger batch is asked for again in
# halves, and a single block larger than this (far beyond what a 150M-gas block holds) is
# refused: a node must not be able to make the verifier read without bound.
MAX_RPC_RESPONSE_BYTES = 128 * 1024 * 1024
RPC_TIMEOUT_SECONDS = 60
# How often (in blocks) the walk reports progress.
PROGRESS_EVERY = 256
# A legacy transaction's v: 27/28 without a chain id, 35 + 2 * chainId + parity with one.
LEGACY_V_BASE = 27
EIP155_V_BASE = 35


UNAUTHORIZED = -40100  # node.rpc.app.UNAUTHORIZED: the token's role may not make the call


class SourceError(StorageError):
    """The block source cannot be read at all: no node at the URL, a missing or locked directory."""


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


class BlockSource(Protocol):
    """Where the walk reads blocks. `blocks` raises `InvalidBlock` for a block that is
    missing or unreadable at a height the source should hold, `SourceError` if the source
    itself fails."""

    description: str

    def head(self) -> int:
        """The height of the newest block."""
        ...

    def blocks(self, first: int, last: int) -> Iterator[RawBlock]:
        """Blocks `first`..`last` (inclusive), in height order, read lazily."""
        ...

    def state_root_stored(self, root: bytes) -> bool | None:
        """Whether the state trie's root node is stored; None when the source cannot tell."""
        ...

    def close(self) -> None:
        ...


class Replayer(Protocol):
    """Re-executes block `height` (its header already checked); raises `InvalidBlock` if
    the result differs from the header."""

    def replay(self, height: int, header: bytes) -> None:
        ...


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
    first failed step as (step, detail), with the number of the check it belongs to (the
    module docstring's). Plain data: it travels back from worker processes."""

    height: int
    facts: HeaderFacts | None
    failure: tuple[str, str] | None
    check: int = 0


@dataclass(frozen=True)
class ChainSummary:
    """A walk that found nothing wrong."""

    first: int
    last: int
    blocks: int
    transactions: int
    genesis_hash: bytes
    head_hash: bytes
    genesis_checked: bool  # against a genesis file, not only for its own shape
    reexecuted: bool
    source: str


# -- checks of one block (pure) ---------------------------------------------------------


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


def _decode(height: int, raw: bytes) -> tuple[list[bytes], qbft.ExtraData, HeaderFacts]:
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
        fields, extra, facts = _decode(height, block.header)
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
    fields, extra, facts = _decode(0, block.header)
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


def genesis_block_hash(genesis: Genesis) -> bytes:
    """The hash of the genesis block `genesis` builds (its state computed in memory)."""
    # build_genesis_block's overlay reads the store only for trie nodes it did not write
    # itself - none, as it starts from the empty trie - so no store is needed.
    header, _ = build_genesis_block(cast(LevelStore, _NoStore()), genesis)
    return header.hash


class _NoStore:
    path = Path("/dev/null")

    def get(self, key: bytes) -> bytes | None:
        return None


# -- the walk ----------------------------------------------------------------------------


class InspectionPool:
    """Worker processes for `inspect_chunk`.

    Forked (the workers inherit the imported modules; spawning them would cost ~2 s of
    imports each), so start the pool before opening a data directory or starting threads
    (a progress bar): a fork copies only the calling thread.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        # Ctrl-C is the walking process's to handle: it shuts the pool down.
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                            initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))
        # The first task forks every worker (ProcessPoolExecutor does so under "fork").
        self.executor.submit(int).result()

    @staticmethod
    def usable_cores() -> int:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    @classmethod
    def start(cls, workers: int) -> InspectionPool | None:
        """A pool of `workers`, or None (inspect in the walking process) for one worker or
        where processes cannot be forked."""
        if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            return None
        return cls(workers)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def verify_chain(
    source: BlockSource,
    *,
    genesis: Genesis | None,
    first: int = 0,
    last: int | None = None,
    replayer: Replayer | None = None,
    pool: InspectionPool | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ChainSummary:
    """Check blocks `first`..`last` (default: to the source's head), and block 0.

    Block 0 is always checked (against `genesis` when given): it fixes the first validator
    set, and the genesis file the epoch length (without one, a vote ends the walk with a
    SourceError). A walk from `first` > 1 takes block `first - 1` as its parent, and the
    validator set from the headers since the last epoch block before it (since genesis
    without a genesis file), without checking them.
    Raises InvalidBlock at the first block that fails, naming the step; ValueError for
    heights outside the chain.
    """
    head = source.head()
    last = head if last is None else last
    if not 0 <= first <= last <= head:
        raise ValueError(f"heights {first}..{last} are outside the chain 0..{head}")
    genesis_facts = check_genesis(next(source.blocks(0, 0)), None if genesis is None else genesis_block_hash(genesis))
    # Without the genesis file the epoch length is unknown: the set is followed until the
    # first vote, which then needs it.
    epoch_length = genesis.qbft.epoch_length if genesis is not None else None
    tally = qbft.VoteTally.start(genesis_facts.validators, epoch_length or qbft.DEFAULT_EPOCH_LENGTH)
    tally = tally.apply(0, genesis_facts.proposer, None)
    parent = genesis_facts
    # The newest vote-carrying height seen, for the vote index links (a data directory);
    # unknown after a range's unchecked prefix until a vote is seen.
    last_vote: int | None = None
    last_vote_known = True
    if first > 1:
        parent, tally, last_vote, last_vote_known = _set_before(source, first, tally, epoch_length)
    checked = 1 if first == 0 else 0
    transactions = 0
    start = max(first, 1)
    blocks = source.blocks(start, last) if start <= last else iter(())
    for block, inspection in _inspections(blocks, pool):
        height = inspection.height
        if inspection.facts is None:  # 1. decode failed
            assert inspection.failure is not None
            raise InvalidBlock(height, *inspection.failure)
        facts = inspection.facts
        link_block(height, facts, parent)  # 2, and 3 against the parent
        if inspection.failure is not None and inspection.check < 4:  # 3, found by the inspection
            raise InvalidBlock(height, *inspection.failure)
        # 4. validators: the list is the set the votes so far give
        if facts.validators != tally.validators:
            raise InvalidBlock(height, "validators", "extraData list differs from the set after the parent")
        if inspection.failure is not None:  # 4-8, found by the inspection
            raise InvalidBlock(height, *inspection.failure)
        if facts.vote is not None:
            if epoch_length is None:
                raise SourceError(f"block {height} carries a validator vote: following the validator set past it "
                                  "needs the genesis file's epoch length (pass the genesis file)")
            # 8. storage: the vote index links this vote to the previous one
            if block is not None and block.stored is not None and last_vote_known:
                expected = b"" if last_vote is None else schema.height_bytes(last_vote)
                if block.stored.vote_link != expected:
                    raise InvalidBlock(height, "vote index", f"links to {_vote_link(block.stored.vote_link)}, "
                                                             f"the previous vote is {_vote_link(expected)}")
            last_vote, last_vote_known = height, True
        tally = tally.apply(height, facts.proposer, facts.vote)
        # 8. storage: the state after the block is there to build on
        if source.state_root_stored(facts.state_root) is False:
            raise InvalidBlock(height, "state root", f"state trie root node 0x{facts.state_root.hex()} missing")
        # 9. replay
        if replayer is not None and block is not None:
            replayer.replay(height, block.header)
        parent = facts
        transactions += parent.transactions
        checked += 1
        if on_progress is not None and checked % PROGRESS_EVERY == 0:
            on_progress(checked)
    if on_progress is not None:
        on_progress(checked)
    return ChainSummary(
        first=first, last=last, blocks=checked, transactions=transactions, genesis_hash=genesis_facts.hash,
        head_hash=parent.hash, genesis_checked=genesis is not None, reexecuted=replayer is not None,
        source=source.description,
    )


def _set_before(
    source: BlockSource, first: int, tally: qbft.VoteTally, epoch_length: int | None
) -> tuple[HeaderFacts, qbft.VoteTally, int | None, bool]:
    """For a walk from `first` > 1: the facts of block `first - 1` and the tally after it,
    taken unchecked from the headers since the last epoch block (the whole prefix without
    a genesis file), with the newest vote height seen and whether that is known to be the
    newest of the chain."""
    epoch_block = 0 if epoch_length is None else (first - 1) - (first - 1) % epoch_length
    last_vote: int | None = None
    parent: HeaderFacts | None = None
    for raw_block in source.blocks(max(epoch_block, 1), first - 1):
        height = raw_block.height
        facts = _decode(height, raw_block.header)[2]
        if height == epoch_block:
            assert epoch_length is not None
            tally = qbft.VoteTally.start(facts.validators, epoch_length, height)
        if facts.vote is not None:
            if epoch_length is None:
                raise SourceError(f"block {height} carries a validator vote: following the validator set past it "
                                  "needs the genesis file's epoch length (pass the genesis file)")
            last_vote = height
        try:
            tally = tally.apply(height, facts.proposer, facts.vote)
        except ValueError as exc:
            raise InvalidBlock(height, "proposer", str(exc)) from exc
        parent = facts
    assert parent is not None
    return parent, tally, last_vote, epoch_block == 0 or last_vote is not None


def _vote_link(link: bytes | None) -> str:
    if link is None:
        return "nothing (no entry)"
    return "no earlier vote" if link == b"" else f"block {_integer(link)}"


Pending = tuple[list[RawBlock], "Future[list[Inspection]] | list[Inspection]"]


def _inspections(
    blocks: Iterator[RawBlock], pool: InspectionPool | None
) -> Iterator[tuple[RawBlock | None, Inspection]]:
    """(block, its inspection) in height order. A block the source cannot produce becomes
    a failed inspection (without a block) in its place, so a read failure ahead of the
    walk never hides a failure before it."""
    pending: deque[Pending] = deque()
    in_flight = 0 if pool is None else CHUNKS_IN_FLIGHT_PER_WORKER * pool.workers
    try:
        for chunk, unreadable in _chunks(blocks, INSPECT_CHUNK_BLOCKS):
            if chunk:
                work = pool.executor.submit(inspect_chunk, chunk) if pool else inspect_chunk(chunk)
                pending.append((chunk, work))
            if unreadable is not None:
                pending.append(([], [Inspection(unreadable.height, None, (unreadable.step, unreadable.detail))]))
            while len(pending) > in_flight:
                yield from _results(pending.popleft())
        while pending:
            yield from _results(pending.popleft())
    finally:
        for _, work in pending:
            if isinstance(work, Future):
                work.cancel()


def _results(item: Pending) -> Iterator[tuple[RawBlock | None, Inspection]]:
    chunk, work = item
    inspections = work.result() if isinstance(work, Future) else work
    for index, inspection in enumerate(inspections):
        yield (chunk[index] if index < len(chunk) else None), inspection


def _chunks(blocks: Iterator[RawBlock], size: int) -> Iterator[tuple[list[RawBlock], InvalidBlock | None]]:
    """(up to `size` blocks, the InvalidBlock that ended the source early or None)."""
    chunk: list[RawBlock] = []
    try:
        for block in blocks:
            chunk.append(block)
            if len(chunk) == size:
                yield chunk, None
                chunk = []
    except InvalidBlock as exc:
        yield chunk, exc
        return
    if chunk:
        yield chunk, None


# -- sources -----------------------------------------------------------------------------


class ReadOnlyStore(LevelStore):
    """A data directory's LevelDB opened for reading: never created, never written to, its
    files' modes left alone (LevelStore tightens them; in a private copy some are hard links
    to the verified directory's files, which must not change)."""

    def __init__(self, path: Path) -> None:
        if not (path / "CURRENT").is_file():
            raise SourceError(f"{path} holds no LevelDB (no CURRENT file)")
        try:
            with private_umask():
                db = plyvel.DB(str(path), create_if_missing=False)
        except plyvel.IOError as exc:
            if "lock" in str(exc).lower():
                raise SourceError(f"{path} is locked by a running node: stop it or verify a copy") from exc
            raise SourceError(f"cannot open LevelDB at {path}: {exc}") from exc
        except plyvel.Error as exc:
            raise SourceError(f"cannot open LevelDB at {path}: {exc}") from exc
        try:
            version = db.get(schema.SCHEMA_VERSION_KEY)
            if version is None:
                raise SourceError(f"{path} is not a ledger data directory (no schema version)")
            if int(version) != schema.SCHEMA_VERSION:
                raise SourceError(f"{path} has storage schema {int(version)}, this verifier reads {schema.SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        self._db = db
        self.path = path
        self._finalizer = weakref.finalize(self, db.close)

    def write_batch(self, writes: Mapping[bytes, bytes | None]) -> None:
        raise StorageError(f"{self.path} is opened read-only")


class DataDirSource:
    """Blocks from a node's LevelDB (DATA_DIR/chain), read with the keys of `node.schema`
    from a private copy (see the module docstring); `close` deletes the copy."""

    def __init__(self, chain_dir: Path) -> None:
        if not (chain_dir / "CURRENT").is_file():
            raise SourceError(f"{chain_dir} holds no LevelDB (no CURRENT file)")
        # $TMPDIR on the data directory's file system makes the copy hard links, not bytes.
        scratch = Path(tempfile.mkdtemp(prefix="ledger-verify-"))
        self._remove_scratch = weakref.finalize(self, shutil.rmtree, scratch, ignore_errors=True)
        try:
            with holding_shared_lock(chain_dir):  # no node writes while the files are copied
                self.copy = copy_database(chain_dir, scratch / "chain")
            self.store = ReadOnlyStore(scratch / "chain")
        except DatabaseLocked as exc:
            self._remove_scratch()
            raise SourceError(str(exc)) from exc
        except OSError as exc:  # an unreadable file, no room for the copy
            self._remove_scratch()
            raise SourceError(f"cannot make a private copy of {chain_dir} under {scratch.parent} "
                              f"(set TMPDIR to another directory): {exc}") from exc
        except BaseException:
            self._remove_scratch()
            raise
        self.store.path = chain_dir  # messages name the directory verified, not the copy
        self.description = f"data directory {chain_dir}"

    def head(self) -> int:
        head_hash = self.store.get(schema.HEAD_KEY)
        if head_hash is None:
            raise SourceError(f"{self.store.path} holds no head pointer")
        raw = self.store.get(schema.header_key(head_hash))
        if raw is None:
            raise SourceError(f"{self.store.path}: no header stored under the head hash 0x{head_hash.hex()}")
        try:
            height = _integer(rlp.decode(raw)[NUMBER])
        except (rlp.DecodingError, IndexError, TypeError) as exc:
            raise SourceError(f"{self.store.path}: the head's header is not readable: {exc}") from exc
        if self.store.get(schema.canonical_key(height)) != head_hash:
            raise InvalidBlock(height, "canonical index", "the head pointer is not the block indexed at its height")
        return height

    def blocks(self, first: int, last: int) -> Iterator[RawBlock]:
        for height in range(first, last + 1):
            yield self.block(height)

    def block(self, height: int) -> RawBlock:
        get = self.store.get
        block_hash = get(schema.canonical_key(height))
        if block_hash is None:
            raise InvalidBlock(height, "canonical index", "no block indexed at this height")
        stored = {}
        for name, key in (("header", schema.header_key), ("body", schema.body_key), ("receipts", schema.receipts_key)):
            value = get(key(block_hash))
            if value is None:
                raise InvalidBlock(height, "storage", f"no {name} stored under 0x{block_hash.hex()}")
            stored[name] = value
        try:
            transactions, senders = rlp.decode(stored["body"], strict=True)
            receipts = rlp.decode(stored["receipts"], strict=True)
            if not all(isinstance(item, bytes) for item in (*transactions, *senders, *receipts)):
                raise TypeError("a list where an encoding belongs")
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise InvalidBlock(height, "body", f"the stored body or receipts do not decode: {exc}") from exc
        locations = tuple(get(schema.tx_location_key(keccak(tx))) for tx in transactions)
        return RawBlock(height, stored["header"], tuple(transactions), tuple(receipts),
                        StoredIndex(block_hash, tuple(senders), locations, get(schema.vote_key(height))))

    def state_root_stored(self, root: bytes) -> bool | None:
        return self.store.get(schema.state_key(root)) is not None

    def close(self) -> None:
        self.store.close()
        self._remove_scratch()


class RpcSource:
    """Blocks from a node's debug_getRaw* methods, 3 calls a block in JSON-RPC batches."""

    def __init__(self, url: str, *, batch_blocks: int = RPC_BATCH_BLOCKS, token: str | None = None) -> None:
        import requests

        self.url = url
        self.description = f"node {url}"
        self._batch = batch_blocks
        self._session = requests.Session()
        if token:  # the node's role token (node/access/http.py): the debug_getRaw* reads need rpc:read
            self._session.headers["Authorization"] = f"Bearer {token}"

    def _post(self, calls: list[dict[str, Any]]) -> Any:
        import requests

        try:
            with self._session.post(self.url, json=calls, stream=True, timeout=RPC_TIMEOUT_SECONDS) as response:
                if response.status_code == 401:
                    raise SourceError(f"{self.url} requires an access token (HTTP 401): set LEDGER_TOKEN to a "
                                      "token whose role has rpc:read (`ledger token issue`)")
                response.raise_for_status()
                body = bytearray()
                for piece in response.iter_content(1 << 20):
                    body += piece
                    if len(body) > MAX_RPC_RESPONSE_BYTES:
                        raise _TooLarge()
        except requests.RequestException as exc:
            raise SourceError(f"cannot reach a node at {self.url}: {type(exc).__name__}") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise SourceError(f"{self.url} answered with something that is not JSON") from exc

    def head(self) -> int:
        try:
            reply = self._post([{"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}])
        except _TooLarge:
            raise SourceError(f"{self.url}: eth_blockNumber answered more than {MAX_RPC_RESPONSE_BYTES} bytes") from None
        try:
            return int(reply[0]["result"], 16)
        except (LookupError, TypeError, ValueError) as exc:
            raise SourceError(f"{self.url}: eth_blockNumber answered {str(reply)[:200]}") from exc

    def blocks(self, first: int, last: int) -> Iterator[RawBlock]:
        for start in range(first, last + 1, self._batch):
            yield from self._fetch(start, min(start + self._batch - 1, last))

    def _fetch(self, first: int, last: int) -> Iterator[RawBlock]:
        methods = ("debug_getRawHeader", "debug_getRawBlock", "debug_getRawReceipts")
        calls = [{"jsonrpc": "2.0", "id": (height - first) * 3 + i, "method": method, "params": [hex(height)]}
                 for height in range(first, last + 1) for i, method in enumerate(methods)]
        try:
            reply = self._post(calls)
        except _TooLarge:
            if first == last:
                raise SourceError(f"{self.url}: block {first} is larger than {MAX_RPC_RESPONSE_BYTES} bytes") from None
            middle = (first + last) // 2
            yield from self._fetch(first, middle)
            yield from self._fetch(middle + 1, last)
            return
        if not isinstance(reply, list):
            raise SourceError(f"{self.url}: a batch of {len(calls)} calls got {str(reply)[:200]} back")
        by_id = {item["id"]: item for item in reply if isinstance(item, dict) and isinstance(item.get("id"), int)}
        for height in range(first, last + 1):
            yield self._raw_block(height, [by_id.get((height - first) * 3 + i) for i in range(3)])

    def _raw_block(self, height: int, replies: list[Any]) -> RawBlock:
        results = []
        for name, item in zip(("header", "block", "receipts"), replies):
            if not isinstance(item, dict) or "result" not in item:
                error = item.get("error") if isinstance(item, dict) else "no answer"
                if isinstance(error, dict) and error.get("code") == UNAUTHORIZED:  # a refusal, not a bad block
                    raise SourceError(f"{self.url} refused the raw block reads: {str(error.get('message'))[:160]} "
                                      "(they need a token whose role has rpc:read)")
                raise InvalidBlock(height, "rpc", f"the node did not serve the raw {name}: {error}")
            results.append(item["result"])
        try:
            header = _from_hex(results[0])
            block = rlp.decode(_from_hex(results[1]), strict=True)
            receipts = tuple(_from_hex(r) for r in results[2])
        except (ValueError, TypeError, rlp.DecodingError) as exc:
            raise InvalidBlock(height, "rpc", f"the node served unreadable data: {exc}") from exc
        if not isinstance(block, list) or len(block) != 4 or not all(isinstance(part, list) for part in block):
            raise InvalidBlock(height, "body", "the raw block is not [header, transactions, uncles, withdrawals]")
        if rlp.encode(block[0], sedes=raw) != header:
            raise InvalidBlock(height, "body", "the raw block's header differs from the raw header")
        if block[2] or block[3]:
            raise InvalidBlock(height, "body", "the block carries uncles or withdrawals")
        # In a block, typed transactions are byte strings and legacy ones RLP lists.
        transactions = tuple(tx if isinstance(tx, bytes) else rlp.encode(tx, sedes=raw) for tx in block[1])
        return RawBlock(height, header, transactions, receipts)

    def state_root_stored(self, root: bytes) -> bool | None:
        return None

    def close(self) -> None:
        self._session.close()


class _TooLarge(Exception):
    pass


def _from_hex(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"expected 0x-hex, got {str(value)[:40]!r}")
    return bytes.fromhex(value[2:])


# -- replay ------------------------------------------------------------------------------


class ChainReplayer:
    """Re-executes stored blocks with `Chain.replay_block` (data directory only).

    `permissioned` applies the node's membership rule (senders must be members at the
    parent's state) as a node started without --dev does; a --dev chain admits anyone.
    The chain is opened at the first replay, once the walk has checked block 1.
    """

    def __init__(self, store: LevelStore, genesis: Genesis, *, permissioned: bool) -> None:
        self._store = store
        self._genesis = genesis
        self._permissioned = permissioned
        self._chain: Chain | None = None

    def _open(self) -> Chain:
        if self._chain is None:
            try:
                chain = Chain(self._store, self._genesis)
            except (LedgerError, RLPException) as exc:
                raise SourceError(f"cannot re-execute: {self._store.path} does not open as a chain: {exc}") from exc
            if self._permissioned:
                chain.membership = Membership(chain.state_at)
            self._chain = chain
        return self._chain

    def replay(self, height: int, header: bytes) -> None:
        chain = self._open()
        try:
            stored = rlp.decode(header, sedes=QBFTHeader)
            rebuilt = chain.replay_block(stored)
        except InvalidBlock:
            raise
        # What py-evm raises for a block it cannot execute (a transaction it cannot decode
        # or apply) is the block's failure, not the verifier's.
        except (LedgerError, RLPException, PyEVMError, ValidationError, KeyError, ValueError) as exc:
            raise InvalidBlock(height, "re-execution", f"{type(exc).__name__}: {exc}") from exc
        for name, got, expected in (
            ("state root", rebuilt.state_root, stored.state_root),
            ("receipts root", rebuilt.receipt_root, stored.receipt_root),
            ("gas used", rebuilt.gas_used, stored.gas_used),
            ("logs bloom", rebuilt.bloom, stored.bloom),
        ):
            if got != expected:
                raise InvalidBlock(height, f"re-execution: {name}",
                                   f"re-executing gives {_shown(got)}, the header says {_shown(expected)}")


def _shown(value: object) -> str:
    return f"0x{value.hex()}" if isinstance(value, bytes) else str(value)


def stored_genesis(store: LevelStore) -> Genesis:
    """The genesis document a data directory was initialised with."""
    raw = store.get(schema.GENESIS_KEY)
    if raw is None:
        raise SourceError(f"{store.path} holds no genesis document")
    try:
        return Genesis.parse_text(raw.decode())
    except (LedgerError, UnicodeDecodeError) as exc:
        raise SourceError(f"{store.path}: the stored genesis document is not valid: {exc}") from exc

