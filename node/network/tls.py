"""Mutual TLS 1.3 for the node-to-node link: the contexts, and what a verified peer
certificate says about the peer.

`tls_contexts` pins TLS 1.3 both ways, requires a certificate both ways and trusts only
the consortium CA named in genesis (no system roots). Peers are dialled by IP, so there
is no hostname check; the chain must still verify to the CA. A peer's leaf must carry
extendedKeyUsage clientAuth when it dials us and serverAuth when we dial it: OpenSSL
refuses a leaf whose EKU lacks the purpose during the handshake, and a leaf with no EKU
at all is refused right after it by `peer_identity` (OpenSSL would accept that as "any
purpose"). Node certificates therefore carry both serverAuth and clientAuth.

A peer's name is the commonName of its verified certificate; a validator's certificate
also binds its validator address, as the subjectAltName URI
``urn:evidence-ledger:validator:0x<address hex>`` (`node.network.tlscerts.validator_uri`;
a certificate with a malformed one, or two, is refused). `peer_identity` reads both from
a connection that completed its handshake, or raises `CertificateRefused`.

`check_own_hello` holds our own HELLO to the same rules before the network starts: a
name that differs from our certificate's commonName is a ConfigError (every peer would
refuse it); a validator address the certificate does not bind (a certificate issued
before the binding) is dropped from our HELLO with a warning, so such a node still
connects, as an observer would.
"""
from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.errors import ConfigError, NodeError
from node.network.frames import MAX_NAME_BYTES
from node.network.tlscerts import CertificateBindingError, certificate_validator

log = logging.getLogger("ledger.p2p")

TLS_VERSION = "TLSv1.3"


class CertificateRefused(NodeError):
    """A peer's TLS session or certificate is not one we talk to; `counter` is
    "tls_failed" (not TLS 1.3) or "certificate_refused" (EKU, commonName, validator
    binding), `reason` says which rule."""

    def __init__(self, counter: str, reason: str) -> None:
        super().__init__(reason)
        self.counter = counter
        self.reason = reason


class NodeTLSContext(ssl.SSLContext):
    """An SSLContext that remembers the node certificate it presents: `ssl` cannot read
    it back, and `check_own_hello` checks our HELLO against it."""

    certificate: x509.Certificate | None = None


def tls_contexts(cert_pem_path: Path, key_pem_path: Path, ca_pem: bytes) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts: TLS 1.3 only, certificates required both ways, trust in
    the consortium CA `ca_pem` alone, no hostname check (peers are dialled by IP). Both
    are `NodeTLSContext`s holding the certificate at `cert_pem_path`."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError("tls.certificate", f"cannot read a PEM certificate from {cert_pem_path}: {exc}") from exc
    contexts = []
    for protocol in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        context = NodeTLSContext(protocol)
        context.certificate = certificate
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.maximum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_cert_chain(str(cert_pem_path), str(key_pem_path))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("tls.certificate", f"cannot load {cert_pem_path} / {key_pem_path}: {exc}") from exc
        try:
            context.load_verify_locations(cadata=ca_pem.decode("ascii"))
        except (UnicodeDecodeError, ssl.SSLError, ValueError) as exc:
            raise ConfigError("tls.ca", f"the consortium CA is not a PEM certificate: {exc}") from exc
        if not context.get_ca_certs():
            raise ConfigError("tls.ca", "no CA certificate in the consortium CA PEM")
        contexts.append(context)
    return contexts[0], contexts[1]


@dataclass(frozen=True)
class PeerIdentity:
    """What a peer's verified certificate says it is."""

    name: str                  # commonName
    validator: bytes | None    # the validator address it binds (node.network.tlscerts), or None
    tls_version: str


def peer_identity(ssl_object: ssl.SSLObject | None, *, peer_dialled: bool) -> PeerIdentity:
    """The identity of a peer whose certificate the handshake verified, or CertificateRefused.

    `peer_dialled`: the peer is the TLS client (it dialled us), so its certificate must
    allow clientAuth; otherwise it is the server and must allow serverAuth.
    """
    if ssl_object is None:
        raise CertificateRefused("certificate_refused", "no TLS session")
    version = ssl_object.version() or ""
    if version != TLS_VERSION:
        raise CertificateRefused("tls_failed", f"negotiated {version or 'no TLS version'}, not {TLS_VERSION}")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise CertificateRefused("certificate_refused", "peer presented no certificate")
    try:
        certificate = x509.load_der_x509_certificate(der)
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    except ValueError as exc:   # OpenSSL verified it, but cryptography is stricter about some encodings
        raise CertificateRefused("certificate_refused", f"certificate does not parse: {exc}") from None
    purpose = ExtendedKeyUsageOID.CLIENT_AUTH if peer_dialled else ExtendedKeyUsageOID.SERVER_AUTH
    purpose_name = "clientAuth" if peer_dialled else "serverAuth"
    if usages is None:
        raise CertificateRefused("certificate_refused", f"certificate has no extendedKeyUsage (needs {purpose_name})")
    if purpose not in usages:
        raise CertificateRefused("certificate_refused", f"certificate extendedKeyUsage lacks {purpose_name}")
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CertificateRefused("certificate_refused", f"certificate subject has {len(names)} commonNames, needs one")
    name = names[0].value
    if not isinstance(name, str) or not name or len(name.encode()) > MAX_NAME_BYTES:
        raise CertificateRefused("certificate_refused", "certificate commonName is empty or too long")
    try:
        validator = certificate_validator(certificate)
    except CertificateBindingError as exc:
        raise CertificateRefused("certificate_refused", f"{name}: {exc}") from None
    return PeerIdentity(name, validator, version)


def check_own_hello(context: ssl.SSLContext, name: str, validator: bytes | None) -> bool:
    """Whether our HELLO may claim `validator` (True also when there is nothing to claim
    or the context does not say which certificate it presents).

    ConfigError if `name` is not our certificate's commonName, or the certificate's
    validator binding is malformed: every peer would refuse us. False, with a warning,
    if the certificate does not bind `validator`: our HELLO must then claim none.
    """
    certificate = context.certificate if isinstance(context, NodeTLSContext) else None
    if certificate is None:
        return True
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cert_name = names[0].value if len(names) == 1 else None
    if cert_name != name:
        raise ConfigError("p2p.name", f"is {name!r} but the TLS certificate's commonName is "
                                      f"{cert_name!r}; every peer would refuse this node")
    try:
        bound = certificate_validator(certificate)
    except CertificateBindingError as exc:
        raise ConfigError("tls.certificate", f"{exc}; every peer would refuse it") from exc
    if validator is not None and validator != bound:
        log.warning(
            "the TLS certificate of %s does not bind validator address 0x%s (it binds %s): peers refuse "
            "a HELLO claiming it, so ours will claim none (consensus is unaffected: it checks signatures). "
            "Reissue the certificate with the validator address (`ledger node tls-cert --validator`)",
            name, validator.hex(), "none" if bound is None else f"0x{bound.hex()}")
        return False
    return True
