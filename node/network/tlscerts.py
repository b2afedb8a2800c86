"""The consortium CA and the node TLS certificates it issues for mutually-authenticated
peer-to-peer links.

Every validator and observer holds an EC P-256 key and a certificate from the consortium
CA named in genesis.json (`evidenceLedger.consortiumCA`); a node accepts a peer whose
certificate chains to that CA and refuses any other. Node certificates serve both ends of
a link (serverAuth + clientAuth), name the node in their commonName, and carry the
loopback address and `localhost` (plus any listen host) as subjectAltName, because TLS
clients check the name they dialled.

**Validator binding.** A validator's certificate also carries its validator (secp256k1)
address as a subjectAltName URI, ``urn:evidence-ledger:validator:0x<40 lowercase hex>``
(`validator_uri`). The transport (`node/network/peers.py`) refuses a HELLO that claims a validator
address its certificate does not carry, so a consortium certificate issued to an observer
cannot speak as a validator, as Fabric binds an MSP identity to the TLS certificate and
Besu binds an enode id to the node key. A SAN URI rather than a private extension: any
X.509 tool shows it (`openssl x509 -ext subjectAltName`), and it changes no TLS check
because peers are dialled by IP and the URI never matches a host. At most one such URI:
a node holds one validator key (`certificate_validator` refuses more).

Time comes in as an argument (`now`): nothing here reads the clock. Writing files is
`write_private_key` / `write_certificate`; both create their file with mode 0600 (the
node's data directory is private, `node/storage/files.py`; a certificate is public, but one
rule for every file is simpler to audit) and a missing parent directory with 0700.
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

from node.errors import NodeError

NODE_CERT_VALIDITY = timedelta(days=365)
# The CA must outlive every certificate it issues, including ones re-issued next year.
CA_VALIDITY = timedelta(days=10 * 365)
LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost")
# Files and directories this module creates: owner only (see the module docstring).
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
# The subjectAltName URI that binds a node certificate to a validator address.
VALIDATOR_URI_PREFIX = "urn:evidence-ledger:validator:0x"
ADDRESS_BYTES = 20


class CertificateBindingError(NodeError):
    """A certificate's validator binding is malformed; `uri` is the offending SAN URI
    (empty when the problem is their number)."""

    def __init__(self, reason: str, uri: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.uri = uri


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
    validator: bytes | None = None,
) -> NodeCertificate:
    """A node's EC P-256 key and certificate: commonName `name`, SAN 127.0.0.1 + localhost
    + `hosts` (+ the `validator` address URI for a validator), EKU serverAuth + clientAuth,
    keyUsage digitalSignature, valid one year from `now`."""
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
        .add_extension(x509.SubjectAlternativeName(subject_alt_names(hosts, validator)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
    )
    return NodeCertificate(key, builder.sign(ca.key, hashes.SHA256()))


def subject_alt_names(hosts: tuple[str, ...], validator: bytes | None = None) -> list[x509.GeneralName]:
    """Loopback always, then each extra host as an IP address or a DNS name, no repeats;
    then the validator URI if `validator` is given."""
    names: list[x509.GeneralName] = []
    for host in (*LOOPBACK_NAMES, *hosts):
        try:
            general: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            general = x509.DNSName(host)
        if general not in names:
            names.append(general)
    if validator is not None:
        names.append(x509.UniformResourceIdentifier(validator_uri(validator)))
    return names


def validator_uri(address: bytes) -> str:
    """The SAN URI binding a certificate to validator `address` (20 bytes)."""
    if len(address) != ADDRESS_BYTES:
        raise ValueError(f"a validator address is {ADDRESS_BYTES} bytes, got {len(address)}")
    return VALIDATOR_URI_PREFIX + address.hex()


def certificate_validator(certificate: x509.Certificate) -> bytes | None:
    """The validator address `certificate` is bound to, None if it carries no binding;
    CertificateBindingError for a malformed URI or more than one. Hex is read in either
    case; URIs with other prefixes are not ours and are ignored."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = [uri for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
            if uri.lower().startswith(VALIDATOR_URI_PREFIX)]
    if not uris:
        return None
    if len(uris) > 1:
        raise CertificateBindingError(f"certificate carries {len(uris)} validator addresses, at most one")
    digits = uris[0][len(VALIDATOR_URI_PREFIX):]
    if len(digits) != 2 * ADDRESS_BYTES or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise CertificateBindingError("validator URI does not end in a 20-byte hex address", uris[0])
    return bytes.fromhex(digits)


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """PKCS#8 PEM, unencrypted, created with mode 0600 (never readable by others, even briefly)."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def write_certificate(path: Path, certificate: x509.Certificate) -> None:
    """PEM, created with mode 0600 (an existing file is replaced and keeps its mode)."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))


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
