"""Deterministic X.509 chain, digest-signature and CRL checks for the PKI precompile.

This is consensus code: every validator runs it inside an EVM precompile and must reach
the same verdict on the same bytes. So it is a pure function of its arguments — the
validation time arrives as a unix timestamp, trust in a root is the caller's decision
(from ``root_fingerprint``), and nothing reads the clock, the network, the OS trust
store or a random source. ``cryptography`` parses and checks RSA and ECDSA signatures;
``evidence.sm2`` (GmSSL, pinned) checks SM2 ones, which ``cryptography`` cannot; the path
rules are written out here rather than taken from ``cryptography.x509.verification``,
whose Web PKI policy refuses secp256k1 signers and may change between releases.

Rules (RFC 5280 §6 cut down to what a document-signing consortium needs):

* every certificate: strict DER, v3, serial in 1..2^160-1, valid at ``at`` (both ends
  inclusive), signed with SHA-256/384/512 (RSA PKCS#1 v1.5 or ECDSA) or SM3withSM2, no
  critical extension outside the ones listed in ``PROCESSED_EXTENSIONS``;
* issuers (and a CRL issuer): basicConstraints cA=TRUE, pathLenConstraint respected,
  keyUsage (when present) allows keyCertSign (cRLSign for a CRL issuer), RSA ≥ 2048,
  EC P-256/P-384 or SM2;
* a signer: not a CA, keyUsage present with digitalSignature or contentCommitment,
  RSA ≥ 2048, EC P-256/P-384/secp256k1 or SM2;
* an SM2 key is id-ecPublicKey with namedCurve sm2p256v1, told apart from the bytes and
  read by ``evidence.sm2`` (on the curve, or refused); an SM3withSM2 signature
  (certificate, CRL) is checked over the TBSCertificate / TBSCertList with the issuer's
  SM2 key and GM/T 0009's default distinguishing identifier ``1234567812345678`` — no
  other identifier is tried — and its DER is framed strictly before GmSSL sees it;
* a signature algorithm must fit the key that checks it (RSA with RSA, ECDSA with EC,
  SM3withSM2 with SM2): a mismatch is refused naming both, before any check;
* the crypto profile (``CryptoProfile``, the chain's, from genesis): ``mixed`` takes every
  algorithm above side by side; ``gm`` (national algorithms only) takes only SM2 keys
  and SM3withSM2 signatures, in certificates and CRLs;
* every RSA key (CA or signer): modulus 2048-8192 bits, public exponent odd, ≥ 3 and
  below 2^32 — checked from the DER before the key is handed to the library, and before
  any signature is checked, since verification time grows with the exponent's length;
* names chain (exact comparison of the parsed names) and each certificate is signed by
  the next one's key; the last is self-issued and self-signed.

``chain_verifying_keys`` and ``verifying_key`` name the key of every signature check
those functions will make (RSA modulus and exponent sizes, the EC curve, or SM2) without
checking any signature, so the precompile can price the work before doing it.

Every failure raises ``CertificateError`` whose ``reason`` is our own wording — never a
library error message, though it may quote a name as cryptography renders it in RFC 4514
— so the wording, like the verdict, does not follow the library's messages.

The DER read from the bytes before the library parses them (framing, serials, RSA
numbers, an EC key's named curve, CRL entries) is ``evidence/der.py``. The rest stays in this one module although
it is longer than 600 lines: the profile and its four verifications (chain, digest
signature, root, CRL) share one parsed certificate, one error and the caps, and the
precompile and the offline verifiers address them as one set of rules (``x509.…``).
"""
from __future__ import annotations

import calendar
import enum
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from cryptography import x509
from cryptography.exceptions import InternalError, InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from evidence import der as der_reader, sm2
from evidence.errors import EvidenceError

# Leaf + up to 3 intermediates + root. Signing PKIs in use (national qualified CAs,
# industry CAs) are 3-4 deep; each certificate costs every validator one signature
# check for the precompile's fixed gas, so the depth is what bounds the work.
MAX_CHAIN_LENGTH = 5
# Real certificates are 1-2 KiB; 8 KiB leaves room for long policy and SAN extensions
# while bounding what the parser is handed.
MAX_CERTIFICATE_BYTES = 8192
# A whole chain as one transaction argument; below 5 × MAX_CERTIFICATE_BYTES on purpose,
# since a chain of five maximal certificates is never legitimate.
MAX_CHAIN_BYTES = 24 * 1024
# A CRL is posted on chain and each listed serial becomes a storage write: these two
# keep one CRL submission within one transaction's gas. Larger CAs post partitioned CRLs.
MAX_CRL_BYTES = 64 * 1024
MAX_CRL_ENTRIES = 1000
# RSA verification cost grows with the modulus (about quadratically) and the precompile
# prices it; 8192 bits covers every CA and signer key in use.
MAX_RSA_BITS = 8192
# RSA verification is one modular exponentiation by the public exponent e, so its cost
# grows linearly with e's length: a 3,066-bit e on an RSA-3072 key costs 80-150x an
# e = 65537 check (bench/pki_gas.py). RFC 8017 puts no bound on e; FIPS 186-4 and the
# CA/Browser Forum ask for 2^16 < e < 2^256 in keys they generate. We accept odd
# 3 <= e < 2^32: every CA key in use has e = 65537 (a few old ones 3 or 17), Windows
# CryptoAPI cannot even hold a larger e (its RSAPUBKEY.pubexp is 32 bits), and OpenSSL
# itself refuses e over 64 bits for moduli above 3072 bits — a limit we would otherwise
# meet as a confusing "signature does not match". The precompile still prices by e's
# length, so 2^32 bounds the worst case at ~2-2.5x an e = 65537 check.
MIN_RSA_PUBLIC_EXPONENT = 3
MAX_RSA_PUBLIC_EXPONENT_BITS = 32
# An RSA-8192 signature is 1024 bytes; an ECDSA P-384 DER signature at most 104.
MAX_SIGNATURE_BYTES = MAX_RSA_BITS // 8
# RFC 5280 §4.1.2.2: serials are at most 20 octets. We allow 160 bits of magnitude, which
# tolerates CAs whose 20 random octets needed a 21st sign octet, and fits a uint256 slot.
MAX_SERIAL_BITS = 160
MIN_RSA_BITS = 2048
DIGEST_LENGTH = 32  # SHA-256 or SM3: the ledger signs 32-byte digests only

# Extensions whose meaning we act on (or which, being informational, are safe to accept
# when marked critical). Anything else marked critical refuses the certificate
# (RFC 5280 §4.2: an application must reject a critical extension it does not process).
PROCESSED_EXTENSIONS = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CERTIFICATE_POLICIES,
    }
)
# CRL extensions we understand. An indirect CRL (issuingDistributionPoint indirectCRL)
# is refused separately, since its entries may belong to another issuer.
PROCESSED_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
    }
)

SM3_WITH_SM2 = x509.ObjectIdentifier(sm2.SM3_WITH_SM2_OID)
# Each allowed signature algorithm by the key type that checks it: a certificate or CRL
# whose algorithm does not fit its issuer's key is refused before any check.
_RSA_SIGNATURE_ALGORITHMS = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
}
_ECDSA_SIGNATURE_ALGORITHMS = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
}
_SM2_SIGNATURE_ALGORITHMS = {SM3_WITH_SM2: "SM3withSM2"}
_ALLOWED_SIGNATURE_ALGORITHMS = {
    **_RSA_SIGNATURE_ALGORITHMS, **_ECDSA_SIGNATURE_ALGORITHMS, **_SM2_SIGNATURE_ALGORITHMS,
}
_ALLOWED_SIGNATURES_TEXT = "SHA-256/384/512 with RSA or ECDSA, or SM3withSM2, only"
# Names for refusals people meet in practice, so the message says "sha1WithRSAEncryption"
# rather than a dotted OID.
_REFUSED_SIGNATURE_ALGORITHMS = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "md5WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ecdsa-with-SHA1",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "sha224WithRSAEncryption",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "ecdsa-with-SHA224",
    SignatureAlgorithmOID.RSASSA_PSS: "RSASSA-PSS",
    SignatureAlgorithmOID.ED25519: "Ed25519",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "dsa-with-SHA256",
}
_CA_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}
_SIGNER_CURVES = {**_CA_CURVES, "secp256k1": "secp256k1"}
# What an SM2 refusal says about the identifier: OpenSSL 3 signs SM2 with an empty one
# unless told otherwise, the commonest reason a real certificate fails here. Only the
# default is ever tried (a second try would be unpaid work).
_SM2_ID_TEXT = (
    f"SM2 with the distinguishing identifier {sm2.DEFAULT_ID.decode()}; a {{what}} OpenSSL signed "
    f"without -sigopt distid:{sm2.DEFAULT_ID.decode()} uses an empty identifier"
)

# What cryptography raises on malformed input: parse errors are ValueError, but several
# of its exceptions derive from Exception directly. All become CertificateError.
_LIBRARY_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    OverflowError,
    UnsupportedAlgorithm,
    InvalidSignature,
    InternalError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    x509.AttributeNotFound,
)

# The public key algorithms a certificate may carry (RFC 3279 / 5480; an SM2 key is an
# id-ecPublicKey on the curve sm2p256v1, GM/T 0015).
_RSA_ENCRYPTION = x509.ObjectIdentifier("1.2.840.113549.1.1.1")
ALLOWED_KEY_ALGORITHMS = frozenset({
    _RSA_ENCRYPTION,
    x509.ObjectIdentifier(sm2.EC_PUBLIC_KEY_OID),  # id-ecPublicKey
})


class CryptoProfile(enum.Enum):
    """Which algorithms a chain's certificates and CRLs may use (fixed in genesis; the
    values are the names of ``chaincode.CRYPTO_PROFILES``)."""

    MIXED = "mixed"  # RSA, ECDSA and SM2 side by side
    GM = "gm"        # national algorithms only: SM2 keys, SM3withSM2 signatures


# The opening of every refusal the gm profile makes.
_GM_REFUSAL = "the chain's crypto profile is gm (national algorithms only)"


class CertificateError(EvidenceError):
    """A certificate, chain, signature or CRL was refused; ``reason`` says which rule.

    ``index`` is the certificate's position in the chain (0 = leaf) or None when the
    failure is not about one chain position; ``subject`` its RFC 4514 subject when known.
    """

    def __init__(self, reason: str, index: int | None = None, subject: str | None = None) -> None:
        self.reason = reason
        self.index = index
        self.subject = subject
        super().__init__(_sentence(reason, index, subject))


def _sentence(reason: str, index: int | None, subject: str | None) -> str:
    if index is None and subject is None:
        return reason
    where = "certificate" if index is None else f"certificate {index}"
    if subject is not None:
        where += f" ({subject})"
    return f"{where}: {reason}"


class Purpose(enum.Enum):
    """What the chain's first certificate is being accepted for."""

    SIGNER = "signer"  # an end entity that signs digests; never a CA, never its own root
    CRL_ISSUER = "CRL issuer"  # a CA whose CRLs are accepted; may be the root itself


@dataclass(frozen=True)
class Link:
    """The on-chain revocation key of one non-root certificate: who issued it, and its serial."""

    issuer_key_hash: bytes  # sha256 of the issuer's SubjectPublicKeyInfo DER
    serial: int


@dataclass(frozen=True)
class ChainInfo:
    """What the ledger records about a validated chain (trust of the root is the caller's)."""

    leaf_fingerprint: bytes
    leaf_key_hash: bytes
    root_fingerprint: bytes
    leaf_not_after: int
    leaf_subject: str
    links: tuple[Link, ...]  # leaf first, one per non-root certificate


@dataclass(frozen=True)
class RootInfo:
    """A certificate that passed the rules for becoming a trusted root."""

    fingerprint: bytes
    key_hash: bytes
    subject: str
    not_after: int


@dataclass(frozen=True)
class CRLInfo:
    """The revocations of one verified CRL, keyed like ``Link``."""

    issuer_key_hash: bytes
    serials: tuple[int, ...]  # sorted, unique
    this_update: int
    next_update: int | None


@dataclass(frozen=True)
class RSAVerifyingKey:
    """An RSA key a signature is checked with: what that check costs depends on."""

    modulus_bits: int
    exponent_bits: int


@dataclass(frozen=True)
class ECVerifyingKey:
    """An EC key a signature is checked with; ``curve`` is our name (P-256, P-384, secp256k1)."""

    curve: str


@dataclass(frozen=True)
class SM2VerifyingKey:
    """An SM2 key (curve sm2p256v1): every check with one costs the same."""


VerifyingKey = RSAVerifyingKey | ECVerifyingKey | SM2VerifyingKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | sm2.SM2PublicKey


# --- DER framing (the byte-level reading is evidence/der.py) -------------------------


def _check_single_element(der: bytes, what: str, index: int | None) -> None:
    """Refuse anything but exactly one DER SEQUENCE, before handing bytes to the parser."""
    try:
        tag, _, end = der_reader.read_element(der, 0)
    except der_reader.DERError as exc:
        raise CertificateError(f"not a DER {what}: {exc.reason}", index) from None
    if tag != der_reader.TAG_SEQUENCE:
        raise CertificateError(f"not a DER {what}: expected a SEQUENCE (0x30), found 0x{tag:02x}", index)
    if end != len(der):
        raise CertificateError(f"not a DER {what}: {len(der) - end} bytes of trailing data", index)


def split_certificates(blob: bytes) -> list[bytes]:
    """Cut concatenated DER certificates (leaf first, root last) into one bytes per certificate.

    Only the outer SEQUENCE framing is read here; the contents are parsed by
    ``validate_chain``. Empty input, BER indefinite lengths, trailing bytes and anything
    over the caps are refused.
    """
    if not blob:
        raise CertificateError("certificate chain is empty")
    if len(blob) > MAX_CHAIN_BYTES:
        raise CertificateError(f"certificate chain is {len(blob)} bytes, more than the {MAX_CHAIN_BYTES} allowed")
    out: list[bytes] = []
    offset = 0
    while offset < len(blob):
        index = len(out)
        if index == MAX_CHAIN_LENGTH:
            raise CertificateError(f"chain has more than {MAX_CHAIN_LENGTH} certificates")
        try:
            tag, _, end = der_reader.read_element(blob, offset)
        except der_reader.DERError as exc:
            raise CertificateError(_framing_reason(index, exc.reason), index) from None
        if tag != der_reader.TAG_SEQUENCE:
            reason = f"expected a SEQUENCE (0x30), found 0x{tag:02x}"
            raise CertificateError(_framing_reason(index, reason), index)
        if end - offset > MAX_CERTIFICATE_BYTES:
            raise CertificateError(
                f"certificate is {end - offset} bytes, more than the {MAX_CERTIFICATE_BYTES} allowed", index
            )
        out.append(bytes(blob[offset:end]))
        offset = end
    return out


def _framing_reason(index: int, reason: str) -> str:
    if index == 0:
        return f"not a DER certificate: {reason}"
    return f"trailing bytes after certificate {index - 1} are not a DER certificate: {reason}"


def fingerprint(der: bytes) -> bytes:
    """SHA-256 of a certificate's DER: its identity on chain."""
    return hashlib.sha256(der).digest()


def spki_hash(cert: x509.Certificate) -> bytes:
    """SHA-256 of the SubjectPublicKeyInfo DER exactly as the certificate carries it.

    The bytes are cut from the TBSCertificate rather than re-encoded from the parsed key,
    so the hash does not depend on how a library re-serialises keys (compressed EC
    points, RSA NULL parameters).
    """
    return hashlib.sha256(_spki_der(cert)).digest()


@contextmanager
def _framing(index: int | None = None) -> Iterator[None]:
    """A DER framing failure where no step adds words of its own: the same reason, as a
    CertificateError."""
    try:
        yield
    except der_reader.DERError as exc:
        raise CertificateError(exc.reason, index) from None


def _spki_der(cert: x509.Certificate) -> bytes:
    with _framing():
        return der_reader.tbs_field(cert.tbs_certificate_bytes, der_reader.TBS_SUBJECT_PUBLIC_KEY_INFO)


def _tbs_signature_algorithm(cert: x509.Certificate) -> bytes:
    with _framing():
        return der_reader.tbs_field(cert.tbs_certificate_bytes, der_reader.TBS_SIGNATURE_ALGORITHM)


def _outer_signature_algorithm(der: bytes) -> bytes:
    with _framing():
        return der_reader.outer_signature_algorithm(der)


def _exponent_text(exponent: int) -> str:
    # A hostile exponent may have thousands of digits; past 64 bits its length says enough.
    return str(exponent) if exponent.bit_length() <= 64 else f"of {exponent.bit_length()} bits"


def check_rsa_exponent(exponent: int) -> None:
    """Refuse an RSA public exponent outside odd 3..2^MAX_RSA_PUBLIC_EXPONENT_BITS-1."""
    if exponent < MIN_RSA_PUBLIC_EXPONENT:
        raise CertificateError(
            f"RSA public exponent {_exponent_text(exponent)} is below the minimum of {MIN_RSA_PUBLIC_EXPONENT}"
        )
    if exponent % 2 == 0:
        raise CertificateError(f"RSA public exponent {_exponent_text(exponent)} is even")
    if exponent.bit_length() > MAX_RSA_PUBLIC_EXPONENT_BITS:
        raise CertificateError(
            f"RSA public exponent {_exponent_text(exponent)} is too large "
            f"(at most {MAX_RSA_PUBLIC_EXPONENT_BITS} bits; 65537 is usual)"
        )


# --- one parsed certificate --------------------------------------------------------


def _utc_timestamp(moment: datetime) -> int:
    return calendar.timegm(moment.utctimetuple())


def _format_time(timestamp: int) -> str:
    # Formatted by hand: strftime's %Y does not zero-pad years below 1000 on every libc.
    moment = datetime(1970, 1, 1) + timedelta(seconds=timestamp)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


@contextmanager
def _library_errors(reason: str, index: int | None, subject: str | None = None) -> Iterator[None]:
    """Turn whatever cryptography raises on malformed input into a CertificateError."""
    try:
        yield
    except CertificateError:
        raise
    except _LIBRARY_ERRORS as exc:
        raise CertificateError(reason, index, subject) from exc


def _signature_algorithm_name(oid: x509.ObjectIdentifier) -> str:
    return _ALLOWED_SIGNATURE_ALGORITHMS.get(oid) or _REFUSED_SIGNATURE_ALGORITHMS.get(oid, oid.dotted_string)


def _signature_algorithm_refusal(oid: x509.ObjectIdentifier, profile: CryptoProfile) -> str | None:
    """Why a certificate or CRL signed with ``oid`` is refused under ``profile``, or None."""
    name = _signature_algorithm_name(oid)
    if profile is CryptoProfile.GM and oid not in _SM2_SIGNATURE_ALGORITHMS:
        article = "an" if name[:1].lower() in "aeiou" else "a"
        return f"{_GM_REFUSAL}: {article} {name} signature is not allowed"
    if oid not in _ALLOWED_SIGNATURE_ALGORITHMS:
        return f"signature algorithm {name} is not allowed ({_ALLOWED_SIGNATURES_TEXT})"
    return None


def _key_name(key: PublicKey) -> str:
    if isinstance(key, sm2.SM2PublicKey):
        return "SM2"
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    return f"EC {_SIGNER_CURVES.get(key.curve.name, key.curve.name)}"


def _algorithm_key_mismatch(oid: x509.ObjectIdentifier, key: PublicKey, whose: str) -> str | None:
    """Why a signature algorithm cannot be checked with ``key`` (naming both), or None.
    Decided before any check: the price was set by the key, and an SM2 key can only
    check SM3withSM2, an RSA key only RSA, an EC key only ECDSA."""
    if isinstance(key, sm2.SM2PublicKey):
        fits = oid in _SM2_SIGNATURE_ALGORITHMS
    elif isinstance(key, rsa.RSAPublicKey):
        fits = oid in _RSA_SIGNATURE_ALGORITHMS
    else:
        fits = oid in _ECDSA_SIGNATURE_ALGORITHMS
    if fits:
        return None
    return f"signature algorithm {_signature_algorithm_name(oid)} cannot be checked with {whose} {_key_name(key)} key"


def _sm2_signature_refusal(key: sm2.SM2PublicKey, body: bytes, signature: bytes, failure: str,
                           what: str) -> str | None:
    """Why an SM3withSM2 ``signature`` over ``body`` (a TBSCertificate or TBSCertList) does
    not verify with ``key`` and the default identifier, or None when it does. The DER is
    framed by ``evidence.sm2`` before GmSSL sees it; nothing else decides."""
    try:
        verified = key.verify(bytes(body), bytes(signature), sm2.DEFAULT_ID)
    except sm2.SM2Error as exc:
        return f"{failure}: {exc.reason}"
    if verified:
        return None
    return f"{failure} ({_SM2_ID_TEXT.format(what=what)})"


class _Parsed:
    """A certificate parsed once, with its position, the chain's crypto profile and the
    fields the rules read."""

    def __init__(self, der: bytes, index: int | None, profile: CryptoProfile = CryptoProfile.MIXED) -> None:
        self.der = der
        self.index = index
        self.profile = profile
        self._key: PublicKey | None = None
        self.subject_text: str | None = None
        if len(der) > MAX_CERTIFICATE_BYTES:
            self.fail(f"certificate is {len(der)} bytes, more than the {MAX_CERTIFICATE_BYTES} allowed")
        _check_single_element(der, "certificate", index)
        with _framing():
            serial = der_reader.certificate_serial(der)
        if serial is not None and serial <= 0:
            self.fail("serial number must be positive")
        if serial is not None and serial.bit_length() > MAX_SERIAL_BITS:
            self.fail("serial number is longer than 20 octets")
        with _library_errors("not a DER X.509 certificate", index):
            self.cert = x509.load_der_x509_certificate(der)
        with _library_errors("subject name is malformed", index):
            self.subject = self.cert.subject
            self.subject_text = self.subject.rfc4514_string()
        with _library_errors("issuer name is malformed", index, self.subject_text):
            self.issuer = self.cert.issuer
        with _library_errors("validity dates are malformed", index, self.subject_text):
            self.not_before = _utc_timestamp(self.cert.not_valid_before_utc)
            self.not_after = _utc_timestamp(self.cert.not_valid_after_utc)
        self.basic_constraints: x509.BasicConstraints | None = None
        self.key_usage: x509.KeyUsage | None = None
        self.extensions: list[x509.Extension[x509.ExtensionType]] = []
        with _library_errors("an extension is malformed", index, self.subject_text):
            for extension in self.cert.extensions:
                self.extensions.append(extension)
                if isinstance(extension.value, x509.BasicConstraints):
                    self.basic_constraints = extension.value
                elif isinstance(extension.value, x509.KeyUsage):
                    self.key_usage = extension.value

    def fail(self, reason: str) -> NoReturn:
        raise CertificateError(reason, self.index, self.subject_text)

    def fail_from(self, reason: str, cause: BaseException) -> NoReturn:
        raise CertificateError(reason, self.index, self.subject_text) from cause

    def guard(self, reason: str) -> AbstractContextManager[None]:
        return _library_errors(reason, self.index, self.subject_text)

    @property
    def fingerprint(self) -> bytes:
        return fingerprint(self.der)

    def key_hash(self) -> bytes:
        with self.guard("SubjectPublicKeyInfo is malformed"):
            return spki_hash(self.cert)

    # 1. Rules for every certificate.
    def check_common(self, at: int) -> None:
        with self.guard("version is malformed"):
            version = self.cert.version
        if version is not x509.Version.v3:
            self.fail(f"version must be v3, not {version.name}")
        with self.guard("serial number is malformed"):
            serial = self.cert.serial_number
        if serial <= 0:
            self.fail("serial number must be positive")
        if serial.bit_length() > MAX_SERIAL_BITS:
            self.fail("serial number is longer than 20 octets")
        if at < self.not_before:
            self.fail(f"not valid until {_format_time(self.not_before)}")
        if at > self.not_after:
            self.fail(f"expired at {_format_time(self.not_after)}")
        self.check_signature_algorithm()
        for extension in self.extensions:
            if extension.critical and extension.oid not in PROCESSED_EXTENSIONS:
                self.fail(f"unsupported critical extension {extension.oid.dotted_string}")

    def check_signature_algorithm(self) -> None:
        with self.guard("signature algorithm is malformed"):
            oid = self.cert.signature_algorithm_oid
            # RFC 5280 §4.1.1.2: the unsigned outer algorithm must repeat the signed one.
            if _tbs_signature_algorithm(self.cert) != _outer_signature_algorithm(self.der):
                self.fail("signature algorithm outside the signed part differs from the one inside")
        refusal = _signature_algorithm_refusal(oid, self.profile)
        if refusal is not None:
            self.fail(refusal)

    def public_key(self) -> PublicKey:
        # Read once per parsed certificate: the rules ask for the key several times (its
        # role, each signature it makes, the price), and an SM2 point is decoded in Python.
        # A refusal is not kept: it raises again, the same way, if asked again.
        if self._key is None:
            self._key = self._read_public_key()
        return self._key

    def _read_public_key(self) -> PublicKey:
        # The key's algorithm, from the certificate and before the library builds a key:
        # only rsaEncryption and id-ecPublicKey. Whether the library would also load, say,
        # an RSASSA-PSS key as an RSA key depends on its version — consensus code must
        # not (a refusal's place decides the gas used).
        with self.guard("SubjectPublicKeyInfo is malformed"):
            algorithm = self.cert.public_key_algorithm_oid
            spki = _spki_der(self.cert)
            numbers = der_reader.rsa_numbers(spki)
        if algorithm not in ALLOWED_KEY_ALGORITHMS:
            self.fail(f"public key algorithm {algorithm.dotted_string} is not allowed "
                      "(rsaEncryption or id-ecPublicKey only)")
        # An SM2 key is told apart by its namedCurve in the bytes: cryptography cannot
        # build it, evidence.sm2 reads it (and refuses a point off the curve).
        if der_reader.ec_named_curve(spki) == der_reader.SM2_CURVE_OID_DER:
            try:
                return sm2.SM2PublicKey.from_spki(spki)
            except sm2.SM2Error as exc:
                self.fail(f"SM2 public key is malformed: {exc.reason}")
        if self.profile is CryptoProfile.GM:
            kind = "an RSA key" if algorithm == _RSA_ENCRYPTION else "an ECDSA key"
            self.fail(f"{_GM_REFUSAL}: {kind} is not allowed")
        if numbers is not None:
            try:
                check_rsa_exponent(numbers[1])
            except CertificateError as exc:
                self.fail(exc.reason)
        with self.guard("public key is malformed or of an unsupported type"):
            key = self.cert.public_key()
        if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            self.fail(f"public key algorithm {algorithm.dotted_string} is not allowed (RSA or EC only)")
        if isinstance(key, rsa.RSAPublicKey):
            try:  # the same rule on the key the library built (a DER our reader did not frame)
                check_rsa_exponent(key.public_numbers().e)
            except CertificateError as exc:
                self.fail(exc.reason)
        return key

    def check_key(self, curves: dict[str, str], role: str) -> PublicKey:
        key = self.public_key()
        if isinstance(key, sm2.SM2PublicKey):
            return key  # one curve, for CAs and signers alike
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < MIN_RSA_BITS:
                self.fail(f"RSA key of {key.key_size} bits is too short for a {role} (minimum {MIN_RSA_BITS})")
            if key.key_size > MAX_RSA_BITS:
                self.fail(f"RSA key of {key.key_size} bits is too long (maximum {MAX_RSA_BITS})")
        elif key.curve.name not in curves:
            allowed = ", ".join(curves.values())
            self.fail(f"EC curve {key.curve.name} is not allowed for a {role} ({allowed} only)")
        return key

    def verifying_key(self, curves: dict[str, str], role: str) -> VerifyingKey:
        """The key, after the rules for a ``role`` key, as what checking with it costs."""
        key = self.check_key(curves, role)
        if isinstance(key, sm2.SM2PublicKey):
            return SM2VerifyingKey()
        if isinstance(key, rsa.RSAPublicKey):
            numbers = key.public_numbers()
            return RSAVerifyingKey(modulus_bits=numbers.n.bit_length(), exponent_bits=numbers.e.bit_length())
        return ECVerifyingKey(curve=curves[key.curve.name])

    # 2. Rules for a CA: an issuer in the chain, a root, or a CRL issuer.
    def check_ca(self, cas_below: int, usage: str) -> None:
        constraints = self.basic_constraints
        if constraints is None:
            self.fail("not a CA: basicConstraints is missing")
        if not constraints.ca:
            self.fail("not a CA: basicConstraints cA is false")
        if constraints.path_length is not None and cas_below > constraints.path_length:
            self.fail(
                f"pathLenConstraint {constraints.path_length} exceeded: "
                f"{cas_below} intermediate CA certificates below it"
            )
        if self.key_usage is not None:
            if usage == "keyCertSign" and not self.key_usage.key_cert_sign:
                self.fail("keyUsage does not allow keyCertSign")
            if usage == "cRLSign" and not self.key_usage.crl_sign:
                self.fail("keyUsage does not allow cRLSign")
        self.check_key(_CA_CURVES, "CA")

    # 3. Rules for the end entity that signs digests.
    def check_signer(self) -> None:
        constraints = self.basic_constraints
        if constraints is not None and constraints.ca:
            self.fail("a CA certificate cannot be a signer")
        if self.key_usage is None:
            self.fail("keyUsage is missing (a signer needs digitalSignature or contentCommitment)")
        if not (self.key_usage.digital_signature or self.key_usage.content_commitment):
            self.fail("keyUsage does not allow signing (needs digitalSignature or contentCommitment)")
        self.check_key(_SIGNER_CURVES, "signer")

    def check_issued_by(self, issuer: _Parsed) -> None:
        if self.issuer != issuer.subject:
            self.fail(f"issuer name ({self.issuer.rfc4514_string()}) is not the subject of the next certificate")
        self.check_signed_by(issuer, "signature is not made by the next certificate's key", "the next certificate's")

    def check_self_signed(self) -> None:
        if self.issuer != self.subject:
            self.fail("root is not self-issued (issuer differs from subject)")
        self.check_signed_by(self, "root is not self-signed", "its own")

    def check_signed_by(self, issuer: _Parsed, failure: str, whose: str) -> None:
        """This certificate's signature, checked with ``issuer``'s key (already held to
        the CA key rules); ``failure`` is the rule's words, ``whose`` names the key."""
        key = issuer.public_key()
        with self.guard("signature algorithm is malformed"):
            oid = self.cert.signature_algorithm_oid
        mismatch = _algorithm_key_mismatch(oid, key, whose)
        if mismatch is not None:
            self.fail(f"{failure}: {mismatch}")
        if isinstance(key, sm2.SM2PublicKey):
            with self.guard("signature is malformed"):
                body, signature = self.cert.tbs_certificate_bytes, self.cert.signature
            refusal = _sm2_signature_refusal(key, body, signature, failure, "certificate")
            if refusal is not None:
                self.fail(refusal)
            return
        try:
            self.cert.verify_directly_issued_by(issuer.cert)
        except _LIBRARY_ERRORS as exc:
            self.fail_from(failure, exc)


def validate_chain(
    ders: Sequence[bytes], at: int, purpose: Purpose = Purpose.SIGNER, *, profile: CryptoProfile = CryptoProfile.MIXED
) -> ChainInfo:
    """Check a chain (index 0 the leaf, last a self-signed root) at unix time ``at``.

    Steps, in order, the first failure raised: 1. shape and caps; 2. each certificate
    parsed and its own rules (version, serial, validity, algorithms and the ``profile``'s,
    critical extensions); 3. its role — signer or CRL issuer at 0, CA above — and its
    key (type, size, the ``profile``'s); 4. names and signatures link each certificate to
    the next; 5. the root is self-issued and self-signed. Whether the root is trusted is
    for the caller, from ``root_fingerprint``.
    """
    # 1. Shape: a signer is never its own root; a CRL issuer may be.
    _check_chain_shape(ders, purpose)
    # The per-step guards name the failing certificate; this one only guarantees that
    # nothing but CertificateError leaves consensus code, whatever the bytes.
    with _library_errors("malformed certificate chain", None):
        return _validate_chain([bytes(der) for der in ders], at, purpose, profile)


def _validate_chain(ders: list[bytes], at: int, purpose: Purpose, profile: CryptoProfile) -> ChainInfo:
    # 2. Parse and check each certificate on its own.
    chain = [_Parsed(der, index, profile) for index, der in enumerate(ders)]
    seen: dict[bytes, int] = {}
    for parsed in chain:
        assert parsed.index is not None
        earlier = seen.setdefault(parsed.fingerprint, parsed.index)
        if earlier != parsed.index:
            parsed.fail(f"repeats certificate {earlier}")
        parsed.check_common(at)

    # 3. Roles. Below the CA at index i sit i-1 CA certificates that are not the leaf;
    # those are what pathLenConstraint counts (RFC 5280 §4.2.1.9).
    leaf = chain[0]
    if purpose is Purpose.SIGNER:
        leaf.check_signer()
    else:
        leaf.check_ca(0, "cRLSign")
    for index in range(1, len(chain)):
        chain[index].check_ca(index - 1, "keyCertSign")

    # 4. Each certificate is issued by the next one.
    for index in range(len(chain) - 1):
        chain[index].check_issued_by(chain[index + 1])

    # 5. The last certificate is a root.
    root = chain[-1]
    root.check_self_signed()

    links = tuple(
        Link(issuer_key_hash=chain[index + 1].key_hash(), serial=chain[index].cert.serial_number)
        for index in range(len(chain) - 1)
    )
    assert leaf.subject_text is not None
    return ChainInfo(
        leaf_fingerprint=leaf.fingerprint,
        leaf_key_hash=leaf.key_hash(),
        root_fingerprint=root.fingerprint,
        leaf_not_after=leaf.not_after,
        leaf_subject=leaf.subject_text,
        links=links,
    )


def _check_chain_shape(ders: Sequence[bytes], purpose: Purpose) -> None:
    minimum = 2 if purpose is Purpose.SIGNER else 1
    if not minimum <= len(ders) <= MAX_CHAIN_LENGTH:
        raise CertificateError(
            f"chain has {len(ders)} certificates; a {purpose.value} chain needs {minimum} to {MAX_CHAIN_LENGTH}"
        )
    total = sum(len(der) for der in ders)
    if total > MAX_CHAIN_BYTES:
        raise CertificateError(f"certificate chain is {total} bytes, more than the {MAX_CHAIN_BYTES} allowed")


def chain_verifying_keys(
    ders: Sequence[bytes], purpose: Purpose = Purpose.SIGNER, *, profile: CryptoProfile = CryptoProfile.MIXED
) -> tuple[VerifyingKey, ...]:
    """The key of each signature check ``validate_chain`` makes on ``ders``, in its order.

    Certificate i is checked with certificate i+1's key and the root with its own, so a
    chain of n certificates costs n checks. Only parses and applies the CA key rules
    (type, size, RSA exponent, the ``profile``'s): no signature is checked, no date or
    role rule applied. What the precompile prices a chain by, before it does the work.
    """
    _check_chain_shape(ders, purpose)
    with _library_errors("malformed certificate chain", None):
        # Every certificate but the leaf is an issuer; a one-certificate chain is its own.
        issuers = [_Parsed(bytes(der), index, profile) for index, der in enumerate(ders)
                   if index > 0 or len(ders) == 1]
        keys = tuple(issuer.verifying_key(_CA_CURVES, "CA") for issuer in issuers)
        # Certificate i is checked with key i+1; the root, last, with its own key again.
        return keys + keys[-1:] if len(ders) > 1 else keys


def verifying_key(der: bytes, *, signer: bool, profile: CryptoProfile = CryptoProfile.MIXED) -> VerifyingKey:
    """The key of one certificate, under the key rules of a signer or of a CA (and the
    ``profile``'s), as what a signature check with it costs (``verify_digest_signature``
    with a leaf, ``parse_crl`` or ``inspect_root`` with a CA). No signature is checked."""
    with _library_errors("malformed certificate", 0 if signer else None):
        parsed = _Parsed(bytes(der), 0 if signer else None, profile)
        if signer:
            return parsed.verifying_key(_SIGNER_CURVES, "signer")
        return parsed.verifying_key(_CA_CURVES, "CA")


def verify_digest_signature(
    leaf_der: bytes, digest: bytes, signature: bytes, *, profile: CryptoProfile = CryptoProfile.MIXED
) -> None:
    """Check that ``signature`` over the 32-byte ``digest`` was made by the leaf's key.

    ECDSA signatures are DER ``Ecdsa-Sig-Value``; RSA ones PKCS#1 v1.5 over the digest
    (with its SHA-256 DigestInfo), both as ``client.devpki.sign_digest`` makes them; SM2
    ones DER ``SEQUENCE { r, s }`` over SM3(Z || the 32 digest bytes), Z with the default
    distinguishing identifier (``client.sm2keys.SM2PrivateKey.sign_digest``). The chain
    itself is checked by ``validate_chain``; this only re-applies the signer key rules.
    """
    # 1. Sizes: a 32-byte digest, the signature no longer than an RSA-8192 one.
    if len(digest) != DIGEST_LENGTH:
        raise CertificateError(f"digest must be {DIGEST_LENGTH} bytes (SHA-256 or SM3), got {len(digest)}")
    if not 0 < len(signature) <= MAX_SIGNATURE_BYTES:
        raise CertificateError(f"signature must be 1 to {MAX_SIGNATURE_BYTES} bytes, got {len(signature)}")
    with _library_errors("malformed signer certificate", 0):
        # 2. The certificate and its key type.
        leaf = _Parsed(bytes(leaf_der), 0, profile)
        key = leaf.check_key(_SIGNER_CURVES, "signer")
        # 3. The signature.
        if isinstance(key, sm2.SM2PublicKey):
            refusal = _sm2_digest_refusal(key, bytes(digest), bytes(signature))
            if refusal is not None:
                leaf.fail(refusal)
            return
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(bytes(signature), bytes(digest), ec.ECDSA(Prehashed(hashes.SHA256())))
            else:
                key.verify(bytes(signature), bytes(digest), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        except _LIBRARY_ERRORS as exc:
            # A malformed signature and a wrong one are the same verdict for the caller.
            leaf.fail_from("signature does not match the certificate's key", exc)


def _sm2_digest_refusal(key: sm2.SM2PublicKey, digest: bytes, signature: bytes) -> str | None:
    """Why an SM2 ``signature`` over the 32 ``digest`` bytes (the message of SM3(Z || M))
    does not verify with ``key`` and the default identifier, or None when it does."""
    failure = "signature does not match the certificate's key"
    try:
        verified = key.verify(digest, signature, sm2.DEFAULT_ID)
    except sm2.SM2Error as exc:
        return f"{failure}: {exc.reason}"
    if verified:
        return None
    return (f"{failure} (SM2 over SM3(Z || digest), Z with the distinguishing identifier "
            f"{sm2.DEFAULT_ID.decode()})")


def inspect_root(der: bytes, at: int, *, profile: CryptoProfile = CryptoProfile.MIXED) -> RootInfo:
    """Check a certificate proposed as a trusted root, valid at unix time ``at``.

    Steps: 1. parsed, with the rules for every certificate and the ``profile``'s; 2. a
    CA (basicConstraints cA, keyCertSign if keyUsage is present, an allowed CA key);
    3. self-issued and self-signed.
    """
    with _library_errors("malformed root certificate", None):
        # 1. Parsed and checked on its own.
        root = _Parsed(bytes(der), None, profile)
        root.check_common(at)
        # 2. A CA; pathLenConstraint has nothing below it to count.
        root.check_ca(0, "keyCertSign")
        # 3. Its own issuer.
        root.check_self_signed()
        assert root.subject_text is not None
        return RootInfo(
            fingerprint=root.fingerprint,
            key_hash=root.key_hash(),
            subject=root.subject_text,
            not_after=root.not_after,
        )


def parse_crl(
    crl_der: bytes, issuer_der: bytes, at: int, *, profile: CryptoProfile = CryptoProfile.MIXED
) -> CRLInfo:
    """Verify a DER CRL against its issuer's certificate and return its revoked serials.

    The issuer's own chain is checked separately (``validate_chain`` with
    ``Purpose.CRL_ISSUER``). Steps: 1. size caps and framing; 2. the issuer certificate:
    its own rules at ``at`` and the ``profile``'s, a CA allowed to sign CRLs; 3. the CRL
    parsed, entries counted and serials checked from the DER, then parsed with an
    algorithm allowed (by the rules and the ``profile``); 4. issued by that certificate
    (name, then an algorithm that fits its key, then the signature); 5. issued no later
    than ``at``; 6. extensions understood, not an indirect CRL; 7. entries within the
    cap, serials positive, collected.
    """
    # 1. Caps and framing, before anything is parsed.
    if len(crl_der) > MAX_CRL_BYTES:
        raise CertificateError(f"CRL is {len(crl_der)} bytes, more than the {MAX_CRL_BYTES} allowed")
    crl_der = bytes(crl_der)
    _check_single_element(crl_der, "CRL", None)
    with _library_errors("malformed CRL", None):
        # 2. The issuer certificate.
        issuer = _Parsed(bytes(issuer_der), None, profile)
        issuer.check_common(at)
        issuer.check_ca(0, "cRLSign")
        issuer_key = issuer.public_key()
        return _parse_crl(crl_der, issuer, issuer_key, at)


def _crl_error(reason: str) -> CertificateError:
    return CertificateError(f"CRL refused: {reason}")


def _parse_crl(crl_der: bytes, issuer: _Parsed, issuer_key: PublicKey, at: int) -> CRLInfo:
    # 3. Entries counted and serials judged from the DER, then the CRL parsed.
    der_serials = der_reader.revoked_serials(crl_der, stop_after=MAX_CRL_ENTRIES)
    if der_serials is not None:
        if len(der_serials) > MAX_CRL_ENTRIES:
            raise _crl_error(f"lists more than the {MAX_CRL_ENTRIES} revoked certificates allowed")
        if any(serial <= 0 for serial in der_serials):
            # RFC 5280 §5.2 forbids them, and cryptography has announced it will refuse them.
            raise _crl_error("a revoked serial number is not positive")
    try:
        crl = x509.load_der_x509_crl(crl_der)
        oid = crl.signature_algorithm_oid
    except _LIBRARY_ERRORS as exc:
        raise _crl_error("not a DER X.509 CRL") from exc
    refusal = _signature_algorithm_refusal(oid, issuer.profile)
    if refusal is not None:
        raise _crl_error(refusal)

    # 4. Issued by this certificate: the name, an algorithm its key checks, the signature.
    try:
        crl_issuer = crl.issuer
    except _LIBRARY_ERRORS as exc:
        raise _crl_error("issuer name is malformed") from exc
    if crl_issuer != issuer.subject:
        raise _crl_error(
            f"its issuer ({crl_issuer.rfc4514_string()}) is not the certificate's subject ({issuer.subject_text})"
        )
    failure = "signature is not made by the issuer's key"
    mismatch = _algorithm_key_mismatch(oid, issuer_key, "the issuer's")
    if mismatch is not None:
        raise _crl_error(f"{failure}: {mismatch}")
    if isinstance(issuer_key, sm2.SM2PublicKey):
        try:
            body, signature = crl.tbs_certlist_bytes, crl.signature
        except _LIBRARY_ERRORS as exc:
            raise _crl_error("signature is malformed") from exc
        sm2_refusal = _sm2_signature_refusal(issuer_key, body, signature, failure, "CRL")
        if sm2_refusal is not None:
            raise _crl_error(sm2_refusal)
    else:
        try:
            signed = crl.is_signature_valid(issuer_key)
        except _LIBRARY_ERRORS as exc:
            raise _crl_error("signature cannot be checked with the issuer's key") from exc
        if not signed:
            raise _crl_error(failure)

    # 5. Dates: thisUpdate no later than the validation time. A CRL past its nextUpdate
    # still lists revocations that happened, so it is accepted.
    try:
        this_update = _utc_timestamp(crl.last_update_utc)
        next_moment = crl.next_update_utc
        next_update = None if next_moment is None else _utc_timestamp(next_moment)
    except _LIBRARY_ERRORS as exc:
        raise _crl_error("update dates are malformed") from exc
    if this_update > at:
        raise _crl_error(f"issued in the future (thisUpdate {_format_time(this_update)})")
    if next_update is not None and next_update < this_update:
        raise _crl_error("nextUpdate is before thisUpdate")

    # 6. Extensions. An indirect CRL lists certificates of other issuers, which our
    # (issuer key, serial) revocation key would attribute to this one.
    try:
        extensions = list(crl.extensions)
    except _LIBRARY_ERRORS as exc:
        raise _crl_error("an extension is malformed") from exc
    for extension in extensions:
        if extension.critical and extension.oid not in PROCESSED_CRL_EXTENSIONS:
            raise _crl_error(f"unsupported critical extension {extension.oid.dotted_string}")
        if isinstance(extension.value, x509.IssuingDistributionPoint) and extension.value.indirect_crl:
            raise _crl_error("indirect CRLs are not supported")

    # 7. Entries.
    try:
        count = len(crl)
    except _LIBRARY_ERRORS as exc:
        raise _crl_error("revoked certificate list is malformed") from exc
    if count > MAX_CRL_ENTRIES:
        raise _crl_error(f"lists more than the {MAX_CRL_ENTRIES} revoked certificates allowed")
    serials: set[int] = set()
    try:
        for entry in crl:
            for extension in entry.extensions:
                # certificateIssuer, the one standard critical entry extension, would
                # move the entry to another issuer.
                if extension.critical:
                    raise _crl_error(f"unsupported critical entry extension {extension.oid.dotted_string}")
            serial = entry.serial_number
            if serial <= 0:
                raise _crl_error("a revoked serial number is not positive")
            # Over-long serials are refused in certificates, so can never match a link;
            # ignoring them keeps a sloppy CA's CRL usable for the rest.
            if serial.bit_length() <= MAX_SERIAL_BITS:
                serials.add(serial)
    except CertificateError:
        raise
    except _LIBRARY_ERRORS as exc:
        raise _crl_error("a revoked certificate entry is malformed") from exc
    return CRLInfo(
        issuer_key_hash=issuer.key_hash(),
        serials=tuple(sorted(serials)),
        this_update=this_update,
        next_update=next_update,
    )
