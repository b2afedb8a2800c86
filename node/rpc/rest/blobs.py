"""The blob store's routes: `PUT /v1/blobs` stores a blob (sealed envelopes,
docs/envelopes.md), `GET` and `HEAD /v1/blobs/{sha256}` read one. The store and its quota
are node/storage/blobs.py's; it is on `app.state.blobs`.

The route table (node/rpc/rest/routes.py) admits blobs:write and blobs:read before these
run, so an upload without them is refused before its body is read. Refusals are FastAPI's
`{"detail": ...}` (client/blobs.py reads that): a body over the size cap or the caller's
quota 413, over the store's quota or into the disk's reserve 507, a bad name 400, an
unknown blob 404. A blob read with a token is `Cache-Control: private`.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os

from fastapi import Path, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.requests import ClientDisconnect

from node.rpc.rest.context import admitted, caller_of
from node.rpc.rest.params import pattern_of
from node.storage.blobs import SHA256_HEX, BadBlobHash, BlobInfo, BlobQuotaExceeded, BlobStore, BlobTooLarge, NoSuchBlob

log = logging.getLogger("ledger.blobs")

# Immutable content, cached for a year (the name is the content's hash). Only a node that
# asked no token for it may let shared caches keep it; a blob read with a token is the
# reader's alone (a proxy must not hand it to the next client).
CACHE_PUBLIC = "public, max-age=31536000, immutable"
CACHE_PRIVATE = "private, max-age=31536000, immutable"

SHA256 = Path(description="the blob's SHA-256, 64 lowercase hex digits", json_schema_extra=pattern_of(SHA256_HEX))


def store_of(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blobs
    return store


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _disk_error(exc: OSError) -> JSONResponse:
    if exc.errno == errno.ENOSPC:
        return _error(507, "the node's disk is full")
    log.exception("blob write failed")
    return _error(500, "blob write failed")


def _over_quota(exc: BlobQuotaExceeded) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.status)


async def put_blob(request: Request) -> Response:
    """Store the request body as a blob named by its SHA-256: 201 when it is new, 200 when
    the store held it already; `Location` names it either way."""
    store = store_of(request)
    caller = caller_of(admitted(request), request)
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


async def get_blob(request: Request, sha256: str = SHA256) -> Response:
    """The blob's bytes (HEAD: its size and ETag only)."""
    store = store_of(request)
    try:
        path = store.path(sha256)
    except BadBlobHash as exc:
        return _error(400, str(exc))
    try:
        stat = await asyncio.to_thread(os.stat, path)
    except FileNotFoundError:
        return _error(404, str(NoSuchBlob(sha256)))
    # Content-addressed: the name is the strongest ETag there is, and it never changes.
    cache = CACHE_PUBLIC if admitted(request).anonymous else CACHE_PRIVATE
    # nosniff: a member's blob is served from the console's origin, and must never be taken
    # for a script or a page whatever its bytes (the console's CSP allows script-src 'self').
    headers = {"ETag": f'"{sha256}"', "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type="application/octet-stream", headers=headers, stat_result=stat)
