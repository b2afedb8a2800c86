"""Sealed envelopes: content encrypted with AES-256-GCM or SM4-GCM, its key wrapped for each recipient certificate.

The format is specified field by field in docs/envelopes.md; this module is the reference
implementation. In short:

    envelope = MAGIC "ELSEAL" | version (1 byte) | header length (uint32 BE) | header | ciphertext‖tag

The header is compact JSON naming the content cipher, its nonce and one entry per
recipient (SHA-256 fingerprint of the certificate DER, wrapped data key). Everything
before the ciphertext, followed by the caller's `aad`, is the GCM associated data, so
no header field can be changed or swapped without `open_envelope` failing.

Recipients' data keys are wrapped with ephemeral ECDH + HKDF-SHA256 + AES key wrap
(RFC 3394) for EC keys (P-256, P-384, secp256k1), RSA-OAEP (SHA-256, MGF1-SHA-256) for
RSA keys and SM2 public-key encryption (GB/T 32918.4, the DER C1C3C2 ciphertext of
GM/T 0009) for SM2 keys. The content is SM4-GCM (GB/T 32907 in GCM) when any recipient
holds an SM2 key or the caller asks for it, AES-256-GCM otherwise: the national
algorithms end to end for whoever has only national certificates. SM4 is OpenSSL's,
through ``cryptography``; SM2 is GmSSL's, through `client.sm2keys` (``cryptography``
refuses the curve). The envelope hides the content; it does not say who made it — sign
with `client.cms.sign` for that.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from client import sm2keys
from client.errors import ClientError
from client.sm2keys import SM2KeyError, SM2PrivateKey
from evidence import der as der_reader, sm2
from evidence.sm2 import SM2PublicKey

MAGIC = b"ELSEAL"
VERSION = 1
# magic, version, header length: the fixed prefix every envelope starts with.
_PREFIX = struct.Struct(">6sBI")
PREFIX_BYTES = _PREFIX.size

# Content ciphers (the header's `enc`) and the data key each takes. Both are GCM with a
# 96-bit nonce and a 128-bit tag; SM4 is a 128-bit block cipher with a 128-bit key.
AES_GCM = "A256GCM"
SM4_GCM = "SM4-GCM"
DATA_KEY_BYTES: dict[str, int] = {AES_GCM: 32, SM4_GCM: 16}

ECDH_WRAP = "ECDH-ES+HKDF-SHA256+A256KW"
RSA_WRAP = "RSA-OAEP-256"
SM2_WRAP = "SM2"
# The HKDF info starts with this label, then 0x00, the version byte, the recipient's
# certificate fingerprint and the ephemeral public key (see docs/envelopes.md).
HKDF_LABEL = b"evidence-ledger/seal/" + ECDH_WRAP.encode()

KEK_BYTES = 32               # A256KW: the EC entries' key-encryption key, whatever the data key
NONCE_BYTES = 12             # the 96-bit GCM nonce (random: one data key per envelope anyway)
TAG_BYTES = 16
FINGERPRINT_BYTES = 32       # SHA-256 of the certificate DER
KEY_WRAP_OVERHEAD = 8        # RFC 3394 adds one 64-bit block to the wrapped key
SM3_BYTES = 32               # C3 of an SM2 ciphertext
_TAG_OCTET_STRING = 0x04

# Caps. Streaming is not supported: content and envelope are held in memory, so the
# content cap keeps a whole envelope (content + a maximal header) under the node's
# 64 MiB blob cap. The header cap bounds what `open_envelope` parses from an untrusted
# envelope; 64 recipients with 8192-bit RSA keys need about 100 KiB.
MAX_RECIPIENTS = 64
MAX_CONTENT_BYTES = 63 * 1024 * 1024
MAX_HEADER_BYTES = 256 * 1024
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
# An SM2 ciphertext of a 32-byte key is at most 3 + 2 * 35 + 34 + 34 = 141 bytes of DER
# (a long-form SEQUENCE, two INTEGERs of 33 octets, C3, C2); a longer `wk` is refused
# before its DER is walked.
MAX_SM2_WRAPPED_BYTES = 160

# Header curve names -> curves. secp256k1 is supported like the NIST curves: ledger
# members may hold secp256k1 certificates and ECDH on it is sound.
CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "secp256k1": ec.SECP256K1(),
}
_CURVE_NAMES = {curve.name: name for name, curve in CURVES.items()}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | SM2PrivateKey
RecipientKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | SM2PublicKey

_HEX64 = re.compile(r"[0-9a-f]{64}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class EnvelopeError(ClientError, ValueError):
    """Sealing or opening an envelope failed; the subclasses say how."""


class UnsupportedRecipient(EnvelopeError):
    """`seal_envelope` refused a recipient certificate (key type, curve or size)."""

    def __init__(self, fingerprint: bytes, reason: str) -> None:
        super().__init__(f"recipient {fingerprint.hex()}: {reason}")
        self.fingerprint = fingerprint
        self.reason = reason


class MalformedEnvelope(EnvelopeError):
    """The bytes are not a well-formed envelope; `field` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"malformed envelope: {field}: {reason}")
        self.field = field
        self.reason = reason


class UnsupportedVersion(EnvelopeError):
    """An envelope of a version this SDK cannot open."""

    def __init__(self, version: int) -> None:
        super().__init__(f"envelope version {version} is not supported (this SDK opens version {VERSION})")
        self.version = version


class NotARecipient(EnvelopeError):
    """The certificate is not one the envelope was sealed for."""

    def __init__(self, fingerprint: bytes) -> None:
        super().__init__(f"not a recipient: the envelope was not sealed for certificate {fingerprint.hex()}")
        self.fingerprint = fingerprint


class KeyMismatch(EnvelopeError):
    """The private key given to open an envelope is not the certificate's: a mistake in
    what was passed, not something wrong with the envelope."""

    def __init__(self, fingerprint: bytes) -> None:
        super().__init__(f"the private key does not belong to the certificate {fingerprint.hex()}")
        self.fingerprint = fingerprint


class EnvelopeTampered(EnvelopeError):
    """Authentication failed at `step`: the envelope was altered, or the aad differs."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"authentication failed: {step}: {detail}")
        self.step = step
        self.detail = detail


@dataclass(frozen=True)
class Recipient:
    """One header entry: who (certificate fingerprint) and the data key wrapped for them."""

    fingerprint: bytes
    algorithm: str                   # ECDH_WRAP, RSA_WRAP or SM2_WRAP
    wrapped_key: bytes               # SM2_WRAP: the DER C1C3C2 ciphertext, checked by parse
    curve: str | None = None         # ECDH_WRAP only: a key of CURVES
    ephemeral_key: bytes | None = None  # ECDH_WRAP only: X9.62 uncompressed point

    def to_json(self) -> dict[str, str]:
        entry = {"alg": self.algorithm, "fp": self.fingerprint.hex(), "wk": _b64(self.wrapped_key)}
        if self.algorithm == ECDH_WRAP:
            assert self.curve is not None and self.ephemeral_key is not None
            entry["crv"] = self.curve
            entry["epk"] = _b64(self.ephemeral_key)
        return entry


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope. One that exists has a known version, a well-formed header and
    room for the GCM tag; whether it decrypts is `open_envelope`'s business."""

    version: int
    content_cipher: str  # AES_GCM or SM4_GCM: fixes the data key's length
    nonce: bytes
    recipients: tuple[Recipient, ...]
    prefix: bytes       # magic ‖ version ‖ header length ‖ header: the GCM associated data
    ciphertext: bytes   # ciphertext ‖ 16-byte tag

    @classmethod
    def parse(cls, data: bytes) -> Envelope:
        # 1. Fixed prefix: magic, version, header length.
        if len(data) < PREFIX_BYTES:
            raise MalformedEnvelope("prefix", f"{len(data)} bytes is shorter than the {PREFIX_BYTES}-byte prefix")
        magic, version, header_length = _PREFIX.unpack_from(data)
        if magic != MAGIC:
            raise MalformedEnvelope("magic", "not a sealed envelope (expected it to start with b'ELSEAL')")
        if version != VERSION:
            raise UnsupportedVersion(version)
        if header_length > MAX_HEADER_BYTES:
            raise MalformedEnvelope("header length", f"{header_length} bytes exceeds the cap of {MAX_HEADER_BYTES}")
        end = PREFIX_BYTES + header_length
        if len(data) < end + TAG_BYTES:
            raise MalformedEnvelope("length", f"{len(data)} bytes cannot hold a {header_length}-byte header and the GCM tag")
        # 2. Header: strict JSON of a fixed shape.
        cipher, nonce, recipients = _parse_header(data[PREFIX_BYTES:end])
        return cls(VERSION, cipher, nonce, recipients, data[:end], data[end:])

    def recipient(self, fingerprint: bytes) -> Recipient:
        for entry in self.recipients:
            if entry.fingerprint == fingerprint:
                return entry
        raise NotARecipient(fingerprint)


def fingerprint(certificate: x509.Certificate) -> bytes:
    """How envelopes name a recipient: SHA-256 of the certificate's DER encoding."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()


def recipient_key(certificate: x509.Certificate) -> RecipientKey:
    """The key an envelope is wrapped for: ``cryptography``'s RSA or EC key, or an
    `SM2PublicKey` (``cryptography`` reads SM2 certificates but refuses to build their
    keys). UnsupportedRecipient, naming the certificate, for any other key, an RSA size or
    an EC curve docs/envelopes.md does not list."""
    fp = fingerprint(certificate)
    try:
        key = certificate.public_key()
    except UnsupportedAlgorithm:
        try:
            return SM2PublicKey.from_certificate(certificate)
        except sm2.SM2Error as exc:
            raise UnsupportedRecipient(fp, f"its key cannot receive envelopes ({exc.reason})") from None
    except ValueError as exc:
        raise UnsupportedRecipient(fp, f"its public key does not parse ({str(exc)[:80]})") from None
    if isinstance(key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise UnsupportedRecipient(fp, f"RSA keys of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits only, got {key.key_size}")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVE_NAMES:
            raise UnsupportedRecipient(fp, f"EC curve {key.curve.name} is not supported ({', '.join(CURVES)}, or SM2)")
        return key
    raise UnsupportedRecipient(fp, f"{type(key).__name__} keys cannot receive envelopes (RSA, EC or SM2 only)")


def choose_content_cipher(recipients: Sequence[x509.Certificate], content_cipher: str | None = None) -> str:
    """The `enc` an envelope for `recipients` gets (docs/envelopes.md, "Content cipher"):
    SM4-GCM when any recipient holds an SM2 key or `content_cipher` asks for it,
    AES-256-GCM otherwise. Asking for AES-256-GCM with an SM2 recipient is refused: whoever
    holds only a national certificate gets the national algorithms end to end."""
    return _choose_cipher(_recipient_keys(recipients), content_cipher)


def seal_envelope(content: bytes, recipients: Sequence[x509.Certificate], *, aad: bytes = b"",
                  content_cipher: str | None = None) -> bytes:
    """Encrypt `content` so that only the holders of the recipients' private keys can open it.

    `aad` is authenticated but neither encrypted nor stored: `open_envelope` needs the same
    bytes (bind an envelope to, say, a contract id this way). `content_cipher` (AES_GCM or
    SM4_GCM) overrides the choice of `choose_content_cipher` where it may. Raises
    EnvelopeError for no recipients, too many, duplicates, an unsupported key, a cipher an
    SM2 recipient may not get, or content over MAX_CONTENT_BYTES.
    """
    keyed = _recipient_keys(recipients)
    cipher = _choose_cipher(keyed, content_cipher)
    return _seal(content, keyed, cipher, aad=aad, data_key=os.urandom(DATA_KEY_BYTES[cipher]),
                 nonce=os.urandom(NONCE_BYTES), ephemeral_key=ec.generate_private_key)


def seal_with(
    content: bytes,
    recipients: Sequence[x509.Certificate],
    *,
    aad: bytes,
    data_key: bytes,
    nonce: bytes,
    ephemeral_key: Callable[[ec.EllipticCurve], ec.EllipticCurvePrivateKey],
    content_cipher: str | None = None,
) -> bytes:
    """`seal_envelope` with its randomness passed in (the data key, the nonce, a source of ephemeral
    EC keys), for known-answer tests. Never reuse a data key or an ephemeral key. (SM2
    entries still draw their own randomness, inside GmSSL.)"""
    keyed = _recipient_keys(recipients)
    cipher = _choose_cipher(keyed, content_cipher)
    return _seal(content, keyed, cipher, aad=aad, data_key=data_key, nonce=nonce, ephemeral_key=ephemeral_key)


def open_envelope(envelope: bytes, private_key: PrivateKey, certificate: x509.Certificate, *, aad: bytes = b"") -> bytes:
    """Decrypt an envelope with one recipient's certificate and private key (an RSA or EC
    key of ``cryptography``, or a `client.sm2keys.SM2PrivateKey`).

    Raises MalformedEnvelope, UnsupportedVersion, NotARecipient, KeyMismatch or
    EnvelopeTampered (all EnvelopeError); the message names the step that failed.
    """
    # 1. Parse the framing and header.
    parsed = Envelope.parse(envelope)
    # 2. Find this certificate's entry, and check the key is the certificate's.
    entry = parsed.recipient(fingerprint(certificate))
    if not _belongs(private_key, certificate):
        raise KeyMismatch(entry.fingerprint)
    # 3. Unwrap the data key (its length is the content cipher's).
    data_key = _unwrap(entry, private_key, DATA_KEY_BYTES[parsed.content_cipher])
    # 4. Decrypt and authenticate content, header and aad together.
    return _decrypt(parsed.content_cipher, data_key, parsed.nonce, parsed.ciphertext, parsed.prefix + aad)


def envelope_recipients(envelope: bytes) -> list[bytes]:
    """The SHA-256 certificate fingerprints an envelope was sealed for, in header order."""
    return [entry.fingerprint for entry in Envelope.parse(envelope).recipients]


# -- sealing ----------------------------------------------------------------------------


def _recipient_keys(recipients: Sequence[x509.Certificate]) -> list[tuple[bytes, RecipientKey]]:
    """(fingerprint, key) per recipient: the count capped, no certificate twice, every key supported."""
    if not recipients:
        raise EnvelopeError("no recipients: an envelope nobody can open is refused")
    if len(recipients) > MAX_RECIPIENTS:
        raise EnvelopeError(f"{len(recipients)} recipients exceeds the cap of {MAX_RECIPIENTS}")
    keyed: list[tuple[bytes, RecipientKey]] = []
    seen: set[bytes] = set()
    for certificate in recipients:
        fp = fingerprint(certificate)
        if fp in seen:
            raise EnvelopeError(f"recipient {fp.hex()} is listed twice")
        seen.add(fp)
        keyed.append((fp, recipient_key(certificate)))
    return keyed


def _choose_cipher(keyed: Sequence[tuple[bytes, RecipientKey]], asked: str | None) -> str:
    if asked is not None and asked not in DATA_KEY_BYTES:
        raise EnvelopeError(f"content cipher {str(asked)[:40]!r} is not one of {', '.join(DATA_KEY_BYTES)}")
    national = [fp for fp, key in keyed if isinstance(key, SM2PublicKey)]
    if national:
        if asked == AES_GCM:
            raise UnsupportedRecipient(national[0], f"an SM2 recipient's envelope is {SM4_GCM} (national algorithms "
                                                    f"end to end), but {AES_GCM} was asked for")
        return SM4_GCM
    return asked or AES_GCM


def _seal(
    content: bytes,
    keyed: Sequence[tuple[bytes, RecipientKey]],
    cipher: str,
    *,
    aad: bytes,
    data_key: bytes,
    nonce: bytes,
    ephemeral_key: Callable[[ec.EllipticCurve], ec.EllipticCurvePrivateKey],
) -> bytes:
    if len(data_key) != DATA_KEY_BYTES[cipher] or len(nonce) != NONCE_BYTES:
        raise EnvelopeError(f"a {cipher} data key must be {DATA_KEY_BYTES[cipher]} bytes and the nonce {NONCE_BYTES}")
    if len(content) > MAX_CONTENT_BYTES:
        raise EnvelopeError(f"content of {len(content)} bytes exceeds the cap of {MAX_CONTENT_BYTES} bytes")
    entries = [_wrap(data_key, fp, key, ephemeral_key) for fp, key in keyed]
    header = json.dumps(
        {"enc": cipher, "iv": _b64(nonce), "recipients": [e.to_json() for e in entries]},
        separators=(",", ":"), sort_keys=True,
    ).encode()
    prefix = _PREFIX.pack(MAGIC, VERSION, len(header)) + header
    return prefix + _encrypt(cipher, data_key, nonce, content, prefix + aad)


# -- content encryption -----------------------------------------------------------------


def _encrypt(cipher: str, data_key: bytes, nonce: bytes, content: bytes, associated: bytes) -> bytes:
    """ciphertext ‖ 16-byte tag."""
    if cipher == AES_GCM:
        return AESGCM(data_key).encrypt(nonce, content, associated)
    encryptor = Cipher(algorithms.SM4(data_key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated)
    body = encryptor.update(content) + encryptor.finalize()
    return body + encryptor.tag


def _decrypt(cipher: str, data_key: bytes, nonce: bytes, body: bytes, associated: bytes) -> bytes:
    try:
        if cipher == AES_GCM:
            return AESGCM(data_key).decrypt(nonce, body, associated)
        decryptor = Cipher(algorithms.SM4(data_key), modes.GCM(nonce, body[-TAG_BYTES:])).decryptor()
        decryptor.authenticate_additional_data(associated)
        content = decryptor.update(body[:-TAG_BYTES])
        decryptor.finalize()  # checks the tag; nothing is returned before it has
        return content
    except InvalidTag:
        raise EnvelopeTampered("decrypt content", "the GCM tag does not match: the envelope was altered or the aad differs") from None


# -- key wrapping ---------------------------------------------------------------------


def _wrap(
    data_key: bytes,
    fp: bytes,
    public_key: RecipientKey,
    ephemeral_key: Callable[[ec.EllipticCurve], ec.EllipticCurvePrivateKey],
) -> Recipient:
    if isinstance(public_key, SM2PublicKey):
        try:
            wrapped = sm2keys.encrypt(public_key, data_key)
            _check_sm2_ciphertext(wrapped, len(data_key))  # never seal what open_envelope would refuse
        except (SM2KeyError, MalformedEnvelope) as exc:
            raise EnvelopeError(f"recipient {fp.hex()}: SM2 encryption of the data key failed ({exc})") from None
        return Recipient(fp, SM2_WRAP, wrapped)
    if isinstance(public_key, rsa.RSAPublicKey):
        return Recipient(fp, RSA_WRAP, public_key.encrypt(data_key, _OAEP))
    curve = _CURVE_NAMES[public_key.curve.name]  # recipient_key admitted only these
    ephemeral = ephemeral_key(CURVES[curve])
    if ephemeral.curve.name != public_key.curve.name:
        raise EnvelopeError("the ephemeral key is not on the recipient's curve")
    epk = ephemeral.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    kek = _kek(ephemeral.exchange(ec.ECDH(), public_key), fp, epk)
    return Recipient(fp, ECDH_WRAP, aes_key_wrap(kek, data_key), curve, epk)


def _kek(shared_secret: bytes, fp: bytes, epk: bytes) -> bytes:
    info = HKDF_LABEL + b"\x00" + bytes([VERSION]) + fp + epk
    return HKDF(algorithm=hashes.SHA256(), length=KEK_BYTES, salt=None, info=info).derive(shared_secret)


def _belongs(private_key: PrivateKey, certificate: x509.Certificate) -> bool:
    """Whether `private_key` is the private half of the certificate's key."""
    try:
        public = recipient_key(certificate)
    except UnsupportedRecipient:
        return False
    if isinstance(private_key, SM2PrivateKey) or isinstance(public, SM2PublicKey):
        return isinstance(private_key, SM2PrivateKey) and private_key.public_key() == public
    return _spki(private_key.public_key()) == _spki(public)


def _unwrap(entry: Recipient, private_key: PrivateKey, key_bytes: int) -> bytes:
    if entry.algorithm == SM2_WRAP:
        if not isinstance(private_key, SM2PrivateKey):
            raise MalformedEnvelope("recipients", "an SM2 entry for a certificate without an SM2 key")
        try:
            data_key = private_key.decrypt(entry.wrapped_key)
        except SM2KeyError:
            raise EnvelopeTampered("unwrap data key", "SM2 decryption failed: the ciphertext's SM3 check value (C3) "
                                                      "does not match") from None
    elif entry.algorithm == RSA_WRAP:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise MalformedEnvelope("recipients", "an RSA-OAEP entry for a certificate without an RSA key")
        if len(entry.wrapped_key) != (private_key.key_size + 7) // 8:
            raise MalformedEnvelope("recipients.wk", "the RSA-wrapped key is not the modulus length")
        try:
            data_key = private_key.decrypt(entry.wrapped_key, _OAEP)
        except ValueError:
            raise EnvelopeTampered("unwrap data key", "RSA-OAEP decryption failed") from None
    else:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise MalformedEnvelope("recipients", "an ECDH entry for a certificate without an EC key")
        assert entry.curve is not None and entry.ephemeral_key is not None  # parse guarantees both
        if CURVES[entry.curve].name != private_key.curve.name:
            raise MalformedEnvelope("recipients.crv", f"{entry.curve} is not the certificate's curve {private_key.curve.name}")
        try:
            ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[entry.curve], entry.ephemeral_key)
        except ValueError:
            raise MalformedEnvelope("recipients.epk", f"not a point on {entry.curve}") from None
        kek = _kek(private_key.exchange(ec.ECDH(), ephemeral), entry.fingerprint, entry.ephemeral_key)
        try:
            data_key = aes_key_unwrap(kek, entry.wrapped_key)
        except InvalidUnwrap:
            raise EnvelopeTampered("unwrap data key", "AES key unwrap failed its integrity check") from None
    if len(data_key) != key_bytes:
        raise EnvelopeTampered("unwrap data key", f"the unwrapped key is {len(data_key)} bytes, not {key_bytes}")
    return data_key


def _spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _check_sm2_ciphertext(wrapped: bytes, key_bytes: int) -> None:
    """`wrapped` is GM/T 0009's SM2Cipher in strict DER, SEQUENCE { x INTEGER, y INTEGER,
    C3 OCTET STRING (32), C2 OCTET STRING (`key_bytes`) }, with (x, y) = C1 a point of
    sm2p256v1; MalformedEnvelope("recipients.wk") naming what is not."""
    field = "recipients.wk"
    if len(wrapped) > MAX_SM2_WRAPPED_BYTES:
        raise MalformedEnvelope(field, f"an SM2 ciphertext of {len(wrapped)} bytes is longer than {MAX_SM2_WRAPPED_BYTES}")
    try:
        tag, start, end = der_reader.read_element(wrapped, 0)
        if tag != der_reader.TAG_SEQUENCE or end != len(wrapped):
            raise MalformedEnvelope(field, "the SM2 ciphertext is not one DER SEQUENCE")
        parts = der_reader.children(wrapped, start, end)
        if [part[0] for part in parts] != [der_reader.TAG_INTEGER, der_reader.TAG_INTEGER, _TAG_OCTET_STRING, _TAG_OCTET_STRING]:
            raise MalformedEnvelope(field, "the SM2 ciphertext is not SEQUENCE { x INTEGER, y INTEGER, C3 OCTET STRING, "
                                           "C2 OCTET STRING } (C1C3C2)")
        contents = [wrapped[der_reader.read_element(wrapped, s, e)[1]:e] for _, s, e in parts]
    except der_reader.DERError as exc:
        raise MalformedEnvelope(field, f"the SM2 ciphertext is not DER: {exc.reason}") from None
    x, y, c3, c2 = contents
    for coordinate in (x, y):
        # Minimal, non-negative DER INTEGERs: no 00 octet unless the next has its top bit set.
        if not coordinate or coordinate[0] >= 0x80 or (len(coordinate) > 1 and coordinate[0] == 0 and coordinate[1] < 0x80):
            raise MalformedEnvelope(field, "the SM2 ciphertext's C1 coordinates are not minimal non-negative DER INTEGERs")
    try:
        SM2PublicKey(int.from_bytes(x, "big"), int.from_bytes(y, "big"))
    except sm2.SM2Error:
        raise MalformedEnvelope(field, "the SM2 ciphertext's C1 is not a point of sm2p256v1") from None
    if len(c3) != SM3_BYTES:
        raise MalformedEnvelope(field, f"the SM2 ciphertext's C3 is {len(c3)} bytes, not {SM3_BYTES} (SM3)")
    if len(c2) != key_bytes:
        raise MalformedEnvelope(field, f"the SM2 ciphertext's C2 is {len(c2)} bytes, not the {key_bytes}-byte data key")


# -- header encoding ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: Any, field: str) -> bytes:
    """Strict base64url without padding: the alphabet only, and the canonical encoding."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedEnvelope(field, "expected unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise MalformedEnvelope(field, "not the canonical base64url encoding")
    return data


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedEnvelope("header", "a JSON object repeats a key")
    return obj


def _parse_header(raw: bytes) -> tuple[str, bytes, tuple[Recipient, ...]]:
    # A valid header has one object per recipient plus two containers, and no string in it
    # can hold a bracket; counting first keeps json.loads away from hostile nesting.
    if raw.count(b"{") + raw.count(b"[") > MAX_RECIPIENTS + 2:
        raise MalformedEnvelope("header", "more JSON objects and arrays than a header can have")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedEnvelope("header", f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(header, dict) or set(header) != {"enc", "iv", "recipients"}:
        raise MalformedEnvelope("header", "expected exactly the keys enc, iv, recipients")
    cipher = header["enc"]
    if not isinstance(cipher, str) or cipher not in DATA_KEY_BYTES:
        raise MalformedEnvelope("enc", f"unsupported content cipher {str(cipher)[:40]!r} (expected {' or '.join(DATA_KEY_BYTES)})")
    nonce = _unb64(header["iv"], "iv")
    if len(nonce) != NONCE_BYTES:
        raise MalformedEnvelope("iv", f"{len(nonce)} bytes, expected {NONCE_BYTES}")
    entries = header["recipients"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_RECIPIENTS:
        raise MalformedEnvelope("recipients", f"expected a list of 1 to {MAX_RECIPIENTS} entries")
    recipients = tuple(_parse_recipient(entry, DATA_KEY_BYTES[cipher]) for entry in entries)
    if len({r.fingerprint for r in recipients}) != len(recipients):
        raise MalformedEnvelope("recipients", "a fingerprint is listed twice")
    return cipher, nonce, recipients


def _parse_recipient(entry: Any, key_bytes: int) -> Recipient:
    if not isinstance(entry, dict):
        raise MalformedEnvelope("recipients", "an entry is not an object")
    algorithm = entry.get("alg")
    if algorithm not in (ECDH_WRAP, RSA_WRAP, SM2_WRAP):
        raise MalformedEnvelope("recipients.alg", f"unsupported key wrap {str(algorithm)[:40]!r} "
                                                  f"({ECDH_WRAP}, {RSA_WRAP}, {SM2_WRAP})")
    keys = {"alg", "fp", "wk", "crv", "epk"} if algorithm == ECDH_WRAP else {"alg", "fp", "wk"}
    if set(entry) != keys:
        raise MalformedEnvelope("recipients", f"a {algorithm} entry has exactly the keys {', '.join(sorted(keys))}")
    fp = entry["fp"]
    if not isinstance(fp, str) or not _HEX64.fullmatch(fp):
        raise MalformedEnvelope("recipients.fp", "expected 64 lowercase hex digits")
    wrapped = _unb64(entry["wk"], "recipients.wk")
    if algorithm == RSA_WRAP:
        if not MIN_RSA_BITS // 8 <= len(wrapped) <= MAX_RSA_BITS // 8:
            raise MalformedEnvelope("recipients.wk", f"{len(wrapped)} bytes is no RSA modulus length this format allows")
        return Recipient(bytes.fromhex(fp), RSA_WRAP, wrapped)
    if algorithm == SM2_WRAP:
        _check_sm2_ciphertext(wrapped, key_bytes)
        return Recipient(bytes.fromhex(fp), SM2_WRAP, wrapped)
    if len(wrapped) != key_bytes + KEY_WRAP_OVERHEAD:
        raise MalformedEnvelope("recipients.wk", f"{len(wrapped)} bytes, expected {key_bytes + KEY_WRAP_OVERHEAD}")
    curve = entry["crv"]
    if curve not in CURVES:
        raise MalformedEnvelope("recipients.crv", f"unsupported curve {str(curve)[:40]!r} ({', '.join(CURVES)})")
    epk = _unb64(entry["epk"], "recipients.epk")
    if len(epk) != 1 + 2 * ((CURVES[curve].key_size + 7) // 8) or epk[0] != 0x04:
        raise MalformedEnvelope("recipients.epk", f"expected an uncompressed {curve} point")
    return Recipient(bytes.fromhex(fp), ECDH_WRAP, wrapped, curve, epk)
