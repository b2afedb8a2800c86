"""Strict DER reading for certificates and CRLs: element framing, and the few fields the
X.509 rules (evidence/x509.py) read from the bytes before a library parses them.

Pure and library-free on purpose: the precompile's verdict, and its reason, must not
follow what a parsing library accepts, warns about or says (a zero serial, an even RSA
exponent, a CRL too long to walk). Only DER is accepted: definite, minimal lengths, no
high-tag-number form. A framing failure raises `DERError`; the readers of one field
return None when a structure is not framed as expected, leaving the verdict to the
library's full parse.
"""
from __future__ import annotations

from evidence.errors import EvidenceError

TAG_SEQUENCE = 0x30
TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_CONTEXT_0 = 0xA0     # [0] EXPLICIT: a TBSCertificate's version
TIME_TAGS = (0x17, 0x18)  # UTCTime, GeneralizedTime
TAG_OBJECT_IDENTIFIER = 0x06
# AlgorithmIdentifier.algorithm of an RSA SubjectPublicKeyInfo, as DER (1.2.840.113549.1.1.1).
RSA_ENCRYPTION_OID_DER = bytes.fromhex("06092a864886f70d010101")
# id-ecPublicKey (1.2.840.10045.2.1) and the namedCurve sm2p256v1 (1.2.156.10197.1.301), as DER.
EC_PUBLIC_KEY_OID_DER = bytes.fromhex("06072a8648ce3d0201")
SM2_CURVE_OID_DER = bytes.fromhex("06082a811ccf5501822d")
# Four length octets already describe 4 GiB, far beyond every cap of the callers.
MAX_LENGTH_OCTETS = 4
# TBSCertificate fields, counted after the optional [0] version (RFC 5280 §4.1).
TBS_SERIAL = 0
TBS_SIGNATURE_ALGORITHM = 1
TBS_SUBJECT_PUBLIC_KEY_INFO = 5

Element = tuple[int, int, int]
"""(tag, start, end) of one element: where it starts and ends, or its contents do."""


class DERError(EvidenceError):
    """Bytes that are not strict DER where DER is required; `reason` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_element(data: bytes, offset: int, limit: int | None = None) -> Element:
    """(tag, content start, element end) of the DER element at ``offset``; refuses BER forms.

    The element must end by ``limit`` (default: the end of ``data``).
    """
    limit = len(data) if limit is None else limit
    if offset + 2 > limit:
        raise DERError("truncated DER: no room for a tag and length")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERError("DER high-tag-number form is not used in certificates")
    first = data[offset + 1]
    if first < 0x80:
        start, length = offset + 2, first
    elif first == 0x80:
        raise DERError("indefinite length is BER, not DER")
    else:
        count = first & 0x7F
        if count > MAX_LENGTH_OCTETS:
            raise DERError(f"DER length field longer than {MAX_LENGTH_OCTETS} octets")
        start = offset + 2 + count
        if start > limit:
            raise DERError("truncated DER: length field cut short")
        length = int.from_bytes(data[offset + 2 : start], "big")
        if length < 0x80 or data[offset + 2] == 0:
            raise DERError("DER length is not minimally encoded")
    end = start + length
    if end > limit:
        raise DERError(f"truncated DER: element needs {length} bytes, {limit - start} remain")
    return tag, start, end


def children(data: bytes, start: int, end: int) -> list[Element]:
    """The elements (tag, element start, element end) inside data[start:end]."""
    out = []
    offset = start
    while offset < end:
        tag, _, element_end = read_element(data, offset, end)
        out.append((tag, offset, element_end))
        offset = element_end
    return out


def tbs_field(tbs: bytes, position: int) -> bytes:
    """The DER of a TBSCertificate field (`tbs`: the whole TBSCertificate), counted after
    the optional [0] version: TBS_SERIAL, TBS_SIGNATURE_ALGORITHM, 2 issuer, 3 validity,
    4 subject, TBS_SUBJECT_PUBLIC_KEY_INFO."""
    _, start, end = read_element(tbs, 0)
    fields = children(tbs, start, end)
    first = 1 if fields and fields[0][0] == TAG_CONTEXT_0 else 0
    if len(fields) < first + position + 1:
        raise DERError("TBSCertificate has too few fields")
    _, field_start, field_end = fields[first + position]
    return tbs[field_start:field_end]


def outer_signature_algorithm(der: bytes) -> bytes:
    """The DER of a certificate's signatureAlgorithm outside the signed part."""
    _, start, end = read_element(der, 0)
    fields = children(der, start, end)
    if len(fields) != 3:
        raise DERError("Certificate is not SEQUENCE {tbsCertificate, signatureAlgorithm, signature}")
    _, alg_start, alg_end = fields[1]
    return der[alg_start:alg_end]


def integer(data: bytes, start: int, end: int) -> int | None:
    """The signed value of the INTEGER element data[start:end]; None if it is empty."""
    _, content_start, _ = read_element(data, start, end)
    if content_start == end:
        return None
    return int.from_bytes(data[content_start:end], "big", signed=True)


def rsa_numbers(spki: bytes) -> tuple[int, int] | None:
    """(n, e) of an rsaEncryption SubjectPublicKeyInfo read from its DER, or None when the
    key is of another type or not framed as expected (the library then judges it).

    Read before cryptography builds the key: it refuses an even or small e as "malformed"
    and, above 3072-bit moduli, an e over 64 bits only when verifying, so our own reading
    keeps the verdict and its reason independent of the library.
    """
    try:
        _, start, end = read_element(spki, 0)
        fields = children(spki, start, end)
        if len(fields) != 2 or fields[0][0] != TAG_SEQUENCE or fields[1][0] != TAG_BIT_STRING:
            return None
        _, algorithm_start, algorithm_end = read_element(spki, fields[0][1], fields[0][2])
        if not spki[algorithm_start:algorithm_end].startswith(RSA_ENCRYPTION_OID_DER):
            return None
        _, bits_start, bits_end = read_element(spki, fields[1][1], fields[1][2])
        if bits_start == bits_end or spki[bits_start] != 0:  # no unused bits in a DER key
            return None
        _, key_start, key_end = read_element(spki, bits_start + 1, bits_end)
        numbers = children(spki, key_start, key_end)
        if len(numbers) != 2 or any(tag != TAG_INTEGER for tag, _, _ in numbers):
            return None
        modulus = integer(spki, numbers[0][1], numbers[0][2])
        exponent = integer(spki, numbers[1][1], numbers[1][2])
    except DERError:
        return None
    if modulus is None or exponent is None:
        return None
    return modulus, exponent


def ec_named_curve(spki: bytes) -> bytes | None:
    """The DER of the namedCurve OID of an id-ecPublicKey SubjectPublicKeyInfo, or None when
    the key is of another type, has no named curve, or is not framed as expected.

    Read before any library sees the key: ``cryptography`` refuses sm2p256v1 (an SM2 key
    is read by ``evidence.sm2``), so which reader a key goes to is decided from its bytes.
    """
    try:
        _, start, end = read_element(spki, 0)
        fields = children(spki, start, end)
        if len(fields) != 2 or fields[0][0] != TAG_SEQUENCE:
            return None
        _, algorithm_start, algorithm_end = read_element(spki, fields[0][1], fields[0][2])
        parts = children(spki, algorithm_start, algorithm_end)
        if len(parts) != 2 or spki[parts[0][1]:parts[0][2]] != EC_PUBLIC_KEY_OID_DER:
            return None
        if parts[1][0] != TAG_OBJECT_IDENTIFIER:
            return None  # explicit parameters or implicitlyCA: no curve by name
        return spki[parts[1][1]:parts[1][2]]
    except DERError:
        return None


def signed_body_fields(der: bytes) -> list[Element] | None:
    """The fields (tag, start, end) of a signed structure's body (TBSCertificate or
    TBSCertList), or None when the outer framing is not as expected."""
    try:
        _, start, end = read_element(der, 0)
        outer = children(der, start, end)
        if not outer or outer[0][0] != TAG_SEQUENCE:
            return None
        _, body_start, body_end = outer[0]
        _, content_start, _ = read_element(der, body_start, body_end)
        return children(der, content_start, body_end)
    except DERError:
        return None


def certificate_serial(der: bytes) -> int | None:
    """The certificate's serial read from its DER, or None if the structure is not as expected.

    Read before cryptography parses the certificate: cryptography 50 parses a zero or
    negative serial with a deprecation warning and has announced it will raise instead,
    so our own check keeps the verdict and its reason the same across library versions.
    """
    fields = signed_body_fields(der)
    if fields is None:
        return None
    first = 1 if fields and fields[0][0] == TAG_CONTEXT_0 else 0
    if len(fields) <= first + TBS_SERIAL or fields[first + TBS_SERIAL][0] != TAG_INTEGER:
        return None
    return integer(der, fields[first + TBS_SERIAL][1], fields[first + TBS_SERIAL][2])


def revoked_serials(crl_der: bytes, stop_after: int) -> list[int] | None:
    """The serials of a CRL's revokedCertificates read from its DER, or None if unexpected;
    the walk stops once it holds more than `stop_after` (the caller's cap: the count is
    refused either way).

    TBSCertList: version INTEGER OPTIONAL, signature, issuer, thisUpdate, nextUpdate
    OPTIONAL, revokedCertificates SEQUENCE OF SEQUENCE {serial, date, ...} OPTIONAL,
    [0] crlExtensions OPTIONAL. Walked before the library parses the entries, so the
    entry cap holds before any per-entry work and serials are judged by our rules.
    """
    fields = signed_body_fields(crl_der)
    if fields is None:
        return None
    try:
        position = 1 if fields and fields[0][0] == TAG_INTEGER else 0
        position += 3  # signature, issuer, thisUpdate
        if position < len(fields) and fields[position][0] in TIME_TAGS:
            position += 1  # nextUpdate
        if position >= len(fields) or fields[position][0] != TAG_SEQUENCE:
            return []
        _, list_start, list_end = fields[position]
        _, entries_start, _ = read_element(crl_der, list_start, list_end)
        serials = []
        for _, entry_start, entry_end in children(crl_der, entries_start, list_end):
            _, entry_content, _ = read_element(crl_der, entry_start, entry_end)
            entry_fields = children(crl_der, entry_content, entry_end)
            if not entry_fields or entry_fields[0][0] != TAG_INTEGER:
                return None
            serial = integer(crl_der, entry_fields[0][1], entry_fields[0][2])
            if serial is None:
                return None
            serials.append(serial)
            if len(serials) > stop_after:
                break
    except DERError:
        return None
    return serials
