"""The console's browser session: the `ledger_session` cookie, which seals a role token, and the CSRF value bound to it.

A browser signs in by POSTing a role token once (node/web/routes.py); the node answers
with a cookie `v2.<expires>.<sealed>`, `sealed` being the unpadded base64url of
`nonce || ChaCha20-Poly1305(nonce, token, aad="v2.<expires>")` under a key derived from the
node's session key. The token rides in the cookie so that every request verifies it again
(node/access/http.py `Authorizer`: expiry and revocation apply at once, and there is no
session store to lose on a restart), but sealed, because a cookie is not private to the
node: browsers send it to every port of the host name, and over plain http to anything
listening there. Whoever reads the cookie learns no token (which would be a bearer
credential for the token's whole life, days or months, with no CSRF check), only an opaque
value this node alone opens, which ends at `expires`, authenticated with the token so it
cannot be stretched. A cookie this node did not seal (another node's on the same host,
one tampered with, the old `v1` format, garbage) is not a credential here at all
(`ForeignSession`), so it can neither sign a browser in nor lock it out.

A cookie is ambient: the browser sends it on any request to the node, whoever made the
page. Every unsafe request (POST, PUT, PATCH, DELETE) that would be authenticated by it
must therefore carry `X-CSRF-Token` equal to `csrf_for(key, cookie)`: an HMAC under the
same key, bound to this exact cookie, which a page of another origin can neither read
(GET /web/session is same-origin, and no answer allows credentials cross-origin) nor
compute. Bearer-header requests carry no ambient credential and need no CSRF value. A
WebSocket handshake is a GET and its messages carry no header, so the RPC layer lets the
cookie count there only from the node's own pages (node/rpc/origin.py `same_origin`).

Pure: keys, nonces, times and values come in as arguments. The key file is
node/access/http.py's, and so is the randomness.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from node.errors import PermissionDenied, Unauthenticated

COOKIE_NAME = "ledger_session"
CSRF_HEADER = "X-CSRF-Token"
COOKIE_VERSION = "v2"
# A signed-in browser holds its session at most this long, however long the token lives
# (tokens are issued for days or months; a browser left signed in on a shared desk should
# not be): a working day with room to spare. The cookie's Max-Age and the sealed end both
# say so, and a longer-lived token simply signs in again the next day.
MAX_SESSION_SECONDS = 12 * 3600
# 256 bits: HMAC-SHA256's key size; the CSRF value and the sealing key are no easier to
# guess than the key.
SESSION_KEY_BYTES = 32
# ChaCha20-Poly1305's nonce (RFC 8439): 96 random bits per sign-in. A nonce repeated under
# one key would break the seal; at 2^-32 odds only after ~2^32 sign-ins of one node's key,
# and deleting tokens/session.key makes a new key.
NONCE_BYTES = 12
# Browsers keep at least 4096 bytes per cookie, name and attributes included (RFC 6265
# section 6.1), and drop a larger one silently. A token that would not fit is refused at
# sign-in (node/access/http.py MAX_TOKEN_CHARS is 4096). Sealed, a cookie is 4/3 of the
# token plus ~75 characters: ours (~450 characters) make ~680.
MAX_COOKIE_CHARS = 3800
# Methods that only read (RFC 9110 section 9.2.1); every other method is a write and
# needs the CSRF header when a cookie authenticates it.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_REFUSAL = "CSRF token missing or wrong"
# Domain separation: one key derives the sealing key and the CSRF value.
_SEAL_LABEL = b"evidence-ledger session seal v2\x00"
_CSRF_LABEL = b"evidence-ledger csrf v1\x00"
_TAG_BYTES = 16  # Poly1305's
_MAX_EXPIRES_DIGITS = 12  # Unix seconds until the year 33658: longer is not ours


class ForeignSession(Unauthenticated):
    """A `ledger_session` cookie this node did not seal (malformed, tampered with, sealed
    under another key, an old format): it is not a credential here, and the request is
    treated as presenting none."""


class CsrfRefused(PermissionDenied):
    """An unsafe request authenticated by the session cookie without the session's
    `X-CSRF-Token` (HTTP 403)."""

    def __init__(self, method: str) -> None:
        super().__init__(CSRF_REFUSAL)
        self.method = method


@dataclass(frozen=True)
class Session:
    """An opened session cookie: the role token it carries and when the session ends."""

    token: str
    expires: int    # Unix seconds: the earlier of the token's exp and sign-in + MAX_SESSION_SECONDS
    cookie: str     # the cookie's value, which the CSRF value is bound to

    def require_current(self, now: float) -> None:
        """Unauthenticated once the session has ended (the browser should have dropped it)."""
        if now >= self.expires:
            raise Unauthenticated("the console session has ended: sign in again")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict unpadded base64url: anything else (padding, other characters, a length no
    encoder makes) is binascii.Error."""
    if len(text) % 4 == 1 or not text.isascii() or not all(c.isalnum() or c in "-_" for c in text):
        raise binascii.Error("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, label: bytes, *parts: str) -> str:
    message = label + b"\x00".join(part.encode("utf-8") for part in parts)
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def _aead(key: bytes) -> ChaCha20Poly1305:
    """The sealing cipher: its key is HMAC(session key, label), never the session key itself
    (which also keys the CSRF values)."""
    return ChaCha20Poly1305(hmac.new(key, _SEAL_LABEL, hashlib.sha256).digest())


def _associated(expires: str) -> bytes:
    return f"{COOKIE_VERSION}.{expires}".encode("ascii")


def session_end(now: int, token_expires: int) -> int:
    """When a session signed in at `now` with a token expiring at `token_expires` ends."""
    return min(token_expires, now + MAX_SESSION_SECONDS)


def seal_session(key: bytes, token: str, expires: int, nonce: bytes) -> str:
    """The cookie value of a session carrying `token` until `expires`, sealed with `nonce`
    (NONCE_BYTES fresh random bytes: never reuse one). ValueError for a nonce of another
    size, a token that is not base64url text and dots (a JWT), or one that would make a
    cookie browsers drop (over MAX_COOKIE_CHARS)."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"a nonce is {NONCE_BYTES} bytes, not {len(nonce)}")
    if not token or not token.isascii() or any(c in token for c in ' ";,\\') or not token.isprintable():
        raise ValueError("a token is base64url text and dots")
    end = str(int(expires))
    sealed = _aead(key).encrypt(nonce, token.encode("ascii"), _associated(end))
    value = f"{COOKIE_VERSION}.{end}.{_b64(nonce + sealed)}"
    if len(value) > MAX_COOKIE_CHARS:
        raise ValueError(f"the token is too long to keep in a browser cookie ({len(value)} > {MAX_COOKIE_CHARS} characters)")
    return value


def unseal_session(key: bytes, value: str) -> Session:
    """The session a cookie value carries; ForeignSession unless this key sealed it (and
    nobody changed a character since). The session may have ended: `Session.require_current`
    says."""
    if len(value) > MAX_COOKIE_CHARS:
        raise ForeignSession("the session cookie is too long to be one this node set")
    parts = value.split(".")
    if (len(parts) != 3 or parts[0] != COOKIE_VERSION or not parts[1].isascii() or not parts[1].isdigit()
            or len(parts[1]) > _MAX_EXPIRES_DIGITS):
        raise ForeignSession("the session cookie is not one this node sets")
    _, expires, sealed = parts
    try:
        raw = _unb64(sealed)
    except (binascii.Error, ValueError):
        raise ForeignSession("the session cookie is not one this node sets") from None
    if len(raw) <= NONCE_BYTES + _TAG_BYTES:
        raise ForeignSession("the session cookie is not one this node sets")
    try:
        token = _aead(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(expires)).decode("ascii")
    except (InvalidTag, UnicodeDecodeError):
        raise ForeignSession("the session cookie was not set by this node") from None
    return Session(token, int(expires), value)


def csrf_for(key: bytes, cookie: str) -> str:
    """The CSRF value of the session whose cookie is `cookie` (`""`: no cookie, the value a
    page without a session is given, which no check ever asks for)."""
    return _mac(key, _CSRF_LABEL, cookie)


def check_csrf(key: bytes, cookie: str, method: str, presented: str | None) -> None:
    """Raise CsrfRefused unless a request of `method` authenticated by `cookie` may go on:
    a safe method, or `presented` (its X-CSRF-Token header) is the session's CSRF value."""
    if method.upper() in SAFE_METHODS:
        return
    expected = csrf_for(key, cookie)
    if presented is None or not hmac.compare_digest(presented.strip().encode("utf-8", "replace"), expected.encode()):
        raise CsrfRefused(method.upper())


def cookie_attributes(max_age: int, *, secure: bool) -> Mapping[str, Any]:
    """The session cookie's attributes, as keyword arguments of Starlette's
    `Response.set_cookie`: HttpOnly (no script reads it: the page gets its CSRF value from
    GET /web/session instead), SameSite=Strict (no other site's link or form sends it),
    Path=/ (every API route), Secure when the page came over https, and the seconds it lives
    (0 clears it)."""
    return {"key": COOKIE_NAME, "max_age": max(0, int(max_age)), "path": "/", "secure": secure,
            "httponly": True, "samesite": "strict"}
