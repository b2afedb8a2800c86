"""SM2 public keys (GB/T 32918) and SM3withSM2 signature checks, for consensus and offline verifiers.

The curve arithmetic is GmSSL's, through the ``gmssl-pyx`` wheel (GmSSL statically
linked, no system library), pinned in pyproject.toml because the PKI precompile's verdict
depends on it. This module frames it so the verdict does not follow the library's
leniency:

* a public key is the uncompressed point ``04 || x || y`` (65 bytes) or a compressed one
  (``02``/``03 || x``, 33 bytes) of the recommended curve ``sm2p256v1``
  (``1.2.156.10197.1.301``), checked to lie on the curve before it is used;
* a signature is the DER ``SEQUENCE { r INTEGER, s INTEGER }`` of GM/T 0009, read here
  strictly (minimal lengths and integers, nothing after it) and with ``1 <= r, s < n``
  before GmSSL sees it;
* a signature is over ``e = SM3(Z || M)`` where ``Z`` binds the signer's distinguishing
  identifier and public key (GB/T 32918.2 §5.5); the identifier is ``1234567812345678``
  unless a caller names another (GM/T 0009 §10, what OpenSSL and GmSSL use by default).

`SM2PublicKey.z` computes ``Z`` with SM3 from ``cryptography`` (OpenSSL) rather than
GmSSL, so the published vectors test the two implementations against each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import gmssl_pyx
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from evidence import der as der_reader
from evidence.errors import EvidenceError

# Object identifiers (GM/T 0006).
CURVE_OID: Final = "1.2.156.10197.1.301"        # sm2p256v1, as an id-ecPublicKey namedCurve
SM3_WITH_SM2_OID: Final = "1.2.156.10197.1.501"  # SM2 signature with SM3
SM3_OID: Final = "1.2.156.10197.1.401"
EC_PUBLIC_KEY_OID: Final = "1.2.840.10045.2.1"
DEFAULT_ID: Final = b"1234567812345678"
# Z's ENTL is a 16-bit count of the identifier's bits.
MAX_ID_BYTES: Final = 8191

# The recommended curve (GB/T 32918.5): y^2 = x^3 + ax + b over F_p, base point G of order n.
P: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B: Final = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX: Final = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY: Final = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
COORDINATE_BYTES: Final = 32
# A DER signature of two 32-byte integers, each with a possible sign octet: 2 + 2 * 35.
MAX_SIGNATURE_BYTES: Final = 72

# asn1crypto names curves it knows; sm2p256v1 is registered once so an SM2
# SubjectPublicKeyInfo or ECPrivateKey parses with its name instead of a bare OID.
if CURVE_OID not in asn1_keys.NamedCurve._map:
    asn1_keys.NamedCurve.register("sm2p256v1", CURVE_OID, COORDINATE_BYTES)


class SM2Error(EvidenceError):
    """An SM2 key or signature that is malformed (not merely a wrong signature)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _on_curve(x: int, y: int) -> bool:
    return x < P and y < P and (y * y - (x * x * x + A * x + B)) % P == 0


@dataclass(frozen=True)
class SM2PublicKey:
    """A point of sm2p256v1 (never the point at infinity, which has no encoding here)."""

    x: int
    y: int

    def __post_init__(self) -> None:
        if not _on_curve(self.x, self.y):
            raise SM2Error("SM2 public key is not a point of the curve sm2p256v1")

    @classmethod
    def from_encoded(cls, encoded: bytes) -> SM2PublicKey:
        """The key of an SEC 1 point encoding: ``04||x||y`` or compressed ``02/03||x``."""
        encoded = bytes(encoded)
        if len(encoded) == 1 + 2 * COORDINATE_BYTES and encoded[0] == 4:
            return cls(int.from_bytes(encoded[1:33], "big"), int.from_bytes(encoded[33:], "big"))
        if len(encoded) == 1 + COORDINATE_BYTES and encoded[0] in (2, 3):
            x = int.from_bytes(encoded[1:], "big")
            if x >= P:
                raise SM2Error("SM2 public key is not a point of the curve sm2p256v1")
            y = pow((x * x * x + A * x + B) % P, (P + 1) // 4, P)  # P ≡ 3 (mod 4)
            if y % 2 != encoded[0] - 2:
                y = P - y
            return cls(x, y)
        raise SM2Error(f"SM2 public key must be a 65-byte uncompressed or 33-byte compressed point, "
                       f"got {len(encoded)} bytes")

    @classmethod
    def from_spki(cls, spki_der: bytes) -> SM2PublicKey:
        """The key of a SubjectPublicKeyInfo: id-ecPublicKey with namedCurve sm2p256v1."""
        try:
            info = asn1_keys.PublicKeyInfo.load(bytes(spki_der), strict=True)
            algorithm = info["algorithm"]["algorithm"].dotted
            parameters = info["algorithm"]["parameters"]
            curve = None
            if algorithm == EC_PUBLIC_KEY_OID and isinstance(parameters, asn1_keys.ECDomainParameters):
                curve = parameters.chosen.dotted if parameters.name == "named" else None
            bits = bytes(info["public_key"].contents)
        except (ValueError, TypeError, KeyError) as exc:
            raise SM2Error("SubjectPublicKeyInfo is malformed") from exc
        # A point is whole octets: any unused bits would give one key two encodings (and
        # two SubjectPublicKeyInfo hashes, which revocation keys are made of).
        if not bits or bits[0] != 0:
            raise SM2Error("SM2 public key BIT STRING must have no unused bits")
        point = bits[1:]
        if curve != CURVE_OID:
            raise SM2Error("not an SM2 public key (id-ecPublicKey with namedCurve sm2p256v1)")
        return cls.from_encoded(point)

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> SM2PublicKey:
        """The SM2 key of a certificate (``cryptography`` parses SM2 certificates but cannot
        build their keys); SM2Error when its key is not SM2."""
        try:
            spki = der_reader.tbs_field(certificate.tbs_certificate_bytes, der_reader.TBS_SUBJECT_PUBLIC_KEY_INFO)
        except der_reader.DERError as exc:
            raise SM2Error(f"certificate is malformed: {exc.reason}") from None
        return cls.from_spki(spki)

    @property
    def point(self) -> bytes:
        """``x || y``, 64 bytes: what GmSSL takes."""
        return self.x.to_bytes(COORDINATE_BYTES, "big") + self.y.to_bytes(COORDINATE_BYTES, "big")

    @property
    def encoded(self) -> bytes:
        """The uncompressed SEC 1 point, ``04 || x || y``."""
        return b"\x04" + self.point

    def spki_der(self) -> bytes:
        """The SubjectPublicKeyInfo (id-ecPublicKey, namedCurve sm2p256v1, uncompressed point)."""
        return asn1_keys.PublicKeyInfo({
            "algorithm": {"algorithm": EC_PUBLIC_KEY_OID,
                          "parameters": asn1_keys.ECDomainParameters(name="named", value="sm2p256v1")},
            "public_key": self.encoded,
        }).dump()

    def z(self, distinguishing_id: bytes = DEFAULT_ID) -> bytes:
        """``Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`` (GB/T 32918.2 §5.5)."""
        check_distinguishing_id(distinguishing_id)
        parts = [(len(distinguishing_id) * 8).to_bytes(2, "big"), distinguishing_id]
        parts += [value.to_bytes(COORDINATE_BYTES, "big") for value in (A, B, GX, GY, self.x, self.y)]
        return sm3(b"".join(parts))

    def verify(self, message: bytes, signature: bytes, distinguishing_id: bytes = DEFAULT_ID) -> bool:
        """Whether ``signature`` (DER) is this key's SM2 signature over ``message`` with
        the signer's ``distinguishing_id``. A malformed signature raises SM2Error."""
        check_distinguishing_id(distinguishing_id)
        signature_scalars(signature)
        try:
            return bool(gmssl_pyx.sm2_verify(self.point, bytes(message), bytes(signature), distinguishing_id))
        except gmssl_pyx.GmsslInnerError as exc:  # framed above, so not expected: still a refusal
            raise SM2Error("SM2 signature could not be checked") from exc


def check_distinguishing_id(distinguishing_id: bytes) -> None:
    if not 0 < len(distinguishing_id) <= MAX_ID_BYTES:
        raise SM2Error(f"SM2 distinguishing identifier must be 1 to {MAX_ID_BYTES} bytes")


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905) of ``data``, by OpenSSL through ``cryptography``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(bytes(data))
    return digest.finalize()


def signature_scalars(signature: bytes) -> tuple[int, int]:
    """(r, s) of a strict-DER SM2 signature, each in 1..n-1; SM2Error otherwise."""
    signature = bytes(signature)
    if not 0 < len(signature) <= MAX_SIGNATURE_BYTES:
        raise SM2Error(f"SM2 signature must be 1 to {MAX_SIGNATURE_BYTES} bytes of DER, got {len(signature)}")
    try:
        tag, start, end = der_reader.read_element(signature, 0)
        if tag != der_reader.TAG_SEQUENCE or end != len(signature):
            raise SM2Error("SM2 signature is not one DER SEQUENCE { r, s }")
        fields = der_reader.children(signature, start, end)
    except der_reader.DERError as exc:
        raise SM2Error(f"SM2 signature is not DER: {exc.reason}") from None
    if len(fields) != 2 or any(field[0] != der_reader.TAG_INTEGER for field in fields):
        raise SM2Error("SM2 signature is not a DER SEQUENCE of two INTEGERs")
    scalars = []
    for _, field_start, field_end in fields:
        _, content, _ = der_reader.read_element(signature, field_start, field_end)
        body = signature[content:field_end]
        # Minimal two's complement: no leading 00 unless the next octet's top bit is set.
        if not body or (len(body) > 1 and body[0] == 0 and body[1] < 0x80) or body[0] >= 0x80:
            raise SM2Error("SM2 signature integers are not minimally encoded positive DER INTEGERs")
        value = int.from_bytes(body, "big")
        if not 0 < value < N:
            raise SM2Error("SM2 signature value r or s is outside 1..n-1")
        scalars.append(value)
    return scalars[0], scalars[1]


def encode_signature(r: int, s: int) -> bytes:
    """The DER ``SEQUENCE { r, s }`` of two scalars in 1..n-1."""
    if not (0 < r < N and 0 < s < N):
        raise SM2Error("SM2 signature value r or s is outside 1..n-1")

    def integer(value: int) -> bytes:
        body = value.to_bytes((value.bit_length() + 8) // 8, "big")
        return bytes([der_reader.TAG_INTEGER, len(body)]) + body

    content = integer(r) + integer(s)
    return bytes([der_reader.TAG_SEQUENCE, len(content)]) + content
