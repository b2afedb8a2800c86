"""The development PKI: key kinds, certificate contents, determinism and file-format round trips."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from client import devpki, pkifiles
from evidence import x509 as px

BASE = datetime(2026, 1, 1, tzinfo=UTC)
AT = int((BASE + timedelta(days=1)).timestamp())


class Validity(TypedDict):
    not_before: datetime
    not_after: datetime


VALIDITY = Validity(not_before=BASE, not_after=BASE + timedelta(days=365))
PASSWORD = b"correct horse battery staple"
DIGEST = hashlib.sha256(b"tender award").digest()


@pytest.fixture(scope="module")
def keys() -> dict[str, devpki.PrivateKey]:
    # One key per kind for the module: rsa3072 alone takes most of a second.
    return {kind: devpki.generate_key(kind) for kind in devpki.KEY_TYPES}


@pytest.fixture(scope="module")
def root(keys: dict[str, devpki.PrivateKey]) -> x509.Certificate:
    return devpki.make_root("Dev Root", keys["p384"], serial=1, **VALIDITY)


def signer(keys: dict[str, devpki.PrivateKey], root: x509.Certificate, kind: str = "p256") -> x509.Certificate:
    return devpki.issue_certificate(
        root, keys["p384"], keys[kind].public_key(), common_name="Bob", organization="Court", serial=2, **VALIDITY
    )


@pytest.mark.parametrize(
    "kind, family, size",
    [("rsa2048", rsa.RSAPrivateKey, 2048), ("rsa3072", rsa.RSAPrivateKey, 3072),
     ("p256", ec.EllipticCurvePrivateKey, 256), ("p384", ec.EllipticCurvePrivateKey, 384),
     ("secp256k1", ec.EllipticCurvePrivateKey, 256)],
)
def test_generate_key_kinds(keys: dict[str, devpki.PrivateKey], kind: str, family: type, size: int) -> None:
    key = keys[kind]
    assert isinstance(key, family) and key.key_size == size
    if kind == "secp256k1":
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256k1"


def test_generate_key_refuses_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown key type 'ed25519'"):
        devpki.generate_key("ed25519")  # type: ignore[arg-type]


def test_root_contents(root: x509.Certificate, keys: dict[str, devpki.PrivateKey]) -> None:
    assert root.subject == root.issuer
    assert root.subject.rfc4514_string() == "CN=Dev Root"
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length is None
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(keys["p384"].public_key())
    assert px.inspect_root(root.public_bytes(serialization.Encoding.DER), AT).subject == "CN=Dev Root"


def test_issue_certificate_defaults(root: x509.Certificate, keys: dict[str, devpki.PrivateKey]) -> None:
    leaf = signer(keys, root)
    assert leaf.subject.rfc4514_string() == "CN=Bob,O=Court"
    assert leaf.issuer == root.subject
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    leaf.verify_directly_issued_by(root)

    ca = devpki.issue_certificate(
        root, keys["p384"], keys["p256"].public_key(), common_name="Sub CA", is_ca=True, path_length=0, serial=3,
        **VALIDITY,
    )
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature


def test_issue_certificate_key_usage_options(root: x509.Certificate, keys: dict[str, devpki.PrivateKey]) -> None:
    def issue(usage: set[str] | None = None, path_length: int | None = None) -> x509.Certificate:
        return devpki.issue_certificate(
            root, keys["p384"], keys["p256"].public_key(), common_name="Carol", serial=4,
            key_usage=usage, path_length=path_length, **VALIDITY,
        )

    with pytest.raises(x509.ExtensionNotFound):
        issue(set()).extensions.get_extension_for_class(x509.KeyUsage)
    usage = issue({"key_encipherment"}).extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment and not usage.digital_signature
    with pytest.raises(ValueError, match="unknown key usage sign_everything"):
        issue({"sign_everything"})
    with pytest.raises(ValueError, match="path_length only applies to a CA"):
        issue(path_length=1)


def test_extra_extension_replaces_a_default(root: x509.Certificate, keys: dict[str, devpki.PrivateKey]) -> None:
    usage = x509.KeyUsage(False, True, False, False, False, False, False, False, False)
    cert = devpki.issue_certificate(
        root, keys["p384"], keys["p256"].public_key(), common_name="Dan", serial=5,
        extra_extensions=[(usage, False)], **VALIDITY,
    )
    extension = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert not extension.critical and extension.value.content_commitment and not extension.value.digital_signature


def test_certificates_are_reproducible(keys: dict[str, devpki.PrivateKey]) -> None:
    for kind in ("p256", "rsa2048"):
        first = devpki.make_root("Same", keys[kind], serial=9, **VALIDITY)
        second = devpki.make_root("Same", keys[kind], serial=9, **VALIDITY)
        assert first.public_bytes(serialization.Encoding.DER) == second.public_bytes(serialization.Encoding.DER)


def test_random_serials_when_not_given(keys: dict[str, devpki.PrivateKey]) -> None:
    first = devpki.make_root("Random", keys["p256"], **VALIDITY)
    second = devpki.make_root("Random", keys["p256"], **VALIDITY)
    assert first.serial_number != second.serial_number and first.serial_number > 0


@pytest.mark.parametrize("kind", devpki.KEY_TYPES)
def test_sign_digest_is_what_the_precompile_verifies(
    keys: dict[str, devpki.PrivateKey], root: x509.Certificate, kind: str
) -> None:
    leaf = signer(keys, root, kind).public_bytes(serialization.Encoding.DER)
    signature = devpki.sign_digest(keys[kind], DIGEST)
    px.verify_digest_signature(leaf, DIGEST, signature)
    # RFC 6979 for ECDSA, PKCS#1 v1.5 for RSA: the same digest gives the same signature
    # (SM2 signatures are randomised: tests/unit/client/test_devpki_sm2.py).
    if kind != "sm2":
        assert devpki.sign_digest(keys[kind], DIGEST) == signature
    with pytest.raises(px.CertificateError, match="does not match"):
        px.verify_digest_signature(leaf, hashlib.sha256(b"other").digest(), signature)


def test_sign_digest_refuses_wrong_length(keys: dict[str, devpki.PrivateKey]) -> None:
    with pytest.raises(ValueError, match="digest must be 32 bytes"):
        devpki.sign_digest(keys["p256"], b"\x00" * 20)


def test_make_crl(root: x509.Certificate, keys: dict[str, devpki.PrivateKey]) -> None:
    crl = devpki.make_crl(
        root, keys["p384"], [7, 3], this_update=BASE, next_update=BASE + timedelta(days=7), number=12
    )
    assert crl.is_signature_valid(keys["p384"].public_key())
    assert sorted(entry.serial_number for entry in crl) == [3, 7]
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 12
    info = px.parse_crl(
        crl.public_bytes(serialization.Encoding.DER), root.public_bytes(serialization.Encoding.DER), AT
    )
    assert info.serials == (3, 7)


# --- file formats ---------------------------------------------------------------------------


def test_pem_bundle_and_der_round_trip(root: x509.Certificate, keys: dict[str, devpki.PrivateKey]) -> None:
    leaf = signer(keys, root)
    assert pkifiles.load_certificates(devpki.chain_pem([leaf, root])) == [leaf, root]
    assert pkifiles.load_certificates(root.public_bytes(serialization.Encoding.PEM)) == [root]
    assert pkifiles.load_certificates(leaf.public_bytes(serialization.Encoding.DER)) == [leaf]
    blob = devpki.chain_der([leaf, root])
    assert px.split_certificates(blob) == [c.public_bytes(serialization.Encoding.DER) for c in (leaf, root)]


BROKEN_PEM = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("data", [b"", b"not a certificate", BROKEN_PEM])
def test_load_certificates_refuses_garbage(data: bytes) -> None:
    with pytest.raises(ValueError):
        pkifiles.load_certificates(data)


@pytest.mark.parametrize("kind", ["rsa2048", "p256", "secp256k1"])
@pytest.mark.parametrize(
    "encoding, private_format, password",
    [
        (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, None),
        (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, PASSWORD),
        (serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, None),
        (serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, PASSWORD),
        (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, None),
        (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, PASSWORD),
    ],
)
def test_private_key_round_trip(
    keys: dict[str, devpki.PrivateKey],
    kind: str,
    encoding: serialization.Encoding,
    private_format: serialization.PrivateFormat,
    password: bytes | None,
) -> None:
    key = keys[kind]
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption() if password is None else serialization.BestAvailableEncryption(password)
    )
    data = key.private_bytes(encoding, private_format, encryption)
    loaded = pkifiles.load_private_key(data, password)
    assert loaded.private_numbers() == key.private_numbers()


def test_private_key_pem_helper(keys: dict[str, devpki.PrivateKey]) -> None:
    key = keys["p384"]
    plain = pkifiles.private_key_pem(key)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    encrypted = pkifiles.private_key_pem(key, PASSWORD)
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert pkifiles.load_private_key(encrypted, PASSWORD).private_numbers() == key.private_numbers()
    with pytest.raises(ValueError, match="cannot load the private key"):
        pkifiles.load_private_key(encrypted, b"wrong password")
    with pytest.raises(ValueError, match="cannot load the private key"):
        pkifiles.load_private_key(encrypted, None)
    with pytest.raises(ValueError, match="cannot load the private key"):
        pkifiles.load_private_key(plain, PASSWORD)
    with pytest.raises(ValueError, match="cannot load the private key"):
        pkifiles.load_private_key(b"\x30\x03\x02\x01\x00")


def test_load_private_key_refuses_other_key_types() -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="unsupported private key type"):
        pkifiles.load_private_key(pem)


@pytest.mark.parametrize("password", [None, PASSWORD])
def test_pkcs12_round_trip(
    root: x509.Certificate, keys: dict[str, devpki.PrivateKey], password: bytes | None
) -> None:
    leaf = signer(keys, root, "rsa2048")
    data = pkifiles.write_pkcs12("bob", keys["rsa2048"], leaf, [root], password)
    key, cert, additional = pkifiles.load_pkcs12(data, password)
    assert key.private_numbers() == keys["rsa2048"].private_numbers()
    assert cert == leaf
    assert additional == [root]


def test_pkcs12_refusals(root: x509.Certificate, keys: dict[str, devpki.PrivateKey]) -> None:
    leaf = signer(keys, root)
    data = pkifiles.write_pkcs12("bob", keys["p256"], leaf, (), PASSWORD)
    assert pkifiles.load_pkcs12(data, PASSWORD)[2] == []
    with pytest.raises(ValueError, match="cannot load the PKCS#12 file"):
        pkifiles.load_pkcs12(data, b"wrong password")
    with pytest.raises(ValueError, match="cannot load the PKCS#12 file"):
        pkifiles.load_pkcs12(b"garbage", None)
    certs_only = pkcs12.serialize_key_and_certificates(b"ca", None, None, [root], serialization.NoEncryption())
    with pytest.raises(ValueError, match="must hold a private key and its certificate"):
        pkifiles.load_pkcs12(certs_only, None)
