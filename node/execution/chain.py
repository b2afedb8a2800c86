"""The chain: blocks and state on LevelDB, block building and the one-batch commit.

Commit order for a block (as CometBFT's ApplyBlock documents its own):

1. validate  - the header against its parent, the seals against the set after the parent
               (the parent's validators with the votes since the last epoch applied);
2. execute   - every transaction in one `apply_all_transactions` batch, in a write overlay;
3. save      - state, header, body, receipts, indexes and the head pointer in ONE
               synchronous LevelDB write batch;
4. update    - the in-memory head moves only after that batch is on disk;
5. notify    - the caller (producer, RPC) fires events after `commit` returns.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

import rlp
from eth.abc import ChainDatabaseAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.consensus.context import ConsensusContext
from eth.constants import BLANK_ROOT_HASH, GENESIS_PARENT_HASH
from eth.exceptions import HeaderNotFound, VMError
from eth.vm.chain_context import ChainContext
from eth.vm.execution_context import ExecutionContext
from eth_typing import Address, BlockNumber, Hash32
from eth_utils import ValidationError

from evidence import qbft
from evidence.mpt import ordered_trie_root
from node.errors import InvalidBlock, NotFound, StorageError
from node.execution.genesis import Genesis
from node.execution.permissions import Membership
from node.execution.vm import (
    QBFT_DIFFICULTY,
    QBFT_NONCE,
    TRANSACTION_BUILDER,
    LedgerBlock,
    LedgerVM,
    QBFTHeader,
    create_child_header,
)
from node.storage import schema
from node.storage.index_queries import Indexes
from node.storage.indexes import IndexBatch, index_block, index_genesis
from node.storage.store import LevelStore, StateOverlay

RECEIPT_BUILDER = LedgerBlock.get_receipt_builder()
# Blocks re-validated from disk when a node opens its data directory.
STARTUP_VALIDATION_DEPTH = 64
# Decoded blocks kept in memory (bodies and receipts, each): ~64 full blocks is a few MB.
DECODED_BLOCK_CACHE = 64
# Vote tallies kept by block hash (Besu keeps 100): the head's and its recent ancestors',
# so the next block's set is one `apply` away. A tally is the set plus pending ballots.
TALLY_CACHE = 128
# Blocks indexed per write batch when a data directory written before the indexes existed
# is brought up to date.
INDEX_CATCH_UP_BATCH = 256


@dataclass(frozen=True)
class Rejected:
    transaction: SignedTransactionAPI
    reason: str


@dataclass
class BuiltBlock:
    """An executed, not yet sealed or stored block and the state writes it made."""

    header: QBFTHeader
    transactions: tuple[SignedTransactionAPI, ...]
    receipts: tuple[ReceiptAPI, ...]
    overlay: StateOverlay
    rejected: list[Rejected] = field(default_factory=list)


class ExecutionDB:
    """What py-evm's VM asks of a chain database, answered from our own schema.

    Transaction and receipt tries are not stored node by node: bodies and receipt lists
    are, and roots (and later proofs) are recomputed from them.
    """

    def __init__(self, chain: Chain, overlay: StateOverlay) -> None:
        self._chain = chain
        self.db = overlay

    def get_block_header_by_hash(self, block_hash: bytes) -> QBFTHeader:
        try:
            return self._chain.header_by_hash(block_hash)
        except NotFound as exc:
            raise HeaderNotFound(str(exc)) from exc

    def exists(self, key: bytes) -> bool:
        return self.db.exists(key)

    def persist_trie_data_dict(self, trie_data_dict: dict[bytes, bytes]) -> None:
        return None

    def get_block_transactions(self, header: QBFTHeader, builder: object) -> tuple[SignedTransactionAPI, ...]:
        if header.transaction_root == BLANK_ROOT_HASH:
            return ()
        return self._chain.block_transactions(header)[0]

    def get_block_withdrawals(self, header: QBFTHeader) -> tuple[()]:
        return ()

    def get_block_uncles(self, uncles_hash: bytes) -> tuple[()]:
        return ()


class Chain:
    """One node's copy of the chain. Reads are thread-safe; writes go through `commit`."""

    def __init__(self, store: LevelStore, genesis: Genesis) -> None:
        self._store = store
        self.genesis = genesis
        self.chain_context = ChainContext(genesis.chain_id)
        self._write_lock = threading.Lock()
        # Set by the node on a permissioned chain; None (a --dev chain) admits any sender.
        self.membership: Membership | None = None
        # Blocks never change once stored, so decoded bodies and receipts are cached by hash:
        # clients polling receipts of a 1,000-transaction block would otherwise decode (and
        # hash) the whole block on every call.
        self._decoded_body = functools.lru_cache(maxsize=DECODED_BLOCK_CACHE)(self._load_body)
        self._decoded_receipts = functools.lru_cache(maxsize=DECODED_BLOCK_CACHE)(self._load_receipts)
        head_hash = store.get(schema.HEAD_KEY)
        if head_hash is None:
            raise StorageError(f"{store.path} holds no chain: run `ledger node init` first")
        stored_genesis = store.get(schema.GENESIS_KEY)
        if stored_genesis is not None and Genesis.parse_text(stored_genesis.decode()).document != genesis.document:
            raise StorageError(f"{store.path} was initialised with a different genesis")
        self._head = self.header_by_hash(head_hash)
        self.genesis_header = self.header_by_number(0)
        self._tallies: OrderedDict[bytes, qbft.VoteTally] = OrderedDict()
        self._tally_lock = threading.Lock()
        last_vote = store.get(schema.LAST_VOTE_KEY)
        self._last_vote: int | None = None if last_vote is None else int.from_bytes(last_vote, "big")
        self.indexes = Indexes(store)

    # -- initialisation -------------------------------------------------------------

    @classmethod
    def initialise(cls, store: LevelStore, genesis: Genesis) -> Chain:
        """Write the genesis block unless the store already holds this chain."""
        header, overlay = build_genesis_block(store, genesis)
        existing = store.get(schema.canonical_key(0))
        if existing is not None:
            if existing != header.hash:
                raise StorageError(
                    f"{store.path} holds chain with genesis 0x{existing.hex()}, not 0x{header.hash.hex()}"
                )
            return cls(store, genesis)
        writes = overlay.prefixed_writes()
        writes.update(_block_writes(header, (), (), ()))
        writes[schema.GENESIS_KEY] = genesis.to_json().encode()
        index_genesis(IndexBatch(store.get, writes), [(m.address, m.role) for m in genesis.members],
                      len(genesis.trusted_roots), genesis.timestamp)
        store.write_batch(writes)
        return cls(store, genesis)

    # -- reads ------------------------------------------------------------------------

    @property
    def head(self) -> QBFTHeader:
        return self._head

    def header_by_hash(self, block_hash: bytes) -> QBFTHeader:
        raw = self._store.get(schema.header_key(block_hash))
        if raw is None:
            raise NotFound(f"no block with hash 0x{block_hash.hex()}")
        return rlp.decode(raw, sedes=QBFTHeader)

    def hash_by_number(self, height: int) -> bytes:
        if height < 0:
            raise NotFound(f"no block at height {height}")
        block_hash = self._store.get(schema.canonical_key(height))
        if block_hash is None:
            raise NotFound(f"no block at height {height}")
        return block_hash

    def header_by_number(self, height: int) -> QBFTHeader:
        return self.header_by_hash(self.hash_by_number(height))

    def block_transactions(self, header: QBFTHeader) -> tuple[tuple[SignedTransactionAPI, ...], tuple[bytes, ...]]:
        return self._decoded_body(header.hash)

    def block_receipts(self, header: QBFTHeader) -> tuple[ReceiptAPI, ...]:
        return self._decoded_receipts(header.hash)

    def _load_body(self, block_hash: bytes) -> tuple[tuple[SignedTransactionAPI, ...], tuple[bytes, ...]]:
        raw = self._store.get(schema.body_key(block_hash))
        if raw is None:
            raise NotFound(f"no body for block 0x{block_hash.hex()}")
        encoded, senders = rlp.decode(raw)
        return tuple(TRANSACTION_BUILDER.decode(t) for t in encoded), tuple(senders)

    def _load_receipts(self, block_hash: bytes) -> tuple[ReceiptAPI, ...]:
        raw = self._store.get(schema.receipts_key(block_hash))
        if raw is None:
            raise NotFound(f"no receipts for block 0x{block_hash.hex()}")
        return tuple(RECEIPT_BUILDER.decode(r) for r in rlp.decode(raw))

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int]:
        raw = self._store.get(schema.tx_location_key(tx_hash))
        if raw is None:
            raise NotFound(f"no transaction 0x{tx_hash.hex()}")
        height, index = rlp.decode(raw)
        return int.from_bytes(height, "big"), int.from_bytes(index, "big")

    def read_overlay(self) -> StateOverlay:
        """A state view for reads: nothing written to it is ever committed."""
        return StateOverlay(self._store)

    def vm_at(self, header: QBFTHeader, overlay: StateOverlay | None = None) -> LedgerVM:
        overlay = overlay if overlay is not None else self.read_overlay()
        # ExecutionDB implements the part of ChainDatabaseAPI py-evm's VM calls (module docstring).
        chaindb = cast(ChainDatabaseAPI, ExecutionDB(self, overlay))
        return LedgerVM(header, chaindb, self.chain_context, ConsensusContext(overlay))

    def state_at(self, header: QBFTHeader) -> StateAPI:
        """The state after `header`'s block."""
        return self.vm_at(header).state

    @staticmethod
    def validators_of(header: QBFTHeader) -> tuple[bytes, ...]:
        """The validator set that sealed `header`: its extraData list (Besu's rule)."""
        return qbft.extra_data_of(header.fields_rlp()).validators

    @staticmethod
    def vote_of(header: QBFTHeader) -> qbft.Vote | None:
        """The validator vote `header` carries (cast by its proposer, the coinbase), if any."""
        return qbft.extra_data_of(header.fields_rlp()).vote

    def validators_after(self, header: QBFTHeader) -> tuple[bytes, ...]:
        """The validator set that must seal the child of `header`: the tally after it."""
        return self.tally_after(header).validators

    def tally_after(self, header: QBFTHeader) -> qbft.VoteTally:
        """The vote tally after stored block `header`: the set for its child and the pending
        ballots (Besu's VoteTallyCache.getVoteTallyAfterBlock).

        Cached by hash: the head's child costs one `apply` on the head's tally. Otherwise
        the tally is rebuilt from the last epoch block's list and the vote-carrying headers
        since (the vote index), never by replaying every header.
        """
        cached = self._cached_tally(header.hash)
        if cached is not None:
            return cached
        number = header.block_number
        before: qbft.VoteTally | None
        if number % self.genesis.qbft.epoch_length == 0:
            # An epoch block starts afresh from its own list (Besu's getValidatorsAfter),
            # which the header rules made the set after its parent.
            before = qbft.VoteTally.start(self.validators_of(header), self.genesis.qbft.epoch_length, number)
        else:
            before = self._cached_tally(header.parent_hash)
            if before is None:
                before = self._tally_before(header)
        tally = before.apply(number, header.coinbase, self.vote_of(header))
        with self._tally_lock:
            self._tallies[header.hash] = tally
            while len(self._tallies) > TALLY_CACHE:
                self._tallies.popitem(last=False)
        return tally

    def _cached_tally(self, block_hash: bytes) -> qbft.VoteTally | None:
        with self._tally_lock:
            tally = self._tallies.get(block_hash)
            if tally is not None:
                self._tallies.move_to_end(block_hash)
            return tally

    def _tally_before(self, header: QBFTHeader) -> qbft.VoteTally:
        """The tally in force at `header` (not an epoch block) before its own vote: the last
        epoch block's validators, and the votes of the canonical blocks since."""
        number = header.block_number
        if self.hash_by_number(number - 1) != header.parent_hash:
            raise NotFound(f"block {number} 0x{header.hash.hex()} is not on the stored chain")
        epoch_length = self.genesis.qbft.epoch_length
        epoch_block = number - number % epoch_length
        tally = qbft.VoteTally.start(self.validators_of(self.header_by_number(epoch_block)), epoch_length, epoch_block)
        for height in self.vote_heights(epoch_block, number - 1):
            voter = self.header_by_number(height)
            tally = tally.apply(height, voter.coinbase, self.vote_of(voter))
        return tally

    def vote_heights(self, first: int = 0, last: int | None = None) -> list[int]:
        """Heights `first`..`last` (default: the head) whose header carries a validator vote,
        ascending, from the vote index (newest to oldest links: O(votes after `first`))."""
        last = self._head.block_number if last is None else min(last, self._head.block_number)
        heights: list[int] = []
        height = self._last_vote
        while height is not None and height >= first:
            link = self._store.get(schema.vote_key(height))
            if link is None:
                raise StorageError(f"{self._store.path}: vote index names block {height} but holds no entry for it")
            if height <= last:
                heights.append(height)
            previous = int.from_bytes(link, "big") if link else None
            if previous is not None and previous >= height:
                raise StorageError(f"{self._store.path}: vote index entry {height} links forward to {previous}")
            height = previous
        heights.reverse()
        return heights

    # -- building and committing ------------------------------------------------------

    def build_block(
        self,
        transactions: Sequence[SignedTransactionAPI],
        *,
        timestamp: int,
        coinbase: bytes,
        extra: qbft.ExtraData,
        parent: QBFTHeader | None = None,
    ) -> BuiltBlock:
        """Execute `transactions` on top of `parent` (default: head) in one batch.

        A transaction that turns out invalid at execution time (a balance spent by an
        earlier one, say) is dropped with every later one of its sender, and the batch is
        executed again; the rejects are returned for the pool to evict.
        """
        parent = parent if parent is not None else self._head
        remaining = list(transactions)
        rejected: list[Rejected] = []
        if self.membership is not None:
            # The permissioning rule: senders are members at the parent's state.
            admitted = []
            for tx in remaining:
                if self.membership.admits(parent, tx):
                    admitted.append(tx)
                else:
                    rejected.append(Rejected(tx, f"sender 0x{tx.sender.hex()} is not a member"))
            remaining = admitted
        while True:
            overlay = StateOverlay(self._store)
            base = create_child_header(parent, coinbase=Address(coinbase), timestamp=timestamp, extra_data=extra.encode())
            vm = self.vm_at(base, overlay)
            try:
                vm.block_preprocessing(vm.get_block())
                header, receipts, _ = vm.apply_all_transactions(remaining, base)
            except (ValidationError, VMError) as exc:
                # Errors inside a transaction's execution are recorded in its receipt; these
                # come from checks before it runs (nonce, balance, EIP-3860 initcode size...).
                if vm.applied_count >= len(remaining):
                    raise
                bad = remaining[vm.applied_count]
                rejected.append(Rejected(bad, str(exc)))
                remaining = remaining[: vm.applied_count] + [
                    tx for tx in remaining[vm.applied_count + 1 :] if tx.sender != bad.sender
                ]
                continue
            block = vm.set_block_transactions_and_withdrawals(vm.get_block(), header, remaining, receipts)
            # py-evm's mine_block = pack + finalize + validate_block; the last step only
            # re-derives what this function just computed (the transaction root, among
            # others). Blocks from elsewhere are checked by comparing them with a rebuild.
            result = vm.finalize_block(vm.pack_block(block))
            return BuiltBlock(cast(QBFTHeader, result.block.header), tuple(remaining), receipts, overlay, rejected)

    def commit(self, header: QBFTHeader, built: BuiltBlock, senders: Sequence[bytes]) -> None:
        """Store a sealed block and move the head, in one atomic write batch."""
        with self._write_lock:
            parent = self._head
            if header.parent_hash != parent.hash:
                raise InvalidBlock(header.block_number, "parent", "does not extend the current head")
            self.check_seals(header, parent)
            carries_vote = self.vote_of(header) is not None
            # One `apply` on the parent's cached tally: the next block's set is then ready.
            self.tally_after(header)
            writes = built.overlay.prefixed_writes()
            writes.update(_block_writes(header, built.transactions, senders, built.receipts,
                                        previous_vote=self._last_vote))
            if self.indexes.height() != parent.block_number:
                raise StorageError(f"{self._store.path}: event indexes stop at block {self.indexes.height()}, "
                                   f"the head is {parent.block_number}")
            index_block(IndexBatch(self._store.get, writes), header.block_number, header.hash, header.timestamp,
                        built.transactions, built.receipts)
            self._store.write_batch(writes)
            if carries_vote:
                self._last_vote = header.block_number
            self._head = header

    def index_forward(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Index the blocks after the indexes' height up to the head (a data directory
        written before the indexes existed); returns how many blocks were indexed.
        Each batch of blocks' entries and the new index height are written atomically, so
        an interrupted catch-up resumes where it stopped."""
        with self._write_lock:
            head = self._head.block_number
            start = self.indexes.height() + 1
            if self._store.get(schema.INDEX_HEIGHT_KEY) is None:
                writes: dict[bytes, bytes | None] = {}
                index_genesis(IndexBatch(self._store.get, writes), [(m.address, m.role) for m in self.genesis.members],
                              len(self.genesis.trusted_roots), self.genesis.timestamp)
                self._store.write_batch(writes)
            for first in range(start, head + 1, INDEX_CATCH_UP_BATCH):
                writes = {}
                batch = IndexBatch(self._store.get, writes)
                for height in range(first, min(first + INDEX_CATCH_UP_BATCH, head + 1)):
                    header = self.header_by_number(height)
                    transactions, _ = self.block_transactions(header)
                    index_block(batch, height, header.hash, header.timestamp, transactions, self.block_receipts(header))
                self._store.write_batch(writes)
                if progress is not None:
                    progress(min(first + INDEX_CATCH_UP_BATCH, head + 1) - 1, head)
            return max(0, head + 1 - start)

    # -- validation ---------------------------------------------------------------

    def check_header_extra(self, header: QBFTHeader, parent: QBFTHeader) -> None:
        """QBFT header rules against the parent, seals aside (a proposal is not sealed yet).

        Steps, each named in the InvalidBlock it raises:
        1. extraData / vote - the extraData decodes; a vote is [recipient(20), 0xff|0x00];
        2. validators       - the list is the set after the parent (sorted ascending);
        3. proposer         - the coinbase, who casts the header's vote, is one of them.
        """
        height = header.block_number
        try:
            extra = qbft.extra_data_of(header.fields_rlp())
        except qbft.HeaderFormatError as exc:
            raise InvalidBlock(height, exc.field, str(exc)) from exc
        expected = self.validators_after(parent)
        if extra.validators != expected:
            raise InvalidBlock(height, "validators", "extraData list differs from the set after the parent")
        if header.coinbase not in expected:
            raise InvalidBlock(height, "proposer", f"coinbase 0x{header.coinbase.hex()} is not a validator")

    def check_seals(self, header: QBFTHeader, parent: QBFTHeader) -> None:
        """QBFT header rules against the parent (`check_header_extra`), then the commit
        seals: a quorum of distinct validators of the set after the parent."""
        self.check_header_extra(header, parent)
        try:
            qbft.verify_commit_seals(header.fields_rlp(), self.validators_after(parent))
        except (qbft.SealError, qbft.HeaderFormatError) as exc:
            raise InvalidBlock(header.block_number, "commit seals", str(exc)) from exc

    def validate_stored_block(self, header: QBFTHeader) -> None:
        """Check a block read from disk: link, header rules, seals, transaction and receipt roots."""
        height = header.block_number
        if height == 0:
            if header.hash != self.hash_by_number(0):
                raise InvalidBlock(0, "genesis", "genesis hash differs from the canonical index")
            return
        parent = self.header_by_hash(header.parent_hash)
        if self.hash_by_number(height) != header.hash:
            raise InvalidBlock(height, "canonical index", "hash differs from the stored header")
        try:
            LedgerVM.validate_header(header, parent)
        except ValidationError as exc:
            raise InvalidBlock(height, "header", str(exc)) from exc
        self.check_seals(header, parent)
        indexed = self._store.get(schema.vote_key(height)) is not None
        if indexed != (self.vote_of(header) is not None):
            raise InvalidBlock(height, "vote index", "the header carries a vote" if not indexed
                               else "indexed as carrying a vote, the header carries none")
        transactions, senders = self.block_transactions(header)
        if ordered_trie_root([tx.encode() for tx in transactions]) != header.transaction_root:
            raise InvalidBlock(height, "transactions root", "body does not match header")
        if len(senders) != len(transactions):
            raise InvalidBlock(height, "body", "sender list length differs from transactions")
        if ordered_trie_root([r.encode() for r in self.block_receipts(header)]) != header.receipt_root:
            raise InvalidBlock(height, "receipts root", "stored receipts do not match header")
        if not self._store.get(schema.state_key(header.state_root)):
            raise InvalidBlock(height, "state root", "state trie root node missing")

    def validate_recent(self, depth: int = STARTUP_VALIDATION_DEPTH) -> None:
        """Validate the newest `depth` blocks, oldest first (each parent's tally is then
        cached when its child is checked)."""
        recent = [self._head]
        while len(recent) < depth and recent[-1].block_number > 0:
            recent.append(self.header_by_hash(recent[-1].parent_hash))
        for header in reversed(recent):
            self.validate_stored_block(header)

    def replay_block(self, header: QBFTHeader) -> QBFTHeader:
        """Re-execute a stored block on its parent's state; returns the header re-execution yields.

        Nothing is written. Callers compare the result with `header` (state, receipts, gas).
        """
        parent = self.header_by_hash(header.parent_hash)
        transactions, _ = self.block_transactions(header)
        extra = qbft.extra_data_of(header.fields_rlp())
        built = self.build_block(
            transactions, timestamp=header.timestamp, coinbase=header.coinbase, extra=extra, parent=parent
        )
        if built.rejected:
            raise InvalidBlock(header.block_number, "execution", built.rejected[0].reason)
        return built.header


def _block_writes(
    header: QBFTHeader,
    transactions: Iterable[SignedTransactionAPI],
    senders: Sequence[bytes],
    receipts: Iterable[ReceiptAPI],
    *,
    previous_vote: int | None = None,
) -> dict[bytes, bytes | None]:
    """Every key a block writes; `previous_vote` is the newest vote-carrying height before
    it (the vote index links to it when this header carries a vote)."""
    block_hash = header.hash
    transactions = list(transactions)
    writes: dict[bytes, bytes | None] = {
        schema.header_key(block_hash): rlp.encode(header),
        schema.body_key(block_hash): rlp.encode([[tx.encode() for tx in transactions], list(senders)]),
        schema.receipts_key(block_hash): rlp.encode([r.encode() for r in receipts]),
        schema.canonical_key(header.block_number): block_hash,
        schema.HEAD_KEY: block_hash,
    }
    for index, tx in enumerate(transactions):
        writes[schema.tx_location_key(tx.hash)] = rlp.encode([header.block_number, index])
    if Chain.vote_of(header) is not None:
        writes[schema.vote_key(header.block_number)] = (
            b"" if previous_vote is None else schema.height_bytes(previous_vote))
        writes[schema.LAST_VOTE_KEY] = schema.height_bytes(header.block_number)
    return writes


def build_genesis_block(store: LevelStore, genesis: Genesis) -> tuple[QBFTHeader, StateOverlay]:
    """The genesis header and its state writes (not yet committed)."""
    overlay = StateOverlay(store)
    state = LedgerVM.get_state_class()(overlay, _genesis_context(genesis), BLANK_ROOT_HASH)
    for raw_address, account in genesis.alloc.items():
        address = Address(raw_address)
        state.set_balance(address, account.balance)
        state.set_nonce(address, account.nonce)
        if account.code:
            state.set_code(address, account.code)
        for slot, value in account.storage.items():
            state.set_storage(address, slot, value)
    state.persist()
    header = QBFTHeader(
        parent_hash=GENESIS_PARENT_HASH,
        difficulty=QBFT_DIFFICULTY,
        block_number=BlockNumber(0),
        gas_limit=genesis.gas_limit,
        timestamp=genesis.timestamp,
        extra_data=genesis.extra_data,
        mix_hash=Hash32(qbft.MIX_HASH),
        nonce=QBFT_NONCE,
        state_root=state.state_root,
        base_fee_per_gas=0,
    )
    return header, overlay


def _genesis_context(genesis: Genesis) -> ExecutionContext:
    return ExecutionContext(
        coinbase=Address(b"\x00" * 20), timestamp=genesis.timestamp, block_number=BlockNumber(0),
        difficulty=QBFT_DIFFICULTY, mix_hash=Hash32(qbft.MIX_HASH), gas_limit=genesis.gas_limit, prev_hashes=(), chain_id=genesis.chain_id,
        base_fee_per_gas=0, excess_blob_gas=0,
    )
