"""CMS signatures with SM2 keys, checked by OpenSSL 3 (the independent verifier) alone.

The hierarchy (SM2 root -> SM2 intermediate -> SM2 signer, signed with GM/T 0009's
identifier 1234567812345678) is made by the `openssl` command line (tests/openssl_sm2.py).

OpenSSL 3.0 cannot *make* an SM2 CMS signature (`openssl cms -sign` with an SM2 key fails
writing an empty signatureAlgorithm) and checks SM2 CMS signatures and SM2 certificate
chains with an *empty* distinguishing identifier that `openssl cms -verify` cannot change.
So a signature made with the standard identifier is checked the way docs/envelopes.md
tells a court to, in three OpenSSL steps (`check_like_the_docs`):

1. `openssl cms -verify -noverify -no_attr_verify`: the content's SM3 digest matches the
   messageDigest attribute and the signer's certificate is in the SignedData;
2. `openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678`: the
   signer's SM2 signature over the DER SET of the signed attributes;
3. `openssl verify`, link by link with the identifier (tests/openssl_sm2.verify): the
   signer's certificate chains to the root.

`test_openssl_cms_verify_accepts_the_structure_when_everything_uses_its_empty_identifier`
shows the identifier is the only thing between our SignedData and a plain
`openssl cms -verify`.
"""
from __future__ import annotations

import datetime
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509

from client import cms
from client.sm2keys import SM2PrivateKey
from evidence import sm2
from tests import pki
from tests.openssl_sm2 import DEFAULT_ID, Issued, OpensslCA, openssl, require_openssl, verify

CONTENT = b"%PDF-1.7\n...\r\nContract No. 2026-0042: works, price, schedule\r\n\x00\xff binary tail"


@dataclass
class Signer:
    """An openssl-made SM2 signer under an SM2 intermediate and root, as our SDK loads it."""

    issued: Issued
    root: OpensslCA
    intermediate: OpensslCA
    certificate: x509.Certificate
    key: SM2PrivateKey
    chain: list[x509.Certificate]   # intermediate, root


def _load(issued: Issued, root: OpensslCA, intermediate: OpensslCA) -> Signer:
    return Signer(
        issued, root, intermediate,
        x509.load_pem_x509_certificate(issued.cert.read_bytes()),
        SM2PrivateKey.from_pem(issued.key.read_bytes()),
        [x509.load_pem_x509_certificate(p.read_bytes()) for p in (intermediate.cert, root.cert)],
    )


@pytest.fixture(scope="module")
def hierarchy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signer, Signer]:
    """Two signers under the same SM2 intermediate (the second is the "other key")."""
    require_openssl()
    directory = tmp_path_factory.mktemp("sm2-cms")
    root = OpensslCA(directory / "root", "SM2 CMS Root")
    intermediate = OpensslCA(directory / "intermediate", "SM2 CMS Intermediate", parent=root)
    return (_load(intermediate.issue("SM2 Signer"), root, intermediate),
            _load(intermediate.issue("Other SM2 Signer"), root, intermediate))


@pytest.fixture(scope="module")
def signer(hierarchy: tuple[Signer, Signer]) -> Signer:
    return hierarchy[0]


@dataclass
class Extracted:
    """What OpenSSL reads out of a SignedData for the signature check (step 2)."""

    signer_pem: Path
    public_pem: Path
    attributes: Path    # the signed attributes as the DER SET that was signed
    signature: Path     # the SM2 signature (DER SEQUENCE { r, s })


def content_check(work: Path, signature: bytes, content: bytes, *extra: str) -> subprocess.CompletedProcess[str]:
    """Step 1: `openssl cms -verify` of the content digest and the signer's presence, no
    signature (OpenSSL 3.0 would use the empty identifier) and no path (step 3)."""
    (work / "sig.p7s").write_bytes(signature)
    (work / "content.bin").write_bytes(content)
    return openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", work / "sig.p7s",
                   "-content", work / "content.bin", "-noverify", "-no_attr_verify",
                   "-signer", work / "signer.pem", "-out", work / "verified.bin", *extra, check=False)


def extract(work: Path, signature: bytes) -> Extracted:
    """The signer's certificate and public key, the signed attributes and the signature,
    read out by OpenSSL as docs/envelopes.md shows (asn1parse offsets, not our parser)."""
    (work / "sig.p7s").write_bytes(signature)
    (work / "empty").write_bytes(b"")
    # `-nosigs` skips every check: this only writes the signer's certificate out.
    openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", work / "sig.p7s", "-content", work / "empty",
            "-noverify", "-nosigs", "-signer", work / "signer.pem", "-out", work / "ignored")
    openssl("x509", "-in", work / "signer.pem", "-noout", "-pubkey", "-out", work / "public.pem")
    listing = openssl("asn1parse", "-inform", "DER", "-in", work / "sig.p7s").stdout
    # SignerInfo fields sit at depth 5: its [0] is signedAttrs, its OCTET STRING the signature.
    attributes_at = [m.group(1) for m in re.finditer(r"^\s*(\d+):d=5 .*cont \[ 0 \]", listing, re.M)]
    signature_at = [m.group(1) for m in re.finditer(r"^\s*(\d+):d=5 .*prim: OCTET STRING", listing, re.M)]
    assert len(attributes_at) == 1 and len(signature_at) == 1, listing
    openssl("asn1parse", "-inform", "DER", "-in", work / "sig.p7s", "-strparse", attributes_at[0], "-noout",
            "-out", work / "attrs-tagged.der")
    tagged = (work / "attrs-tagged.der").read_bytes()
    assert tagged[0] == 0xA0  # [0] IMPLICIT SET OF Attribute
    (work / "attrs.der").write_bytes(b"\x31" + tagged[1:])  # RFC 5652 §5.4: signed as a SET
    openssl("asn1parse", "-inform", "DER", "-in", work / "sig.p7s", "-strparse", signature_at[0], "-noout",
            "-out", work / "signature.der")
    return Extracted(work / "signer.pem", work / "public.pem", work / "attrs.der", work / "signature.der")


def signature_check(found: Extracted, *distid: str) -> subprocess.CompletedProcess[str]:
    """Step 2: `openssl pkeyutl -verify` of the SM2 signature over the signed attributes."""
    options = [arg for value in distid for arg in ("-pkeyopt", f"distid:{value}")]
    return openssl("pkeyutl", "-verify", "-pubin", "-inkey", found.public_pem, "-rawin", "-digest", "sm3",
                   *options, "-in", found.attributes, "-sigfile", found.signature, check=False)


def check_like_the_docs(work: Path, signature: bytes, content: bytes, signer: Signer) -> None:
    """Steps 1-3 of docs/envelopes.md; each must pass."""
    result = content_check(work, signature, content)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    assert (work / "verified.bin").read_bytes() == content  # binary: no CRLF rewriting
    found = extract(work, signature)
    result = signature_check(found, DEFAULT_ID)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout
    # The certificate OpenSSL found as the signer is the one we signed with ...
    assert x509.load_pem_x509_certificate(found.signer_pem.read_bytes()) == signer.certificate
    # ... and it chains to the root with GM/T 0009's identifier on every link.
    result = verify(signer.issued)
    assert result.returncode == 0, result.stdout + result.stderr


def printed(work: Path, signature: bytes) -> str:
    (work / "print.p7s").write_bytes(signature)
    return openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", work / "print.p7s").stdout


# -- what OpenSSL accepts ------------------------------------------------------------------


def test_openssl_accepts_the_sm2_signature_with_the_standard_identifier(tmp_path: Path, signer: Signer) -> None:
    signature = cms.sign(CONTENT, signer.certificate, signer.key, signer.chain)
    check_like_the_docs(tmp_path, signature, CONTENT, signer)


def test_sign_file_and_the_intermediate_alone_also_verify(tmp_path: Path, signer: Signer) -> None:
    path = tmp_path / "contract.pdf"
    path.write_bytes(CONTENT)
    signature = cms.sign_file(path, signer.certificate, signer.key, signer.chain[:1])
    check_like_the_docs(tmp_path, signature, CONTENT, signer)


def test_the_signature_is_refused_under_any_other_identifier(tmp_path: Path, signer: Signer) -> None:
    found = extract(tmp_path, cms.sign(CONTENT, signer.certificate, signer.key, signer.chain))
    assert signature_check(found, DEFAULT_ID).returncode == 0
    for other in ([], ["1234567812345679"], ["alice@example.com"]):  # [] = OpenSSL 3.0's empty default
        result = signature_check(found, *other)
        assert result.returncode != 0, other
        assert "Signature Verification Failure" in result.stdout, other


@pytest.mark.parametrize("tamper", ["flip a byte", "append a byte", "truncate", "empty"])
def test_tampered_content_is_refused_by_openssl(tmp_path: Path, signer: Signer, tamper: str) -> None:
    signature = cms.sign(CONTENT, signer.certificate, signer.key, signer.chain)
    altered = {
        "flip a byte": CONTENT[:10] + bytes([CONTENT[10] ^ 1]) + CONTENT[11:],
        "append a byte": CONTENT + b"\n",
        "truncate": CONTENT[:-1],
        "empty": b"",
    }[tamper]
    assert content_check(tmp_path, signature, CONTENT).returncode == 0
    result = content_check(tmp_path, signature, altered)
    assert result.returncode != 0
    assert "content verify error" in result.stderr or "digest failure" in result.stderr


def test_a_tampered_signature_or_attribute_is_refused_by_openssl(tmp_path: Path, signer: Signer) -> None:
    found = extract(tmp_path, cms.sign(CONTENT, signer.certificate, signer.key, signer.chain))
    good_signature = found.signature.read_bytes()
    # The last octet of s, changed: still strict DER, no longer the signature.
    found.signature.write_bytes(good_signature[:-1] + bytes([good_signature[-1] ^ 1]))
    assert signature_check(found, DEFAULT_ID).returncode != 0
    found.signature.write_bytes(good_signature)
    attributes = found.attributes.read_bytes()
    found.attributes.write_bytes(attributes[:-1] + bytes([attributes[-1] ^ 1]))  # inside messageDigest
    assert signature_check(found, DEFAULT_ID).returncode != 0


def test_openssl_cms_verify_accepts_the_structure_when_everything_uses_its_empty_identifier(
        tmp_path: Path) -> None:
    # OpenSSL 3.0 offers `openssl cms -verify` no way to name the identifier: it checks the
    # SignerInfo and every certificate with an empty one. A chain made with the empty
    # identifier and our SignedData with its signature remade by `openssl pkeyutl` (empty
    # identifier) pass the plain command, default purpose included; our own output, with
    # the standard identifier, fails only at the SignerInfo signature.
    version = openssl("version").stdout
    if not version.startswith("OpenSSL 3."):
        pytest.skip(f"the empty default identifier is OpenSSL 3's ({version.strip()})")
    root = OpensslCA(tmp_path / "root", "Empty ID Root", distid="")
    intermediate = OpensslCA(tmp_path / "intermediate", "Empty ID Intermediate", parent=root, distid="")
    signer = _load(intermediate.issue("Empty ID Signer"), root, intermediate)
    ours = cms.sign(CONTENT, signer.certificate, signer.key, signer.chain[:1])
    work = tmp_path / "work"
    work.mkdir()
    found = extract(work, ours)
    openssl("pkeyutl", "-sign", "-inkey", signer.issued.key, "-rawin", "-digest", "sm3",
            "-in", found.attributes, "-out", work / "empty-id.sig")
    info = asn1_cms.ContentInfo.load(ours)
    info["content"]["signer_infos"][0]["signature"] = (work / "empty-id.sig").read_bytes()
    remade = info.dump(force=True)

    def plain_verify(signature: bytes) -> subprocess.CompletedProcess[str]:
        (work / "plain.p7s").write_bytes(signature)
        (work / "content.bin").write_bytes(CONTENT)
        return openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", work / "plain.p7s",
                       "-content", work / "content.bin", "-CAfile", root.cert, "-out", work / "plain.out",
                       check=False)

    result = plain_verify(remade)
    assert result.returncode == 0, result.stderr
    assert (work / "plain.out").read_bytes() == CONTENT
    result = plain_verify(ours)
    assert result.returncode != 0
    assert "CMS_SignerInfo_verify" in result.stderr


def test_the_signed_data_is_detached_sm3_with_sm2_and_the_chain(tmp_path: Path, signer: Signer) -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    signature = cms.sign(CONTENT, signer.certificate, signer.key, [*signer.chain, signer.certificate])
    after = datetime.datetime.now(datetime.UTC)
    text = printed(tmp_path, signature)
    assert "contentType: pkcs7-signedData (1.2.840.113549.1.7.2)" in text
    assert "eContentType: pkcs7-data (1.2.840.113549.1.7.1)" in text
    assert "eContent: <ABSENT>" in text
    # digestAlgorithms and the SignerInfo's digestAlgorithm, parameters absent (as GmSSL writes).
    assert text.count("algorithm: sm3 (1.2.156.10197.1.401)\n          parameter: <ABSENT>") == 1
    assert text.count("algorithm: sm3 (1.2.156.10197.1.401)") == 2
    assert "algorithm: SM2-with-SM3 (1.2.156.10197.1.501)\n          parameter: <ABSENT>" in text
    assert text.count("d.certificate:") == 3  # signer (once, though passed twice), intermediate, root
    assert "d.issuerAndSerialNumber:" in text
    objects = re.findall(r"object: (\S+) \(", text)
    assert objects == ["contentType", "signingTime", "messageDigest"]  # and no S/MIME capabilities
    # messageDigest is SM3 of the content, by `openssl dgst`.
    (tmp_path / "content.bin").write_bytes(CONTENT)
    sm3_hex = openssl("dgst", "-sm3", "-r", tmp_path / "content.bin").stdout.split()[0]
    info = asn1_cms.ContentInfo.load(signature)
    attributes = {a["type"].native: a["values"][0] for a in info["content"]["signer_infos"][0]["signed_attrs"]}
    assert attributes["message_digest"].native.hex() == sm3_hex
    assert attributes["content_type"].native == "data"
    signing_time = attributes["signing_time"]
    assert signing_time.name == "utc_time"  # RFC 5652 §11.3: UTCTime from 1950 to 2049
    assert before <= signing_time.native <= after


def test_the_library_verifier_agrees(tmp_path: Path, signer: Signer) -> None:
    # The ledger's own SM2 check (evidence.sm2, GmSSL) reads what OpenSSL extracted the same way.
    found = extract(tmp_path, cms.sign(CONTENT, signer.certificate, signer.key, signer.chain))
    public = sm2.SM2PublicKey.from_certificate(signer.certificate)
    assert public.verify(found.attributes.read_bytes(), found.signature.read_bytes())
    assert not public.verify(found.attributes.read_bytes(), found.signature.read_bytes(), b"1234567812345679")


# -- what `sign` refuses -------------------------------------------------------------------


def test_an_sm2_key_that_is_not_the_certificates_is_refused(hierarchy: tuple[Signer, Signer]) -> None:
    signer, other = hierarchy
    with pytest.raises(cms.CmsError, match="does not belong to the signer certificate"):
        cms.sign(CONTENT, signer.certificate, other.key, signer.chain)
    with pytest.raises(cms.CmsError, match="does not belong to the signer certificate"):
        cms.sign(CONTENT, signer.certificate, SM2PrivateKey.generate())


def test_an_sm2_key_with_a_certificate_that_is_not_sm2_is_refused(signer: Signer) -> None:
    ca = pki.p256_ca()
    p256 = ca.issue("P-256 signer", "p256")
    with pytest.raises(cms.CmsError, match=r"does not belong to the signer certificate \(its key is not SM2\)"):
        cms.sign(CONTENT, p256.leaf, signer.key)


def test_an_ec_or_rsa_key_with_an_sm2_certificate_is_refused(signer: Signer) -> None:
    ca = pki.p256_ca()
    for identity in (ca.issue("P-256 signer", "p256"), pki.rsa_ca().issue("RSA signer", "rsa2048")):
        with pytest.raises(cms.CmsError, match=r"does not belong to the signer certificate \(its key is SM2"):
            cms.sign(CONTENT, signer.certificate, identity.key)


def test_the_chain_cap_applies_to_sm2(signer: Signer) -> None:
    with pytest.raises(cms.CmsError, match="exceeds the cap"):
        cms.sign(CONTENT, signer.certificate, signer.key, [signer.chain[0]] * (cms.MAX_CHAIN_CERTIFICATES + 1))
