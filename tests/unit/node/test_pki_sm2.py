"""The PKI precompile with SM2 chains made by the `openssl` command line: answers, gas
priced per SM2 check, and the chain's crypto profile read from the identity registry's
storage by the EVM wrapper (mixed, gm, or an unknown value that reverts)."""
from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode, encode
from eth_typing import Address

from chaincode import CRYPTO_PROFILES, IDENTITY_REGISTRY, PKI_PRECOMPILE, load_artifact
from client import devpki
from client.sm2keys import SM2PrivateKey
from evidence import x509 as px
from node.execution import pki as precompile
from node.execution.chain import Chain
from node.execution.vm import LedgerVM
from tests.openssl_sm2 import END, START, Issued, OpensslCA, openssl
from tests.unit.node.precompile_harness import CALLER, GAS, reason

AT = 1_800_000_000  # the harness chain's block time; the fixture's certificates hold 2024-2034
DIGEST = hashlib.sha256(b"SM2 contract").digest()
GM_REFUSAL = "the chain's crypto profile is gm (national algorithms only)"
VERIFY_OUTPUT = ["bytes32", "bytes32", "bytes32", "uint256", "bytes32[]", "string"]


def chain_der(issued: Issued) -> bytes:
    return b"".join(x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
                    for path in issued.path)


def verify_input(issued: Issued, *, signature: bytes | None = None) -> bytes:
    if signature is None:
        signature = SM2PrivateKey.from_pem(issued.key.read_bytes()).sign_digest(DIGEST)
    return precompile.VERIFY + encode(["bytes", "bytes32", "bytes"], [chain_der(issued), DIGEST, signature])


def framing_gas(issued: Issued) -> int:
    der = chain_der(issued)
    return (precompile.BASE_GAS + len(issued.path) * precompile.CERTIFICATE_GAS
            + precompile.CERTIFICATE_BYTE_GAS * len(der))


@dataclass
class Openssl:
    sm2_ca: OpensslCA
    alice: Issued        # SM2 root, SM2 CA, SM2 signer
    carol: Issued        # revoked by sm2_crl
    wrong_id: Issued     # signed with distid 1111111111111111
    erin: Issued         # SM2 signer under an RSA-2048 root
    frank: Issued        # RSA-2048 signer under the RSA-2048 root
    frank_key: Any
    sm2_crl: bytes


@pytest.fixture(scope="module")
def hierarchy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Openssl]:
    base = tmp_path_factory.mktemp("openssl-sm2-precompile")
    root = OpensslCA(base / "root", "SM2 Root")
    ca = OpensslCA(base / "ca", "SM2 CA", parent=root)
    rsa_root = OpensslCA(base / "rsa", "RSA Root", key_type="rsa2048")
    carol = ca.issue("Carol")
    ca.revoke(carol)
    crl_pem = base / "crl.pem"
    openssl("ca", "-batch", "-config", ca.config, "-gencrl", "-out", crl_pem, "-cert", ca.cert, "-keyfile", ca.key,
            "-crlexts", "crl", "-crl_lastupdate", START, "-crl_nextupdate", END, "-md", "sm3",
            "-sigopt", f"distid:{ca.distid}")
    frank = rsa_root.issue("Frank", key_type="rsa2048")
    yield Openssl(
        sm2_ca=ca, alice=ca.issue("Alice"), carol=carol, wrong_id=ca.issue("Bob", distid="1111111111111111"),
        erin=rsa_root.issue("Erin"), frank=frank,
        frank_key=serialization.load_pem_private_key(frank.key.read_bytes(), None),
        sm2_crl=x509.load_pem_x509_crl(crl_pem.read_bytes()).public_bytes(serialization.Encoding.DER),
    )


def call_with_profile(ledger: Chain, data: bytes, profile: int | None, gas: int = GAS) -> Any:
    """The precompile's computation for ``data`` at the head, with IdentityRegistry's
    crypto_profile slot set to ``profile`` in the state first (None: as genesis left it)."""
    state = ledger.state_at(ledger.head)
    if profile is not None:
        state.set_storage(Address(IDENTITY_REGISTRY), precompile.CRYPTO_PROFILE_SLOT, profile)
    unsigned = LedgerVM.create_unsigned_transaction(
        nonce=0, gas_price=0, gas=gas, to=Address(PKI_PRECOMPILE), value=0, data=data)
    spoofed: Any = SpoofTransaction(unsigned, from_=CALLER)  # py-evm's stand-in for a signed one
    return state.costless_execute_transaction(spoofed)


def test_profile_slot_is_the_registry_layout() -> None:
    assert precompile.CRYPTO_PROFILE_SLOT == load_artifact("IdentityRegistry").slot("crypto_profile")
    assert {profile.value for profile in px.CryptoProfile} == set(CRYPTO_PROFILES)
    for name, code in CRYPTO_PROFILES.items():
        assert precompile.crypto_profile(code) is px.CryptoProfile(name)


# --- run and gas, pure -------------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(px.CryptoProfile))
def test_run_verifies_an_sm2_chain_and_digest(hierarchy: Openssl, profile: px.CryptoProfile) -> None:
    data = verify_input(hierarchy.alice)
    leaf, _, root, not_after, keys, subject = decode(VERIFY_OUTPUT, precompile.run(data, AT, profile))
    ders = px.split_certificates(chain_der(hierarchy.alice))
    assert leaf == hashlib.sha256(ders[0]).digest() and root == hashlib.sha256(ders[-1]).digest()
    assert subject == "O=Alice Org,CN=Alice" and not_after == 2019686400 and len(keys) == 2
    # 3 certificates, 4 SM2 checks: the chain's 3 and the digest's.
    assert precompile.gas(data, profile) == framing_gas(hierarchy.alice) + 4 * precompile.SM2_CHECK_GAS


def test_sm2_signer_under_rsa_root_prices_each_check_by_its_key(hierarchy: Openssl) -> None:
    data = verify_input(hierarchy.erin)
    precompile.run(data, AT)
    rsa_check = precompile.signature_check_gas(px.RSAVerifyingKey(2048, 17))
    assert precompile.gas(data) == framing_gas(hierarchy.erin) + 2 * rsa_check + precompile.SM2_CHECK_GAS
    with pytest.raises(px.CertificateError, match="a sha256WithRSAEncryption signature is not allowed"):
        precompile.run(data, AT, px.CryptoProfile.GM)


def test_run_refuses_wrong_identifier_and_bad_digest_signature(hierarchy: Openssl) -> None:
    with pytest.raises(px.CertificateError, match=r"distinguishing identifier 1234567812345678; a certificate"):
        precompile.run(verify_input(hierarchy.wrong_id), AT)
    other = SM2PrivateKey.from_pem(hierarchy.carol.key.read_bytes()).sign_digest(DIGEST)
    with pytest.raises(px.CertificateError, match=r"SM3\(Z \|\| digest\)"):
        precompile.run(verify_input(hierarchy.alice, signature=other), AT)


def test_crl_of_an_sm2_ca(hierarchy: Openssl) -> None:
    issuer_chain = chain_der(hierarchy.sm2_ca.issued)
    data = precompile.CRL + encode(["bytes", "bytes"], [hierarchy.sm2_crl, issuer_chain])
    _, issuer_key_hash, keys = decode(["bytes32", "bytes32", "bytes32[]"], precompile.run(data, AT, px.CryptoProfile.GM))
    assert list(keys) == [precompile.revocation_key(issuer_key_hash, hierarchy.carol.serial)]
    # Carol's chain names the same key: the registry finds her revoked.
    _, _, _, _, carol_keys, _ = decode(VERIFY_OUTPUT, precompile.run(verify_input(hierarchy.carol), AT))
    assert carol_keys[0] == keys[0]
    # Issuer chain of 2 (both SM2 checks), the issuing CA's certificate once more, the CRL's check.
    ders = px.split_certificates(issuer_chain)
    expected = (precompile.BASE_GAS + precompile.CERTIFICATE_GAS * 3
                + precompile.CERTIFICATE_BYTE_GAS * (len(issuer_chain) + len(ders[0]))
                + precompile.CRL_BYTE_GAS * len(hierarchy.sm2_crl) + precompile.SERIAL_GAS * px.MAX_CRL_ENTRIES
                + 3 * precompile.SM2_CHECK_GAS)
    assert precompile.gas(data) == expected


# --- through the EVM, with the profile in the registry's storage ----------------------------------


@pytest.mark.parametrize("profile", [None, 0, 1])
def test_evm_verifies_sm2_under_every_profile(chain: Chain, hierarchy: Openssl, profile: int | None) -> None:
    data = verify_input(hierarchy.alice)
    computation = call_with_profile(chain, data, profile)
    assert computation.is_success, reason(computation)
    assert computation.output == precompile.run(data, AT)
    assert computation.get_gas_used() == framing_gas(hierarchy.alice) + 4 * precompile.SM2_CHECK_GAS


def test_evm_gm_profile_refuses_rsa_before_any_signature_check(chain: Chain, hierarchy: Openssl) -> None:
    data = verify_input(hierarchy.frank, signature=devpki.sign_digest(hierarchy.frank_key, DIGEST))
    assert call_with_profile(chain, data, CRYPTO_PROFILES["mixed"]).is_success
    computation = call_with_profile(chain, data, CRYPTO_PROFILES["gm"])
    assert reason(computation) == (f"PKI: certificate 1 (O=RSA Root Org,CN=RSA Root): {GM_REFUSAL}: "
                                   "an RSA key is not allowed")
    # Refused between the two charges: the framing price only, no signature checked.
    assert computation.get_gas_used() == framing_gas(hierarchy.frank)


def test_evm_unknown_profile_reverts_before_any_charge(chain: Chain, hierarchy: Openssl) -> None:
    computation = call_with_profile(chain, verify_input(hierarchy.alice), 7)
    assert reason(computation) == "PKI: unknown crypto profile 7"
    assert computation.get_gas_used() == 0


def test_evm_wrong_identifier_reverts_with_the_reason(chain: Chain, hierarchy: Openssl) -> None:
    computation = call_with_profile(chain, verify_input(hierarchy.wrong_id), 1)
    assert reason(computation) == (
        "PKI: certificate 0 (O=Bob Org,CN=Bob): signature is not made by the next certificate's key (SM2 with the "
        "distinguishing identifier 1234567812345678; a certificate OpenSSL signed without "
        "-sigopt distid:1234567812345678 uses an empty identifier)")
    # Both charges were paid: the chain's checks were priced, and made.
    assert computation.get_gas_used() == framing_gas(hierarchy.wrong_id) + 4 * precompile.SM2_CHECK_GAS


def test_mutated_sm2_input_never_escapes_the_evm(chain: Chain, hierarchy: Openssl) -> None:
    rng = random.Random(32918)
    good = verify_input(hierarchy.alice)
    for _ in range(60):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        computation = call_with_profile(chain, bytes(data), rng.choice([0, 1]))  # must return, never raise
        if computation.is_error:
            assert reason(computation).startswith("PKI: ")
