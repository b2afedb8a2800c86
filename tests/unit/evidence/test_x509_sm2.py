"""SM2 in the X.509 rules, on hierarchies the `openssl` command line made (tests/openssl_sm2.py):
SM2 chains and CRLs accepted like the others, mixed with RSA and ECDSA under the mixed
profile, refused under gm when anything is not SM2, and every SM2-specific refusal with
its reason (wrong distinguishing identifier, tampered signature, algorithm and key that do
not fit, a point off the curve)."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from client.sm2keys import SM2PrivateKey
from evidence import sm2, x509 as px
from evidence.x509 import CertificateError, CryptoProfile, Purpose
from tests.openssl_sm2 import DEFAULT_ID, END, START, Issued, OpensslCA, openssl, verify

AT = 1_800_000_000  # 2027-01-15: inside the fixture's validity (2024-2034), whatever the clock
GM = CryptoProfile.GM
ID_NOTE = ("SM2 with the distinguishing identifier 1234567812345678; a {what} OpenSSL signed without "
           "-sigopt distid:1234567812345678 uses an empty identifier")
GM_REFUSAL = "the chain's crypto profile is gm (national algorithms only)"


def der_of(pem_file: Path) -> bytes:
    return x509.load_pem_x509_certificate(pem_file.read_bytes()).public_bytes(serialization.Encoding.DER)


def ders(issued: Issued) -> list[bytes]:
    """Leaf first, root last."""
    return [der_of(path) for path in issued.path]


def fixed_crl(ca: OpensslCA) -> bytes:
    """``ca``'s CRL with fixed dates (OpensslCA.crl takes thisUpdate from the clock)."""
    pem = ca.directory / "crl-fixed.pem"
    sign = (["-md", "sm3", "-sigopt", f"distid:{ca.distid}"] if ca.key_type == "sm2" else ["-md", "sha256"])
    openssl("ca", "-batch", "-config", ca.config, "-gencrl", "-out", pem, "-cert", ca.cert, "-keyfile", ca.key,
            "-crlexts", "crl", "-crl_lastupdate", START, "-crl_nextupdate", END, *sign)
    return x509.load_pem_x509_crl(pem.read_bytes()).public_bytes(serialization.Encoding.DER)


def flip_last_bit(der: bytes) -> bytes:
    """The last bit of a certificate or CRL: the low bit of its signature's s."""
    return der[:-1] + bytes([der[-1] ^ 1])


@dataclass
class Hierarchies:
    sm2_root: OpensslCA
    sm2_ca: OpensslCA
    alice: Issued              # SM2 signer under SM2 CA under SM2 root
    wrong_id: Issued           # signed by the SM2 CA with distid 1111111111111111
    carol: Issued              # revoked; in sm2_crl
    rsa_leaf_under_sm2: Issued
    sm2_leaf_under_rsa: Issued
    rsa_leaf: Issued
    p256_leaf: Issued
    deep: Issued               # under a CA below the pathlen:0 SM2 CA
    twin_sm2: OpensslCA        # three roots named "Twin CA": SM2, RSA, P-256
    twin_rsa: OpensslCA
    twin_p256: OpensslCA
    twin_sm2_leaf: Issued
    twin_rsa_leaf: Issued
    twin_p256_leaf: Issued
    sm2_crl: bytes
    rsa_twin_crl: bytes


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hierarchies]:
    base = tmp_path_factory.mktemp("openssl-sm2")
    sm2_root = OpensslCA(base / "sm2-root", "SM2 Root")
    sm2_ca = OpensslCA(base / "sm2-ca", "SM2 CA", parent=sm2_root)
    rsa_root = OpensslCA(base / "rsa-root", "RSA Root", key_type="rsa2048")
    p256_root = OpensslCA(base / "p256-root", "P256 Root", key_type="p256")
    below = OpensslCA(base / "sm2-below", "SM2 Below", parent=sm2_ca)
    twins = [OpensslCA(base / f"twin-{kind}", "Twin CA", key_type=kind) for kind in ("sm2", "rsa2048", "p256")]
    carol = sm2_ca.issue("Carol")
    sm2_ca.revoke(carol)
    yield Hierarchies(
        sm2_root=sm2_root, sm2_ca=sm2_ca,
        alice=sm2_ca.issue("Alice"),
        wrong_id=sm2_ca.issue("Bob", distid="1111111111111111"),
        carol=carol,
        rsa_leaf_under_sm2=sm2_ca.issue("Dave", key_type="rsa2048"),
        sm2_leaf_under_rsa=rsa_root.issue("Erin"),
        rsa_leaf=rsa_root.issue("Frank", key_type="rsa2048"),
        p256_leaf=p256_root.issue("Grace", key_type="p256"),
        deep=below.issue("Heidi"),
        twin_sm2=twins[0], twin_rsa=twins[1], twin_p256=twins[2],
        twin_sm2_leaf=twins[0].issue("Ivan"),
        twin_rsa_leaf=twins[1].issue("Judy"),
        twin_p256_leaf=twins[2].issue("Mallory"),
        sm2_crl=fixed_crl(sm2_ca),
        rsa_twin_crl=fixed_crl(twins[1]),
    )


def refused(call: object, *args: object, **kwargs: object) -> CertificateError:
    with pytest.raises(CertificateError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# --- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(CryptoProfile))
def test_sm2_root_ca_and_signer_are_accepted(pki: Hierarchies, profile: CryptoProfile) -> None:
    chain = ders(pki.alice)
    assert verify(pki.alice).returncode == 0  # OpenSSL agrees, link by link, with the default identifier
    info = px.validate_chain(chain, AT, profile=profile)
    assert info.leaf_subject == "O=Alice Org,CN=Alice"
    assert info.root_fingerprint == hashlib.sha256(chain[-1]).digest()
    # Revocation keys: (issuer's SubjectPublicKeyInfo hash, serial), as for the other algorithms.
    spki = sm2.SM2PublicKey.from_certificate(x509.load_der_x509_certificate(chain[1])).spki_der()
    assert info.links[0] == px.Link(hashlib.sha256(spki).digest(), pki.alice.serial)
    assert px.chain_verifying_keys(chain, profile=profile) == (px.SM2VerifyingKey(),) * 3
    assert px.verifying_key(chain[0], signer=True, profile=profile) == px.SM2VerifyingKey()
    assert px.inspect_root(chain[-1], AT, profile=profile).subject == "O=SM2 Root Org,CN=SM2 Root"


def test_sm2_and_rsa_mix_freely_under_the_mixed_profile(pki: Hierarchies) -> None:
    # An SM2 key in an RSA-signed certificate, and an RSA key in an SM2-signed one.
    assert px.validate_chain(ders(pki.sm2_leaf_under_rsa), AT).leaf_subject == "O=Erin Org,CN=Erin"
    assert px.validate_chain(ders(pki.rsa_leaf_under_sm2), AT).leaf_subject == "O=Dave Org,CN=Dave"
    assert px.chain_verifying_keys(ders(pki.sm2_leaf_under_rsa)) == (px.RSAVerifyingKey(2048, 17),) * 2
    assert px.verifying_key(ders(pki.sm2_leaf_under_rsa)[0], signer=True) == px.SM2VerifyingKey()


def test_digest_signature_by_an_sm2_leaf(pki: Hierarchies) -> None:
    leaf = ders(pki.alice)[0]
    key = SM2PrivateKey.from_pem(pki.alice.key.read_bytes())
    digest = hashlib.sha256(b"contract").digest()
    px.verify_digest_signature(leaf, digest, key.sign_digest(digest))
    px.verify_digest_signature(leaf, digest, key.sign_digest(digest), profile=GM)
    # OpenSSL's own SM2 signature over the 32 digest bytes (SM3(Z || digest)) verifies too.
    (pki.alice.directory / "digest.bin").write_bytes(digest)
    openssl("pkeyutl", "-sign", "-inkey", pki.alice.key, "-rawin", "-digest", "sm3", "-pkeyopt",
            f"distid:{DEFAULT_ID}", "-in", pki.alice.directory / "digest.bin", "-out", pki.alice.directory / "sig")
    px.verify_digest_signature(leaf, digest, (pki.alice.directory / "sig").read_bytes())


# --- refused: identifier, tampering, off-curve points -------------------------------------------


def test_wrong_distinguishing_identifier_is_refused_with_the_reason(pki: Hierarchies) -> None:
    error = refused(px.validate_chain, ders(pki.wrong_id), AT)
    assert error.index == 0
    assert error.reason == f"signature is not made by the next certificate's key ({ID_NOTE.format(what='certificate')})"
    # OpenSSL, checking with the default identifier, refuses it as well.
    assert verify(pki.wrong_id).returncode != 0


def test_digest_signature_with_another_identifier_or_bit_is_refused(pki: Hierarchies) -> None:
    leaf = ders(pki.alice)[0]
    key = SM2PrivateKey.from_pem(pki.alice.key.read_bytes())
    digest = b"\x42" * 32
    reason = ("signature does not match the certificate's key (SM2 over SM3(Z || digest), "
              "Z with the distinguishing identifier 1234567812345678)")
    for signature in (key.sign(digest, b"1111111111111111"), flip_last_bit(key.sign_digest(digest))):
        error = refused(px.verify_digest_signature, leaf, digest, signature)
        assert error.index == 0 and error.reason == reason
    error = refused(px.verify_digest_signature, leaf, digest, b"\x30\x03\x02\x01\x01")
    assert error.reason.startswith("signature does not match the certificate's key: SM2 signature is not")


def test_tampered_certificate_signature_is_refused(pki: Hierarchies) -> None:
    chain = ders(pki.alice)
    error = refused(px.validate_chain, [flip_last_bit(chain[0]), *chain[1:]], AT)
    assert error.index == 0 and error.reason.startswith("signature is not made by the next certificate's key (SM2")
    # The root's own signature too.
    error = refused(px.inspect_root, flip_last_bit(chain[-1]), AT)
    assert error.reason == f"root is not self-signed ({ID_NOTE.format(what='certificate')})"


def test_sm2_point_off_the_curve_is_refused(pki: Hierarchies) -> None:
    leaf = ders(pki.alice)[0]
    point = sm2.SM2PublicKey.from_certificate(x509.load_der_x509_certificate(leaf)).encoded
    assert leaf.count(point) == 1
    bad = leaf.replace(point, point[:-1] + bytes([point[-1] ^ 1]))
    error = refused(px.validate_chain, [bad, *ders(pki.alice)[1:]], AT)
    assert error.index == 0
    assert error.reason == "SM2 public key is malformed: SM2 public key is not a point of the curve sm2p256v1"
    assert refused(px.verifying_key, bad, signer=True).reason == error.reason  # refused before pricing


# --- refused: algorithm and key that do not fit -----------------------------------------------------


@pytest.mark.parametrize("leaf,root,algorithm,key", [
    ("twin_sm2_leaf", "twin_rsa", "SM3withSM2", "RSA"),
    ("twin_sm2_leaf", "twin_p256", "SM3withSM2", "EC P-256"),
    ("twin_rsa_leaf", "twin_sm2", "sha256WithRSAEncryption", "SM2"),
    ("twin_p256_leaf", "twin_sm2", "ecdsa-with-SHA256", "SM2"),
    ("twin_p256_leaf", "twin_rsa", "ecdsa-with-SHA256", "RSA"),
])
def test_signature_algorithm_must_fit_the_issuer_key(pki: Hierarchies, leaf: str, root: str, algorithm: str,
                                                     key: str) -> None:
    # Same issuer name, another key type: the names chain, the algorithm cannot be checked.
    chain = [ders(getattr(pki, leaf))[0], der_of(getattr(pki, root).cert)]
    error = refused(px.validate_chain, chain, AT)
    assert error.index == 0
    assert error.reason == (f"signature is not made by the next certificate's key: signature algorithm "
                            f"{algorithm} cannot be checked with the next certificate's {key} key")


# --- the gm profile -------------------------------------------------------------------------------


@pytest.mark.parametrize("name,index,what", [
    ("sm2_leaf_under_rsa", 0, "a sha256WithRSAEncryption signature"),
    ("rsa_leaf", 0, "a sha256WithRSAEncryption signature"),
    ("p256_leaf", 0, "an ecdsa-with-SHA256 signature"),
    ("rsa_leaf_under_sm2", 0, "an RSA key"),
])
def test_gm_profile_refuses_anything_but_sm2(pki: Hierarchies, name: str, index: int, what: str) -> None:
    issued = getattr(pki, name)
    px.validate_chain(ders(issued), AT)  # fine under mixed
    error = refused(px.validate_chain, ders(issued), AT, profile=GM)
    assert error.index == index and error.subject is not None and error.subject.startswith("O=")
    assert error.reason == f"{GM_REFUSAL}: {what} is not allowed"


def test_gm_profile_refuses_non_sm2_keys_before_pricing(pki: Hierarchies) -> None:
    error = refused(px.chain_verifying_keys, ders(pki.rsa_leaf), profile=GM)
    assert error.index == 1 and error.reason == f"{GM_REFUSAL}: an RSA key is not allowed"
    error = refused(px.verifying_key, ders(pki.p256_leaf)[0], signer=True, profile=GM)
    assert error.reason == f"{GM_REFUSAL}: an ECDSA key is not allowed"
    error = refused(px.inspect_root, ders(pki.rsa_leaf)[-1], AT, profile=GM)
    assert error.reason == f"{GM_REFUSAL}: a sha256WithRSAEncryption signature is not allowed"
    leaf = ders(pki.rsa_leaf_under_sm2)[0]
    error = refused(px.verify_digest_signature, leaf, b"\x01" * 32, b"\x30\x00", profile=GM)
    assert error.reason == f"{GM_REFUSAL}: an RSA key is not allowed"


# --- same rules as the other algorithms ---------------------------------------------------------------


def test_sm2_certificates_follow_the_common_rules(pki: Hierarchies) -> None:
    chain = ders(pki.alice)
    assert "expired at 2034-01-01T00:00:00Z" in refused(px.validate_chain, chain, 2_100_000_000).reason
    assert "not valid until 2024-01-01" in refused(px.validate_chain, chain, 1_600_000_000).reason
    # A CA is not a signer; a signer is not a CRL issuer.
    assert refused(px.validate_chain, chain[1:], AT).reason == "a CA certificate cannot be a signer"
    assert refused(px.validate_chain, chain, AT, Purpose.CRL_ISSUER).reason == "not a CA: basicConstraints cA is false"
    # The SM2 CA has pathlen:0, and a CA below it issued Heidi.
    error = refused(px.validate_chain, ders(pki.deep), AT)
    assert error.index == 2 and error.reason.startswith("pathLenConstraint 0 exceeded")


# --- CRLs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(CryptoProfile))
def test_sm2_crl_revokes_by_issuer_key_and_serial(pki: Hierarchies, profile: CryptoProfile) -> None:
    issuer_chain = ders(pki.sm2_ca.issued)
    px.validate_chain(issuer_chain, AT, Purpose.CRL_ISSUER, profile=profile)
    crl = px.parse_crl(pki.sm2_crl, issuer_chain[0], AT, profile=profile)
    assert crl.serials == (pki.carol.serial,)
    carol = px.validate_chain(ders(pki.carol), AT, profile=profile)
    assert (crl.issuer_key_hash, crl.serials[0]) == (carol.links[0].issuer_key_hash, carol.links[0].serial)
    assert pki.alice.serial not in crl.serials


def test_sm2_crl_with_a_bad_signature_is_refused(pki: Hierarchies) -> None:
    issuer = ders(pki.sm2_ca.issued)[0]
    error = refused(px.parse_crl, flip_last_bit(pki.sm2_crl), issuer, AT)
    assert error.reason == f"CRL refused: signature is not made by the issuer's key ({ID_NOTE.format(what='CRL')})"
    # Another SM2 CA (the root) is not its issuer.
    other = refused(px.parse_crl, pki.sm2_crl, der_of(pki.sm2_root.cert), AT)
    assert other.reason.startswith("CRL refused: its issuer (O=SM2 CA Org,CN=SM2 CA)")


def test_crl_algorithm_must_fit_the_issuer_key(pki: Hierarchies) -> None:
    # The RSA twin's CRL checked with the SM2 twin's certificate (the same name).
    sm2_twin = der_of(pki.twin_sm2.cert)
    error = refused(px.parse_crl, pki.rsa_twin_crl, sm2_twin, AT)
    assert error.reason == ("CRL refused: signature is not made by the issuer's key: signature algorithm "
                            "sha256WithRSAEncryption cannot be checked with the issuer's SM2 key")
    error = refused(px.parse_crl, pki.rsa_twin_crl, sm2_twin, AT, profile=GM)
    assert error.reason == f"CRL refused: {GM_REFUSAL}: a sha256WithRSAEncryption signature is not allowed"
    # And an RSA CA cannot issue CRLs at all under gm.
    error = refused(px.parse_crl, pki.rsa_twin_crl, der_of(pki.twin_rsa.cert), AT, profile=GM)
    assert error.reason == f"{GM_REFUSAL}: a sha256WithRSAEncryption signature is not allowed"
