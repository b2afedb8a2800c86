"""The signing service behind `CloudSigner`: members' certificate keys held encrypted at rest,
signing digests for whoever presents the member's bearer token.

Storage (one directory, mode 0700, every file 0600)::

    service.json        scrypt parameters and salt of the master key, and a GCM tag that
                        checks the passphrase (so a wrong one is refused at start-up)
    users/<user>.json   one record per user: the PEM chain, SHA-256 of the token, and the
                        PKCS#8 DER private key sealed with AES-256-GCM
    audit.log           one JSON line per signature made (time, user, digest, certificate)

Keys: the master key is scrypt(passphrase, service salt), derived once when the store is
opened. Each record has its own random 16-byte salt and 12-byte nonce; its AES-256 key is
HKDF-SHA256(master, salt). The GCM associated data binds the user id, the SHA-256 of the
chain and the token hash, so a record moved to another user, given another chain, or given
a token hash someone else chose no longer decrypts — whoever can write the directory but
does not know the passphrase cannot make the service sign with a token of their own.

A private key is decrypted for each signature and dropped after it; only the master key
stays in memory while the service runs (Python cannot wipe memory, so "dropped" means
"unreferenced", not "zeroed").

The pure part (sealing, opening, token checks, digest parsing) takes its salts, nonces
and times as arguments; `SignerStore` does the files and the randomness, `create_app`
the HTTP.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from client import devpki, pkifiles
from client.atomicfile import write_atomic
from client.credentials import CertificateIdentity, CredentialError, order_chain
from client.errors import ClientError

log = logging.getLogger("ledger.signer")

SCHEMA_VERSION = 1
SERVICE_FILE = "service.json"
USERS_DIR = "users"
AUDIT_FILE = "audit.log"

# A user id is a file name and a URL path segment: letters, digits, ".", "_" and "-",
# not starting with "." (no "..", no hidden files), at most 64 characters.
USER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TOKEN_BYTES = 32            # 256 random bits: guessing is hopeless, so no rate limit is needed
MAX_TOKEN_CHARS = 256       # a presented token longer than this is not one of ours
# A sign request is {"digest": "0x" + 64 hex}: under 100 bytes. 4 KiB leaves room for
# whitespace and a client's extra headers' worth of slack, and nothing more is read.
MAX_BODY_BYTES = 4096
# The master passphrase is the only secret protecting every key at rest.
MIN_PASSPHRASE_CHARS = 12
SALT_BYTES = 16
NONCE_BYTES = 12            # AES-GCM's standard nonce; random per record, never reused with a key
MASTER_KEY_BYTES = 32       # AES-256
DIGEST_LENGTH = devpki.DIGEST_LENGTH

# Labels that keep the keys and associated data of this format apart from anything else.
_RECORD_KEY_INFO = b"evidence-ledger/cloudsign/v1/record-key"
_RECORD_AAD = b"evidence-ledger/cloudsign/v1/record\x00"
_CHECK_AAD = b"evidence-ledger/cloudsign/v1/passphrase-check"


# -- errors ---------------------------------------------------------------------------------


class SignerServiceError(ClientError):
    """Root of the signing service's errors."""


class PassphraseError(SignerServiceError):
    """The master passphrase does not open this directory."""


class StoreError(SignerServiceError):
    """The directory is not a usable signing service store (missing, unreadable, malformed)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class RecordError(SignerServiceError):
    """A user record that is malformed or fails authentication (changed on disk)."""

    def __init__(self, user: str, reason: str) -> None:
        super().__init__(f"record of user {user!r}: {reason}")
        self.user = user
        self.reason = reason


class UnknownUser(SignerServiceError):
    def __init__(self, user: str) -> None:
        super().__init__(f"no user {user!r}")
        self.user = user


class UserExists(SignerServiceError):
    def __init__(self, user: str) -> None:
        super().__init__(f"user {user!r} exists (give --replace to import a new key and token)")
        self.user = user


class AuthenticationError(SignerServiceError):
    """No token, a malformed one, an unknown user or a wrong token: the client is told
    only that, whichever it was."""


class BadRequest(SignerServiceError):
    """A request body that is not {"digest": "0x" + 32 bytes of hex}."""


# -- the pure core --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScryptParams:
    """scrypt's cost: N=2^17, r=8 is 128 MiB and ~0.6 s once per start (OWASP's minimum
    for scrypt); p=1."""

    n: int = 2**17
    r: int = 8
    p: int = 1


DEFAULT_SCRYPT = ScryptParams()


def validate_user(user: str) -> str:
    if not USER_PATTERN.fullmatch(user):
        raise ValueError(f"user id {user!r}: use 1-64 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'")
    return user


def derive_master_key(passphrase: bytes, salt: bytes, params: ScryptParams) -> bytes:
    return Scrypt(salt=salt, length=MASTER_KEY_BYTES, n=params.n, r=params.r, p=params.p).derive(passphrase)


def passphrase_tag(master: bytes, nonce: bytes) -> bytes:
    """AES-GCM over nothing: a 16-byte tag only the right master key reproduces."""
    return AESGCM(master).encrypt(nonce, b"", _CHECK_AAD)


def token_sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def token_matches(expected_sha256: bytes, token: str) -> bool:
    """Constant-time comparison of the presented token's hash with the stored one."""
    return hmac.compare_digest(token_sha256(token), expected_sha256)


def _record_key(master: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_RECORD_KEY_INFO).derive(master)


def associated_data(user: str, chain: tuple[x509.Certificate, ...], token_hash: bytes) -> bytes:
    """What a record's ciphertext is bound to: the user id, the chain and the token hash."""
    name = user.encode()
    return _RECORD_AAD + len(name).to_bytes(1, "big") + name + hashlib.sha256(devpki.chain_der(chain)).digest() + token_hash


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass(frozen=True)
class UserRecord:
    """One user's record as stored: everything but the key is in the clear."""

    user: str
    chain: tuple[x509.Certificate, ...]
    token_sha256: bytes
    salt: bytes
    nonce: bytes
    ciphertext: bytes
    created_at: str

    @property
    def fingerprint(self) -> bytes:
        return hashlib.sha256(self.chain[0].public_bytes(serialization.Encoding.DER)).digest()

    @property
    def chain_pem(self) -> bytes:
        return devpki.chain_pem(self.chain)

    def to_document(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "user": self.user,
            "certificates": self.chain_pem.decode(),
            "token_sha256": _hex(self.token_sha256),
            "key": {
                "cipher": "AES-256-GCM",
                "key_derivation": "HKDF-SHA256(master key, salt)",
                "format": "PKCS#8 DER",
                "salt": _hex(self.salt),
                "nonce": _hex(self.nonce),
                "ciphertext": _hex(self.ciphertext),
            },
            "created_at": self.created_at,
        }

    @classmethod
    def parse(cls, document: Any, user: str) -> UserRecord:
        """A record document (as read from users/<user>.json) for `user`; raises RecordError."""
        try:
            if not isinstance(document, dict) or document.get("version") != SCHEMA_VERSION:
                raise ValueError(f"not a version {SCHEMA_VERSION} record")
            if document["user"] != user:
                raise ValueError(f"names user {document['user']!r}")
            certs = pkifiles.load_certificates(str(document["certificates"]).encode())
            chain = order_chain(certs, certs[0])
            key = document["key"]
            record = cls(
                user=user,
                chain=chain,
                token_sha256=_unhex(_key_of(document, "token_sha256"), 32, "token_sha256"),
                salt=_unhex(_key_of(key, "salt"), SALT_BYTES, "key.salt"),
                nonce=_unhex(_key_of(key, "nonce"), NONCE_BYTES, "key.nonce"),
                ciphertext=_unhex(_key_of(key, "ciphertext"), None, "key.ciphertext"),
                created_at=str(document["created_at"]),
            )
        except (ValueError, KeyError, TypeError, CredentialError) as exc:
            raise RecordError(user, f"malformed: {exc}") from exc
        return record


def _key_of(mapping: Any, name: str) -> Any:
    if not isinstance(mapping, dict):
        raise ValueError(f"expected an object holding {name!r}")
    return mapping[name]


def _unhex(value: Any, length: int | None, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{what} is not 0x-hex")
    data = bytes.fromhex(value[2:])
    if length is not None and len(data) != length:
        raise ValueError(f"{what} is {len(data)} bytes, expected {length}")
    return data


def seal_key(
    master: bytes,
    key: devpki.PrivateKey,
    *,
    user: str,
    chain: tuple[x509.Certificate, ...],
    token_hash: bytes,
    salt: bytes,
    nonce: bytes,
    created_at: str,
) -> UserRecord:
    """A record holding `key` encrypted under HKDF(master, salt), bound to user, chain and token."""
    plaintext = pkifiles.private_key_der(key)  # SM2 keys too: cryptography cannot serialise them
    ciphertext = AESGCM(_record_key(master, salt)).encrypt(nonce, plaintext, associated_data(user, chain, token_hash))
    return UserRecord(user, chain, token_hash, salt, nonce, ciphertext, created_at)


def open_key(master: bytes, record: UserRecord) -> devpki.PrivateKey:
    """The record's private key; RecordError if the record was changed or the master key is wrong."""
    aad = associated_data(record.user, record.chain, record.token_sha256)
    try:
        plaintext = AESGCM(_record_key(master, record.salt)).decrypt(record.nonce, record.ciphertext, aad)
    except InvalidTag:
        raise RecordError(record.user, "does not authenticate: changed on disk, moved from another user, or another passphrase") from None
    try:
        return pkifiles.load_private_key(plaintext)
    except ValueError as exc:  # authentic but unusable: written by something else than seal_key
        raise RecordError(record.user, f"the decrypted key is unusable: {exc}") from exc


def parse_sign_request(body: bytes) -> bytes:
    """The 32-byte digest of a sign request body {"digest": "0x<64 hex>"}."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(document, dict) or set(document) != {"digest"}:
        raise BadRequest('the body must be {"digest": "0x<64 hex digits>"} and nothing else')
    text = document["digest"]
    if not isinstance(text, str) or not text.startswith("0x") or len(text) != 2 + 2 * DIGEST_LENGTH:
        raise BadRequest(f"digest must be 0x and {2 * DIGEST_LENGTH} hex digits (a SHA-256 digest)")
    try:
        return bytes.fromhex(text[2:])
    except ValueError as exc:
        raise BadRequest(f"digest is not hex: {exc}") from exc


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer TOKEN` header."""
    if not authorization:
        raise AuthenticationError("missing bearer token: send Authorization: Bearer TOKEN")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError("malformed Authorization header: expected Bearer TOKEN")
    return token


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the directory --------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise StoreError(path, f"cannot read {what}: {exc.strerror}") from exc
    except ValueError as exc:
        raise StoreError(path, f"{what} is not JSON: {exc}") from exc


def is_store(directory: Path) -> bool:
    return (directory / SERVICE_FILE).is_file()


def list_records(directory: Path) -> list[tuple[str, UserRecord | RecordError]]:
    """Every user's record (or why it cannot be read), by user id; needs no passphrase."""
    if not is_store(directory):
        raise StoreError(directory, "not a signing service directory (no service.json)")
    found: list[tuple[str, UserRecord | RecordError]] = []
    for path in sorted((directory / USERS_DIR).glob("*.json")):
        user = path.stem
        try:
            found.append((user, UserRecord.parse(_read_json(path, "record"), user)))
        except StoreError as exc:
            found.append((user, RecordError(user, exc.reason)))
        except RecordError as exc:
            found.append((user, exc))
    return found


class SignerStore:
    """An opened store: the directory and its master key (the passphrase was right)."""

    def __init__(self, directory: Path, master: bytes) -> None:
        self.directory = directory
        self._master = master

    @classmethod
    def open(cls, directory: Path, passphrase: str, *, create: bool = False, scrypt: ScryptParams = DEFAULT_SCRYPT) -> SignerStore:
        """Open `directory` with the master passphrase (creating it if `create` and absent).

        1. Read service.json (or, creating, draw a salt and write it with a check tag).
        2. Derive the master key with scrypt.
        3. Check the tag: a wrong passphrase raises PassphraseError here, not at a signature.
        """
        secret = passphrase.encode()
        service = directory / SERVICE_FILE
        if not service.exists():
            if not create:
                raise StoreError(directory, "not a signing service directory (no service.json): add a user first")
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            (directory / USERS_DIR).mkdir(mode=0o700, exist_ok=True)
            salt, nonce = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(NONCE_BYTES)
            master = derive_master_key(secret, salt, scrypt)
            document = {
                "version": SCHEMA_VERSION,
                "kdf": {"name": "scrypt", "n": scrypt.n, "r": scrypt.r, "p": scrypt.p, "salt": _hex(salt)},
                "check": {"nonce": _hex(nonce), "tag": _hex(passphrase_tag(master, nonce))},
            }
            write_atomic(service, json.dumps(document, indent=2).encode() + b"\n")
            return cls(directory, master)
        # 1. service.json
        document = _read_json(service, SERVICE_FILE)
        try:
            if document.get("version") != SCHEMA_VERSION or document["kdf"]["name"] != "scrypt":
                raise ValueError(f"not a version {SCHEMA_VERSION} scrypt service file")
            kdf = document["kdf"]
            params = ScryptParams(int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
            salt = _unhex(kdf["salt"], SALT_BYTES, "kdf.salt")
            nonce = _unhex(document["check"]["nonce"], NONCE_BYTES, "check.nonce")
            tag = _unhex(document["check"]["tag"], 16, "check.tag")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(service, f"malformed: {exc}") from exc
        # 2. the master key
        master = derive_master_key(secret, salt, params)
        # 3. the check
        if not hmac.compare_digest(passphrase_tag(master, nonce), tag):
            raise PassphraseError(f"{directory}: wrong master passphrase")
        return cls(directory, master)

    def _path(self, user: str) -> Path:
        return self.directory / USERS_DIR / f"{validate_user(user)}.json"

    def add_user(self, user: str, identity: CertificateIdentity, *, now: datetime, replace: bool = False) -> str:
        """Import `identity`'s key for `user`; returns the new bearer token (stored only hashed)."""
        path = self._path(user)
        if path.exists() and not replace:
            raise UserExists(user)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        record = seal_key(
            self._master, identity.key, user=user, chain=identity.chain, token_hash=token_sha256(token),
            salt=secrets.token_bytes(SALT_BYTES), nonce=secrets.token_bytes(NONCE_BYTES), created_at=utc_text(now),
        )
        path.parent.mkdir(mode=0o700, exist_ok=True)
        write_atomic(path, json.dumps(record.to_document(), indent=2).encode() + b"\n")
        return token

    def record(self, user: str) -> UserRecord:
        """The user's record, read from disk now (users added while serving are seen)."""
        try:
            path = self._path(user)
        except ValueError:
            raise UnknownUser(user) from None
        if not path.is_file():
            raise UnknownUser(user)
        try:
            return UserRecord.parse(_read_json(path, "record"), user)
        except StoreError as exc:
            raise RecordError(user, exc.reason) from exc

    def authenticate(self, user: str, token: str) -> UserRecord:
        """The user's record if `token` is theirs. An unknown user and a wrong token raise
        the same AuthenticationError, after the same hash-and-compare work."""
        try:
            record = self.record(user)
        except UnknownUser:
            token_matches(b"\x00" * 32, token)
            raise AuthenticationError("unknown user or wrong token") from None
        if not token_matches(record.token_sha256, token):
            raise AuthenticationError("unknown user or wrong token")
        return record

    def sign(self, record: UserRecord, digest: bytes, *, now: datetime, remote: str | None = None) -> bytes:
        """Decrypt the record's key, sign `digest`, and append the audit line before
        returning: no signature leaves without its line on disk."""
        signature = devpki.sign_digest(open_key(self._master, record), digest)
        self.audit({
            "time": utc_text(now), "event": "sign", "user": record.user, "digest": _hex(digest),
            "certificate": _hex(record.fingerprint), "remote": remote,
        })
        return signature

    def audit(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.directory / AUDIT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write of one line with O_APPEND: lines never interleave
            os.fsync(fd)
        finally:
            os.close(fd)


# -- HTTP -------------------------------------------------------------------------------------


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _unauthorized(exc: AuthenticationError) -> JSONResponse:
    return _error(401, str(exc), {"WWW-Authenticate": 'Bearer realm="ledger-signer"'})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(store: SignerStore, *, clock: Callable[[], datetime] = _utc_now) -> FastAPI:
    """The service's routes: GET /healthz, GET /v1/users/{user}/certificate,
    POST /v1/users/{user}/sign. Errors are {"error": reason} with 400, 401, 413 or 500."""
    app = FastAPI(title="evidence-ledger signing service", version="1", docs_url=None, redoc_url=None, openapi_url=None)

    def authenticated(request: Request, user: str) -> UserRecord:
        try:
            return store.authenticate(user, bearer_token(request.headers.get("authorization")))
        except AuthenticationError:
            # The user id is attacker text: logged only when it is a valid id.
            shown = user if USER_PATTERN.fullmatch(user) else "<invalid id>"
            log.warning("refused %s %s for user %s from %s: bad or missing token",
                        request.method, request.url.path.rsplit("/", 1)[-1], shown, _remote(request))
            raise

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/users/{user}/certificate")
    def certificate(user: str, request: Request) -> Response:
        try:
            record = authenticated(request, user)
        except AuthenticationError as exc:
            return _unauthorized(exc)
        except RecordError as exc:
            log.error("%s", exc)
            return _error(500, "the user's record cannot be read; see the service log")
        return Response(record.chain_pem, media_type="application/pem-certificate-chain")

    @app.post("/v1/users/{user}/sign")
    async def sign(user: str, request: Request) -> Response:
        # 1. Size: the declared length, then what actually arrives (no more is read).
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _error(413, f"request body too large (limit {MAX_BODY_BYTES} bytes)")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"request body too large (limit {MAX_BODY_BYTES} bytes)")
        try:
            # 2. Who: the token must be this user's.
            record = await run_in_threadpool(authenticated, request, user)
            # 3. What: one SHA-256 digest.
            digest = parse_sign_request(bytes(body))
            # 4. Sign and audit.
            signature = await run_in_threadpool(store.sign, record, digest, now=clock(), remote=_remote(request))
        except AuthenticationError as exc:
            return _unauthorized(exc)
        except BadRequest as exc:
            return _error(400, str(exc))
        except RecordError as exc:
            log.error("%s", exc)
            return _error(500, "the user's key record cannot be opened; see the service log")
        except OSError as exc:  # the audit line could not be written: no signature without it
            log.error("audit log %s: %s", store.directory / AUDIT_FILE, exc)
            return _error(500, "the audit log cannot be written; not signing")
        return JSONResponse({"signature": _hex(signature)})

    return app


def _remote(request: Request) -> str | None:
    return f"{request.client.host}:{request.client.port}" if request.client else None
