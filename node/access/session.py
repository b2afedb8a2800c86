"""The console's browser session: the `ledger_session` cookie that carries a role token, and the CSRF value bound to it.

A browser signs in by POSTing a role token once (node/web/routes.py); the node answers
with a cookie holding `v1.<expires>.<mac>.<token>`: the token itself, so every request
verifies it again (node/access/http.py `Authorizer`: expiry and revocation apply at once,
and there is no session store to lose on a restart), and the moment the session ends,
MAC'd with the node's session key so it cannot be stretched. A cookie this node did not
seal (another node's on the same host: cookies ignore ports) is not a credential here at
all (`ForeignSession`), so it can neither sign a browser in nor lock it out.

A cookie is ambient: the browser sends it on any request to the node, whoever made the
page. Every unsafe request (POST, PUT, PATCH, DELETE) that would be authenticated by it
must therefore carry `X-CSRF-Token` equal to `csrf_for(key, cookie)`: an HMAC under the
same key, which a page of another origin can neither read (GET /web/session is same-origin
and not CORS-exposed) nor compute. Bearer-header requests carry no ambient credential and
need no CSRF value.

Pure: keys, times and values come in as arguments. The key file is node/access/http.py's.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.errors import PermissionDenied, Unauthenticated

COOKIE_NAME = "ledger_session"
CSRF_HEADER = "X-CSRF-Token"
COOKIE_VERSION = "v1"
# A signed-in browser holds its session at most this long, however long the token lives
# (tokens are issued for days or months; a browser left signed in on a shared desk should
# not be): a working day with room to spare. The cookie's Max-Age and the MAC'd end both
# say so, and a longer-lived token simply signs in again the next day.
MAX_SESSION_SECONDS = 12 * 3600
# 256 bits: HMAC-SHA256's key size; the CSRF value and the session MAC are no easier to
# guess than the key.
SESSION_KEY_BYTES = 32
# Browsers keep at least 4096 bytes per cookie, name and attributes included (RFC 6265
# section 6.1), and drop a larger one silently. A token that would not fit is refused at
# sign-in (node/access/http.py MAX_TOKEN_CHARS is 4096; ours are ~450 characters).
MAX_COOKIE_CHARS = 3800
# Methods that only read (RFC 9110 section 9.2.1); every other method is a write and
# needs the CSRF header when a cookie authenticates it.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_REFUSAL = "CSRF token missing or wrong"
# Domain separation: one key MACs the session and derives its CSRF value.
_SESSION_LABEL = b"evidence-ledger session v1\x00"
_CSRF_LABEL = b"evidence-ledger csrf v1\x00"
_MAC_CHARS = 43  # 32 bytes in unpadded base64url


class ForeignSession(Unauthenticated):
    """A `ledger_session` cookie this node did not seal (malformed, or MAC'd under another
    key): it is not a credential here, and the request is treated as presenting none."""


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


def _mac(key: bytes, label: bytes, *parts: str) -> str:
    message = label + b"\x00".join(part.encode("utf-8") for part in parts)
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def session_end(now: int, token_expires: int) -> int:
    """When a session signed in at `now` with a token expiring at `token_expires` ends."""
    return min(token_expires, now + MAX_SESSION_SECONDS)


def seal_session(key: bytes, token: str, expires: int) -> str:
    """The cookie value of a session carrying `token` until `expires`. ValueError for a
    token that would make a cookie browsers drop (over MAX_COOKIE_CHARS) or that holds a
    character a cookie cannot (a JWT is base64url and dots)."""
    if not token or not token.isascii() or any(c in token for c in ' ";,\\') or not token.isprintable():
        raise ValueError("a token is base64url text and dots")
    value = f"{COOKIE_VERSION}.{int(expires)}.{_mac(key, _SESSION_LABEL, str(int(expires)), token)}.{token}"
    if len(value) > MAX_COOKIE_CHARS:
        raise ValueError(f"the token is too long to keep in a browser cookie ({len(value)} > {MAX_COOKIE_CHARS} characters)")
    return value


def unseal_session(key: bytes, value: str) -> Session:
    """The session a cookie value carries; ForeignSession unless this key sealed it. The
    session may have ended: `Session.require_current` says."""
    if len(value) > MAX_COOKIE_CHARS:
        raise ForeignSession("the session cookie is too long to be one this node set")
    parts = value.split(".", 3)
    if len(parts) != 4 or parts[0] != COOKIE_VERSION or not parts[1].isdigit() or len(parts[1]) > 12:
        raise ForeignSession("the session cookie is not one this node sets")
    _, expires, mac, token = parts
    if not hmac.compare_digest(mac.encode("ascii", "replace"), _mac(key, _SESSION_LABEL, expires, token).encode()):
        raise ForeignSession("the session cookie was not set by this node")
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
