"""RFC 3161 tokens: evidence.timestamp's verifier on good tokens, and each check failing at
its named step; the request builder and response parser; the TSA's pure token builder.

Tokens are made by client/tsa_server.py's `Authority` (the code `ledger tsa serve` runs)
with fixed EC keys, fixed serials and a fixed clock, so every token here is the same
bytes on every run (ECDSA with RFC 6979 nonces). Tokens the TSA would never make (a
wrong ESSCertID, a missing attribute) are re-signed after surgery on their asn1crypto
structure. openssl's view of the same tokens is in tests/integration/test_tsa.py.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import algos, cms, tsp
from asn1crypto.x509 import Certificate, GeneralName
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from client import devpki, tsa_server as tsa
from evidence import timestamp as ts
from evidence.timestamp import TimestampError, TimestampRefused, TimestampRequest

BASE = datetime(2026, 1, 1, tzinfo=UTC)
GEN_TIME = BASE + timedelta(days=30, seconds=12, milliseconds=345)
BLOCK_TIME = int(GEN_TIME.timestamp())  # the block made the same second
DIGEST = hashlib.sha256(b"batch root").digest()
NONCE = 0x1234_5678_9ABC_DEF0
TSA_EKU = [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True)]


def fixed_key(scalar: int, curve: ec.EllipticCurve = ec.SECP256R1()) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(scalar, curve)


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: devpki.PrivateKey


@dataclass
class Pki:
    root: Issuer
    other_root: Issuer
    intermediate: Issuer
    tsa_key: devpki.PrivateKey
    tsa_cert: x509.Certificate
    rsa_root: Issuer
    rsa_tsa_key: rsa.RSAPrivateKey
    p384_key: ec.EllipticCurvePrivateKey

    def tsa_certificate(self, issuer: Issuer | None = None, key: devpki.PrivateKey | None = None, *,
                        extensions: list[tuple[x509.ExtensionType, bool]] | None = None, serial: int = 7,
                        not_after: datetime | None = None, **options: object) -> x509.Certificate:
        issuer = issuer or self.root
        return devpki.issue_certificate(
            issuer.cert, issuer.key, (key or self.tsa_key).public_key(), common_name="Test TSA",
            organization="Trading Center", key_usage={"digital_signature", "content_commitment"},
            extra_extensions=TSA_EKU if extensions is None else extensions, serial=serial,
            not_before=BASE, not_after=not_after or BASE + timedelta(days=365), **options,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def pki() -> Pki:
    root_key, other_key, inter_key = fixed_key(0x1001), fixed_key(0x1002), fixed_key(0x1003)
    validity = {"not_before": BASE - timedelta(days=365), "not_after": BASE + timedelta(days=3650)}
    root = Issuer(devpki.make_root("Consortium Root", root_key, serial=1, **validity), root_key)  # type: ignore[arg-type]
    other = Issuer(devpki.make_root("Consortium Root", other_key, serial=1, **validity), other_key)  # type: ignore[arg-type]
    inter_cert = devpki.issue_certificate(root.cert, root_key, inter_key.public_key(), common_name="Issuing CA",
                                          is_ca=True, path_length=0, serial=2, **validity)  # type: ignore[arg-type]
    rsa_root_key = devpki.generate_key("rsa2048")  # RSA: generated once per module (no fixed-key helper)
    rsa_root = Issuer(devpki.make_root("RSA Root", rsa_root_key, serial=3, **validity), rsa_root_key)  # type: ignore[arg-type]
    tsa_key = fixed_key(0x2001)
    tsa_cert = devpki.issue_certificate(
        root.cert, root_key, tsa_key.public_key(), common_name="Test TSA", organization="Trading Center",
        key_usage={"digital_signature", "content_commitment"}, extra_extensions=TSA_EKU, serial=7,
        not_before=BASE, not_after=BASE + timedelta(days=365))
    rsa_tsa_key = devpki.generate_key("rsa2048")
    assert isinstance(rsa_tsa_key, rsa.RSAPrivateKey)
    return Pki(root, other, Issuer(inter_cert, inter_key), tsa_key, tsa_cert, rsa_root, rsa_tsa_key,
               fixed_key(0x2002, ec.SECP384R1()))


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def authority(tmp_path: Path, key: devpki.PrivateKey, cert: x509.Certificate, chain: tuple[x509.Certificate, ...],
              at: datetime = GEN_TIME) -> tsa.Authority:
    return tsa.Authority(key, cert, (cert, *chain), tsa.SerialCounter(tmp_path / "serial"),
                         tsa.TokenLog(tmp_path / "tokens.jsonl"), clock=Clock(at))


def make_token(tmp_path: Path, pki: Pki, *, key: devpki.PrivateKey | None = None, cert: x509.Certificate | None = None,
               chain: tuple[x509.Certificate, ...] | None = None, at: datetime = GEN_TIME, digest: bytes = DIGEST,
               cert_req: bool = True) -> bytes:
    request = TimestampRequest(digest, nonce=NONCE, cert_req=cert_req)
    response, serial = authority(tmp_path, key or pki.tsa_key, cert or pki.tsa_cert,
                                 chain if chain is not None else (pki.root.cert,), at).answer(request.to_der())
    assert serial is not None
    return ts.parse_response(response, request)


def verify(token: bytes, pki: Pki, **options: object) -> ts.VerifiedTimestamp:
    roots = options.pop("roots", [pki.root.cert])
    return ts.verify_timestamp(token, options.pop("digest", DIGEST), roots, **options)  # type: ignore[arg-type]


def refused(step: str, words: str, call: Callable[[], object]) -> TimestampError:
    with pytest.raises(TimestampError) as caught:
        call()
    assert caught.value.step == step, str(caught.value)
    assert words in caught.value.reason, str(caught.value)
    return caught.value


# -- surgery: tokens the TSA would not make, re-signed with its key --------------------------


def parts(token: bytes) -> tuple[cms.ContentInfo, cms.SignedData, cms.SignerInfo]:
    info = cms.ContentInfo.load(token)
    signed = info["content"]
    return info, signed, signed["signer_infos"][0]


def resign(token: bytes, key: devpki.PrivateKey,
           change: Callable[[list[cms.CMSAttribute]], list[cms.CMSAttribute]]) -> bytes:
    """The token with its signed attributes changed by `change`, signed again by `key`."""
    info, _, signer = parts(token)
    attributes = cms.CMSAttributes(change([cms.CMSAttribute.load(a.dump()) for a in signer["signed_attrs"]]))
    data = attributes.dump(force=True)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    else:
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    signer["signed_attrs"] = attributes
    signer["signature"] = signature
    return bytes(info.dump(force=True))


def without(kind: str) -> Callable[[list[cms.CMSAttribute]], list[cms.CMSAttribute]]:
    return lambda attributes: [a for a in attributes if a["type"].native != kind]


def replaced(kind: str, value: object) -> Callable[[list[cms.CMSAttribute]], list[cms.CMSAttribute]]:
    def change(attributes: list[cms.CMSAttribute]) -> list[cms.CMSAttribute]:
        return [cms.CMSAttribute({"type": kind, "values": [value]}) if a["type"].native == kind else a
                for a in attributes]
    return change


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# -- good tokens -----------------------------------------------------------------------------


def test_a_token_from_our_tsa_verifies_and_says_when_and_who(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki)
    verified = verify(token, pki, not_after=BLOCK_TIME)
    assert verified.time == GEN_TIME
    assert verified.accuracy == tsa.ACCURACY
    assert verified.serial == 1
    assert verified.policy == tsa.TSA_POLICY_OID
    assert verified.nonce == NONCE
    assert verified.tsa_subject == "CN=Test TSA,O=Trading Center"
    assert verified.chain == (pki.tsa_cert, pki.root.cert) and verified.root == pki.root.cert
    assert (verified.digest_algorithm, verified.signature_algorithm) == ("sha256", "ecdsa")
    # Fixed keys, serial and clock, deterministic ECDSA: the same token on every run.
    (tmp_path / "again").mkdir()
    assert make_token(tmp_path / "again", pki) == token


def test_rsa_and_p384_tsas_verify(tmp_path: Path, pki: Pki) -> None:
    rsa_cert = pki.tsa_certificate(pki.rsa_root, pki.rsa_tsa_key)
    (tmp_path / "rsa").mkdir()
    token = make_token(tmp_path / "rsa", pki, key=pki.rsa_tsa_key, cert=rsa_cert, chain=(pki.rsa_root.cert,))
    assert verify(token, pki, roots=[pki.rsa_root.cert]).signature_algorithm == "rsa"

    p384_cert = pki.tsa_certificate(key=pki.p384_key)
    (tmp_path / "p384").mkdir()
    token = make_token(tmp_path / "p384", pki, key=pki.p384_key, cert=p384_cert)
    assert verify(token, pki).digest_algorithm == "sha384"


def test_an_rsassa_pss_token_verifies(tmp_path: Path, pki: Pki) -> None:
    rsa_cert = pki.tsa_certificate(pki.rsa_root, pki.rsa_tsa_key)
    token = make_token(tmp_path, pki, key=pki.rsa_tsa_key, cert=rsa_cert, chain=(pki.rsa_root.cert,))
    info, _, signer = parts(token)
    signer["signature_algorithm"] = {"algorithm": "rsassa_pss", "parameters": {
        "hash_algorithm": {"algorithm": "sha256"},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
        "salt_length": 32}}
    data = cms.CMSAttributes.load(b"\x31" + signer["signed_attrs"].dump()[1:]).dump()
    signer["signature"] = pki.rsa_tsa_key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    verified = verify(bytes(info.dump(force=True)), pki, roots=[pki.rsa_root.cert])
    assert verified.signature_algorithm == "rsassa-pss"


def test_a_tsa_under_an_intermediate_ca_verifies_with_the_root(tmp_path: Path, pki: Pki) -> None:
    cert = pki.tsa_certificate(pki.intermediate)
    token = make_token(tmp_path, pki, cert=cert, chain=(pki.intermediate.cert, pki.root.cert))
    assert verify(token, pki).chain == (cert, pki.intermediate.cert, pki.root.cert)


def test_a_token_without_certificates_verifies_with_the_tsa_certificate_given(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki, cert_req=False)
    refused("signer", "carries no certificates", lambda: verify(token, pki))
    assert verify(token, pki, untrusted=[pki.tsa_cert]).serial == 1


# -- 1. structure ---------------------------------------------------------------------------


def test_what_is_not_a_token_fails_at_structure(tmp_path: Path, pki: Pki) -> None:
    refused("structure", "not a DER CMS ContentInfo", lambda: verify(b"\x30\x03\x02\x01", pki))
    refused("structure", "more than the", lambda: verify(b"\x30" * (ts.MAX_TOKEN_BYTES + 1), pki))
    token = make_token(tmp_path, pki)
    refused("structure", "not a DER CMS ContentInfo", lambda: verify(token + b"\x00", pki))
    data = cms.ContentInfo({"content_type": "data", "content": b"hello"}).dump()
    refused("structure", "not a SignedData", lambda: verify(data, pki))


def test_a_second_signature_fails_at_structure(tmp_path: Path, pki: Pki) -> None:
    info, signed, signer = parts(make_token(tmp_path, pki))
    signed["signer_infos"] = [signer, cms.SignerInfo.load(signer.dump())]
    refused("structure", "has 2 signatures", lambda: verify(bytes(info.dump(force=True)), pki))


# -- 2. message imprint ---------------------------------------------------------------------


def test_another_digest_fails_at_message_imprint(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki)
    other = hashlib.sha256(b"another batch").digest()
    error = refused("message imprint", f"not {other.hex()}", lambda: verify(token, pki, digest=other))
    assert DIGEST.hex() in error.reason


def test_a_sha512_imprint_fails_at_message_imprint(tmp_path: Path, pki: Pki) -> None:
    request = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha512"}, "hashed_message": hashlib.sha512(b"x").digest()}, "cert_req": True})
    response, _ = authority(tmp_path, pki.tsa_key, pki.tsa_cert, (pki.root.cert,)).answer(request.dump())
    token = ts.parse_response(response)
    refused("message imprint", "sha512, not SHA-256", lambda: verify(token, pki))


def test_a_changed_tstinfo_fails_at_signed_attributes(tmp_path: Path, pki: Pki) -> None:
    # The imprint changed inside the signed content: step 2 passes for the new digest,
    # the message-digest attribute no longer matches.
    info, signed, _ = parts(make_token(tmp_path, pki))
    other = hashlib.sha256(b"forged").digest()
    tst = tsp.TSTInfo.load(signed["encap_content_info"]["content"].contents)
    tst["message_imprint"] = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": other}
    signed["encap_content_info"] = {"content_type": "tst_info", "content": cms.ParsableOctetString(tst.dump(force=True))}
    refused("signed attributes", "message-digest is not the hash of the TSTInfo",
            lambda: verify(bytes(info.dump(force=True)), pki, digest=other))


# -- 3./4. signer and signed attributes -----------------------------------------------------


def test_an_esscertid_naming_another_certificate_fails_at_signed_attributes(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki)
    other = der(pki.tsa_certificate(serial=8))  # same key and names, another certificate
    forged = resign(token, pki.tsa_key, replaced("signing_certificate_v2", tsp.SigningCertificateV2({
        "certs": [{"cert_hash": hashlib.sha256(other).digest()}]})))
    refused("signed attributes", "ESSCertIDv2 names another certificate", lambda: verify(forged, pki))


def test_an_esscertid_with_another_serial_fails_at_signed_attributes(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki)
    cert = tsp.SigningCertificateV2({"certs": [{
        "cert_hash": hashlib.sha256(der(pki.tsa_cert)).digest(),
        "issuer_serial": {"issuer": [GeneralName({"directory_name": Certificate.load(der(pki.root.cert)).subject})],
                          "serial_number": 99}}]})
    forged = resign(token, pki.tsa_key, replaced("signing_certificate_v2", cert))
    refused("signed attributes", "issuerSerial names another certificate", lambda: verify(forged, pki))


def test_a_sha1_esscertid_v1_is_accepted_and_checked(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki)

    def v1(cert_der: bytes) -> Callable[[list[cms.CMSAttribute]], list[cms.CMSAttribute]]:
        return lambda attributes: [*without("signing_certificate_v2")(attributes), cms.CMSAttribute({
            "type": "signing_certificate", "values": [{"certs": [{"cert_hash": hashlib.sha1(cert_der).digest()}]}]})]

    assert verify(resign(token, pki.tsa_key, v1(der(pki.tsa_cert))), pki).serial == 1
    forged = resign(token, pki.tsa_key, v1(der(pki.root.cert)))
    refused("signed attributes", "ESSCertID names another certificate", lambda: verify(forged, pki))


def test_missing_or_wrong_signed_attributes_fail_at_signed_attributes(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki)
    refused("signed attributes", "no signing-certificate attribute",
            lambda: verify(resign(token, pki.tsa_key, without("signing_certificate_v2")), pki))
    refused("signed attributes", "message-digest is missing",
            lambda: verify(resign(token, pki.tsa_key, without("message_digest")), pki))
    refused("signed attributes", "content-type is 1.2.840.113549.1.7.1",
            lambda: verify(resign(token, pki.tsa_key, replaced("content_type", "data")), pki))

    def twice(attributes: list[cms.CMSAttribute]) -> list[cms.CMSAttribute]:
        digest = [a for a in attributes if a["type"].native == "message_digest"][0]
        return [*attributes, cms.CMSAttribute({"type": "message_digest", "values": [bytes(digest["values"][0].native)[::-1]]})]

    refused("signed attributes", "message_digest appears twice", lambda: verify(resign(token, pki.tsa_key, twice), pki))


def test_a_signer_not_in_the_token_fails_at_signer(tmp_path: Path, pki: Pki) -> None:
    info, _, signer = parts(make_token(tmp_path, pki))
    signer["sid"] = {"issuer_and_serial_number": {"issuer": signer["sid"].chosen["issuer"], "serial_number": 12345}}
    refused("signer", "serial 12345", lambda: verify(bytes(info.dump(force=True)), pki))


# -- 5. signature ---------------------------------------------------------------------------


def test_a_flipped_signature_fails_at_signature(tmp_path: Path, pki: Pki) -> None:
    info, _, signer = parts(make_token(tmp_path, pki))
    signature = bytearray(signer["signature"].native)
    signature[-1] ^= 0x01
    signer["signature"] = bytes(signature)
    refused("signature", "does not verify", lambda: verify(bytes(info.dump(force=True)), pki))


def test_a_signature_by_another_key_fails_at_signature(tmp_path: Path, pki: Pki) -> None:
    forged = resign(make_token(tmp_path, pki), fixed_key(0x6666), lambda attributes: attributes)
    refused("signature", "does not verify", lambda: verify(forged, pki))


def test_a_mismatched_signature_algorithm_fails_at_signature(tmp_path: Path, pki: Pki) -> None:
    info, _, signer = parts(make_token(tmp_path, pki))
    signer["signature_algorithm"] = {"algorithm": "sha384_ecdsa"}
    refused("signature", "does not match the digest algorithm sha256", lambda: verify(bytes(info.dump(force=True)), pki))


# -- 6. key usage ---------------------------------------------------------------------------


@pytest.mark.parametrize("extensions, words", [
    ([], "has no extendedKeyUsage"),
    ([(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), False)], "is not critical"),
    ([(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CLIENT_AUTH]), True)],
     "timeStamping only"),
    ([(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), True)], "codeSigning"),
], ids=["missing", "not-critical", "also-client-auth", "code-signing"])
def test_a_certificate_that_is_not_a_tsa_certificate_fails_at_key_usage(
        tmp_path: Path, pki: Pki, extensions: list[tuple[x509.ExtensionType, bool]], words: str) -> None:
    cert = pki.tsa_certificate(extensions=extensions)
    token = make_token(tmp_path, pki, cert=cert)
    refused("key usage", words, lambda: verify(token, pki))


def test_a_tsa_certificate_without_signing_key_usage_fails_at_key_usage(tmp_path: Path, pki: Pki) -> None:
    cert = devpki.issue_certificate(pki.root.cert, pki.root.key, pki.tsa_key.public_key(), common_name="Test TSA",
                                    key_usage={"key_encipherment"}, extra_extensions=TSA_EKU, serial=9,
                                    not_before=BASE, not_after=BASE + timedelta(days=365))
    refused("key usage", "neither digitalSignature nor nonRepudiation",
            lambda: verify(make_token(tmp_path, pki, cert=cert), pki))


# -- 7. certificate chain -------------------------------------------------------------------


def test_another_root_fails_at_certificate_chain(tmp_path: Path, pki: Pki) -> None:
    # Same name as the real root, another key: only the key decides.
    token = make_token(tmp_path, pki)
    refused("certificate chain", "does not chain to a given root", lambda: verify(token, pki, roots=[pki.other_root.cert]))
    assert verify(token, pki, roots=[pki.other_root.cert, pki.root.cert]).root == pki.root.cert


def test_a_tsa_certificate_expired_at_the_tsa_time_fails_at_certificate_chain(tmp_path: Path, pki: Pki) -> None:
    # Our TSA refuses to sign outside its certificate's validity, so the token of a TSA that
    # does not is built from the pure pieces.
    cert = pki.tsa_certificate(not_after=GEN_TIME - timedelta(seconds=1))
    request = tsa.parse_request(TimestampRequest(DIGEST, nonce=NONCE).to_der())
    token = tsa.sign_token(tsa.build_tst_info(request, serial=1, gen_time=GEN_TIME), pki.tsa_key, cert,
                           (pki.root.cert,))
    refused("certificate chain", "not valid at validation time", lambda: verify(token, pki))


def test_an_intermediate_restricted_to_other_purposes_fails_at_certificate_chain(tmp_path: Path, pki: Pki) -> None:
    validity = {"not_before": BASE - timedelta(days=1), "not_after": BASE + timedelta(days=3650)}
    key = fixed_key(0x1004)
    server_ca = devpki.issue_certificate(
        pki.root.cert, pki.root.key, key.public_key(), common_name="TLS CA", is_ca=True, path_length=0, serial=4,
        extra_extensions=[(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)], **validity)  # type: ignore[arg-type]
    cert = pki.tsa_certificate(Issuer(server_ca, key))
    token = make_token(tmp_path, pki, cert=cert, chain=(server_ca, pki.root.cert))
    refused("certificate chain", "does not chain", lambda: verify(token, pki))


# -- 8. time --------------------------------------------------------------------------------


def test_a_token_later_than_the_block_beyond_the_tolerance_fails_at_time(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki)
    # Our TSA states an accuracy of 1 s: the latest its time may be is GEN_TIME + 1 s.
    limit = GEN_TIME + tsa.ACCURACY - ts.DEFAULT_TOLERANCE
    assert verify(token, pki, not_after=limit).time == GEN_TIME  # exactly the tolerance: accepted
    error = refused("time", "more than the 300 s allowed",
                    lambda: verify(token, pki, not_after=limit - timedelta(milliseconds=1)))
    assert "2026-01-31T00:00:12.345000Z" in error.reason
    refused("time", "after the block's", lambda: verify(token, pki, not_after=BLOCK_TIME - 60, tolerance=timedelta(0)))
    # A token earlier than the block only shows the root existed sooner: accepted.
    assert verify(token, pki, not_after=BLOCK_TIME + 86400).serial == 1


def test_the_stated_accuracy_counts_against_the_tolerance(tmp_path: Path, pki: Pki) -> None:
    """A token whose time is within the tolerance but whose stated accuracy is a day may be
    a day later than the block: it does not date the block, and is refused."""
    request = TimestampRequest(DIGEST, nonce=NONCE)
    loose = tsa.Authority(pki.tsa_key, pki.tsa_cert, (pki.tsa_cert, pki.root.cert), tsa.SerialCounter(tmp_path / "s"),
                          tsa.TokenLog(tmp_path / "t.jsonl"), clock=Clock(GEN_TIME), accuracy=timedelta(days=1))
    response, _ = loose.answer(request.to_der())
    token = ts.parse_response(response, request)
    block = GEN_TIME - timedelta(seconds=29)  # genTime 29 s after the block, within 30 s, but +- 1 day
    refused("time", "may be", lambda: verify(token, pki, not_after=block, tolerance=timedelta(seconds=30)))


def test_the_tsa_refuses_to_stamp_outside_its_certificates_validity(tmp_path: Path, pki: Pki) -> None:
    """A token signed after the TSA's certificate expired could never verify: the TSA
    refuses (timeNotAvailable) instead of granting it, and spends no serial."""
    request = TimestampRequest(DIGEST, nonce=NONCE)
    expired = authority(tmp_path, pki.tsa_key, pki.tsa_cert, (pki.root.cert,),
                        at=pki.tsa_cert.not_valid_after_utc + timedelta(seconds=1))
    response, serial = expired.answer(request.to_der())
    assert serial is None
    with pytest.raises(TimestampRefused) as failure:
        ts.parse_response(response, request)
    assert "time_not_available" in str(failure.value.failures) and "renew" in str(failure.value)
    assert not (tmp_path / "serial").exists()


def test_hostile_pss_salt_lengths_fail_at_signature_not_with_a_traceback(tmp_path: Path, pki: Pki) -> None:
    token = make_token(tmp_path, pki, key=pki.rsa_tsa_key, cert=pki.tsa_certificate(pki.rsa_root, pki.rsa_tsa_key))
    for salt in (-1, 2**64):
        params = {"hash_algorithm": {"algorithm": "sha256"},
                  "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
                  "salt_length": salt, "trailer_field": "trailer_field_bc"}
        with pytest.raises(TimestampError) as failure:
            ts._pss_padding(algos.RSASSAPSSParams(params), "sha256")
        assert failure.value.step == "signature" and "out of range" in failure.value.reason
    assert token


# -- requests and responses -----------------------------------------------------------------


def test_the_request_is_sha256_over_the_digest_itself_with_nonce_and_cert_req() -> None:
    request = tsp.TimeStampReq.load(TimestampRequest(DIGEST, nonce=NONCE).to_der())
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert request["message_imprint"]["hashed_message"].native == DIGEST
    assert (request["nonce"].native, request["cert_req"].native, request["version"].native) == (NONCE, True, "v1")
    with pytest.raises(ValueError, match="32 bytes"):
        TimestampRequest(DIGEST[:20], nonce=NONCE)
    with pytest.raises(ValueError, match="nonce"):
        TimestampRequest(DIGEST, nonce=0)


@pytest.mark.parametrize("request_der, failure, words", [
    (tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha1"}, "hashed_message": b"\x00" * 20}}).dump(), "bad_alg", "sha1"),
    (TimestampRequest(DIGEST, nonce=NONCE, policy="1.2.3.4").to_der(), "unaccepted_policy", "policy"),
    (b"\x30\x00", "bad_data_format", "TimeStampReq"),
    (tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x00" * 20}}).dump(), "bad_data_format", "32 bytes"),
], ids=["sha1", "policy", "garbage", "short-digest"])
def test_the_tsa_rejects_with_a_pkistatus_and_the_parser_says_why(
        tmp_path: Path, pki: Pki, request_der: bytes, failure: str, words: str) -> None:
    response, serial = authority(tmp_path, pki.tsa_key, pki.tsa_cert, (pki.root.cert,)).answer(request_der)
    assert serial is None
    with pytest.raises(TimestampRefused) as caught:
        ts.parse_response(response)
    assert caught.value.step == "response"
    assert (caught.value.status, caught.value.failures) == ("rejection", (failure,))
    assert words in (caught.value.text or "")
    assert ts.FAILURE_TEXT[failure] in str(caught.value)


def test_a_response_to_another_request_is_refused(tmp_path: Path, pki: Pki) -> None:
    request = TimestampRequest(DIGEST, nonce=NONCE)
    response, _ = authority(tmp_path, pki.tsa_key, pki.tsa_cert, (pki.root.cert,)).answer(request.to_der())
    refused("response", "nonce", lambda: ts.parse_response(response, TimestampRequest(DIGEST, nonce=NONCE + 1)))
    other = TimestampRequest(hashlib.sha256(b"x").digest(), nonce=NONCE)
    refused("response", "another digest", lambda: ts.parse_response(response, other))
    refused("response", "not a DER TimeStampResp", lambda: ts.parse_response(b"<html>busy</html>"))


def test_serials_go_up_and_every_token_is_logged(tmp_path: Path, pki: Pki) -> None:
    tsa_authority = authority(tmp_path, pki.tsa_key, pki.tsa_cert, (pki.root.cert,))
    serials = [tsa_authority.answer(TimestampRequest(DIGEST, nonce=n).to_der())[1] for n in (1, 2, 3)]
    assert serials == [1, 2, 3]
    assert (tmp_path / "serial").read_text() == "3\n"
    reopened = authority(tmp_path, pki.tsa_key, pki.tsa_cert, (pki.root.cert,))
    assert reopened.answer(TimestampRequest(DIGEST, nonce=4).to_der())[1] == 4
    lines = (tmp_path / "tokens.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(f'"serial":{n},' in line for n, line in zip((1, 2, 3, 4), lines))
