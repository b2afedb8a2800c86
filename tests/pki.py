"""Certificates for the chaincode tests: four CAs (RSA root; P-256 root with an
intermediate; P-384 root; SM2 root with an SM2 intermediate) and signer identities
issued by them, at fixed times."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client import devpki
from client.credentials import CertificateIdentity

# Certificates are valid from NOT_BEFORE for ten years: any wall clock of a test run and
# the dev chain's block times sit inside the window.
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=3650)


@dataclass(frozen=True)
class CA:
    name: str
    root: x509.Certificate
    root_key: devpki.PrivateKey
    issuer: x509.Certificate           # the certificate that signs leaves (root or intermediate)
    issuer_key: devpki.PrivateKey
    path: tuple[x509.Certificate, ...]  # issuer up to the root

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    @property
    def issuer_chain_der(self) -> bytes:
        return devpki.chain_der(self.path)

    def issue(self, common_name: str, kind: devpki.KeyType, *, serial: int | None = None, **options: object) -> CertificateIdentity:
        key = devpki.generate_key(kind)
        cert = devpki.issue_certificate(
            self.issuer, self.issuer_key, key.public_key(), common_name=common_name,
            organization=options.pop("organization", None) or f"{common_name} Ltd",  # type: ignore[arg-type]
            not_before=options.pop("not_before", NOT_BEFORE), not_after=options.pop("not_after", NOT_AFTER),  # type: ignore[arg-type]
            serial=serial, **options,  # type: ignore[arg-type]
        )
        return CertificateIdentity((cert, *self.path), key)


def _root(name: str, kind: devpki.KeyType) -> tuple[x509.Certificate, devpki.PrivateKey]:
    key = devpki.generate_key(kind)
    return devpki.make_root(name, key, not_before=NOT_BEFORE, not_after=NOT_AFTER + timedelta(days=365)), key


@functools.cache
def rsa_ca() -> CA:
    root, key = _root("Trading Center CA (RSA)", "rsa2048")
    return CA("rsa", root, key, root, key, (root,))


@functools.cache
def p256_ca() -> CA:
    root, key = _root("Province CA Root (P-256)", "p256")
    inter_key = devpki.generate_key("p256")
    inter = devpki.issue_certificate(
        root, key, inter_key.public_key(), common_name="Province CA Signing (P-256)", is_ca=True,
        path_length=0, not_before=NOT_BEFORE, not_after=NOT_AFTER,
    )
    return CA("p256", root, key, inter, inter_key, (inter, root))


@functools.cache
def sm2_ca() -> CA:
    """An SM2 hierarchy as a Chinese CA runs one (GM/T 0015): SM2 root, SM2 intermediate
    (pathLen 0) that issues the leaves; every signature SM3withSM2 with the default
    distinguishing ID 1234567812345678."""
    root, key = _root("National Trading CA Root (SM2)", "sm2")
    inter_key = devpki.generate_key("sm2")
    inter = devpki.issue_certificate(
        root, key, inter_key.public_key(), common_name="National Trading CA Signing (SM2)", is_ca=True,
        path_length=0, not_before=NOT_BEFORE, not_after=NOT_AFTER,
    )
    return CA("sm2", root, key, inter, inter_key, (inter, root))


@functools.cache
def p384_ca() -> CA:
    root, key = _root("Notary CA (P-384)", "p384")
    return CA("p384", root, key, root, key, (root,))


@functools.cache
def untrusted_ca() -> CA:
    root, key = _root("Unknown CA", "p256")
    return CA("untrusted", root, key, root, key, (root,))
