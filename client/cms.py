"""CMS detached signatures (RFC 5652 SignedData, DER) that OpenSSL verifies.

Two profiles (docs/envelopes.md), both detached (no encapsulated content), binary (no MIME
canonicalisation), with the signer's certificate plus the given chain certificates in
`certificates`:

* RSA and ECDSA keys: SHA-256 digest; RSA PKCS#1 v1.5 or ECDSA signature; signed
  attributes contentType, signingTime, messageDigest and S/MIME capabilities. Made by
  `cryptography`'s PKCS#7 builder; `openssl cms -verify` accepts it as it is.
* SM2 keys (`client.sm2keys.SM2PrivateKey`, the national profile of issue 21): SM3 digest
  (1.2.156.10197.1.401) and signatureAlgorithm SM2-with-SM3 (1.2.156.10197.1.501), both
  with parameters absent (as GmSSL writes those two fields; the content types are RFC
  5652's, not GM/T 0010's, so GmSSL's cmsverify does not read the whole); signed attributes contentType, signingTime,
  messageDigest; the SM2 signature over the DER SET of the signed attributes with GM/T
  0009's distinguishing identifier 1234567812345678. Built with `asn1crypto`:
  `cryptography` has no SM2, and OpenSSL 3.0's own `cms -sign` cannot sign with an SM2 key.

  OpenSSL 3.0 checks SM2 CMS signatures and SM2 certificate chains with an *empty*
  identifier and `openssl cms -verify` has no option to name another, so no signature
  made the GM/T way (ours, GmSSL's, a Chinese CA's chain) passes it whole: the docs give
  the three OpenSSL commands that check it (content digest, signature with the identifier,
  path link by link), and tests/unit/client/test_cms_sm2.py runs them.
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import algos, cms as asn1_cms, x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7

from client.errors import ClientError
from client.sm2keys import SM2PrivateKey
from evidence import sm2

# Signer keys the profile allows. secp256k1 is included because ledger members may hold
# secp256k1 certificates; OpenSSL verifies ECDSA on it like on the NIST curves.
SUPPORTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp256k1"})
MIN_RSA_BITS = 2048
# A chain longer than this is a mistake, not a PKI (the ledger's own cap is similar).
MAX_CHAIN_CERTIFICATES = 8
# The SM2 signer's identifier in Z (GB/T 32918.2): GM/T 0009's default, which GmSSL, Chinese
# CAs and the ledger's PKI precompile use. CMS has no field that carries it, so a verifier
# must assume it; OpenSSL 3.0 assumes an empty one (see the module docstring).
SM2_DISTINGUISHING_ID = sm2.DEFAULT_ID
# RFC 5652 §11.3: signingTime is UTCTime for the years 1950 to 2049, GeneralizedTime otherwise.
_UTC_TIME_YEARS = range(1950, 2050)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | SM2PrivateKey


class CmsError(ClientError, ValueError):
    """A signature cannot be made with these inputs; the message says why."""


def sign(
    content: bytes,
    certificate: x509.Certificate,
    private_key: PrivateKey,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """A detached CMS SignedData (DER) over `content`, by `certificate`'s key.

    `chain` holds the certificates a verifier needs between the signer and a root it
    trusts (intermediates; the root may be included too). The signer's own certificate is
    always included; a copy of it in `chain` is skipped. An SM2 key signs with the SM2
    profile (module docstring); signingTime is this machine's clock.
    """
    # 1. The key must be one the profile allows, and the certificate's.
    if isinstance(private_key, SM2PrivateKey):
        _check_sm2_key(certificate, private_key)
    elif isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < MIN_RSA_BITS:
            raise CmsError(f"RSA signer keys must have at least {MIN_RSA_BITS} bits, got {private_key.key_size}")
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.name not in SUPPORTED_CURVES:
            raise CmsError(f"EC curve {private_key.curve.name} is not supported ({', '.join(sorted(SUPPORTED_CURVES))})")
        _check_key(certificate, private_key)
    else:
        raise CmsError(f"{type(private_key).__name__} signer keys are not supported (RSA, EC or SM2 only)")
    # 2. The certificates to embed.
    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise CmsError(f"{len(chain)} chain certificates exceeds the cap of {MAX_CHAIN_CERTIFICATES}")
    extra: list[x509.Certificate] = []
    for cert in chain:
        if cert != certificate and cert not in extra:
            extra.append(cert)
    # 3. Sign: detached, binary (no S/MIME CRLF canonicalisation), DER.
    if isinstance(private_key, SM2PrivateKey):
        return _sign_sm2(content, certificate, private_key, extra, datetime.datetime.now(datetime.UTC))
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(certificate, private_key, hashes.SHA256())
    for cert in extra:
        builder = builder.add_certificate(cert)
    return builder.sign(
        serialization.Encoding.DER,
        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
    )


def sign_file(
    path: Path | str,
    certificate: x509.Certificate,
    private_key: PrivateKey,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """`sign` over a file's bytes (read whole into memory)."""
    return sign(Path(path).read_bytes(), certificate, private_key, chain)


def _check_key(certificate: x509.Certificate, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    """The RSA or EC key is the certificate's (same SubjectPublicKeyInfo)."""
    try:
        certified = certificate.public_key()
    except UnsupportedAlgorithm:
        # `cryptography` builds no SM2 key: the certificate's curve is one it cannot use.
        detail = " (its key is SM2: sign with its SM2PrivateKey)" if _is_sm2(certificate) else ""
        raise CmsError(f"the private key does not belong to the signer certificate{detail}") from None
    if _spki(private_key.public_key()) != _spki(certified):
        raise CmsError("the private key does not belong to the signer certificate")


def _check_sm2_key(certificate: x509.Certificate, private_key: SM2PrivateKey) -> None:
    """The SM2 key is the certificate's (same point of sm2p256v1)."""
    try:
        certified = sm2.SM2PublicKey.from_certificate(certificate)
    except sm2.SM2Error:
        raise CmsError("the private key does not belong to the signer certificate (its key is not SM2)") from None
    if certified != private_key.public_key():
        raise CmsError("the private key does not belong to the signer certificate")


def _is_sm2(certificate: x509.Certificate) -> bool:
    try:
        sm2.SM2PublicKey.from_certificate(certificate)
    except sm2.SM2Error:
        return False
    return True


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _sign_sm2(
    content: bytes,
    certificate: x509.Certificate,
    private_key: SM2PrivateKey,
    extra: Sequence[x509.Certificate],
    signing_time: datetime.datetime,
) -> bytes:
    """The SM2 profile's SignedData (module docstring); `signing_time` is timezone-aware."""
    signer = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    # Parameters absent: GmSSL writes SM3 and SM2-with-SM3 identifiers so (OpenSSL ignores them).
    digest_algorithm = algos.DigestAlgorithm({"algorithm": sm2.SM3_OID})
    when = signing_time.astimezone(datetime.UTC).replace(microsecond=0)
    time = asn1_cms.Time({"utc_time" if when.year in _UTC_TIME_YEARS else "generalized_time": when})
    # asn1crypto encodes a SET OF in DER order, which is what a verifier re-encodes and hashes.
    attributes = asn1_cms.CMSAttributes([
        asn1_cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        asn1_cms.CMSAttribute({"type": "signing_time", "values": [time]}),
        asn1_cms.CMSAttribute({"type": "message_digest", "values": [sm2.sm3(content)]}),
    ])
    # RFC 5652 §5.4: the signature covers the attributes' DER with the SET tag, not [0].
    signature = private_key.sign(attributes.dump(), SM2_DISTINGUISHING_ID)
    signer_info = asn1_cms.SignerInfo({
        "version": "v1",
        "sid": asn1_cms.SignerIdentifier({"issuer_and_serial_number": asn1_cms.IssuerAndSerialNumber({
            "issuer": signer.issuer, "serial_number": signer.serial_number})}),
        "digest_algorithm": digest_algorithm,
        "signed_attrs": attributes,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": sm2.SM3_WITH_SM2_OID}),
        "signature": signature,
    })
    certificates = [signer] + [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in extra]
    signed_data = asn1_cms.SignedData({
        "version": "v1",
        "digest_algorithms": [digest_algorithm],
        "encap_content_info": {"content_type": "data"},  # detached: eContent absent
        "certificates": certificates,
        "signer_infos": [signer_info],
    })
    return bytes(asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())
