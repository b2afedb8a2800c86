"""Sealed envelopes: round trips for every key kind, only named recipients open, every
field tampered fails at the right step, the refusals, and an opener written from
docs/envelopes.md alone."""
from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from client import devpki, envelope as seal
from client.credentials import CertificateIdentity
from tests import pki

CONTENT = "工程建设项目 contract scan, page 1 of 12".encode() * 40


@pytest.fixture(scope="module")
def people() -> dict[str, CertificateIdentity]:
    return {
        "rsa": pki.rsa_ca().issue("Trading Center", "rsa2048"),
        "p256": pki.p256_ca().issue("Bidder One", "p256"),
        "p384": pki.p384_ca().issue("Notary Office", "p384"),
        "k1": pki.p256_ca().issue("Bidder Two", "secp256k1"),
        "p256b": pki.p256_ca().issue("Regulator", "p256"),
    }


def split(envelope: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    """(magic ‖ version, header object, ciphertext ‖ tag)."""
    (length,) = struct.unpack(">I", envelope[7:11])
    return envelope[:7], json.loads(envelope[11:11 + length]), envelope[11 + length:]


def join(head: bytes, header: dict[str, Any], body: bytes) -> bytes:
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return head + struct.pack(">I", len(raw)) + raw + body


def rewrite(envelope: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    head, header, body = split(envelope)
    change(header)
    return join(head, header, body)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- round trips -----------------------------------------------------------------------


def test_every_recipient_opens_and_reads_the_content(people: dict[str, CertificateIdentity]) -> None:
    envelope = seal.seal_envelope(CONTENT, [p.leaf for p in people.values()])
    for person in people.values():
        assert seal.open_envelope(envelope, person.key, person.leaf) == CONTENT


@pytest.mark.parametrize("kind", ["rsa", "p256", "p384", "k1"])
def test_single_recipient_of_each_key_kind(people: dict[str, CertificateIdentity], kind: str) -> None:
    person = people[kind]
    envelope = seal.seal_envelope(b"", [person.leaf])  # empty content is still sealed and authenticated
    assert seal.open_envelope(envelope, person.key, person.leaf) == b""
    _, header, _ = split(envelope)
    (entry,) = header["recipients"]
    assert entry["alg"] == (seal.RSA_WRAP if kind == "rsa" else seal.ECDH_WRAP)


def test_two_seals_of_the_same_content_differ(people: dict[str, CertificateIdentity]) -> None:
    # Fresh data key, nonce and ephemeral keys each time: equal plaintexts are not linkable.
    first = seal.seal_envelope(CONTENT, [people["p256"].leaf, people["rsa"].leaf])
    second = seal.seal_envelope(CONTENT, [people["p256"].leaf, people["rsa"].leaf])
    assert first != second
    assert split(first)[1]["iv"] != split(second)[1]["iv"]


def test_envelope_recipients_lists_fingerprints_in_order(people: dict[str, CertificateIdentity]) -> None:
    chosen = [people["p384"], people["rsa"], people["k1"]]
    envelope = seal.seal_envelope(CONTENT, [p.leaf for p in chosen])
    assert seal.envelope_recipients(envelope) == [p.fingerprint for p in chosen]
    assert [seal.fingerprint(p.leaf) for p in chosen] == [p.fingerprint for p in chosen]


def test_aad_is_bound(people: dict[str, CertificateIdentity]) -> None:
    person = people["p256"]
    envelope = seal.seal_envelope(CONTENT, [person.leaf], aad=b"contract 0x1234 v2")
    assert seal.open_envelope(envelope, person.key, person.leaf, aad=b"contract 0x1234 v2") == CONTENT
    for wrong in (b"", b"contract 0x1234 v3"):
        with pytest.raises(seal.EnvelopeTampered) as failure:
            seal.open_envelope(envelope, person.key, person.leaf, aad=wrong)
        assert failure.value.step == "decrypt content"


# -- who can open ----------------------------------------------------------------------


def test_a_certificate_not_named_cannot_open(people: dict[str, CertificateIdentity]) -> None:
    envelope = seal.seal_envelope(CONTENT, [people["rsa"].leaf, people["p256"].leaf])
    for outsider in ("p384", "p256b", "k1"):
        with pytest.raises(seal.NotARecipient, match="not a recipient") as failure:
            seal.open_envelope(envelope, people[outsider].key, people[outsider].leaf)
        assert failure.value.fingerprint == people[outsider].fingerprint


def test_a_recipient_certificate_with_another_key_is_refused(people: dict[str, CertificateIdentity]) -> None:
    envelope = seal.seal_envelope(CONTENT, [people["p256"].leaf])
    with pytest.raises(seal.EnvelopeError, match="does not belong to the certificate"):
        seal.open_envelope(envelope, people["p256b"].key, people["p256"].leaf)


def test_same_key_in_another_certificate_is_not_a_recipient(people: dict[str, CertificateIdentity]) -> None:
    # Recipients are certificates, not keys: a reissued certificate gets a new fingerprint.
    person = people["p256"]
    ca = pki.p256_ca()
    reissued = devpki.issue_certificate(ca.issuer, ca.issuer_key, person.key.public_key(), common_name="Bidder One",
                                        not_before=pki.NOT_BEFORE, not_after=pki.NOT_AFTER)
    envelope = seal.seal_envelope(CONTENT, [person.leaf])
    with pytest.raises(seal.NotARecipient):
        seal.open_envelope(envelope, person.key, reissued)


# -- tampering -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed(people: dict[str, CertificateIdentity]) -> bytes:
    return seal.seal_envelope(CONTENT, [people["p256"].leaf, people["p256b"].leaf, people["rsa"].leaf])


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


@pytest.mark.parametrize("where", ["first ciphertext byte", "last ciphertext byte", "first tag byte", "last tag byte"])
def test_flipped_ciphertext_or_tag_fails_decryption(sealed: bytes, people: dict[str, CertificateIdentity], where: str) -> None:
    index = {"first ciphertext byte": len(sealed) - len(CONTENT) - 16, "last ciphertext byte": len(sealed) - 17,
             "first tag byte": len(sealed) - 16, "last tag byte": len(sealed) - 1}[where]
    for person in (people["p256"], people["rsa"]):
        with pytest.raises(seal.EnvelopeTampered) as failure:
            seal.open_envelope(flip(sealed, index), person.key, person.leaf)
        assert failure.value.step == "decrypt content"


def test_every_header_byte_is_authenticated(sealed: bytes, people: dict[str, CertificateIdentity]) -> None:
    # Flip the low bit of each header byte in turn: whatever the parser makes of it, the
    # envelope must not open (and must fail with an EnvelopeError, never anything else).
    (length,) = struct.unpack(">I", sealed[7:11])
    person = people["p256"]
    for index in range(11, 11 + length):
        with pytest.raises(seal.EnvelopeError):
            seal.open_envelope(flip(sealed, index), person.key, person.leaf)


def test_new_nonce_fails_decryption(sealed: bytes, people: dict[str, CertificateIdentity]) -> None:
    altered = rewrite(sealed, lambda h: h.update(iv=b64(bytes(12))))
    with pytest.raises(seal.EnvelopeTampered) as failure:
        seal.open_envelope(altered, people["p256"].key, people["p256"].leaf)
    assert failure.value.step == "decrypt content"


def test_reordered_recipients_fail_decryption(sealed: bytes, people: dict[str, CertificateIdentity]) -> None:
    altered = rewrite(sealed, lambda h: h["recipients"].reverse())
    for person in (people["p256"], people["rsa"]):
        with pytest.raises(seal.EnvelopeTampered) as failure:
            seal.open_envelope(altered, person.key, person.leaf)
        assert failure.value.step == "decrypt content"


def test_dropped_recipient_fails_decryption_for_the_rest(sealed: bytes, people: dict[str, CertificateIdentity]) -> None:
    altered = rewrite(sealed, lambda h: h["recipients"].pop(1))
    with pytest.raises(seal.EnvelopeTampered):
        seal.open_envelope(altered, people["p256"].key, people["p256"].leaf)
    with pytest.raises(seal.NotARecipient):
        seal.open_envelope(altered, people["p256b"].key, people["p256b"].leaf)


def test_swapped_fingerprints_fail_unwrap(sealed: bytes, people: dict[str, CertificateIdentity]) -> None:
    # Both P-256: each entry now names the other's certificate. The HKDF info binds the
    # fingerprint, so the key-encryption key differs and the unwrap integrity check fails.
    def swap(header: dict[str, Any]) -> None:
        first, second = header["recipients"][0], header["recipients"][1]
        first["fp"], second["fp"] = second["fp"], first["fp"]

    altered = rewrite(sealed, swap)
    for person in (people["p256"], people["p256b"]):
        with pytest.raises(seal.EnvelopeTampered) as failure:
            seal.open_envelope(altered, person.key, person.leaf)
        assert failure.value.step == "unwrap data key"


def test_another_ephemeral_point_fails_unwrap(sealed: bytes, people: dict[str, CertificateIdentity]) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    altered = rewrite(sealed, lambda h: h["recipients"][0].update(epk=b64(other)))
    with pytest.raises(seal.EnvelopeTampered) as failure:
        seal.open_envelope(altered, people["p256"].key, people["p256"].leaf)
    assert failure.value.step == "unwrap data key"


@pytest.mark.parametrize("index", [0, 2])  # the P-256 entry (AES-KW) and the RSA entry (OAEP)
def test_altered_wrapped_key_fails_unwrap(sealed: bytes, people: dict[str, CertificateIdentity], index: int) -> None:
    def alter(header: dict[str, Any]) -> None:
        header["recipients"][index]["wk"] = b64(flip(unb64(header["recipients"][index]["wk"]), 5))

    person = people["p256"] if index == 0 else people["rsa"]
    with pytest.raises(seal.EnvelopeTampered) as failure:
        seal.open_envelope(rewrite(sealed, alter), person.key, person.leaf)
    assert failure.value.step == "unwrap data key"


# -- malformed envelopes and versions ----------------------------------------------------


def test_other_version_is_refused(sealed: bytes) -> None:
    with pytest.raises(seal.UnsupportedVersion, match="version 2 is not supported") as failure:
        seal.envelope_recipients(sealed[:6] + b"\x02" + sealed[7:])
    assert failure.value.version == 2


@pytest.mark.parametrize(
    "mangle, field",
    [
        (lambda e: b"", "prefix"),
        (lambda e: e[:10], "prefix"),
        (lambda e: b"ELSEAM" + e[6:], "magic"),
        (lambda e: b"%PDF-1" + e[6:], "magic"),
        (lambda e: e[:7] + struct.pack(">I", seal.MAX_HEADER_BYTES + 1) + e[11:], "header length"),
        (lambda e: e[:7] + struct.pack(">I", len(e)) + e[11:], "length"),
        (lambda e: e[:-len(CONTENT) - 1], "length"),  # header intact, no room for the tag
    ],
)
def test_broken_framing_is_malformed(sealed: bytes, mangle: Callable[[bytes], bytes], field: str) -> None:
    with pytest.raises(seal.MalformedEnvelope) as failure:
        seal.envelope_recipients(mangle(sealed))
    assert failure.value.field == field


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def noncanonical(text: str) -> str:
    """The same bytes with the unused low bits of the last character set (40 bytes: 4 bits)."""
    assert len(text) % 4 == 2
    return text[:-1] + B64URL[B64URL.index(text[-1]) | 1]


def raw_header(sealed: bytes, raw: bytes) -> bytes:
    head, _, body = split(sealed)
    return head + struct.pack(">I", len(raw)) + raw + body


@pytest.mark.parametrize(
    "raw, field",
    [
        (b"not json", "header"),
        (b"\xff\xfe", "header"),
        (b"[]", "header"),
        (b"[" * 100 + b"]" * 100, "header"),
        (b'{"enc":"A256GCM","enc":"A256GCM","iv":"AAAAAAAAAAAAAAAA","recipients":[]}', "header"),
    ],
)
def test_header_that_is_not_a_header_object(sealed: bytes, raw: bytes, field: str) -> None:
    with pytest.raises(seal.MalformedEnvelope) as failure:
        seal.envelope_recipients(raw_header(sealed, raw))
    assert failure.value.field == field


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda h: h.update(extra=1), "header"),
        (lambda h: h.pop("iv"), "header"),
        (lambda h: h.update(enc="A128GCM"), "enc"),
        (lambda h: h.update(enc="SM4GCM"), "enc"),
        (lambda h: h.update(enc=["SM4-GCM"]), "enc"),
        (lambda h: h.update(enc="SM4-GCM"), "recipients.wk"),  # enc fixes the key length: 40-byte wraps no longer fit
        (lambda h: h.update(iv=b64(bytes(16))), "iv"),
        (lambda h: h.update(iv="AAAA AAAA AAAA"), "iv"),
        (lambda h: h.update(iv=h["iv"] + "=="), "iv"),
        (lambda h: h.update(recipients=[]), "recipients"),
        (lambda h: h.update(recipients={}), "recipients"),
        (lambda h: h["recipients"].append(h["recipients"][0]), "recipients"),
        (lambda h: h["recipients"].append("x"), "recipients"),
        (lambda h: h["recipients"][0].update(alg="ECDH-ES+A256KW"), "recipients.alg"),
        (lambda h: h["recipients"][0].update(fp=h["recipients"][0]["fp"].upper()), "recipients.fp"),
        (lambda h: h["recipients"][0].update(fp="00" * 31), "recipients.fp"),
        (lambda h: h["recipients"][0].pop("epk"), "recipients"),
        (lambda h: h["recipients"][0].update(note="hi"), "recipients"),
        (lambda h: h["recipients"][2].update(crv="P-256"), "recipients"),  # RSA entries carry no curve
        (lambda h: h["recipients"][0].update(crv="P-521"), "recipients.crv"),
        (lambda h: h["recipients"][0].update(wk=b64(bytes(48))), "recipients.wk"),
        (lambda h: h["recipients"][0].update(wk=noncanonical(h["recipients"][0]["wk"])), "recipients.wk"),
        (lambda h: h["recipients"][2].update(wk=b64(bytes(100))), "recipients.wk"),
        (lambda h: h["recipients"][0].update(epk=b64(b"\x02" + bytes(32))), "recipients.epk"),
        (lambda h: h["recipients"][0].update(epk=b64(b"\x04" + bytes(96))), "recipients.epk"),
    ],
)
def test_header_fields_are_checked(sealed: bytes, change: Callable[[dict[str, Any]], None], field: str) -> None:
    with pytest.raises(seal.MalformedEnvelope) as failure:
        seal.envelope_recipients(rewrite(sealed, change))
    assert failure.value.field == field


def test_point_not_on_the_curve_is_malformed(sealed: bytes, people: dict[str, CertificateIdentity]) -> None:
    altered = rewrite(sealed, lambda h: h["recipients"][0].update(epk=b64(b"\x04" + bytes(31) + b"\x01" + bytes(31) + b"\x01")))
    with pytest.raises(seal.MalformedEnvelope) as failure:
        seal.open_envelope(altered, people["p256"].key, people["p256"].leaf)
    assert failure.value.field == "recipients.epk"


def test_entry_for_the_wrong_curve_is_malformed(people: dict[str, CertificateIdentity]) -> None:
    envelope = seal.seal_envelope(CONTENT, [people["p384"].leaf])
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    altered = rewrite(envelope, lambda h: h["recipients"][0].update(crv="P-256", epk=b64(other)))
    with pytest.raises(seal.MalformedEnvelope) as failure:
        seal.open_envelope(altered, people["p384"].key, people["p384"].leaf)
    assert failure.value.field == "recipients.crv"


# -- what seal refuses ---------------------------------------------------------------------


def test_no_recipients_is_refused() -> None:
    with pytest.raises(seal.EnvelopeError, match="no recipients"):
        seal.seal_envelope(CONTENT, [])


def test_duplicate_recipient_is_refused(people: dict[str, CertificateIdentity]) -> None:
    with pytest.raises(seal.EnvelopeError, match="listed twice"):
        seal.seal_envelope(CONTENT, [people["p256"].leaf, people["rsa"].leaf, people["p256"].leaf])


def test_too_many_recipients_is_refused(people: dict[str, CertificateIdentity]) -> None:
    with pytest.raises(seal.EnvelopeError, match=f"exceeds the cap of {seal.MAX_RECIPIENTS}"):
        seal.seal_envelope(CONTENT, [people["p256"].leaf] * (seal.MAX_RECIPIENTS + 1))


def test_the_recipient_cap_itself_is_allowed() -> None:
    ca = pki.p256_ca()
    certs = [devpki.issue_certificate(ca.issuer, ca.issuer_key, ec.generate_private_key(ec.SECP256R1()).public_key(),
                                      common_name=f"member {i}", not_before=pki.NOT_BEFORE, not_after=pki.NOT_AFTER)
             for i in range(seal.MAX_RECIPIENTS)]
    envelope = seal.seal_envelope(CONTENT, certs)
    assert len(seal.envelope_recipients(envelope)) == seal.MAX_RECIPIENTS
    assert len(envelope) - len(CONTENT) < seal.MAX_HEADER_BYTES


def test_content_over_the_cap_is_refused(people: dict[str, CertificateIdentity], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seal, "MAX_CONTENT_BYTES", 1024)
    seal.seal_envelope(bytes(1024), [people["p256"].leaf])
    with pytest.raises(seal.EnvelopeError, match="exceeds the cap of 1024 bytes"):
        seal.seal_envelope(bytes(1025), [people["p256"].leaf])


def _certificate_for(public_key: Any) -> x509.Certificate:
    ca = pki.p256_ca()
    return devpki.issue_certificate(ca.issuer, ca.issuer_key, public_key, common_name="odd key",
                                    not_before=pki.NOT_BEFORE, not_after=pki.NOT_AFTER)


@pytest.mark.parametrize(
    "make_key, reason",
    [
        (lambda: ed25519.Ed25519PrivateKey.generate().public_key(), "cannot receive envelopes"),
        (lambda: rsa.generate_private_key(65537, 1024).public_key(), "RSA keys of 2048 to 8192 bits only"),
        (lambda: ec.generate_private_key(ec.SECP521R1()).public_key(), "secp521r1 is not supported"),
    ],
)
def test_unsupported_recipient_keys_are_refused(people: dict[str, CertificateIdentity], make_key: Callable[[], Any], reason: str) -> None:
    cert = _certificate_for(make_key())
    with pytest.raises(seal.UnsupportedRecipient, match=reason) as failure:
        seal.seal_envelope(CONTENT, [people["p256"].leaf, cert])
    assert failure.value.fingerprint == seal.fingerprint(cert)


# -- the format, as documented -------------------------------------------------------------


def open_per_docs(envelope: bytes, key: Any, certificate: x509.Certificate, aad: bytes = b"") -> bytes:
    """An opener written from docs/envelopes.md, sharing no code with client/envelope.py."""
    assert envelope[:6] == b"ELSEAL" and envelope[6] == 1
    (length,) = struct.unpack(">I", envelope[7:11])
    header = json.loads(envelope[11:11 + length])
    fp = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    (entry,) = [r for r in header["recipients"] if r["fp"] == fp]
    if entry["alg"] == "RSA-OAEP-256":
        data_key = key.decrypt(unb64(entry["wk"]), padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    else:
        assert entry["alg"] == "ECDH-ES+HKDF-SHA256+A256KW"
        curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "secp256k1": ec.SECP256K1()}[entry["crv"]]
        epk = unb64(entry["epk"])
        shared = key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, epk))
        info = b"evidence-ledger/seal/ECDH-ES+HKDF-SHA256+A256KW" + b"\x00" + b"\x01" + bytes.fromhex(fp) + epk
        kek = HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(shared)
        data_key = aes_key_unwrap(kek, unb64(entry["wk"]))
    return AESGCM(data_key).decrypt(unb64(header["iv"]), envelope[11 + length:], envelope[:11 + length] + aad)


def test_an_independent_opener_following_the_docs(people: dict[str, CertificateIdentity]) -> None:
    envelope = seal.seal_envelope(CONTENT, [p.leaf for p in people.values()], aad=b"case 2026-17")
    for person in people.values():
        assert open_per_docs(envelope, person.key, person.leaf, b"case 2026-17") == CONTENT


FIXED_TIME = datetime(2026, 1, 1, tzinfo=UTC)
# SHA-256 of the envelope below. It changes only if the format does: if this fails, bump
# VERSION and update docs/envelopes.md rather than the constant.
KNOWN_ANSWER_SHA256 = "b8db31cbe4454d44ceed3c68dd72f72260284479aac8fb99ea74fadeb14b9543"


def test_known_answer() -> None:
    key = ec.derive_private_key(0x5EA1ED, ec.SECP256R1())
    cert = devpki.make_root("Known-answer recipient", key, not_before=FIXED_TIME, not_after=FIXED_TIME, serial=1)
    envelope = seal.seal_with(
        b"known answer", [cert], aad=b"",
        data_key=bytes(range(32)), nonce=bytes(range(12)),
        ephemeral_key=lambda curve: ec.derive_private_key(0xE9E9E9, curve),
    )
    assert hashlib.sha256(envelope).hexdigest() == KNOWN_ANSWER_SHA256
    assert seal.open_envelope(envelope, key, cert) == b"known answer"
    assert open_per_docs(envelope, key, cert) == b"known answer"
