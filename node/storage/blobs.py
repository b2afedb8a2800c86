"""The node's content-addressed blob store (`<data_dir>/blobs/`) and its quota.

Blobs are opaque bytes named by their SHA-256 — in practice sealed envelopes
(client/envelope.py): the ledger anchors their digests, the ciphertext lives here, never on
chain. Layout: `blobs/ab/cdef…` (the first two hex digits of the hash shard, the other
62 name the file). A blob is written to `blobs/.tmp/`, fsynced, then renamed into place
and its directory fsynced, so a blob under its final name is always complete; leftovers
in `.tmp/` from a crash are removed when the store opens.

Quota (`BlobQuota`): the store shares the data directory's disk with the chain, so
uploads may take at most `max_bytes` and `max_blobs` in all, each caller (its token; on
a node without authentication, its client address) at most `caller_bytes` and
`caller_blobs` of that, and never the disk's last `min_free_bytes`. Bytes are reserved
as they stream in, so concurrent uploads cannot overshoot together; a refused upload
leaves nothing behind. The store's totals come from the files at open; who created
which blob is appended to `blobs.uploads` beside the store (one line per blob: hash,
size, caller), so a caller's share survives restarts. Blobs are never deleted by the node.

The HTTP routes that serve it (PUT /v1/blobs, GET and HEAD /v1/blobs/{sha256}) are
node/rpc/rest/blobs.py's.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from node.api import MAX_BLOB_BYTES
from node.errors import ConfigError, InvalidParams, NodeError, NotFound, QuotaExceeded

# The store's quota defaults (node.json rpc.limits blob_* overrides them; node/rpc/limits.py).
GIB = 1024 ** 3
# The store's total. Sealed tender and contract files run from a few hundred KiB to tens of
# MiB; 32 GiB holds ~130,000 envelopes of 256 KiB (years of a busy trading center's
# sealed documents) or 500 at the 64 MiB cap, and leaves the rest of a data volume sized
# for the chain to the chain. An operator with a bigger volume raises it.
MAX_STORE_BYTES = 32 * GIB
# The store's blob count: each is a file (an inode, a directory entry in one of 256
# shards) and one stat when the store opens, which at this count takes about a second.
MAX_STORE_BLOBS = 250_000
# One caller's share: a quarter of the store, so one token (or one client address where
# authentication is off) filling its quota leaves room for at least three others.
MAX_CALLER_BYTES = MAX_STORE_BYTES // 4
MAX_CALLER_BLOBS = MAX_STORE_BLOBS // 4
# Free space an upload never takes: blocks, state and indexes are written to the same
# disk, and a chain that cannot write its next block halts. 1 GiB is hours of blocks at
# the transaction-size caps and room for LevelDB's compactions.
MIN_FREE_BYTES = 1 * GIB


BLOB_DIR = "blobs"
TEMP_DIR = ".tmp"

# Who created which blob: "<sha256> <size> <caller>" per line, appended after the rename;
# beside the store's directory (`<data_dir>/blobs.uploads`), which holds only blobs.
UPLOADS_SUFFIX = ".uploads"
# A caller id is "token:" and 32 hex digits or "client:" and an address; a longer line in
# the uploads file is not one we wrote.
MAX_UPLOAD_LINE_CHARS = 256
# The caller of a request without a token and without a client address (in-process tests).
UNKNOWN_CALLER = "client:?"

# A blob's name: its SHA-256 in lowercase hex (the OpenAPI document declares this pattern).
SHA256_HEX = "[0-9a-f]{64}"
_SHA256_HEX = re.compile(SHA256_HEX)
_SHARD = re.compile(r"[0-9a-f]{2}")


class BadBlobHash(InvalidParams):
    """A blob name that is not 64 lowercase hex digits."""

    def __init__(self, given: str) -> None:
        super().__init__(f"not a SHA-256 hex digest (64 lowercase hex digits): {given[:80]!r}")
        self.given = given


class NoSuchBlob(NotFound):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob {sha256}")
        self.sha256 = sha256


class BlobTooLarge(NodeError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"blob of at least {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class BlobQuota:
    """What uploads may take of the node's disk (defaults above; each should be a
    `ledger node start` option / node.json `rpc` setting)."""

    max_bytes: int = MAX_STORE_BYTES
    max_blobs: int = MAX_STORE_BLOBS
    caller_bytes: int = MAX_CALLER_BYTES
    caller_blobs: int = MAX_CALLER_BLOBS
    min_free_bytes: int = MIN_FREE_BYTES

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"blob quota {item.name}", f"must be a whole number >= 0, got {value!r}")
        if self.caller_bytes > self.max_bytes or self.caller_blobs > self.max_blobs:
            raise ConfigError("blob quota", "a caller's share cannot exceed the store's total")


class BlobQuotaExceeded(QuotaExceeded):
    """A blob upload would take more than the blob store's quota allows (`used`: what is
    stored and in flight)."""

    def __init__(self, scope: str, unit: str, used: int, adding: int, limit: int, caller: str | None = None) -> None:
        if scope == "caller":
            text = (f"caller {caller} has used its blob quota: {used} {unit} stored or in flight, "
                    f"this upload adds {adding}, the limit per caller is {limit}")
        elif unit == "free bytes":
            text = (f"the node's disk is nearly full: {used} bytes free, this upload needs {adding}, "
                    f"and {limit} bytes are kept free for the chain")
        else:
            text = (f"the node's blob store is full: {used} {unit} stored or in flight, this upload adds {adding}, "
                    f"the store's limit is {limit}")
        super().__init__(text, scope, unit, used, adding, limit, caller)

    def to_json(self) -> dict[str, object]:
        return {"detail": str(self), "scope": self.scope, "unit": self.unit, "used": self.used,
                "adding": self.adding, "limit": self.limit}


class BlobUsage:
    """Bytes and blobs stored plus in flight, in all and per caller, against a BlobQuota.

    A writer reserves one blob when it starts and each chunk's bytes before writing them;
    a blob it commits keeps its reservation, and anything else (a duplicate of a stored
    blob, an abort) gives it back. Thread-safe: chunks arrive on the event loop, commits
    run in a worker thread.
    """

    def __init__(self, quota: BlobQuota, stored_bytes: int = 0, stored_blobs: int = 0,
                 by_caller: dict[str, tuple[int, int]] | None = None) -> None:
        self.quota = quota
        self.bytes = stored_bytes
        self.blobs = stored_blobs
        self._callers: dict[str, list[int]] = {k: [b, n] for k, (b, n) in (by_caller or {}).items()}
        self._lock = threading.Lock()

    def caller(self, caller: str) -> tuple[int, int]:
        """(bytes, blobs) the caller has stored or in flight."""
        with self._lock:
            used = self._callers.get(caller, [0, 0])
            return used[0], used[1]

    def check(self, caller: str, nbytes: int, nblobs: int = 0) -> None:
        """Raise BlobQuotaExceeded if `nbytes` and `nblobs` more would not fit (reserve nothing)."""
        with self._lock:
            self._check(caller, nbytes, nblobs)

    def reserve(self, caller: str, nbytes: int, nblobs: int = 0) -> None:
        with self._lock:
            self._check(caller, nbytes, nblobs)
            self.bytes += nbytes
            self.blobs += nblobs
            used = self._callers.setdefault(caller, [0, 0])
            used[0] += nbytes
            used[1] += nblobs

    def release(self, caller: str, nbytes: int, nblobs: int) -> None:
        with self._lock:
            self.bytes -= nbytes
            self.blobs -= nblobs
            used = self._callers.get(caller)
            if used is not None:
                used[0] -= nbytes
                used[1] -= nblobs
                if used == [0, 0]:
                    del self._callers[caller]  # callers with nothing stored cost no memory

    def _check(self, caller: str, nbytes: int, nblobs: int) -> None:
        q = self.quota
        if nblobs and self.blobs + nblobs > q.max_blobs:
            raise BlobQuotaExceeded("store", "blobs", self.blobs, nblobs, q.max_blobs)
        if self.bytes + nbytes > q.max_bytes:
            raise BlobQuotaExceeded("store", "bytes", self.bytes, nbytes, q.max_bytes)
        used_bytes, used_blobs = self._callers.get(caller, [0, 0])
        if nblobs and used_blobs + nblobs > q.caller_blobs:
            raise BlobQuotaExceeded("caller", "blobs", used_blobs, nblobs, q.caller_blobs, caller)
        if used_bytes + nbytes > q.caller_bytes:
            raise BlobQuotaExceeded("caller", "bytes", used_bytes, nbytes, q.caller_bytes, caller)


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int
    created: bool  # False: the store already held these bytes

    def to_json(self) -> dict[str, object]:
        return {"sha256": self.sha256, "size": self.size}


def check_hash(sha256: str) -> str:
    """`sha256` if it is 64 lowercase hex digits; raises BadBlobHash otherwise."""
    if not _SHA256_HEX.fullmatch(sha256):
        raise BadBlobHash(sha256)
    return sha256


class BlobStore:
    def __init__(self, root: Path, max_bytes: int = MAX_BLOB_BYTES, *, quota: BlobQuota | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.quota = quota if quota is not None else BlobQuota()
        self.temp = root / TEMP_DIR
        self.temp.mkdir(parents=True, exist_ok=True)
        for leftover in self.temp.iterdir():  # writes a crash interrupted
            leftover.unlink(missing_ok=True)
        self.uploads_path = root.with_name(root.name + UPLOADS_SUFFIX)
        self.commit_lock = threading.Lock()
        stored_bytes, stored_blobs = 0, 0
        for size in self._stored_sizes():
            stored_bytes += size
            stored_blobs += 1
        self.usage = BlobUsage(self.quota, stored_bytes, stored_blobs, self._uploads_by_caller())

    def _stored_sizes(self) -> Iterator[int]:
        """The size of every blob on disk (one stat each)."""
        with os.scandir(self.root) as shards:
            for shard in shards:
                if not (_SHARD.fullmatch(shard.name) and shard.is_dir(follow_symlinks=False)):
                    continue
                with os.scandir(shard.path) as entries:
                    for entry in entries:
                        if entry.is_file(follow_symlinks=False):
                            yield entry.stat(follow_symlinks=False).st_size

    def _uploads_by_caller(self) -> dict[str, tuple[int, int]]:
        """(bytes, blobs) per caller from the uploads file; lines that do not parse (a torn
        last line after a crash) are skipped: that blob then counts only to the store."""
        totals: dict[str, tuple[int, int]] = {}
        try:
            with open(self.uploads_path, encoding="ascii", errors="replace") as handle:
                for line in handle:
                    parts = line.split()
                    if len(line) > MAX_UPLOAD_LINE_CHARS or len(parts) != 3 or not _SHA256_HEX.fullmatch(parts[0]) \
                            or not parts[1].isdigit():
                        continue
                    nbytes, nblobs = totals.get(parts[2], (0, 0))
                    totals[parts[2]] = (nbytes + int(parts[1]), nblobs + 1)
        except FileNotFoundError:
            pass
        return totals

    def free_bytes(self) -> int:
        """Bytes an unprivileged writer may still put on the store's filesystem."""
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

    def check_free(self, adding: int) -> None:
        """BlobQuotaExceeded unless `adding` more bytes leave `min_free_bytes` free."""
        free = self.free_bytes()
        if free - adding < self.quota.min_free_bytes:
            raise BlobQuotaExceeded("store", "free bytes", free, adding, self.quota.min_free_bytes)

    def record_upload(self, info: BlobInfo, caller: str) -> None:
        """Append who created the blob (not fsynced: a line lost in a crash only leaves
        that blob uncounted to its caller; the store's totals come from the files)."""
        # The newline goes first: a line a crash tore off ends where the next begins, and
        # only that one record is lost.
        line = f"\n{info.sha256} {info.size} {caller}"
        if len(line) > MAX_UPLOAD_LINE_CHARS or any(c.isspace() for c in caller):
            return  # not a caller id we make; never let one break the file's format
        fd = os.open(self.uploads_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode("ascii", "replace"))  # one short write: appends do not interleave
        finally:
            os.close(fd)

    def path(self, sha256: str) -> Path:
        check_hash(sha256)
        return self.root / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NoSuchBlob(sha256) from None

    def begin(self, caller: str = UNKNOWN_CALLER, declared: int | None = None) -> BlobWriter:
        """A writer for one new blob charged to `caller`; commit() names it by its hash,
        abort() discards it. BlobQuotaExceeded at once if the blob (of `declared` bytes,
        when the client said) cannot fit."""
        if declared is not None:
            self.usage.check(caller, declared, 1)
            self.check_free(declared)
        return BlobWriter(self, caller)

    def put(self, data: bytes, caller: str = UNKNOWN_CALLER) -> BlobInfo:
        with self.begin(caller, len(data)) as writer:
            writer.write(data)
            return writer.commit()


class BlobWriter:
    """Fills a temporary file while hashing; the blob exists only after commit()."""

    def __init__(self, store: BlobStore, caller: str = UNKNOWN_CALLER) -> None:
        self.store = store
        self.caller = caller
        store.usage.reserve(caller, 0, 1)  # the blob itself, before any file exists
        self.reserved = 0  # bytes reserved so far; released unless the blob is created
        self.settled = False
        try:
            fd, name = tempfile.mkstemp(dir=store.temp, prefix="put-")
        except BaseException:
            self._release()
            raise
        self.temp_path = Path(name)
        self.file: BinaryIO | None = os.fdopen(fd, "wb")
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        assert self.file is not None, "write after commit or abort"
        if self.size + len(chunk) > self.store.max_bytes:
            raise BlobTooLarge(self.size + len(chunk), self.store.max_bytes)
        self.store.usage.reserve(self.caller, len(chunk))  # before the bytes touch the disk
        self.reserved += len(chunk)
        # The disk's own free space, before every chunk: uploads without a Content-Length,
        # and many at once, must not eat the space the chain writes its blocks into.
        self.store.check_free(len(chunk))
        self.size += len(chunk)
        self.hasher.update(chunk)
        self.file.write(chunk)

    def _release(self) -> None:
        if not self.settled:
            self.settled = True
            self.store.usage.release(self.caller, self.reserved, 1)

    def commit(self) -> BlobInfo:
        """Make the blob durable under its final name (idempotent for known content).

        Order: flush and fsync the temp file, rename it into its shard (creating and
        fsyncing the shard directory if new), fsync the shard directory. A crash before
        the rename leaves only a temp file; after it, the complete blob.
        """
        assert self.file is not None, "commit after commit or abort"
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        self.file = None
        sha256 = self.hasher.hexdigest()
        final = self.store.path(sha256)
        if final.is_file():
            self.temp_path.unlink(missing_ok=True)
            self._release()  # nothing new is stored
            return BlobInfo(sha256, self.size, created=False)
        # The bytes are on the disk already (in the temp file): what is free now is what
        # is left once this blob is kept.
        self.store.check_free(0)
        with self.store.commit_lock:  # two uploads of the same bytes: one creates, one finds it
            if final.is_file():
                self.temp_path.unlink(missing_ok=True)
                self._release()
                return BlobInfo(sha256, self.size, created=False)
            if not final.parent.is_dir():
                final.parent.mkdir(exist_ok=True)
                _fsync_dir(self.store.root)
            os.replace(self.temp_path, final)
            self.settled = True  # the blob exists: its reservation is now its usage
        _fsync_dir(final.parent)
        info = BlobInfo(sha256, self.size, created=True)
        self.store.record_upload(info, self.caller)
        return info

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.temp_path.unlink(missing_ok=True)
        self._release()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()  # after commit() the temp file is gone already: nothing to undo


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
