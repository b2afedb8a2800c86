"""What the HTTP layer asks of access control: who is calling (`Authorizer`, `principal_for`) and may they make this call (`Principal`).

Model: Hyperledger Besu's JWT authentication of its JSON-RPC — no valid token is HTTP
401; a valid token whose role may not call a method gets JSON-RPC error -40100
("Unauthorized") for that call. docs/access.md is the user's guide.

A request presents a bearer token (`Authorization: Bearer TOKEN`, or a `token` query
parameter), or a browser the console's session cookie (node/access/session.py: the token
sealed, opened only here), in that order: a presented header wins over the cookie.
`verify_token` checks the token against the trusted issuer keys, in numbered steps, and
yields the `Principal` (pure: keys, times and revocations come in as arguments).
`Authorizer.identify_request` is the one entry every HTTP surface calls (REST, JSON-RPC,
the WebSocket, the feed); it is also where an unsafe request authenticated by the cookie
is refused without its CSRF header, so no route can forget that check. The
role tables are node/access/roles.py's; the token format and files node/access/tokens.py's.
`Principal.may_call` recovers the sender of a raw transaction (py-evm) for tokens bound to
an address: this module is the node's, imported by the RPC, blob and REST layers only.
"""
from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chaincode import ROLES
from node.access.roles import (
    ADDRESS_BOUND_ROLES,
    METHOD_PERMISSIONS,
    OWN_TRANSACTION_METHODS,
    ROLE_PERMISSIONS,
    RPC_READ,
    RPC_SEND,
    SEND_RAW_TRANSACTION,
    RoleDenied,
    call_permission,
)
from node.access.session import (
    COOKIE_NAME,
    CSRF_HEADER,
    NONCE_BYTES,
    SESSION_KEY_BYTES,
    ForeignSession,
    Session,
    check_csrf,
    csrf_for,
    seal_session,
    session_end,
    unseal_session,
)
from node.access.tokens import (
    ALGORITHM,
    MAX_SUBJECT_CHARS,
    TOKEN_ID,
    TOKENS_DIR,
    RevocationList,
    TokenStore,
    key_id,
    load_public_key,
    parse_address,
)
from node.errors import ConfigError, PermissionDenied, Unauthenticated
from node.execution.vm import MAX_TX_BYTES, decode_transaction

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

LEEWAY_SECONDS = 60                 # clock skew allowed between the issuer and the node
# Ours are ~450 characters; a presented token far longer is not one, and is refused before
# any base64 or JSON work.
MAX_TOKEN_CHARS = 4096
REQUIRED_CLAIMS = ("iss", "sub", "role", "iat", "exp", "jti")
# The node's browser-session key (node/access/session.py), beside its token issuer: per
# node, never shared by `ledger cluster` (a session is signed in to one node).
SESSION_KEY_FILE = "session.key"


# -- principals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who is asking: a verified token's role, subject and address, or (auth off, no token)
    the anonymous ADMIN."""

    role: str
    subject: str
    address: bytes | None = None
    token_id: str | None = None
    anonymous: bool = False
    # The token's exp (Unix seconds; None for the anonymous ADMIN): what GET /web/session
    # reports. Not part of who the caller is.
    expires: int | None = field(default=None, compare=False)

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS.get(self.role, frozenset())

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        """Raise RoleDenied unless the role holds `permission`."""
        if not self.may(permission):
            raise RoleDenied(self.role, f"use {permission}")

    def may_call(
        self,
        method: str,
        params: Sequence[Any],
        *,
        sender_of: Callable[[bytes], bytes | None] | None = None,
    ) -> None:
        """Raise RoleDenied unless this principal may make the JSON-RPC call.

        `sender_of(tx_hash)` (the node's lookup: the sender of a known transaction, None
        for an unknown one) is consulted only for a token bound to an address that reads
        a transaction or receipt without rpc:read; without it such a read is refused.
        """
        action = f"call {method[:80]}"
        group = METHOD_PERMISSIONS.get(method)
        if group is None:  # not classified: a new method is closed until someone decides
            if self.role != "ADMIN":
                raise RoleDenied(self.role, action, "the method is open to ADMIN only")
            return
        needed = call_permission(method, params) or group
        if needed == RPC_SEND and method != SEND_RAW_TRANSACTION and self.may(RPC_READ):
            return  # rpc:read covers every read
        if not self.may(needed):
            raise RoleDenied(self.role, action, f"it needs {needed}")
        if self.address is None or needed != RPC_SEND:
            return
        if method == SEND_RAW_TRANSACTION:
            sender = _raw_transaction_sender(params[0] if params else None)
            if sender != self.address:
                raise RoleDenied(self.role, action, f"the token is bound to 0x{self.address.hex()}; "
                                 f"this transaction is from 0x{sender.hex()}")
        elif method in OWN_TRANSACTION_METHODS:
            tx_hash = _hash32(params[0] if params else None)
            if tx_hash is None or sender_of is None:
                raise RoleDenied(self.role, action, "a token bound to an address reads only its own transactions")
            owner = sender_of(tx_hash)  # None: no such transaction, and the answer is null
            if owner is not None and owner != self.address:
                raise RoleDenied(self.role, action, f"the transaction is not from 0x{self.address.hex()} "
                                 "(reading others' transactions needs rpc:read)")


def _hash32(value: Any) -> bytes | None:
    if not isinstance(value, str) or len(value) != 66 or value[:2] not in ("0x", "0X"):
        return None
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        return None


def _raw_transaction_sender(value: Any) -> bytes:
    """The recovered sender of a raw transaction parameter. Input whose sender cannot be
    recovered (not hex, too large, undecodable, a bad signature) raises PermissionDenied:
    an address-bound token may send only what is provably its own."""
    if not isinstance(value, str) or value[:2] not in ("0x", "0X") or len(value) > 2 + 2 * MAX_TX_BYTES:
        raise PermissionDenied("the transaction's sender cannot be checked: expected 0x-hex of at most "
                               f"{MAX_TX_BYTES} bytes")
    try:
        tx = decode_transaction(bytes.fromhex(value[2:]))
        return bytes(tx.sender)
    except Exception as exc:  # bad hex, bad RLP, a signature that recovers nothing
        raise PermissionDenied(f"the transaction's sender cannot be recovered: {str(exc)[:120]}") from None


# -- verifying a presented token ------------------------------------------------------------


def verify_token(
    token: str,
    issuers: Mapping[str, Ed25519PublicKey],
    *,
    now: float,
    revoked: Container[str] = frozenset(),
) -> Principal:
    """The principal a token names, or Unauthenticated naming the step that failed."""
    # 1. Size: refuse what cannot be one of ours before decoding anything.
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated(f"malformed token: expected a JWT of at most {MAX_TOKEN_CHARS} characters")
    # 2. Header: EdDSA only (no "none", no HMAC keyed with a public key), a key we trust.
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"malformed token: {exc}") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated(f"token algorithm {str(header.get('alg'))[:20]!r} refused: only {ALGORITHM}")
    kid = header.get("kid")
    key = issuers.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise Unauthenticated(f"token from an unknown issuer (kid {str(kid)[:20]!r})")
    # 3. Signature and claim presence. Times are checked in step 5 against `now`.
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM],
            options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False, "verify_aud": False, "verify_iss": False},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated(f"token lacks the claim {exc.claim!r}") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("token signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"token refused: {exc}") from None
    # 4. Issuer claim matches the key that signed.
    if claims["iss"] != kid:
        raise Unauthenticated("token issuer claim does not match its signing key")
    # 5. Validity period, with LEEWAY_SECONDS of clock skew either way.
    times = {name: claims.get(name, claims["iat"]) for name in ("iat", "nbf", "exp")}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in times.values()):
        raise Unauthenticated("token times (iat, nbf, exp) must be integers")
    if now + LEEWAY_SECONDS < times["nbf"] or now + LEEWAY_SECONDS < times["iat"]:
        raise Unauthenticated("token is not yet valid")
    if now - LEEWAY_SECONDS >= times["exp"]:
        raise Unauthenticated("token has expired")
    # 6. Role, subject and address.
    role = claims["role"]
    if not isinstance(role, str) or role not in ROLES:
        raise Unauthenticated(f"token names an unknown role {str(role)[:40]!r}")
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise Unauthenticated("token subject must be 1 to 200 characters")
    address = None
    if claims.get("addr") is not None:
        try:
            address = parse_address(claims["addr"]) if isinstance(claims["addr"], str) else None
        except ConfigError:
            address = None
        if address is None:
            raise Unauthenticated("token addr claim is not a 20-byte 0x-hex address")
    if role in ADDRESS_BOUND_ROLES and address is None:
        raise Unauthenticated(f"a {role} token must carry an addr claim")
    # 7. Not revoked.
    token_id = claims["jti"]
    if not isinstance(token_id, str) or TOKEN_ID.fullmatch(token_id) is None:
        raise Unauthenticated("token id (jti) must be 32 lowercase hex digits")
    if token_id in revoked:
        raise Unauthenticated(f"token {token_id} has been revoked")
    return Principal(role, subject, address, token_id, expires=times["exp"])


def bearer_token(authorization: str | None, query_token: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, else of a `token` query
    parameter (browsers cannot set headers on WebSocket or EventSource); None if neither."""
    if authorization is not None and authorization.strip():
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise Unauthenticated("malformed Authorization header: expected Bearer TOKEN")
        return value
    if query_token:
        return query_token.strip()
    return None


# -- the authorizer ---------------------------------------------------------------------------


ANONYMOUS_ADMIN = Principal("ADMIN", "anonymous (authentication off)", anonymous=True)


@dataclass(frozen=True)
class Credential:
    """What a request presents: its token, where it came from, and for the console's
    session cookie the opened session (which ends at `session.expires`)."""

    token: str
    source: Literal["header", "query", "cookie"]
    session: Session | None = None


def load_session_key(data_dir: Path) -> bytes:
    """The node's browser-session key, `<data_dir>/tokens/session.key` (SESSION_KEY_BYTES
    random bytes, mode 0600), created if absent. Deleting it signs every browser out."""
    directory = data_dir / TOKENS_DIR
    path = directory / SESSION_KEY_FILE
    if not path.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = directory / f".{SESSION_KEY_FILE}.{secrets.token_hex(4)}.tmp"
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(SESSION_KEY_BYTES))
        try:
            os.link(staging, path)  # atomic, and fails if a key exists: the first one wins
        except FileExistsError:
            pass
        finally:
            staging.unlink(missing_ok=True)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    if len(key) != SESSION_KEY_BYTES:
        raise ConfigError(str(path), f"a session key is {SESSION_KEY_BYTES} random bytes; delete the file and "
                                     "restart to make a new one (every browser signs in again)")
    return key


class Authorizer:
    """Turns what a request presents (Authorization header, `token` query parameter, the
    console's session cookie) into a Principal.

    Mode "required": no token, no access (except rpc:public JSON-RPC calls, which the RPC
    layer lets through with `identify` returning None). Mode "off": no token is the
    anonymous ADMIN. In both modes a presented token is verified and its role applies.
    Without a `session_key` the cookie is not read (tools and tests that serve no browser).
    """

    def __init__(
        self,
        mode: str,
        issuers: Mapping[str, Ed25519PublicKey],
        revoked: Container[str] = frozenset(),
        *,
        clock: Callable[[], float] = time.time,
        admin_issuers: Iterable[str] | None = None,
        session_key: bytes | None = None,
    ) -> None:
        if mode not in ("required", "off"):
            raise ConfigError("auth", f"an authorizer is 'required' or 'off', not {mode!r}")
        self.mode = mode
        self.issuers = dict(issuers)
        self.revoked = revoked
        self.clock = clock
        # The issuers whose ADMIN tokens count (default: all). A node trusts other
        # organisations' issuers for their users' roles, never to administer it (ADMIN
        # holds rpc:admin: this validator's votes).
        self.admin_issuers = frozenset(self.issuers if admin_issuers is None else admin_issuers)
        self.session_key = session_key

    @classmethod
    def open(cls) -> Authorizer:
        """Authentication off and no issuer: every request is the anonymous ADMIN, and any
        presented token is refused (tools and tests that need no access control)."""
        return cls("off", {})

    @classmethod
    def from_data_dir(cls, data_dir: Path, mode: str, extra_issuers: Iterable[Path] = ()) -> Authorizer:
        """The node's authorizer: its own issuer key (created if absent) and the extra
        issuer public keys its configuration lists; revocations from `tokens/revoked`; the
        browser-session key from `tokens/session.key` (created if absent)."""
        store = TokenStore(data_dir)
        own = store.public_key()
        keys = [own, *(load_public_key(path) for path in extra_issuers)]
        return cls(mode, {key_id(k): k for k in keys}, RevocationList(store.revoked_path),
                   admin_issuers=[key_id(own)], session_key=load_session_key(data_dir))

    def verify(self, token: str) -> Principal:
        principal = verify_token(token, self.issuers, now=self.clock(), revoked=self.revoked)
        if principal.role == "ADMIN" and jwt.get_unverified_header(token).get("kid") not in self.admin_issuers:
            raise Unauthenticated("an ADMIN token counts only from this node's own issuer, not a trusted outside one")
        return principal

    def identify(self, authorization: str | None, query_token: str | None) -> Principal | None:
        """The presented token's principal; with none presented, the anonymous ADMIN when
        authentication is off and None when it is required. Unauthenticated for a token
        that does not verify. (No cookie: a request's entry is `identify_request`.)"""
        token = bearer_token(authorization, query_token)
        if token is not None:
            return self.verify(token)
        return ANONYMOUS_ADMIN if self.mode == "off" else None

    def authenticate(self, authorization: str | None, query_token: str | None) -> Principal:
        """As `identify`, but a missing token where one is required is Unauthenticated."""
        principal = self.identify(authorization, query_token)
        if principal is None:
            raise Unauthenticated("this node requires a bearer token (Authorization: Bearer TOKEN)")
        return principal

    # -- requests (every HTTP surface enters here) --

    def session_of(self, connection: HTTPConnection) -> Session | None:
        """The console session whose cookie `connection` carries, if this node sealed it
        (it may have ended); None for no cookie, or one this node did not seal (another
        node's: cookies ignore ports; one tampered with)."""
        value = connection.cookies.get(COOKIE_NAME) if self.session_key is not None else None
        if not value or self.session_key is None:
            return None
        try:
            return unseal_session(self.session_key, value)
        except ForeignSession:
            return None

    def credential(self, connection: HTTPConnection) -> Credential | None:
        """What `connection` presents, first found: `Authorization: Bearer`, `?token=`,
        this node's session cookie; None for nothing. The CSRF edge is here: an unsafe
        request the cookie would authenticate must carry the session's X-CSRF-Token, else
        CsrfRefused (403) before anything else is done. Unauthenticated for a malformed
        Authorization header. A WebSocket handshake is a GET and its messages carry no
        header, so no CSRF value guards it: the WebSocket route counts a cookie credential
        only from the node's own pages (node/rpc/origin.py `same_origin`)."""
        authorization = connection.headers.get("authorization")
        if authorization is not None and authorization.strip():
            return Credential(str(bearer_token(authorization, None)), "header")
        query_token = connection.query_params.get("token")
        if query_token:
            return Credential(query_token.strip(), "query")
        session = self.session_of(connection)
        if session is None or self.session_key is None:
            return None
        method = connection.scope.get("method") or "GET"  # a WebSocket handshake is a GET
        check_csrf(self.session_key, session.cookie, method, connection.headers.get(CSRF_HEADER))
        return Credential(session.token, "cookie", session)

    def principal_of(self, credential: Credential) -> Principal:
        """The principal of a presented credential, verified now (a WebSocket and the feed
        call this again while they stay open): Unauthenticated for a token that does not
        verify or a session that has ended."""
        if credential.session is None:
            return self.verify(credential.token)
        credential.session.require_current(self.clock())
        principal = self.verify(credential.token)
        return replace(principal, expires=credential.session.expires)

    def identify_request(self, connection: HTTPConnection) -> Principal | None:
        """`identify` for a request or WebSocket, the session cookie counting too: the
        principal; with nothing presented, the anonymous ADMIN (auth off) or None
        (required). Unauthenticated, or CsrfRefused (an unsafe request by cookie without
        its CSRF header)."""
        credential = self.credential(connection)
        if credential is None:
            return ANONYMOUS_ADMIN if self.mode == "off" else None
        return self.principal_of(credential)

    def for_request(self, connection: HTTPConnection) -> Principal:
        """As `identify_request`, but nothing presented where a token is required is
        Unauthenticated."""
        principal = self.identify_request(connection)
        if principal is None:
            raise Unauthenticated("this node requires a bearer token (Authorization: Bearer TOKEN) "
                                  "or a console session (sign in at /#signin)")
        return principal

    def sign_in(self, token: str) -> Credential:
        """A new console session carrying `token`, which must verify now: it ends when the
        token does or after MAX_SESSION_SECONDS, whichever is first. Unauthenticated for a
        token that does not verify (or a server with no session key); ValueError for one
        too long to keep in a browser cookie."""
        if self.session_key is None:
            raise Unauthenticated("this server keeps no browser sessions")
        principal = self.verify(token)
        now = int(self.clock())
        expires = session_end(now, principal.expires if principal.expires is not None else now)
        if expires <= now:  # within verify's clock-skew leeway, but a cookie of no life
            raise Unauthenticated("token has expired")
        # The nonce is made here, the edge's randomness, so that session.py stays pure.
        cookie = seal_session(self.session_key, token, expires, secrets.token_bytes(NONCE_BYTES))
        return Credential(token, "cookie", Session(token, expires, cookie))

    def csrf_of(self, credential: Credential | None) -> str:
        """The CSRF value a page sends with its writes: the session's for the cookie; for
        anything else a value no check asks for (a header is no ambient credential)."""
        if self.session_key is None:
            raise Unauthenticated("this server keeps no browser sessions")
        return csrf_for(self.session_key, credential.session.cookie if credential and credential.session else "")


def principal_for(request: HTTPConnection) -> Principal:
    """The principal of an HTTP request or WebSocket, by the app's authorizer
    (`app.state.authorizer`); Unauthenticated without a valid token where one is needed,
    CsrfRefused for an unsafe request by session cookie without its CSRF header."""
    authorizer = getattr(request.app.state, "authorizer", None)
    if not isinstance(authorizer, Authorizer):
        raise Unauthenticated("this server has no authorizer configured")  # fail closed
    return authorizer.for_request(request)
