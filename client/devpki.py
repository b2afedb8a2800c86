"""A development PKI: keys, CA and signer certificates, CRLs and their file formats.

Used by the tests and by ``ledger ca new|issue``. Everything here is a pure function over
``cryptography`` objects and returns bytes or objects — writing files (keys with mode
0600) is the caller's job. Given fixed times and serials, certificates are reproducible
byte for byte apart from the key itself: ECDSA signatures use RFC 6979 deterministic
nonces and RSA PKCS#1 v1.5 is deterministic by construction.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

KeyType = Literal["rsa2048", "rsa3072", "p256", "p384", "secp256k1"]
KEY_TYPES: tuple[KeyType, ...] = get_args(KeyType)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
# The hashes cryptography signs certificates and CRLs with (it refuses SHA-1 and MD5).
SigningHash = (
    hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512
    | hashes.SHA3_224 | hashes.SHA3_256 | hashes.SHA3_384 | hashes.SHA3_512
)

# keyUsage bits by the names the CLI and tests use (cryptography's KeyUsage argument names).
KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
CA_KEY_USAGE = frozenset({"key_cert_sign", "crl_sign"})
SIGNER_KEY_USAGE = frozenset({"digital_signature", "content_commitment"})

_CURVES: dict[str, ec.EllipticCurve] = {
    "p256": ec.SECP256R1(),
    "p384": ec.SECP384R1(),
    "secp256k1": ec.SECP256K1(),
}
_RSA_BITS = {"rsa2048": 2048, "rsa3072": 3072}
_RSA_PUBLIC_EXPONENT = 65537
DIGEST_LENGTH = 32


def generate_key(kind: KeyType) -> PrivateKey:
    """A fresh private key of one of the kinds the ledger accepts for signers."""
    if kind in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=_RSA_BITS[kind])
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind])
    raise ValueError(f"unknown key type {kind!r}; expected one of {', '.join(KEY_TYPES)}")


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_usage(names: Iterable[str]) -> x509.KeyUsage:
    chosen = set(names)
    unknown = chosen.difference(KEY_USAGE_NAMES)
    if unknown:
        raise ValueError(
            f"unknown key usage {', '.join(sorted(unknown))}; expected names from {', '.join(KEY_USAGE_NAMES)}"
        )
    return x509.KeyUsage(**{name: name in chosen for name in KEY_USAGE_NAMES})


def _sign(builder: x509.CertificateBuilder, key: PrivateKey, hash_algorithm: SigningHash) -> x509.Certificate:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, hash_algorithm, ecdsa_deterministic=True)
    return builder.sign(key, hash_algorithm)


def _build(
    builder: x509.CertificateBuilder,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.CertificateBuilder:
    # Later entries replace earlier ones of the same OID, so callers can override a
    # default extension (tests use this to plant malformed or unusual ones).
    by_oid: dict[x509.ObjectIdentifier, tuple[x509.ExtensionType, bool]] = {}
    for value, critical in extensions:
        by_oid[value.oid] = (value, critical)
    for value, critical in by_oid.values():
        builder = builder.add_extension(value, critical)
    return builder


def make_root(
    name: str,
    key: PrivateKey,
    *,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    path_length: int | None = None,
    organization: str | None = None,
    hash_algorithm: SigningHash = hashes.SHA256(),
) -> x509.Certificate:
    """A self-signed CA certificate: basicConstraints cA, keyUsage keyCertSign+cRLSign, SKI."""
    subject = _name(name, organization)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number() if serial is None else serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    builder = _build(
        builder,
        [
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (_key_usage(CA_KEY_USAGE), True),
            (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        ],
    )
    return _sign(builder, key, hash_algorithm)


def issue_certificate(
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    subject_key_public: PublicKey,
    *,
    common_name: str,
    organization: str | None = None,
    is_ca: bool = False,
    path_length: int | None = None,
    key_usage: set[str] | None = None,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    hash_algorithm: SigningHash = hashes.SHA256(),
) -> x509.Certificate:
    """A certificate for ``subject_key_public`` signed by the issuer, with SKI and AKI.

    ``key_usage`` defaults to keyCertSign+cRLSign for a CA and digitalSignature+
    contentCommitment for a signer; an empty set omits the extension. An entry of
    ``extra_extensions`` replaces a default extension with the same OID.
    """
    if path_length is not None and not is_ca:
        raise ValueError("path_length only applies to a CA certificate")
    usage = (CA_KEY_USAGE if is_ca else SIGNER_KEY_USAGE) if key_usage is None else key_usage
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(issuer_cert.subject)
        .public_key(subject_key_public)
        .serial_number(x509.random_serial_number() if serial is None else serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=is_ca, path_length=path_length), True),
    ]
    if usage:
        extensions.append((_key_usage(usage), True))
    extensions.append((x509.SubjectKeyIdentifier.from_public_key(subject_key_public), False))
    extensions.append((_authority_key_identifier(issuer_cert, issuer_key), False))
    extensions.extend(extra_extensions)
    return _sign(_build(builder, extensions), issuer_key, hash_algorithm)


def _authority_key_identifier(issuer_cert: x509.Certificate, issuer_key: PrivateKey) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def make_crl(
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    serials: Iterable[int],
    *,
    this_update: datetime,
    next_update: datetime,
    number: int = 1,
    hash_algorithm: SigningHash = hashes.SHA256(),
) -> x509.CertificateRevocationList:
    """A CRL revoking ``serials`` as of ``this_update``, with AKI and CRL number."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(_authority_key_identifier(issuer_cert, issuer_key), False)
        .add_extension(x509.CRLNumber(number), False)
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this_update).build()
        )
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        return builder.sign(issuer_key, hash_algorithm, ecdsa_deterministic=True)
    return builder.sign(issuer_key, hash_algorithm)


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """Sign a SHA-256 digest as ``evidence.x509.verify_digest_signature`` checks it.

    ECDSA: DER signature, RFC 6979 nonce; RSA: PKCS#1 v1.5 over the digest's DigestInfo.
    """
    if len(digest) != DIGEST_LENGTH:
        raise ValueError(f"digest must be {DIGEST_LENGTH} bytes (SHA-256), got {len(digest)}")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    raise TypeError(f"unsupported key type {type(key).__name__}")


def chain_der(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenated DER certificates, leaf first: the chain argument of the precompile."""
    return b"".join(cert.public_bytes(serialization.Encoding.DER) for cert in certs)


def chain_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """A PEM bundle of the certificates, in the order given."""
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def private_key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the library's best scheme when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption() if password is None else serialization.BestAvailableEncryption(password)
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from a PEM bundle (one or more, in file order) or one DER certificate."""
    if b"-----BEGIN" in data:
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate bundle: {exc}") from exc
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ValueError(f"neither PEM nor a DER certificate: {exc}") from exc


def load_private_key(data: bytes, password: bytes | None = None) -> PrivateKey:
    """An RSA or EC private key from PEM (PKCS#8 or traditional, encrypted or not) or DER."""
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password)
        else:
            key = serialization.load_der_private_key(data, password)
    except (ValueError, TypeError) as exc:
        # TypeError: a password given for an unencrypted key or missing for an encrypted one.
        raise ValueError(f"cannot load the private key: {exc}") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"unsupported private key type {type(key).__name__} (RSA or EC only)")
    return key


def load_pkcs12(
    data: bytes, password: bytes | None
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """(key, its certificate, the other certificates) from a PKCS#12 / .pfx file."""
    try:
        key, cert, additional = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot load the PKCS#12 file: {exc}") from exc
    if key is None or cert is None:
        raise ValueError("the PKCS#12 file must hold a private key and its certificate")
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"unsupported private key type {type(key).__name__} (RSA or EC only)")
    return key, cert, list(additional)


def write_pkcs12(
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    additional: Sequence[x509.Certificate] = (),
    password: bytes | None = None,
) -> bytes:
    """A PKCS#12 / .pfx file of the key, its certificate and the rest of its chain."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption() if password is None else serialization.BestAvailableEncryption(password)
    )
    return pkcs12.serialize_key_and_certificates(name.encode(), key, cert, list(additional) or None, encryption)
