"""The contract views' pure parts (node/rpc/rest/contract_views.py): names from a subject
as the member index keeps it, a certificate chain by name (subject, issuer, root), and the
chain a `register` or `sign` transaction carried. (tests/integration/test_rest_contract_views.py
drives the routes on a real node.)"""
from __future__ import annotations

import hashlib

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from chaincode import CONTRACT_REGISTRY, IDENTITY_REGISTRY
from evidence.x509 import CertificateError
from node.rpc.rest.contract_views import REGISTER, SIGN, SIGN_PDF, certificate_names, chain_of_call, names_of_subject
from tests import pki


def test_names_from_a_stored_subject() -> None:
    parsed = names_of_subject("CN=Tenderer\\, Group,O=Tenderer Ltd,C=CN")
    assert (parsed.name, parsed.organization) == ("Tenderer, Group", "Tenderer Ltd")
    assert names_of_subject("O=Only An Organisation").name is None
    assert names_of_subject(None).to_json() == {"subject": None, "name": None, "organization": None}
    # the precompile cuts a subject at 256 bytes: one cut inside an escape keeps its text, no parts
    cut = names_of_subject("CN=abc\\")
    assert (cut.subject, cut.name, cut.organization) == ("CN=abc\\", None, None)


def test_a_chain_by_name_with_an_intermediate_issuer() -> None:
    ca = pki.p256_ca()
    identity = ca.issue("Tenderer Construction Group", "p256")
    names = certificate_names(identity.chain_der)
    assert (names["name"], names["organization"]) == ("Tenderer Construction Group", "Tenderer Construction Group Ltd")
    assert names["issuer"]["name"] == "Province CA Signing (P-256)"
    assert names["root"]["name"] == "Province CA Root (P-256)"
    assert names["fingerprint"] == "0x" + identity.fingerprint.hex()
    assert names["root"]["fingerprint"] == "0x" + hashlib.sha256(ca.root_der).hexdigest()
    with pytest.raises(CertificateError):
        certificate_names(b"\x30\x03\x02\x01\x01")  # a SEQUENCE, not a certificate


def test_the_chain_a_registry_call_carried() -> None:
    chain = pki.rsa_ca().issue("Winning Bidder Engineering", "rsa2048").chain_der
    register = REGISTER + encode(["bytes", "bytes"], [chain, b"\x01" * 64])
    sign = SIGN + encode(["bytes32", "bytes", "bytes"], [b"\x02" * 32, chain, b"\x01" * 64])
    assert chain_of_call("register", IDENTITY_REGISTRY, register) == chain
    assert chain_of_call("sign", CONTRACT_REGISTRY, sign) == chain
    assert chain_of_call("register", CONTRACT_REGISTRY, register) is None  # another contract
    assert chain_of_call("sign", CONTRACT_REGISTRY, register) is None      # another call
    assert chain_of_call("register", IDENTITY_REGISTRY, REGISTER + b"\x00" * 7) is None  # does not decode


def test_the_selectors_are_the_registries_functions() -> None:
    """Written out here, not read from the ABI as the module does: a changed signature of
    a registry function must show up as a failing test, not as a view gone blank."""
    assert REGISTER == function_signature_to_4byte_selector("register(bytes,bytes)")
    assert SIGN == function_signature_to_4byte_selector("sign(bytes32,bytes,bytes)")
    assert SIGN_PDF == function_signature_to_4byte_selector(
        "sign_pdf(bytes32,bytes,bytes,bytes32,bytes32,bytes32,bytes32)")
    chain = pki.p256_ca().issue("Tenderer Construction Group", "p256").chain_der
    call = SIGN_PDF + encode(["bytes32", "bytes", "bytes", "bytes32", "bytes32", "bytes32", "bytes32"],
                             [b"\x02" * 32, chain, b"\x01" * 64, b"\x03" * 32, b"\x04" * 32, b"\x05" * 32, b"\x06" * 32])
    assert chain_of_call("sign_pdf", CONTRACT_REGISTRY, call) == chain
