"""A development PKI: keys, CA and signer certificates, CRLs and their file formats.

Used by the tests and by ``ledger ca new|issue``. Everything here is a pure function over
key objects and returns bytes or objects — writing files (keys with mode 0600) is the
caller's job. Given fixed times and serials, certificates are reproducible byte for byte
apart from the key itself: ECDSA signatures use RFC 6979 deterministic nonces and RSA
PKCS#1 v1.5 is deterministic by construction (SM2 signatures are randomised).

Keys are RSA and ECDSA ``cryptography`` keys, or SM2 keys (`client.sm2keys.SM2PrivateKey`,
`evidence.sm2.SM2PublicKey`), which ``cryptography`` has no curve for. Its builders
cannot sign with SM2 nor take an SM2 public key, so a certificate or CRL with an SM2
issuer or subject has its TBSCertificate / TBSCertList built with ``asn1crypto`` —
names, extensions and times encoded exactly as ``cryptography``'s builders encode them,
which a test checks byte for byte — and is signed with the issuer's key: SM3withSM2 with
the default distinguishing ID (GM/T 0009), ECDSA (RFC 6979) or RSA PKCS#1 v1.5. Either
way the caller gets a ``cryptography`` ``x509.Certificate`` / ``CertificateRevocationList``.
``cert.public_key()`` raises for an SM2 certificate; `public_key` works for all.

OpenSSL 3.0 checks SM2 signatures with an empty distinguishing ID unless told otherwise:
``openssl verify -vfyopt distid:1234567812345678`` checks our SM2 certificates.
Key, certificate and PKCS#12 files are `client.pkifiles`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal, get_args

from asn1crypto import algos as asn1_algos, core as asn1_core, crl as asn1_crl, keys as asn1_keys, x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from client.sm2keys import SM2PrivateKey
from evidence import sm2
from evidence.sm2 import SM2PublicKey

KeyType = Literal["rsa2048", "rsa3072", "p256", "p384", "secp256k1", "sm2"]
KEY_TYPES: tuple[KeyType, ...] = get_args(KeyType)
# The keys cryptography holds, and with SM2 every key this module makes, signs with and loads.
CryptographyPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | SM2PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | SM2PublicKey
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

# The signatureAlgorithm an RSA or ECDSA issuer's certificate or CRL carries, by hash, as
# cryptography's builders write it (RSA with NULL parameters, ECDSA with none).
_ECDSA_SIGNATURE_OIDS = {
    "sha224": "1.2.840.10045.4.3.1", "sha256": "1.2.840.10045.4.3.2",
    "sha384": "1.2.840.10045.4.3.3", "sha512": "1.2.840.10045.4.3.4",
    "sha3-224": "2.16.840.1.101.3.4.3.9", "sha3-256": "2.16.840.1.101.3.4.3.10",
    "sha3-384": "2.16.840.1.101.3.4.3.11", "sha3-512": "2.16.840.1.101.3.4.3.12",
}
_RSA_SIGNATURE_OIDS = {
    "sha224": "1.2.840.113549.1.1.14", "sha256": "1.2.840.113549.1.1.11",
    "sha384": "1.2.840.113549.1.1.12", "sha512": "1.2.840.113549.1.1.13",
    "sha3-224": "2.16.840.1.101.3.4.3.13", "sha3-256": "2.16.840.1.101.3.4.3.14",
    "sha3-384": "2.16.840.1.101.3.4.3.15", "sha3-512": "2.16.840.1.101.3.4.3.16",
}
# Serial numbers are positive and at most 20 octets (RFC 5280 4.1.2.2): under 2^159.
_SERIAL_LIMIT = 2**159
# X.509 times before 2050 are UTCTime, later ones GeneralizedTime (RFC 5280 4.1.2.5).
_UTC_TIME_BEFORE_YEAR = 2050


def generate_key(kind: KeyType) -> PrivateKey:
    """A fresh private key of one of the kinds the ledger accepts for signers."""
    if kind in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=_RSA_BITS[kind])
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind])
    if kind == "sm2":
        return SM2PrivateKey.generate()
    raise ValueError(f"unknown key type {kind!r}; expected one of {', '.join(KEY_TYPES)}")


def public_key(cert: x509.Certificate) -> PublicKey:
    """The certificate's public key: RSA, EC or SM2 (``cert.public_key()`` raises
    UnsupportedAlgorithm for SM2, whose curve cryptography does not have)."""
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm as exc:
        try:
            return SM2PublicKey.from_certificate(cert)
        except sm2.SM2Error as sm2_exc:
            raise ValueError(f"unsupported public key in {cert.subject.rfc4514_string()}: {exc} "
                             f"({sm2_exc.reason})") from exc
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise ValueError(f"unsupported public key type {type(key).__name__} in "
                         f"{cert.subject.rfc4514_string()} (RSA, EC or SM2 only)")
    return key


def spki_der(key: PublicKey) -> bytes:
    """The key's SubjectPublicKeyInfo DER (an SM2 point uncompressed): two keys are the
    same key when these are equal."""
    if isinstance(key, SM2PublicKey):
        return key.spki_der()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def subject_key_identifier(key: PublicKey) -> x509.SubjectKeyIdentifier:
    """RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's value (for
    SM2 the uncompressed point, as OpenSSL's ``subjectKeyIdentifier = hash`` computes it)."""
    if isinstance(key, SM2PublicKey):
        return x509.SubjectKeyIdentifier(hashlib.sha1(key.encoded).digest())
    return x509.SubjectKeyIdentifier.from_public_key(key)


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


def _sign(builder: x509.CertificateBuilder, key: CryptographyPrivateKey, hash_algorithm: SigningHash) -> x509.Certificate:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, hash_algorithm, ecdsa_deterministic=True)
    return builder.sign(key, hash_algorithm)


def _unique(extensions: Sequence[tuple[x509.ExtensionType, bool]]) -> list[tuple[x509.ExtensionType, bool]]:
    # Later entries replace earlier ones of the same OID, so callers can override a
    # default extension (tests use this to plant malformed or unusual ones).
    by_oid: dict[x509.ObjectIdentifier, tuple[x509.ExtensionType, bool]] = {}
    for value, critical in extensions:
        by_oid[value.oid] = (value, critical)
    return list(by_oid.values())


def _build(
    builder: x509.CertificateBuilder,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.CertificateBuilder:
    for value, critical in _unique(extensions):
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
    hash_algorithm: SigningHash | None = None,
) -> x509.Certificate:
    """A self-signed CA certificate: basicConstraints cA, keyUsage keyCertSign+cRLSign, SKI.

    ``hash_algorithm`` defaults to SHA-256; an SM2 key always signs SM3withSM2."""
    subject = _name(name, organization)
    return _certificate(
        subject=subject,
        issuer=subject,
        subject_public=key.public_key(),
        issuer_key=key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (_key_usage(CA_KEY_USAGE), True),
            (subject_key_identifier(key.public_key()), False),
        ],
        hash_algorithm=hash_algorithm,
    )


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
    hash_algorithm: SigningHash | None = None,
) -> x509.Certificate:
    """A certificate for ``subject_key_public`` signed by the issuer, with SKI and AKI.

    ``key_usage`` defaults to keyCertSign+cRLSign for a CA and digitalSignature+
    contentCommitment for a signer; an empty set omits the extension. An entry of
    ``extra_extensions`` replaces a default extension with the same OID. Any issuer may
    certify any subject key (an RSA CA an SM2 key, an SM2 CA a P-256 key);
    ``hash_algorithm`` defaults to SHA-256, and an SM2 issuer always signs SM3withSM2.
    """
    if path_length is not None and not is_ca:
        raise ValueError("path_length only applies to a CA certificate")
    usage = (CA_KEY_USAGE if is_ca else SIGNER_KEY_USAGE) if key_usage is None else key_usage
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=is_ca, path_length=path_length), True),
    ]
    if usage:
        extensions.append((_key_usage(usage), True))
    extensions.append((subject_key_identifier(subject_key_public), False))
    extensions.append((_authority_key_identifier(issuer_cert, issuer_key), False))
    extensions.extend(extra_extensions)
    return _certificate(
        subject=_name(common_name, organization),
        issuer=issuer_cert.subject,
        subject_public=subject_key_public,
        issuer_key=issuer_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
        hash_algorithm=hash_algorithm,
    )


def _authority_key_identifier(issuer_cert: x509.Certificate, issuer_key: PrivateKey) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier(subject_key_identifier(issuer_key.public_key()).digest, None, None)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    subject_public: PublicKey,
    issuer_key: PrivateKey,
    serial: int | None,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
    hash_algorithm: SigningHash | None,
) -> x509.Certificate:
    serial_number = x509.random_serial_number() if serial is None else serial
    # cryptography's builder takes no SM2 key on either side. The asn1crypto path makes
    # the DER this builder makes (test_devpki_sm2 checks it byte for byte), so which path
    # runs changes nothing but who can sign.
    if isinstance(issuer_key, SM2PrivateKey) or isinstance(subject_public, SM2PublicKey):
        return _asn1_certificate(subject, issuer, subject_public, issuer_key, serial_number, not_before, not_after,
                                 extensions, hash_algorithm)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(subject_public)
        .serial_number(serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    return _sign(_build(builder, extensions), issuer_key, _hash(issuer_key, hash_algorithm))


def make_crl(
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    serials: Iterable[int],
    *,
    this_update: datetime,
    next_update: datetime,
    number: int = 1,
    hash_algorithm: SigningHash | None = None,
) -> x509.CertificateRevocationList:
    """A CRL revoking ``serials`` as of ``this_update``, with AKI and CRL number (signed
    SM3withSM2 by an SM2 issuer, else with ``hash_algorithm``, default SHA-256)."""
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (_authority_key_identifier(issuer_cert, issuer_key), False),
        (x509.CRLNumber(number), False),
    ]
    if isinstance(issuer_key, SM2PrivateKey):
        return _asn1_crl(issuer_cert.subject, issuer_key, list(serials), this_update, next_update, extensions, None)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
    )
    for value, critical in extensions:
        builder = builder.add_extension(value, critical)
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this_update).build()
        )
    chosen = _hash(issuer_key, hash_algorithm)
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        return builder.sign(issuer_key, chosen, ecdsa_deterministic=True)
    return builder.sign(issuer_key, chosen)


# -- certificates and CRLs built with asn1crypto (an SM2 issuer or subject) ------------------


def _asn1_certificate(
    subject: x509.Name,
    issuer: x509.Name,
    subject_public: PublicKey,
    issuer_key: PrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
    hash_algorithm: SigningHash | None,
) -> x509.Certificate:
    """The certificate cryptography's CertificateBuilder would make (same field order and
    encodings), for keys it cannot take, signed by ``issuer_key`` whatever its kind."""
    _check_serial(serial)
    algorithm = _signature_algorithm(issuer_key, hash_algorithm)
    fields: dict[str, object] = {
        "version": "v3",
        "serial_number": serial,
        "signature": algorithm,
        "issuer": asn1_x509.Name.load(issuer.public_bytes()),
        "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
        "subject": asn1_x509.Name.load(subject.public_bytes()),
        "subject_public_key_info": asn1_keys.PublicKeyInfo.load(spki_der(subject_public)),
    }
    if extensions:  # absent rather than empty, as cryptography writes it
        fields["extensions"] = [_extension(value, critical) for value, critical in _unique(extensions)]
    tbs = asn1_x509.TbsCertificate(fields)
    signature = _sign_bytes(issuer_key, hash_algorithm, tbs.dump())
    der = asn1_x509.Certificate({
        "tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature,
    }).dump()
    return x509.load_der_x509_certificate(der)


def _asn1_crl(
    issuer: x509.Name,
    issuer_key: PrivateKey,
    serials: Sequence[int],
    this_update: datetime,
    next_update: datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
    hash_algorithm: SigningHash | None,
) -> x509.CertificateRevocationList:
    """The CRL cryptography's CertificateRevocationListBuilder would make, signed by
    ``issuer_key`` whatever its kind."""
    for serial in serials:
        _check_serial(serial)
    algorithm = _signature_algorithm(issuer_key, hash_algorithm)
    fields: dict[str, object] = {
        "version": "v2",
        "signature": algorithm,
        "issuer": asn1_x509.Name.load(issuer.public_bytes()),
        "this_update": _time(this_update),
        "next_update": _time(next_update),
    }
    if serials:  # absent rather than empty when nothing is revoked (RFC 5280 5.1.2.6)
        fields["revoked_certificates"] = [
            {"user_certificate": serial, "revocation_date": _time(this_update)} for serial in serials
        ]
    fields["crl_extensions"] = [_extension(value, critical, asn1_crl.TBSCertListExtension)
                                for value, critical in _unique(extensions)]
    tbs = asn1_crl.TbsCertList(fields)
    signature = _sign_bytes(issuer_key, hash_algorithm, tbs.dump())
    der = asn1_crl.CertificateList({
        "tbs_cert_list": tbs, "signature_algorithm": algorithm, "signature": signature,
    }).dump()
    return x509.load_der_x509_crl(der)


def _check_serial(serial: int) -> None:
    # What cryptography's builders enforce: RFC 5280 4.1.2.2's positive, at most 20 octets.
    if not 0 < serial < _SERIAL_LIMIT:
        raise ValueError("serial number must be positive and at most 159 bits")


def _time(moment: datetime) -> asn1_x509.Time:
    # cryptography reads a naive datetime as UTC and drops fractions of a second.
    moment = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).replace(microsecond=0)
    if moment.year < _UTC_TIME_BEFORE_YEAR:
        return asn1_x509.Time(name="utc_time", value=moment)
    return asn1_x509.Time(name="general_time", value=moment)


def _extension(value: x509.ExtensionType, critical: bool,
               kind: type[asn1_core.Sequence] = asn1_x509.Extension) -> asn1_core.Sequence:
    # cryptography encodes the extension's value; asn1crypto only frames it (as a
    # certificate's Extension or a CRL's TBSCertListExtension).
    extension = kind({"extn_id": value.oid.dotted_string, "critical": critical})
    extension["extn_value"] = asn1_core.ParsableOctetString(value.public_bytes())
    return extension


def _hash(key: PrivateKey, hash_algorithm: SigningHash | None) -> SigningHash:
    if isinstance(key, SM2PrivateKey):
        raise AssertionError("SM2 signs with SM3")  # callers route SM2 to the asn1crypto path
    return hashes.SHA256() if hash_algorithm is None else hash_algorithm


def _signature_algorithm(key: PrivateKey, hash_algorithm: SigningHash | None) -> asn1_algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier of what `_sign_bytes` makes with this key and hash."""
    if isinstance(key, SM2PrivateKey):
        if hash_algorithm is not None:
            raise ValueError(f"an SM2 key signs with SM3 (SM3withSM2), not {hash_algorithm.name}")
        # No parameters, as OpenSSL and GmSSL write it.
        return asn1_algos.SignedDigestAlgorithm({"algorithm": sm2.SM3_WITH_SM2_OID})
    chosen = _hash(key, hash_algorithm)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return asn1_algos.SignedDigestAlgorithm({"algorithm": _ECDSA_SIGNATURE_OIDS[chosen.name]})
    return asn1_algos.SignedDigestAlgorithm({"algorithm": _RSA_SIGNATURE_OIDS[chosen.name],
                                             "parameters": asn1_core.Null()})


def _sign_bytes(key: PrivateKey, hash_algorithm: SigningHash | None, data: bytes) -> bytes:
    """SM3withSM2 (default distinguishing ID), deterministic ECDSA or RSA PKCS#1 v1.5 over ``data``."""
    if isinstance(key, SM2PrivateKey):
        return key.sign(data)
    chosen = _hash(key, hash_algorithm)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(chosen, deterministic_signing=True))
    return key.sign(data, padding.PKCS1v15(), chosen)


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """Sign a 32-byte ledger digest as ``evidence.x509.verify_digest_signature`` checks it.

    ECDSA: DER signature over the SHA-256 digest, RFC 6979 nonce; RSA: PKCS#1 v1.5 over
    the digest's DigestInfo; SM2: DER SM2 signature over SM3(Z || the 32 digest bytes),
    default distinguishing ID (`SM2PrivateKey.sign_digest`).
    """
    if len(digest) != DIGEST_LENGTH:
        raise ValueError(f"digest must be {DIGEST_LENGTH} bytes (SHA-256), got {len(digest)}")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    if isinstance(key, SM2PrivateKey):
        return key.sign_digest(digest)
    raise TypeError(f"unsupported key type {type(key).__name__}")


def chain_der(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenated DER certificates, leaf first: the chain argument of the precompile."""
    return b"".join(cert.public_bytes(serialization.Encoding.DER) for cert in certs)


def chain_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """A PEM bundle of the certificates, in the order given."""
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)
