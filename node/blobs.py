"""The node's content-addressed blob store (`<data_dir>/blobs/`) and its REST routes.

Blobs are opaque bytes named by their SHA-256 — in practice sealed envelopes
(client/seal.py): the ledger anchors their digests, the ciphertext lives here, never on
chain. Layout: `blobs/ab/cdef…` (the first two hex digits of the hash shard, the other
62 name the file). A blob is written to `blobs/.tmp/`, fsynced, then renamed into place
and its directory fsynced, so a blob under its final name is always complete; leftovers
in `.tmp/` from a crash are removed when the store opens.

Routes (docs/sealing.md): PUT /v1/blobs (needs blobs:write), GET and HEAD
/v1/blobs/{sha256} (need blobs:read); no valid token is 401, a role without the
permission 403 (node/access.py, docs/access.md).
"""
from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.requests import ClientDisconnect

from node.access import BLOBS_READ, BLOBS_WRITE, Authorizer
from node.errors import InvalidParams, LedgerError, NotFound, PermissionDenied, Unauthenticated

log = logging.getLogger("ledger.blobs")

BLOB_DIR = "blobs"
TEMP_DIR = ".tmp"
# A blob is one sealed document (a contract scan, a tender file set). 64 MiB covers those
# and bounds the disk one request can fill; client/seal.py caps content at 63 MiB so a
# whole envelope fits.
MAX_BLOB_BYTES = 64 * 1024 * 1024

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


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
    def __init__(self, root: Path, max_bytes: int = MAX_BLOB_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.temp = root / TEMP_DIR
        self.temp.mkdir(parents=True, exist_ok=True)
        for leftover in self.temp.iterdir():  # writes a crash interrupted
            leftover.unlink(missing_ok=True)

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

    def begin(self) -> BlobWriter:
        """A writer for one new blob; commit() names it by its hash, abort() discards it."""
        return BlobWriter(self)

    def put(self, data: bytes) -> BlobInfo:
        with self.begin() as writer:
            writer.write(data)
            return writer.commit()


class BlobWriter:
    """Fills a temporary file while hashing; the blob exists only after commit()."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        fd, name = tempfile.mkstemp(dir=store.temp, prefix="put-")
        self.temp_path = Path(name)
        self.file: BinaryIO | None = os.fdopen(fd, "wb")
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        assert self.file is not None, "write after commit or abort"
        self.size += len(chunk)
        if self.size > self.store.max_bytes:
            raise BlobTooLarge(self.size, self.store.max_bytes)
        self.hasher.update(chunk)
        self.file.write(chunk)

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
            return BlobInfo(sha256, self.size, created=False)
        if not final.parent.is_dir():
            final.parent.mkdir(exist_ok=True)
            _fsync_dir(self.store.root)
        os.replace(self.temp_path, final)
        _fsync_dir(final.parent)
        return BlobInfo(sha256, self.size, created=True)

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.temp_path.unlink(missing_ok=True)

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


def _refusal(authorizer: Authorizer, request: Request, permission: str) -> JSONResponse | None:
    """401 without a valid token, 403 for a role without `permission`; None to go ahead."""
    try:
        authorizer.for_request(request).require(permission)
    except Unauthenticated as exc:
        return JSONResponse({"detail": f"Unauthorized: {exc.reason}"}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="evidence-ledger"'})
    except PermissionDenied as exc:
        return _error(403, f"Forbidden: {exc}")
    return None


def add_blob_routes(app: FastAPI, store: BlobStore, authorizer: Authorizer) -> None:
    """Mount PUT /v1/blobs and GET/HEAD /v1/blobs/{sha256} on `app`, asking `authorizer`
    for blobs:write and blobs:read."""

    @app.put("/v1/blobs", status_code=201, responses={200: {"description": "already stored"}})
    async def put_blob(request: Request) -> Response:
        refused = _refusal(authorizer, request, BLOBS_WRITE)
        if refused is not None:
            return refused  # before the body is read
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > store.max_bytes:
            return _error(413, str(BlobTooLarge(int(declared), store.max_bytes)))
        writer = store.begin()
        try:
            # Chunks go to the page cache as they arrive (only one is held in memory);
            # fsync and rename, the slow part, run off the event loop.
            async for chunk in request.stream():
                writer.write(chunk)
            info = await asyncio.to_thread(writer.commit)
        except BlobTooLarge as exc:
            return _error(413, str(exc))
        except ClientDisconnect:
            return _error(400, "the client disconnected before sending the whole body")
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                return _error(507, "the node's disk is full")
            log.exception("blob write failed")
            return _error(500, "blob write failed")
        finally:
            writer.abort()  # no-op after commit; otherwise removes the partial temp file
        headers = {"Location": f"/v1/blobs/{info.sha256}"}
        return JSONResponse(info.to_json(), status_code=201 if info.created else 200, headers=headers)

    @app.api_route("/v1/blobs/{sha256}", methods=["GET", "HEAD"])
    async def get_blob(sha256: str, request: Request) -> Response:
        refused = _refusal(authorizer, request, BLOBS_READ)
        if refused is not None:
            return refused
        try:
            path = store.path(sha256)
        except BadBlobHash as exc:
            return _error(400, str(exc))
        try:
            stat = await asyncio.to_thread(os.stat, path)
        except FileNotFoundError:
            return _error(404, str(BlobNotFound(sha256)))
        # Content-addressed: the name is the strongest ETag there is, and it never changes.
        headers = {"ETag": f'"{sha256}"', "Cache-Control": "public, max-age=31536000, immutable"}
        return FileResponse(path, media_type="application/octet-stream", headers=headers, stat_result=stat)
