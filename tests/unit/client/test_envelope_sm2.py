"""Sealed envelopes for SM2 recipients with SM4-GCM content (issue 21): round trips alone
and beside RSA and P-256 recipients, the content-cipher rule, tampering refused at the
step named, the known-answer vectors of docs/envelopes.md, and a second opener (and
sealer) written from that page alone — OpenSSL's command line for SM2, GmSSL for SM4-GCM,
nothing of client/envelope.py or client/sm2keys.py.

Certificates and keys are made by the `openssl` command line (tests/openssl_sm2.py), so
neither side of the interop is ours."""
from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import CodeType
from typing import Any

import gmssl_pyx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from client import devpki, envelope as seal
from client.sm2keys import SM2PrivateKey
from tests.openssl_sm2 import Issued, OpensslCA, openssl

CONTENT = "招标文件 sealed bid, page 1 of 3 · ".encode() * 30


@dataclass(frozen=True)
class Person:
    """An openssl-made certificate and its key: the file, and the key loaded for client.envelope."""

    certificate: x509.Certificate
    cert_file: Path
    key_file: Path
    key: Any  # SM2PrivateKey, or cryptography's RSA / EC private key

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


def person(issued: Issued) -> Person:
    certificate = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    data = issued.key.read_bytes()
    key = SM2PrivateKey.from_pem(data) if issued.key_type == "sm2" else serialization.load_pem_private_key(data, None)
    return Person(certificate, issued.cert, issued.key, key)


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Person]:
    ca = OpensslCA(tmp_path_factory.mktemp("sm2-envelopes") / "ca", "Court CA (SM2)", key_type="sm2")
    return {
        "sm2": person(ca.issue("Court Clerk")),
        "sm2b": person(ca.issue("Procuratorate")),
        "outsider": person(ca.issue("Someone Else")),
        "rsa": person(ca.issue("Trading Center", key_type="rsa2048")),
        "p256": person(ca.issue("Bidder One", key_type="p256")),
    }


# -- the second opener, written from docs/envelopes.md alone --------------------------------


class Refused(Exception):
    """The doc-only opener's refusal: `step` as docs/envelopes.md "Opening" names it."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def open_per_docs(envelope: bytes, key_file: Path, certificate_der: bytes, work: Path, aad: bytes = b"") -> bytes:
    """docs/envelopes.md "Opening": `openssl pkeyutl -decrypt` for an SM2 entry, GmSSL's
    SM4-GCM (client/envelope.py uses OpenSSL's), cryptography for RSA, ECDH and AES."""
    # 1. Frame.
    if envelope[:6] != b"ELSEAL" or len(envelope) < 11 or envelope[6] != 1:
        raise Refused("frame")
    (length,) = struct.unpack(">I", envelope[7:11])
    if length > 262_144 or len(envelope) < 11 + length + 16:
        raise Refused("frame")
    # 2. Header (not as strictly as the page asks: the AAD refuses what this lets through).
    try:
        header = json.loads(envelope[11:11 + length])
        key_bytes = {"A256GCM": 32, "SM4-GCM": 16}[header["enc"]]
        nonce = unb64(header["iv"])
    except (ValueError, KeyError, TypeError):
        raise Refused("header") from None
    # 3. This certificate's entry.
    fp = hashlib.sha256(certificate_der).hexdigest()
    try:
        entries = [entry for entry in header["recipients"] if entry.get("fp") == fp]
        if not entries:
            raise Refused("recipient")
        entry = entries[0]
        alg, wrapped = entry["alg"], unb64(entry["wk"])
        if alg == "ECDH-ES+HKDF-SHA256+A256KW":
            curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "secp256k1": ec.SECP256K1()}[entry["crv"]]
            epk = unb64(entry["epk"])
        elif alg not in ("SM2", "RSA-OAEP-256"):
            raise Refused("header")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise Refused("header") from None
    # 4. The data key.
    if alg == "SM2":
        (work / "wk.der").write_bytes(wrapped)
        (work / "data.key").unlink(missing_ok=True)
        done = openssl("pkeyutl", "-decrypt", "-inkey", key_file, "-in", work / "wk.der", "-out", work / "data.key",
                       check=False)
        if done.returncode != 0:
            raise Refused("unwrap data key")
        data_key = (work / "data.key").read_bytes()
    else:
        private = serialization.load_pem_private_key(key_file.read_bytes(), None)
        try:
            if alg == "RSA-OAEP-256":
                data_key = private.decrypt(wrapped, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))  # type: ignore[union-attr]
            else:
                shared = private.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, epk))  # type: ignore[union-attr]
                info = b"evidence-ledger/seal/ECDH-ES+HKDF-SHA256+A256KW" + b"\x00\x01" + bytes.fromhex(fp) + epk
                data_key = aes_key_unwrap(HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(shared), wrapped)
        except (ValueError, InvalidUnwrap):
            raise Refused("unwrap data key") from None
    if len(data_key) != key_bytes:
        raise Refused("unwrap data key")
    # 5. The content, the prefix and the caller's aad authenticated.
    associated = envelope[:11 + length] + aad
    body, tag = envelope[11 + length:-16], envelope[-16:]
    try:
        if header["enc"] == "SM4-GCM":
            return bytes(gmssl_pyx.sm4_gcm_decrypt(data_key, nonce, associated, body, tag))
        return AESGCM(data_key).decrypt(nonce, body + tag, associated)
    except (gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError, ValueError):
        raise Refused("decrypt content") from None


def seal_per_docs(content: bytes, cert_file: Path, certificate_der: bytes, work: Path, *, enc: str = "SM4-GCM") -> bytes:
    """An envelope for one SM2 recipient made from the page alone: the key wrapped by
    `openssl pkeyutl -encrypt`, the content by GmSSL's SM4-GCM (or AES-256-GCM)."""
    data_key = bytes(range(16 if enc == "SM4-GCM" else 32))
    (work / "data.key").write_bytes(data_key)
    openssl("x509", "-in", cert_file, "-noout", "-pubkey", "-out", work / "public.pem")
    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", work / "public.pem", "-in", work / "data.key", "-out", work / "wk.der")
    nonce = bytes(range(100, 112))
    entry = {"alg": "SM2", "fp": hashlib.sha256(certificate_der).hexdigest(), "wk": b64((work / "wk.der").read_bytes())}
    header = json.dumps({"enc": enc, "iv": b64(nonce), "recipients": [entry]}, separators=(",", ":")).encode()
    prefix = b"ELSEAL\x01" + struct.pack(">I", len(header)) + header
    if enc == "SM4-GCM":
        body, tag = gmssl_pyx.sm4_gcm_encrypt(data_key, nonce, prefix, content)
        return prefix + bytes(body) + bytes(tag)
    return prefix + AESGCM(data_key).encrypt(nonce, content, prefix)


def _code_names(code: CodeType) -> Iterator[str]:
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _code_names(constant)


@pytest.mark.parametrize("written", [open_per_docs, seal_per_docs, Refused])
def test_the_second_implementation_uses_nothing_of_the_first(written: Any) -> None:
    # Every global the doc-only code names, looked up here: none is client/'s.
    code = written.__init__.__code__ if isinstance(written, type) else written.__code__
    for name in set(_code_names(code)):
        value = globals().get(name)
        origin = getattr(value, "__module__", None) or getattr(value, "__name__", "")
        assert not str(origin).startswith("client"), f"{written.__name__} uses {name} from {origin}"


# -- helpers to read and change an envelope ------------------------------------------------


def split(envelope: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    (length,) = struct.unpack(">I", envelope[7:11])
    return envelope[:7], json.loads(envelope[11:11 + length]), envelope[11 + length:]


def rewrite(envelope: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    head, header, body = split(envelope)
    change(header)
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return head + struct.pack(">I", len(raw)) + raw + body


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def tlv(tag: int, value: bytes) -> bytes:
    assert len(value) < 0x80  # every field of an SM2 ciphertext of a 16-byte key
    return bytes([tag, len(value)]) + value


def sm2_fields(wrapped: bytes) -> list[bytes]:
    """The contents of x, y, C3, C2 (short-form DER, as every SM2 ciphertext here is)."""
    assert wrapped[0] == 0x30 and wrapped[1] == len(wrapped) - 2
    fields, offset = [], 2
    while offset < len(wrapped):
        size = wrapped[offset + 1]
        fields.append(wrapped[offset + 2:offset + 2 + size])
        offset += 2 + size
    return fields


def sm2_join(x: bytes, y: bytes, c3: bytes, c2: bytes) -> bytes:
    body = tlv(0x02, x) + tlv(0x02, y) + tlv(0x04, c3) + tlv(0x04, c2)
    return tlv(0x30, body)


def integer(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big")  # minimal, with a sign octet when needed


def entry_of(header: dict[str, Any], who: Person) -> dict[str, Any]:
    fp = hashlib.sha256(who.der).hexdigest()
    (entry,) = [e for e in header["recipients"] if e["fp"] == fp]
    return entry


# -- round trips ---------------------------------------------------------------------------


def test_an_sm2_recipient_alone_gets_sm2_and_sm4_gcm(people: dict[str, Person], tmp_path: Path) -> None:
    clerk = people["sm2"]
    envelope = seal.seal_envelope(CONTENT, [clerk.certificate], aad=b"case 2026-17")
    _, header, body = split(envelope)
    assert header["enc"] == seal.SM4_GCM == "SM4-GCM"
    (entry,) = header["recipients"]
    assert set(entry) == {"alg", "fp", "wk"} and entry["alg"] == "SM2"
    x, y, c3, c2 = sm2_fields(unb64(entry["wk"]))
    assert len(c3) == 32 and len(c2) == 16 and len(body) == len(CONTENT) + 16
    assert seal.open_envelope(envelope, clerk.key, clerk.certificate, aad=b"case 2026-17") == CONTENT
    assert open_per_docs(envelope, clerk.key_file, clerk.der, tmp_path, aad=b"case 2026-17") == CONTENT


def test_mixed_recipients_each_open_with_both_openers(people: dict[str, Person], tmp_path: Path) -> None:
    chosen = [people[k] for k in ("sm2", "rsa", "p256", "sm2b")]
    envelope = seal.seal_envelope(CONTENT, [p.certificate for p in chosen])
    _, header, _ = split(envelope)
    assert header["enc"] == "SM4-GCM"  # one SM2 recipient is enough
    assert [e["alg"] for e in header["recipients"]] == ["SM2", "RSA-OAEP-256", "ECDH-ES+HKDF-SHA256+A256KW", "SM2"]
    assert len(unb64(entry_of(header, people["p256"])["wk"])) == 24  # RFC 3394 of a 16-byte key
    assert seal.envelope_recipients(envelope) == [seal.fingerprint(p.certificate) for p in chosen]
    for who in chosen:
        assert seal.open_envelope(envelope, who.key, who.certificate) == CONTENT
        assert open_per_docs(envelope, who.key_file, who.der, tmp_path) == CONTENT


def test_empty_content_is_sealed_and_authenticated(people: dict[str, Person]) -> None:
    # (Not through the doc-only opener: gmssl_pyx 2.1.0 refuses an empty SM4-GCM input.)
    clerk = people["sm2"]
    envelope = seal.seal_envelope(b"", [clerk.certificate])
    assert seal.open_envelope(envelope, clerk.key, clerk.certificate) == b""
    with pytest.raises(seal.EnvelopeTampered):
        seal.open_envelope(flip(envelope, len(envelope) - 1), clerk.key, clerk.certificate)


def test_what_openssl_and_gmssl_seal_per_the_docs_opens(people: dict[str, Person], tmp_path: Path) -> None:
    # The other direction: openssl's SM2 ciphertexts (read strictly: minimal INTEGERs, C1
    # on the curve) and GmSSL's SM4-GCM, and an SM2 entry beside AES-256-GCM content (the
    # format allows any entry with either cipher; only the sealer's rule pairs them).
    clerk = people["sm2"]
    for enc in ("SM4-GCM", "A256GCM", "SM4-GCM", "SM4-GCM"):
        envelope = seal_per_docs(CONTENT, clerk.cert_file, clerk.der, tmp_path, enc=enc)
        assert seal.Envelope.parse(envelope).content_cipher == enc
        assert seal.open_envelope(envelope, clerk.key, clerk.certificate) == CONTENT


def test_many_gmssl_ciphertexts_pass_the_strict_reading(people: dict[str, Person]) -> None:
    # x1 or y1 with a leading zero octet (one in 128 envelopes) is a shorter INTEGER; a
    # sealer that wrote a non-minimal one would make envelopes the opener refuses.
    clerk = people["sm2"]
    lengths = set()
    for _ in range(300):
        envelope = seal.seal_envelope(b"x", [clerk.certificate])
        lengths.add(len(unb64(split(envelope)[1]["recipients"][0]["wk"])))
        assert seal.open_envelope(envelope, clerk.key, clerk.certificate) == b"x"
    assert max(lengths) <= 124 and len(lengths) > 1


# -- the content-cipher rule -----------------------------------------------------------------


def test_rsa_and_ec_recipients_get_sm4_gcm_when_asked(people: dict[str, Person], tmp_path: Path) -> None:
    chosen = [people["rsa"], people["p256"]]
    assert seal.choose_content_cipher([p.certificate for p in chosen]) == "A256GCM"
    assert seal.choose_content_cipher([p.certificate for p in chosen], "SM4-GCM") == "SM4-GCM"
    plain = seal.seal_envelope(CONTENT, [p.certificate for p in chosen])
    assert split(plain)[1]["enc"] == "A256GCM"
    envelope = seal.seal_envelope(CONTENT, [p.certificate for p in chosen], content_cipher=seal.SM4_GCM)
    assert split(envelope)[1]["enc"] == "SM4-GCM"
    for who in chosen:
        assert seal.open_envelope(envelope, who.key, who.certificate) == CONTENT
        assert open_per_docs(envelope, who.key_file, who.der, tmp_path) == CONTENT


def test_aes_for_an_sm2_recipient_is_refused(people: dict[str, Person]) -> None:
    clerk = people["sm2"]
    with pytest.raises(seal.UnsupportedRecipient, match="SM4-GCM") as failure:
        seal.seal_envelope(CONTENT, [people["rsa"].certificate, clerk.certificate], content_cipher="A256GCM")
    assert failure.value.fingerprint == seal.fingerprint(clerk.certificate)
    assert "national algorithms" in failure.value.reason


@pytest.mark.parametrize("asked", ["A128GCM", "sm4-gcm", "SM4-CBC"])
def test_an_unknown_content_cipher_is_refused(people: dict[str, Person], asked: str) -> None:
    with pytest.raises(seal.EnvelopeError, match="is not one of A256GCM, SM4-GCM"):
        seal.seal_envelope(CONTENT, [people["p256"].certificate], content_cipher=asked)


def test_a_data_key_of_the_other_cipher_is_refused(people: dict[str, Person]) -> None:
    with pytest.raises(seal.EnvelopeError, match="SM4-GCM data key must be 16 bytes"):
        seal.seal_with(CONTENT, [people["sm2"].certificate], aad=b"", data_key=bytes(32), nonce=bytes(12),
                       ephemeral_key=ec.generate_private_key)


# -- who can open ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed(people: dict[str, Person]) -> bytes:
    """For two SM2 recipients and a P-256 one."""
    return seal.seal_envelope(CONTENT, [people["sm2"].certificate, people["sm2b"].certificate, people["p256"].certificate])


def test_a_certificate_not_named_cannot_open(sealed: bytes, people: dict[str, Person], tmp_path: Path) -> None:
    outsider = people["outsider"]
    with pytest.raises(seal.NotARecipient) as failure:
        seal.open_envelope(sealed, outsider.key, outsider.certificate)
    assert failure.value.fingerprint == seal.fingerprint(outsider.certificate)
    with pytest.raises(Refused) as refused:
        open_per_docs(sealed, outsider.key_file, outsider.der, tmp_path)
    assert refused.value.step == "recipient"


def test_another_sm2_key_with_the_recipients_certificate(sealed: bytes, people: dict[str, Person], tmp_path: Path) -> None:
    # The SDK checks the key against the certificate first; an opener that does not still
    # cannot unwrap: C3 binds the plaintext to the key's shared point.
    clerk, outsider = people["sm2"], people["outsider"]
    with pytest.raises(seal.EnvelopeError, match="does not belong to the certificate"):
        seal.open_envelope(sealed, outsider.key, clerk.certificate)
    with pytest.raises(Refused) as refused:
        open_per_docs(sealed, outsider.key_file, clerk.der, tmp_path)
    assert refused.value.step == "unwrap data key"


@pytest.mark.parametrize("kind", ["p256", "rsa"])
def test_a_key_of_another_kind_does_not_open_an_sm2_entry(sealed: bytes, people: dict[str, Person], kind: str) -> None:
    with pytest.raises(seal.EnvelopeError, match="does not belong to the certificate"):
        seal.open_envelope(sealed, people[kind].key, people["sm2"].certificate)
    with pytest.raises(seal.EnvelopeError, match="does not belong to the certificate"):
        seal.open_envelope(sealed, people["sm2"].key, people["p256"].certificate)


# -- tampering: each refused by both openers, at the step the page names ------------------------


def refused_by_both(envelope: bytes, who: Person, work: Path) -> tuple[str, str]:
    """(client/envelope.py's step or field, the doc-only opener's step)."""
    with pytest.raises(seal.EnvelopeError) as failure:
        seal.open_envelope(envelope, who.key, who.certificate)
    error = failure.value
    ours = error.step if isinstance(error, seal.EnvelopeTampered) else getattr(error, "field", type(error).__name__)
    with pytest.raises(Refused) as refused:
        open_per_docs(envelope, who.key_file, who.der, work)
    return ours, refused.value.step


@pytest.mark.parametrize("where", ["first ciphertext byte", "last ciphertext byte", "first tag byte", "last tag byte"])
def test_changed_ciphertext_or_tag(sealed: bytes, people: dict[str, Person], tmp_path: Path, where: str) -> None:
    index = {"first ciphertext byte": len(sealed) - len(CONTENT) - 16, "last ciphertext byte": len(sealed) - 17,
             "first tag byte": len(sealed) - 16, "last tag byte": len(sealed) - 1}[where]
    for who in (people["sm2"], people["p256"]):
        assert refused_by_both(flip(sealed, index), who, tmp_path) == ("decrypt content", "decrypt content")


def test_other_aad(people: dict[str, Person], tmp_path: Path) -> None:
    clerk = people["sm2"]
    envelope = seal.seal_envelope(CONTENT, [clerk.certificate], aad=b"contract 0x12")
    with pytest.raises(seal.EnvelopeTampered) as failure:
        seal.open_envelope(envelope, clerk.key, clerk.certificate, aad=b"contract 0x13")
    assert failure.value.step == "decrypt content"
    with pytest.raises(Refused) as refused:
        open_per_docs(envelope, clerk.key_file, clerk.der, tmp_path, aad=b"contract 0x13")
    assert refused.value.step == "decrypt content"


def test_every_header_byte_is_authenticated(people: dict[str, Person], tmp_path: Path) -> None:
    # SDK: every byte. The doc-only opener runs openssl per try: every seventh byte.
    clerk = people["sm2"]
    envelope = seal.seal_envelope(CONTENT, [clerk.certificate])
    (length,) = struct.unpack(">I", envelope[7:11])
    for index in range(11, 11 + length):
        with pytest.raises(seal.EnvelopeError):
            seal.open_envelope(flip(envelope, index), clerk.key, clerk.certificate)
        if index % 7 == 0:
            with pytest.raises(Refused):
                open_per_docs(flip(envelope, index), clerk.key_file, clerk.der, tmp_path)


def test_the_enc_field_cannot_be_downgraded(sealed: bytes, people: dict[str, Person], tmp_path: Path) -> None:
    # A256GCM needs a 32-byte key: the 16-byte C2 no longer fits the header (malformed);
    # the doc-only opener, lenient, unwraps 16 bytes where 32 are due.
    altered = rewrite(sealed, lambda h: h.update(enc="A256GCM"))
    assert refused_by_both(altered, people["sm2"], tmp_path) == ("recipients.wk", "unwrap data key")


def change_wk(envelope: bytes, who: Person, change: Callable[[bytes], bytes]) -> bytes:
    def alter(header: dict[str, Any]) -> None:
        entry = entry_of(header, who)
        entry["wk"] = b64(change(unb64(entry["wk"])))

    return rewrite(envelope, alter)


@pytest.mark.parametrize("part", ["C2", "C3"])
def test_changed_sm2_ciphertext_fails_unwrap(sealed: bytes, people: dict[str, Person], tmp_path: Path, part: str) -> None:
    clerk = people["sm2"]

    def change(wrapped: bytes) -> bytes:
        x, y, c3, c2 = sm2_fields(wrapped)
        return sm2_join(x, y, flip(c3, 7), c2) if part == "C3" else sm2_join(x, y, c3, flip(c2, 3))

    assert refused_by_both(change_wk(sealed, clerk, change), clerk, tmp_path) == ("unwrap data key", "unwrap data key")


def test_another_valid_c1_fails_unwrap(sealed: bytes, people: dict[str, Person], tmp_path: Path) -> None:
    # C1 from another SM2 ciphertext: a point of the curve, so well-formed, but the shared
    # point differs and C3 does not match.
    clerk = people["sm2"]
    other_x, other_y, _, _ = sm2_fields(unb64(split(seal.seal_envelope(b"x", [clerk.certificate]))[1]["recipients"][0]["wk"]))

    def change(wrapped: bytes) -> bytes:
        _, _, c3, c2 = sm2_fields(wrapped)
        return sm2_join(other_x, other_y, c3, c2)

    assert refused_by_both(change_wk(sealed, clerk, change), clerk, tmp_path) == ("unwrap data key", "unwrap data key")


def test_swapped_sm2_ciphertexts_fail_unwrap(sealed: bytes, people: dict[str, Person], tmp_path: Path) -> None:
    def swap(header: dict[str, Any]) -> None:
        first, second = entry_of(header, people["sm2"]), entry_of(header, people["sm2b"])
        first["wk"], second["wk"] = second["wk"], first["wk"]

    altered = rewrite(sealed, swap)
    for who in (people["sm2"], people["sm2b"]):
        assert refused_by_both(altered, who, tmp_path) == ("unwrap data key", "unwrap data key")


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda x, y, c3, c2: sm2_join(x, integer(int.from_bytes(y, "big") + 1), c3, c2), "not a point of sm2p256v1"),
        (lambda x, y, c3, c2: sm2_join(b"\x00" + x if x[0] >= 0x80 else b"\x00\x00" + x, y, c3, c2), "minimal"),
        (lambda x, y, c3, c2: sm2_join(x, y, c3[:31], c2), "C3 is 31 bytes"),
        (lambda x, y, c3, c2: sm2_join(x, y, c3, c2 + b"\x00"), "C2 is 17 bytes"),
        (lambda x, y, c3, c2: sm2_join(x, y, c2, c3), "C3 is 16 bytes"),  # C1C2C3 order
        (lambda x, y, c3, c2: sm2_join(x, y, c3, c2) + b"\x00", "not one DER SEQUENCE"),
        (lambda x, y, c3, c2: tlv(0x30, tlv(0x02, x) + tlv(0x02, y) + tlv(0x04, c3)), "C1C3C2"),
        (lambda x, y, c3, c2: b"\x04" + x[-32:] + y[-32:] + c3 + c2, "not (one )?DER"),  # the raw form
        (lambda x, y, c3, c2: b"\x30\x80" + sm2_join(x, y, c3, c2)[2:] + b"\x00\x00", "indefinite length"),
        (lambda x, y, c3, c2: bytes(161), "longer than 160"),
    ],
)
def test_malformed_sm2_ciphertext_is_named(sealed: bytes, people: dict[str, Person], tmp_path: Path,
                                           change: Callable[..., bytes], reason: str) -> None:
    clerk = people["sm2"]
    altered = change_wk(sealed, clerk, lambda wrapped: change(*sm2_fields(wrapped)))
    with pytest.raises(seal.MalformedEnvelope, match=reason) as failure:
        seal.envelope_recipients(altered)
    assert failure.value.field == "recipients.wk"
    # OpenSSL is laxer: it decrypts a non-minimal INTEGER, an indefinite length or a byte
    # after the SEQUENCE to the right key, and then the changed header fails the tag.
    with pytest.raises(Refused) as refused:
        open_per_docs(altered, clerk.key_file, clerk.der, tmp_path)
    assert refused.value.step in ("unwrap data key", "decrypt content")


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda e: e.update(crv="P-256"), "recipients"),        # an SM2 entry has exactly alg, fp, wk
        (lambda e: e.update(alg="SM2-C1C2C3"), "recipients.alg"),
        (lambda e: e.update(wk=e["wk"] + "A"), "recipients.wk"),
    ],
)
def test_sm2_entry_shape(sealed: bytes, people: dict[str, Person], change: Callable[[dict[str, Any]], None], field: str) -> None:
    altered = rewrite(sealed, lambda h: change(entry_of(h, people["sm2"])))
    with pytest.raises(seal.MalformedEnvelope) as failure:
        seal.envelope_recipients(altered)
    assert failure.value.field == field


# -- the known-answer vectors of docs/envelopes.md ---------------------------------------------

FIXED_TIME = datetime(2026, 1, 1, tzinfo=UTC)
# SHA-256 of the SM4-GCM envelope of docs/envelopes.md. It changes only if the format does.
SM4_KNOWN_ANSWER_SHA256 = "db8cd9d52e00494c679b5f58455b9ac3d228550bfc3e87b10f8d4d1f34d0eae9"


def test_sm4_gcm_known_answer(tmp_path: Path) -> None:
    key = ec.derive_private_key(0x5EA1ED, ec.SECP256R1())
    cert = devpki.make_root("Known-answer recipient", key, not_before=FIXED_TIME, not_after=FIXED_TIME, serial=1)
    envelope = seal.seal_with(b"known answer", [cert], aad=b"", data_key=bytes(range(16)), nonce=bytes(range(12)),
                              ephemeral_key=lambda curve: ec.derive_private_key(0xE9E9E9, curve), content_cipher="SM4-GCM")
    assert hashlib.sha256(envelope).hexdigest() == SM4_KNOWN_ANSWER_SHA256
    assert envelope[-28:].hex() == "fc28b18ca74ae46e8ceb113f1ddb62f6c82dda982ebc5f5defbb44bb"
    # RFC 3394 of a 16-byte key under the KEK the AES vector documents.
    kek = bytes.fromhex("b02359db65651e8348e8c20b3aec6b8bee574180c9e99a2cfe84c0d2a35c7016")
    assert split(envelope)[1]["recipients"][0]["wk"] == b64(aes_key_wrap(kek, bytes(range(16))))
    assert seal.open_envelope(envelope, key, cert) == b"known answer"
    key_file = tmp_path / "kat.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    assert open_per_docs(envelope, key_file, cert.public_bytes(serialization.Encoding.DER), tmp_path) == b"known answer"


# The SM2 opening vector of docs/envelopes.md: made once (openssl genpkey -algorithm SM2,
# a self-signed certificate, seal_with as in the SM4-GCM vector); SM2's random k means it
# cannot be made again, only opened.
SM2_VECTOR_KEY = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgVor1KhchBY4STy9x
KtPe5AOLuGJe3RbMUZT/3lNB8n2hRANCAASs7AyUqFNjkduNFxrD/R11RzgIWvlw
IqGkgwzlBi5CiJun0mtfyt3u9jEqSddfk16YAxvnpJUzmBh2HNR9XMgE
-----END PRIVATE KEY-----
"""
SM2_VECTOR_CERT = b"""-----BEGIN CERTIFICATE-----
MIIBMTCB2AIBAjAKBggqgRzPVQGDdTAlMSMwIQYDVQQDDBpLbm93bi1hbnN3ZXIg
U00yIHJlY2lwaWVudDAeFw0yNjEyMDcxNzM5NTZaFw0zNjEyMDQxNzM5NTZaMCUx
IzAhBgNVBAMMGktub3duLWFuc3dlciBTTTIgcmVjaXBpZW50MFkwEwYHKoZIzj0C
AQYIKoEcz1UBgi0DQgAErOwMlKhTY5HbjRcaw/0ddUc4CFr5cCKhpIMM5QYuQoib
p9JrX8rd7vYxKknXX5NemAMb56SVM5gYdhzUfVzIBDAKBggqgRzPVQGDdQNIADBF
AiBbc0IIOom1ASlHhTm+PEVygpPDJTaHNioE/6/sVxUNIAIhANdozWAlrX2KZN8f
Z+H5s0S7fXDBybhjyrmXc2R7xJGj
-----END CERTIFICATE-----
"""
SM2_VECTOR_HEADER = (
    b'{"enc":"SM4-GCM","iv":"AAECAwQFBgcICQoL","recipients":[{"alg":"SM2","fp":"3e8f13eac0ee8eaf2de5d7843070f4bc5'
    b'dbd86d08c4b8e7dc9f1d231f39a1304","wk":"MHgCIBKYhWitm11msX2n89kMaYr9_dg2kz9E9bqmbHDejKFwAiAO9ND9xQGgJMYkoHZ-WOzH'
    b'4vDaaaf7-jiQtJY7QzVfxQQgPEBh4GFAoTOz01nmXyTgXaS9-1sS_wpfXq8DVmohaZUEELbJW2QOL6UMQGwmQcL2P6g"}]}'
)
SM2_VECTOR = (bytes.fromhex("454c5345414c0100000139") + SM2_VECTOR_HEADER
              + bytes.fromhex("fc28b18ca74ae46e8ceb113f122e99f029c689ab69e5d60fc876f8d8"))


def test_sm2_opening_vector(tmp_path: Path) -> None:
    assert len(SM2_VECTOR) == 352 and len(SM2_VECTOR_HEADER) == 313
    cert = x509.load_pem_x509_certificate(SM2_VECTOR_CERT)
    assert seal.fingerprint(cert).hex() == "3e8f13eac0ee8eaf2de5d7843070f4bc5dbd86d08c4b8e7dc9f1d231f39a1304"
    assert seal.open_envelope(SM2_VECTOR, SM2PrivateKey.from_pem(SM2_VECTOR_KEY), cert) == b"known answer"
    key_file = tmp_path / "sm2.key"
    key_file.write_bytes(SM2_VECTOR_KEY)
    assert open_per_docs(SM2_VECTOR, key_file, cert.public_bytes(serialization.Encoding.DER), tmp_path) == b"known answer"
    # The wrapped key is the documented data key.
    (tmp_path / "wk.der").write_bytes(unb64(json.loads(SM2_VECTOR_HEADER)["recipients"][0]["wk"]))
    openssl("pkeyutl", "-decrypt", "-inkey", key_file, "-in", tmp_path / "wk.der", "-out", tmp_path / "data.key")
    assert (tmp_path / "data.key").read_bytes() == bytes(range(16))
