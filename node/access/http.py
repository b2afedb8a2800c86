"""What the HTTP layer asks of access control: who is calling (`Authorizer`, `principal_for`) and may they make this call (`Principal`).

Model: Hyperledger Besu's JWT authentication of its JSON-RPC — no valid token is HTTP
401; a valid token whose role may not call a method gets JSON-RPC error -40100
("Unauthorized") for that call. docs/access.md is the user's guide.

A request presents a bearer token (`Authorization: Bearer TOKEN`, or a `token` query
parameter); `verify_token` checks it against the trusted issuer keys, in numbered steps,
and yields the `Principal` (pure: keys, times and revocations come in as arguments). The
role tables are node/access/roles.py's; the token format and files node/access/tokens.py's.
`Principal.may_call` recovers the sender of a raw transaction (py-evm) for tokens bound to
an address: this module is the node's, imported by the RPC, blob and REST layers only.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from node.access.tokens import (
    ALGORITHM,
    MAX_SUBJECT_CHARS,
    TOKEN_ID,
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
    return Principal(role, subject, address, token_id)


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


class Authorizer:
    """Turns what a request presents (Authorization header, `token` query parameter) into
    a Principal.

    Mode "required": no token, no access (except rpc:public JSON-RPC calls, which the RPC
    layer lets through with `identify` returning None). Mode "off": no token is the
    anonymous ADMIN. In both modes a presented token is verified and its role applies.
    """

    def __init__(
        self,
        mode: str,
        issuers: Mapping[str, Ed25519PublicKey],
        revoked: Container[str] = frozenset(),
        *,
        clock: Callable[[], float] = time.time,
        admin_issuers: Iterable[str] | None = None,
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

    @classmethod
    def open(cls) -> Authorizer:
        """Authentication off and no issuer: every request is the anonymous ADMIN, and any
        presented token is refused (tools and tests that need no access control)."""
        return cls("off", {})

    @classmethod
    def from_data_dir(cls, data_dir: Path, mode: str, extra_issuers: Iterable[Path] = ()) -> Authorizer:
        """The node's authorizer: its own issuer key (created if absent) and the extra
        issuer public keys its configuration lists; revocations from `tokens/revoked`."""
        store = TokenStore(data_dir)
        own = store.public_key()
        keys = [own, *(load_public_key(path) for path in extra_issuers)]
        return cls(mode, {key_id(k): k for k in keys}, RevocationList(store.revoked_path),
                   admin_issuers=[key_id(own)])

    def verify(self, token: str) -> Principal:
        principal = verify_token(token, self.issuers, now=self.clock(), revoked=self.revoked)
        if principal.role == "ADMIN" and jwt.get_unverified_header(token).get("kid") not in self.admin_issuers:
            raise Unauthenticated("an ADMIN token counts only from this node's own issuer, not a trusted outside one")
        return principal

    def identify(self, authorization: str | None, query_token: str | None) -> Principal | None:
        """The presented token's principal; with none presented, the anonymous ADMIN when
        authentication is off and None when it is required. Unauthenticated for a token
        that does not verify."""
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

    def for_request(self, connection: HTTPConnection) -> Principal:
        return self.authenticate(connection.headers.get("authorization"), connection.query_params.get("token"))


def principal_for(request: HTTPConnection) -> Principal:
    """The principal of an HTTP request or WebSocket, by the app's authorizer
    (`app.state.authorizer`); Unauthenticated without a valid token where one is needed."""
    authorizer = getattr(request.app.state, "authorizer", None)
    if not isinstance(authorizer, Authorizer):
        raise Unauthenticated("this server has no authorizer configured")  # fail closed
    return authorizer.for_request(request)

