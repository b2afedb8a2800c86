"""States kept for eth_call and eth_estimateGas at the head, so that a call while the head
has not moved reuses one instead of building a VM, a state and empty caches every time.

A state after block H is a read overlay of H's state root (node/execution/chain.py
`state_at`): its AccountDB's caches hold what earlier calls read. A call runs inside a
snapshot and is reverted (py-evm's `snapshot`/`revert`: the account and storage journals,
the EIP-2929 warm set and the EIP-1153 transient storage are all journaled), so after
a lease the state is what `state_at(H)` would build, plus read caches of values that are
H's. That is why reuse is exact:

* a state is handed out for the block hash it was built for and no other, so a call at an
  older block, or after the head moved, never sees another block's state;
* a lease is exclusive (one thread at a time), and its state is taken back only after a
  clean revert; a lease left by an exception drops its state;
* block H's trie nodes are content-addressed and never deleted, so a new block does not
  change what H's state reads. States for a hash that is no longer the head are dropped
  when they come back and when the pool is next used, so they do not linger.

The same reuse already runs in eth_estimateGas (up to ESTIMATE_MAX_RUNS runs on one state,
node/rpc/simulate.py), in `Membership` (node/execution/permissions.py) and in
`Node.head_state()`.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from eth.abc import StateAPI

from node.execution.vm import QBFTHeader

# Idle states kept at the head: one per expensive worker thread (node/rpc/app.py
# EXPENSIVE_WORKER_THREADS), since no more than that many calls run at once.
CALL_STATES_KEPT = 2
# Gas one state may serve before it is dropped. py-evm keeps every account, slot, trie node
# and store it read in the state's caches (a revert undoes writes, not reads), so a state
# grows with the distinct data its calls touched; every first touch per call costs at least
# 2,100 gas (EIP-2929 cold access), so 10M gas bounds one state to a few thousand entries
# (a few MB) - one full call_gas_cap call's worth - after which a fresh one is built.
CALL_STATE_GAS = 10_000_000


@dataclass
class CallLease:
    """One state lent to one call: add the gas each execution used to `gas`."""

    header_hash: bytes
    state: StateAPI
    served: int  # gas this state served before this lease
    gas: int = 0


class CallStates:
    """A small pool of states at the head, lent one call at a time (thread-safe)."""

    def __init__(self, build: Callable[[QBFTHeader], StateAPI], head: Callable[[], QBFTHeader], *,
                 keep: int = CALL_STATES_KEPT, gas_per_state: int = CALL_STATE_GAS) -> None:
        self._build = build
        self._head = head
        self.keep = keep
        self.gas_per_state = gas_per_state
        self._idle: list[CallLease] = []
        self._lock = threading.Lock()
        self.built = 0  # states built (for tests and the benchmark: reuse shows as few builds)

    @contextmanager
    def lease(self, header: QBFTHeader) -> Iterator[CallLease]:
        """The state after `header`'s block for one call, reverted and taken back after it."""
        lease = self._take(header.hash)
        if lease is None:
            # Built outside the lock: a build reads LevelDB, and other threads may be
            # taking or returning states meanwhile.
            lease = CallLease(header.hash, self._build(header), 0)
            with self._lock:
                self.built += 1
        snapshot = lease.state.snapshot()
        # An exception leaves the state out of the pool: whatever it left half done is dropped.
        yield lease
        lease.state.revert(snapshot)
        self._give_back(lease)

    def _take(self, header_hash: bytes) -> CallLease | None:
        head_hash = self._head().hash
        with self._lock:
            self._idle = [s for s in self._idle if s.header_hash == head_hash]
            if header_hash != head_hash:
                return None
            if not self._idle:
                return None
            kept = self._idle.pop()
        return CallLease(kept.header_hash, kept.state, kept.served)

    def _give_back(self, lease: CallLease) -> None:
        served = lease.served + lease.gas
        if served >= self.gas_per_state:
            return
        head_hash = self._head().hash
        with self._lock:
            self._idle = [s for s in self._idle if s.header_hash == head_hash]
            if lease.header_hash == head_hash and len(self._idle) < self.keep:
                self._idle.append(CallLease(lease.header_hash, lease.state, served))

    def idle(self) -> int:
        """States waiting for a call (for tests)."""
        with self._lock:
            return len(self._idle)
