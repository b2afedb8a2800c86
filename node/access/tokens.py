"""Role tokens as their issuer makes and keeps them: the claims, signing (`issue_token`), the issuer key pair, `TokenStore` under `<data_dir>/tokens/`, the revocation file.

* **Tokens** are RFC 7519 JWTs signed with Ed25519 (alg "EdDSA"), claims iss, sub, role,
  addr (optional), iat, nbf, exp, jti. `issue_token` is pure: keys, times and token ids
  come in as arguments. A presented token is checked by `node.access.http.verify_token`,
  which yields the Principal the HTTP layer asks about.
* **Files** (`TokenStore`): `<data_dir>/tokens/issuer.key` (PKCS#8 PEM, 0600),
  `issuer.pub`, `issued.jsonl` (one record per token issued, never the token itself)
  and `revoked` (one token id per line, re-read whenever it changes: `RevocationList`).

Cheap to import (PyJWT and cryptography, no py-evm): `ledger token` and `ledger cluster`
use it without loading the node.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from node.access.roles import ADDRESS_BOUND_ROLES, parse_role
from node.errors import ConfigError, NotFound

TOKENS_DIR = "tokens"
ISSUER_KEY_FILE = "issuer.key"
ISSUER_PUB_FILE = "issuer.pub"
ISSUED_FILE = "issued.jsonl"
REVOKED_FILE = "revoked"

ALGORITHM = "EdDSA"                 # RFC 8037: Ed25519
KEY_ID_HEX = 16                     # header kid / claim iss: 64 bits of SHA-256(raw public key)
MAX_TTL_SECONDS = 5 * 365 * 86400   # a token outliving its issuer's key rotation is a liability
MAX_SUBJECT_CHARS = 200
MAX_ISSUED_RECORD_BYTES = 4096      # one issued.jsonl line
TOKEN_ID = re.compile(r"[0-9a-f]{32}")  # jti: 128 random bits


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


# -- issuing ----------------------------------------------------------------------------------


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
