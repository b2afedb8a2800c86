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

Writing: one LevelDB write batch per batch of members (members, leaves, record and the
caller's usage together), so a batch is indexed wholly or not at all, and an upload of a
batch already indexed writes nothing. The bytes a batch takes are charged to its caller
and to the node (`MemberQuota`), and no upload takes the disk's last MIN_FREE_BYTES.

The pure part (`BatchLeaves`, `choose_anchoring`, `inclusion_path`, `index_bytes`) takes its
inputs as arguments; `MemberIndex` is the I/O around it. Reading members with the rest of
the evidence index is node/storage/index_queries.py's.
"""
from __future__ import annotations

import json
import os
import threading
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
# takes ~4 s and ~230 MB above idle at the peak (the body, LevelDB's write batch and
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


def member_writes(batch: BatchLeaves, cursor: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Every key of `batch`, anchored at `cursor`. The members go last leaf first: a digest
    that is two leaves of one batch keeps its first (the later put of a write batch wins)."""
    leaves = batch.leaves
    for index in range(batch.size - 1, -1, -1):
        start = index * LEAF_BYTES
        yield schema.BATCH_MEMBER + leaves[start:start + LEAF_BYTES] + cursor, index.to_bytes(4, "big")
    for chunk, start in enumerate(range(0, len(leaves), CHUNK_BYTES)):
        yield schema.BATCH_LEAVES + batch.root + chunk.to_bytes(4, "big"), leaves[start:start + CHUNK_BYTES]
    yield schema.BATCH + batch.root, encode_record(BatchRecord(cursor, batch.size, batch.chunk_roots))


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

    def write_items(self, items: Iterator[tuple[bytes, bytes | None]]) -> None: ...


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
    """Adds batches of members to the node's LevelDB. `add` is thread-safe; it runs the
    hashing before taking its lock and the quota check and write under it."""

    def __init__(self, store: _Store, quota: MemberQuota | None = None,
                 max_members: int = MAX_BATCH_MEMBERS) -> None:
        self._store = store
        self.quota = quota if quota is not None else MemberQuota()
        self.max_members = max_members
        self._lock = threading.Lock()

    def add(self, root: bytes, body: bytes, caller: str) -> MembersAdded:
        """Index the leaves in `body` as the members of the batch anchored under `root`,
        charged to `caller`.

        Order: (1) the leaves make `root` (LeavesRefused); (2) `root` is anchored with
        their count (RootNotAnchored, LeavesRefused); (3) a batch already indexed is
        answered as it is; (4) the caller's and the node's quota and the disk's reserve
        (MemberQuotaExceeded); (5) one write batch: members, leaves, record, usage."""
        batch = BatchLeaves.parse(root, body, self.max_members)  # 1
        cursor = choose_anchoring(root, batch.size, self._anchorings(root))  # 2
        charged = index_bytes(batch.size)
        when = _cursor_text(cursor)
        with self._lock:
            existing = self._store.get(schema.BATCH + root)
            if existing is not None:  # 3
                record = decode_record(existing)
                return MembersAdded(root, record.size, _cursor_text(record.cursor), False, index_bytes(record.size))
            caller_key = schema.MEMBER_USAGE + caller.encode("ascii", "replace")
            caller_used = _count(self._store.get(caller_key))
            total_used = _count(self._store.get(schema.MEMBER_USAGE_TOTAL))
            self._check_quota(caller, caller_used, total_used, charged)  # 4
            usage = iter(((caller_key, (caller_used + charged).to_bytes(8, "big")),
                          (schema.MEMBER_USAGE_TOTAL, (total_used + charged).to_bytes(8, "big"))))
            self._store.write_items(_chain(member_writes(batch, cursor), usage))  # 5
        return MembersAdded(root, batch.size, when, True, charged)

    def usage(self, caller: str) -> tuple[int, int]:
        """(the caller's bytes, the node's bytes) in the index."""
        return (_count(self._store.get(schema.MEMBER_USAGE + caller.encode("ascii", "replace"))),
                _count(self._store.get(schema.MEMBER_USAGE_TOTAL)))

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


def _chain(*parts: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes | None]]:
    for part in parts:
        yield from part


def _count(raw: bytes | None) -> int:
    return 0 if raw is None else int.from_bytes(raw, "big")


def _cursor_text(cursor: bytes) -> str:
    return str(Cursor.from_bytes(cursor))
