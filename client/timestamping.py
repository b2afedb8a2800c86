"""Asking an RFC 3161 time-stamping authority for a token over a digest (the SDK's side).

    token = request_timestamp("http://tsa.example:3161/", batch_root, timeout=30)

One POST of a TimeStampReq (SHA-256 imprint whose hashed message is the 32-byte digest
itself, a random 64-bit nonce, certReq set so the token carries the TSA certificate),
and the TimeStampResp checked by `evidence.timestamp.parse_response`: granted, over
this digest, echoing this nonce. Who signed the token is for
`evidence.timestamp.verify_timestamp` with the roots the caller trusts.

The request goes through the SDK's one HTTP client (client/http.py): no redirects, the
timeout, the response cap.
"""
from __future__ import annotations

import secrets

from client.errors import ClientError
from client.http import HttpClient, HttpError, ResponseTooLarge
from evidence.timestamp import MAX_RESPONSE_BYTES, TimestampError, TimestampRequest, parse_response

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
DEFAULT_TIMEOUT_SECONDS = 30.0
# RFC 3161's example nonce size; with a fresh request per batch, a repeat is never expected.
NONCE_BITS = 64


class TimestampingError(ClientError):
    """No token from the TSA at `url`: unreachable (`status` None), refused at the HTTP
    level (`status`), or its answer was not a token for this request (`step`, from
    evidence.timestamp: "response" with the TSA's PKIStatus and failure info)."""

    def __init__(self, url: str, message: str, status: int | None = None, step: str | None = None) -> None:
        super().__init__(f"time-stamping authority {url}: {message}")
        self.url = url
        self.message = message
        self.status = status
        self.step = step


def request_timestamp(url: str, digest: bytes, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bytes:
    """A DER TimeStampToken over `digest` (32 bytes) from the TSA at `url`."""
    try:
        client = HttpClient(url, timeout=timeout, max_response_bytes=MAX_RESPONSE_BYTES, headers={"Accept": REPLY_TYPE})
    except ValueError:
        raise ValueError(f"TSA URL {url!r}: expected an http:// or https:// URL") from None
    request = TimestampRequest(bytes(digest), nonce=secrets.randbits(NONCE_BITS) | 1, cert_req=True)
    with client:
        try:
            response = client.request("POST", "", body=request.to_der(), content_type=QUERY_TYPE)
        except ResponseTooLarge:
            raise TimestampingError(url, f"the answer is larger than {MAX_RESPONSE_BYTES} bytes; not a time-stamp "
                                         "reply", status=200) from None
        except HttpError as exc:
            if exc.status is None:
                raise TimestampingError(url, f"unreachable: {exc.message}") from None
            raise TimestampingError(url, f"HTTP {exc.status}: {exc.message}", status=exc.status) from None
    content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    body = response.body
    if content_type != REPLY_TYPE:
        raise TimestampingError(url, f"answered {content_type or 'no content type'}, not {REPLY_TYPE}", status=200)
    try:
        return parse_response(body, request)
    except TimestampError as exc:
        raise TimestampingError(url, exc.reason, status=200, step=exc.step) from exc

