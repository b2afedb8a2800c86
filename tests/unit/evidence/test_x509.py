"""X.509 chain, digest-signature and CRL rules of the PKI precompile, positive and negative."""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from client import devpki
from evidence import x509 as px
from evidence.x509 import CertificateError, Purpose

BASE = datetime(2026, 1, 1, tzinfo=UTC)
AT = int((BASE + timedelta(days=30)).timestamp())  # 2026-01-31, inside every fixture validity


class Validity(TypedDict):
    not_before: datetime
    not_after: datetime


ROOT_VALIDITY = Validity(not_before=BASE - timedelta(days=365), not_after=BASE + timedelta(days=3650))
CA_VALIDITY = Validity(not_before=BASE - timedelta(days=30), not_after=BASE + timedelta(days=1825))
LEAF_VALIDITY = Validity(not_before=BASE, not_after=BASE + timedelta(days=365))  # until 2027-01-01
PRIVATE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def ders(*certs: x509.Certificate) -> list[bytes]:
    return [der(cert) for cert in certs]


def spki_sha256(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


@dataclass
class CA:
    cert: x509.Certificate
    key: devpki.PrivateKey


@dataclass
class Pki:
    keys: dict[str, devpki.PrivateKey]
    rsa_root: CA
    p256_root: CA
    p256_inter: CA
    p384_root: CA

    def leaf(
        self, issuer: CA, kind: str = "p256", *, common_name: str = "Alice", serial: int = 100, **kw: object
    ) -> x509.Certificate:
        options: dict[str, object] = {**LEAF_VALIDITY, **kw}
        return devpki.issue_certificate(
            issuer.cert,
            issuer.key,
            self.keys[kind].public_key(),
            common_name=common_name,
            organization="Example Trading Center",
            serial=serial,
            **options,  # type: ignore[arg-type]
        )

    def intermediate(self, issuer: CA, name: str, key: str = "p256_b", **kw: object) -> CA:
        options: dict[str, object] = {**CA_VALIDITY, "is_ca": True, "serial": 50, **kw}
        cert = devpki.issue_certificate(
            issuer.cert, issuer.key, self.keys[key].public_key(), common_name=name, **options  # type: ignore[arg-type]
        )
        return CA(cert, self.keys[key])


@pytest.fixture(scope="module")
def pki() -> Pki:
    # RSA generation is the slow part of this module: three keys, made once.
    keys: dict[str, devpki.PrivateKey] = {
        "rsa2048": devpki.generate_key("rsa2048"),
        "rsa_root": devpki.generate_key("rsa2048"),
        "rsa1024": rsa.generate_private_key(public_exponent=65537, key_size=1024),
        "p256": devpki.generate_key("p256"),
        "p384": devpki.generate_key("p384"),
        "secp256k1": devpki.generate_key("secp256k1"),
        "p256_root": devpki.generate_key("p256"),
        "p384_root": devpki.generate_key("p384"),
        "p256_inter": devpki.generate_key("p256"),
        "p256_b": devpki.generate_key("p256"),
        "p256_c": devpki.generate_key("p256"),
        "p256_d": devpki.generate_key("p256"),
        "impostor": devpki.generate_key("p256"),
    }
    rsa_root = CA(devpki.make_root("RSA Root", keys["rsa_root"], serial=1, **ROOT_VALIDITY), keys["rsa_root"])
    p256_root = CA(devpki.make_root("P-256 Root", keys["p256_root"], serial=2, **ROOT_VALIDITY), keys["p256_root"])
    p384_root = CA(devpki.make_root("P-384 Root", keys["p384_root"], serial=3, **ROOT_VALIDITY), keys["p384_root"])
    inter_cert = devpki.issue_certificate(
        p256_root.cert, p256_root.key, keys["p256_inter"].public_key(),
        common_name="P-256 Issuing CA", is_ca=True, serial=10, **CA_VALIDITY,
    )
    return Pki(keys, rsa_root, p256_root, CA(inter_cert, keys["p256_inter"]), p384_root)


def assert_refused(call: Callable[[], object], reason: str, index: int | None = None) -> CertificateError:
    with pytest.raises(CertificateError) as caught:
        call()
    assert reason in caught.value.reason, str(caught.value)
    assert caught.value.index == index, str(caught.value)
    return caught.value


# --- DER surgery, for certificates cryptography's builder refuses to make -----------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _elements(data: bytes) -> list[bytes]:
    """The raw TLVs inside ``data`` (DER content octets)."""
    out, offset = [], 0
    while offset < len(data):
        first = data[offset + 1]
        if first < 0x80:
            start, length = offset + 2, first
        else:
            count = first & 0x7F
            start, length = offset + 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
        out.append(data[offset : start + length])
        offset = start + length
    return out


def _content(tlv: bytes) -> bytes:
    first = tlv[1]
    return tlv[2 if first < 0x80 else 2 + (first & 0x7F) :]


def resign(
    signed: x509.Certificate | x509.CertificateRevocationList,
    key: devpki.PrivateKey,
    edit_tbs: Callable[[list[bytes]], list[bytes]] = lambda fields: fields,
    algorithm: bytes | None = None,
    hash_algorithm: hashes.HashAlgorithm = hashes.SHA256(),
) -> bytes:
    """A certificate or CRL with its TBS fields edited, then signed again by ``key``."""
    outer = _elements(_content(signed.public_bytes(serialization.Encoding.DER)))
    fields = _elements(_content(outer[0]))
    if algorithm is not None:
        fields = [algorithm if field == outer[1] else field for field in fields]
    tbs = _tlv(0x30, b"".join(edit_tbs(fields)))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(tbs, ec.ECDSA(hash_algorithm))
    else:
        signature = key.sign(tbs, padding.PKCS1v15(), hash_algorithm)
    return _tlv(0x30, tbs + (algorithm or outer[1]) + _tlv(0x03, b"\x00" + signature))


# --- chains that validate ------------------------------------------------------------


@pytest.mark.parametrize(
    "root, via_intermediate, kind",
    [
        ("rsa_root", False, "rsa2048"),
        ("rsa_root", False, "secp256k1"),
        ("p256_root", True, "p256"),
        ("p256_root", True, "secp256k1"),
        ("p256_root", True, "rsa2048"),
        ("p384_root", False, "p384"),
    ],
)
def test_signer_chain_validates(pki: Pki, root: str, via_intermediate: bool, kind: str) -> None:
    root_ca: CA = getattr(pki, root)
    issuer = pki.p256_inter if via_intermediate else root_ca
    leaf = pki.leaf(issuer, kind, serial=4242)
    chain = [leaf, pki.p256_inter.cert, root_ca.cert] if via_intermediate else [leaf, root_ca.cert]

    info = px.validate_chain(ders(*chain), AT)

    assert info.leaf_fingerprint == hashlib.sha256(der(leaf)).digest()
    assert info.root_fingerprint == hashlib.sha256(der(root_ca.cert)).digest()
    assert info.leaf_key_hash == spki_sha256(leaf)
    assert info.leaf_not_after == int(LEAF_VALIDITY["not_after"].timestamp())
    assert info.leaf_subject == "CN=Alice,O=Example Trading Center"
    expected_links = [px.Link(spki_sha256(chain[i + 1]), chain[i].serial_number) for i in range(len(chain) - 1)]
    assert list(info.links) == expected_links
    assert info.links[0].serial == 4242


def test_split_certificates_round_trips_a_chain(pki: Pki) -> None:
    chain = [pki.leaf(pki.p256_inter), pki.p256_inter.cert, pki.p256_root.cert]
    assert px.split_certificates(devpki.chain_der(chain)) == ders(*chain)


def test_validity_bounds_are_inclusive(pki: Pki) -> None:
    chain = ders(pki.leaf(pki.p256_root), pki.p256_root.cert)
    px.validate_chain(chain, int(LEAF_VALIDITY["not_before"].timestamp()))
    px.validate_chain(chain, int(LEAF_VALIDITY["not_after"].timestamp()))


def test_content_commitment_alone_is_enough_for_a_signer(pki: Pki) -> None:
    leaf = pki.leaf(pki.p256_root, key_usage={"content_commitment"})
    px.validate_chain(ders(leaf, pki.p256_root.cert), AT)


def test_critical_extensions_we_process_are_accepted(pki: Pki) -> None:
    policies = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.5.29.32.0"), None)])
    leaf = pki.leaf(pki.p256_root, extra_extensions=[(policies, True)])
    px.validate_chain(ders(leaf, pki.p256_root.cert), AT)


def test_maximum_chain_length_is_accepted(pki: Pki) -> None:
    ca1 = pki.intermediate(pki.p256_root, "CA 1", "p256_b")
    ca2 = pki.intermediate(ca1, "CA 2", "p256_c")
    ca3 = pki.intermediate(ca2, "CA 3", "p256_d")
    chain = [pki.leaf(ca3), ca3.cert, ca2.cert, ca1.cert, pki.p256_root.cert]
    assert len(chain) == px.MAX_CHAIN_LENGTH
    assert len(px.validate_chain(ders(*chain), AT).links) == 4


def test_error_message_is_a_sentence(pki: Pki) -> None:
    chain = ders(pki.leaf(pki.p256_root), pki.p256_root.cert)
    error = assert_refused(lambda: px.validate_chain(chain, AT + 400 * 86400), "expired", 0)
    assert str(error) == "certificate 0 (CN=Alice,O=Example Trading Center): expired at 2027-01-01T00:00:00Z"
    assert error.subject == "CN=Alice,O=Example Trading Center"
    assert isinstance(error, ValueError)


# --- validity, keys and key usage ---------------------------------------------------------


def test_expired_leaf_is_refused(pki: Pki) -> None:
    chain = ders(pki.leaf(pki.p256_root), pki.p256_root.cert)
    after = int(LEAF_VALIDITY["not_after"].timestamp()) + 1
    assert_refused(lambda: px.validate_chain(chain, after), "expired at 2027-01-01T00:00:00Z", 0)


def test_not_yet_valid_leaf_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(pki.p256_root, not_before=BASE + timedelta(days=60))
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p256_root.cert), AT), "not valid until 2026-03-02T00:00:00Z", 0
    )


def test_expired_root_is_refused(pki: Pki) -> None:
    chain = ders(pki.leaf(pki.p256_root, not_after=BASE + timedelta(days=5000)), pki.p256_root.cert)
    later = int((BASE + timedelta(days=3651)).timestamp())
    assert_refused(lambda: px.validate_chain(chain, later), "expired at 2035-12-30", 1)


def test_rsa_1024_leaf_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(pki.rsa_root, "rsa1024")
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.rsa_root.cert), AT), "RSA key of 1024 bits is too short", 0
    )


def test_ed25519_leaf_is_refused(pki: Pki) -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate().public_key()
    leaf = devpki.issue_certificate(
        pki.p256_root.cert, pki.p256_root.key, ed_key,  # type: ignore[arg-type]
        common_name="Eve", serial=5, **LEAF_VALIDITY,
    )
    chain = ders(leaf, pki.p256_root.cert)
    assert_refused(lambda: px.validate_chain(chain, AT), "public key algorithm 1.3.101.112 is not allowed", 0)


def test_secp256k1_is_refused_for_a_ca(pki: Pki) -> None:
    k1_root = devpki.make_root("K1 Root", pki.keys["secp256k1"], serial=9, **ROOT_VALIDITY)
    leaf = devpki.issue_certificate(
        k1_root, pki.keys["secp256k1"], pki.keys["p256"].public_key(), common_name="Alice", serial=5, **LEAF_VALIDITY
    )
    assert_refused(
        lambda: px.validate_chain(ders(leaf, k1_root), AT), "EC curve secp256k1 is not allowed for a CA", 1
    )


def test_key_encipherment_only_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(pki.p256_root, key_usage={"key_encipherment"})
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p256_root.cert), AT), "keyUsage does not allow signing", 0
    )


def test_missing_key_usage_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(pki.p256_root, key_usage=set())
    assert_refused(lambda: px.validate_chain(ders(leaf, pki.p256_root.cert), AT), "keyUsage is missing", 0)


def test_ca_certificate_as_leaf_is_refused(pki: Pki) -> None:
    chain = ders(pki.p256_inter.cert, pki.p256_root.cert)
    assert_refused(lambda: px.validate_chain(chain, AT), "a CA certificate cannot be a signer", 0)


def test_signer_is_never_its_own_root(pki: Pki) -> None:
    assert_refused(lambda: px.validate_chain(ders(pki.p256_root.cert), AT), "needs 2 to 5")
    assert_refused(lambda: px.validate_chain([], AT), "chain has 0 certificates")
    assert_refused(lambda: px.validate_chain([], AT, Purpose.CRL_ISSUER), "a CRL issuer chain needs 1 to 5")


def test_repeated_certificate_is_refused(pki: Pki) -> None:
    chain = ders(pki.leaf(pki.p256_root), pki.p256_root.cert, pki.p256_root.cert)
    assert_refused(lambda: px.validate_chain(chain, AT), "repeats certificate 1", 2)


# --- CA rules -------------------------------------------------------------------------------


def test_intermediate_without_ca_flag_is_refused(pki: Pki) -> None:
    not_ca = pki.intermediate(pki.p256_root, "Not A CA", is_ca=False, key_usage={"key_cert_sign"})
    chain = ders(pki.leaf(not_ca), not_ca.cert, pki.p256_root.cert)
    assert_refused(lambda: px.validate_chain(chain, AT), "not a CA: basicConstraints cA is false", 1)


def test_intermediate_without_basic_constraints_is_refused(pki: Pki) -> None:
    key = pki.keys["p256_b"]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "No BC")]))
        .issuer_name(pki.p256_root.cert.subject)
        .public_key(key.public_key())
        .serial_number(77)
        .not_valid_before(CA_VALIDITY["not_before"])
        .not_valid_after(CA_VALIDITY["not_after"])
        .sign(pki.p256_root.key, hashes.SHA256())
    )
    chain = ders(pki.leaf(CA(cert, key)), cert, pki.p256_root.cert)
    assert_refused(lambda: px.validate_chain(chain, AT), "not a CA: basicConstraints is missing", 1)


def test_intermediate_without_key_cert_sign_is_refused(pki: Pki) -> None:
    ca = pki.intermediate(pki.p256_root, "CRL Only CA", key_usage={"crl_sign"})
    chain = ders(pki.leaf(ca), ca.cert, pki.p256_root.cert)
    assert_refused(lambda: px.validate_chain(chain, AT), "keyUsage does not allow keyCertSign", 1)


def test_root_path_length_exceeded(pki: Pki) -> None:
    root = CA(devpki.make_root("Tight Root", pki.keys["p256_root"], serial=8, path_length=0, **ROOT_VALIDITY),
              pki.keys["p256_root"])
    ca = pki.intermediate(root, "Under Tight Root")
    assert_refused(
        lambda: px.validate_chain(ders(pki.leaf(ca), ca.cert, root.cert), AT),
        "pathLenConstraint 0 exceeded: 1 intermediate",
        2,
    )
    # The same root may issue signers directly.
    px.validate_chain(ders(pki.leaf(root), root.cert), AT)


def test_intermediate_path_length_exceeded(pki: Pki) -> None:
    ca1 = pki.intermediate(pki.p256_root, "CA 1", "p256_b", path_length=0)
    ca2 = pki.intermediate(ca1, "CA 2", "p256_c")
    chain = ders(pki.leaf(ca2), ca2.cert, ca1.cert, pki.p256_root.cert)
    assert_refused(lambda: px.validate_chain(chain, AT), "pathLenConstraint 0 exceeded", 2)
    ca1_ok = pki.intermediate(pki.p256_root, "CA 1", "p256_b", path_length=1)
    ca2_ok = pki.intermediate(ca1_ok, "CA 2", "p256_c")
    px.validate_chain(ders(pki.leaf(ca2_ok), ca2_ok.cert, ca1_ok.cert, pki.p256_root.cert), AT)


# --- broken chains -------------------------------------------------------------------------


def test_wrong_order_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(pki.p256_inter)
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p256_root.cert, pki.p256_inter.cert), AT),
        "is not the subject of the next certificate",
        0,
    )
    assert_refused(
        lambda: px.validate_chain(ders(pki.p256_root.cert, pki.p256_inter.cert, leaf), AT),
        "a CA certificate cannot be a signer",
        0,
    )


def test_missing_intermediate_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(pki.p256_inter)
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p256_root.cert), AT),
        "issuer name (CN=P-256 Issuing CA) is not the subject of the next certificate",
        0,
    )


def test_issuer_name_mismatch_is_refused(pki: Pki) -> None:
    # Signed by the P-384 root's key but naming the RSA root as issuer.
    leaf = devpki.issue_certificate(
        pki.rsa_root.cert, pki.p384_root.key, pki.keys["p256"].public_key(),
        common_name="Alice", serial=5, **LEAF_VALIDITY,
    )
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p384_root.cert), AT), "is not the subject of the next", 0
    )


def test_signature_by_another_key_with_the_same_name_is_refused(pki: Pki) -> None:
    impostor = CA(devpki.make_root("P-256 Root", pki.keys["impostor"], serial=2, **ROOT_VALIDITY),
                  pki.keys["impostor"])
    leaf = pki.leaf(pki.p256_inter)
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p256_inter.cert, impostor.cert), AT),
        "signature is not made by the next certificate's key",
        1,
    )


def test_root_not_self_issued_is_refused(pki: Pki) -> None:
    leaf = pki.leaf(pki.p256_inter)
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p256_inter.cert), AT), "root is not self-issued", 1
    )


def test_root_not_self_signed_is_refused(pki: Pki) -> None:
    # Names itself as issuer, but the signature is the impostor's.
    impostor = devpki.make_root("Lonely Root", pki.keys["impostor"], serial=6, **ROOT_VALIDITY)
    fake_root = devpki.issue_certificate(
        impostor, pki.keys["impostor"], pki.keys["p256_b"].public_key(),
        common_name="Lonely Root", is_ca=True, serial=6, **ROOT_VALIDITY,
    )
    leaf = pki.leaf(CA(fake_root, pki.keys["p256_b"]))
    assert_refused(lambda: px.validate_chain(ders(leaf, fake_root), AT), "root is not self-signed", 1)


# --- extensions, algorithms and encodings ------------------------------------------------


def test_unknown_critical_extension_is_refused(pki: Pki) -> None:
    unknown = x509.UnrecognizedExtension(PRIVATE_OID, b"\x05\x00")
    leaf = pki.leaf(pki.p256_root, extra_extensions=[(unknown, True)])
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p256_root.cert), AT),
        "unsupported critical extension 1.3.6.1.4.1.99999.1",
        0,
    )
    # The same extension, not critical, is ignored.
    leaf = pki.leaf(pki.p256_root, extra_extensions=[(unknown, False)])
    px.validate_chain(ders(leaf, pki.p256_root.cert), AT)


def test_critical_name_constraints_are_not_silently_ignored(pki: Pki) -> None:
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    ca = pki.intermediate(pki.p256_root, "Constrained CA", extra_extensions=[(constraints, True)])
    assert_refused(
        lambda: px.validate_chain(ders(pki.leaf(ca), ca.cert, pki.p256_root.cert), AT),
        f"unsupported critical extension {ExtensionOID.NAME_CONSTRAINTS.dotted_string}",
        1,
    )


def test_malformed_extension_is_refused(pki: Pki) -> None:
    broken = x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"\x01\x02")
    leaf = pki.leaf(pki.p256_root, extra_extensions=[(broken, True)])
    assert_refused(
        lambda: px.validate_chain(ders(leaf, pki.p256_root.cert), AT), "an extension is malformed", 0
    )


SHA256_WITH_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
SHA1_WITH_RSA = bytes.fromhex("300d06092a864886f70d0101050500")
ECDSA_WITH_SHA384 = bytes.fromhex("300a06082a8648ce3d040303")


def test_sha1_signed_certificate_is_refused(pki: Pki) -> None:
    # cryptography refuses to sign certificates with SHA-1, so the TBS is re-signed by hand.
    leaf = pki.leaf(pki.rsa_root, "rsa2048")
    sha1_leaf = resign(leaf, pki.rsa_root.key, algorithm=SHA1_WITH_RSA, hash_algorithm=hashes.SHA1())
    assert x509.load_der_x509_certificate(sha1_leaf).signature_hash_algorithm.name == "sha1"  # type: ignore[union-attr]
    assert_refused(
        lambda: px.validate_chain([sha1_leaf, der(pki.rsa_root.cert)], AT),
        "signature algorithm sha1WithRSAEncryption is not allowed",
        0,
    )
    # The surgery itself is sound: the same re-signing with SHA-256 validates.
    sha256_leaf = resign(leaf, pki.rsa_root.key, algorithm=SHA256_WITH_RSA)
    px.validate_chain([sha256_leaf, der(pki.rsa_root.cert)], AT)


def test_outer_algorithm_differing_from_signed_one_is_refused(pki: Pki) -> None:
    outer = _elements(_content(der(pki.leaf(pki.p256_root))))
    tampered = _tlv(0x30, outer[0] + ECDSA_WITH_SHA384 + outer[2])
    assert_refused(
        lambda: px.validate_chain([tampered, der(pki.p256_root.cert)], AT),
        "signature algorithm outside the signed part differs",
        0,
    )


def test_version_1_certificate_is_refused(pki: Pki) -> None:
    v1 = resign(pki.leaf(pki.p256_root), pki.p256_root.key, lambda fields: fields[1:])
    assert_refused(lambda: px.validate_chain([v1, der(pki.p256_root.cert)], AT), "version must be v3, not v1", 0)


@pytest.mark.parametrize(
    "serial, reason",
    [
        (b"\x02\x01\x00", "must be positive"),
        (b"\x02\x01\xff", "must be positive"),
        (b"\x02\x16\x01" + b"\x00" * 21, "longer than 20 octets"),
    ],
)
def test_bad_serial_is_refused(pki: Pki, serial: bytes, reason: str) -> None:
    bad = resign(pki.leaf(pki.p256_root), pki.p256_root.key, lambda fields: [fields[0], serial, *fields[2:]])
    assert_refused(lambda: px.validate_chain([bad, der(pki.p256_root.cert)], AT), reason, 0)


def test_chain_too_long_is_refused(pki: Pki) -> None:
    cas = [pki.p256_root]
    for number, key in enumerate(["p256_b", "p256_c", "p256_d", "p256_inter"]):
        cas.append(pki.intermediate(cas[-1], f"Deep CA {number}", key))
    chain = [pki.leaf(cas[-1])] + [ca.cert for ca in reversed(cas)]
    assert len(chain) == px.MAX_CHAIN_LENGTH + 1
    assert_refused(lambda: px.validate_chain(ders(*chain), AT), "chain has 6 certificates")
    assert_refused(lambda: px.split_certificates(devpki.chain_der(chain)), "more than 5 certificates")


def _padded(pki: Pki, issuer: CA, size: int, serial: int = 100) -> x509.Certificate:
    """A signer certificate made about ``size`` bytes larger by a non-critical OCTET STRING."""
    filler = b"\x04\x82" + size.to_bytes(2, "big") + b"A" * size
    return pki.leaf(issuer, serial=serial, extra_extensions=[(x509.UnrecognizedExtension(PRIVATE_OID, filler), False)])


def test_oversized_certificate_is_refused(pki: Pki) -> None:
    big = _padded(pki, pki.p256_root, 9000)
    assert len(der(big)) > px.MAX_CERTIFICATE_BYTES
    assert_refused(
        lambda: px.validate_chain(ders(big, pki.p256_root.cert), AT), "more than the 8192 allowed", 0
    )
    assert_refused(
        lambda: px.split_certificates(devpki.chain_der([big, pki.p256_root.cert])), "more than the 8192 allowed", 0
    )


def test_oversized_chain_is_refused(pki: Pki) -> None:
    chain = [_padded(pki, pki.p256_root, 7000, serial=n) for n in range(1, 5)]
    blob = devpki.chain_der(chain)
    assert len(blob) > px.MAX_CHAIN_BYTES
    assert_refused(lambda: px.split_certificates(blob), "more than the 24576 allowed")
    assert_refused(lambda: px.validate_chain(ders(*chain), AT), "more than the 24576 allowed")


def test_trailing_garbage_is_refused(pki: Pki) -> None:
    blob = devpki.chain_der([pki.leaf(pki.p256_root), pki.p256_root.cert])
    assert_refused(lambda: px.split_certificates(blob + b"\x00\x00"), "trailing bytes after certificate 1", 2)
    assert_refused(lambda: px.split_certificates(blob + b"\x30"), "trailing bytes after certificate 1", 2)
    leaf_der = der(pki.leaf(pki.p256_root))
    assert_refused(
        lambda: px.validate_chain([leaf_der + b"\x00", der(pki.p256_root.cert)], AT), "1 bytes of trailing data", 0
    )


@pytest.mark.parametrize(
    "blob, reason",
    [
        (b"", "certificate chain is empty"),
        (b"\x30\x80\x02\x01\x01\x00\x00", "indefinite length"),
        (b"\x30\x81\x03\x02\x01\x01", "not minimally encoded"),
        (b"\x30\x82\x00\x03\x02\x01\x01", "not minimally encoded"),
        (b"\x30\x85\x01\x00\x00\x00\x00", "longer than 4 octets"),
        (b"\x30\x10\x02\x01", "element needs 16 bytes, 2 remain"),
        (b"\x30", "no room for a tag and length"),
        (b"\x02\x01\x01", "expected a SEQUENCE (0x30), found 0x02"),
        (b"\x1f\x01\x00", "high-tag-number"),
    ],
)
def test_split_refuses_bad_framing(blob: bytes, reason: str) -> None:
    assert_refused(lambda: px.split_certificates(blob), reason, 0 if blob else None)


def test_well_framed_garbage_is_not_a_certificate(pki: Pki) -> None:
    assert_refused(
        lambda: px.validate_chain([b"\x30\x03\x02\x01\x01", der(pki.p256_root.cert)], AT),
        "not a DER X.509 certificate",
        0,
    )


# --- robustness: whatever the bytes, only CertificateError -----------------------------------


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(5)
        position = rng.randrange(len(buffer)) if buffer else 0
        if action == 0 and buffer:
            buffer[position] ^= 1 << rng.randrange(8)
        elif action == 1 and buffer:
            buffer[position] = rng.randrange(256)
        elif action == 2:
            buffer[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif action == 3 and buffer:
            del buffer[position : position + rng.randint(1, 16)]
        else:
            del buffer[rng.randrange(len(buffer) + 1) :]
    return bytes(buffer)


def test_mutated_chains_raise_only_certificate_error(pki: Pki) -> None:
    rng = random.Random(20260101)
    chains = [
        devpki.chain_der([pki.leaf(pki.p256_inter), pki.p256_inter.cert, pki.p256_root.cert]),
        devpki.chain_der([pki.leaf(pki.rsa_root, "secp256k1"), pki.rsa_root.cert]),
    ]
    reasons: set[str] = set()
    accepted = 0
    for round_number in range(400):
        blob = _mutate(rng, chains[round_number % 2]) if round_number % 20 else rng.randbytes(rng.randrange(600))
        if blob == chains[round_number % 2]:
            continue  # a truncation at the very end changes nothing (chain lengths vary with the keys)
        try:
            px.validate_chain(px.split_certificates(blob), AT)
            accepted += 1
        except CertificateError as error:
            reasons.add(error.reason.split(":")[0])
    # Every mutation of a signed structure must be refused, for more than one reason.
    assert accepted == 0
    assert len(reasons) > 5, reasons


def test_mutated_tbs_resigned_raise_only_certificate_error(pki: Pki) -> None:
    # Re-signing after mutating gets past the signature check, into names and extensions.
    rng = random.Random(7)
    leaf = pki.leaf(pki.p256_root, extra_extensions=[
        (x509.SubjectAlternativeName([x509.RFC822Name("alice@example.com")]), False),
        (x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.5.5.7.3.4")]), False),
    ])
    outer = _elements(_content(der(leaf)))
    tbs = outer[0]
    root_der = der(pki.p256_root.cert)
    key = pki.p256_root.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    outcomes: set[str] = set()
    for _ in range(300):
        mutated_tbs = _mutate(rng, tbs)
        signature = key.sign(mutated_tbs, ec.ECDSA(hashes.SHA256()))
        candidate = _tlv(0x30, mutated_tbs + outer[1] + _tlv(0x03, b"\x00" + signature))
        try:
            px.validate_chain([candidate, root_der], AT)
            outcomes.add("accepted")
        except CertificateError as error:
            outcomes.add(error.reason.split(":")[0])
    assert len(outcomes) > 3, outcomes


def test_mutated_crl_root_and_signature_raise_only_certificate_error(pki: Pki) -> None:
    rng = random.Random(99)
    ca = pki.p256_inter
    crl = devpki.make_crl(ca.cert, ca.key, [3, 4, 5], this_update=BASE, next_update=BASE + timedelta(days=7))
    crl_der = crl.public_bytes(serialization.Encoding.DER)
    leaf = pki.leaf(ca)
    signature = devpki.sign_digest(pki.keys["p256"], bytes(32))
    for _ in range(200):
        for call in (
            lambda: px.parse_crl(_mutate(rng, crl_der), der(ca.cert), AT),
            lambda: px.parse_crl(crl_der, _mutate(rng, der(ca.cert)), AT),
            lambda: px.inspect_root(_mutate(rng, der(pki.p256_root.cert)), AT),
            lambda: px.verify_digest_signature(_mutate(rng, der(leaf)), bytes(32), signature),
            lambda: px.verify_digest_signature(der(leaf), bytes(32), _mutate(rng, signature)),
        ):
            try:
                call()
            except CertificateError:
                pass


# --- digest signatures -------------------------------------------------------------------------


DIGEST = hashlib.sha256(b"contract v1").digest()


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "p384", "secp256k1"])
def test_digest_signature_good_and_bad(pki: Pki, kind: str) -> None:
    leaf = der(pki.leaf(pki.p256_root, kind))
    signature = devpki.sign_digest(pki.keys[kind], DIGEST)
    px.verify_digest_signature(leaf, DIGEST, signature)

    other_digest = hashlib.sha256(b"contract v2").digest()
    mismatch = "signature does not match the certificate's key"
    assert_refused(lambda: px.verify_digest_signature(leaf, other_digest, signature), mismatch, 0)
    wrong_key = devpki.sign_digest(pki.keys["impostor"], DIGEST)
    assert_refused(lambda: px.verify_digest_signature(leaf, DIGEST, wrong_key), mismatch, 0)
    flipped = signature[:-1] + bytes([signature[-1] ^ 1])
    assert_refused(lambda: px.verify_digest_signature(leaf, DIGEST, flipped), mismatch, 0)
    assert_refused(lambda: px.verify_digest_signature(leaf, DIGEST, b"\x30\x00"), mismatch, 0)


def test_digest_signature_sizes(pki: Pki) -> None:
    leaf = der(pki.leaf(pki.p256_root))
    signature = devpki.sign_digest(pki.keys["p256"], DIGEST)
    assert_refused(lambda: px.verify_digest_signature(leaf, DIGEST[:31], signature), "digest must be 32 bytes")
    assert_refused(lambda: px.verify_digest_signature(leaf, DIGEST, b""), "signature must be 1 to 1024 bytes")
    assert_refused(lambda: px.verify_digest_signature(leaf, DIGEST, b"\x30" * 1025), "got 1025")
    assert_refused(lambda: px.verify_digest_signature(b"\x30\x00", DIGEST, signature), "not a DER X.509", 0)


def test_digest_signature_refuses_weak_leaf_key(pki: Pki) -> None:
    leaf = der(pki.leaf(pki.rsa_root, "rsa1024"))
    signature = devpki.sign_digest(pki.keys["rsa1024"], DIGEST)
    assert_refused(lambda: px.verify_digest_signature(leaf, DIGEST, signature), "1024 bits is too short", 0)


# --- roots -------------------------------------------------------------------------------------


def test_inspect_root_good(pki: Pki) -> None:
    for ca in (pki.rsa_root, pki.p256_root, pki.p384_root):
        info = px.inspect_root(der(ca.cert), AT)
        assert info.fingerprint == hashlib.sha256(der(ca.cert)).digest()
        assert info.key_hash == spki_sha256(ca.cert) == px.spki_hash(ca.cert)
        assert info.not_after == int(ROOT_VALIDITY["not_after"].timestamp())
    assert px.inspect_root(der(pki.p384_root.cert), AT).subject == "CN=P-384 Root"


def test_inspect_root_refusals(pki: Pki) -> None:
    assert_refused(lambda: px.inspect_root(der(pki.p256_inter.cert), AT), "root is not self-issued")
    assert_refused(lambda: px.inspect_root(der(pki.leaf(pki.p256_root)), AT), "not a CA")
    before = int((ROOT_VALIDITY["not_before"] - timedelta(seconds=1)).timestamp())
    assert_refused(lambda: px.inspect_root(der(pki.p256_root.cert), before), "not valid until 2025-01-01T00:00:00Z")
    k1_root = devpki.make_root("K1 Root", pki.keys["secp256k1"], serial=9, **ROOT_VALIDITY)
    assert_refused(lambda: px.inspect_root(der(k1_root), AT), "EC curve secp256k1 is not allowed for a CA")
    # Self-issued and self-signed, but only allowed to sign CRLs.
    template = devpki.make_root("CRL Root", pki.keys["p256_b"], serial=4, **ROOT_VALIDITY)
    crl_only = devpki.issue_certificate(
        template, pki.keys["p256_b"], pki.keys["p256_b"].public_key(),
        common_name="CRL Root", is_ca=True, key_usage={"crl_sign"}, serial=4, **ROOT_VALIDITY,
    )
    assert_refused(lambda: px.inspect_root(der(crl_only), AT), "keyUsage does not allow keyCertSign")
    assert_refused(lambda: px.inspect_root(b"\x30\x03\x02\x01\x01", AT), "not a DER X.509 certificate")


# --- CRL issuers and CRLs ------------------------------------------------------------------------


def test_crl_issuer_chains(pki: Pki) -> None:
    alone = px.validate_chain(ders(pki.p256_root.cert), AT, Purpose.CRL_ISSUER)
    assert alone.links == () and alone.leaf_fingerprint == alone.root_fingerprint
    info = px.validate_chain(ders(pki.p256_inter.cert, pki.p256_root.cert), AT, Purpose.CRL_ISSUER)
    assert info.links == (px.Link(spki_sha256(pki.p256_root.cert), 10),)
    assert_refused(
        lambda: px.validate_chain(ders(pki.leaf(pki.p256_root), pki.p256_root.cert), AT, Purpose.CRL_ISSUER),
        "not a CA",
        0,
    )
    no_crl_sign = pki.intermediate(pki.p256_root, "Cert Only CA", key_usage={"key_cert_sign"})
    assert_refused(
        lambda: px.validate_chain(ders(no_crl_sign.cert, pki.p256_root.cert), AT, Purpose.CRL_ISSUER),
        "keyUsage does not allow cRLSign",
        0,
    )


def _crl_der(ca: CA, serials: list[int], this_update: datetime = BASE, days: int = 7) -> bytes:
    next_update = this_update + timedelta(days=days)
    crl = devpki.make_crl(ca.cert, ca.key, serials, this_update=this_update, next_update=next_update)
    return crl.public_bytes(serialization.Encoding.DER)


def test_crl_good_and_matches_links(pki: Pki) -> None:
    ca = pki.p256_inter
    leaf = pki.leaf(ca, serial=4)
    crl = px.parse_crl(_crl_der(ca, [9, 4, 7, 4]), der(ca.cert), AT)
    assert crl.serials == (4, 7, 9)
    assert crl.this_update == int(BASE.timestamp())
    assert crl.next_update == int((BASE + timedelta(days=7)).timestamp())
    # The leaf's revocation key is in the CRL: (issuer key hash, serial).
    link = px.validate_chain(ders(leaf, ca.cert, pki.p256_root.cert), AT).links[0]
    assert link.issuer_key_hash == crl.issuer_key_hash and link.serial in crl.serials
    # Past nextUpdate a CRL still records revocations that happened.
    px.parse_crl(_crl_der(ca, [1]), der(ca.cert), AT + 365 * 86400 - 86400 * 30)


def test_crl_from_the_wrong_issuer_is_refused(pki: Pki) -> None:
    crl = _crl_der(pki.p256_inter, [1])
    assert_refused(lambda: px.parse_crl(crl, der(pki.rsa_root.cert), AT), "is not the certificate's subject")


def test_crl_with_a_bad_signature_is_refused(pki: Pki) -> None:
    impostor = CA(devpki.make_root("P-256 Root", pki.keys["impostor"], serial=2, **ROOT_VALIDITY),
                  pki.keys["impostor"])
    crl = _crl_der(impostor, [1])
    assert_refused(lambda: px.parse_crl(crl, der(pki.p256_root.cert), AT), "signature is not made by the issuer's key")


def test_crl_with_too_many_entries_is_refused(pki: Pki) -> None:
    crl = _crl_der(pki.p256_root, list(range(1, px.MAX_CRL_ENTRIES + 2)))
    assert len(crl) <= px.MAX_CRL_BYTES
    assert_refused(lambda: px.parse_crl(crl, der(pki.p256_root.cert), AT), "lists more than the 1000 revoked")
    px.parse_crl(_crl_der(pki.p256_root, list(range(1, px.MAX_CRL_ENTRIES + 1))), der(pki.p256_root.cert), AT)


def test_oversized_crl_is_refused(pki: Pki) -> None:
    crl = _crl_der(pki.p256_root, list(range(10**30, 10**30 + 2500)))
    assert len(crl) > px.MAX_CRL_BYTES
    assert_refused(lambda: px.parse_crl(crl, der(pki.p256_root.cert), AT), "more than the 65536 allowed")


def test_crl_issuer_rules(pki: Pki) -> None:
    not_ca_issuer = pki.leaf(pki.p256_root)
    crl = devpki.make_crl(not_ca_issuer, pki.keys["p256"], [1], this_update=BASE, next_update=BASE + timedelta(days=1))
    crl_der = crl.public_bytes(serialization.Encoding.DER)
    assert_refused(lambda: px.parse_crl(crl_der, der(not_ca_issuer), AT), "not a CA")
    no_crl_sign = pki.intermediate(pki.p256_root, "Cert Only CA", key_usage={"key_cert_sign"})
    crl_der = _crl_der(no_crl_sign, [1])
    assert_refused(lambda: px.parse_crl(crl_der, der(no_crl_sign.cert), AT), "keyUsage does not allow cRLSign")


def test_crl_from_the_future_is_refused(pki: Pki) -> None:
    crl = _crl_der(pki.p256_root, [1], this_update=BASE + timedelta(days=40))
    assert_refused(lambda: px.parse_crl(crl, der(pki.p256_root.cert), AT), "issued in the future")


def test_crl_with_unknown_critical_extension_is_refused(pki: Pki) -> None:
    ca = pki.p256_root
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(BASE)
        .next_update(BASE + timedelta(days=1))
        .add_extension(x509.UnrecognizedExtension(PRIVATE_OID, b"\x05\x00"), True)
    )
    crl = builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    assert_refused(lambda: px.parse_crl(crl, der(ca.cert), AT), "unsupported critical extension 1.3.6.1.4.1.99999.1")


def test_crl_framing_is_checked(pki: Pki) -> None:
    crl = _crl_der(pki.p256_root, [1])
    assert_refused(lambda: px.parse_crl(crl + b"\x00", der(pki.p256_root.cert), AT), "trailing data")
    assert_refused(lambda: px.parse_crl(b"\x30\x03\x02\x01\x01", der(pki.p256_root.cert), AT), "not a DER X.509 CRL")


def test_crl_with_a_non_positive_serial_is_refused(pki: Pki) -> None:
    # cryptography will not build such an entry, so the first serial is replaced by hand.
    ca = pki.p256_root
    crl = devpki.make_crl(ca.cert, ca.key, [1, 2], this_update=BASE, next_update=BASE + timedelta(days=1))

    def zero_first_serial(fields: list[bytes]) -> list[bytes]:
        entries = _elements(_content(fields[5]))
        entry = _elements(_content(entries[0]))
        entries[0] = _tlv(0x30, b"".join([b"\x02\x01\x00", *entry[1:]]))
        return [*fields[:5], _tlv(0x30, b"".join(entries)), *fields[6:]]

    bad = resign(crl, ca.key, zero_first_serial)
    assert_refused(lambda: px.parse_crl(bad, der(ca.cert), AT), "a revoked serial number is not positive")
    # The surgery itself is sound: without the edit the re-signed CRL is accepted.
    assert px.parse_crl(resign(crl, ca.key), der(ca.cert), AT).serials == (1, 2)


def test_indirect_crl_is_refused(pki: Pki) -> None:
    ca = pki.p256_root
    indirect = x509.IssuingDistributionPoint(
        full_name=None, relative_name=None, only_contains_user_certs=False, only_contains_ca_certs=False,
        only_some_reasons=None, indirect_crl=True, only_contains_attribute_certs=False,
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(BASE)
        .next_update(BASE + timedelta(days=1))
        .add_extension(indirect, True)
        .sign(ca.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    assert_refused(lambda: px.parse_crl(crl, der(ca.cert), AT), "indirect CRLs are not supported")


# --- RSA public exponent (issue 15, finding 6) -------------------------------------------


RSA_ENCRYPTION = bytes.fromhex("06092a864886f70d0101010500")  # rsaEncryption, NULL parameters
RSASSA_PSS = bytes.fromhex("06092a864886f70d01010a")  # id-RSASSA-PSS, no parameters


def _rsa_spki(modulus: int, exponent: bytes, algorithm_der: bytes = RSA_ENCRYPTION) -> bytes:
    """An RSA SubjectPublicKeyInfo with ``exponent`` as the INTEGER's content octets."""
    integer = _tlv(0x02, modulus.to_bytes(modulus.bit_length() // 8 + 1, "big"))
    algorithm = _tlv(0x30, algorithm_der)
    return _tlv(0x30, algorithm + _tlv(0x03, b"\x00" + _tlv(0x30, integer + _tlv(0x02, exponent))))


@pytest.mark.parametrize("exponent, reason", [
    (b"\x01", "RSA public exponent 1 is below the minimum of 3"),
    (b"\x00", "RSA public exponent 0 is below the minimum of 3"),
    (b"\xfd", "RSA public exponent -3 is below the minimum of 3"),
    (b"\x01\x00\x00", "RSA public exponent 65536 is even"),
    ((2**40 + 1).to_bytes(6, "big"), "RSA public exponent 1099511627777 is too large (at most 32 bits"),
    (((1 << 3066) - 1).to_bytes(384, "big"), "RSA public exponent of 3066 bits is too large"),
])
def test_unreasonable_rsa_exponent_is_refused_before_any_signature(pki: Pki, exponent: bytes, reason: str) -> None:
    leaf = pki.leaf(pki.p256_root, "rsa2048")
    modulus = pki.keys["rsa2048"].public_key().public_numbers().n
    edited = resign(leaf, pki.p256_root.key, lambda f: f[:6] + [_rsa_spki(modulus, exponent)] + f[7:])
    chain = [edited, der(pki.p256_root.cert)]
    assert_refused(lambda: px.validate_chain(chain, AT), reason, 0)
    assert_refused(lambda: px.verify_digest_signature(edited, b"\x00" * 32, b"\x01" * 256), reason, 0)
    assert_refused(lambda: px.verifying_key(edited, signer=True), reason, 0)


def test_rsa_exponent_of_a_ca_is_refused_before_the_chain_is_checked(pki: Pki) -> None:
    # The CA's key is the one every certificate below it is checked with.
    modulus = pki.keys["rsa_root"].public_key().public_numbers().n
    root = resign(pki.rsa_root.cert, pki.keys["rsa_root"],
                  lambda f: f[:6] + [_rsa_spki(modulus, ((1 << 2000) + 1).to_bytes(251, "big"))] + f[7:])
    leaf = der(pki.leaf(pki.rsa_root, "p256"))
    assert_refused(lambda: px.chain_verifying_keys([leaf, root]), "exponent of 2001 bits is too large", 1)
    assert_refused(lambda: px.validate_chain([leaf, root], AT), "exponent of 2001 bits is too large", 1)
    assert_refused(lambda: px.inspect_root(root, AT), "exponent of 2001 bits is too large", None)


@pytest.mark.parametrize("exponent", [b"\x01\x00\x01", (((1 << 3066) - 1).to_bytes(384, "big"))])
def test_an_rsassa_pss_key_is_refused_whatever_the_library_makes_of_it(pki: Pki, exponent: bytes) -> None:
    """Some versions of the library load an id-RSASSA-PSS key as an RSA key, others refuse
    it: the rules refuse it by its algorithm first, so every node reaches the same verdict
    at the same place (and its exponent rule cannot be skipped)."""
    leaf = pki.leaf(pki.p256_root, "rsa2048")
    modulus = pki.keys["rsa2048"].public_key().public_numbers().n
    edited = resign(leaf, pki.p256_root.key, lambda f: f[:6] + [_rsa_spki(modulus, exponent, RSASSA_PSS)] + f[7:])
    reason = "public key algorithm 1.2.840.113549.1.1.10 is not allowed"
    assert_refused(lambda: px.validate_chain([edited, der(pki.p256_root.cert)], AT), reason, 0)
    assert_refused(lambda: px.verifying_key(edited, signer=True), reason, 0)


def test_usual_rsa_exponents_are_accepted(pki: Pki) -> None:
    for exponent in (3, 17, 65537, 2**32 - 1):
        px.check_rsa_exponent(exponent)
    assert px.verifying_key(der(pki.leaf(pki.rsa_root, "rsa2048")), signer=True) == px.RSAVerifyingKey(2048, 17)
    assert px.verifying_key(der(pki.p384_root.cert), signer=False) == px.ECVerifyingKey("P-384")


def test_chain_verifying_keys_name_every_check(pki: Pki) -> None:
    chain = ders(pki.leaf(pki.p256_inter, "rsa2048"), pki.p256_inter.cert, pki.p256_root.cert)
    # The leaf by the intermediate's key, the intermediate by the root's, the root by its own.
    assert px.chain_verifying_keys(chain) == (px.ECVerifyingKey("P-256"),) * 3
    assert px.chain_verifying_keys(ders(pki.p384_root.cert), Purpose.CRL_ISSUER) == (px.ECVerifyingKey("P-384"),)
    assert_refused(lambda: px.chain_verifying_keys(chain[:1]), "a signer chain needs 2 to 5")
