"""Genesis and the system contracts: the registry's storage must say what genesis says."""
from __future__ import annotations

import copy

import pytest

from chaincode import IDENTITY_REGISTRY, SYSTEM_CONTRACTS
from node.errors import ConfigError
from node.execution.genesis import Genesis, build_genesis_document
from tests import pki

ADMIN = b"\x0a" * 20


def document(**extra: object) -> dict:
    return build_genesis_document(chain_id=7, validators=[b"\x01" * 20], alloc={}, members=[(ADMIN, "ADMIN")], **extra)  # type: ignore[arg-type]


def alloc_key(doc: dict, address: bytes) -> str:
    return next(k for k in doc["alloc"] if k.lower() == address.hex())


def test_system_contracts_are_allocated() -> None:
    genesis = Genesis.parse(document(trusted_roots=[pki.p384_ca().root_pem.decode()]))
    assert all(genesis.alloc[address].code for address in SYSTEM_CONTRACTS.values())
    assert genesis.trusted_roots == (pki.p384_ca().root_der,)


def test_a_hand_added_member_without_refreshed_storage_is_refused() -> None:
    doc = document()
    doc["evidenceLedger"]["members"].append({"address": "0x" + "0b" * 20, "role": "REGULATOR"})
    with pytest.raises(ConfigError, match="does not match evidenceLedger"):
        Genesis.parse(doc)


def test_a_missing_system_contract_is_refused() -> None:
    doc = document()
    del doc["alloc"][alloc_key(doc, IDENTITY_REGISTRY)]
    with pytest.raises(ConfigError, match="system contract IdentityRegistry missing"):
        Genesis.parse(doc)


def test_a_trusted_root_that_is_not_pem_is_refused() -> None:
    doc = copy.deepcopy(document())
    doc["evidenceLedger"]["trustedRoots"] = ["not a certificate"]
    with pytest.raises(ConfigError, match=r"evidenceLedger.trustedRoots\[0\]"):
        Genesis.parse(doc)
