"""SM2 and SM3 against published vectors on the recommended curve sm2p256v1.

The vectors and where each comes from are in tests/vectors/sm2/ (vectors.json, README.md):
GB/T 32905's two SM3 examples; the signature example of GM/T 0003.5-2012 / GB/T 32918.5
Annex A (also in OpenSSL's test/sm2_internal_test.c and GmSSL 1.x's crypto/sm2/sm2test.c),
checked for Z, e and the signature; OpenSSL's evppkey_sm2.txt verifications of e.

Not run, on purpose: the appendix examples of GB/T 32918.2/.3/.4 and draft-shen-sm2-ecdsa
(OpenSSL's ``ALICE123@YAHOO.COM`` case among them) use the 256-bit *test* curve
(p = 8542D69E...), and gmssl-pyx, which the ledger pins for consensus, fixes the curve to
sm2p256v1: there is nothing to run them on. RFC 8998 publishes no SM2 signature vector.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest

from client.sm2keys import SM2PrivateKey
from evidence import sm2

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "sm2" / "vectors.json").read_text())
ANNEX_A: dict[str, Any] = VECTORS["sm2_signature"][0]


def annex_a_key() -> sm2.SM2PublicKey:
    return sm2.SM2PublicKey(int(ANNEX_A["public_x"], 16), int(ANNEX_A["public_y"], 16))


def annex_a_signature() -> bytes:
    return sm2.encode_signature(int(ANNEX_A["r"], 16), int(ANNEX_A["s"], 16))


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("vector", VECTORS["sm3"], ids=lambda v: v["message_ascii"][:8])
def test_sm3_examples_of_gb_t_32905(vector: dict[str, str]) -> None:
    message = vector["message_ascii"].encode()
    # OpenSSL's SM3 (through cryptography, what evidence.sm2 uses) and GmSSL's agree.
    assert sm2.sm3(message).hex() == vector["digest"]
    assert bytes(gmssl_pyx.sm3_hash(message)).hex() == vector["digest"]


def test_annex_a_z_and_e() -> None:
    key = annex_a_key()
    identifier = ANNEX_A["distinguishing_id_ascii"].encode()
    assert identifier == sm2.DEFAULT_ID
    z = key.z(identifier)
    assert z.hex() == ANNEX_A["z"]
    assert key.z() == z  # the default identifier is GM/T 0009's
    assert sm2.sm3(z + ANNEX_A["message_ascii"].encode()).hex() == ANNEX_A["e"]


def test_annex_a_signature_verifies() -> None:
    key, signature = annex_a_key(), annex_a_signature()
    message = ANNEX_A["message_ascii"].encode()
    assert sm2.signature_scalars(signature) == (int(ANNEX_A["r"], 16), int(ANNEX_A["s"], 16))
    assert key.verify(message, signature)
    # The same check from e, straight through GmSSL.
    assert gmssl_pyx.sm2_verify_sm3_digest(key.point, bytes.fromhex(ANNEX_A["e"]), signature)


def test_annex_a_one_bit_changed_does_not_verify() -> None:
    key, signature = annex_a_key(), annex_a_signature()
    message = ANNEX_A["message_ascii"].encode()
    r, s = sm2.signature_scalars(signature)
    assert not key.verify(flip(message, 0), signature)
    assert not key.verify(message, sm2.encode_signature(r ^ 1, s))
    assert not key.verify(message, sm2.encode_signature(r, s ^ (1 << 200)))
    assert not key.verify(message, signature, distinguishing_id=flip(sm2.DEFAULT_ID, 7))
    # Another key: -P, the Annex key negated (also a point of the curve).
    assert not sm2.SM2PublicKey(key.x, sm2.P - key.y).verify(message, signature)


def test_signature_made_with_another_identifier_fails_with_the_default() -> None:
    # The Annex A key pair signs with draft-shen's identifier; only that identifier verifies.
    private = SM2PrivateKey(int(ANNEX_A["private_key"], 16), annex_a_key())
    message = ANNEX_A["message_ascii"].encode()
    other = b"ALICE123@YAHOO.COM"
    signature = private.sign(message, other)
    assert annex_a_key().verify(message, signature, distinguishing_id=other)
    assert not annex_a_key().verify(message, signature)
    # And the other way round: the default's signature fails under another identifier.
    assert not annex_a_key().verify(message, private.sign(message), distinguishing_id=other)


@pytest.mark.parametrize("vector", VECTORS["sm2_verify_e"], ids=["first", "second"])
def test_openssl_evp_verifications_of_e(vector: dict[str, str]) -> None:
    key = SM2PrivateKey.from_pem(vector["private_key_pkcs8_pem"].encode()).public_key()
    e, signature = bytes.fromhex(vector["e"]), bytes.fromhex(vector["signature"])
    sm2.signature_scalars(signature)  # strict DER, as published
    assert gmssl_pyx.sm2_verify_sm3_digest(key.point, e, signature)
    assert not gmssl_pyx.sm2_verify_sm3_digest(key.point, flip(e, 255), signature)


@pytest.mark.parametrize("signature,reason", [
    (bytes.fromhex("3007020101020101"), "not DER"),                 # SEQUENCE longer than its content
    (bytes.fromhex("300602010102010100"), "not one DER SEQUENCE"),  # a byte after it
    (bytes.fromhex("3006020100020101"), "outside 1..n-1"),          # r = 0
    (bytes.fromhex("300702010102020001"), "minimally"),             # s with a needless 00
    (bytes.fromhex("3006020181020101"), "minimally"),               # r negative
    (b"", "1 to 72 bytes"),
])
def test_malformed_signatures_are_refused_before_gmssl(signature: bytes, reason: str) -> None:
    with pytest.raises(sm2.SM2Error, match=reason):
        annex_a_key().verify(ANNEX_A["message_ascii"].encode(), signature)


def test_points_off_the_curve_are_refused() -> None:
    key = annex_a_key()
    with pytest.raises(sm2.SM2Error, match="not a point of the curve"):
        sm2.SM2PublicKey(key.x, key.y ^ 1)
    # The compressed encoding of the Annex key comes back to the same point.
    assert sm2.SM2PublicKey.from_encoded(bytes([2 + key.y % 2]) + key.point[:32]) == key


def test_a_point_bit_string_with_unused_bits_is_refused() -> None:
    # One key, two encodings (and two SubjectPublicKeyInfo hashes) if the unused-bits
    # octet of the BIT STRING were ignored.
    spki = bytearray(SM2PrivateKey.generate().public_key().spki_der())
    bit_string = spki.index(bytes([0x03, 0x42, 0x00, 0x04]))  # BIT STRING, 66 octets, 0 unused, 04 point
    assert sm2.SM2PublicKey.from_spki(bytes(spki)).encoded == bytes(spki[bit_string + 3:])
    spki[bit_string + 2] = 1
    with pytest.raises(sm2.SM2Error, match="no unused bits"):
        sm2.SM2PublicKey.from_spki(bytes(spki))
