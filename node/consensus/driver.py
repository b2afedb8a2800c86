"""The consensus driver: where the pure QBFT machine meets the chain, the pool, timers and peers.

One thread (the "consensus" executor) owns every chain write and every call into the
machine, so a decision, a synced block and a proposal can never interleave. The event
loop owns the sockets and the timers and only hands work to that thread.

Per height:

1. start   - the machine starts height ``head + 1`` with the set after the head and the
             head's proposer (node/execution/chain.py follows votes);
2. timer   - the block timer fires on the block period's schedule, as Besu's does
             (``next_block_time``): transactions waiting when the height starts go one
             ``blockperiodseconds`` after the parent; one that arrives on an idle chain
             goes at a later tick of that schedule (at least MIN_TX_WAIT_SECONDS after
             it arrived), not the instant it arrives; with none waiting an empty block
             is due ``emptyblockperiodseconds`` after the parent. Then the round-0
             proposer proposes and everyone starts the round-0 timer;
3. agree   - PROPOSAL / PREPARE / COMMIT / ROUND-CHANGE, from the network, into the machine;
4. commit  - on a decision the block is sealed with the quorum's commit seals and stored
             in one write batch (node/execution/chain.py); then listeners fire on the loop and the
             new head is announced to peers;
5. sync    - when a peer is ahead, sealed blocks are fetched from it (node/consensus/sync.py)
             and imported here (seals checked, every transaction re-executed) before the
             machine moves on.

What the machine asks of the chain (build, check, commit a block) is
node/consensus/backend.py; when the block timer fires is node/consensus/blocktimer.py.

A lone validator is a 1-of-1 network: same machine, no peers, it decides alone.
Observers run no machine; they only sync and serve.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import rlp

from node.consensus import messages
from node.consensus.backend import NodeBackend
from node.consensus.blocktimer import MIN_TX_WAIT_SECONDS, next_block_time
from node.consensus.interface import Broadcast, Decided, Ignored, Lock, ScheduleTimeout
from node.consensus.machine import QBFTMachine
from node.consensus.sync import GET_BLOCKS, BlockSync, decode_block_request, read_blocks
from node.errors import NodeError
from node.execution.vm import QBFTHeader
from node.network import importer
from node.network.connection import Peer
from node.network.peers import PeerNetwork
from node.ops.config import FaultConfig
from node.service import Node
from node.storage import schema

log = logging.getLogger("ledger.consensus")

# Message code outside QBFT's own (0x12-0x15) on the node-to-node link (GET_BLOCKS,
# node/consensus/sync.py, is the other).
TX_BATCH = 0x01
CONSENSUS_CODES = frozenset({messages.PROPOSAL, messages.PREPARE, messages.COMMIT, messages.ROUND_CHANGE})
# Transactions gossiped to peers are batched for at most this long (or this many).
TX_GOSSIP_DELAY = 0.01
TX_GOSSIP_BATCH = 512
MAX_TX_BATCH = 4096  # transactions accepted in one incoming batch
# Threads for work peers ask of us (gossiped transactions, sync reads) and the jobs that
# may wait for them; more is refused (a TX_BATCH dropped, a GET_BLOCKS answered "busy").
PEER_WORKERS = 2
PEER_WORK_QUEUE = 64
# Consensus jobs (messages, timeouts) waiting for the consensus thread: beyond this,
# incoming messages are dropped (counted) rather than queued without bound.
MAX_CONSENSUS_BACKLOG = 4096
# Round timers double each round; past this multiple of requesttimeoutseconds they stop
# growing, so a chain that stalled for long recovers within a bounded time.
MAX_ROUND_TIMEOUT_FACTOR = 32


@dataclass
class _Outcome:
    """What one step on the consensus thread produced: actions for the loop, and the
    headers it committed."""

    actions: list[Any] = field(default_factory=list)
    committed: list[QBFTHeader] = field(default_factory=list)


class ConsensusDriver:
    """One node's consensus: the machine (validators only), its consensus thread, the
    block timer, sync and transaction gossip; see the module docstring."""

    def __init__(
        self,
        node: Node,
        network_factory: Callable[[ConsensusDriver], PeerNetwork] | None = None,
        faults: FaultConfig | None = None,
    ) -> None:
        self.node = node
        self.faults = faults
        self.backend = NodeBackend(node)
        self.backend.forge_seals = bool(faults and faults.forge_seals)
        self._equivocate = bool(faults and faults.equivocate)
        key = node.key
        self.machine: QBFTMachine | None = None
        if key is not None:
            self.machine = QBFTMachine(
                address=key.address,
                sign=key.sign,
                backend=self.backend,
                request_timeout=float(node.genesis.qbft.request_timeout),
            )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consensus")
        self._peer_executor = ThreadPoolExecutor(max_workers=PEER_WORKERS, thread_name_prefix="peer-work")
        self._peer_jobs = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._timers: dict[tuple[int, int], asyncio.TimerHandle] = {}
        self._tx_outbox: list[bytes] = []
        self._tx_flush: asyncio.TimerHandle | None = None
        self._block_timer_fired_for = -1
        self._backlog = 0
        self._connections: dict[str, Peer] = {}  # the connection each peer name was last seen on
        self._saved_lock: tuple[int, int, int | None] | None = None
        self._outcome = _Outcome()  # of the step running on the consensus thread
        self.network: PeerNetwork | None = network_factory(self) if network_factory else None
        self.sync: BlockSync | None = None
        if self.network is not None:
            self.sync = BlockSync(node.chain, self.network, self._import, faults.seed if faults else 0)
        node.consensus = self

    # -- status -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        machine = self.machine
        peers = self.network.peers() if self.network is not None else []
        return {
            "height": self.node.chain.head.block_number,
            "round": machine.round if machine is not None else None,
            "validator": self.node.is_validator,
            "address": "0x" + self.node.key.address.hex() if self.node.key else None,
            "syncing": self.syncing,
            "peers": [
                {"name": p.name, "address": "0x" + p.address.hex() if p.address else None, "height": p.height}
                for p in peers
            ],
        }

    def peer_count(self) -> int:
        return len(self.network.peers()) if self.network is not None else 0

    @property
    def syncing(self) -> bool:
        return self.sync is not None and self.sync.syncing

    def sync_progress(self) -> tuple[int, int, int] | None:
        """(starting, current, highest) block while syncing, else None (eth_syncing)."""
        return self.sync.progress() if self.sync is not None else None

    def hello_fields(self) -> tuple[int, bytes]:
        head = self.node.chain.head
        return head.block_number, head.hash

    # -- running --------------------------------------------------------------------

    async def run(self) -> None:
        """Until node.stop(): drive heights, sync, gossip. Always leaves the executor idle."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        self.node.set_wake(self.wake)
        if self.network is not None:
            self.node.set_gossip(self.gossip_transaction)
            await self.network.start()
        tasks = [asyncio.create_task(self._block_timer_loop(), name="block-timer")]
        if self.sync is not None:
            tasks.append(asyncio.create_task(self.sync.run(), name="sync"))
        try:
            if self.machine is not None:
                await self._run(self._start_height)
            await self.node.stopped()
        finally:
            self._stopping = True
            if self.sync is not None:
                self.sync.stopping = True
            self.wake()
            for timer in self._timers.values():
                timer.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.network is not None:
                await self.network.stop()
            # A block being committed finishes; nothing new starts.
            await loop.run_in_executor(self._executor, lambda: None)
            self._executor.shutdown(wait=True)
            self._peer_executor.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        """Something changed (a transaction, the clock, a new head): re-check the block timer."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:
            pass  # loop closed during shutdown

    async def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn` on the consensus thread, then carry out what it returned on the loop."""
        if self._stopping:
            return
        assert self._loop is not None
        try:
            outcome = await self._loop.run_in_executor(self._executor, self._on_thread, fn, args)
        except Exception:
            log.exception("consensus step %s failed", getattr(fn, "__name__", fn))
            return
        self._carry_out(outcome)

    def _on_thread(self, fn: Callable[..., Any], args: Sequence[Any]) -> _Outcome:
        outcome = self._outcome = _Outcome()
        pending = list(fn(*args) or [])
        while pending:
            action = pending.pop(0)
            if isinstance(action, Decided):
                if action.height != self.node.chain.head.block_number + 1:
                    continue  # already imported by sync
                try:
                    header = self.backend.commit(action)
                except Exception as exc:
                    # Should not happen (the block was validated before we prepared); if it
                    # does, a machine left "decided" would ignore everything: start the
                    # height again and look for the block at our peers.
                    log.error("decided block %d could not be committed: %s", action.height, exc)
                    pending.extend(self._start_height())
                    if self.sync is not None:
                        self.sync.wake()
                    continue
                log.info("committed block %d (round %d, %d seals)", header.block_number, action.round, len(action.seals))
                outcome.committed.append(header)
                pending.extend(self._start_height())
            else:
                outcome.actions.append(action)
        self._save_lock()
        return outcome

    def _start_height(self) -> list[Any]:
        if self.machine is None:
            return []
        head = self.node.chain.head
        self.backend.new_height()
        validators = self.node.chain.validators_after(head)
        height = head.block_number + 1
        resume = self._load_lock()
        if resume is not None and resume.height != height:
            resume = None
        if resume is not None:
            log.info("resuming height %d after round %d (prepared round %s)", height, resume.round, resume.prepared_round)
        return list(self.machine.start_height(height, validators, head.coinbase, resume))

    # The lock (see interface.Lock) is stored in the node's LevelDB with a synchronous write
    # at the end of every consensus step that changed it, before the step's messages are
    # handed to the network: a validator never forgets, across a crash, a round it spoke
    # in or a block it prepared.

    def _save_lock(self) -> None:
        machine = self.machine
        lock = machine.lock() if machine is not None else None
        if lock is None:
            return
        key = (lock.height, lock.round, lock.prepared_round)
        if key == self._saved_lock:
            return
        encoded = rlp.encode([
            lock.height, lock.round, 0 if lock.prepared_round is None else lock.prepared_round + 1,
            lock.prepared_block or b"", [messages.Prepare(p).encode() for p in lock.prepares],
        ])
        self.node.store.write_batch({schema.CONSENSUS_LOCK_KEY: encoded})
        self._saved_lock = key

    def _load_lock(self) -> Lock | None:
        raw = self.node.store.get(schema.CONSENSUS_LOCK_KEY)
        if raw is None:
            return None
        try:
            height, round_number, prepared_plus_one, block, prepares = rlp.decode(raw)
            prepared = int.from_bytes(prepared_plus_one, "big") - 1
            decoded = [messages.decode(messages.PREPARE, p) for p in prepares]
            return Lock(
                int.from_bytes(height, "big"), int.from_bytes(round_number, "big"),
                prepared if prepared >= 0 else None, block if prepared >= 0 else None,
                tuple(d.signed for d in decoded if isinstance(d, messages.Prepare)),
            )
        except Exception as exc:  # our own record; unreadable means a bug or a damaged disk
            log.error("stored consensus lock is unreadable (%s); starting the height afresh", exc)
            return None

    def _carry_out(self, outcome: _Outcome) -> None:
        if outcome.committed:
            head = outcome.committed[-1].block_number
            for key in [k for k in self._timers if k[0] <= head]:
                self._timers.pop(key).cancel()
        for header in outcome.committed:
            self.node.block_committed(header)
            if self.network is not None:
                self.network.announce(header.block_number, header.hash)
        if outcome.committed:
            self.wake()
        for action in outcome.actions:
            try:
                if isinstance(action, Broadcast):
                    self._broadcast(action)
                elif isinstance(action, ScheduleTimeout):
                    self._schedule(action)
                elif isinstance(action, Ignored):
                    self.node.metrics.messages_ignored.inc()
                    log.debug("ignored message from %s: %s", _hex(action.author), action.reason)
            except Exception:
                log.exception("could not carry out %s", type(action).__name__)
        if self.machine is not None:
            self.node.metrics.consensus_round.set(self.machine.round)

    def _broadcast(self, action: Broadcast) -> None:
        if self.network is None:
            return
        if self._equivocate and action.code == messages.PROPOSAL:
            self._equivocating_broadcast(action)
            return
        self.network.broadcast(action.code, action.data)

    def _schedule(self, action: ScheduleTimeout) -> None:
        assert self._loop is not None
        key = (action.height, action.round)
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        # Timers of heights below the head are useless; drop them so the table stays small.
        for stale in [k for k in self._timers if k[0] < action.height]:
            self._timers.pop(stale).cancel()
        seconds = min(action.seconds, MAX_ROUND_TIMEOUT_FACTOR * self.node.genesis.qbft.request_timeout)
        self._timers[key] = self._loop.call_later(seconds, lambda: asyncio.ensure_future(self._timeout(*key)))

    async def _timeout(self, height: int, round_number: int) -> None:
        self._timers.pop((height, round_number), None)
        machine = self.machine
        if machine is not None:
            if (height, round_number) == (machine.height, machine.round):
                log.info("round %d of height %d timed out", round_number, height)
                self.node.metrics.round_timeouts.inc()
            await self._run(machine.on_timeout, height, round_number)

    async def _block_timer_loop(self) -> None:
        """Fire the machine's block timer once per height, when `next_block_time` says."""
        while not self._stopping:
            try:
                await self._block_timer()
            except Exception:
                log.exception("block timer failed; restarting it")
                await asyncio.sleep(0.1)

    async def _block_timer(self) -> None:
        """The I/O around `next_block_time`: it notes, on the producer's clock
        (``node.now()``, which includes the --dev offset of ``evm_increaseTime``), when the
        height started and when transactions started waiting, and sleeps until the time
        that rule gives or until woken (a transaction, a clock change, a new head)."""
        assert self._wake is not None
        genesis = self.node.genesis
        period, empty_period = genesis.qbft.block_period, genesis.qbft.empty_block_period
        timed_height = -1  # the height the two times below belong to
        height_started = 0.0
        waiting_since: float | None = None
        while not self._stopping:
            self._wake.clear()
            head = self.node.chain.head
            height = head.block_number + 1
            now = self.node.now()
            if height != timed_height:
                timed_height, height_started, waiting_since = height, now, None
            # A transaction that left the pool (included elsewhere, replaced) stops the wait;
            # the next one to arrive waits for the next tick again.
            if not self.node.pool.has_ready():
                waiting_since = None
            elif waiting_since is None:
                waiting_since = now
            wait: float | None = None
            if self.machine is not None and self._block_timer_fired_for != height and self.node.is_validator:
                due = next_block_time(
                    head.timestamp, period, empty_period, height_started, waiting_since, MIN_TX_WAIT_SECONDS,
                )
                if now >= due:
                    self._block_timer_fired_for = height
                    await self._run(self.machine.on_block_timer)
                    continue
                wait = due - now
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, wait) if wait is not None else None)
            except TimeoutError:
                pass

    # -- network input ---------------------------------------------------------------

    def on_message(self, peer: Peer, code: int, payload: bytes) -> None:
        if self._stopping:
            return
        if code in CONSENSUS_CODES:
            if self.machine is None:
                return
            try:
                height, _, author = messages.peek(code, payload)
            except messages.MessageError as exc:
                self.node.metrics.messages_ignored.inc()
                log.debug("undecodable consensus message from %s: %s", peer.name, exc)
                return
            if not self.machine.worth_decoding(height, author):
                self.node.metrics.messages_ignored.inc()
                return
            if self._backlog >= MAX_CONSENSUS_BACKLOG:
                self.node.metrics.messages_ignored.inc()
                log.debug("consensus backlog full: dropped a message from %s", peer.name)
                return
            self._backlog += 1
            asyncio.ensure_future(self._consensus_message(peer, code, payload))
        elif code == TX_BATCH:
            asyncio.ensure_future(self._add_gossiped(peer, payload))
        else:
            log.debug("peer %s sent unknown message code 0x%02x", peer.name, code)

    async def _consensus_message(self, peer: Peer, code: int, payload: bytes) -> None:
        try:
            await self._run(self._on_consensus_message, peer, code, payload)
        finally:
            self._backlog -= 1  # on the loop, like the increment

    def _on_consensus_message(self, peer: Peer, code: int, payload: bytes) -> list[Any]:
        """On the consensus thread: the machine checks the message; only one it did not
        refuse is relayed to the other peers (so a validator that lost its link to the
        author still hears it, and junk is not amplified; the transport's seen-set stops
        echoes)."""
        assert self.machine is not None
        actions = list(self.machine.on_message(code, payload))
        if self.network is not None and not any(isinstance(a, Ignored) for a in actions):
            self.network.broadcast(code, payload, exclude=peer)
        return actions

    async def _add_gossiped(self, peer: Peer, payload: bytes) -> None:
        try:
            raws = rlp.decode(payload)
            if not isinstance(raws, list) or len(raws) > MAX_TX_BATCH or not all(isinstance(r, bytes) for r in raws):
                raise ValueError("not a list of transactions")
        except Exception as exc:
            log.info("peer %s sent a malformed transaction batch: %s", peer.name, exc)
            return
        try:
            await self._peer_work(self.node.add_from_peer, raws)
        except NodeError as exc:
            log.info("dropped a transaction batch from %s: %s", peer.name, exc)

    def gossip_transaction(self, raw: bytes) -> None:
        """Called from RPC threads with each transaction submitted here."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._queue_tx, raw)
        except RuntimeError:
            pass

    def _queue_tx(self, raw: bytes) -> None:
        self._tx_outbox.append(raw)
        if len(self._tx_outbox) >= TX_GOSSIP_BATCH:
            self._flush_txs()
        elif self._tx_flush is None and self._loop is not None:
            self._tx_flush = self._loop.call_later(TX_GOSSIP_DELAY, self._flush_txs)

    def _flush_txs(self) -> None:
        if self._tx_flush is not None:
            self._tx_flush.cancel()
            self._tx_flush = None
        batch, self._tx_outbox = self._tx_outbox, []
        if batch and self.network is not None:
            self.network.broadcast(TX_BATCH, rlp.encode(batch))

    def on_peer_status(self, peer: Peer) -> None:
        if self.network is not None:
            self.node.metrics.peers.set(len(self.network.peers()))
        if self._connections.get(peer.name) is not peer:
            # A peer (re)connected: it may have missed our round change while it was away.
            self._connections[peer.name] = peer
            if self.machine is not None:
                asyncio.ensure_future(self._run(self._resend_round_change, peer))
        if self.sync is not None:
            self.sync.notice(peer)

    def _resend_round_change(self, peer: Peer) -> list[Any]:
        assert self.machine is not None
        own = self.machine.own_round_change()
        if own is not None and self.network is not None:
            self.network.send(peer, messages.ROUND_CHANGE, own)
        return []

    async def on_request(self, peer: Peer, code: int, payload: bytes) -> bytes:
        if code != GET_BLOCKS:
            raise NodeError(f"unknown request code 0x{code:02x}")
        start, count = decode_block_request(payload)
        return await self._peer_work(read_blocks, self.node.chain, start, count)

    async def _peer_work(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Work peers ask of us (admitting their transactions, reading blocks for their
        sync) runs in PEER_WORKERS threads of its own, at most PEER_WORK_QUEUE jobs waiting:
        beyond that it is refused, so peers cannot queue unbounded work or starve the
        RPC's threads."""
        if self._peer_jobs >= PEER_WORK_QUEUE:
            raise NodeError("busy: too much peer work queued")
        self._peer_jobs += 1
        try:
            assert self._loop is not None
            return await self._loop.run_in_executor(self._peer_executor, lambda: fn(*args))
        finally:
            self._peer_jobs -= 1

    # -- sync: blocks a peer sent, imported on the consensus thread ------------------

    async def _import(self, peer: Peer, blocks: list[bytes]) -> int:
        """Import `blocks` (node/consensus/sync.py fetched them from `peer`) in order on
        the consensus thread; how many were committed."""
        before = self.node.chain.head.block_number
        await self._run(self._import_on_thread, peer.name, blocks)
        return self.node.chain.head.block_number - before

    def _import_on_thread(self, peer_name: str, blocks: list[bytes]) -> list[Any]:
        chain = self.node.chain
        imported = 0
        try:
            for data in blocks:
                try:
                    wire = importer.decode_block(data)
                    if wire.header.block_number != chain.head.block_number + 1:
                        continue
                    started = time.perf_counter()
                    header = importer.import_sealed(chain, wire)
                except Exception as exc:  # InvalidBlock, or anything a hostile block provokes
                    log.warning("refused block from %s: %s", peer_name, exc)
                    break
                self.node.pool.on_block(wire.transactions, ())
                self.node.metrics.block_committed(header, len(wire.transactions), time.perf_counter() - started)
                self.node.metrics.blocks_synced.inc()
                self._outcome.committed.append(header)
                imported += 1
        finally:
            if imported:
                log.info("synced %d blocks from %s, head %d", imported, peer_name, chain.head.block_number)
        # Whatever happened, the machine follows the head it has now.
        return self._start_height() if imported else []

    # -- test-only faults -----------------------------------------------------------

    def _equivocating_broadcast(self, action: Broadcast) -> None:
        """Send the real proposal to half the peers and a conflicting one to the rest."""
        assert self.network is not None and self.node.key is not None
        peers = self.network.peers()
        try:
            other = self._conflicting_proposal(action.data)
        except Exception:
            log.exception("could not build a conflicting proposal")
            other = action.data
        log.warning("TEST FAULT: equivocating, conflicting proposals sent to %d peers", len(peers) // 2)
        for index, peer in enumerate(sorted(peers, key=lambda p: p.name)):
            self.network.send(peer, action.code, action.data if index % 2 == 0 else other)

    def _conflicting_proposal(self, data: bytes) -> bytes:
        assert self.node.key is not None
        proposal = messages.decode(messages.PROPOSAL, data)
        assert isinstance(proposal, messages.Proposal)
        block = self.backend.block(proposal.block)
        # The same parent, a different block: one second later, so a different hash.
        header = block.header.copy(timestamp=block.header.timestamp + 1)
        conflicting = importer.encode_block(cast(QBFTHeader, header), block.transactions)
        return messages.resign_proposal(proposal, conflicting, self.node.key.sign).encode()


def _hex(value: bytes | None) -> str:
    return "0x" + value.hex() if value else "-"
