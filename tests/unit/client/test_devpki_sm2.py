"""SM2 in the development PKI (client.devpki): SM2 CAs, SM2 subject keys under any issuer,
SM2-signed CRLs, SM2 key files and identities — checked with `SM2PublicKey.verify`, by
``cryptography`` where the issuer is RSA or ECDSA, and independently by the `openssl`
command line (tests/openssl_sm2.py: link by link with the distinguishing ID). And key and
PKCS#12 files whose key derivations would cost minutes, refused before ``cryptography``
runs them, while every scheme OpenSSL writes still loads."""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms, keys as asn1_keys, pkcs12 as asn1_pkcs12, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from client import devpki, pkifiles, signers
from client.credentials import CredentialError, load_identity
from client.sm2keys import SM2PrivateKey, pem_armor
from evidence.sm2 import SM3_WITH_SM2_OID, SM2PublicKey
from tests.openssl_sm2 import DEFAULT_ID, openssl, require_openssl, verify_crl, verify_path

BASE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = BASE + timedelta(days=365)
PASSWORD = b"correct horse battery staple"
DIGEST = hashlib.sha256(b"tender award").digest()
# AlgorithmIdentifier { 1.2.156.10197.1.501 } with no parameters, as OpenSSL and GmSSL write it.
SM3_WITH_SM2_ALGORITHM = bytes.fromhex("300a06082a811ccf55018375")
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


@dataclass(frozen=True)
class Chain:
    """root → intermediate (pathLen 0) → leaf, with their keys."""

    root: x509.Certificate
    root_key: devpki.PrivateKey
    inter: x509.Certificate
    inter_key: devpki.PrivateKey
    leaf: x509.Certificate
    leaf_key: devpki.PrivateKey

    def write(self, directory: Path) -> list[Path]:
        """leaf.pem, inter.pem, root.pem: the path openssl checks, leaf first."""
        paths = []
        for name, cert in (("leaf", self.leaf), ("inter", self.inter), ("root", self.root)):
            path = directory / f"{name}.pem"
            path.write_bytes(cert.public_bytes(PEM))
            paths.append(path)
        return paths


def make_chain(root_kind: devpki.KeyType, inter_kind: devpki.KeyType, leaf_kind: devpki.KeyType) -> Chain:
    root_key, inter_key, leaf_key = (devpki.generate_key(k) for k in (root_kind, inter_kind, leaf_kind))
    root = devpki.make_root(f"Root ({root_kind})", root_key, not_before=BASE, not_after=NOT_AFTER, serial=1,
                            organization="国家 Trading Center")
    inter = devpki.issue_certificate(root, root_key, inter_key.public_key(), common_name=f"Signing ({inter_kind})",
                                     is_ca=True, path_length=0, not_before=BASE, not_after=NOT_AFTER, serial=2)
    leaf = devpki.issue_certificate(inter, inter_key, leaf_key.public_key(), common_name="Tenderer",
                                    organization="Tenderer Ltd", not_before=BASE, not_after=NOT_AFTER, serial=3)
    return Chain(root, root_key, inter, inter_key, leaf, leaf_key)


@pytest.fixture(scope="module")
def sm2_chain() -> Chain:
    return make_chain("sm2", "sm2", "sm2")


@pytest.fixture(scope="module")
def rsa_to_sm2() -> Chain:
    return make_chain("rsa2048", "p256", "sm2")


@pytest.fixture(scope="module")
def sm2_to_p256() -> Chain:
    return make_chain("sm2", "sm2", "p256")


def signed_parts(cert: x509.Certificate) -> tuple[bytes, bytes, bytes, bytes]:
    """(TBSCertificate, its signature AlgorithmIdentifier, the outer one, signature)."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(DER))
    return (cert.tbs_certificate_bytes, parsed["tbs_certificate"]["signature"].dump(),
            parsed["signature_algorithm"].dump(), cert.signature)


def sm2_key(key: devpki.PrivateKey) -> SM2PrivateKey:
    assert isinstance(key, SM2PrivateKey)
    return key


def ski(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def aki(cert: x509.Certificate) -> bytes | None:
    return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier


# -- keys --------------------------------------------------------------------------------------


def test_generate_sm2_key() -> None:
    key = devpki.generate_key("sm2")
    assert isinstance(key, SM2PrivateKey) and isinstance(key.public_key(), SM2PublicKey)
    assert "sm2" in devpki.KEY_TYPES


# -- certificates ------------------------------------------------------------------------------


def test_sm2_root(sm2_chain: Chain) -> None:
    root, key = sm2_chain.root, sm2_key(sm2_chain.root_key)
    assert root.version == x509.Version.v3 and root.serial_number == 1
    assert root.subject == root.issuer and root.subject.rfc4514_string() == "CN=Root (sm2),O=国家 Trading Center"
    tbs, inner, outer, signature = signed_parts(root)
    assert inner == outer == SM3_WITH_SM2_ALGORITHM
    assert root.signature_algorithm_oid.dotted_string == SM3_WITH_SM2_OID
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length is None
    usage = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign and not usage.value.digital_signature
    # RFC 5280 method 1: SHA-1 of the subjectPublicKey bits, the uncompressed point.
    assert ski(root) == hashlib.sha1(key.public_key().encoded).digest()
    assert devpki.public_key(root) == key.public_key()
    assert key.public_key().verify(tbs, signature)
    assert not key.public_key().verify(tbs, signature, b"1234567812345679")  # the ID is signed too
    assert not key.public_key().verify(tbs.replace(b"Root (sm2)", b"Root (SM2)"), signature)


def test_sm2_intermediate_and_leaf(sm2_chain: Chain) -> None:
    inter, leaf = sm2_chain.inter, sm2_chain.leaf
    constraints = inter.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert aki(inter) == ski(sm2_chain.root) and aki(leaf) == ski(inter)
    assert ski(leaf) == hashlib.sha1(sm2_key(sm2_chain.leaf_key).public_key().encoded).digest()
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert leaf.issuer == inter.subject and leaf.subject.rfc4514_string() == "CN=Tenderer,O=Tenderer Ltd"
    for cert, issuer_key in ((inter, sm2_chain.root_key), (leaf, sm2_chain.inter_key)):
        tbs, inner, outer, signature = signed_parts(cert)
        assert inner == outer == SM3_WITH_SM2_ALGORITHM
        assert sm2_key(issuer_key).public_key().verify(tbs, signature)
    # The issuer's signature, not any SM2 key's.
    tbs, _, _, signature = signed_parts(leaf)
    assert not sm2_key(sm2_chain.root_key).public_key().verify(tbs, signature)


def test_rsa_and_ecdsa_issuers_certify_an_sm2_key(rsa_to_sm2: Chain) -> None:
    # RSA root → P-256 intermediate (cryptography's builder) → SM2 leaf (asn1crypto TBS,
    # signed ECDSA): cryptography checks the signature itself, the key it cannot read.
    inter, leaf = rsa_to_sm2.inter, rsa_to_sm2.leaf
    inter.verify_directly_issued_by(rsa_to_sm2.root)
    leaf.verify_directly_issued_by(inter)
    assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    public = sm2_key(rsa_to_sm2.leaf_key).public_key()
    assert devpki.public_key(leaf) == public
    assert devpki.spki_der(devpki.public_key(leaf)) == public.spki_der()
    assert ski(leaf) == hashlib.sha1(public.encoded).digest() and aki(leaf) == ski(inter)

    direct = devpki.issue_certificate(rsa_to_sm2.root, rsa_to_sm2.root_key, public, common_name="Direct",
                                      not_before=BASE, not_after=NOT_AFTER, serial=9)
    direct.verify_directly_issued_by(rsa_to_sm2.root)
    assert direct.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    _, inner, outer, _ = signed_parts(direct)
    assert inner == outer and inner.endswith(b"\x05\x00")  # RSA's NULL parameters


def test_sm2_issuer_certifies_a_p256_key(sm2_to_p256: Chain) -> None:
    leaf = sm2_to_p256.leaf
    public = devpki.public_key(leaf)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert devpki.spki_der(public) == devpki.spki_der(sm2_to_p256.leaf_key.public_key())
    tbs, inner, _, signature = signed_parts(leaf)
    assert inner == SM3_WITH_SM2_ALGORITHM
    assert sm2_key(sm2_to_p256.inter_key).public_key().verify(tbs, signature)
    assert ski(leaf) == x509.SubjectKeyIdentifier.from_public_key(public).digest


def test_sm2_issuer_refuses_another_hash(sm2_chain: Chain) -> None:
    with pytest.raises(ValueError, match="SM2 key signs with SM3"):
        devpki.make_root("Wrong", sm2_chain.root_key, not_before=BASE, not_after=NOT_AFTER, hash_algorithm=hashes.SHA256())


def test_sm2_extra_extension_replaces_a_default(sm2_chain: Chain) -> None:
    usage = x509.KeyUsage(False, True, False, False, False, False, False, False, False)
    cert = devpki.issue_certificate(
        sm2_chain.inter, sm2_chain.inter_key, sm2_chain.leaf_key.public_key(), common_name="Dan", serial=5,
        extra_extensions=[(usage, False)], not_before=BASE, not_after=NOT_AFTER,
    )
    extension = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert not extension.critical and extension.value.content_commitment and not extension.value.digital_signature
    assert len(cert.extensions) == 4  # basicConstraints, keyUsage (replaced in place), SKI, AKI


def test_random_serial_for_sm2(sm2_chain: Chain) -> None:
    first = devpki.make_root("R", sm2_chain.root_key, not_before=BASE, not_after=NOT_AFTER)
    second = devpki.make_root("R", sm2_chain.root_key, not_before=BASE, not_after=NOT_AFTER)
    assert first.serial_number != second.serial_number and first.serial_number > 0
    for bad in (0, -1, 2**159):
        with pytest.raises(ValueError, match="serial number must be positive and at most 159 bits"):
            devpki.make_root("R", sm2_chain.root_key, not_before=BASE, not_after=NOT_AFTER, serial=bad)
    with pytest.raises(ValueError, match="serial number must be positive"):
        devpki.make_crl(sm2_chain.inter, sm2_chain.inter_key, [0], this_update=BASE, next_update=NOT_AFTER)


# -- the asn1crypto path encodes what cryptography's builders encode ----------------------------


@pytest.mark.parametrize("kind", ["p256", "rsa2048"])
@pytest.mark.parametrize("hash_algorithm", [None, hashes.SHA384(), hashes.SHA512(), hashes.SHA3_256()])
def test_asn1crypto_path_matches_cryptography_byte_for_byte(
    kind: devpki.KeyType, hash_algorithm: devpki.SigningHash | None
) -> None:
    # The path SM2 takes, run with keys cryptography also takes: the same DER, so SM2
    # certificates and CRLs get cryptography's field order, name, time and extension encodings.
    issuer_key, subject_key = devpki.generate_key(kind), ec.generate_private_key(ec.SECP384R1())
    assert isinstance(issuer_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
    late = datetime(2061, 6, 1, 12, 30, 15, 999, tzinfo=UTC)  # GeneralizedTime, fractions dropped
    root = devpki.make_root("Root", issuer_key, not_before=BASE, not_after=late, serial=5, organization="中文 Org")
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(True, True, False, False, False, False, False, False, False), True),
        (devpki.subject_key_identifier(subject_key.public_key()), False),
        (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]), False),
        (x509.SubjectAlternativeName([x509.DNSName("center.example"), x509.RFC822Name("a@center.example")]), False),
    ]
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "招标人"),
                      x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "CN")])
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(root.subject).public_key(subject_key.public_key())
    builder = builder.serial_number(2**150).not_valid_before(BASE).not_valid_after(late)
    for value, critical in extensions:
        builder = builder.add_extension(value, critical)
    chosen = hash_algorithm or hashes.SHA256()
    theirs = (builder.sign(issuer_key, chosen, ecdsa_deterministic=True) if isinstance(issuer_key, ec.EllipticCurvePrivateKey)
              else builder.sign(issuer_key, chosen))
    ours = devpki._asn1_certificate(name, root.subject, subject_key.public_key(), issuer_key, 2**150, BASE, late,
                                    extensions, hash_algorithm)
    assert ours.public_bytes(DER) == theirs.public_bytes(DER)

    crl_extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), False),
        (x509.CRLNumber(12), False),
    ]
    for serials in ([7, 3, 2**100], []):
        expected = devpki.make_crl(root, issuer_key, serials, this_update=BASE, next_update=late, number=12,
                                   hash_algorithm=hash_algorithm)
        made = devpki._asn1_crl(root.subject, issuer_key, serials, BASE, late, crl_extensions, hash_algorithm)
        assert made.public_bytes(DER) == expected.public_bytes(DER)


# -- CRLs --------------------------------------------------------------------------------------


def test_sm2_crl(sm2_chain: Chain) -> None:
    crl = devpki.make_crl(sm2_chain.inter, sm2_chain.inter_key, [3, 77], this_update=BASE,
                          next_update=BASE + timedelta(days=7), number=42)
    assert crl.issuer == sm2_chain.inter.subject
    assert crl.signature_algorithm_oid.dotted_string == SM3_WITH_SM2_OID
    assert sorted(entry.serial_number for entry in crl) == [3, 77]
    assert all(entry.revocation_date_utc == BASE for entry in crl)
    assert crl.last_update_utc == BASE and crl.next_update_utc == BASE + timedelta(days=7)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    assert crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ski(sm2_chain.inter)
    public = sm2_key(sm2_chain.inter_key).public_key()
    assert public.verify(crl.tbs_certlist_bytes, crl.signature)
    assert not sm2_key(sm2_chain.root_key).public_key().verify(crl.tbs_certlist_bytes, crl.signature)

    empty = devpki.make_crl(sm2_chain.inter, sm2_chain.inter_key, [], this_update=BASE, next_update=NOT_AFTER)
    assert len(empty) == 0 and public.verify(empty.tbs_certlist_bytes, empty.signature)


# -- signing digests, key files, identities -----------------------------------------------------


def test_sign_digest_with_sm2(sm2_chain: Chain) -> None:
    key = sm2_key(sm2_chain.leaf_key)
    first, second = devpki.sign_digest(key, DIGEST), devpki.sign_digest(key, DIGEST)
    assert first != second  # SM2 signatures are randomised, unlike RFC 6979 ECDSA
    assert key.public_key().verify(DIGEST, first) and key.public_key().verify(DIGEST, second)
    assert not key.public_key().verify(hashlib.sha256(b"other").digest(), first)
    with pytest.raises(ValueError, match="digest must be 32 bytes"):
        devpki.sign_digest(key, DIGEST[:20])


def test_sm2_key_files_through_devpki(sm2_chain: Chain) -> None:
    key = sm2_key(sm2_chain.leaf_key)
    plain, encrypted = pkifiles.private_key_pem(key), pkifiles.private_key_pem(key, PASSWORD)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    for data, password in ((plain, None), (encrypted, PASSWORD), (pkifiles.private_key_der(key), None)):
        loaded = pkifiles.load_private_key(data, password)
        assert isinstance(loaded, SM2PrivateKey) and loaded.private_bytes_raw == key.private_bytes_raw
    with pytest.raises(ValueError, match="cannot load the private key: .*wrong password"):
        pkifiles.load_private_key(encrypted, b"wrong password")
    with pytest.raises(ValueError, match="cannot load the private key: .*give its password"):
        pkifiles.load_private_key(encrypted, None)
    with pytest.raises(ValueError, match="cannot load the private key: .*not encrypted"):
        pkifiles.load_private_key(plain, PASSWORD)


def test_pkcs12_is_refused_for_sm2_naming_the_alternative(sm2_chain: Chain, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key.pem and chain.pem"):
        pkifiles.write_pkcs12("alice", sm2_chain.leaf_key, sm2_chain.leaf, [sm2_chain.inter], PASSWORD)
    require_openssl()
    key, cert, p12 = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "alice.p12"
    key.write_bytes(pkifiles.private_key_pem(sm2_chain.leaf_key))
    cert.write_bytes(sm2_chain.leaf.public_bytes(PEM))
    openssl("pkcs12", "-export", "-inkey", key, "-in", cert, "-passout", "pass:pw", "-out", p12)
    with pytest.raises(ValueError, match="cannot load the PKCS#12 file: .*--cert chain.pem --cert-key key.pem"):
        pkifiles.load_pkcs12(p12.read_bytes(), b"pw")
    with pytest.raises(CredentialError, match="PKCS#12 files with SM2 keys are not supported"):
        signers.load_signer(p12=p12, password="pw")


def test_identity_and_signer_from_sm2_files(sm2_chain: Chain, rsa_to_sm2: Chain, tmp_path: Path) -> None:
    chain_pem = tmp_path / "chain.pem"
    chain_pem.write_bytes(devpki.chain_pem([sm2_chain.leaf, sm2_chain.inter, sm2_chain.root]))
    key_pem, other_pem = tmp_path / "key.pem", tmp_path / "other.pem"
    key_pem.write_bytes(pkifiles.private_key_pem(sm2_chain.leaf_key, PASSWORD))
    other_pem.write_bytes(pkifiles.private_key_pem(rsa_to_sm2.leaf_key))

    identity = load_identity(cert=chain_pem, key=key_pem, password=PASSWORD.decode())
    assert identity.chain == (sm2_chain.leaf, sm2_chain.inter, sm2_chain.root)
    assert sm2_key(sm2_chain.leaf_key).public_key().verify(DIGEST, identity.sign_digest(DIGEST))
    signer = signers.load_signer(cert=chain_pem, key=key_pem, password=PASSWORD.decode())
    assert isinstance(signer, signers.Signer) and signer.fingerprint == identity.fingerprint
    assert sm2_key(sm2_chain.leaf_key).public_key().verify(DIGEST, signer.sign_digest(DIGEST))

    with pytest.raises(CredentialError, match="does not belong to the leaf certificate"):
        load_identity(cert=chain_pem, key=other_pem)  # another SM2 key
    # An SM2 leaf cannot take a secp256k1 keystore, said as such rather than a crash.
    keystore = tmp_path / "keystore.json"
    keystore.write_text(json.dumps({"version": 3}))
    with pytest.raises(CredentialError, match="not secp256k1"):
        signers.load_signer(cert=chain_pem, keystore=keystore, password="pw")


def test_devpki_loads_openssl_key_files(tmp_path: Path) -> None:
    require_openssl()
    sm2_source, rsa_source = tmp_path / "sm2.pem", tmp_path / "rsa.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", sm2_source)
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa_source)
    sm2_expected = SM2PrivateKey.from_pem(sm2_source.read_bytes())
    variants: dict[str, list[str | Path]] = {
        "genpkey-aes": ["genpkey", "-algorithm", "SM2", "-aes-256-cbc", "-pass", "pass:pw"],
        "sm4": ["pkcs8", "-topk8", "-v2", "sm4-cbc", "-passout", "pass:pw", "-in", sm2_source],
        "sec1": ["ec", "-in", sm2_source],
    }
    for name, args in variants.items():
        out = tmp_path / f"{name}.pem"
        openssl(*args, "-out", out)
        loaded = pkifiles.load_private_key(out.read_bytes(), b"pw" if "pass:pw" in args else None)
        assert isinstance(loaded, SM2PrivateKey), name
        if name != "genpkey-aes":
            assert loaded.private_bytes_raw == sm2_expected.private_bytes_raw, name
    assert isinstance(pkifiles.load_private_key(sm2_source.read_bytes()), SM2PrivateKey)
    # An RSA key under SM4-CBC: cryptography cannot decrypt it, sm2keys does, cryptography reads it.
    rsa_sm4 = tmp_path / "rsa-sm4.pem"
    openssl("pkcs8", "-topk8", "-v2", "sm4-cbc", "-passout", "pass:pw", "-in", rsa_source, "-out", rsa_sm4)
    loaded_rsa = pkifiles.load_private_key(rsa_sm4.read_bytes(), b"pw")
    assert isinstance(loaded_rsa, rsa.RSAPrivateKey)
    expected_rsa = pkifiles.load_private_key(rsa_source.read_bytes())
    assert isinstance(expected_rsa, rsa.RSAPrivateKey)
    assert loaded_rsa.private_numbers() == expected_rsa.private_numbers()
    with pytest.raises(ValueError, match="cannot load the private key: .*wrong password"):
        pkifiles.load_private_key(rsa_sm4.read_bytes(), b"nope")


# -- OpenSSL accepts what we make -----------------------------------------------------------------


def test_openssl_verifies_our_sm2_chain(sm2_chain: Chain, tmp_path: Path) -> None:
    require_openssl()
    path = sm2_chain.write(tmp_path)
    result = verify_path(path)
    assert result.returncode == 0, result.stderr
    # Without GM/T 0009's identifier OpenSSL 3.0 checks with an empty one and refuses.
    plain = openssl("verify", "-partial_chain", "-CAfile", path[1], path[0], check=False)
    assert plain.returncode != 0 and "signature failure" in plain.stdout + plain.stderr
    assert verify_path(path, distid="1234567812345679").returncode != 0


def test_openssl_refuses_a_tampered_sm2_certificate(sm2_chain: Chain, tmp_path: Path) -> None:
    require_openssl()
    path = sm2_chain.write(tmp_path)
    der = bytearray(sm2_chain.leaf.public_bytes(DER))
    der[-5] ^= 0x01  # inside the signature's s
    path[0].write_bytes(x509.load_der_x509_certificate(bytes(der)).public_bytes(PEM))
    assert verify_path(path).returncode != 0


@pytest.mark.parametrize("which", ["rsa_to_sm2", "sm2_to_p256"])
def test_openssl_verifies_mixed_chains(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    require_openssl()
    chain: Chain = request.getfixturevalue(which)
    result = verify_path(chain.write(tmp_path))
    assert result.returncode == 0, result.stderr


def test_openssl_accepts_our_sm2_crl(sm2_chain: Chain, tmp_path: Path) -> None:
    require_openssl()
    path = sm2_chain.write(tmp_path)
    crl = devpki.make_crl(sm2_chain.inter, sm2_chain.inter_key, [3, 0x1F2E], this_update=BASE,
                          next_update=NOT_AFTER, number=7)
    crl_file = tmp_path / "signing.crl"
    crl_file.write_bytes(crl.public_bytes(DER))
    assert verify_crl(crl_file, path[1]).returncode == 0
    assert verify_crl(crl_file, path[2]).returncode != 0  # the root did not sign it
    assert verify_crl(crl_file, path[1], distid="1234567812345679").returncode != 0
    text = openssl("crl", "-inform", "DER", "-in", crl_file, "-noout", "-text").stdout
    assert "Serial Number: 03" in text and "Serial Number: 1F2E" in text and "SM2-with-SM3" in text
    tampered = tmp_path / "tampered.crl"
    tampered.write_bytes(crl.public_bytes(DER).replace(b"\x02\x02\x1f\x2e", b"\x02\x02\x1f\x2f"))
    assert verify_crl(tampered, path[1]).returncode != 0


def test_openssl_accepts_our_p256_crl_through_the_same_helper(rsa_to_sm2: Chain, tmp_path: Path) -> None:
    require_openssl()
    path = rsa_to_sm2.write(tmp_path)
    crl = devpki.make_crl(rsa_to_sm2.inter, rsa_to_sm2.inter_key, [3], this_update=BASE, next_update=NOT_AFTER)
    crl_file = tmp_path / "p256.crl"
    crl_file.write_bytes(crl.public_bytes(DER))
    assert verify_crl(crl_file, path[1]).returncode == 0
    assert verify_crl(crl_file, path[2]).returncode != 0


def test_openssl_pkeyutl_accepts_sign_digest(sm2_chain: Chain, tmp_path: Path) -> None:
    require_openssl()
    key = sm2_key(sm2_chain.leaf_key)
    public, digest, signature = tmp_path / "public.pem", tmp_path / "digest.bin", tmp_path / "signature.der"
    public.write_bytes(pem_armor("PUBLIC KEY", key.public_key().spki_der()))
    digest.write_bytes(DIGEST)
    signature.write_bytes(devpki.sign_digest(key, DIGEST))

    def check(distid: str) -> int:
        return openssl("pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin", "-digest", "sm3",
                       "-pkeyopt", f"distid:{distid}", "-in", digest, "-sigfile", signature, check=False).returncode

    assert check(DEFAULT_ID) == 0
    assert check("1234567812345679") != 0



# -- hostile key files: refused before they cost anything ------------------------------------------

HOSTILE_ITERATIONS = 2**31 - 1  # minutes of PBKDF2 or the PKCS#12 KDF if anything ran it


def _with_iterations(encrypted_der: bytes, iterations: int) -> bytes:
    """The EncryptedPrivateKeyInfo with its PBKDF2 iteration count changed (nothing else)."""
    info = asn1_keys.EncryptedPrivateKeyInfo.load(encrypted_der)
    pbes2 = info["encryption_algorithm"]["parameters"]
    kdf = pbes2["key_derivation_func"]["parameters"]
    return asn1_keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": {"algorithm": "pbes2", "parameters": {
            "key_derivation_func": {"algorithm": "pbkdf2", "parameters": {
                "salt": kdf["salt"], "iteration_count": iterations, "prf": kdf["prf"]}},
            "encryption_scheme": pbes2["encryption_scheme"]}},
        "encrypted_data": info["encrypted_data"].native,
    }).dump()


def _pem_der(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")))


@pytest.mark.timeout(20)
def test_load_private_key_refuses_a_hostile_count_before_cryptography_runs_it(sm2_chain: Chain,
                                                                             rsa_to_sm2: Chain) -> None:
    hostile: dict[str, bytes] = {}
    for name, key in (("sm2", sm2_chain.leaf_key), ("p256", rsa_to_sm2.inter_key)):
        der = _with_iterations(_pem_der(pkifiles.private_key_pem(key, PASSWORD)), HOSTILE_ITERATIONS)
        pem = pem_armor("ENCRYPTED PRIVATE KEY", der)
        hostile[f"{name} PEM"], hostile[f"{name} DER"] = pem, der
        # cryptography's PEM reader takes a block with headers (RFC 7468 allows none here).
        hostile[f"{name} PEM with a header"] = pem.replace(b"-----\n", b"-----\nComment: hi\n\n", 1)
        hostile[f"{name} PEM after a certificate"] = sm2_chain.root.public_bytes(PEM) + pem
    # PKCS#12 PBE (what `openssl pkcs8 -v1 PBE-SHA1-3DES` writes) and PBES1.
    for name in ("pkcs12_sha1_tripledes_3key", "pbes1_sha1_des"):
        hostile[name] = asn1_keys.EncryptedPrivateKeyInfo({
            "encryption_algorithm": {"algorithm": name, "parameters": {"salt": b"\x01" * 8,
                                                                       "iterations": HOSTILE_ITERATIONS}},
            "encrypted_data": b"\x00" * 160,
        }).dump()
    for name, data in hostile.items():
        with pytest.raises(ValueError, match=f"cannot load the private key: .*{HOSTILE_ITERATIONS}|no headers") as refused:
            pkifiles.load_private_key(data, PASSWORD)
        assert "header" in name or f"iteration count {HOSTILE_ITERATIONS} is outside" in str(refused.value), name


def test_encrypted_keys_of_every_scheme_still_load(rsa_to_sm2: Chain, tmp_path: Path) -> None:
    require_openssl()
    key = rsa_to_sm2.inter_key  # P-256
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    plain = tmp_path / "plain.pem"
    plain.write_bytes(pkifiles.private_key_pem(key))
    variants = {
        "pbes2-aes": ["-v2", "aes-256-cbc"],
        "pbes2-3des": ["-v2", "des3"],              # decrypted by cryptography (sm2keys lacks 3DES)
        "pkcs12-pbe-3des": ["-v1", "PBE-SHA1-3DES"],  # decrypted by cryptography, its cost checked first
    }
    for name, args in variants.items():
        out = tmp_path / f"{name}.pem"
        openssl("pkcs8", "-topk8", *args, "-in", plain, "-passout", "pass:pw", "-out", out)
        for data in (out.read_bytes(), _pem_der(out.read_bytes())):
            loaded = pkifiles.load_private_key(data, b"pw")
            assert isinstance(loaded, ec.EllipticCurvePrivateKey), name
            assert loaded.private_numbers() == key.private_numbers(), name
            with pytest.raises(ValueError, match="cannot load the private key"):
                pkifiles.load_private_key(data, b"not it")
            with pytest.raises(ValueError, match="give its password"):
                pkifiles.load_private_key(data)
    # Traditional PEM encryption (Proc-Type): one MD5 whatever the file says, read by cryptography.
    legacy = key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.BestAvailableEncryption(b"pw"))
    assert b"Proc-Type" in legacy
    loaded_legacy = pkifiles.load_private_key(legacy, b"pw")
    assert isinstance(loaded_legacy, ec.EllipticCurvePrivateKey)
    assert loaded_legacy.private_numbers() == key.private_numbers()
    # A password for an unencrypted DER key is a mistake said as such.
    with pytest.raises(ValueError, match="a password was given but the key file is not encrypted"):
        pkifiles.load_private_key(pkifiles.private_key_der(key), b"pw")


def test_load_private_key_refuses_an_ec_key_without_curve_parameters(sm2_chain: Chain) -> None:
    inner = asn1_keys.PrivateKeyInfo.load(pkifiles.private_key_der(sm2_chain.leaf_key))["private_key"].parsed
    der = asn1_keys.PrivateKeyInfo({"version": 0, "private_key_algorithm": {"algorithm": "ec"},
                                    "private_key": inner}).dump()
    for data in (der, pem_armor("PRIVATE KEY", der), pem_armor("SM2 PRIVATE KEY", der)):
        with pytest.raises(ValueError, match="cannot load the private key"):
            pkifiles.load_private_key(data)


def test_ca_issue_refuses_a_ca_key_without_curve_parameters(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from client.cli import app

    runner = CliRunner()
    ca = tmp_path / "ca"
    made = runner.invoke(app, ["ca", "new", "--name", "Court CA", "--out", str(ca), "--key-type", "sm2"])
    assert made.exit_code == 0, made.output
    inner = asn1_keys.PrivateKeyInfo.load(_pem_der((ca / "ca.key").read_bytes()))["private_key"].parsed
    bare = asn1_keys.PrivateKeyInfo({"version": 0, "private_key_algorithm": {"algorithm": "ec"},
                                     "private_key": inner}).dump()
    for label in ("PRIVATE KEY", "SM2 PRIVATE KEY"):
        (ca / "ca.key").write_bytes(pem_armor(label, bare))
        result = runner.invoke(app, ["ca", "issue", "--ca", str(ca), "--name", "Clerk", "--out", str(tmp_path / label)])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (label, result.output,
                                                                                     result.exception)
        assert "cannot load the private key" in result.output
        assert not (tmp_path / label).exists()


# -- PKCS#12 -------------------------------------------------------------------------------------


def _pfx(data: bytes) -> asn1_pkcs12.Pfx:
    return asn1_pkcs12.Pfx.load(data)


def _with_mac_iterations(data: bytes, iterations: int) -> bytes:
    pfx = _pfx(data)
    mac = pfx["mac_data"]
    return asn1_pkcs12.Pfx({"version": pfx["version"], "auth_safe": pfx["auth_safe"], "mac_data": {
        "mac": mac["mac"], "mac_salt": mac["mac_salt"], "iterations": iterations}}).dump()


def _pfx_of(parts: list[asn1_cms.ContentInfo]) -> bytes:
    """A PFX of these parts (its MAC wrong: the costs are refused before any MAC is checked)."""
    safe = asn1_pkcs12.AuthenticatedSafe(parts).dump()
    return asn1_pkcs12.Pfx({"version": "v3", "auth_safe": {"content_type": "data", "content": safe}, "mac_data": {
        "mac": {"digest_algorithm": {"algorithm": "sha256"}, "digest": b"\x00" * 32},
        "mac_salt": b"\x01" * 8, "iterations": 2048}}).dump()


def _hostile_key_bag() -> asn1_pkcs12.SafeBag:
    return asn1_pkcs12.SafeBag({"bag_id": "pkcs8_shrouded_key_bag", "bag_value": asn1_keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": {"algorithm": "pkcs12_sha1_tripledes_3key",
                                 "parameters": {"salt": b"\x01" * 8, "iterations": HOSTILE_ITERATIONS}},
        "encrypted_data": b"\x00" * 160})})


def _encrypted_part(bags: asn1_pkcs12.SafeContents, iterations: int = 2048) -> asn1_cms.ContentInfo:
    """Bags encrypted PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) as cryptography and OpenSSL 3 do."""
    from client import sm2keys

    sealed = asn1_keys.EncryptedPrivateKeyInfo.load(sm2keys.encrypt_private_key_info(bags.dump(), PASSWORD))
    algorithm = sealed["encryption_algorithm"]
    if iterations != 2048:
        algorithm = asn1_keys.EncryptedPrivateKeyInfo.load(
            _with_iterations(sealed.dump(), iterations))["encryption_algorithm"]
    return asn1_cms.ContentInfo({"content_type": "encrypted_data", "content": {
        "version": "v0", "encrypted_content_info": {
            "content_type": "data", "content_encryption_algorithm": algorithm,
            "encrypted_content": sealed["encrypted_data"].native}}})


@pytest.mark.timeout(20)
def test_load_pkcs12_refuses_hostile_counts_before_cryptography_runs_them(rsa_to_sm2: Chain) -> None:
    good = pkifiles.write_pkcs12("alice", rsa_to_sm2.inter_key, rsa_to_sm2.inter, [rsa_to_sm2.root], PASSWORD)
    assert pkifiles.load_pkcs12(good, PASSWORD)[1] == rsa_to_sm2.inter
    # The MAC's count: cryptography derives the MAC key before it can tell the MAC is wrong.
    with pytest.raises(pkifiles.Pkcs12TooCostly, match=f"the MAC: {HOSTILE_ITERATIONS} key derivation iterations") as refused:
        pkifiles.load_pkcs12(_with_mac_iterations(good, HOSTILE_ITERATIONS), PASSWORD)
    assert refused.value.part == "the MAC" and refused.value.iterations == HOSTILE_ITERATIONS
    with pytest.raises(pkifiles.Pkcs12TooCostly, match="over the cap of 10000000"):
        pkifiles.load_pkcs12(_with_mac_iterations(good, 0), PASSWORD)

    hostile_bags = asn1_pkcs12.SafeContents([_hostile_key_bag()])
    plain_part = asn1_cms.ContentInfo({"content_type": "data", "content": hostile_bags.dump()})
    nested = asn1_pkcs12.SafeContents([{"bag_id": "safe_contents", "bag_value": hostile_bags}])
    cases = {
        "a shrouded key in plain": ([plain_part], f"a shrouded key: PKCS#12 KDF iteration count {HOSTILE_ITERATIONS}"),
        "an encrypted part": ([_encrypted_part(asn1_pkcs12.SafeContents([]), HOSTILE_ITERATIONS)],
                              f"an encrypted part: PBKDF2 iteration count {HOSTILE_ITERATIONS}"),
        "a shrouded key inside a PBES2 part": ([_encrypted_part(hostile_bags)], "a shrouded key: PKCS#12 KDF"),
        "a shrouded key in a nested bag": ([_encrypted_part(nested)], "a shrouded key: PKCS#12 KDF"),
        # Each part within the cap, together over it.
        "many parts": ([_encrypted_part(asn1_pkcs12.SafeContents([]), 4_000_000)] * 3,
                       "4000000 key derivation iterations, 12002048 in all"),
    }
    for parts, reason in cases.values():  # keyed by what each case plants
        with pytest.raises(pkifiles.Pkcs12TooCostly, match=reason):
            pkifiles.load_pkcs12(_pfx_of(parts), PASSWORD)
    deep = hostile_bags
    for _ in range(pkifiles.MAX_PKCS12_NESTING + 1):
        deep = asn1_pkcs12.SafeContents([{"bag_id": "safe_contents", "bag_value": deep}])
    with pytest.raises(pkifiles.Pkcs12TooCostly, match="nested deeper than 4"):
        pkifiles.load_pkcs12(_pfx_of([asn1_cms.ContentInfo({"content_type": "data", "content": deep.dump()})]), PASSWORD)
    with pytest.raises(ValueError, match="cannot load the PKCS#12 file: not a well-formed PKCS#12 PFX"):
        pkifiles.load_pkcs12(b"\x30\x03\x02\x01\x03", PASSWORD)


@pytest.mark.parametrize("how", [
    [],                                                                            # OpenSSL 3: PBES2, SHA-256 MAC
    ["-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"],  # legacy PKCS#12 PBE
    ["-nomac"],
    ["-iter", "600000"],
])
def test_pkcs12_files_openssl_writes_still_load(rsa_to_sm2: Chain, tmp_path: Path, how: list[str]) -> None:
    require_openssl()
    key, cert, p12 = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "alice.p12"
    key.write_bytes(pkifiles.private_key_pem(rsa_to_sm2.inter_key))
    cert.write_bytes(rsa_to_sm2.inter.public_bytes(PEM))
    openssl("pkcs12", "-export", "-inkey", key, "-in", cert, *how, "-passout", "pass:pw", "-out", p12)
    loaded, leaf, _ = pkifiles.load_pkcs12(p12.read_bytes(), b"pw")
    assert leaf == rsa_to_sm2.inter and devpki.spki_der(loaded.public_key()) == devpki.spki_der(rsa_to_sm2.inter.public_key())
    if "-nomac" not in how:
        with pytest.raises(ValueError, match="cannot load the PKCS#12 file"):
            pkifiles.load_pkcs12(p12.read_bytes(), b"not it")
