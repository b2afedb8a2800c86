"""What one caller may make the node pay for, and how expensive calls wait their turn.

A consortium node is shared by organisations that do not fully trust each other's
clients, so every cost a caller can impose has a named cap, charged per request and per
caller (geth's `--rpc.gascap`, `--rpc.batch-request-limit`; Besu's per-connection limits):

* **Gas.** Each eth_call / eth_estimateGas execution runs with at most `call_gas_cap`
  gas; all executions of one HTTP request or WebSocket message (a batch, or the runs of
  an estimateGas search) together at most `request_gas_cap`; and each caller draws its
  executions from a bucket that holds `caller_gas_burst` and refills at
  `caller_gas_per_second`. An execution reserves its gas limit up front and gets back what
  it did not use, so concurrent calls of one caller cannot overdraw the bucket.
* **Queueing.** Calls that can cost seconds (`EXPENSIVE_METHODS`) run in a small pool of
  their own, at most `expensive_in_flight_per_caller` of a caller's at a time and at most
  `expensive_waiting_per_caller` waiting; the cheap ones (`eth_blockNumber`, receipts,
  nonces...) never wait behind them. Consensus runs on its own thread and event loop
  (node/ops/runner.py) and waits for neither.
* **Filters and sockets.** Each caller may hold `filters_per_caller` filters and
  `websockets_per_caller` WebSocket connections, within the node-wide caps.

A caller is its token (`Principal.token_id`); without one (authentication off, or the
public methods) it is the client's address for gas and sockets, and the client's
connection for filters (`client_key`).
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from node.errors import ConfigError, LimitExceeded
from node.rpc.callstates import CALL_STATES_KEPT
from node.storage.blobs import MAX_CALLER_BLOBS, MAX_CALLER_BYTES, MAX_STORE_BLOBS, MAX_STORE_BYTES, MIN_FREE_BYTES
from node.storage.members import MAX_MEMBER_CALLER_BYTES, MAX_MEMBER_STORE_BYTES

# The executions of eth_call / eth_estimateGas; their gas is charged to the caller.
EXECUTING_METHODS = frozenset({"eth_call", "eth_estimateGas"})
# Calls whose cost grows with their parameters or the chain (execution, log scans over up
# to 10,000 blocks, proofs, whole blocks' receipts): they run in the expensive pool.
EXPENSIVE_METHODS = EXECUTING_METHODS | frozenset({
    "eth_getLogs", "eth_getFilterLogs", "eth_getFilterChanges", "eth_getProof", "eth_feeHistory",
    "eth_getBlockReceipts", "debug_getRawBlock", "debug_getRawReceipts", "ledger_getValidatorHistory",
})
T = TypeVar("T")

# Callers whose bucket is full (idle for a while) are forgotten once this many are kept, so
# a stream of new callers (connections without tokens) cannot grow the table without bound.
MAX_TRACKED_CALLERS = 10_000
# -- the REST feed (node/rpc/rest/); the blob store's quota defaults are node/storage/blobs.py's --
# Open feed streams per node. Each costs a socket and, while it catches up, index reads
# in the thread pool; beyond this, a client is told to come back (503, Retry-After).
MAX_FEED_STREAMS = 256
# Open feed streams per caller (its token; without one, its client address). A follower
# needs one stream, a desk following a few topic sets separately a handful; 8 lets a
# caller reconnect while its old stream is still being noticed as gone, and 32 callers at
# their cap still leave none of the others without one.
MAX_FEED_STREAMS_PER_CALLER = 8

# No limit is set above this (about 10^15): a typo cannot turn a cap into no cap at all.
MAX_LIMIT_VALUE = 10**15


@dataclass(frozen=True)
class RpcLimits:
    """The caps of the node's HTTP surface (JSON-RPC, WebSocket, feed, blob store); each is
    settable by name (`overridden`). The blob quota's own checks are node.blobs.BlobQuota's."""

    # Gas of one execution. geth's --rpc.gascap is 50M with a 5 s --rpc.evmtimeout; py-evm
    # runs ~2-4M gas/s here, so 10M bounds one hostile loop to a few seconds of one thread.
    call_gas_cap: int = 10_000_000
    # Gas of all executions of one request (a batch): one full call's worth, so a batch
    # holds an expensive thread no longer than one capped call would; a batch of view calls
    # (~10-100k gas each) stays far below. An estimateGas search counts once, as its first
    # run (GasBudget.reserve's `repeat`): its further runs are paid from the caller's bucket.
    request_gas_cap: int = 10_000_000
    # A caller's sustained gas rate and its burst. A wallet's estimateGas of a contract
    # call with certificate checks runs ~0.5-1M gas, and a trading center sends several a
    # second (the SDK estimates every write); py-evm runs ~2-4M gas/s on one core here, so
    # 4M gas/s is about the one expensive thread a caller may hold anyway, and the burst is
    # four full requests. What the bucket adds: a caller that loops for minutes is held to
    # that rate whatever it sends, and a new token starts with a bounded allowance.
    caller_gas_per_second: int = 4_000_000
    caller_gas_burst: int = 40_000_000
    # Blocks the log queries of one request may scan (eth_getLogs, filter polls) in all: two
    # full 10,000-block ranges. A batch of a thousand empty full-range scans would otherwise
    # hold an expensive thread for ten million block reads without matching a log.
    request_block_cap: int = 20_000
    # Expensive calls of one caller running at once (one of the EXPENSIVE_WORKER_THREADS, so
    # another caller always finds the other free), and waiting beyond those.
    expensive_in_flight_per_caller: int = 1
    expensive_waiting_per_caller: int = 16
    # Idle states kept at the head for eth_call / eth_estimateGas (node/rpc/callstates.py):
    # one per expensive thread. 0 keeps none: every call builds a fresh state.
    call_states_kept: int = CALL_STATES_KEPT
    # Filters (eth_newFilter ...) one caller may hold; the node-wide cap is MAX_FILTERS.
    filters_per_caller: int = 100
    # WebSocket connections one caller (token, or client address) may hold, and the node's.
    websockets_per_caller: int = 32
    max_websockets: int = 1024
    # Feed (Server-Sent Events) streams, and the blob store: the reasons are beside the
    # defaults above.
    max_feed_streams: int = MAX_FEED_STREAMS
    feed_streams_per_caller: int = MAX_FEED_STREAMS_PER_CALLER
    blob_store_bytes: int = MAX_STORE_BYTES
    blob_store_count: int = MAX_STORE_BLOBS
    blob_caller_bytes: int = MAX_CALLER_BYTES
    blob_caller_count: int = MAX_CALLER_BLOBS
    blob_min_free_bytes: int = MIN_FREE_BYTES
    # Batch members handed to the node for lookup by digest (node/storage/members.py):
    # the node's total and one caller's share; the free-disk reserve is the blob store's.
    member_store_bytes: int = MAX_MEMBER_STORE_BYTES
    member_caller_bytes: int = MAX_MEMBER_CALLER_BYTES

    def __post_init__(self) -> None:
        for name in ("call_gas_cap", "request_gas_cap", "caller_gas_per_second", "caller_gas_burst",
                     "expensive_in_flight_per_caller", "filters_per_caller", "websockets_per_caller",
                     "max_websockets", "max_feed_streams", "feed_streams_per_caller", "request_block_cap"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.expensive_waiting_per_caller < 0:
            raise ValueError("expensive_waiting_per_caller must not be negative")
        if self.call_states_kept < 0:
            raise ValueError("call_states_kept must not be negative")
        if self.caller_gas_burst < self.call_gas_cap:
            raise ValueError("caller_gas_burst must hold at least one call_gas_cap execution")
        if self.request_gas_cap < self.call_gas_cap:
            raise ValueError("request_gas_cap must allow at least one call_gas_cap execution")
        if self.blob_caller_bytes > self.blob_store_bytes or self.blob_caller_count > self.blob_store_count:
            raise ValueError("a caller's blob share (blob_caller_bytes, blob_caller_count) cannot exceed "
                             "the store's (blob_store_bytes, blob_store_count)")
        if self.member_caller_bytes > self.member_store_bytes:
            raise ValueError("a caller's member-index share (member_caller_bytes) cannot exceed member_store_bytes")

    def overridden(self, settings: Mapping[str, Any], where: str = "rpc.limits") -> RpcLimits:
        """These limits with some replaced by name (node.json's `rpc.limits`, or
        `ledger node start --rpc-limit NAME=VALUE`); ConfigError names a bad one."""
        known = {f.name for f in fields(self)}
        changes: dict[str, int] = {}
        for name, value in settings.items():
            if name not in known:
                raise ConfigError(f"{where}.{name}", f"unknown limit; the limits are: {', '.join(sorted(known))}")
            if isinstance(value, str):
                value = value.replace("_", "")
                if not value.isdigit():
                    raise ConfigError(f"{where}.{name}", f"expected a whole number, got {value[:40]!r}")
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT_VALUE:
                raise ConfigError(f"{where}.{name}", f"expected a whole number up to {MAX_LIMIT_VALUE}")
            changes[name] = value
        try:
            return replace(self, **changes)
        except ValueError as exc:
            raise ConfigError(where, str(exc)) from None

    @staticmethod
    def parse_assignments(items: Iterable[str]) -> dict[str, str]:
        """NAME=VALUE strings (the command line) as a mapping; ConfigError for a bad one."""
        settings: dict[str, str] = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ConfigError("--rpc-limit", f"expected NAME=VALUE, got {item[:60]!r}")
            settings[name.strip()] = value.strip()
        return settings


def client_key(host: str | None, port: int | None) -> str:
    """The caller id of a request without a token: its connection (client address and
    port), or with no port the client address alone."""
    return f"client:{host or '?'}" + (f":{port}" if port is not None else "")


def caller_key(token_id: str | None, host: str | None, port: int | None) -> str:
    """The caller id a request is charged to: its token, else its connection."""
    return f"token:{token_id}" if token_id is not None else client_key(host, port)


@dataclass
class _Bucket:
    level: float
    updated: float


class GasBuckets:
    """Every caller's gas bucket (thread-safe: executions run in worker threads)."""

    def __init__(self, per_second: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _refilled(self, caller: str, now: float) -> _Bucket:
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CALLERS:
                self._forget_idle(now)
            bucket = self._buckets[caller] = _Bucket(float(self.burst), now)
        else:
            bucket.level = min(float(self.burst), bucket.level + (now - bucket.updated) * self.per_second)
            bucket.updated = now
        return bucket

    def _forget_idle(self, now: float) -> None:
        full_after = self.burst / self.per_second
        for caller in [c for c, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[caller]

    def take(self, caller: str, wanted: int) -> int:
        """Reserve up to `wanted` gas for one execution; returns what was granted (0 when
        the bucket is empty)."""
        with self._lock:
            bucket = self._refilled(caller, self.clock())
            granted = max(0, min(wanted, int(bucket.level)))
            bucket.level -= granted
            return granted

    def give_back(self, caller: str, gas: int) -> None:
        """Return the part of a reservation an execution did not use."""
        if gas <= 0:
            return
        with self._lock:
            bucket = self._refilled(caller, self.clock())
            bucket.level = min(float(self.burst), bucket.level + gas)

    def seconds_until(self, caller: str, gas: int) -> float:
        """How long until `caller`'s bucket holds `gas` again (for Retry-After)."""
        with self._lock:
            bucket = self._refilled(caller, self.clock())
            missing = min(gas, self.burst) - bucket.level
            return max(0.0, missing / self.per_second)


@dataclass
class GasBudget:
    """The gas one request may still spend: its own cap, drawn from its caller's bucket."""

    caller: str
    limits: RpcLimits
    buckets: GasBuckets
    spent: int = 0
    # Which cap made the last reservation smaller than it asked for (None: neither did).
    last_cut: str | None = None
    blocks_scanned: int = 0

    def scan(self, blocks: int) -> None:
        """Count `blocks` a log query of this request is about to read; LimitExceeded past
        request_block_cap."""
        if self.blocks_scanned + blocks > self.limits.request_block_cap:
            raise LimitExceeded("request_block_cap", self.limits.request_block_cap,
                                f"this request's log queries would scan {self.blocks_scanned + blocks} blocks")
        self.blocks_scanned += blocks

    def reserve(self, wanted: int, minimum: int = 1, *, repeat: bool = False) -> int:
        """Gas for one execution that wants `wanted` (already within call_gas_cap) and
        cannot start with less than `minimum`: as much as the request's and the caller's
        budgets allow. LimitExceeded when that is less than `minimum`; otherwise the
        caller must `settle` the reservation.

        `repeat`: a re-run of an execution already charged to this request (the runs of
        an eth_estimateGas search after its first): charged to the caller's bucket only,
        so a search counts once against request_gas_cap, as its largest run."""
        if repeat:
            return self._take_repeat(wanted, minimum)
        left = self.limits.request_gas_cap - self.spent
        if left < minimum:
            raise LimitExceeded("request_gas_cap", self.limits.request_gas_cap,
                                f"this request has used all the gas one request may use ({self.spent})")
        granted = self.buckets.take(self.caller, min(wanted, left))
        self.last_cut = None if granted >= wanted else "request_gas_cap" if granted == left else "caller_gas_per_second"
        if granted < minimum:
            self.buckets.give_back(self.caller, granted)
            retry = self.buckets.seconds_until(self.caller, min(wanted, left))
            raise LimitExceeded("caller_gas_per_second", self.limits.caller_gas_per_second,
                                "this caller's gas budget for eth_call/eth_estimateGas is used up; "
                                f"retry in {retry:.1f} s", retry_after=retry)
        self.spent += granted
        return granted

    def _take_repeat(self, wanted: int, minimum: int) -> int:
        granted = self.buckets.take(self.caller, wanted)
        self.last_cut = None if granted >= wanted else "caller_gas_per_second"
        if granted < minimum:
            self.buckets.give_back(self.caller, granted)
            retry = self.buckets.seconds_until(self.caller, wanted)
            raise LimitExceeded("caller_gas_per_second", self.limits.caller_gas_per_second,
                                "this caller's gas budget for eth_call/eth_estimateGas is used up; "
                                f"retry in {retry:.1f} s", retry_after=retry)
        return granted

    def settle(self, granted: int, used: int, *, repeat: bool = False) -> None:
        """After an execution reserved `granted` and used `used` of it."""
        unused = max(0, granted - used)
        if not repeat:
            self.spent -= unused
        self.buckets.give_back(self.caller, unused)


@dataclass
class _CallerQueue:
    slots: asyncio.Semaphore
    admitted: int = 0  # running and waiting


@dataclass
class ExpensiveQueue:
    """Admission to the expensive pool, on the RPC event loop: per caller, a few running
    and a bounded number waiting; beyond that the request is refused, not queued."""

    limits: RpcLimits
    _callers: dict[str, _CallerQueue] = field(default_factory=dict)

    async def run(self, caller: str, job: Callable[[], Awaitable[T]]) -> T:
        queue = self._callers.get(caller)
        if queue is None:
            queue = self._callers[caller] = _CallerQueue(asyncio.Semaphore(self.limits.expensive_in_flight_per_caller))
        if queue.admitted >= self.limits.expensive_in_flight_per_caller + self.limits.expensive_waiting_per_caller:
            raise LimitExceeded("expensive_waiting_per_caller", self.limits.expensive_waiting_per_caller,
                                "too many expensive calls (eth_call, eth_getLogs, ...) of this caller are waiting")
        queue.admitted += 1
        try:
            async with queue.slots:
                return await job()
        finally:
            queue.admitted -= 1
            if queue.admitted == 0:
                del self._callers[caller]
