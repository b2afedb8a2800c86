"""Reads of the event indexes node/storage/indexes.py writes: what regulators, courts and
auditors ask of the chain, answered by a seek and a bounded walk over LevelDB keys.

Evidence by digest also reads the batch members the anchoring clients handed over
(node/storage/members.py), so a file anchored inside a batch is found by its own digest.

`Indexes` pages through one index at a time. A page is `limit` items plus an opaque `next`
token (the last key's suffix, hex), or None on the last page. `snapshot` gives every read
of one query the same committed blocks.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from chaincode import COMMITMENT_STATUS, SEAL_STATUS
from node.api import DEFAULT_PAGE, MAX_PAGE
from node.errors import InvalidParams, NotFound, StorageError
from node.storage import commitment_counts, schema
from node.storage.indexes import (
    COMMITMENT_STATUS_CODE,
    CONTRACT_STATUS_CODE,
    DEFAULT_POLICY,
    FULFILLED,
    POLICY_KEY,
    SEAL_STATUS_CODE,
    TOPICS,
    Cursor,
    commitment_key,
    evidence_record,
)
from node.storage.members import (
    CHUNK_LEAVES,
    LEAF_BYTES,
    MAX_MEMBERSHIPS,
    BatchRecord,
    NotABatchMember,
    inclusion_path,
    is_committed,
)

# The largest 8-byte time key: a deadline at or past 2**64 seconds sorts last.
_HIGH = b"\xff" * 8


@dataclass(frozen=True)
class FeedEntry:
    """One event of the feed as stored: its cursor, topic, name and JSON bytes."""

    cursor: Cursor
    topic: str
    name: str
    raw: bytes


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next: str | None  # pass back as `after` for the following page; None: this was the last

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "next": self.next}


def commitment_status(record: dict[str, Any], now: int, policy: tuple[int, int]) -> str:
    """CommitmentTracker.vy's `_status` at time `now` (a block's timestamp)."""
    if record["confirmation"] is not None:
        return COMMITMENT_STATUS[FULFILLED]
    reminder_window, demand_delay = policy
    deadline = record["deadline"]
    if now > deadline + demand_delay:
        return COMMITMENT_STATUS[3]
    if now > deadline:
        return COMMITMENT_STATUS[2]
    if now + reminder_window >= deadline:
        return COMMITMENT_STATUS[1]
    return COMMITMENT_STATUS[0]


# What `seal_at_signing` says of a seal at the moment a PDF signature showed it.
SEAL_APPROVED = "approved"
SEAL_NOT_YET_APPROVED = "not-yet-approved"
SEAL_REVOKED_BEFORE = "revoked-before-signing"
SEAL_UNREGISTERED = "unregistered"
SEAL_VERDICTS = (SEAL_APPROVED, SEAL_NOT_YET_APPROVED, SEAL_REVOKED_BEFORE, SEAL_UNREGISTERED)


def _position(when: dict[str, Any] | None) -> Cursor | None:
    return None if when is None else Cursor.parse(when["cursor"])


def seal_at_signing(signature: dict[str, Any], seal: dict[str, Any] | None) -> dict[str, Any]:
    """How the seal a PDF signature shows stood when the signature was made: the flags of
    a signature as GET /v1/contracts/{id}/parties serves them. `signature` is a contract
    record's signature entry (its `signer`, `certFingerprint` and `cursor`), `seal` the
    seal's record (None: the index holds no seal with that id).

    - `sealMatchesSigner`: the seal's owner is the signer and it is bound to the
      certificate the signature was made with;
    - `sealStatusAtSigning`: approved, not-yet-approved (not approved before the
      signature, registered or not), revoked-before-signing, or unregistered;
    - `sealRevokedSince`: the revocation (by, reason digest, block, time, cursor,
      transaction) when the seal was revoked after the signature, else None.

    "Before" is chain order — the events' cursors (block, log index) — not block times,
    which are equal within a block: a seal approved or revoked earlier in the signature's
    own block counts as before it, later in that block as after.

    ContractRegistry.sign_pdf refuses a seal that is not usable (SealRegistry.usable:
    approved, the signer's, bound to its certificate), so on a chain its contracts made
    every PDF signature is approved and matching at signing; the flags say so from the
    index, and say otherwise of any record that is not."""
    if seal is None:
        return {"sealMatchesSigner": False, "sealStatusAtSigning": SEAL_UNREGISTERED, "sealRevokedSince": None}
    signed = Cursor.parse(signature["cursor"])
    approved, revoked = _position(seal.get("approved")), _position(seal.get("revoked"))
    if revoked is not None and revoked < signed:
        status = SEAL_REVOKED_BEFORE
    elif approved is not None and approved < signed:
        status = SEAL_APPROVED
    else:
        status = SEAL_NOT_YET_APPROVED
    matches = (seal["owner"].lower() == signature["signer"].lower()
               and seal["certFingerprint"].lower() == signature["certFingerprint"].lower())
    since = seal["revoked"] if revoked is not None and revoked > signed else None
    return {"sealMatchesSigner": matches, "sealStatusAtSigning": status, "sealRevokedSince": since}


class Indexes:
    """Reads of the indexes. `get` and `scan` are the store's (node/storage/store.py LevelStore)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Indexes]:
        """These indexes over one consistent view of the store: every read of a query (the
        topic scans of a feed page, a page's index rows and then its records) sees the same
        committed blocks, however many commit meanwhile."""
        with self._store.snapshot() as view:
            yield Indexes(view)

    # -- plumbing

    def _page(self, prefix: bytes, *, lower: bytes = b"", upper: bytes | None = None, after: str | None,
              limit: int, reverse: bool) -> tuple[list[tuple[bytes, bytes]], str | None]:
        """(key suffix after `prefix`, value) pairs of one page, and the next page's token."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidParams(f"limit must be 1..{MAX_PAGE}")
        after_key = None
        if after is not None:
            try:
                after_key = prefix + bytes.fromhex(after)
            except ValueError:
                raise InvalidParams(f"page token {after[:40]!r} is not one this node issued") from None
        upper_key = prefix + upper if upper is not None else schema.prefix_end(prefix)
        rows = self._store.scan(prefix + lower, upper_key, after=after_key, reverse=reverse, limit=limit + 1)
        more = len(rows) > limit
        rows = [(key[len(prefix):], value) for key, value in rows[:limit]]
        return rows, (rows[-1][0].hex() if more else None)

    def _json(self, key: bytes) -> Any:
        raw = self._store.get(key)
        return None if raw is None else json.loads(raw)

    def height(self) -> int:
        raw = self._store.get(schema.INDEX_HEIGHT_KEY)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def counters(self) -> dict[str, int]:
        rows = self._store.scan(schema.COUNTER, schema.prefix_end(schema.COUNTER), limit=MAX_PAGE)
        return {key[len(schema.COUNTER):].decode(): int.from_bytes(value, "big")
                for key, value in rows if key != POLICY_KEY}

    def policy(self) -> tuple[int, int]:
        stored = self._json(POLICY_KEY)
        return DEFAULT_POLICY if stored is None else (int(stored[0]), int(stored[1]))

    # -- events and the feed

    def event(self, cursor: Cursor) -> dict[str, Any]:
        event = self._json(schema.EVENT + cursor.to_bytes())
        if event is None:
            raise NotFound(f"no system-contract event at {cursor}")
        return event

    def _events(self, cursors: Iterable[bytes]) -> list[dict[str, Any]]:
        return [self.event(Cursor.from_bytes(c)) for c in cursors]

    def feed(self, topics: Sequence[str], *, after: Cursor | None, limit: int = DEFAULT_PAGE) -> list[dict[str, Any]]:
        """The next `limit` events of `topics` after `after` (None: from the first), in chain
        order: one seek per topic, then a merge."""
        return [json.loads(entry.raw) for entry in self.feed_raw(topics, after=after, limit=limit)]

    def feed_raw(self, topics: Sequence[str], *, after: Cursor | None, limit: int = DEFAULT_PAGE) -> list[FeedEntry]:
        """As `feed`, the events as stored (JSON bytes), for streams that pass them on as
        they are: a page of 500 events is then 500 reads, not 500 parses and encodings."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidParams(f"limit must be 1..{MAX_PAGE}")
        found: list[tuple[bytes, str, str]] = []
        for topic in dict.fromkeys(topics):
            if topic not in TOPICS:
                raise InvalidParams(f"unknown topic {topic[:40]!r} (topics: {', '.join(TOPICS)})")
            prefix = schema.FEED + bytes([TOPICS[topic]])
            start = None if after is None else prefix + after.to_bytes()
            rows = self._store.scan(prefix, schema.prefix_end(prefix), after=start, limit=limit)
            found.extend((key[len(prefix):], topic, name.decode()) for key, name in rows)
        entries = []
        for cursor, topic, name in sorted(found)[:limit]:
            raw = self._store.get(schema.EVENT + cursor)
            if raw is None:
                raise NotFound(f"the feed index names event {Cursor.from_bytes(cursor)}, which is not stored")
            entries.append(FeedEntry(Cursor.from_bytes(cursor), topic, name, raw))
        return entries

    # -- contracts

    def contract(self, contract_id: bytes) -> dict[str, Any]:
        """The contract's record; each signature with its `pdf` part (null for one made
        with `sign`, which the index stores without the key: node/storage/indexes.py `_add_pdf`)."""
        record = self._json(schema.CONTRACT + contract_id)
        if record is None:
            raise NotFound(f"no contract 0x{contract_id.hex()}")
        for signature in record["signatures"]:
            signature.setdefault("pdf", None)
        return record

    def contracts(self, *, project: str | None = None, party: bytes | None = None, status: str | None = None,
                  since: int | None = None, until: int | None = None, after: str | None = None,
                  limit: int = DEFAULT_PAGE, reverse: bool = False) -> Page:
        """Contracts by one index: project code, party, status, or registration time
        (`since`..`until`, inclusive, seconds; also the default: every contract)."""
        chosen = [k for k, v in (("project", project), ("party", party), ("status", status)) if v is not None]
        if len(chosen) > 1 or (chosen and (since is not None or until is not None)):
            raise InvalidParams("query contracts by one of project, party, status or a date range")
        lower, upper = b"", None
        if project is not None:
            prefix = schema.CONTRACT_BY_PROJECT + keccak(text=project)
        elif party is not None:
            prefix = schema.CONTRACT_BY_PARTY + party
        elif status is not None:
            if status not in CONTRACT_STATUS_CODE:
                raise InvalidParams(f"status must be one of {', '.join(CONTRACT_STATUS_CODE)}")
            prefix = schema.CONTRACT_BY_STATUS + bytes([CONTRACT_STATUS_CODE[status]])
        else:
            prefix = schema.CONTRACT_BY_DATE
            lower = _time_key(since or 0)
            upper = _time_key(until + 1) if until is not None else None
        rows, following = self._page(prefix, lower=lower, upper=upper, after=after, limit=limit, reverse=reverse)
        return Page([self.contract(contract_id) for _, contract_id in rows], following)

    def contract_events(self, contract_id: bytes, *, after: str | None = None, limit: int = MAX_PAGE) -> Page:
        self.contract(contract_id)
        rows, following = self._page(schema.CONTRACT_EVENTS + contract_id, after=after, limit=limit, reverse=False)
        return Page(self._events(suffix for suffix, _ in rows), following)

    # -- evidence

    def evidence(self, *, digest: bytes | None = None, case: str | None = None, kind: str | None = None,
                 after: str | None = None, limit: int = DEFAULT_PAGE, reverse: bool = False) -> Page:
        """Anchorings by digest, case reference or kind (or all of them), in chain order; by
        digest, also the indexed batches the digest is a member of (node/storage/members.py)."""
        chosen = [v for v in (digest, case, kind) if v is not None]
        if len(chosen) > 1:
            raise InvalidParams("query evidence by one of digest, case or kind")
        if digest is not None:
            return self._digest_page(digest, after=after, limit=limit, reverse=reverse)
        if case is not None:
            prefix = schema.EVIDENCE_BY_CASE + keccak(text=case)
        elif kind is not None:
            prefix = schema.EVIDENCE_BY_KIND + keccak(text=kind)
        else:
            prefix = schema.EVIDENCE_ALL
        rows, following = self._page(prefix, after=after, limit=limit, reverse=reverse)
        return Page([evidence_record(e) for e in self._events(suffix for suffix, _ in rows)], following)

    def _digest_page(self, digest: bytes, *, after: str | None, limit: int, reverse: bool) -> Page:
        """A digest's own anchorings and the indexed batches it is a member of, merged in
        chain order: both indexes end their keys in the cursor of an Anchored event, so one
        page token (that cursor) pages both. A cursor is never in both: its event anchors
        either this digest or the root of a batch that holds it, and a root that is one of
        its own leaves would be a SHA-256 fixed point. A member row whose batch is not
        committed (`members.is_committed`: an upload stopped between its slices) is left
        out, so a page may hold fewer than `limit` items and still have a next one."""
        direct, direct_next = self._page(schema.EVIDENCE_BY_DIGEST + digest, after=after, limit=limit,
                                         reverse=reverse)
        member, member_next = self._page(schema.BATCH_MEMBER + digest, after=after, limit=limit, reverse=reverse)
        rows: list[tuple[bytes, bytes | None]] = [(cursor, None) for cursor, _ in direct]
        rows += [(cursor, index) for cursor, index in member]
        rows.sort(key=lambda row: row[0], reverse=reverse)
        more = len(rows) > limit or direct_next is not None or member_next is not None
        rows = rows[:limit]
        items = []
        for cursor, index in rows:
            event = self.event(Cursor.from_bytes(cursor))
            if index is None:
                items.append(self._anchoring_record(event))
                continue
            record = self._committed_batch(event, cursor)
            if record is not None:
                items.append(self._member_record(digest, event, int.from_bytes(index, "big"), record))
        return Page(items, rows[-1][0].hex() if more and rows else None)

    def _anchoring_record(self, event: dict[str, Any]) -> dict[str, Any]:
        """An anchoring found by its digest: no batch (it is the anchored value itself), and
        whether this node holds the members of the batch it anchors (one more read per
        item, so only here, where a page is one digest's few anchorings)."""
        record = evidence_record(event)
        record["batch"] = None
        record["membersIndexed"] = self._store.get(schema.BATCH + bytes.fromhex(record["digest"][2:])) is not None
        return record

    def _committed_batch(self, event: dict[str, Any], cursor: bytes) -> BatchRecord | None:
        """The record of the batch anchored by `event` (at `cursor`) if a member row under
        that cursor is committed; None for a row an unfinished upload left."""
        root = bytes.fromhex(event["args"]["digest"][2:])
        return is_committed(self._store.get(schema.BATCH + root), cursor)

    def _member_record(self, digest: bytes, event: dict[str, Any], leaf_index: int,
                       batch: BatchRecord) -> dict[str, Any]:
        """The entry of `digest` as leaf `leaf_index` of the committed batch `batch`
        anchored by `event`: the root's anchoring (kind, case, submitter, block and time),
        with the member's digest and where in the batch it is."""
        record = evidence_record(event)
        root = record["digest"]
        record["digest"] = "0x" + digest.hex()
        record["batch"] = {"root": root, "leafIndex": leaf_index, "treeSize": batch.size}
        record["membersIndexed"] = True
        return record

    def member_proof(self, digest: bytes, root: bytes | None = None) -> dict[str, Any]:
        """The entry of `digest` as a member of an indexed batch (the first in chain order,
        or the one of `root`) with its RFC 9162 inclusion path to the batch root, leaf's
        sibling first: with the anchoring transaction (`anchored.transactionHash`), what
        rebuilding the member's receipt needs from this node's index. Rows of batches not
        committed are passed over."""
        prefix = schema.BATCH_MEMBER + digest
        found = None
        for key, value in self._store.scan(prefix, schema.prefix_end(prefix), limit=MAX_MEMBERSHIPS):
            cursor = key[len(prefix):]
            event = self.event(Cursor.from_bytes(cursor))
            if root is not None and bytes.fromhex(event["args"]["digest"][2:]) != root:
                continue
            batch = self._committed_batch(event, cursor)
            if batch is not None:
                found = event, int.from_bytes(value, "big"), batch
                break
        if found is None:
            raise NotABatchMember(digest, root)
        event, leaf_index, batch = found
        anchored = bytes.fromhex(event["args"]["digest"][2:])
        chunk = self._store.get(schema.BATCH_LEAVES + anchored + (leaf_index // CHUNK_LEAVES).to_bytes(4, "big"))
        start = (leaf_index % CHUNK_LEAVES) * LEAF_BYTES
        if chunk is None or chunk[start:start + LEAF_BYTES] != digest:
            raise StorageError(f"the leaves stored for batch 0x{anchored.hex()} do not hold 0x{digest.hex()} "
                               f"at leaf {leaf_index}")
        member = self._member_record(digest, event, leaf_index, batch)
        member["inclusionPath"] = ["0x" + node.hex() for node in inclusion_path(chunk, batch.chunk_roots, leaf_index)]
        return member

    # -- commitments

    def commitment(self, commitment_id: int) -> dict[str, Any]:
        record = self._json(schema.COMMITMENT + commitment_key(commitment_id)) if 0 < commitment_id < 2**64 else None
        if record is None:
            raise NotFound(f"no commitment {commitment_id}")
        return record

    def commitments(self, *, now: int, status: str | None = None, raised: str | None = None,
                    unit: str | None = None, due_after: int | None = None, due_before: int | None = None,
                    after: str | None = None, limit: int = DEFAULT_PAGE, reverse: bool = False) -> Page:
        """Commitments by status at time `now` (the clock's: a deadline range of the open
        ones), by the level the chain last raised, by responsible unit, or by deadline
        (`due_after`..`due_before`, inclusive; also the default: every commitment).
        Each record gets `status`, its status at `now`."""
        chosen = [v for v in (status, raised, unit) if v is not None]
        if len(chosen) > 1 or (chosen and (due_after is not None or due_before is not None)):
            raise InvalidParams("query commitments by one of status, raised, unit or a deadline range")
        lower, upper = b"", None
        policy = self.policy()
        if status is not None:
            if status not in COMMITMENT_STATUS_CODE:
                raise InvalidParams(f"status must be one of {', '.join(COMMITMENT_STATUS_CODE)}")
            if status == COMMITMENT_STATUS[FULFILLED]:
                prefix = schema.COMMITMENT_BY_RAISED + bytes([FULFILLED])
            else:
                prefix = schema.COMMITMENT_OPEN
                low, high = _status_deadlines(status, now, policy)
                lower, upper = _time_key(low), (_time_key(high) if high is not None else None)
        elif raised is not None:
            if raised not in COMMITMENT_STATUS_CODE:
                raise InvalidParams(f"raised must be one of {', '.join(COMMITMENT_STATUS_CODE)}")
            prefix = schema.COMMITMENT_BY_RAISED + bytes([COMMITMENT_STATUS_CODE[raised]])
        elif unit is not None:
            prefix = schema.COMMITMENT_BY_UNIT + keccak(text=unit)
        else:
            prefix = schema.COMMITMENT_BY_DEADLINE
            lower = _time_key(due_after or 0)
            upper = _time_key(due_before + 1) if due_before is not None else None
        rows, following = self._page(prefix, lower=lower, upper=upper, after=after, limit=limit, reverse=reverse)
        items = [self.commitment(int.from_bytes(suffix[-8:], "big")) for suffix, _ in rows]
        for record in items:
            record["status"] = commitment_status(record, now, policy)
        return Page(items, following)

    def commitment_events(self, commitment_id: int, *, after: str | None = None, limit: int = MAX_PAGE) -> Page:
        self.commitment(commitment_id)
        rows, following = self._page(schema.COMMITMENT_EVENTS + commitment_key(commitment_id), after=after,
                                     limit=limit, reverse=False)
        return Page(self._events(suffix for suffix, _ in rows), following)

    def units(self) -> list[str]:
        """Every responsible unit named by a commitment, in key order."""
        names: list[str] = []
        after: str | None = None
        while True:
            rows, after = self._page(schema.UNIT_NAME, after=after, limit=MAX_PAGE, reverse=False)
            names.extend(value.decode() for _, value in rows)
            if after is None:
                return names

    def report(self, *, now: int, unit: str | None = None) -> dict[str, Any]:
        """Counts by status at `now` per responsible unit (one unit, or all): the "712
        commitments, 98 alerts, 84 supervisions" view, where alerts are the commitments at
        reminder, warning or demand and supervisions those at demand (as `ledger commitment
        report` counts them), plus the alert events the chain has raised so far
        (`alertsRaised`, and `demandsRaised` of them escalated to supervision). From the
        counters each block writes (node/storage/commitment_counts.py): a few reads per
        unit, however many commitments it holds (a unit no commitment names counts zero)."""
        policy = self.policy()
        units = [unit] if unit is not None else self.units()
        rows = [{"unit": name, **commitment_counts.group_counts(
            self._store, commitment_counts.GROUP_UNIT + keccak(text=name), now, policy)} for name in units]
        totals = {key: sum(row[key] for row in rows) for key in rows[0] if key != "unit"} if rows else {}
        return {"at": now, "policy": {"reminderWindow": policy[0], "demandDelay": policy[1]},
                "units": rows, "totals": totals}

    # -- members

    def member(self, address: bytes) -> dict[str, Any]:
        record = self._json(schema.MEMBER + address)
        if record is None:
            raise NotFound(f"no member 0x{address.hex()}")
        return record

    # -- seals

    def seal(self, seal: bytes) -> dict[str, Any]:
        """The seal's record (NotFound: no seal registered under this id)."""
        record = self._json(schema.SEAL + seal) if len(seal) == 32 else None
        if record is None:
            raise NotFound(f"no seal 0x{seal.hex()}")
        return record

    def seal_or_none(self, seal: bytes) -> dict[str, Any] | None:
        return self._json(schema.SEAL + seal) if len(seal) == 32 else None

    def seals(self, *, owner: bytes | None = None, status: str | None = None, after: str | None = None,
              limit: int = DEFAULT_PAGE, reverse: bool = False) -> Page:
        """Seals in registration order, by owner, by status (Proposed, Approved, Revoked) or
        all: one index per query, as for contracts."""
        if owner is not None and status is not None:
            raise InvalidParams("query seals by one of owner or status")
        if owner is not None:
            prefix = schema.SEAL_BY_OWNER + owner
        elif status is not None:
            if status not in SEAL_STATUS_CODE:
                raise InvalidParams(f"status must be one of {', '.join(SEAL_STATUS.values())}")
            prefix = schema.SEAL_BY_STATUS + bytes([SEAL_STATUS_CODE[status]])
        else:
            prefix = schema.SEAL_ALL
        rows, following = self._page(prefix, after=after, limit=limit, reverse=reverse)
        return Page([self.seal(seal) for _, seal in rows], following)


def _time_key(seconds: int) -> bytes:
    return _HIGH if seconds >= 2**64 else max(0, seconds).to_bytes(8, "big")


def _status_deadlines(status: str, now: int, policy: tuple[int, int]) -> tuple[int, int | None]:
    """The deadlines [low, high) of open commitments whose status at `now` is `status`
    (the inverse of `commitment_status`)."""
    reminder_window, demand_delay = policy
    if status == "demand":
        return 0, max(0, now - demand_delay)
    if status == "warning":
        return max(0, now - demand_delay), now
    if status == "reminder":
        return now, now + reminder_window + 1
    return now + reminder_window + 1, None
