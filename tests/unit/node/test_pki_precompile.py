"""The PKI precompile inside our EVM: ABI in and out, fixed gas, reverts with reasons,
nothing escaping the EVM whatever the input."""
from __future__ import annotations

import hashlib
import random

import pytest
from eth_abi import decode, encode

from client import devpki
from node.execution import pki as precompile
from node.execution.chain import Chain
from tests import pki
from tests.unit.node.precompile_harness import call, reason


def verify_input(chain_der: bytes, digest: bytes, signature: bytes) -> bytes:
    return precompile.VERIFY + encode(["bytes", "bytes32", "bytes"], [chain_der, digest, signature])


def test_verify_returns_the_chain_facts(chain: Chain) -> None:
    ca = pki.p256_ca()
    identity = ca.issue("Bidder", "p256")
    digest = hashlib.sha256(b"contract").digest()
    computation = call(chain, verify_input(identity.chain_der, digest, identity.sign_digest(digest)))
    assert computation.is_success, computation.error
    leaf, key_hash, root, not_after, keys, subject = decode(
        ["bytes32", "bytes32", "bytes32", "uint256", "bytes32[]", "string"], computation.output)
    assert leaf == identity.fingerprint and root == identity.root_fingerprint
    assert len(keys) == 2  # leaf and intermediate; the root has no revocation key
    assert keys[0] == precompile.revocation_key(hashlib.sha256(
        ca.issuer.public_key().public_bytes(*_spki())).digest(), identity.leaf.serial_number)
    assert "CN=Bidder" in subject and not_after == int(pki.NOT_AFTER.timestamp())


def _spki():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization
    return serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def test_gas_is_fixed_by_operation_and_chain_length(chain: Chain) -> None:
    identity = pki.p256_ca().issue("Bidder", "p256")
    digest = b"\x11" * 32
    data = verify_input(identity.chain_der, digest, identity.sign_digest(digest))
    first, second = call(chain, data), call(chain, data)
    # 3 certificates, 4 P-256 checks: the chain's 3 and the digest (docs/chaincode.md)
    expected = (precompile.BASE_GAS + 3 * precompile.CERTIFICATE_GAS
                + precompile.CERTIFICATE_BYTE_GAS * len(identity.chain_der) + 4 * precompile.EC_CHECK_GAS["P-256"])
    assert first.get_gas_used() == second.get_gas_used() == expected
    assert first.output == second.output  # deterministic


def test_out_of_gas_before_any_work(chain: Chain) -> None:
    identity = pki.rsa_ca().issue("Center", "rsa2048")
    digest = b"\x22" * 32
    data = verify_input(identity.chain_der, digest, identity.sign_digest(digest))
    intrinsic = 21_000 + sum(16 if b else 4 for b in data)
    computation = call(chain, data, gas=intrinsic + precompile.BASE_GAS)
    assert computation.is_error and "gas" in type(computation.error).__name__.lower() + str(computation.error).lower()


@pytest.mark.parametrize("make,expected", [
    (lambda: verify_input(pki.untrusted_ca().issue("X", "p256").chain_der, b"\x01" * 32, b"\x30\x00"), "signature"),
    (lambda: verify_input(pki.rsa_ca().issue("Old", "rsa2048", not_after=pki.NOT_BEFORE.replace(year=2025)).chain_der,
                          b"\x01" * 32, b""), "expired"),
    (lambda: verify_input(b"\x30\x03\x02\x01\x01", b"\x01" * 32, b""), "certificate"),
    (lambda: verify_input(b"", b"\x01" * 32, b""), ""),
    (lambda: precompile.VERIFY + b"\x00" * 7, "malformed input"),
    (lambda: b"\xde\xad\xbe\xef", "unknown operation"),
    (lambda: b"", "unknown operation"),
    (lambda: verify_input(b"\x30\x82\xff\xff" + b"\x00" * 30_000, b"\x01" * 32, b""), ""),
])
def test_bad_input_reverts_with_a_reason(chain: Chain, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    computation = call(chain, make())
    text = reason(computation)
    assert text.startswith("PKI: ") and expected in text


def test_random_input_never_escapes_the_evm(chain: Chain) -> None:
    rng = random.Random(9162)
    identity = pki.p256_ca().issue("Fuzz", "p256")
    good = verify_input(identity.chain_der, b"\x33" * 32, identity.sign_digest(b"\x33" * 32))
    for _ in range(150):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        computation = call(chain, bytes(data))  # must return, never raise
        if computation.is_error:
            assert reason(computation).startswith("PKI: ")


def test_inspect_root_and_issuer_keys(chain: Chain) -> None:
    ca = pki.p384_ca()
    computation = call(chain, precompile.INSPECT_ROOT + encode(["bytes"], [ca.root_der]))
    fingerprint, _, _ = decode(["bytes32", "bytes32", "uint256"], computation.output)
    assert fingerprint == hashlib.sha256(ca.root_der).digest()
    leaf = ca.issue("Leaf", "p384")
    computation = call(chain, precompile.INSPECT_ROOT + encode(["bytes"], [leaf.chain_der[: len(leaf.chain_der) - len(ca.root_der)]]))
    assert "PKI: " in reason(computation)
    computation = call(chain, precompile.ISSUER + encode(["bytes", "uint256[]"], [ca.issuer_chain_der, [5, 6]]))
    root, issuer_key_hash, keys = decode(["bytes32", "bytes32", "bytes32[]"], computation.output)
    assert root == fingerprint and list(keys) == [precompile.revocation_key(issuer_key_hash, 5), precompile.revocation_key(issuer_key_hash, 6)]


def test_crl_lists_revocation_keys(chain: Chain) -> None:
    from cryptography.hazmat.primitives import serialization
    ca = pki.rsa_ca()
    crl = devpki.make_crl(ca.issuer, ca.issuer_key, [7, 8, 9], this_update=pki.NOT_BEFORE, next_update=pki.NOT_AFTER)
    der = crl.public_bytes(serialization.Encoding.DER)
    computation = call(chain, precompile.CRL + encode(["bytes", "bytes"], [der, ca.issuer_chain_der]))
    assert computation.is_success, reason(computation)
    _, issuer_key_hash, keys = decode(["bytes32", "bytes32", "bytes32[]"], computation.output)
    assert list(keys) == [precompile.revocation_key(issuer_key_hash, s) for s in (7, 8, 9)]
    other = pki.p384_ca()
    computation = call(chain, precompile.CRL + encode(["bytes", "bytes"], [der, other.issuer_chain_der]))
    assert "PKI: " in reason(computation)
