"""Who signs with a member's certificate key: a local key file or the hosted signing service.

Everything that signs for a member — `Ledger.register_member`, `Ledger.sign_contract` —
needs only a `Signer`: the certificate chain (leaf first, root last), its DER
concatenation, the leaf's fingerprint, and a signature over a 32-byte SHA-256 digest in
the format the chain's PKI precompile checks (`client.devpki.sign_digest`: ECDSA DER,
RSA PKCS#1 v1.5, or SM2 DER over SM3(Z || digest) with the default distinguishing ID).

Two kinds exist:

* `LocalSigner` (a `client.credentials.CertificateIdentity`), loaded by `load_signer`
  from a PEM chain with a PEM/DER key (encrypted or not; RSA, ECDSA or SM2), a PKCS#12
  file (not for SM2 keys), or a PEM chain with a Web3 Secret Storage keystore (the
  Ethereum keystore JSON) holding a secp256k1 certificate key.
* `CloudSigner`, which holds no key: it fetches the chain from the signing service
  (`client.cloudsign`) and asks it to sign, authenticating with the user's bearer token.
  It checks every signature it gets back against the leaf certificate before handing it
  on, so a misbehaving service cannot make the SDK submit a signature that is not the
  member's.
"""
from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from client import devpki, pkifiles
from client.credentials import CertificateIdentity, ChainFacts, CredentialError, load_identity, order_chain
from client.errors import ClientError
from client.http import HttpClient, HttpError, ResponseTooLarge, check_url, is_loopback_host
from evidence.x509 import CertificateError, verify_digest_signature

# A local signer is a certificate identity: the chain and the private key in memory.
LocalSigner = CertificateIdentity

# A keystore is a few hundred bytes of JSON; anything much larger is not one.
MAX_KEYSTORE_BYTES = 64 * 1024
# The keystore's own KDF parameters decide how much memory and time decrypting takes.
# geth's "standard" scrypt is N=2^18 (256 MiB); refuse files asking for more than 4x
# that, or a PBKDF2 count past 10x geth's, instead of letting a file exhaust the machine.
MAX_KEYSTORE_SCRYPT_N = 2**20
MAX_KEYSTORE_SCRYPT_R = 8
MAX_KEYSTORE_SCRYPT_P = 1
MAX_KEYSTORE_PBKDF2_ROUNDS = 2_621_440

# What the service sends back: a PEM chain of at most five certificates (the precompile's
# MAX_CHAIN_LENGTH, 24 KiB of DER) fits well within this; a signature is a few hundred
# bytes of JSON. A larger answer is cut off rather than read into memory.
MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0


@runtime_checkable
class Signer(Protocol):
    """A member's certificate chain and a way to sign digests with the leaf's key."""

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The certificates, leaf first, root last."""
        ...

    @property
    def chain_der(self) -> bytes:
        """The chain's DER certificates concatenated, leaf first: the precompile's input."""
        ...

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 of the leaf certificate's DER."""
        ...

    def sign_digest(self, digest: bytes) -> bytes:
        """A signature over the 32-byte SHA-256 `digest` (ECDSA DER, RSA PKCS#1 v1.5 or SM2 DER)."""
        ...


class SignerError(ClientError):
    """A signer that could not sign: the service refused (`status` is its HTTP status and
    `reason` its own message), could not be reached (`status` None), or answered
    something that is not a valid signature."""

    def __init__(self, reason: str, *, status: int | None = None, url: str | None = None) -> None:
        self.reason = reason
        self.status = status
        self.url = url
        where = f" ({url})" if url else ""
        code = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"signing service{where}: {code}{reason}")


# -- local key files ------------------------------------------------------------------------


def load_signer(
    *,
    cert: Path | None = None,
    key: Path | None = None,
    p12: Path | None = None,
    keystore: Path | None = None,
    password: str | None = None,
) -> LocalSigner:
    """A local signer from one of:

    * `cert` (PEM chain) and `key` (PEM or DER private key — RSA, EC or SM2 — encrypted
      with `password` or not);
    * `p12` (PKCS#12 with the key and its chain, `password` if it has one; RSA or EC);
    * `cert` and `keystore` (Web3 Secret Storage JSON with the leaf's secp256k1 key,
      always encrypted: `password` is required).

    Raises `CredentialError` naming what is wrong.
    """
    given = [name for name, value in (("key", key), ("p12", p12), ("keystore", keystore)) if value is not None]
    if len(given) != 1:
        raise CredentialError("give exactly one key source: a key file (with the chain), a PKCS#12 file, or a keystore (with the chain)")
    if keystore is not None:
        if cert is None:
            raise CredentialError("a keystore holds only the key: give the certificate chain PEM with it")
        return _load_keystore_signer(cert, keystore, password)
    if p12 is not None and cert is not None:
        raise CredentialError("a PKCS#12 file carries its own chain: do not give a certificate file with it")
    return load_identity(cert=cert, key=key, p12=p12, password=password)


def _read(path: Path, limit: int | None = None) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read() if limit is None else handle.read(limit + 1)
    except OSError as exc:
        raise CredentialError(f"{path}: {exc.strerror}") from exc
    if limit is not None and len(data) > limit:
        raise CredentialError(f"{path}: larger than {limit} bytes, not a keystore")
    return data


def _load_keystore_signer(cert: Path, keystore: Path, password: str | None) -> LocalSigner:
    # 1. The chain, leaf first (a bundle in any order is sorted as load_identity does).
    try:
        certs = pkifiles.load_certificates(_read(cert))
    except ValueError as exc:
        raise CredentialError(f"{cert}: {exc}") from exc
    chain = order_chain(certs, certs[0] if len(certs) == 1 else None)
    # 2. The keystore: a 32-byte secp256k1 secret, so the leaf must carry a secp256k1 key.
    try:
        leaf_key = devpki.public_key(chain[0])
    except ValueError as exc:
        raise CredentialError(f"{cert}: {exc}") from exc
    if not (isinstance(leaf_key, ec.EllipticCurvePublicKey) and isinstance(leaf_key.curve, ec.SECP256K1)):
        raise CredentialError("a keystore holds a secp256k1 key, but the leaf certificate's key is not secp256k1")
    if password is None:
        raise CredentialError("a keystore is always encrypted: give its password")
    secret = decrypt_keystore(_read(keystore, MAX_KEYSTORE_BYTES), password, str(keystore))
    private = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256K1())
    # 3. The key must be the leaf's.
    if devpki.spki_der(private.public_key()) != devpki.spki_der(leaf_key):
        raise CredentialError("the keystore's key does not belong to the leaf certificate")
    return CertificateIdentity(chain, private)


def decrypt_keystore(data: bytes, password: str, what: str = "keystore") -> bytes:
    """The 32-byte secret of a Web3 Secret Storage (version 3) JSON keystore."""
    from eth_account import Account  # ~0.8 s to import: only when a keystore is read

    # 1. Parse and bound the KDF's cost before eth-account runs it.
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CredentialError(f"{what}: not JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("version") != 3:
        raise CredentialError(f"{what}: not a version 3 Web3 Secret Storage keystore")
    crypto = document.get("crypto", document.get("Crypto"))
    if not isinstance(crypto, dict) or not isinstance(crypto.get("kdfparams"), dict):
        raise CredentialError(f"{what}: no crypto.kdfparams section")
    _check_kdf_cost(crypto.get("kdf"), crypto["kdfparams"], what)
    # 2. Decrypt (eth-keyfile checks the MAC first: a wrong password fails there).
    try:
        secret = bytes(Account.decrypt(document, password))
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialError(f"{what}: cannot decrypt ({exc}): wrong password or a damaged keystore") from exc
    if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < _SECP256K1_ORDER:
        raise CredentialError(f"{what}: the decrypted secret is not a secp256k1 private key")
    return secret


_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _check_kdf_cost(kdf: Any, params: dict[str, Any], what: str) -> None:
    def number(name: str) -> int:
        value = params.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise CredentialError(f"{what}: kdfparams.{name} is not a positive integer")
        return value

    if kdf == "scrypt":
        limits = {"n": MAX_KEYSTORE_SCRYPT_N, "r": MAX_KEYSTORE_SCRYPT_R, "p": MAX_KEYSTORE_SCRYPT_P}
    elif kdf == "pbkdf2":
        limits = {"c": MAX_KEYSTORE_PBKDF2_ROUNDS}
    else:
        raise CredentialError(f"{what}: unsupported kdf {kdf!r} (scrypt or pbkdf2)")
    for name, limit in limits.items():
        if number(name) > limit:
            raise CredentialError(f"{what}: kdfparams.{name} = {params[name]} exceeds {limit}, refusing to run it")


# -- the hosted signing service ------------------------------------------------------------


class CloudSigner(ChainFacts):
    """A member's key held by the signing service (`ledger signer serve`).

    `url` is the service's base URL, `user` the member's user id there and `token` the
    bearer token `ledger signer add-user` printed. Construction fetches the chain (so a
    wrong token or an unreachable service fails there, and a CloudSigner that exists has
    its chain); each `sign_digest` is one more request. Plain `http://` is accepted only
    to a loopback host (the token would cross the network in clear text) unless
    `allow_plain_http` is set.

    (The fetch is in the constructor, not lazy, also because Python 3.11's `isinstance`
    against a runtime-checkable Protocol reads every member: a lazy `chain` property
    would make `isinstance(x, Signer)` do network I/O.)
    """

    def __init__(
        self,
        url: str,
        user: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        allow_plain_http: bool = False,
    ) -> None:
        try:
            parts = check_url(url)
        except ValueError:
            raise ValueError(f"signing service URL must be http(s)://host[:port], got {url!r}") from None
        if parts.scheme == "http" and not allow_plain_http and not is_loopback_host(parts.hostname or ""):
            raise ValueError(f"refusing to send a bearer token over plain http to {parts.hostname}: use https")
        if not user:
            raise ValueError("user is empty")
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise ValueError("token must be the printable ASCII text `ledger signer add-user` printed")
        self.url = url.rstrip("/")
        self.user = user
        self.timeout = timeout
        self._path = f"v1/users/{urllib.parse.quote(user, safe='')}"
        self._http = HttpClient(self.url, token=token, timeout=timeout, max_response_bytes=MAX_RESPONSE_BYTES)
        self._chain = self._fetch_chain()

    def __repr__(self) -> str:  # never the token
        return f"CloudSigner(url={self.url!r}, user={self.user!r})"

    # -- Signer --------------------------------------------------------------------------

    def _fetch_chain(self) -> tuple[x509.Certificate, ...]:
        pem = self._request("GET", "/certificate")
        try:
            certs = pkifiles.load_certificates(pem)
            return order_chain(certs, certs[0])
        except (ValueError, CredentialError) as exc:
            raise SignerError(f"the service's certificate chain is unusable: {exc}", url=self.url) from exc

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:  # type: ignore[override]
        return self._chain

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != devpki.DIGEST_LENGTH:
            raise ValueError(f"digest must be {devpki.DIGEST_LENGTH} bytes (SHA-256), got {len(digest)}")
        leaf_der = self.leaf.public_bytes(serialization.Encoding.DER)
        answer = self._request("POST", "/sign", {"digest": "0x" + digest.hex()})
        signature = _parse_signature(answer, self.url)
        try:
            verify_digest_signature(leaf_der, digest, signature)
        except CertificateError as exc:
            raise SignerError(f"the service's signature does not verify with the certificate: {exc}", url=self.url) from exc
        return signature

    # -- HTTP ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, str] | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        try:
            return self._http.request(method, self._path + path, body=data,
                                      content_type="application/json" if data is not None else None,
                                      headers={"Accept": "*/*"}).body
        except ResponseTooLarge:
            raise SignerError(f"the answer is larger than {MAX_RESPONSE_BYTES} bytes", url=self.url) from None
        except HttpError as exc:
            if exc.status is None:
                raise SignerError(f"cannot reach the service: {exc.message}", url=self.url) from exc
            raise SignerError(exc.message, status=exc.status, url=self.url) from None


def _parse_signature(answer: bytes, url: str) -> bytes:
    try:
        document = json.loads(answer)
        text = document["signature"]
        if not isinstance(text, str) or not text.startswith("0x"):
            raise ValueError("not 0x-hex")
        return bytes.fromhex(text[2:])
    except (ValueError, KeyError, TypeError) as exc:
        raise SignerError(f"the answer is not {{\"signature\": \"0x...\"}}: {exc}", url=url) from exc
