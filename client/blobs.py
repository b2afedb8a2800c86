"""Store and fetch content-addressed blobs (sealed envelopes) on a node's /v1/blobs API.

The node names a blob by the SHA-256 of its bytes; both directions are checked here, so
a node (or anything between) that returns other bytes than were asked for is caught.
Requests carry the access token (`token`, else $LEDGER_TOKEN / $LEDGER_TOKEN_FILE).
"""
from __future__ import annotations

import hashlib
import re

from client.auth import NEEDS_TOKEN, TokenError, current_token
from client.errors import ClientError
from client.http import HttpClient, HttpError, ResponseTooLarge
from node.api import MAX_BLOB_BYTES

# MAX_BLOB_BYTES is the node's cap. Refusing bigger uploads here gives a clear message
# instead of a connection the node resets mid-upload; downloads are read up to it, so a
# hostile node cannot make the client buffer without bound.
DEFAULT_TIMEOUT_SECONDS = 60.0
# The node's answer to a PUT is a line of JSON ({"sha256": ..., "size": ...}).
MAX_PUT_REPLY_BYTES = 64 * 1024
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class BlobError(ClientError):
    """The node refused a blob request, or answered with something unusable.

    `status` is the HTTP status when there was one.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BlobNotFound(BlobError):
    """The node holds no blob with that hash."""


class BlobMismatch(BlobError):
    """The bytes or hash the node returned do not match what was asked for."""


def put_blob(rpc_url: str, data: bytes, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, token: str | None = None) -> str:
    """Store `data` on the node; returns its SHA-256 (lowercase hex). Idempotent."""
    if len(data) > MAX_BLOB_BYTES:
        raise BlobError(f"blob of {len(data)} bytes exceeds the node's limit of {MAX_BLOB_BYTES} bytes", 413)
    expected = hashlib.sha256(data).hexdigest()
    what = f"PUT blob {expected}"
    with _client(rpc_url, timeout, token) as client:
        try:
            response = client.request("PUT", "v1/blobs", body=data, content_type="application/octet-stream",
                                      limit=MAX_PUT_REPLY_BYTES)
        except HttpError as exc:
            raise _blob_error(exc, what) from None
    try:
        reply = response.json()
        stored, size = reply["sha256"], reply["size"]
    except (HttpError, KeyError, TypeError):
        raise BlobError(f"the node's reply to PUT /v1/blobs is not the expected JSON: {response.body[:120]!r}") from None
    if stored != expected or size != len(data):
        raise BlobMismatch(f"the node stored {stored!r} ({size!r} bytes), expected {expected} ({len(data)} bytes)")
    return expected


def get_blob(rpc_url: str, sha256: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, token: str | None = None) -> bytes:
    """The blob named `sha256`, after checking that its bytes hash to that name."""
    sha256 = sha256.lower()
    if not _SHA256_HEX.fullmatch(sha256):
        raise BlobError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
    what = f"GET blob {sha256}"
    with _client(rpc_url, timeout, token) as client:
        try:
            data = client.request("GET", "v1/blobs/" + sha256, limit=MAX_BLOB_BYTES).body
        except HttpError as exc:
            raise _blob_error(exc, what) from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise BlobMismatch(f"the node returned {len(data)} bytes hashing to {got}, not {sha256}")
    return data


def _client(rpc_url: str, timeout: float, token: str | None) -> HttpClient:
    try:
        return HttpClient(rpc_url, token=current_token(token), timeout=timeout, headers={"Accept": "*/*"})
    except (TokenError, ValueError) as exc:  # an unreadable $LEDGER_TOKEN_FILE, a URL that is not http(s)
        raise BlobError(str(exc)) from None


def _blob_error(exc: HttpError, what: str) -> BlobError:
    if isinstance(exc, ResponseTooLarge):
        return BlobError(f"{what}: the node sent more than {exc.limit} bytes", exc.status)
    if exc.status is None:
        return BlobError(f"{what}: cannot reach {exc.url}: {exc.message}")
    if exc.status == 404:
        return BlobNotFound(f"{what}: {exc.message}", 404)
    if exc.status == 401:
        return BlobError(f"{what}: {NEEDS_TOKEN} (HTTP 401: {exc.message})", 401)
    return BlobError(f"{what}: HTTP {exc.status}: {exc.message}", exc.status)
