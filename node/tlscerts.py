"""The consortium CA and the node TLS certificates it issues for mutually-authenticated
peer-to-peer links.

Every validator and observer holds an EC P-256 key and a certificate from the consortium
CA named in genesis.json (`evidenceLedger.consortiumCA`); a node accepts a peer whose
certificate chains to that CA and refuses any other. Node certificates serve both ends of
a link (serverAuth + clientAuth), name the node in their commonName, and carry the
loopback address and `localhost` (plus any listen host) as subjectAltName, because TLS
clients check the name they dialled.

Time comes in as an argument (`now`): nothing here reads the clock. Writing files is
`write_private_key` / `write_certificate`; keys are written with mode 0600.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NODE_CERT_VALIDITY = timedelta(days=365)
# The CA must outlive every certificate it issues, including ones re-issued next year.
CA_VALIDITY = timedelta(days=10 * 365)
LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class ConsortiumCA:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class NodeCertificate:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def make_consortium_ca(name: str, *, now: datetime, key: ec.EllipticCurvePrivateKey | None = None) -> ConsortiumCA:
    """A self-signed EC P-256 CA: basicConstraints cA (pathLen 0: it issues node
    certificates only), keyUsage keyCertSign + cRLSign, subject key identifier."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "evidence-ledger consortium"),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return ConsortiumCA(key, builder.sign(key, hashes.SHA256()))


def issue_node_certificate(
    ca: ConsortiumCA,
    name: str,
    *,
    now: datetime,
    hosts: tuple[str, ...] = (),
    key: ec.EllipticCurvePrivateKey | None = None,
) -> NodeCertificate:
    """A node's EC P-256 key and certificate: commonName `name`, SAN 127.0.0.1 + localhost
    + `hosts`, EKU serverAuth + clientAuth, keyUsage digitalSignature, valid one year from
    `now`."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    issuer_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "evidence-ledger consortium"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + NODE_CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(subject_alt_names(hosts)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
    )
    return NodeCertificate(key, builder.sign(ca.key, hashes.SHA256()))


def subject_alt_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    """Loopback always, then each extra host as an IP address or a DNS name, no repeats."""
    names: list[x509.GeneralName] = []
    for host in (*LOOPBACK_NAMES, *hosts):
        try:
            general: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            general = x509.DNSName(host)
        if general not in names:
            names.append(general)
    return names


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """PKCS#8 PEM, unencrypted, created with mode 0600 (never readable by others, even briefly)."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def load_consortium_ca(certificate_path: Path, key_path: Path) -> ConsortiumCA:
    """The CA written by `write_certificate`/`write_private_key`, to issue more node certificates."""
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: not an EC private key")
    return ConsortiumCA(key, certificate)


def _key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=crl_sign,
        encipher_only=False, decipher_only=False,
    )
