"""The transaction pool: admission checks, nonce ordering, selection for the next block.

Refusals raise `InvalidTransaction` with the wording geth and Besu clients already match
on ("nonce too low", "already known", ...). Transactions with a nonce gap are held
(queued), not dropped, and become ready when the gap fills.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from eth.abc import SignedTransactionAPI
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE

from node.errors import InvalidTransaction
from node.execution.vm import MAX_TX_BYTES, decode_transaction

# A pool bound so that a flood of valid transactions costs bounded memory (~2 GB worst case
# at MAX_TX_BYTES each is prevented by MAX_POOL_BYTES).
MAX_POOL_TXS = 20_000
MAX_POOL_BYTES = 64 * 1024 * 1024
# How far past a sender's next expected nonce a transaction may be held while it waits
# for the gap to fill (geth's per-account queue is 64 too). Contiguous ones are bounded
# only by the pool's size.
MAX_NONCE_GAP = 64
# A transaction still waiting for its nonce gap after this long is dropped (geth: 3 hours;
# on a permissioned chain with 1-second blocks a gap that old is a client that gave up).
QUEUED_LIFETIME_SECONDS = 15 * 60

AccountReader = Callable[[bytes], "tuple[int, int]"]  # address -> (nonce, balance) at head


def check_stateless(raw: bytes, *, chain_id: int, block_gas_limit: int) -> SignedTransactionAPI:
    """The admission checks that read no state: size, decoding, type, chain id, intrinsic
    gas, the signature rules (node/execution/vm.py check_transaction_signature) and sender
    recovery, initcode size, the block gas limit, the fee fields. Returns the transaction
    with its sender and hash computed (py-evm caches both on the object) or raises
    InvalidTransaction. A pure function of its arguments: the precheck worker runs this
    same function, so both paths refuse with the same words in the same order."""
    if len(raw) > MAX_TX_BYTES:
        raise InvalidTransaction(f"oversized data: transaction size {len(raw)}, limit {MAX_TX_BYTES}")
    tx = decode_transaction(raw)
    if tx.type_id == BLOB_TX_TYPE:
        raise InvalidTransaction("transaction type not supported: blob transactions need a blob pool")
    if tx.chain_id is None:
        raise InvalidTransaction("only replay-protected (EIP-155) transactions allowed over RPC")
    if tx.chain_id != chain_id:
        raise InvalidTransaction(f"invalid chain id for signer: have {tx.chain_id} want {chain_id}")
    try:
        intrinsic = tx.intrinsic_gas
    except Exception as exc:
        raise InvalidTransaction(f"invalid transaction: {exc}") from exc
    if tx.gas < intrinsic:
        raise InvalidTransaction(f"intrinsic gas too low: have {tx.gas}, want {intrinsic}")
    try:
        tx.validate()
    except Exception as exc:  # py-evm raises ValidationError/ValueError alike
        raise InvalidTransaction(f"invalid transaction: {exc}") from exc
    try:
        _ = tx.sender
    except Exception as exc:  # BadSignature, ValidationError, ValueError from recovery
        raise InvalidTransaction(f"invalid sender: {exc}") from exc
    if not tx.to and len(tx.data) > MAX_INITCODE_SIZE:
        raise InvalidTransaction(f"max initcode size exceeded: code size {len(tx.data)}, limit {MAX_INITCODE_SIZE}")
    if tx.gas > block_gas_limit:
        raise InvalidTransaction(f"exceeds block gas limit: gas {tx.gas}, limit {block_gas_limit}")
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise InvalidTransaction("max priority fee per gas higher than max fee per gas")
    _ = tx.hash  # typed transactions cache it: computed where this runs, not in the pool's lock
    return tx


@dataclass(frozen=True)
class PoolEntry:
    tx: SignedTransactionAPI
    sender: bytes
    size: int
    seq: int
    added_at: float


class TxPool:
    def __init__(
        self,
        *,
        chain_id: int,
        block_gas_limit: int,
        read_account: AccountReader,
        check_permission: Callable[[SignedTransactionAPI], None],
        is_committed: Callable[[bytes], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chain_id = chain_id
        self._gas_limit = block_gas_limit
        self._read_account = read_account
        self._check_permission = check_permission
        self._is_committed = is_committed
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._by_sender: dict[bytes, dict[int, PoolEntry]] = {}
        self._by_hash: dict[bytes, PoolEntry] = {}
        self._nonces: dict[bytes, int] = {}  # account nonce at head, cached per sender
        self._bytes = 0

    # -- admission --------------------------------------------------------------

    def add(self, raw: bytes) -> SignedTransactionAPI:
        """Admit a raw signed transaction or raise InvalidTransaction / PermissionDenied."""
        tx = check_stateless(raw, chain_id=self._chain_id, block_gas_limit=self._gas_limit)
        return self.admit(tx, len(raw))

    def admit(self, tx: SignedTransactionAPI, size: int) -> SignedTransactionAPI:
        """Admit a transaction that passed `check_stateless` (here or in the precheck
        worker, node/execution/precheck.py) and whose raw encoding is `size` bytes: the
        checks against the head state and the pool. Raises like `add`."""
        sender = tx.sender  # cached by check_stateless: no second recovery
        tx_hash = tx.hash  # a legacy transaction's is recomputed on each access
        self._check_permission(tx)  # raises PermissionDenied
        with self._lock:
            if tx_hash in self._by_hash:
                raise InvalidTransaction("already known")
            nonce, balance = self._account(sender)
            if tx.nonce < nonce:
                raise InvalidTransaction(f"nonce too low: address 0x{sender.hex()}, tx: {tx.nonce} state: {nonce}")
            queue = self._by_sender.get(sender, {})
            next_nonce = nonce
            while next_nonce in queue:
                next_nonce += 1
            if tx.nonce >= next_nonce + MAX_NONCE_GAP:
                raise InvalidTransaction(
                    f"nonce too high: tx {tx.nonce} leaves a gap of more than {MAX_NONCE_GAP} after {next_nonce}"
                )
            cost = tx.value + tx.gas * tx.max_fee_per_gas
            if cost > balance:
                raise InvalidTransaction(
                    f"insufficient funds for gas * price + value: address 0x{sender.hex()} have {balance} want {cost}"
                )
            if tx.nonce in queue:
                raise InvalidTransaction("replacement transaction underpriced")
            if self._is_committed(tx_hash):
                raise InvalidTransaction("already known")
            while len(self._by_hash) >= MAX_POOL_TXS or self._bytes + size > MAX_POOL_BYTES:
                # Full: an executable transaction displaces the oldest one that waits for
                # a nonce gap; a gapped one is refused.
                victim = self._oldest_queued() if tx.nonce == next_nonce else None
                if victim is None:
                    raise InvalidTransaction("txpool is full")
                self._remove(victim)
            entry = PoolEntry(tx, sender, size, next(self._seq), self._clock())
            self._nonces[sender] = nonce
            self._by_sender.setdefault(sender, {})[tx.nonce] = entry
            self._by_hash[tx_hash] = entry
            self._bytes += size
        return tx

    def _account(self, sender: bytes) -> tuple[int, int]:
        """(nonce, balance) at head; the nonce is only cached for senders with pool entries."""
        nonce, balance = self._read_account(sender)
        return max(nonce, self._nonces.get(sender, 0)), balance

    # -- queries -------------------------------------------------------------------

    def pending_nonce(self, sender: bytes) -> int:
        with self._lock:
            nonce = self._account(sender)[0]
            queue = self._by_sender.get(sender, {})
            while nonce in queue:
                nonce += 1
            return nonce

    def get(self, tx_hash: bytes) -> PoolEntry | None:
        return self._by_hash.get(tx_hash)

    def counts(self) -> tuple[int, int]:
        """(ready, queued) transaction counts."""
        with self._lock:
            ready = sum(1 for _ in self._ready_iter())
            return ready, len(self._by_hash) - ready

    def has_ready(self) -> bool:
        with self._lock:
            return next(self._ready_iter(), None) is not None

    def _ready_iter(self) -> Iterator[PoolEntry]:
        for sender, queue in self._by_sender.items():
            nonce = self._nonces.get(sender, 0)
            while nonce in queue:
                yield queue[nonce]
                nonce += 1

    def select(self, gas_budget: int) -> list[PoolEntry]:
        """Ready transactions in arrival order (nonce order within a sender), within `gas_budget`."""
        with self._lock:
            heads: list[tuple[int, bytes, int]] = []
            for sender, queue in self._by_sender.items():
                nonce = self._nonces.get(sender, 0)
                if nonce in queue:
                    heads.append((queue[nonce].seq, sender, nonce))
            heapq.heapify(heads)
            chosen: list[PoolEntry] = []
            while heads:
                _, sender, nonce = heapq.heappop(heads)
                entry = self._by_sender[sender][nonce]
                if entry.tx.gas > gas_budget:
                    continue  # this sender waits for the next block
                gas_budget -= entry.tx.gas
                chosen.append(entry)
                following = self._by_sender[sender].get(nonce + 1)
                if following is not None:
                    heapq.heappush(heads, (following.seq, sender, nonce + 1))
            return chosen

    # -- after a block ---------------------------------------------------------------

    def on_block(self, included: Sequence[SignedTransactionAPI], rejected: Sequence[SignedTransactionAPI]) -> None:
        """Drop what a new block included or proved invalid; refresh nonces of those senders."""
        with self._lock:
            touched: set[bytes] = set()
            for tx in itertools.chain(included, rejected):
                entry = self._by_hash.get(tx.hash)
                sender = entry.sender if entry else tx.sender
                touched.add(sender)
                if entry is not None:
                    self._remove(entry)
            for tx in included:
                sender = tx.sender
                self._nonces[sender] = max(self._nonces.get(sender, 0), tx.nonce + 1)
            deadline = self._clock() - QUEUED_LIFETIME_SECONDS
            for expired in [e for e in self._queued() if e.added_at < deadline]:
                touched.add(expired.sender)
                self._remove(expired)
            for sender in touched:
                queue = self._by_sender.get(sender, {})
                for stale in [e for n, e in queue.items() if n < self._nonces.get(sender, 0)]:
                    self._remove(stale)
                if sender not in self._by_sender:
                    # Nothing waits for this sender: forget its nonce (read from state next
                    # time), so the cache is bounded by the pool, not by every sender ever.
                    self._nonces.pop(sender, None)

    def _queued(self) -> list[PoolEntry]:
        """Entries waiting for a nonce gap to fill (not executable now)."""
        waiting: list[PoolEntry] = []
        for sender, queue in self._by_sender.items():
            nonce = self._nonces.get(sender, 0)
            while nonce in queue:
                nonce += 1
            waiting.extend(e for n, e in queue.items() if n > nonce)
        return waiting

    def _oldest_queued(self) -> PoolEntry | None:
        return min(self._queued(), key=lambda e: e.seq, default=None)

    def _remove(self, entry: PoolEntry) -> None:
        self._by_hash.pop(entry.tx.hash, None)
        queue = self._by_sender.get(entry.sender)
        if queue is not None and queue.get(entry.tx.nonce) is entry:
            del queue[entry.tx.nonce]
            if not queue:
                del self._by_sender[entry.sender]
        self._bytes -= entry.size

    def __len__(self) -> int:
        return len(self._by_hash)
