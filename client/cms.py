"""CMS detached signatures (RFC 5652 SignedData, DER) that `openssl cms -verify` accepts.

Profile (docs/envelopes.md): SHA-256 digest; RSA PKCS#1 v1.5 or ECDSA signature; signed
attributes contentType, signingTime, messageDigest and S/MIME capabilities; no
encapsulated content (detached); the signer's certificate plus the given chain
certificates in `certificates`; binary content (no MIME canonicalisation).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from client.errors import ClientError

# Signer keys the profile allows. secp256k1 is included because ledger members may hold
# secp256k1 certificates; OpenSSL verifies ECDSA on it like on the NIST curves.
SUPPORTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp256k1"})
MIN_RSA_BITS = 2048
# A chain longer than this is a mistake, not a PKI (the ledger's own cap is similar).
MAX_CHAIN_CERTIFICATES = 8

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


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
    always included; a copy of it in `chain` is skipped.
    """
    # 1. The key must be one the profile allows, and the certificate's.
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < MIN_RSA_BITS:
            raise CmsError(f"RSA signer keys must have at least {MIN_RSA_BITS} bits, got {private_key.key_size}")
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name not in SUPPORTED_CURVES:
            raise CmsError(f"EC curve {private_key.curve.name} is not supported ({', '.join(sorted(SUPPORTED_CURVES))})")
    else:
        raise CmsError(f"{type(private_key).__name__} signer keys are not supported (RSA or EC only)")
    if _spki(private_key.public_key()) != _spki(certificate.public_key()):
        raise CmsError("the private key does not belong to the signer certificate")
    # 2. The certificates to embed.
    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise CmsError(f"{len(chain)} chain certificates exceeds the cap of {MAX_CHAIN_CERTIFICATES}")
    extra = []
    for cert in chain:
        if cert != certificate and cert not in extra:
            extra.append(cert)
    # 3. Sign: detached, binary (no S/MIME CRLF canonicalisation), DER.
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


def _spki(public_key: object) -> bytes:
    assert isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey))
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
