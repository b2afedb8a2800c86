"""Commitment counters for the supervision dashboard: counts by status per responsible
unit, per obligor and in all, and what happened each day — answered by a few seeks
however many commitments the chain holds.

A commitment's status moves with the clock (node/storage/index_queries.py
`commitment_status`): an open one is on track, reminder, warning or demand according to
where its deadline lies against three boundaries that follow `now`. So the counters keep,
per group (every commitment; a unit; an obligor), how many of its open commitments fall
due on each UTC day (node/storage/schema.py COMMITMENT_GROUP_DAY), and the status counts
at `now` are sums of those day counts below each boundary, plus the exact count of the
commitments due on the boundary's own day (COMMITMENT_GROUP_OPEN, keys only). A report
then costs one scan of the group's due days and three short scans, not a read of each
commitment.

Writing: `added`, `fulfilled` and `alert` are called by node/storage/indexes.py's
commitment handlers with the block's own `IndexBatch`, so the counters reach the disk in
the block's write batch and `ledger chain verify` rebuilds and compares them with every
other index. `catch_up` writes them for a data directory indexed before they existed,
from the stored commitment records.
"""
from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import keccak

from chaincode import COMMITMENT_STATUS
from node.errors import InvalidParams
from node.storage import schema

DAY = 86400
GROUP_ALL = b"a"
GROUP_UNIT = b"u"
GROUP_OBLIGOR = b"p"
GROUP_KINDS = {"unit": GROUP_UNIT, "obligor": GROUP_OBLIGOR}
# What a COMMITMENT_DAY counter counts (its key's last byte): the alert levels keep
# CommitmentTracker's codes (1 reminder, 2 warning, 3 demand).
ADDED, FULFILLED_DAY, SUPERVISED = 0, 4, 5
DAY_COUNTS = {"added": ADDED, "reminder": 1, "warning": 2, "demand": 3, "fulfilled": FULFILLED_DAY,
              "supervisions": SUPERVISED}
VERSION = b"\x01"
# Rows one read of the counters takes (a page of due days, of a boundary day's open
# commitments, of groups): the store's scans are bounded, so a larger set is read in
# pages of this many.
SCAN_ROWS = 1_000
# The most days one activity query covers: a year and a day, 6 counters a day at most,
# so one answer reads at most ~2,200 small keys in one seek.
MAX_ACTIVITY_DAYS = 366
# Records one catch-up write batch holds: bounded memory however many commitments a data
# directory holds (each record gives ~10 writes).
CATCH_UP_RECORDS = 5_000
_STATS = ("total", "fulfilled", "alertsRaised", "demandsRaised")
_LEVELS = {name: code for code, name in COMMITMENT_STATUS.items()}


class Reader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, lower: bytes, upper: bytes, *, after: bytes | None = None, reverse: bool = False,
             limit: int) -> list[tuple[bytes, bytes]]: ...


class Batch(Protocol):
    """node/storage/indexes.py IndexBatch: reads its own pending writes first."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


# -- keys -------------------------------------------------------------------------------


def groups_of(record: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    """The groups a commitment record counts in: all, its unit, its obligor."""
    return (GROUP_ALL, GROUP_UNIT + keccak(text=record["responsibleUnit"]),
            GROUP_OBLIGOR + bytes.fromhex(record["obligor"][2:]))


def _deadline(record: dict[str, Any]) -> int:
    return min(int(record["deadline"]), 2**64 - 1)


def _open_key(group: bytes, deadline: int, commitment_id: int) -> bytes:
    return schema.COMMITMENT_GROUP_OPEN + group + deadline.to_bytes(8, "big") + commitment_id.to_bytes(8, "big")


def _bucket_key(group: bytes, deadline: int) -> bytes:
    return schema.COMMITMENT_GROUP_DAY + group + (deadline // DAY).to_bytes(8, "big")


def _day_key(timestamp: int, what: int) -> bytes:
    return schema.COMMITMENT_DAY + (timestamp // DAY).to_bytes(8, "big") + bytes([what])


def _int(raw: bytes | None) -> int:
    return 0 if not raw else int.from_bytes(raw, "big")


def _bump(batch: Batch, key: bytes, delta: int = 1) -> None:
    batch.put(key, max(0, _int(batch.get(key)) + delta).to_bytes(8, "big"))


def _bump_stat(batch: Batch, group: bytes, stat: str) -> None:
    key = schema.COMMITMENT_GROUP + group
    values = _stats(batch.get(key))
    values[stat] += 1
    batch.put(key, b"".join(values[s].to_bytes(8, "big") for s in _STATS))


def _stats(raw: bytes | None) -> dict[str, int]:
    if not raw:
        return dict.fromkeys(_STATS, 0)
    return {s: int.from_bytes(raw[8 * i:8 * i + 8], "big") for i, s in enumerate(_STATS)}


# -- writing (a block's IndexBatch) -----------------------------------------------------


def added(batch: Batch, record: dict[str, Any]) -> None:
    """A CommitmentAdded: counted in its groups, open, due on its deadline's day."""
    deadline = _deadline(record)
    for group in groups_of(record):
        _bump_stat(batch, group, "total")
        _bump(batch, _bucket_key(group, deadline))
        batch.put(_open_key(group, deadline, record["id"]), b"")
    _bump(batch, _day_key(record["created"]["time"], ADDED))


def fulfilled(batch: Batch, record: dict[str, Any], timestamp: int) -> None:
    """A FulfilmentConfirmed at `timestamp`: no longer open."""
    deadline = _deadline(record)
    for group in groups_of(record):
        _bump_stat(batch, group, "fulfilled")
        _bump(batch, _bucket_key(group, deadline), -1)
        batch.delete(_open_key(group, deadline, record["id"]))
    _bump(batch, _day_key(timestamp, FULFILLED_DAY))


def alert(batch: Batch, record: dict[str, Any], level: int, escalated: bool, timestamp: int) -> None:
    """A CommitmentAlert of `level` at `timestamp` (escalated: to supervision)."""
    for group in groups_of(record):
        _bump_stat(batch, group, "alertsRaised")
        if escalated:
            _bump_stat(batch, group, "demandsRaised")
    if level in (1, 2, 3):
        _bump(batch, _day_key(timestamp, level))
    if escalated:
        _bump(batch, _day_key(timestamp, SUPERVISED))


# -- catching up a data directory indexed before the counters ---------------------------


class _Writes:
    """An IndexBatch-like dict over a store, for the catch-up."""

    def __init__(self, store: Reader) -> None:
        self.store = store
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.writes[key] if key in self.writes else self.store.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = None


def replay_records(batch: Batch, records: Iterable[dict[str, Any]]) -> None:
    """The counter writes the blocks that made `records` (commitment records as
    node/storage/indexes.py stores them) wrote, in the order those blocks wrote them
    (each commitment's own events in chain order; counters are sums, so the order across
    commitments does not change them)."""
    for record in records:
        added(batch, record)
        for raised in record["alerts"]:
            level = raised["level"] if isinstance(raised["level"], int) else _LEVELS.get(raised["level"], 0)
            alert(batch, record, level, bool(raised["escalatedToSupervision"]), raised["time"])
        if record["confirmation"] is not None:
            fulfilled(batch, record, record["confirmation"]["time"])


def _stored_records(store: Reader) -> Iterator[dict[str, Any]]:
    after: bytes | None = None
    upper = schema.prefix_end(schema.COMMITMENT)
    while True:
        rows = store.scan(schema.COMMITMENT, upper, after=after, limit=SCAN_ROWS)
        for _, raw in rows:
            yield json.loads(raw)
        if len(rows) < SCAN_ROWS:
            return
        after = rows[-1][0]


def catch_up(store: Any) -> int:
    """Write the counters of every stored commitment if this data directory's indexes
    predate them (no COMMITMENT_COUNTS_VERSION) — what indexing its blocks would have
    written — and mark them written; returns how many commitments were counted (0: they
    were already). Run when the node opens, before it commits a block (node/service.py):
    the writes are absolute values, so a catch-up interrupted and run again gives the
    same counters. `store` is a LevelStore (get, scan, write_batch)."""
    if store.get(schema.COMMITMENT_COUNTS_VERSION) is not None or store.get(schema.INDEX_HEIGHT_KEY) is None:
        return 0
    # Whatever counters blocks indexed since the upgrade wrote are recounted from scratch.
    for prefix in (schema.COMMITMENT_GROUP, schema.COMMITMENT_GROUP_DAY, schema.COMMITMENT_GROUP_OPEN,
                   schema.COMMITMENT_DAY):
        while rows := store.scan(prefix, schema.prefix_end(prefix), limit=SCAN_ROWS):
            store.write_batch(dict.fromkeys((key for key, _ in rows), None))
    # Sums over every record: one dict of the counters, the open keys written as they come.
    counters = _Writes(store)
    counted = 0
    pending: list[dict[str, Any]] = []
    for record in _stored_records(store):
        pending.append(record)
        if len(pending) == CATCH_UP_RECORDS:
            counted += _flush_open(store, counters, pending)
            pending = []
    counted += _flush_open(store, counters, pending)
    counters.writes[schema.COMMITMENT_COUNTS_VERSION] = VERSION
    store.write_batch(counters.writes)
    return counted


def _flush_open(store: Any, counters: _Writes, records: list[dict[str, Any]]) -> int:
    """Add `records` to `counters`, writing their open keys (the one part that grows with
    the commitments) now rather than holding them."""
    replay_records(counters, records)
    open_keys = {k: v for k, v in counters.writes.items() if k.startswith(schema.COMMITMENT_GROUP_OPEN)}
    for key in open_keys:
        del counters.writes[key]
    store.write_batch(open_keys)
    return len(records)


def version_write() -> tuple[bytes, bytes]:
    """The marker a new data directory's genesis indexing writes: its counters start
    complete (node/storage/indexes.py index_genesis)."""
    return schema.COMMITMENT_COUNTS_VERSION, VERSION


# -- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Boundaries:
    """Where an open commitment's deadline must lie for each status at `now` (the
    inverse of `commitment_status`): demand below `demand`, warning below `warning`,
    reminder below `reminder`, on track from `reminder` on."""

    demand: int
    warning: int
    reminder: int

    @classmethod
    def at(cls, now: int, policy: tuple[int, int]) -> Boundaries:
        reminder_window, demand_delay = policy
        return cls(max(0, now - demand_delay), max(0, now), max(0, now + reminder_window + 1))


def _scan_all(store: Reader, lower: bytes, upper: bytes) -> Iterator[tuple[bytes, bytes]]:
    after: bytes | None = None
    while True:
        rows = store.scan(lower, upper, after=after, limit=SCAN_ROWS)
        yield from rows
        if len(rows) < SCAN_ROWS:
            return
        after = rows[-1][0]


def _due_before(store: Reader, group: bytes, days: list[tuple[int, int]], bound: int) -> int:
    """Open commitments of `group` due before `bound` (seconds): the whole days before
    it from `days` (day, count), the rest of its own day counted key by key."""
    day = bound // DAY
    whole = sum(count for d, count in days if d < day)
    prefix = schema.COMMITMENT_GROUP_OPEN + group
    lower = prefix + min(day * DAY, 2**64 - 1).to_bytes(8, "big")
    upper = prefix + min(bound, 2**64 - 1).to_bytes(8, "big")
    return whole + sum(1 for _ in _scan_all(store, lower, upper))


def group_counts(store: Reader, group: bytes, now: int, policy: tuple[int, int]) -> dict[str, Any]:
    """One group's counts: commitments by status at `now`, alerts (reminder, warning or
    demand now), supervisions (demand now), and the alerts and demands the chain raised."""
    stats = _stats(store.get(schema.COMMITMENT_GROUP + group))
    prefix = schema.COMMITMENT_GROUP_DAY + group
    days = [(int.from_bytes(key[len(prefix):], "big"), _int(value))
            for key, value in _scan_all(store, prefix, schema.prefix_end(prefix)) if _int(value)]
    edges = Boundaries.at(now, policy)
    demand = _due_before(store, group, days, edges.demand)
    warning = _due_before(store, group, days, edges.warning)
    reminder = _due_before(store, group, days, edges.reminder)
    open_now = stats["total"] - stats["fulfilled"]
    counts = {"total": stats["total"], "on track": open_now - reminder, "reminder": reminder - warning,
              "warning": warning - demand, "demand": demand, "fulfilled": stats["fulfilled"]}
    counts["alerts"] = counts["reminder"] + counts["warning"] + counts["demand"]
    counts["supervisions"] = counts["demand"]
    counts["alertsRaised"] = stats["alertsRaised"]
    counts["demandsRaised"] = stats["demandsRaised"]
    return counts


def totals(store: Reader, now: int, policy: tuple[int, int]) -> dict[str, Any]:
    return group_counts(store, GROUP_ALL, now, policy)


def groups_page(store: Reader, by: str, now: int, policy: tuple[int, int], *, after: str | None,
                limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """A page of units or obligors (`by`), in key order (keccak of the unit's name; the
    obligor's address), each with its counts; and the next page's token."""
    if by not in GROUP_KINDS:
        raise InvalidParams(f"by must be one of {', '.join(GROUP_KINDS)}")
    prefix = schema.COMMITMENT_GROUP + GROUP_KINDS[by]
    after_key = None
    if after is not None:
        try:
            after_key = prefix + bytes.fromhex(after)
        except ValueError:
            raise InvalidParams(f"page token {after[:40]!r} is not one this node issued") from None
    rows = store.scan(prefix, schema.prefix_end(prefix), after=after_key, limit=limit + 1)
    more = len(rows) > limit
    items = []
    for key, _ in rows[:limit]:
        group = key[len(schema.COMMITMENT_GROUP):]
        if by == "unit":
            name = store.get(schema.UNIT_NAME + group[1:])
            item: dict[str, Any] = {"unit": name.decode() if name is not None else "0x" + group[1:].hex()}
        else:
            item = {"obligor": "0x" + group[1:].hex()}
        item.update(group_counts(store, group, now, policy))
        items.append(item)
    following = rows[limit - 1][0][len(prefix):].hex() if more else None
    return items, following


def activity(store: Reader, first_day: int, last_day: int, *, open_now: int, fulfilled_now: int) -> list[dict[str, Any]]:
    """Per UTC day `first_day`..`last_day` (days since 1970, the last one the head's):
    commitments added, alerts raised by level, demands escalated to supervision,
    fulfilments; and, at each day's end, how many were open and fulfilled — walked back
    from the counts now (`open_now`, `fulfilled_now`), so no day before the window is read."""
    if last_day < first_day or last_day - first_day + 1 > MAX_ACTIVITY_DAYS:
        raise InvalidParams(f"an activity range covers 1..{MAX_ACTIVITY_DAYS} days")
    lower = schema.COMMITMENT_DAY + first_day.to_bytes(8, "big")
    upper = schema.COMMITMENT_DAY + (last_day + 1).to_bytes(8, "big")
    found: dict[int, dict[int, int]] = {}
    for key, value in _scan_all(store, lower, upper):
        day = int.from_bytes(key[len(schema.COMMITMENT_DAY):-1], "big")
        found.setdefault(day, {})[key[-1]] = _int(value)
    rows: list[dict[str, Any]] = []
    open_end, fulfilled_end = open_now, fulfilled_now
    for day in range(last_day, first_day - 1, -1):
        counts = found.get(day, {})
        row: dict[str, Any] = {"date": datetime.date.fromordinal(_EPOCH_ORDINAL + day).isoformat(), "start": day * DAY}
        row.update({name: counts.get(code, 0) for name, code in DAY_COUNTS.items()})
        row["open"], row["fulfilledTotal"] = open_end, fulfilled_end
        rows.append(row)
        open_end += row["fulfilled"] - row["added"]
        fulfilled_end -= row["fulfilled"]
    rows.reverse()
    return rows


_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
