"""The node's content-addressed blob store (`<data_dir>/blobs/`) and its REST routes.

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

Routes (docs/envelopes.md): PUT /v1/blobs (needs blobs:write), GET and HEAD
/v1/blobs/{sha256} (need blobs:read); no valid token is 401, a role without the
permission 403 (node/access/http.py, docs/access.md); over the store's quota 507, over the
caller's 413. A blob read with a token is `Cache-Control: private`.
"""
from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.requests import ClientDisconnect

from node.access.http import BLOBS_READ, BLOBS_WRITE, Authorizer, Principal
from node.errors import ConfigError, InvalidParams, LedgerError, NotFound, PermissionDenied, Unauthenticated
from node.rpc.limits import MAX_CALLER_BLOBS, MAX_CALLER_BYTES, MAX_STORE_BLOBS, MAX_STORE_BYTES, MIN_FREE_BYTES, caller_key

log = logging.getLogger("ledger.blobs")

BLOB_DIR = "blobs"
TEMP_DIR = ".tmp"
# A blob is one sealed document (a contract scan, a tender file set). 64 MiB covers those
# and bounds the disk one request can fill; client/envelope.py caps content at 63 MiB so a
# whole envelope fits.
MAX_BLOB_BYTES = 64 * 1024 * 1024

# Who created which blob: "<sha256> <size> <caller>" per line, appended after the rename;
# beside the store's directory (`<data_dir>/blobs.uploads`), which holds only blobs.
UPLOADS_SUFFIX = ".uploads"
# A caller id is "token:" and 32 hex digits or "client:" and an address; a longer line in
# the uploads file is not one we wrote.
MAX_UPLOAD_LINE_CHARS = 256
# The caller of a request without a token and without a client address (in-process tests).
UNKNOWN_CALLER = "client:?"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_SHARD = re.compile(r"[0-9a-f]{2}")


class BadBlobHash(InvalidParams):
    """A blob name that is not 64 lowercase hex digits."""

    def __init__(self, given: str) -> None:
        super().__init__(f"not a SHA-256 hex digest (64 lowercase hex digits): {given[:80]!r}")
        self.given = given


class BlobNotFound(NotFound):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob {sha256}")
        self.sha256 = sha256


class BlobTooLarge(LedgerError):
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


class BlobQuotaExceeded(LedgerError):
    """An upload would take more than a quota allows. `scope` is "store" (the node's
    total, or its free disk: HTTP 507) or "caller" (one caller's share: HTTP 413);
    `unit` is "bytes", "blobs" or "free bytes"; `used` what is stored and in flight,
    `adding` what this upload adds, `limit` the cap."""

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
        super().__init__(text)
        self.scope = scope
        self.unit = unit
        self.used = used
        self.adding = adding
        self.limit = limit
        self.caller = caller

    @property
    def status(self) -> int:
        return 413 if self.scope == "caller" else 507

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


def caller_of(principal: Principal, client_host: str | None) -> str:
    """The caller a request's uploads are charged to: its token, or (no token: a node
    without authentication) its client address — not its connection, which a client
    renews at will."""
    return caller_key(principal.token_id, client_host, None)


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
            raise BlobNotFound(sha256) from None

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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _authorize(authorizer: Authorizer, request: Request, permission: str) -> Principal | JSONResponse:
    """The caller, if it holds `permission`; else the refusal: 401 without a valid token,
    403 for a role without it."""
    try:
        principal = authorizer.for_request(request)
        principal.require(permission)
    except Unauthenticated as exc:
        return JSONResponse({"detail": f"Unauthorized: {exc.reason}"}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="evidence-ledger"'})
    except PermissionDenied as exc:
        return _error(403, f"Forbidden: {exc}")
    return principal


def _disk_error(exc: OSError) -> JSONResponse:
    if exc.errno == errno.ENOSPC:
        return _error(507, "the node's disk is full")
    log.exception("blob write failed")
    return _error(500, "blob write failed")


def _over_quota(exc: BlobQuotaExceeded) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.status)


# Immutable content, cached for a year (the name is the content's hash). Only a node that
# asked no token for it may let shared caches keep it; a blob read with a token is the
# reader's alone (a proxy must not hand it to the next client).
CACHE_PUBLIC = "public, max-age=31536000, immutable"
CACHE_PRIVATE = "private, max-age=31536000, immutable"


def add_blob_routes(app: FastAPI, store: BlobStore, authorizer: Authorizer) -> None:
    """Mount PUT /v1/blobs and GET/HEAD /v1/blobs/{sha256} on `app`, asking `authorizer`
    for blobs:write and blobs:read."""

    @app.put("/v1/blobs", status_code=201, responses={200: {"description": "already stored"}})
    async def put_blob(request: Request) -> Response:
        principal = _authorize(authorizer, request, BLOBS_WRITE)
        if isinstance(principal, JSONResponse):
            return principal  # before the body is read
        caller = caller_of(principal, request.client.host if request.client else None)
        header = request.headers.get("content-length")
        declared = int(header) if header is not None and header.isascii() and header.isdigit() else None
        if declared is not None and declared > store.max_bytes:
            return _error(413, str(BlobTooLarge(declared, store.max_bytes)))
        try:  # a blob that cannot fit is refused before its body is read
            writer = store.begin(caller, declared)
        except BlobQuotaExceeded as exc:
            return _over_quota(exc)
        except OSError as exc:  # no temporary file could be made (a full disk, no descriptors)
            return _disk_error(exc)
        commit: asyncio.Future[BlobInfo] | None = None
        try:
            # Chunks go to the page cache as they arrive (only one is held in memory);
            # fsync and rename, the slow part, run off the event loop.
            async for chunk in request.stream():
                writer.write(chunk)
            commit = asyncio.ensure_future(asyncio.to_thread(writer.commit))
            info = await asyncio.shield(commit)
        except BlobTooLarge as exc:
            return _error(413, str(exc))
        except BlobQuotaExceeded as exc:
            return _over_quota(exc)
        except ClientDisconnect:
            return _error(400, "the client disconnected before sending the whole body")
        except OSError as exc:
            return _disk_error(exc)
        finally:
            if commit is not None and not commit.done():
                # Cancelled (the server stopping) while the commit runs in its thread: let
                # it finish, or abort below would race its rename and the quota's count.
                await asyncio.wait({commit})
            writer.abort()  # no-op after commit; otherwise removes the partial temp file
        headers = {"Location": f"/v1/blobs/{info.sha256}"}
        return JSONResponse(info.to_json(), status_code=201 if info.created else 200, headers=headers)

    @app.api_route("/v1/blobs/{sha256}", methods=["GET", "HEAD"])
    async def get_blob(sha256: str, request: Request) -> Response:
        principal = _authorize(authorizer, request, BLOBS_READ)
        if isinstance(principal, JSONResponse):
            return principal
        try:
            path = store.path(sha256)
        except BadBlobHash as exc:
            return _error(400, str(exc))
        try:
            stat = await asyncio.to_thread(os.stat, path)
        except FileNotFoundError:
            return _error(404, str(BlobNotFound(sha256)))
        # Content-addressed: the name is the strongest ETag there is, and it never changes.
        headers = {"ETag": f'"{sha256}"', "Cache-Control": CACHE_PUBLIC if principal.anonymous else CACHE_PRIVATE}
        return FileResponse(path, media_type="application/octet-stream", headers=headers, stat_result=stat)
