"""The chain: blocks and state on LevelDB, block building and the one-batch commit.

Commit order for a block (as CometBFT's ApplyBlock documents its own):

1. validate  - the header against its parent, the seals against the parent's validators;
2. execute   - every transaction in one `apply_all_transactions` batch, in a write overlay;
3. save      - state, header, body, receipts, indexes and the head pointer in ONE
               synchronous LevelDB write batch;
4. update    - the in-memory head moves only after that batch is on disk;
5. notify    - the caller (producer, RPC) fires events after `commit` returns.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import rlp
from eth.abc import ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.consensus.context import ConsensusContext
from eth.constants import BLANK_ROOT_HASH, GENESIS_PARENT_HASH
from eth.exceptions import HeaderNotFound, VMError
from eth.vm.chain_context import ChainContext
from eth.vm.execution_context import ExecutionContext
from eth_utils import ValidationError

from evidence import qbft
from evidence.mpt import ordered_trie_root
from node import schema
from node.errors import InvalidBlock, NotFound, StorageError
from node.genesis import Genesis
from node.permissions import Membership
from node.storage import LevelStore, StateOverlay
from node.vm import QBFT_DIFFICULTY, QBFT_NONCE, LedgerBlock, LedgerVM, QBFTHeader, create_child_header

TRANSACTION_BUILDER = LedgerBlock.get_transaction_builder()
RECEIPT_BUILDER = LedgerBlock.get_receipt_builder()
# Blocks re-validated from disk when a node opens its data directory.
STARTUP_VALIDATION_DEPTH = 64
# Decoded blocks kept in memory (bodies and receipts, each): ~64 full blocks is a few MB.
DECODED_BLOCK_CACHE = 64


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
        return LedgerVM(header, ExecutionDB(self, overlay), self.chain_context, ConsensusContext(overlay))

    def state_at(self, header: QBFTHeader) -> StateAPI:
        """The state after `header`'s block."""
        return self.vm_at(header).state

    @staticmethod
    def validators_of(header: QBFTHeader) -> tuple[bytes, ...]:
        """The validator set that sealed `header`: its extraData list (Besu's rule)."""
        return qbft.extra_data_of(header.fields_rlp()).validators

    def validators_after(self, header: QBFTHeader) -> tuple[bytes, ...]:
        """The validator set that must seal the child of `header`.

        Besu derives it from a tally of header votes; until validator votes land (the
        consensus issue) a header carrying a vote is refused, so the set is `header`'s own.
        """
        return self.validators_of(header)

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
            base = create_child_header(parent, coinbase=coinbase, timestamp=timestamp, extra_data=extra.encode())
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
            return BuiltBlock(result.block.header, tuple(remaining), receipts, overlay, rejected)

    def commit(self, header: QBFTHeader, built: BuiltBlock, senders: Sequence[bytes]) -> None:
        """Store a sealed block and move the head, in one atomic write batch."""
        with self._write_lock:
            parent = self._head
            if header.parent_hash != parent.hash:
                raise InvalidBlock(header.block_number, "parent", "does not extend the current head")
            self.check_seals(header, parent)
            writes = built.overlay.prefixed_writes()
            writes.update(_block_writes(header, built.transactions, senders, built.receipts))
            self._store.write_batch(writes)
            self._head = header

    # -- validation ---------------------------------------------------------------

    def check_seals(self, header: QBFTHeader, parent: QBFTHeader) -> None:
        """QBFT header rules against the parent: validator list, proposer, vote, seals."""
        height = header.block_number
        try:
            extra = qbft.extra_data_of(header.fields_rlp())
        except qbft.HeaderFormatError as exc:
            raise InvalidBlock(height, "extraData", str(exc)) from exc
        expected = self.validators_after(parent)
        if extra.validators != expected:
            raise InvalidBlock(height, "validators", "extraData list differs from the set after the parent")
        if extra.vote is not None:
            raise InvalidBlock(height, "vote", "validator votes are not accepted yet")
        if header.coinbase not in expected:
            raise InvalidBlock(height, "proposer", f"coinbase 0x{header.coinbase.hex()} is not a validator")
        try:
            qbft.verify_commit_seals(header.fields_rlp(), extra.validators)
        except (qbft.SealError, qbft.HeaderFormatError) as exc:
            raise InvalidBlock(height, "commit seals", str(exc)) from exc

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
        header = self._head
        for _ in range(min(depth, header.block_number + 1)):
            self.validate_stored_block(header)
            if header.block_number == 0:
                break
            header = self.header_by_hash(header.parent_hash)

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
) -> dict[bytes, bytes | None]:
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
    return writes


def build_genesis_block(store: LevelStore, genesis: Genesis) -> tuple[QBFTHeader, StateOverlay]:
    """The genesis header and its state writes (not yet committed)."""
    overlay = StateOverlay(store)
    state = LedgerVM.get_state_class()(overlay, _genesis_context(genesis), BLANK_ROOT_HASH)
    for address, account in genesis.alloc.items():
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
        block_number=0,
        gas_limit=genesis.gas_limit,
        timestamp=genesis.timestamp,
        extra_data=genesis.extra_data,
        mix_hash=qbft.MIX_HASH,
        nonce=QBFT_NONCE,
        state_root=state.state_root,
        base_fee_per_gas=0,
    )
    return header, overlay


def _genesis_context(genesis: Genesis) -> ExecutionContext:
    return ExecutionContext(
        coinbase=b"\x00" * 20, timestamp=genesis.timestamp, block_number=0, difficulty=QBFT_DIFFICULTY,
        mix_hash=qbft.MIX_HASH, gas_limit=genesis.gas_limit, prev_hashes=(), chain_id=genesis.chain_id,
        base_fee_per_gas=0, excess_blob_gas=0,
    )
