"""Who may do what on the node's HTTP surface: roles and their permissions, Ed25519 JWT role tokens (issue, verify, revoke), and the `Authorizer` the RPC, blob and REST routes ask.

Model: Hyperledger Besu's JWT authentication of its JSON-RPC — no valid token is HTTP
401; a valid token whose role may not call a method gets JSON-RPC error -40100
("Unauthorized") for that call. docs/access.md is the user's guide.

* **Permissions** are strings (`rpc:read`, `blobs:write`, `contracts:read-own`, ...).
  Every JSON-RPC method is in exactly one group of `METHOD_PERMISSIONS`; a method in
  none is refused to every role but ADMIN (a test checks that each route is listed).
* **Roles** are the chaincode's (`chaincode.ROLES`); `ROLE_PERMISSIONS` is the one table
  of what each may do.
* **Tokens** are RFC 7519 JWTs signed with Ed25519 (alg "EdDSA"), claims iss, sub, role,
  addr (optional), iat, nbf, exp, jti. `issue_token` and `verify_token` are pure: keys,
  times and token ids come in as arguments.
* **Files** (`TokenStore`): `<data_dir>/tokens/issuer.key` (PKCS#8 PEM, 0600),
  `issuer.pub`, `issued.jsonl` (one record per token issued, never the token itself)
  and `revoked` (one token id per line, re-read whenever it changes).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Container, Iterable, Mapping, Sequence

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chaincode import ROLES
from node.errors import ConfigError, NotFound, PermissionDenied, Unauthenticated

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

# -- permissions ----------------------------------------------------------------------

RPC_PUBLIC = "rpc:public"        # which chain, how high: what every client asks first
RPC_SEND = "rpc:send"            # what a wallet needs to send and confirm its own transaction
RPC_READ = "rpc:read"            # every read of the chain (logs, proofs, raw blocks, ...)
RPC_ADMIN = "rpc:admin"          # validator votes, the --dev clock
BLOBS_READ = "blobs:read"        # GET/HEAD /v1/blobs/{sha256}
BLOBS_WRITE = "blobs:write"      # PUT /v1/blobs
CHAIN_READ = "chain:read"        # REST: chain summary, blocks
CONTRACTS_READ = "contracts:read"
CONTRACTS_READ_OWN = "contracts:read-own"  # only contracts naming the token's address as a party
EVIDENCE_READ = "evidence:read"
COMMITMENTS_READ = "commitments:read"

PERMISSIONS: tuple[str, ...] = (
    RPC_PUBLIC, RPC_SEND, RPC_READ, RPC_ADMIN, BLOBS_READ, BLOBS_WRITE, CHAIN_READ,
    CONTRACTS_READ, CONTRACTS_READ_OWN, EVIDENCE_READ, COMMITMENTS_READ,
)

SEND_RAW_TRANSACTION = "eth_sendRawTransaction"
# Methods that answer about one transaction: a token bound to an address and holding only
# rpc:send may ask them about the transactions that address sent (its own receipts).
OWN_TRANSACTION_METHODS = frozenset({"eth_getTransactionReceipt", "eth_getTransactionByHash"})

# The one table of JSON-RPC method -> permission group. rpc:read covers every read, the
# rpc:send reads included (an auditor may eth_call); only eth_sendRawTransaction needs
# rpc:send itself. Refinements (Principal.may_call): eth_getBlockByNumber with full
# transactions needs rpc:read; eth_subscribe "newHeads" needs only rpc:public.
METHOD_PERMISSIONS: dict[str, str] = {
    "web3_clientVersion": RPC_PUBLIC,
    "web3_sha3": RPC_PUBLIC,
    "net_version": RPC_PUBLIC,
    "net_listening": RPC_PUBLIC,
    "net_peerCount": RPC_PUBLIC,
    "eth_chainId": RPC_PUBLIC,
    "eth_blockNumber": RPC_PUBLIC,
    "eth_syncing": RPC_PUBLIC,
    "eth_unsubscribe": RPC_PUBLIC,  # WebSocket only; ends a subscription of this socket

    "eth_sendRawTransaction": RPC_SEND,
    "eth_getTransactionCount": RPC_SEND,
    "eth_estimateGas": RPC_SEND,
    "eth_call": RPC_SEND,
    "eth_gasPrice": RPC_SEND,
    "eth_maxPriorityFeePerGas": RPC_SEND,
    "eth_blobBaseFee": RPC_SEND,
    "eth_feeHistory": RPC_SEND,
    "eth_getBalance": RPC_SEND,
    "eth_getCode": RPC_SEND,
    "eth_accounts": RPC_SEND,
    "eth_getBlockByNumber": RPC_SEND,
    "eth_getTransactionReceipt": RPC_SEND,
    "eth_getTransactionByHash": RPC_SEND,

    "eth_getStorageAt": RPC_READ,
    "eth_getBlockByHash": RPC_READ,
    "eth_getBlockTransactionCountByNumber": RPC_READ,
    "eth_getUncleCountByBlockNumber": RPC_READ,
    "eth_getTransactionByBlockNumberAndIndex": RPC_READ,
    "eth_getBlockReceipts": RPC_READ,
    "eth_getLogs": RPC_READ,
    "eth_newFilter": RPC_READ,
    "eth_newBlockFilter": RPC_READ,
    "eth_newPendingTransactionFilter": RPC_READ,
    "eth_getFilterChanges": RPC_READ,
    "eth_getFilterLogs": RPC_READ,
    "eth_uninstallFilter": RPC_READ,
    "eth_getProof": RPC_READ,
    "eth_subscribe": RPC_READ,  # WebSocket only; "newHeads" needs only rpc:public
    "qbft_getValidatorsByBlockNumber": RPC_READ,
    "qbft_getValidatorsByBlockHash": RPC_READ,
    "qbft_getPendingVotes": RPC_READ,
    "ledger_getValidatorHistory": RPC_READ,
    "ledger_nodeStatus": RPC_READ,
    "debug_getRawHeader": RPC_READ,
    "debug_getRawBlock": RPC_READ,
    "debug_getRawReceipts": RPC_READ,

    "qbft_proposeValidatorVote": RPC_ADMIN,
    "qbft_discardValidatorVote": RPC_ADMIN,
    "evm_increaseTime": RPC_ADMIN,
}

# The one table of what each role may do. ADMIN may do everything (methods not
# classified above included). The record keepers (trading center, court) read and write
# everything but the node's administration; a notary does not follow commitments; an
# auditor reads everything and writes nothing; a regulator follows contracts and
# commitments (not evidence, not raw chain reads, not blobs) and may send its own
# transactions (voiding a contract); a party sends its own transactions, reads the
# ciphertext it was given and only the contracts it is a party to. The read limits hold on
# the REST routes and the feed; rpc:send's eth_call and receipts reach further (see
# docs/access.md).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "ADMIN": frozenset(PERMISSIONS),
    "TRADING_CENTER": frozenset({RPC_PUBLIC, RPC_SEND, RPC_READ, BLOBS_READ, BLOBS_WRITE, CHAIN_READ,
                                 CONTRACTS_READ, EVIDENCE_READ, COMMITMENTS_READ}),
    "COURT": frozenset({RPC_PUBLIC, RPC_SEND, RPC_READ, BLOBS_READ, BLOBS_WRITE, CHAIN_READ,
                        CONTRACTS_READ, EVIDENCE_READ, COMMITMENTS_READ}),
    "NOTARY": frozenset({RPC_PUBLIC, RPC_SEND, RPC_READ, BLOBS_READ, BLOBS_WRITE, CHAIN_READ,
                         CONTRACTS_READ, EVIDENCE_READ}),
    "AUDITOR": frozenset({RPC_PUBLIC, RPC_READ, BLOBS_READ, CHAIN_READ, CONTRACTS_READ, EVIDENCE_READ,
                          COMMITMENTS_READ}),
    "REGULATOR": frozenset({RPC_PUBLIC, RPC_SEND, CHAIN_READ, CONTRACTS_READ, COMMITMENTS_READ}),
    "PARTY": frozenset({RPC_PUBLIC, RPC_SEND, BLOBS_READ, CHAIN_READ, CONTRACTS_READ_OWN}),
}
# Roles whose tokens must name the account they act for.
ADDRESS_BOUND_ROLES = frozenset({"PARTY"})

# -- tokens -----------------------------------------------------------------------------

TOKENS_DIR = "tokens"
ISSUER_KEY_FILE = "issuer.key"
ISSUER_PUB_FILE = "issuer.pub"
ISSUED_FILE = "issued.jsonl"
REVOKED_FILE = "revoked"

ALGORITHM = "EdDSA"                 # RFC 8037: Ed25519
KEY_ID_HEX = 16                     # header kid / claim iss: 64 bits of SHA-256(raw public key)
LEEWAY_SECONDS = 60                 # clock skew allowed between the issuer and the node
MAX_TTL_SECONDS = 5 * 365 * 86400   # a token outliving its issuer's key rotation is a liability
# Ours are ~450 characters; a presented token far longer is not one, and is refused before
# any base64 or JSON work.
MAX_TOKEN_CHARS = 4096
MAX_SUBJECT_CHARS = 200
MAX_ISSUED_RECORD_BYTES = 4096      # one issued.jsonl line
TOKEN_ID = re.compile(r"[0-9a-f]{32}")  # jti: 128 random bits
REQUIRED_CLAIMS = ("iss", "sub", "role", "iat", "exp", "jti")

AUTH_MODES = ("auto", "required", "off")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class RoleDenied(PermissionDenied):
    """A valid token whose role (or address binding) does not allow `action`."""

    def __init__(self, role: str, action: str, detail: str | None = None) -> None:
        super().__init__(f"role {role} may not {action}" + (f": {detail}" if detail else ""))
        self.role = role
        self.action = action
        self.detail = detail


def parse_role(text: str) -> str:
    """A role name as the chaincode spells it, from any case and `-` or `_`
    (`trading-center` -> TRADING_CENTER); ConfigError for an unknown one."""
    role = text.strip().upper().replace("-", "_")
    if role not in ROLES:
        raise ConfigError("role", f"unknown role {text[:40]!r}; one of {', '.join(ROLES)}")
    return role


def parse_address(text: str) -> bytes:
    """A 0x-hex 20-byte address (any case); ConfigError otherwise."""
    body = text[2:] if text[:2] in ("0x", "0X") else None
    try:
        raw = bytes.fromhex(body) if body is not None and len(body) == 40 else b""
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise ConfigError("address", f"not a 0x-hex address of 20 bytes: {text[:60]!r}")
    return raw


def parse_ttl(text: str) -> int:
    """A lifetime like `90d`, `12h`, `30m` or `3600s` (a bare number is seconds)."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*([smhd]?)\s*", text)
    if match is None:
        raise ConfigError("ttl", f"expected a number with s, m, h or d (90d, 12h, 3600s), got {text[:40]!r}")
    seconds = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    if not 0 < seconds <= MAX_TTL_SECONDS:
        raise ConfigError("ttl", f"must be between 1 second and {MAX_TTL_SECONDS // 86400} days")
    return seconds


def key_id(public_key: Ed25519PublicKey) -> str:
    """The issuer key's id (JWT header kid and claim iss): 16 hex digits of SHA-256 of the
    raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX]


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


def call_permission(method: str, params: Sequence[Any]) -> str | None:
    """The permission group a call needs, with the refinements that depend on its
    parameters; None for a method no group lists (ADMIN only)."""
    group = METHOD_PERMISSIONS.get(method)
    if method == "eth_getBlockByNumber" and len(params) > 1 and params[1] is True:
        return RPC_READ  # full transactions: every sender's calldata
    if method == "eth_subscribe" and params and params[0] == "newHeads":
        return RPC_PUBLIC
    return group


def is_public_call(method: Any, params: Any) -> bool:
    """Whether anyone, without a token, may make this call."""
    return isinstance(method, str) and call_permission(method, params if isinstance(params, list) else []) == RPC_PUBLIC


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
    from node.execution.vm import MAX_TX_BYTES, decode_transaction  # py-evm: only the node needs it

    if not isinstance(value, str) or value[:2] not in ("0x", "0X") or len(value) > 2 + 2 * MAX_TX_BYTES:
        raise PermissionDenied("the transaction's sender cannot be checked: expected 0x-hex of at most "
                               f"{MAX_TX_BYTES} bytes")
    try:
        tx = decode_transaction(bytes.fromhex(value[2:]))
        return bytes(tx.sender)
    except Exception as exc:  # bad hex, bad RLP, a signature that recovers nothing
        raise PermissionDenied(f"the transaction's sender cannot be recovered: {str(exc)[:120]}") from None


# -- issuing and verifying ----------------------------------------------------------------


@dataclass(frozen=True)
class TokenClaims:
    """What a token says (and what issued.jsonl records of it)."""

    issuer: str          # iss: the issuer key id
    subject: str         # sub: who holds it, e.g. "City Housing Bureau"
    role: str
    address: bytes | None
    issued_at: int       # iat
    not_before: int      # nbf
    expires: int         # exp
    token_id: str        # jti

    def payload(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": self.subject, "role": self.role, "iat": self.issued_at,
            "nbf": self.not_before, "exp": self.expires, "jti": self.token_id,
        }
        if self.address is not None:
            claims["addr"] = "0x" + self.address.hex()
        return claims

    def record(self) -> dict[str, Any]:
        """The issued.jsonl line: everything but the signature, which is the secret part."""
        return {"jti": self.token_id, "role": self.role, "sub": self.subject,
                "addr": "0x" + self.address.hex() if self.address else None,
                "iat": self.issued_at, "exp": self.expires}


def new_token_id() -> str:
    return secrets.token_hex(16)


def issue_token(
    key: Ed25519PrivateKey,
    *,
    role: str,
    subject: str,
    address: bytes | None,
    now: int,
    ttl: int,
    token_id: str,
) -> tuple[str, TokenClaims]:
    """Sign a role token. ConfigError for a request that could never verify (unknown role,
    a PARTY without an address, an empty or overlong subject, a bad lifetime)."""
    role = parse_role(role)
    if role in ADDRESS_BOUND_ROLES and address is None:
        raise ConfigError("address", f"a {role} token must name the account it acts for (--address 0x...)")
    if address is not None and len(address) != 20:
        raise ConfigError("address", "must be 20 bytes")
    if not subject.strip() or len(subject) > MAX_SUBJECT_CHARS or not subject.isprintable():
        raise ConfigError("subject", f"1 to {MAX_SUBJECT_CHARS} printable characters")
    if not 0 < ttl <= MAX_TTL_SECONDS:
        raise ConfigError("ttl", f"must be between 1 second and {MAX_TTL_SECONDS // 86400} days")
    if TOKEN_ID.fullmatch(token_id) is None:
        raise ConfigError("jti", "32 lowercase hex digits")
    kid = key_id(key.public_key())
    claims = TokenClaims(kid, subject, role, address, now, now, now + ttl, token_id)
    token = jwt.encode(claims.payload(), key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})
    return token, claims


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


# -- files ---------------------------------------------------------------------------------


class RevocationList:
    """The `revoked` file's token ids, re-read when its size, mtime or inode changes (one
    stat per check), so `ledger token revoke` takes effect on a running node."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._ids: frozenset[str] = frozenset()

    def __contains__(self, token_id: object) -> bool:
        return token_id in self.current()

    def current(self) -> frozenset[str]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return frozenset()
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            if stamp != self._stamp:
                self._ids = frozenset(read_revoked(self.path))
                self._stamp = stamp
            return self._ids


def read_revoked(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if TOKEN_ID.fullmatch(line.strip())]


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key PEM (an issuer another node's tokens come from)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(str(path), f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(str(path), "token issuer keys are Ed25519")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class TokenStore:
    """`<root>/tokens/`: the issuer key pair, the record of issued tokens, the revocations.

    `root` is a node's data directory (or a cluster directory, or a directory kept only
    for issuing). The private key is created on first use, atomically: a node starting
    while `ledger token issue` runs ends up with the same key as the command.
    """

    def __init__(self, root: Path) -> None:
        self.dir = root / TOKENS_DIR

    @property
    def key_path(self) -> Path:
        return self.dir / ISSUER_KEY_FILE

    @property
    def revoked_path(self) -> Path:
        return self.dir / REVOKED_FILE

    def issuer_key(self) -> Ed25519PrivateKey:
        """The issuer's private key, created (mode 0600) if there is none yet."""
        if not self.key_path.exists():
            self.install_issuer_key(private_pem(Ed25519PrivateKey.generate()), replace=False)
        try:
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except OSError as exc:
            raise ConfigError(str(self.key_path), f"cannot read: {exc.strerror}") from exc
        except (ValueError, TypeError) as exc:
            raise ConfigError(str(self.key_path), f"not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(str(self.key_path), "the token issuer key must be Ed25519")
        pub = self.dir / ISSUER_PUB_FILE
        if not pub.exists():
            _write_atomic(pub, public_pem(key.public_key()), 0o644)
        return key

    def install_issuer_key(self, pem: bytes, *, replace: bool = False) -> None:
        """Write `pem` as the issuer key (a cluster shares one key among its nodes). Without
        `replace`, an existing key is kept (whoever created it first wins)."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = self.dir / f".{ISSUER_KEY_FILE}.{secrets.token_hex(4)}.tmp"
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            if replace:
                os.replace(staging, self.key_path)
            else:
                try:
                    os.link(staging, self.key_path)  # atomic, and fails if a key exists
                except FileExistsError:
                    pass
        finally:
            staging.unlink(missing_ok=True)
        if replace:
            (self.dir / ISSUER_PUB_FILE).unlink(missing_ok=True)

    def public_key(self) -> Ed25519PublicKey:
        return self.issuer_key().public_key()

    def issue(
        self, role: str, subject: str, address: bytes | None, ttl: int, *, now: int | None = None
    ) -> tuple[str, TokenClaims]:
        """Sign a token and append its record (never the token) to issued.jsonl."""
        token, claims = issue_token(
            self.issuer_key(), role=role, subject=subject, address=address,
            now=int(time.time()) if now is None else now, ttl=ttl, token_id=new_token_id(),
        )
        line = json.dumps(claims.record(), ensure_ascii=False) + "\n"
        fd = os.open(self.dir / ISSUED_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)  # one write of one short line: appends do not interleave
        return token, claims

    def records(self) -> list[dict[str, Any]]:
        """issued.jsonl, oldest first (lines that do not parse are skipped)."""
        try:
            lines = (self.dir / ISSUED_FILE).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            if not line.strip() or len(line) > MAX_ISSUED_RECORD_BYTES:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("jti"), str):
                records.append(record)
        return records

    def revoked(self) -> frozenset[str]:
        return frozenset(read_revoked(self.revoked_path))

    def revoke(self, token_id: str, *, unknown_ok: bool = False) -> bool:
        """Add `token_id` to the revocation file; False if it was revoked already.
        NotFound for an id this store did not issue, unless `unknown_ok` (a token from
        another issuer this node trusts)."""
        token_id = token_id.strip().lower()
        if TOKEN_ID.fullmatch(token_id) is None:
            raise ConfigError("jti", f"not a token id (32 hex digits): {token_id[:40]!r}")
        if not unknown_ok and token_id not in {r["jti"] for r in self.records()}:
            raise NotFound(f"no token {token_id} was issued from {self.dir}")
        if token_id in self.revoked():
            return False
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.revoked_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "a") as handle:
            handle.write(token_id + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return True


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(staging, path)


# -- the authorizer ---------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_auth_mode(mode: str, *, dev: bool, host: str) -> str:
    """"required" or "off": "auto" is "off" only for a --dev node serving on loopback."""
    if mode not in AUTH_MODES:
        raise ConfigError("auth", f"must be one of {', '.join(AUTH_MODES)}, got {mode[:40]!r}")
    if mode == "auto":
        return "off" if dev and is_loopback(host) else "required"
    return mode


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

