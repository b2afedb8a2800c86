"""Log filters (eth_getLogs criteria) and the filter registry behind eth_newFilter."""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_bloom import BloomFilter

from node.errors import InvalidParams, LimitExceeded, NotFound
from node.rpc import params as p

MAX_TOPIC_POSITIONS = 4
MAX_ADDRESSES = 1_000
# Alternatives at one topic position (geth's maxSubTopics): a filter holds at most
# 4 x 1,000 topics and 1,000 addresses, ~0.5 MB.
MAX_TOPICS_PER_POSITION = 1_000
# Addresses and topics of all installed filters together (~100 bytes each in memory): the
# registry holds at most ~100 MB however the 10,000 filters are shaped.
MAX_CRITERIA_ENTRIES = 1_000_000
# Idle filters are forgotten after this long, as geth does (5 minutes).
FILTER_TIMEOUT_SECONDS = 300
MAX_FILTERS = 10_000
# Hashes a pending-transaction filter keeps between polls; older ones are its client's loss.
MAX_PENDING_PER_FILTER = 10_000


class MatchableLog(Protocol):
    """What a filter looks at in a log (node.rpc.format's LogRecord, node.rpc.logcache's
    EncodedLog)."""

    @property
    def address(self) -> bytes: ...

    @property
    def topics(self) -> tuple[bytes, ...]: ...


@dataclass(frozen=True)
class LogCriteria:
    addresses: frozenset[bytes]
    topics: tuple[frozenset[bytes] | None, ...]  # None: any topic at that position

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> LogCriteria:
        raw_address = spec.get("address")
        if raw_address is None:
            addresses: frozenset[bytes] = frozenset()
        elif isinstance(raw_address, list):
            if len(raw_address) > MAX_ADDRESSES:
                raise InvalidParams(f"filter.address: more than {MAX_ADDRESSES} addresses")
            addresses = frozenset(p.address(a, "filter.address") for a in raw_address)
        else:
            addresses = frozenset([p.address(raw_address, "filter.address")])
        raw_topics = spec.get("topics") or []
        if not isinstance(raw_topics, list) or len(raw_topics) > MAX_TOPIC_POSITIONS:
            raise InvalidParams(f"filter.topics: expected a list of at most {MAX_TOPIC_POSITIONS} positions")
        topics: list[frozenset[bytes] | None] = []
        for position, entry in enumerate(raw_topics):
            where = f"filter.topics[{position}]"
            if entry is None:
                topics.append(None)
            elif isinstance(entry, list):
                if len(entry) > MAX_TOPICS_PER_POSITION:
                    raise InvalidParams(f"{where}: more than {MAX_TOPICS_PER_POSITION} topics")
                topics.append(frozenset(p.hash32(t, where) for t in entry) or None)
            else:
                topics.append(frozenset([p.hash32(entry, where)]))
        return cls(addresses, tuple(topics))

    @property
    def size(self) -> int:
        """Addresses and topics held: what the registry's MAX_CRITERIA_ENTRIES counts."""
        return len(self.addresses) + sum(len(options) for options in self.topics if options is not None)

    def may_match_bloom(self, bloom: int) -> bool:
        bf = BloomFilter(bloom)
        if self.addresses and not any(a in bf for a in self.addresses):
            return False
        for options in self.topics:
            if options is not None and not any(t in bf for t in options):
                return False
        return True

    @property
    def matches_all(self) -> bool:
        """No address and no topic position: every log matches (a position, even a null
        one, asks for a log with at least that many topics)."""
        return not self.addresses and not self.topics

    def matches(self, log: MatchableLog) -> bool:
        if self.addresses and log.address not in self.addresses:
            return False
        if len(self.topics) > len(log.topics):
            return False
        return all(options is None or log.topics[i] in options for i, options in enumerate(self.topics))


@dataclass
class Filter:
    kind: str  # "logs" | "blocks" | "pending"
    next_height: int
    criteria: LogCriteria | None = None
    to_block: int | None = None
    from_block: int = 0  # where eth_getFilterLogs starts, however far polling has moved
    last_poll: float = field(default_factory=time.monotonic)
    pending_hashes: list[bytes] = field(default_factory=list)
    owner: str = ""  # the caller that installed it (node/rpc/limits.py caller_key)
    # RPC handlers run in several threads; one poll of a filter at a time.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


class FilterRegistry:
    """Installed filters: at most MAX_FILTERS, `per_owner` of them per caller, and
    MAX_CRITERIA_ENTRIES addresses and topics in all."""

    def __init__(self, per_owner: int = MAX_FILTERS) -> None:
        self.per_owner = per_owner
        self._filters: dict[str, Filter] = {}
        self._owned: dict[str, int] = {}
        self._entries = 0
        self._lock = threading.Lock()

    def install(self, flt: Filter) -> str:
        size = flt.criteria.size if flt.criteria is not None else 0
        with self._lock:
            self._expire()
            if len(self._filters) >= MAX_FILTERS:
                raise LimitExceeded("MAX_FILTERS", MAX_FILTERS, "too many filters installed on this node")
            if self._owned.get(flt.owner, 0) >= self.per_owner:
                raise LimitExceeded("filters_per_caller", self.per_owner,
                                    "this caller holds too many filters; uninstall some (eth_uninstallFilter)")
            if self._entries + size > MAX_CRITERIA_ENTRIES:
                raise LimitExceeded("MAX_CRITERIA_ENTRIES", MAX_CRITERIA_ENTRIES,
                                    "the installed filters hold too many addresses and topics")
            filter_id = "0x" + secrets.token_hex(16)
            self._filters[filter_id] = flt
            self._owned[flt.owner] = self._owned.get(flt.owner, 0) + 1
            self._entries += size
            return filter_id

    def _drop(self, filter_id: str) -> bool:
        flt = self._filters.pop(filter_id, None)
        if flt is None:
            return False
        left = self._owned[flt.owner] - 1
        if left:
            self._owned[flt.owner] = left
        else:
            del self._owned[flt.owner]
        self._entries -= flt.criteria.size if flt.criteria is not None else 0
        return True

    def get(self, filter_id: Any) -> Filter:
        with self._lock:
            self._expire()
            flt = self._filters.get(filter_id) if isinstance(filter_id, str) else None
            if flt is None:
                raise NotFound("filter not found")
            flt.last_poll = time.monotonic()
            return flt

    def remove(self, filter_id: Any) -> bool:
        with self._lock:
            return self._drop(filter_id) if isinstance(filter_id, str) else False

    def on_pending_transaction(self, tx_hash: bytes) -> None:
        """Record a newly admitted transaction for every pending-transaction filter."""
        with self._lock:
            for flt in self._filters.values():
                if flt.kind == "pending" and len(flt.pending_hashes) < MAX_PENDING_PER_FILTER:
                    flt.pending_hashes.append(tx_hash)

    def _expire(self) -> None:
        deadline = time.monotonic() - FILTER_TIMEOUT_SECONDS
        for key in [k for k, f in self._filters.items() if f.last_poll < deadline]:
            self._drop(key)
