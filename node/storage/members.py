"""Batch members: which anchored batch holds a digest, at which leaf, and what rebuilds its
inclusion path — so a file anchored inside a batch is found by its own digest.

The chain holds only a batch's RFC 9162 root. The anchoring client hands the node the
batch's leaves (the entry digests, in tree order) once the root is on chain; `MemberIndex.add`
keeps them only if they make that root and their count is the anchored leaf count. Nothing
here is derived from the chain's logs, so the keys (node/storage/schema.py, under "m") lie
outside the event indexes that `ledger chain verify` rebuilds and compares; a member's
receipt is checked against the chain anyway, by whoever verifies it.

Layout, per batch of n leaves (keys in node/storage/schema.py):

* one member key per leaf: digest ‖ cursor of the root's Anchored event -> leaf index;
* the leaves in chunks of CHUNK_LEAVES, in tree order;
* the batch record: that cursor, n, and each chunk's subtree root.

A chunk of CHUNK_LEAVES (a power of two) leaves starting at a multiple of it is a node of
the RFC 9162 tree (merkle.MerkleTree's docstring), the last chunk being the tree's
rightmost node at that height; so the tree over the chunk roots is the batch's tree cut
at that height. An inclusion path is the leaf's path inside its chunk followed by its
chunk's path among the chunk roots: one chunk read and CHUNK_LEAVES + n / CHUNK_LEAVES
hashes, not n. (`inclusion_path`; tests/unit/node/test_members.py checks it against the
whole tree at the sizes where the cut matters.)

Writing: the members and leaves go in slices of at most MEMBER_SLICE_BYTES, each its own
unsynced LevelDB write batch, and then one small synced batch writes the batch record with
the caller's and the node's usage: that batch is the commit point (its sync makes the
slices before it in LevelDB's log durable too). A block commit is a synced write batch on
the same LevelDB, and LevelDB applies write batches one at a time, so a block waits for at
most one slice, not for a whole upload (80 MB at 10^6 members: seconds); and the upload
waits for LevelDB's compaction before each slice, so it never piles up the level-0 files
at which LevelDB stalls every writer (MEMBER_MAX_LEVEL0_FILES; bench/members.py measures
the longest block commit during an upload). Readers (node/storage/index_queries.py) see a member row
only if its batch's record is stored with the row's cursor: rows left by an upload that
stopped between slices (a crash, a refusal) are invisible and uncharged, and the next
upload of that batch writes the same keys again and commits them. An upload of a batch
already indexed writes nothing. The bytes a batch takes are charged to its caller and to
the node (`MemberQuota`), counting committed batches only, and no upload takes the disk's
last MIN_FREE_BYTES.

The pure part (`BatchLeaves`, `choose_anchoring`, `inclusion_path`, `index_bytes`,
`member_slices`, `is_committed`) takes its
inputs as arguments; `MemberIndex` is the I/O around it. Reading members with the rest of
the evidence index is node/storage/index_queries.py's.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from evidence import merkle
from node.errors import ConfigError, InvalidParams, NodeError, NotFound, QuotaExceeded, StorageError
from node.storage import schema
from node.storage.blobs import GIB, MIN_FREE_BYTES
from node.storage.indexes import Cursor

LEAF_BYTES = 32  # a leaf is an entry's digest: SHA-256 or SM3, both 32 bytes
# Leaves per stored chunk: a power of two (so a chunk is a node of the tree, above). A
# proof reads one chunk and hashes its leaves; 1,024 leaves are 32 KiB and ~2,000 hashes
# (about a millisecond), and leave 977 chunk roots (31 KiB in the batch record) at 10^6.
CHUNK_LEAVES = 1024
CHUNK_BYTES = CHUNK_LEAVES * LEAF_BYTES
# The most leaves one batch may hand over: the SDK's cap on a batch (client/anchoring.py
# MAX_BATCH; tests/unit/node/test_members.py keeps the two equal), so every batch the SDK
# anchors can be indexed. One upload of it is a 32 MB body, and checking and writing it
# takes seconds and ~230 MB above idle at the peak (the body, its hashes, LevelDB's
# memtable; bench/members.py), so the node works on one upload at a time
# (node/rpc/rest/members.py).
MAX_BATCH_MEMBERS = 1_000_000
MAX_MEMBERS_BODY_BYTES = MAX_BATCH_MEMBERS * LEAF_BYTES
# Anchorings of one root looked at to find the one the leaves belong to (the first whose
# leaf count is theirs). A root is anchored once by its batch; more are re-anchorings,
# which a member can ride on only if one of the first thousand has the right count.
MAX_ROOT_ANCHORINGS = 1_000
# Memberships of one digest looked at for its proof (the same file in many batches).
MAX_MEMBERSHIPS = 1_000
# The most bytes (keys and values) one write batch of an upload's members and leaves holds.
# LevelDB applies write batches one at a time, so this is what a block commit may wait
# behind: 1 MiB is ~12,000 members, applied in ~20 ms here (bench/members.py), against
# seconds for a whole batch of 10^6 in one write. Smaller slices only add per-batch cost:
# a million members are ~80 slices.
MEMBER_SLICE_BYTES = 1 << 20
# The pause between two slices: the uploading thread lets go of the GIL and of LevelDB's
# writer queue, so the event loop and a block commit waiting behind the slice go first.
# ~80 ms over a million members.
MEMBER_SLICE_PAUSE_SECONDS = 0.001
# LevelDB stops every writer, block commits too, while level 0 holds 12 table files, and
# slows each write by 1 ms from 8, until compaction merges them into level 1; an upload
# written as fast as LevelDB takes it gets there within a second (a 1.5 s stall of block
# commits at 10^6 members, bench/members.py). So before each slice the upload waits while
# level 0 holds MEMBER_MAX_LEVEL0_FILES or more: 4 is where LevelDB starts compacting it,
# so the upload goes at the pace of compaction and block commits never meet the slowdown.
MEMBER_MAX_LEVEL0_FILES = 4
# How often the waiting upload asks again, and the longest it waits before one slice (a
# compaction that has not caught up by then is stuck or failing: the upload then writes
# on and LevelDB's own throttle applies, rather than holding its slot for ever).
MEMBER_COMPACTION_POLL_SECONDS = 0.01
MEMBER_COMPACTION_WAIT_SECONDS = 30.0

# Quota defaults (node.json rpc.limits member_store_bytes / member_caller_bytes override them;
# node/rpc/app.py hands add_rest_routes the MemberQuota). A member
# is charged 83 bytes (its key and leaf index, its leaf in a chunk: `index_bytes`), and
# takes 79 on disk after compaction at 10^6 (bench/members.py: random digests do not
# compress; LevelDB's key prefix sharing saves a little). A caller's 4 GiB is ~50 million
# members: a trading center anchoring 10,000 files a day fills it in about 14 years. The
# node's 16 GiB is four such callers, and leaves a data volume sized for the chain to it.
MAX_MEMBER_STORE_BYTES = 16 * GIB
MAX_MEMBER_CALLER_BYTES = 4 * GIB

# The bytes a batch is charged (`index_bytes`): what its keys and values hold.
_MEMBER_ENTRY_BYTES = len(schema.BATCH_MEMBER) + LEAF_BYTES + 12 + 4  # key (digest ‖ cursor) and leaf index
_CHUNK_KEY_BYTES = len(schema.BATCH_LEAVES) + 32 + 4
_RECORD_BYTES = len(schema.BATCH) + 32 + 12 + 4


class LeavesRefused(InvalidParams):
    """Leaves that are not the batch anchored under `root`: `reason` says how (a body that
    is not whole leaves, too many, a count that is not the anchored one, another root);
    `computed` is the root they make, when that was reached. HTTP 400."""

    def __init__(self, root: bytes, reason: str, *, computed: bytes | None = None, leaf_count: int | None = None) -> None:
        super().__init__(f"batch root 0x{root.hex()}: {reason}")
        self.root = root
        self.reason = reason
        self.computed = computed
        self.leaf_count = leaf_count


class RootNotAnchored(NodeError):
    """`root` is not (yet) an anchored entry of the evidence registry on this node's chain:
    retry once the block that anchors it is stored. HTTP 409."""

    def __init__(self, root: bytes) -> None:
        super().__init__(f"batch root 0x{root.hex()} is not anchored on this node's chain (yet): "
                         "hand the members over once its block is stored")
        self.root = root


class BatchHeldWithOtherSize(NodeError):
    """The node holds the batch of `root` with `held` members; an upload declaring
    `declared` leaves cannot be it (they would not make the root). HTTP 409: nothing an
    upload can change."""

    def __init__(self, root: bytes, held: int, declared: int) -> None:
        super().__init__(f"this node holds this batch with {held} members (batch root 0x{root.hex()}); an upload "
                         f"of {declared} leaves cannot be it")
        self.root = root
        self.held = held
        self.declared = declared


class NotABatchMember(NotFound):
    """`digest` is not a member of an indexed batch (of `root`, when one was named)."""

    def __init__(self, digest: bytes, root: bytes | None = None) -> None:
        where = f"the batch 0x{root.hex()}" if root is not None else "any batch whose members this node holds"
        super().__init__(f"0x{digest.hex()} is not a member of {where}")
        self.digest = digest
        self.root = root


class MemberQuotaExceeded(QuotaExceeded):
    """A member upload would take more than the member index's quota allows (`unit`
    "bytes" or "free bytes")."""

    def __init__(self, scope: str, unit: str, used: int, adding: int, limit: int, caller: str | None = None) -> None:
        if scope == "caller":
            text = (f"caller {caller} has used its batch-member quota: {used} bytes indexed, this batch adds "
                    f"{adding}, the limit per caller is {limit}")
        elif unit == "free bytes":
            text = (f"the node's disk is nearly full: {used} bytes free, this batch needs {adding}, and {limit} "
                    "bytes are kept free for the chain")
        else:
            text = f"the node's batch-member index is full: {used} bytes, this batch adds {adding}, the limit is {limit}"
        super().__init__(text, scope, unit, used, adding, limit, caller)


@dataclass(frozen=True)
class MemberQuota:
    """What member uploads may take of the node's disk (defaults above)."""

    store_bytes: int = MAX_MEMBER_STORE_BYTES
    caller_bytes: int = MAX_MEMBER_CALLER_BYTES
    min_free_bytes: int = MIN_FREE_BYTES

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"member quota {item.name}", f"must be a whole number >= 0, got {value!r}")
        if self.caller_bytes > self.store_bytes:
            raise ConfigError("member quota", "a caller's share cannot exceed the node's total")


# -- the pure part ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchLeaves:
    """A batch's leaves (concatenated, in tree order), with the root of each chunk and of
    the whole tree. Exists only checked: `parse`."""

    leaves: bytes
    chunk_roots: tuple[bytes, ...]
    root: bytes

    @property
    def size(self) -> int:
        return len(self.leaves) // LEAF_BYTES

    @classmethod
    def parse(cls, root: bytes, body: bytes, max_members: int = MAX_BATCH_MEMBERS) -> BatchLeaves:
        """The leaves in `body` if they make `root`; LeavesRefused otherwise."""
        if not body or len(body) % LEAF_BYTES:
            raise LeavesRefused(root, f"the body is {len(body)} bytes, not 1 or more leaves of {LEAF_BYTES} bytes")
        count = len(body) // LEAF_BYTES
        if count > max_members:
            raise LeavesRefused(root, f"{count} leaves, more than a batch may hand over ({max_members})",
                                leaf_count=count)
        roots = tuple(chunk_root(body[start:start + CHUNK_BYTES]) for start in range(0, len(body), CHUNK_BYTES))
        computed = merkle.root_from_leaf_hashes(roots)
        if computed != root:
            raise LeavesRefused(root, f"these {count} leaves make the root 0x{computed.hex()}", computed=computed,
                                leaf_count=count)
        return cls(bytes(body), roots, root)


def chunk_root(chunk: bytes) -> bytes:
    """The RFC 9162 root of the concatenated leaves `chunk` (raw leaf inputs)."""
    return merkle.MerkleTree([merkle.leaf_hash(chunk[i:i + LEAF_BYTES]) for i in range(0, len(chunk), LEAF_BYTES)]).root


def choose_anchoring(root: bytes, size: int, anchorings: Sequence[tuple[bytes, int]]) -> bytes:
    """The cursor of the first anchoring of `root` (cursor, leaf count; in chain order)
    whose leaf count is `size`: what a member's receipt will point at (its step 7 checks
    that count). RootNotAnchored if there is none at all, LeavesRefused if none has it."""
    if not anchorings:
        raise RootNotAnchored(root)
    for cursor, leaf_count in anchorings:
        if leaf_count == size:
            return cursor
    counts = ", ".join(str(count) for _, count in anchorings[:5])
    raise LeavesRefused(root, f"{size} leaves, but it was anchored with a leaf count of {counts}", leaf_count=size)


def index_bytes(size: int) -> int:
    """The bytes a batch of `size` leaves takes in the index (keys and values), which its
    caller is charged."""
    chunks = -(-size // CHUNK_LEAVES)
    return size * (_MEMBER_ENTRY_BYTES + LEAF_BYTES) + chunks * (_CHUNK_KEY_BYTES + 32) + _RECORD_BYTES


def member_rows(batch: BatchLeaves, cursor: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The member and leaf keys of `batch`, anchored at `cursor`: all but the record. The
    members go last leaf first: a digest that is two leaves of one batch keeps its first
    (of two puts of one key, the later wins, within a write batch and across them)."""
    leaves = batch.leaves
    for index in range(batch.size - 1, -1, -1):
        start = index * LEAF_BYTES
        yield schema.BATCH_MEMBER + leaves[start:start + LEAF_BYTES] + cursor, index.to_bytes(4, "big")
    for chunk, start in enumerate(range(0, len(leaves), CHUNK_BYTES)):
        yield schema.BATCH_LEAVES + batch.root + chunk.to_bytes(4, "big"), leaves[start:start + CHUNK_BYTES]


def record_row(batch: BatchLeaves, cursor: bytes) -> tuple[bytes, bytes]:
    """The batch record's key and value: written last, it makes the batch's rows visible."""
    return schema.BATCH + batch.root, encode_record(BatchRecord(cursor, batch.size, batch.chunk_roots))


def member_writes(batch: BatchLeaves, cursor: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Every key of `batch`, anchored at `cursor`, in the order they are written."""
    yield from member_rows(batch, cursor)
    yield record_row(batch, cursor)


def member_slices(batch: BatchLeaves, cursor: bytes,
                  slice_bytes: int = MEMBER_SLICE_BYTES) -> Iterator[list[tuple[bytes, bytes]]]:
    """`member_rows` in order, cut into lists of at most `slice_bytes` of keys and values
    (a row larger than that alone: a chunk of leaves is 32 KiB)."""
    rows: list[tuple[bytes, bytes]] = []
    size = 0
    for key, value in member_rows(batch, cursor):
        row_bytes = len(key) + len(value)
        if rows and size + row_bytes > slice_bytes:
            yield rows
            rows, size = [], 0
        rows.append((key, value))
        size += row_bytes
    if rows:
        yield rows


def is_committed(raw_record: bytes | None, cursor: bytes) -> BatchRecord | None:
    """The batch record `raw_record` if a member row anchored at `cursor` is part of it
    (committed); None for a row an unfinished upload left (no record, or one of another
    anchoring)."""
    if raw_record is None:
        return None
    record = decode_record(raw_record)
    return record if record.cursor == cursor else None


@dataclass(frozen=True)
class BatchRecord:
    """What the index holds of a batch besides its members and leaves."""

    cursor: bytes  # the root's Anchored event the leaves were checked against (12 bytes)
    size: int
    chunk_roots: tuple[bytes, ...]


def encode_record(record: BatchRecord) -> bytes:
    return record.cursor + record.size.to_bytes(4, "big") + b"".join(record.chunk_roots)


def decode_record(raw: bytes) -> BatchRecord:
    if len(raw) < 16 or (len(raw) - 16) % 32:
        raise StorageError(f"a batch record of {len(raw)} bytes is not one this node wrote")
    roots = tuple(raw[i:i + 32] for i in range(16, len(raw), 32))
    return BatchRecord(raw[:12], int.from_bytes(raw[12:16], "big"), roots)


def inclusion_path(chunk: bytes, chunk_roots: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 PATH(index, D[n]) of leaf `index` of the batch whose chunk holding it is
    `chunk` (its leaves, concatenated) and whose chunk roots are `chunk_roots`."""
    inner = merkle.MerkleTree([merkle.leaf_hash(chunk[i:i + LEAF_BYTES]) for i in range(0, len(chunk), LEAF_BYTES)])
    return inner.inclusion_proof(index % CHUNK_LEAVES) + merkle.MerkleTree(list(chunk_roots)).inclusion_proof(
        index // CHUNK_LEAVES)


# -- the store ----------------------------------------------------------------------------------


class _Store(Protocol):
    """What MemberIndex needs of node/storage/store.py's LevelStore."""

    @property
    def path(self) -> os.PathLike[str]: ...

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, lower: bytes, upper: bytes, *, after: bytes | None = None, reverse: bool = False,
             limit: int) -> list[tuple[bytes, bytes]]: ...

    def write_items(self, items: Iterator[tuple[bytes, bytes | None]], *, sync: bool = True) -> None: ...

    def level0_files(self) -> int: ...


@dataclass(frozen=True)
class MembersAdded:
    """What an upload did: the batch's root and size, the anchoring it belongs to, whether
    it was new (False: the index held it already, nothing was written or charged), and the
    bytes it takes in the index."""

    root: bytes
    size: int
    cursor: str
    created: bool
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"root": "0x" + self.root.hex(), "members": self.size, "anchored": self.cursor,
                "created": self.created, "bytes": self.bytes}


class MemberIndex:
    """Adds batches of members to the node's LevelDB. `add` is thread-safe: it hashes
    before taking its lock, and checks, writes and commits under it, so two uploads of one
    batch index and charge it once. The lock is the member index's alone: block commits
    never wait for it, only for the slice being written."""

    def __init__(self, store: _Store, quota: MemberQuota | None = None,
                 max_members: int = MAX_BATCH_MEMBERS, slice_bytes: int = MEMBER_SLICE_BYTES) -> None:
        self._store = store
        self.quota = quota if quota is not None else MemberQuota()
        self.max_members = max_members
        self.slice_bytes = slice_bytes
        self._lock = threading.Lock()

    def admit(self, root: bytes, size: int, caller: str) -> MembersAdded | None:
        """The refusals an upload of `size` leaves under `root` by `caller` can be given
        before its body is read (node/rpc/rest/members.py), from reads only: a size out of
        bounds (LeavesRefused); a batch already indexed, answered as it is (a MembersAdded,
        not created), or BatchHeldWithOtherSize; `root` not anchored with that count
        (RootNotAnchored, LeavesRefused); the quotas (MemberQuotaExceeded). None: read the
        body and `add` it, which checks all of this again."""
        if not 1 <= size <= self.max_members:
            raise LeavesRefused(root, f"{size} leaves: a batch hands over 1 to {self.max_members}", leaf_count=size)
        existing = self._store.get(schema.BATCH + root)
        if existing is not None:
            record = decode_record(existing)
            if record.size != size:
                raise BatchHeldWithOtherSize(root, record.size, size)
            return MembersAdded(root, record.size, _cursor_text(record.cursor), False, index_bytes(record.size))
        choose_anchoring(root, size, self._anchorings(root))
        caller_used, total_used = self.usage(caller)
        self._check_quota(caller, caller_used, total_used, index_bytes(size))
        return None

    def add(self, root: bytes, body: bytes, caller: str) -> MembersAdded:
        """Index the leaves in `body` as the members of the batch anchored under `root`,
        charged to `caller`.

        Order: (1) the leaves make `root` (LeavesRefused); (2) `root` is anchored with
        their count (RootNotAnchored, LeavesRefused); (3) a batch already indexed is
        answered as it is; (4) the caller's and the node's quota and the disk's reserve
        (MemberQuotaExceeded); (5) the members and leaves, slice by slice; (6) the commit:
        one synced write batch of the record and the usage. Stopped anywhere before (6), it
        leaves nothing visible and nothing charged, and a later `add` completes it."""
        batch = BatchLeaves.parse(root, body, self.max_members)  # 1
        cursor = choose_anchoring(root, batch.size, self._anchorings(root))  # 2
        charged = index_bytes(batch.size)
        with self._lock:
            existing = self._store.get(schema.BATCH + root)
            if existing is not None:  # 3
                record = decode_record(existing)
                return MembersAdded(root, record.size, _cursor_text(record.cursor), False, index_bytes(record.size))
            caller_used, total_used = self.usage(caller)
            self._check_quota(caller, caller_used, total_used, charged)  # 4
            for rows in member_slices(batch, cursor, self.slice_bytes):  # 5
                self._wait_for_compaction()
                self._store.write_items(iter(rows), sync=False)  # made durable by the commit's sync
                time.sleep(MEMBER_SLICE_PAUSE_SECONDS)
            self._store.write_items(iter((  # 6
                record_row(batch, cursor),
                (_usage_key(caller), (caller_used + charged).to_bytes(8, "big")),
                (schema.MEMBER_USAGE_TOTAL, (total_used + charged).to_bytes(8, "big")),
            )))
        return MembersAdded(root, batch.size, _cursor_text(cursor), True, charged)

    def usage(self, caller: str) -> tuple[int, int]:
        """(the caller's bytes, the node's bytes) in the index: committed batches only."""
        return _count(self._store.get(_usage_key(caller))), _count(self._store.get(schema.MEMBER_USAGE_TOTAL))

    def _wait_for_compaction(self) -> None:
        """Wait (bounded) while LevelDB's level 0 is at MEMBER_MAX_LEVEL0_FILES: the next
        slice would push it toward the files count at which LevelDB stalls every writer."""
        deadline = time.monotonic() + MEMBER_COMPACTION_WAIT_SECONDS
        while self._store.level0_files() >= MEMBER_MAX_LEVEL0_FILES and time.monotonic() < deadline:
            time.sleep(MEMBER_COMPACTION_POLL_SECONDS)

    def _anchorings(self, root: bytes) -> list[tuple[bytes, int]]:
        """(cursor, leaf count) of each anchoring of `root` the event index holds, in chain order."""
        prefix = schema.EVIDENCE_BY_DIGEST + root
        rows = self._store.scan(prefix, prefix + b"\xff" * 13, limit=MAX_ROOT_ANCHORINGS)
        found = []
        for key, _ in rows:
            cursor = key[len(prefix):]
            raw = self._store.get(schema.EVENT + cursor)
            if raw is None:
                raise StorageError(f"the evidence index names event {_cursor_text(cursor)}, which is not stored")
            found.append((cursor, int(json.loads(raw)["args"]["leafCount"])))
        return found

    def _check_quota(self, caller: str, caller_used: int, total_used: int, adding: int) -> None:
        q = self.quota
        if caller_used + adding > q.caller_bytes:
            raise MemberQuotaExceeded("caller", "bytes", caller_used, adding, q.caller_bytes, caller)
        if total_used + adding > q.store_bytes:
            raise MemberQuotaExceeded("store", "bytes", total_used, adding, q.store_bytes)
        stat = os.statvfs(self._store.path)
        free = stat.f_bavail * stat.f_frsize
        if free - adding < q.min_free_bytes:
            raise MemberQuotaExceeded("store", "free bytes", free, adding, q.min_free_bytes)


def _usage_key(caller: str) -> bytes:
    return schema.MEMBER_USAGE + caller.encode("ascii", "replace")


def _count(raw: bytes | None) -> int:
    return 0 if raw is None else int.from_bytes(raw, "big")


def _cursor_text(cursor: bytes) -> str:
    return str(Cursor.from_bytes(cursor))
