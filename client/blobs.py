"""Store and fetch content-addressed blobs (sealed envelopes) on a node's /v1/blobs API.

The node names a blob by the SHA-256 of its bytes; both directions are checked here, so
a node (or anything between) that returns other bytes than were asked for is caught.
Requests carry the access token (`token`, else $LEDGER_TOKEN / $LEDGER_TOKEN_FILE).
"""
from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from typing import IO

from client.auth import NEEDS_TOKEN, TokenError, auth_headers, current_token

# The node's cap (node/storage/blobs.py MAX_BLOB_BYTES). Refusing bigger uploads here gives a clear
# message instead of a connection the node resets mid-upload; downloads are read up to
# this many bytes, so a hostile node cannot make the client buffer without bound.
MAX_BLOB_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 60.0
_READ_CHUNK = 1024 * 1024
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class BlobError(Exception):
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
    request = urllib.request.Request(
        _base(rpc_url) + "/v1/blobs", data=data, method="PUT",
        headers={"Content-Type": "application/octet-stream", **_auth(token)},
    )
    body = _send(request, timeout, f"PUT blob {expected}")
    try:
        reply = json.loads(body)
        stored, size = reply["sha256"], reply["size"]
    except (ValueError, KeyError, TypeError):
        raise BlobError(f"the node's reply to PUT /v1/blobs is not the expected JSON: {body[:120]!r}") from None
    if stored != expected or size != len(data):
        raise BlobMismatch(f"the node stored {stored!r} ({size!r} bytes), expected {expected} ({len(data)} bytes)")
    return expected


def get_blob(rpc_url: str, sha256: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, token: str | None = None) -> bytes:
    """The blob named `sha256`, after checking that its bytes hash to that name."""
    sha256 = sha256.lower()
    if not _SHA256_HEX.fullmatch(sha256):
        raise BlobError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
    request = urllib.request.Request(_base(rpc_url) + "/v1/blobs/" + sha256, method="GET", headers=_auth(token))
    data = _send(request, timeout, f"GET blob {sha256}", limit=MAX_BLOB_BYTES)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise BlobMismatch(f"the node returned {len(data)} bytes hashing to {got}, not {sha256}")
    return data


def _auth(token: str | None) -> dict[str, str]:
    try:
        return auth_headers(current_token(token))
    except TokenError as exc:
        raise BlobError(str(exc)) from None


def _base(rpc_url: str) -> str:
    return rpc_url.rstrip("/")


def _send(request: urllib.request.Request, timeout: float, what: str, limit: int = 64 * 1024) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _read_capped(response, limit, what)
    except urllib.error.HTTPError as exc:
        reason = _detail(exc)
        if exc.code == 404:
            raise BlobNotFound(f"{what}: {reason}", 404) from None
        if exc.code == 401:
            raise BlobError(f"{what}: {NEEDS_TOKEN} (HTTP 401: {reason})", 401) from None
        raise BlobError(f"{what}: HTTP {exc.code}: {reason}", exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        cause: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise BlobError(f"{what}: cannot reach {request.full_url}: {cause}") from None


def _read_capped(response: IO[bytes], limit: int, what: str) -> bytes:
    body = bytearray()
    while True:
        chunk = response.read(_READ_CHUNK)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise BlobError(f"{what}: the node sent more than {limit} bytes")


def _detail(exc: urllib.error.HTTPError) -> str:
    """The node's error message ({"detail": ...}), or the HTTP reason phrase."""
    try:
        detail = json.loads(exc.read(64 * 1024)).get("detail")
    except (ValueError, AttributeError, OSError):
        detail = None
    return str(detail) if detail else str(exc.reason)
