"""PKI precompile pricing (issue 15, finding 6): RSA keys with unreasonable exponents are
refused before any signature is checked, and the gas of normal chains is the rule that
docs/chaincode.md states, number for number."""
from __future__ import annotations

import functools
import math

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from eth_abi import encode

from client import devpki
from evidence import x509 as px
from node.execution import pki as precompile
from node.execution.chain import Chain
from tests import pki
from tests.unit.node.precompile_harness import call, reason

DIGEST = b"\x5a" * 32

# The figures of docs/chaincode.md, written out so that a change to the constants
# without the document (or the other way round) fails here.
DOC_BASE = 3_000
DOC_PER_CERTIFICATE = 10_000
DOC_PER_CERTIFICATE_BYTE = 16
DOC_P256_CHECK = 1_500
DOC_RSA2048_E65537_CHECK = 636   # 200 + ceil(32^2 * 17 / 40)
DOC_SM2_CHECK = 13_000           # 0.61 ms x 20,000 gas/ms, rounded up


def verify_input(chain_der: bytes, signature: bytes) -> bytes:
    return precompile.VERIFY + encode(["bytes", "bytes32", "bytes"], [chain_der, DIGEST, signature])


def rsa_with_exponent(bits: int, exponent: int) -> rsa.RSAPrivateKey:
    """An RSA key with public exponent ``exponent`` (stepped down by 2 until it is coprime
    to lambda(n)); cryptography only generates small ones, so d is computed here."""
    base = rsa.generate_private_key(public_exponent=65537, key_size=bits).private_numbers()
    p, q = base.p, base.q
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    while math.gcd(exponent, lam) != 1:
        exponent -= 2
    d = pow(exponent, -1, lam)
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                    rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(exponent, p * q))
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def five_certificate_chain(key: rsa.RSAPrivateKey) -> bytes:
    """Root, three CAs and a signer, all with ``key`` (the finding's shape)."""
    validity = {"not_before": pki.NOT_BEFORE, "not_after": pki.NOT_AFTER}
    root = devpki.make_root("Big-e Root", key, serial=1, **validity)  # type: ignore[arg-type]
    path = [root]
    for level in range(3):
        path.insert(0, devpki.issue_certificate(path[0], key, key.public_key(), common_name=f"Big-e CA {level}",
                                                is_ca=True, serial=10 + level, **validity))  # type: ignore[arg-type]
    leaf = devpki.issue_certificate(path[0], key, key.public_key(), common_name="Big-e Signer", serial=100,
                                    **validity)  # type: ignore[arg-type]
    return devpki.chain_der([leaf, *path])


@functools.cache
def finding_6() -> tuple[bytes, bytes]:
    """The chain of the finding: five RSA-3072 certificates, an exponent of ~3,066 bits,
    and a valid digest signature — each check ~6 ms here, 63,000 gas in all before."""
    key = rsa_with_exponent(3072, (1 << 3066) - 1)
    return five_certificate_chain(key), devpki.sign_digest(key, DIGEST)


def test_finding_6_chain_reverts_before_any_signature_check(chain: Chain) -> None:
    chain_der, signature = finding_6()
    computation = call(chain, verify_input(chain_der, signature))
    text = reason(computation)
    assert "RSA public exponent of 3066 bits is too large" in text and "at most 32 bits" in text
    # Refused between the two charges: only the framing price was taken.
    framing = DOC_BASE + 5 * DOC_PER_CERTIFICATE + DOC_PER_CERTIFICATE_BYTE * len(chain_der)
    assert computation.get_gas_used() == framing


def test_finding_6_chain_is_refused_offline_with_the_step_named() -> None:
    chain_der, signature = finding_6()
    ders = px.split_certificates(chain_der)
    with pytest.raises(px.CertificateError) as caught:
        px.validate_chain(ders, 1_800_000_000)
    assert caught.value.index == 0 and "exponent of 3066 bits" in caught.value.reason
    with pytest.raises(px.CertificateError, match="exponent of 3066 bits"):
        px.verify_digest_signature(ders[0], DIGEST, signature)
    with pytest.raises(px.CertificateError, match="exponent of 3066 bits"):
        px.chain_verifying_keys(ders)


def test_largest_allowed_exponent_is_priced_by_its_length(chain: Chain) -> None:
    key = rsa_with_exponent(2048, 2**px.MAX_RSA_PUBLIC_EXPONENT_BITS - 1)
    assert key.public_key().public_numbers().e.bit_length() == 32
    chain_der = five_certificate_chain(key)
    data = verify_input(chain_der, devpki.sign_digest(key, DIGEST))
    computation = call(chain, data)
    assert computation.is_success, reason(computation)
    check = 200 + -(-32 * 32 * 32 // 40)  # 1,020: about twice an e = 65537 check, as measured
    assert precompile.signature_check_gas(px.RSAVerifyingKey(2048, 32)) == check
    assert computation.get_gas_used() == (
        DOC_BASE + 5 * DOC_PER_CERTIFICATE + DOC_PER_CERTIFICATE_BYTE * len(chain_der) + 6 * check)


def test_one_bit_more_is_refused() -> None:
    key = rsa_with_exponent(2048, 2 ** (px.MAX_RSA_PUBLIC_EXPONENT_BITS + 1) - 1)
    exponent = key.public_key().public_numbers().e
    assert exponent.bit_length() == 33
    root = devpki.make_root("33-bit e", key, not_before=pki.NOT_BEFORE, not_after=pki.NOT_AFTER)
    with pytest.raises(px.CertificateError, match=f"exponent {exponent} is too large"):
        px.inspect_root(root.public_bytes(serialization.Encoding.DER), 1_800_000_000)


def test_p256_chain_gas_is_the_documented_rule(chain: Chain) -> None:
    identity = pki.p256_ca().issue("Bidder", "p256")  # root, issuing CA, signer
    computation = call(chain, verify_input(identity.chain_der, identity.sign_digest(DIGEST)))
    assert computation.is_success, reason(computation)
    # 3 certificates; 4 P-256 checks: the signer's and the CA's certificates by the keys
    # above them, the root by its own, and the digest by the signer's key.
    assert computation.get_gas_used() == (
        DOC_BASE + 3 * DOC_PER_CERTIFICATE + DOC_PER_CERTIFICATE_BYTE * len(identity.chain_der) + 4 * DOC_P256_CHECK)


def test_rsa2048_chain_gas_is_the_documented_rule(chain: Chain) -> None:
    identity = pki.rsa_ca().issue("Center", "rsa2048")  # root and signer, e = 65537
    computation = call(chain, verify_input(identity.chain_der, identity.sign_digest(DIGEST)))
    assert computation.is_success, reason(computation)
    assert computation.get_gas_used() == (
        DOC_BASE + 2 * DOC_PER_CERTIFICATE + DOC_PER_CERTIFICATE_BYTE * len(identity.chain_der)
        + 3 * DOC_RSA2048_E65537_CHECK)


def test_mixed_chain_prices_each_check_by_its_key() -> None:
    # A P-256 CA (root + issuing CA) over an RSA-2048 signer: three P-256 checks for the
    # chain, one RSA check for the digest.
    ca = pki.p256_ca()
    identity = ca.issue("Mixed", "rsa2048")
    ders = px.split_certificates(identity.chain_der)
    assert px.chain_verifying_keys(ders) == (px.ECVerifyingKey("P-256"),) * 3
    assert px.verifying_key(ders[0], signer=True) == px.RSAVerifyingKey(2048, 17)
    data = verify_input(identity.chain_der, identity.sign_digest(DIGEST))
    assert precompile.gas(data) == (DOC_BASE + 3 * DOC_PER_CERTIFICATE
                                    + DOC_PER_CERTIFICATE_BYTE * len(identity.chain_der)
                                    + 3 * DOC_P256_CHECK + DOC_RSA2048_E65537_CHECK)


def test_certificate_bytes_are_paid_for(chain: Chain) -> None:
    # Padding a certificate with extensions raises its price by 16 gas a byte.
    ca = pki.p256_ca()
    names = x509.SubjectAlternativeName([x509.DNSName(f"n{i}.example") for i in range(100)])
    plain = ca.issue("Plain", "p256")
    padded = ca.issue("Padded", "p256", extra_extensions=[(names, False)])
    plain_gas = precompile.gas(verify_input(plain.chain_der, plain.sign_digest(DIGEST)))
    padded_gas = precompile.gas(verify_input(padded.chain_der, padded.sign_digest(DIGEST)))
    assert padded_gas - plain_gas == DOC_PER_CERTIFICATE_BYTE * (len(padded.chain_der) - len(plain.chain_der)) > 16_000


def test_constants_are_the_documented_ones() -> None:
    assert (precompile.BASE_GAS, precompile.CERTIFICATE_GAS, precompile.CERTIFICATE_BYTE_GAS) == (
        DOC_BASE, DOC_PER_CERTIFICATE, DOC_PER_CERTIFICATE_BYTE)
    assert precompile.EC_CHECK_GAS == {"P-256": DOC_P256_CHECK, "secp256k1": 7_000, "P-384": 11_000}
    assert precompile.signature_check_gas(px.RSAVerifyingKey(2048, 17)) == DOC_RSA2048_E65537_CHECK
    assert precompile.signature_check_gas(px.RSAVerifyingKey(4096, 17)) == 1_941
    assert precompile.signature_check_gas(px.RSAVerifyingKey(8192, 32)) == 13_308
    assert (px.MIN_RSA_PUBLIC_EXPONENT, px.MAX_RSA_PUBLIC_EXPONENT_BITS, px.MAX_RSA_BITS) == (3, 32, 8192)


def test_sm2_check_is_the_documented_price() -> None:
    # Priced like the others from bench/pki_gas.py's measurement: at least GAS_PER_CPU_MS
    # times the 0.61 ms an SM2 check took on the reference machine.
    assert precompile.SM2_CHECK_GAS == DOC_SM2_CHECK >= 0.61 * precompile.GAS_PER_CPU_MS
    assert precompile.signature_check_gas(px.SM2VerifyingKey()) == DOC_SM2_CHECK
