"""The running node: chain and pool on LevelDB, the reads the RPC serves, and the hooks
the consensus driver (node/consensus/driver.py) uses to propose, commit and gossip.

Consensus (the driver's event loop, its peers and timers, and the thread that builds and
commits blocks) runs on threads of its own (node/ops/runner.py); the RPC serves from another
event loop. What crosses between them goes through thread-safe hooks: `submit` and
`increase_time` wake the driver, `block_committed` hands each new block to the listeners
on the RPC's loop, and `stop` reaches every loop that waits for it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eth.abc import SignedTransactionAPI, StateAPI
from eth_typing import Address

from node.access.roles import resolve_auth_mode
from node.consensus.sealing import ValidatorKey
from node.consensus.votes import PendingVotes
from node.errors import NodeError, PermissionDenied, StorageError
from node.execution.chain import Chain
from node.execution.escalation import Escalator
from node.execution.genesis import Genesis
from node.execution.permissions import Membership, is_registration
from node.execution.precheck import PrecheckWorker
from node.execution.txpool import TxPool
from node.execution.vm import QBFTHeader
from node.ops.metrics import Metrics
from node.rpc.limits import RpcLimits
from node.storage import commitment_counts, schema
from node.storage.store import LevelStore

log = logging.getLogger("ledger.node")
# The fewest transactions sent to the admission worker at once. A single transaction is
# checked in the node: the worker pays where a batch's checks run on the second core while
# this one builds blocks; for one transaction the round trip (pickling both ways, two socket
# hops) costs about what it saves, and a client that sends one transaction at a time (the
# SDK, wallets) never starts a second process.
MIN_PRECHECK_BATCH = 2


class ConsensusView(Protocol):
    """What the RPC reads of the consensus driver (node/consensus/driver.py), which sets
    itself here when it starts: the node does not depend on consensus, consensus on the node."""

    def status(self) -> dict[str, Any]: ...

    def sync_progress(self) -> tuple[int, int, int] | None: ...

    def peer_count(self) -> int: ...

CHAIN_DIR = "chain"
GENESIS_FILE = "genesis.json"
KEY_FILE = "key"
# Reads one cached head state serves before it is rebuilt (~5 KB retained per account read).
HEAD_STATE_READS = 10_000


@dataclass
class NodeConfig:
    data_dir: Path
    dev: bool = False
    # In --dev any sender may transact; otherwise only active members of the identity
    # registry (and non-members registering themselves).
    open_permissioning: bool = False
    # Bearer tokens on the HTTP surface (node/access/roles.py resolve_auth_mode): "required", "off", or "auto" —
    # off only for a --dev node whose RPC listens on loopback.
    auth: str = "auto"
    # Public keys (PEM) of other token issuers this node trusts besides its own.
    token_issuers: tuple[Path, ...] = ()
    # The address the RPC binds: what "auto" looks at.
    rpc_host: str = "127.0.0.1"
    # Browsers (node/rpc/origin.py, geth's --http.vhosts / --http.corsdomain / --ws.origins):
    # host names answered besides IP addresses and localhost; web origins allowed over HTTP
    # and on the WebSocket besides the node's own. Empty: no others; "*": any.
    http_vhosts: tuple[str, ...] = ()
    http_corsdomain: tuple[str, ...] = ()
    ws_origins: tuple[str, ...] = ()
    # What one caller may make the JSON-RPC surface pay (gas, queues, filters, sockets).
    limits: RpcLimits = field(default_factory=RpcLimits)
    # A validator's proposals carry the due commitment alerts (node/execution/escalation.py);
    # `--no-auto-escalate` / node.json validator.auto_escalate false turn it off.
    auto_escalate: bool = True
    # Admission's stateless checks (decode, signature recovery, hashing) of batches of
    # transactions in a worker process on the second core (node/execution/precheck.py),
    # started with the first such batch; False: all in the node's process (no second
    # process, ~60 MB less).
    precheck_worker: bool = True

    def auth_mode(self) -> str:
        """The resolved authentication mode, "required" or "off"."""
        return resolve_auth_mode(self.auth, dev=self.dev, host=self.rpc_host)


@dataclass
class HeadState:
    header: QBFTHeader
    state: StateAPI
    lock: threading.Lock = field(default_factory=threading.Lock)
    reads: int = 0


class Node:
    def __init__(self, config: NodeConfig, genesis: Genesis, key: ValidatorKey | None) -> None:
        self.config = config
        self.genesis = genesis
        self.key = key
        self.store = LevelStore(config.data_dir / CHAIN_DIR)
        try:
            self.chain = Chain(self.store, genesis)
            self.chain.validate_recent()
            indexed = self.chain.index_forward()
            if indexed:
                log.info("indexed the events of %d blocks stored before the indexes existed", indexed)
            counted = commitment_counts.catch_up(self.store)
            if counted:
                log.info("counted %d commitments for the supervision counters", counted)
        except Exception:
            self.store.close()
            raise
        if not config.open_permissioning:
            self.chain.membership = Membership(self.chain.state_at)
        self.metrics = Metrics()
        self.metrics.height.set(self.chain.head.block_number)
        self._head_state: HeadState | None = None
        self.pool = TxPool(
            chain_id=genesis.chain_id,
            block_gas_limit=genesis.gas_limit,
            read_account=self.read_account,
            check_permission=self.check_permission,
            is_committed=self.is_committed,
        )
        # Alerts that raise themselves: what this node proposes (if it validates) carries the
        # due commitments' escalate(ids), signed with its validator key (node/execution/escalation.py).
        self.escalator: Escalator | None = None
        if key is not None and config.auto_escalate:
            self.escalator = Escalator(self.chain, self.store, key, account_nonce=lambda a: self.read_account(a)[0],
                                       pending_nonce=self.pool.pending_nonce)
        self._stop_lock = threading.Lock()
        self._stop_requested = False
        self._stop_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        # The loop block listeners run on (the RPC's); None: wherever block_committed runs.
        self._listener_loop: asyncio.AbstractEventLoop | None = None
        # Hooks the consensus driver sets (node/consensus/driver.py); thread-safe callables.
        self._wake: Callable[[], None] = lambda: None
        self._gossip: Callable[[bytes], None] = lambda raw: None
        self.consensus: ConsensusView | None = None
        # A --dev chain whose clock evm_increaseTime moved keeps its time after a restart: its
        # head is then ahead of the wall clock, and its own next proposal must not be "in the
        # future" (the offset lived in memory only, so a restarted dev node stalled).
        self.clock_offset = max(0.0, self.chain.head.timestamp - time.time()) if config.dev else 0.0
        self.votes = PendingVotes()  # qbft_proposeValidatorVote's, for the next proposals
        self._block_listeners: list[Callable[[QBFTHeader], None]] = []
        self._tx_listeners: list[Callable[[bytes], None]] = []
        # Transactions a JSON-RPC batch's `prechecked` block had checked by the worker, per
        # RPC thread (each thread answers one request at a time): raw -> checked transaction.
        self._prechecked = threading.local()
        # Started by the first batch of transactions (checked here meanwhile): a node that is
        # only read, or sent one transaction at a time, never pays for a second process;
        # `close` stops it.
        self.precheck: PrecheckWorker | None = None
        if config.precheck_worker:
            self.precheck = PrecheckWorker(chain_id=genesis.chain_id, block_gas_limit=genesis.gas_limit)

    # -- reads used by the pool and the RPC -------------------------------------------

    def head_state(self) -> HeadState:
        """The state after the head block, cached until the head moves or it has served
        HEAD_STATE_READS reads (py-evm keeps every account it read in memory)."""
        cached = self._head_state
        head = self.chain.head
        if cached is None or cached.header.hash != head.hash or cached.reads >= HEAD_STATE_READS:
            cached = HeadState(head, self.chain.state_at(head))
            self._head_state = cached
        cached.reads += 1
        return cached

    def read_account(self, address: bytes) -> tuple[int, int]:
        head = self.head_state()
        with head.lock:
            return head.state.get_nonce(Address(address)), head.state.get_balance(Address(address))

    def check_permission(self, tx: SignedTransactionAPI) -> None:
        """The pool's permissioning: members at the head, or a registration that succeeds."""
        membership = self.chain.membership
        if membership is None:
            return
        head = self.chain.head
        if membership.is_member(head, tx.sender):
            return
        if is_registration(tx):
            reason = membership.check_registration(head, tx)
            if reason is None:
                return
            raise PermissionDenied(f"registration from 0x{tx.sender.hex()} would fail: {reason}")
        raise PermissionDenied(f"sender account 0x{tx.sender.hex()} not authorized to send transactions")

    def is_committed(self, tx_hash: bytes) -> bool:
        return self.store.get(schema.tx_location_key(tx_hash)) is not None

    @property
    def is_validator(self) -> bool:
        return self.key is not None and self.key.address in self.chain.validators_after(self.chain.head)

    # -- writes ---------------------------------------------------------------------

    @contextlib.contextmanager
    def prechecked(self, raws: Sequence[bytes]) -> Iterator[None]:
        """Within the block, on this thread, `submit` of any of `raws` finds its stateless
        checks done: one round trip to the precheck worker for the whole batch, made here
        (node/rpc/jsonrpc.py wraps a batch's calls in it). Without a worker, or with one
        that cannot answer now, a no-op: `submit` checks each transaction itself."""
        checked = self._precheck(raws)
        previous = getattr(self._prechecked, "txs", None)
        self._prechecked.txs = checked
        try:
            yield
        finally:
            self._prechecked.txs = previous

    def _precheck(self, raws: Sequence[bytes]) -> dict[bytes, SignedTransactionAPI]:
        """raw -> transaction for those of `raws` the worker checked (none without one)."""
        if self.precheck is None or len(raws) < MIN_PRECHECK_BATCH:
            return {}
        answers = self.precheck.check(raws)
        if answers is None:
            return {}
        return {raw: tx for raw, tx in zip(raws, answers, strict=True) if tx is not None}

    def _admit(self, raw: bytes, checked: SignedTransactionAPI | None) -> SignedTransactionAPI:
        """The pool's admission, its stateless half skipped when the worker did it; a
        transaction the worker refused (or never saw) is checked here, which raises the
        refusal's own error."""
        if checked is None:
            return self.pool.add(raw)
        return self.pool.admit(checked, len(raw))

    def submit(self, raw: bytes) -> bytes:
        batch: dict[bytes, SignedTransactionAPI] | None = getattr(self._prechecked, "txs", None)
        checked = batch.pop(raw, None) if batch else None  # a single call: checked here
        tx = self._admit(raw, checked)
        self.metrics.tx_received.inc()
        for listener in self._tx_listeners:
            listener(tx.hash)
        self._gossip(raw)
        self._wake()
        return tx.hash

    def now(self) -> float:
        """The producer's clock: wall time, plus the offset `evm_increaseTime` adds on --dev."""
        return time.time() + self.clock_offset

    def increase_time(self, seconds: int) -> int:
        """Move a --dev chain's clock forward (Ganache's and anvil's evm_increaseTime), so
        deadlines can be crossed in tests and demos; the next block carries the new time."""
        if not self.config.dev:
            raise PermissionDenied("evm_increaseTime is available on a --dev chain only")
        self.clock_offset += seconds
        self._wake()
        return int(self.clock_offset)

    def on_block(self, listener: Callable[[QBFTHeader], None]) -> None:
        """Call `listener` after each committed block, on the listener loop (`listen_on`)."""
        self._block_listeners.append(listener)

    def on_transaction(self, listener: Callable[[bytes], None]) -> None:
        """Call `listener` with the hash of each transaction admitted to the pool."""
        self._tx_listeners.append(listener)

    def listen_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the block listeners on `loop` (the RPC's), whichever thread commits blocks."""
        self._listener_loop = loop

    def block_committed(self, header: QBFTHeader) -> None:
        """Called by consensus after each stored block (decided here or synced)."""
        loop = self._listener_loop
        if loop is None:
            self._notify_block(header)
            return
        try:
            loop.call_soon_threadsafe(self._notify_block, header)
        except RuntimeError:
            pass  # the RPC's loop is closed: the node is stopping

    def _notify_block(self, header: QBFTHeader) -> None:
        for listener in list(self._block_listeners):
            listener(header)

    def set_wake(self, wake: Callable[[], None]) -> None:
        """The consensus driver's hook: called when a transaction arrives or the clock moves."""
        self._wake = wake

    def set_gossip(self, gossip: Callable[[bytes], None]) -> None:
        """The consensus driver's hook: passes transactions submitted here on to peers."""
        self._gossip = gossip

    def add_from_peer(self, raws: Sequence[bytes]) -> int:
        """Admit transactions a peer gossiped (not passed on again); returns how many were new."""
        added = 0
        checked = self._precheck(raws)
        for raw in raws:
            try:
                tx = self._admit(raw, checked.get(raw))
            except NodeError:
                continue  # already known, nonce too low, not a member...: the peer's pool differs
            added += 1
            self.metrics.tx_received.inc()
            for listener in self._tx_listeners:
                listener(tx.hash)
        if added:
            self._wake()
        return added

    async def stopped(self) -> None:
        """Return once stop() has been called (on any thread's event loop)."""
        event = asyncio.Event()
        with self._stop_lock:
            if self._stop_requested:
                return
            self._stop_waiters.append((asyncio.get_running_loop(), event))
        await event.wait()

    def stop(self) -> None:
        """Ask the node to stop; safe from any thread (signal handlers call it)."""
        with self._stop_lock:
            self._stop_requested = True
            waiters, self._stop_waiters = self._stop_waiters, []
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass  # that loop has ended already

    def close(self) -> None:
        if self.precheck is not None:
            self.precheck.close()
        self.store.close()


def open_node(config: NodeConfig) -> Node:
    """Open an initialised data directory (genesis copy, LevelDB, optional validator key)."""
    genesis_path = config.data_dir / GENESIS_FILE
    if not genesis_path.exists():
        raise StorageError(f"{config.data_dir} is not initialised: run `ledger node init` first")
    genesis = Genesis.load(genesis_path)
    key_path = config.data_dir / KEY_FILE
    key = ValidatorKey(read_key_file(key_path)) if key_path.exists() else None
    return Node(config, genesis, key)


def read_key_file(path: Path) -> bytes:
    """A Besu-style key file: the secp256k1 private key as (0x-)hex text."""
    text = path.read_text().strip()
    text = text[2:] if text.startswith("0x") else text
    try:
        secret = bytes.fromhex(text)
    except ValueError as exc:
        raise StorageError(f"{path}: not a hex private key") from exc
    if len(secret) != 32:
        raise StorageError(f"{path}: private key must be 32 bytes, got {len(secret)}")
    return secret
