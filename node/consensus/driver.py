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
5. sync    - when a peer is ahead, sealed blocks are fetched from it and imported
             (seals checked, every transaction re-executed) before the machine moves on.

A lone validator is a 1-of-1 network: same machine, no peers, it decides alone.
Observers run no machine; they only sync and serve.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, cast

import rlp
from eth_hash.auto import keccak

from evidence import qbft
from node.network import importer
from node.storage import schema
from node.execution.chain import BuiltBlock
from node.consensus import messages
from node.consensus.machine import (
    Backend,
    Broadcast,
    Decided,
    Ignored,
    InvalidProposal,
    Lock,
    QBFTMachine,
    ScheduleTimeout,
)
from node.errors import InvalidBlock, LedgerError, NotFound
from node.consensus.sealing import VANITY, with_seals
from node.execution.txpool import PoolEntry
from node.execution.vm import QBFTHeader
from node.network.peers import Peer, PeerNetwork
from node.ops.config import FaultConfig
from node.service import Node

log = logging.getLogger("ledger.consensus")

# Message codes outside QBFT's own (0x12-0x15) on the node-to-node link.
TX_BATCH = 0x01
GET_BLOCKS = 0x21
CONSENSUS_CODES = frozenset({messages.PROPOSAL, messages.PREPARE, messages.COMMIT, messages.ROUND_CHANGE})
# Sync: blocks per request, and the response size we stop adding blocks at.
SYNC_BATCH_BLOCKS = 64
SYNC_RESPONSE_BYTES = 8 * 1024 * 1024
SYNC_REQUEST_TIMEOUT = 15.0
# How often the sync loop looks at peers even when nobody announced anything.
SYNC_POLL_SECONDS = 1.0
# A peer one block ahead is left this long to let our own commit land before we sync.
SYNC_GRACE_SECONDS = 0.5
# Transactions gossiped to peers are batched for at most this long (or this many).
TX_GOSSIP_DELAY = 0.01
TX_GOSSIP_BATCH = 512
MAX_TX_BATCH = 4096  # transactions accepted in one incoming batch
# Decoded blocks kept per height (the proposal, re-proposals, conflicting proposals).
DECODE_CACHE = 16
# Block size in a multi-validator network is bounded by execution time, not only gas:
# a proposal must be executed by the proposer and then by every other validator (on
# machines that may be busy) before the round timer runs out, or the round changes and
# the work is lost. One execution is kept to this share of requesttimeoutseconds.
EXECUTION_SHARE_OF_TIMEOUT = 0.25
FIRST_BLOCK_GAS = 20_000_000     # before anything was measured (~200 contract calls)
MIN_BLOCK_GAS = 2_000_000
MIN_BUDGET_SAMPLE_GAS = 500_000  # blocks with less are not measured
BUDGET_WEIGHT = 0.3
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
# A peer that served a bad or no sync answer is not asked again for this long.
SYNC_PEER_PENALTY_SECONDS = 10.0
# A transaction that arrives into an empty pool (an idle chain) is not sealed at a
# block-timer tick less than this long after it arrived, but at the tick after: its
# receipt then never appears within a client's request cache of the nonce it was built
# with (ethers v6 caches every request, eth_getTransactionCount(addr, "pending")
# included, for 250 ms by default: a block sealed sooner sends ethers' next transaction
# out with the same nonce). Without it (0: Besu's timing exactly) a tick 14-25 ms after
# an ethers send is still inside that window, about one send in eighty on a 1 s period.
# With it, a quarter of such sends wait one period more (mean latency ~0.75 s, not 0.5 s).
MIN_TX_WAIT_SECONDS = 0.25


class ExecutionBudget:
    """How much gas one block may carry so that executing it takes about `seconds` here:
    learnt from this node's own block builds and proposal checks (an exponentially
    weighted average of seconds per unit of the transactions' gas limits, which is what
    the pool selects by)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.per_gas: float | None = None

    def observe(self, gas: int, seconds: float) -> None:
        if gas < MIN_BUDGET_SAMPLE_GAS:
            return  # empty and tiny blocks are mostly fixed cost; they say little per gas
        sample = seconds / gas
        previous = self.per_gas
        self.per_gas = sample if previous is None else previous + BUDGET_WEIGHT * (sample - previous)

    def max_gas(self) -> int:
        if self.per_gas is None:
            return FIRST_BLOCK_GAS
        return max(MIN_BLOCK_GAS, int(self.seconds / self.per_gas))


@dataclass
class _Outcome:
    actions: list[Any] = field(default_factory=list)
    committed: list[QBFTHeader] = field(default_factory=list)


class NodeBackend(Backend):
    """What the machine asks of the chain. Runs on the consensus thread only."""

    def __init__(self, driver: ConsensusDriver) -> None:
        self._node = driver.node
        # Executed blocks of this height by block hash (which ignores the round, so a
        # re-proposal finds the execution of the original proposal).
        self._built: dict[bytes, BuiltBlock] = {}
        self._decode = functools.lru_cache(maxsize=DECODE_CACHE)(importer.decode_block)
        self.forge_seals = False
        self.execution_budget = ExecutionBudget(
            EXECUTION_SHARE_OF_TIMEOUT * driver.node.genesis.qbft.request_timeout
        )

    def new_height(self) -> None:
        self._built.clear()

    def block(self, data: bytes) -> importer.WireBlock:
        return self._decode(data)

    def create_block(self, height: int, round: int) -> bytes:
        node = self._node
        chain = node.chain
        parent = chain.head
        if parent.block_number + 1 != height:
            raise InvalidProposal(f"asked to build height {height} on head {parent.block_number}")
        assert node.key is not None
        tally = chain.tally_after(parent)
        validators = tally.validators
        gas_budget = parent.gas_limit
        if len(validators) > 1:
            # Every other validator re-executes the block before it prepares, within the
            # round timer: keep the work of one execution inside a share of it.
            gas_budget = min(gas_budget, self.execution_budget.max_gas())
        entries = node.pool.select(gas_budget)
        if not entries and gas_budget < parent.gas_limit:
            entries = node.pool.select(parent.gas_limit)[:1]  # one large transaction still goes
        entries = _within_bytes(entries, importer.MAX_BLOCK_BYTES - importer.BLOCK_OVERHEAD_BYTES)
        timestamp = max(parent.timestamp + node.genesis.qbft.block_period, int(node.now()))
        vote = node.votes.vote_for_proposal(validators, tally.ballots_by(node.key.address))
        extra = qbft.ExtraData(VANITY, tuple(validators), vote, round, ())
        started = time.perf_counter()
        built = chain.build_block(
            [e.tx for e in entries], timestamp=timestamp, coinbase=node.key.address, extra=extra, parent=parent
        )
        self.execution_budget.observe(sum(tx.gas for tx in built.transactions), time.perf_counter() - started)
        if built.rejected:
            node.pool.on_block((), [r.transaction for r in built.rejected])
            for rejected in built.rejected:
                log.warning("dropped transaction 0x%s: %s", rejected.transaction.hash.hex(), rejected.reason)
        self._built[built.header.hash] = built
        return importer.encode_block(built.header, built.transactions)

    def validate_block(self, block: bytes, height: int, round: int, proposer: bytes) -> None:
        node = self._node
        try:
            wire = self.block(block)  # size, encoding, body against the header's root
        except InvalidBlock as exc:
            raise InvalidProposal(str(exc)) from exc
        header = wire.header
        parent = node.chain.head
        if header.block_number != height or parent.block_number + 1 != height:
            raise InvalidProposal(f"block {header.block_number} proposed for height {height} on head {parent.block_number}")
        if importer.round_of(header) != round:
            raise InvalidProposal(f"block carries round {importer.round_of(header)}, proposed in round {round}")
        if header.coinbase != proposer:
            raise InvalidProposal(f"coinbase 0x{header.coinbase.hex()} is not the round's proposer 0x{proposer.hex()}")
        if header.timestamp < parent.timestamp + node.genesis.qbft.block_period:
            raise InvalidProposal(f"timestamp {header.timestamp} earlier than parent + block period")
        if header.timestamp > node.now() + importer.MAX_FUTURE_SECONDS:
            raise InvalidProposal(f"timestamp {header.timestamp} is in the future")
        # Executed blocks are kept by block hash, which ignores the round: a block
        # re-proposed in a later round has the same transactions, state and receipts.
        if header.hash in self._built:
            return  # our own proposal, or one we already executed
        started = time.perf_counter()
        try:
            self._built[header.hash] = importer.execute(node.chain, wire, parent)
            self.execution_budget.observe(sum(tx.gas for tx in wire.transactions), time.perf_counter() - started)
        except InvalidBlock as exc:
            raise InvalidProposal(f"{exc.step}: {exc.detail}") from exc

    def block_digest(self, block: bytes) -> bytes:
        return self.block(block).header.hash

    def with_round(self, block: bytes, round: int) -> bytes:
        return importer.with_round(self.block(block), round).encode()

    def seal_digest(self, block: bytes) -> bytes:
        digest = qbft.commit_seal_digest(self.block(block).header.fields_rlp())
        if self.forge_seals:
            # Test-only fault: a validator whose commit seals sign something else. Honest
            # validators must refuse its commits (and so must every verifier of the block).
            return keccak(b"forged commit seal" + digest)
        return digest

    def commit(self, decided: Decided) -> QBFTHeader:
        """Seal the decided block with the quorum's seals and store it (one write batch)."""
        node = self._node
        started = time.perf_counter()
        wire = self.block(decided.block)
        sealed = with_seals(wire.header, decided.seals)
        built = self._built.get(wire.header.hash)
        if built is None:
            built = importer.execute(node.chain, wire, node.chain.head)
        node.chain.commit(sealed, built, [tx.sender for tx in built.transactions])
        node.pool.on_block(built.transactions, [r.transaction for r in built.rejected])
        node.metrics.block_committed(sealed, len(built.transactions), time.perf_counter() - started)
        return sealed


class ConsensusDriver:
    def __init__(
        self,
        node: Node,
        network_factory: Callable[[ConsensusDriver], PeerNetwork] | None = None,
        faults: FaultConfig | None = None,
    ) -> None:
        self.node = node
        self.faults = faults
        self.backend = NodeBackend(self)
        self.backend.forge_seals = bool(faults and faults.forge_seals)
        self._equivocate = bool(faults and faults.equivocate)
        self._random = random.Random(faults.seed if faults else 0)
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
        self._sync_wake: asyncio.Event | None = None
        self._stopping = False
        self._timers: dict[tuple[int, int], asyncio.TimerHandle] = {}
        self._tx_outbox: list[bytes] = []
        self._tx_flush: asyncio.TimerHandle | None = None
        self._block_timer_fired_for = -1
        self._backlog = 0
        self._connections: dict[str, Peer] = {}  # the connection each peer name was last seen on
        self._saved_lock: tuple[int, int, int | None] | None = None
        self._sync_penalties: dict[str, float] = {}
        self.syncing = False
        self._sync_started_at = 0
        self._outcome = _Outcome()  # of the step running on the consensus thread
        self.network: PeerNetwork | None = network_factory(self) if network_factory else None
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

    def sync_progress(self) -> tuple[int, int, int] | None:
        """(starting, current, highest) block while syncing, else None (eth_syncing)."""
        if not self.syncing or self.network is None:
            return None
        current = self.node.chain.head.block_number
        highest = max([p.height for p in self.network.peers()] + [current])
        return self._sync_started_at, current, highest

    def hello_fields(self) -> tuple[int, bytes]:
        head = self.node.chain.head
        return head.block_number, head.hash

    # -- running --------------------------------------------------------------------

    async def run(self) -> None:
        """Until node.stop(): drive heights, sync, gossip. Always leaves the executor idle."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        self._sync_wake = asyncio.Event()
        self.node.set_wake(self.wake)
        if self.network is not None:
            self.node.set_gossip(self.gossip_transaction)
            await self.network.start()
        tasks = [asyncio.create_task(self._block_timer_loop(), name="block-timer")]
        if self.network is not None:
            tasks.append(asyncio.create_task(self._sync_loop(), name="sync"))
        try:
            if self.machine is not None:
                await self._run(self._start_height)
            await self.node.stopped()
        finally:
            self._stopping = True
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
                    self._wake_sync()
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

    # The lock (see machine.Lock) is stored in the node's LevelDB with a synchronous write
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
            except asyncio.TimeoutError:
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
        except LedgerError as exc:
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
        if peer.height > self.node.chain.head.block_number and self._sync_wake is not None:
            self._sync_wake.set()

    def _resend_round_change(self, peer: Peer) -> list[Any]:
        assert self.machine is not None
        own = self.machine.own_round_change()
        if own is not None and self.network is not None:
            self.network.send(peer, messages.ROUND_CHANGE, own)
        return []

    async def on_request(self, peer: Peer, code: int, payload: bytes) -> bytes:
        if code != GET_BLOCKS:
            raise LedgerError(f"unknown request code 0x{code:02x}")
        try:
            start_raw, count_raw = rlp.decode(payload)
            start, count = int.from_bytes(start_raw, "big"), int.from_bytes(count_raw, "big")
        except Exception as exc:
            raise LedgerError(f"malformed block request: {exc}") from exc
        return await self._peer_work(self._read_blocks, start, min(count, SYNC_BATCH_BLOCKS))

    async def _peer_work(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Work peers ask of us (admitting their transactions, reading blocks for their
        sync) runs in PEER_WORKERS threads of its own, at most PEER_WORK_QUEUE jobs waiting:
        beyond that it is refused, so peers cannot queue unbounded work or starve the
        RPC's threads."""
        if self._peer_jobs >= PEER_WORK_QUEUE:
            raise LedgerError("busy: too much peer work queued")
        self._peer_jobs += 1
        try:
            assert self._loop is not None
            return await self._loop.run_in_executor(self._peer_executor, lambda: fn(*args))
        finally:
            self._peer_jobs -= 1

    def _read_blocks(self, start: int, count: int) -> bytes:
        chain = self.node.chain
        blocks: list[bytes] = []
        size = 0
        for height in range(start, start + count):
            try:
                header = chain.header_by_number(height)
            except NotFound:
                break
            transactions, _ = chain.block_transactions(header)
            encoded = importer.encode_block(header, transactions)
            if blocks and size + len(encoded) > SYNC_RESPONSE_BYTES:
                break
            blocks.append(encoded)
            size += len(encoded)
        return rlp.encode(blocks)

    # -- sync -------------------------------------------------------------------------

    def _wake_sync(self) -> None:
        loop, wake = self._loop, self._sync_wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    async def _sync_loop(self) -> None:
        assert self._sync_wake is not None
        while not self._stopping:
            try:
                await asyncio.wait_for(self._sync_wake.wait(), timeout=SYNC_POLL_SECONDS)
            except asyncio.TimeoutError:
                pass
            self._sync_wake.clear()
            try:
                await self._sync_from_peers()
            except Exception:
                log.exception("sync pass failed")
            finally:
                self.syncing = False

    async def _sync_from_peers(self) -> None:
        """Fetch blocks while a peer claims to be ahead. A peer whose answer fails or is
        refused is not asked again for SYNC_PEER_PENALTY_SECONDS, so a peer that lies about
        its height cannot keep us from syncing from the honest ones."""
        assert self.network is not None
        while not self._stopping:
            head = self.node.chain.head.block_number
            now = time.monotonic()
            ahead = [p for p in self.network.peers()
                     if p.height > head and self._sync_penalties.get(p.name, 0.0) <= now]
            if not ahead:
                return
            if not self.syncing and max(p.height for p in ahead) == head + 1:
                # One block behind is the normal state for a moment after each block:
                # our own decision is usually milliseconds away. Sync only if it stays.
                await asyncio.sleep(SYNC_GRACE_SECONDS)
                if self.node.chain.head.block_number > head:
                    continue
            if not self.syncing:
                self._sync_started_at = head
            self.syncing = True
            peer = max(ahead, key=lambda p: (p.height, self._random.random()))
            count = min(SYNC_BATCH_BLOCKS, peer.height - head)
            try:
                payload = await self.network.request(
                    peer, GET_BLOCKS, rlp.encode([head + 1, count]), timeout=SYNC_REQUEST_TIMEOUT
                )
                blocks = rlp.decode(payload)
                if not isinstance(blocks, list) or not blocks or not all(isinstance(b, bytes) for b in blocks):
                    raise ValueError("response is not a non-empty list of blocks")
            except Exception as exc:
                log.info("sync from %s failed: %s", peer.name, exc)
                self._sync_penalties[peer.name] = time.monotonic() + SYNC_PEER_PENALTY_SECONDS
                continue
            imported = await self._import(peer, blocks)
            if not imported:
                self._sync_penalties[peer.name] = time.monotonic() + SYNC_PEER_PENALTY_SECONDS

    async def _import(self, peer: Peer, blocks: list[bytes]) -> int:
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


def next_block_time(
    head_timestamp: int,
    period: int,
    empty_period: int,
    height_started: float,
    waiting_since: float | None,
    min_wait: float = 0.0,
) -> float:
    """When the block timer for the head's child fires, on the producer's clock.

    Besu's rule (QbftBlockHeightManager.handleBlockTimerExpiry with BlockTimer): the timer
    first expires ``period`` after the parent's timestamp, or at once if the height started
    later than that; at an expiry with no transaction to include (and the empty-block
    period not reached) it is re-armed one ``period`` on. So the timer ticks on a schedule,

        anchor + j * period,  j >= 0,   anchor = max(head_timestamp + period, height_started)

    and transactions that were already waiting when the height started (`waiting_since` <=
    `height_started`) go at the anchor: a busy chain makes a block every period. One that
    arrives later, into an empty pool (an idle chain), goes at the first tick at least
    `min_wait` after it arrived (MIN_TX_WAIT_SECONDS in the node; 0 is Besu's timing
    exactly), not the instant it arrives. With nothing waiting (`waiting_since` None) an empty block is due
    ``empty_period`` after the parent, and a waiting transaction never makes the block
    later than that.
    """
    empty_due = float(head_timestamp + empty_period)
    if waiting_since is None:
        return empty_due
    anchor = max(float(head_timestamp + period), height_started)
    earliest = waiting_since if waiting_since <= height_started else waiting_since + min_wait
    ticks = max(0, math.ceil((earliest - anchor) / period))
    return min(empty_due, anchor + ticks * period)


def _within_bytes(entries: list[PoolEntry], limit: int) -> list[PoolEntry]:
    """The longest prefix of `entries` whose raw transactions fit in `limit` bytes."""
    total = 0
    for index, entry in enumerate(entries):
        total += entry.size
        if total > limit:
            return entries[:index]
    return entries


def _hex(value: bytes | None) -> str:
    return "0x" + value.hex() if value else "-"
