"""CMS detached signatures, checked by an independent verifier: `openssl cms -verify`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from client import cms, devpki
from client.credentials import CertificateIdentity
from tests import pki

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not on PATH: the CMS signatures cannot be verified independently")

CONTENT = b"%PDF-1.7\n...\r\nContract No. 2026-0042: works, price, schedule\r\n\x00\xff binary tail"

SIGNERS = {
    "rsa": (pki.rsa_ca, "rsa2048"),
    "p256": (pki.p256_ca, "p256"),      # leaf <- intermediate <- root
    "p384": (pki.p384_ca, "p384"),
    "secp256k1": (pki.p256_ca, "secp256k1"),
}


@pytest.fixture(scope="module")
def signers() -> dict[str, tuple[pki.CA, CertificateIdentity]]:
    out = {}
    for name, (make_ca, kind) in SIGNERS.items():
        ca = make_ca()
        out[name] = (ca, ca.issue(f"Signer {name}", kind))  # type: ignore[arg-type]
    return out


def openssl_verify(tmp_path: Path, signature: bytes, content: bytes, root_pem: bytes, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """`openssl cms -verify` exactly as docs/envelopes.md tells a court to run it."""
    assert OPENSSL is not None
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "content.bin").write_bytes(content)
    (tmp_path / "root.pem").write_bytes(root_pem)
    return subprocess.run(
        [OPENSSL, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
         "-content", str(tmp_path / "content.bin"), "-CAfile", str(tmp_path / "root.pem"),
         "-out", str(tmp_path / "verified.bin"), *extra],
        capture_output=True, timeout=30,
    )


@needs_openssl
@pytest.mark.parametrize("name", list(SIGNERS))
def test_openssl_verifies_the_signature(tmp_path: Path, signers: dict[str, Any], name: str) -> None:
    ca, signer = signers[name]
    signature = cms.sign(CONTENT, signer.leaf, signer.key, signer.chain[1:])
    result = openssl_verify(tmp_path, signature, CONTENT, ca.root_pem, "-purpose", "any")
    assert result.returncode == 0, result.stderr.decode()
    assert b"Verification successful" in result.stderr
    assert (tmp_path / "verified.bin").read_bytes() == CONTENT  # binary: no CRLF rewriting


@needs_openssl
@pytest.mark.parametrize("name", ["rsa", "p256"])
def test_default_purpose_accepts_signer_certificates_without_eku(tmp_path: Path, signers: dict[str, Any], name: str) -> None:
    # The dev PKI's leaves have keyUsage digitalSignature+contentCommitment and no EKU, which
    # OpenSSL's default S/MIME signing purpose accepts; `-purpose any` is only needed for
    # leaves whose EKU lacks emailProtection.
    ca, signer = signers[name]
    signature = cms.sign(CONTENT, signer.leaf, signer.key, signer.chain[1:])
    result = openssl_verify(tmp_path, signature, CONTENT, ca.root_pem)
    assert result.returncode == 0, result.stderr.decode()


@needs_openssl
@pytest.mark.parametrize("name", list(SIGNERS))
@pytest.mark.parametrize("tamper", ["flip a byte", "append a byte", "truncate", "empty"])
def test_tampered_content_fails(tmp_path: Path, signers: dict[str, Any], name: str, tamper: str) -> None:
    ca, signer = signers[name]
    signature = cms.sign(CONTENT, signer.leaf, signer.key, signer.chain[1:])
    altered = {
        "flip a byte": CONTENT[:10] + bytes([CONTENT[10] ^ 1]) + CONTENT[11:],
        "append a byte": CONTENT + b"\n",
        "truncate": CONTENT[:-1],
        "empty": b"",
    }[tamper]
    result = openssl_verify(tmp_path, signature, altered, ca.root_pem, "-purpose", "any")
    assert result.returncode != 0
    assert b"digest failure" in result.stderr or b"content verify error" in result.stderr


@needs_openssl
@pytest.mark.parametrize("name", list(SIGNERS))
def test_another_root_fails(tmp_path: Path, signers: dict[str, Any], name: str) -> None:
    _, signer = signers[name]
    signature = cms.sign(CONTENT, signer.leaf, signer.key, signer.chain[1:])
    for other in (pki.untrusted_ca(), pki.rsa_ca() if name != "rsa" else pki.p384_ca()):
        result = openssl_verify(tmp_path, signature, CONTENT, other.root_pem, "-purpose", "any")
        assert result.returncode != 0
        assert b"certificate verify error" in result.stderr or b"unable to get" in result.stderr


@needs_openssl
def test_missing_intermediate_fails_and_the_chain_argument_supplies_it(tmp_path: Path, signers: dict[str, Any]) -> None:
    ca, signer = signers["p256"]
    without_chain = cms.sign(CONTENT, signer.leaf, signer.key)
    assert openssl_verify(tmp_path, without_chain, CONTENT, ca.root_pem, "-purpose", "any").returncode != 0
    intermediate_only = cms.sign(CONTENT, signer.leaf, signer.key, [ca.issuer])
    assert openssl_verify(tmp_path, intermediate_only, CONTENT, ca.root_pem, "-purpose", "any").returncode == 0


@needs_openssl
def test_signature_is_detached_sha256_with_the_chain(tmp_path: Path, signers: dict[str, Any]) -> None:
    ca, signer = signers["p256"]
    (tmp_path / "sig.der").write_bytes(cms.sign(CONTENT, signer.leaf, signer.key, [*signer.chain[1:], signer.leaf]))
    printed = subprocess.run([OPENSSL or "openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "sig.der")],
                             capture_output=True, check=True, timeout=30).stdout.decode()
    assert "eContent: <ABSENT>" in printed
    assert "sha256" in printed
    assert "ecdsa-with-SHA256" in printed
    assert printed.count("d.certificate:") == 3  # leaf (once, though passed twice), intermediate, root
    for line in ("signingTime", "messageDigest", "contentType"):
        assert line in printed


@needs_openssl
def test_sign_file_verifies(tmp_path: Path, signers: dict[str, Any]) -> None:
    ca, signer = signers["rsa"]
    path = tmp_path / "contract.pdf"
    path.write_bytes(CONTENT)
    signature = cms.sign_file(path, signer.leaf, signer.key, signer.chain[1:])
    result = openssl_verify(tmp_path, signature, CONTENT, ca.root_pem, "-purpose", "any")
    assert result.returncode == 0, result.stderr.decode()


def test_a_key_that_is_not_the_certificates_is_refused(signers: dict[str, Any]) -> None:
    _, signer = signers["p256"]
    _, other = signers["p384"]
    with pytest.raises(cms.CmsError, match="does not belong to the signer certificate"):
        cms.sign(CONTENT, signer.leaf, other.key)


def test_unsupported_signer_keys_are_refused() -> None:
    ca = pki.p256_ca()
    cases: list[tuple[Any, str]] = [
        (rsa.generate_private_key(65537, 1024), "at least 2048 bits"),
        (ec.generate_private_key(ec.SECP521R1()), "secp521r1 is not supported"),
        (ed25519.Ed25519PrivateKey.generate(), "Ed25519PrivateKey signer keys are not supported"),
    ]
    for key, reason in cases:
        cert = devpki.issue_certificate(ca.issuer, ca.issuer_key, key.public_key(), common_name="odd",
                                        not_before=pki.NOT_BEFORE, not_after=pki.NOT_AFTER)
        with pytest.raises(cms.CmsError, match=reason):
            cms.sign(CONTENT, cert, key)


def test_chain_length_is_capped(signers: dict[str, Any]) -> None:
    ca, signer = signers["p256"]
    with pytest.raises(cms.CmsError, match="exceeds the cap"):
        cms.sign(CONTENT, signer.leaf, signer.key, [ca.root] * (cms.MAX_CHAIN_CERTIFICATES + 1))


def test_a_key_of_another_type_than_the_certificates_is_refused(signers: dict[str, Any]) -> None:
    # An EC key presented with a certificate whose key is Ed25519 (or RSA): a CmsError naming
    # the mismatch, not an assertion deep inside.
    ca = pki.p256_ca()
    _, rsa_signer = signers["rsa"]
    _, p256_signer = signers["p256"]
    ed_key: Any = ed25519.Ed25519PrivateKey.generate()  # a key devpki does not type for
    ed_cert = devpki.issue_certificate(ca.issuer, ca.issuer_key, ed_key.public_key(), common_name="ed25519",
                                       not_before=pki.NOT_BEFORE, not_after=pki.NOT_AFTER)
    for certificate in (ed_cert, rsa_signer.leaf):
        with pytest.raises(cms.CmsError, match="does not belong to the signer certificate"):
            cms.sign(CONTENT, certificate, p256_signer.key)
