"""Credentials a user brings: a chain account key, and a CA certificate with its key.

A certificate identity comes from a PEM chain plus a PEM/DER key, or from one PKCS#12
file; either way it is the leaf certificate first, then its issuers up to the root —
the order the PKI precompile wants. The leaf's key is RSA, ECDSA or SM2 (an SM2 key comes
as PEM/DER — PKCS#8, encrypted or not, or SEC 1 — never in PKCS#12, see
`client.pkifiles.SM2_PKCS12_UNSUPPORTED`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client import devpki, pkifiles
from client.errors import ClientError


class CredentialError(ClientError, ValueError):
    """A credential file that cannot be used, with the reason."""


class ChainFacts:
    """What any holder of a certificate chain (leaf first, root last) can say about it."""

    chain: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def chain_der(self) -> bytes:
        return devpki.chain_der(self.chain)

    @property
    def fingerprint(self) -> bytes:
        return hashlib.sha256(self.leaf.public_bytes(serialization.Encoding.DER)).digest()

    @property
    def root_fingerprint(self) -> bytes:
        return hashlib.sha256(self.chain[-1].public_bytes(serialization.Encoding.DER)).digest()


@dataclass(frozen=True)
class CertificateIdentity(ChainFacts):
    """A certificate chain (leaf first, root last) and the leaf's private key."""

    chain: tuple[x509.Certificate, ...]
    key: devpki.PrivateKey

    def sign_digest(self, digest: bytes) -> bytes:
        """The leaf key's signature over a 32-byte ledger digest (`client.devpki.sign_digest`:
        ECDSA DER, RSA PKCS#1 v1.5, or SM2 DER with the default distinguishing ID)."""
        return devpki.sign_digest(self.key, digest)


def order_chain(certs: list[x509.Certificate], leaf: x509.Certificate | None = None) -> tuple[x509.Certificate, ...]:
    """Order a bag of certificates leaf → root by issuer/subject names (files list them
    in any order). Refuses a bag that is not one path."""
    if not certs:
        raise CredentialError("no certificates")
    pool = list(certs)
    if leaf is None:
        issuers = {c.issuer for c in pool if c.issuer != c.subject}
        leaves = [c for c in pool if c.subject not in issuers]
        if len(leaves) != 1:
            raise CredentialError("cannot tell the leaf certificate: give the chain leaf first or one path only")
        leaf = leaves[0]
    ordered = [leaf]
    pool = [c for c in pool if c != leaf]
    while ordered[-1].issuer != ordered[-1].subject:
        nxt = [c for c in pool if c.subject == ordered[-1].issuer]
        if not nxt:
            raise CredentialError(f"the chain stops at {ordered[-1].issuer.rfc4514_string()}: its certificate is missing")
        ordered.append(nxt[0])
        pool.remove(nxt[0])
    return tuple(ordered)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialError(f"{path}: {exc.strerror}") from exc


def load_identity(
    *, cert: Path | None = None, key: Path | None = None, p12: Path | None = None, password: str | None = None
) -> CertificateIdentity:
    """A certificate identity from `cert` (PEM bundle, leaf + issuers) and `key`, or `p12`."""
    secret = password.encode() if password else None
    try:
        if p12 is not None:
            private, leaf, extra = pkifiles.load_pkcs12(_read(p12), secret)
            chain = order_chain([leaf, *extra], leaf)
        elif cert is not None and key is not None:
            certs = pkifiles.load_certificates(_read(cert))
            private = pkifiles.load_private_key(_read(key), secret)
            chain = order_chain(certs, certs[0] if len(certs) == 1 else None)
        else:
            raise CredentialError("give --cert and --cert-key, or --p12")
        # The SubjectPublicKeyInfo of both halves (SM2's from its point: the certificate's
        # key is read by devpki, cryptography cannot).
        leaf_public = devpki.spki_der(devpki.public_key(chain[0]))
    except CredentialError:
        raise
    except ValueError as exc:
        raise CredentialError(str(exc)) from exc
    if devpki.spki_der(private.public_key()) != leaf_public:
        raise CredentialError("the private key does not belong to the leaf certificate")
    return CertificateIdentity(chain, private)


def load_account_key(path: Path) -> bytes:
    """A chain account's secp256k1 key: (0x-)hex text (Besu's key file format)."""
    from eth_account import Account  # ~0.8 s to import: only when a key is read

    try:
        return bytes(Account.from_key(_read(path).decode(errors="replace").strip()).key)
    except (ValueError, TypeError) as exc:  # eth-keys refuses anything but 32 bytes of hex
        raise CredentialError(f"{path}: not a 32-byte hex private key") from exc
